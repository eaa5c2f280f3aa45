import DxNN
import DxTensor
import DxTestSupport
import XCTest

/// The layers' part in data-parallel training: synchronised BatchNorm over two replicas equals
/// BatchNorm over the whole batch, and dropout masks split across replicas equal one
/// process's masks.
final class DataParallelLayerTests: XCTestCase {
  /// Rows `part` of an `[N, ...]` tensor.
  func rows(_ t: Tensor, _ part: Range<Int>) -> Tensor {
    let per = t.count / t.shape[0]
    return Tensor(shape: [part.count] + Array(t.shape.dropFirst()), scalars: Array(t.scalars[(part.lowerBound * per)..<(part.upperBound * per)]))
  }

  func testSynchronisedBatchNormOverTwoReplicasEqualsWholeBatch() {
    var rng = SeededGenerator(seed: 7)
    // A large mean next to a small spread, so a careless E[x²] - E[x]² would show.
    let x = Tensor(shape: [5, 3, 4, 11], scalars: Tensor.randomNormal([5, 3, 4, 11], using: &rng).scalars.map { $0 * 0.5 + 40 })
    let dy = Tensor.randomNormal([5, 3, 4, 11], using: &rng)
    let gamma = Tensor.randomNormal([11], using: &rng), beta = Tensor.randomNormal([11], using: &rng)
    for activation in [FusedActivation.none, .silu] {
      let whole = BatchNorm2D(11, eps: 1e-3)
      whole.weight.value = gamma
      whole.bias.value = beta
      let y = whole.forward(x, mode: .training, activation: activation)
      let dx = whole.backward(dy, activation: activation)

      // Replica 0 holds samples 0..<2, replica 1 samples 2..<5 (unequal shares, as at a batch's end).
      let parts = [0..<2, 2..<5]
      final class Box: @unchecked Sendable { var y: [Tensor?] = [nil, nil], dx: [Tensor?] = [nil, nil], layers: [BatchNorm2D?] = [nil, nil] }
      let box = Box()
      ThreadReplicaGroup.run(members: 2) { group in
        let bn = BatchNorm2D(11, eps: 1e-3)
        bn.weight.value = gamma
        bn.bias.value = beta
        bn.replicas = group
        let part = parts[group.rank]
        box.y[group.rank] = bn.forward(self.rows(x, part), mode: .training, activation: activation)
        box.dx[group.rank] = bn.backward(self.rows(dy, part), activation: activation)
        box.layers[group.rank] = bn
      }
      for r in 0..<2 {
        assertClose(box.y[r]!.scalars, rows(y, parts[r]).scalars, atol: 2e-5, "forward, replica \(r), \(activation)")
        assertClose(box.dx[r]!.scalars, rows(dx, parts[r]).scalars, atol: 2e-5, "input gradient, replica \(r), \(activation)")
        // Every replica moves its running statistics to the whole batch's.
        assertClose(box.layers[r]!.runningMean.value.scalars, whole.runningMean.value.scalars, atol: 1e-4, "running mean, replica \(r)")
        assertClose(box.layers[r]!.runningVar.value.scalars, whole.runningVar.value.scalars, atol: 1e-5, "running variance, replica \(r)")
      }
      // Parameter gradients are each replica's own part: they add up to the whole batch's.
      let gammaGrad = zip(box.layers[0]!.weight.grad.scalars, box.layers[1]!.weight.grad.scalars).map(+)
      let betaGrad = zip(box.layers[0]!.bias.grad.scalars, box.layers[1]!.bias.grad.scalars).map(+)
      assertClose(gammaGrad, whole.weight.grad.scalars, atol: 1e-4, "gamma gradient summed over replicas")
      assertClose(betaGrad, whole.bias.grad.scalars, atol: 1e-4, "beta gradient summed over replicas")
      // And without synchronisation a replica's statistics are its own: the outputs differ.
      let alone = BatchNorm2D(11, eps: 1e-3)
      alone.weight.value = gamma
      alone.bias.value = beta
      let local = alone.forward(rows(x, parts[0]), mode: .training, activation: activation)
      XCTAssertGreaterThan(zip(local.scalars, rows(y, parts[0]).scalars).map { abs($0 - $1) }.max()!, 1e-2)
    }
  }

  func testDropoutAndDropPathMasksSplitAcrossReplicasEqualOneProcess() {
    var rng = SeededGenerator(seed: 3)
    let x = Tensor.randomNormal([7, 2, 2, 5], using: &rng)
    let dropout = Dropout(rate: 0.4, seed: 0), path = DropPath(rate: 0.4, seed: 0)
    dropout.reseed(99)
    path.reseed(99)
    let wholeDropout = dropout.forward(x, mode: .training), wholePath = path.forward(x, mode: .training)
    for part in [0..<3, 3..<7, 6..<7] {
      dropout.reseed(99, firstSample: part.lowerBound)
      path.reseed(99, firstSample: part.lowerBound)
      XCTAssertEqual(dropout.forward(rows(x, part), mode: .training).scalars, rows(wholeDropout, part).scalars, "dropout rows \(part)")
      XCTAssertEqual(path.forward(rows(x, part), mode: .training).scalars, rows(wholePath, part).scalars, "drop-path rows \(part)")
    }
    // The skip applies to one forward only: the next one draws on from where it is.
    dropout.reseed(99, firstSample: 3)
    _ = dropout.forward(rows(x, 3..<7), mode: .training)
    XCTAssertEqual(dropout.skipSamples, 0)
  }

  func testBroadcastOfTensorsAndGatherThroughAGroup() {
    final class Box: @unchecked Sendable { var received: [[String: Tensor]] = [[:], [:]], gathered: [[[UInt8]]?] = [nil, nil] }
    let box = Box()
    ThreadReplicaGroup.run(members: 2) { group in
      let mine: [String: Tensor] = group.rank == 0 ? ["a.weight": Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]), "b": Tensor(shape: [1], scalars: [-7])] : [:]
      box.received[group.rank] = try! group.broadcast(mine, from: 0)
      box.gathered[group.rank] = try! group.gather([UInt8(group.rank), 42], to: 0)
    }
    for r in 0..<2 {
      XCTAssertEqual(box.received[r]["a.weight"]?.shape, [2, 3])
      XCTAssertEqual(box.received[r]["a.weight"]?.scalars, [1, 2, 3, 4, 5, 6])
      XCTAssertEqual(box.received[r]["b"]?.scalars, [-7])
    }
    XCTAssertEqual(box.gathered[0]!, [[0, 42], [1, 42]])
    XCTAssertNil(box.gathered[1])
  }
}
