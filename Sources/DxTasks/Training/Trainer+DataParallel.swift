import DxEfficientNet
import DxEval
import DxImaging
import DxNN
import DxTensor
import Foundation

// Data-parallel training (`mpirun -n N effdx train`), the way PyTorch DDP and Horovod do it:
// every rank holds the whole model and takes its contiguous part of every global batch (the
// batch a single process would take, so the order of samples does not depend on N); the
// gradients of the trainable parameters are summed with one MPI_Allreduce over one buffer in
// parameter order; every rank then clips and steps identically. BatchNorm uses each rank's
// statistics (DDP's default; rank 0's running statistics are given to all at the end of each
// epoch) or, with `--sync-bn`, the statistics of the whole global batch. Rank 0 alone writes.

/// What the ranks agree on before a training step.
struct StepShare {
  /// Images of the global batch, and this rank's first row in it.
  var globalCount: Int, firstSample: Int
  /// The global batch's loss denominator (`SoftmaxCrossEntropy.weightSum`).
  var globalWeight: Double
  /// Some rank holds no image of this batch: every rank skips the step alike.
  var someRankEmpty: Bool
}

/// Bytes and seconds the gradient exchange took, summed over an epoch's steps.
struct ExchangeTiming {
  var steps = 0, bytes = 0
  var seconds = 0.0
}

extension Trainer {
  var rank: Int { replicas?.rank ?? 0 }
  var rankCount: Int { replicas?.size ?? 1 }
  /// Rank 0 (or the only process): the one that writes files and reports.
  var isRoot: Bool { rank == 0 }
  /// A group of two or more ranks.
  var parallel: ReplicaGroup? { rankCount > 1 ? replicas : nil }

  /// Gives every rank rank 0's model, optimizer state and progress (a fresh run's weights, or
  /// the state rank 0 resumed from), and puts `--sync-bn` in force.
  func startReplicas() throws {
    guard let group = parallel else { return }
    if config.syncBatchNorm == true { for bn in model.batchNorms { bn.replicas = group } }
    let received = try group.broadcast(isRoot ? trainingState() : [:], from: 0)
    if !isRoot { try loadTrainingState(received, source: "rank 0") }
    var counters = [Double(epochsDone), Double(steps), Double(badEpochs), bestMetric, bestEMAMetric]
    try counters.withUnsafeMutableBytes { try group.broadcast($0, from: 0) }
    (epochsDone, steps, badEpochs, bestMetric, bestEMAMetric) = (Int(counters[0]), Int(counters[1]), Int(counters[2]), counters[3], counters[4])
  }

  /// The counts of this step's images on every rank, exchanged (one small allreduce), and the
  /// failed files of every rank gathered on rank 0 (only when there are some).
  func agreeOnStep(localLabels: [Int], failures: [ImageError], loss: SoftmaxCrossEntropy, report: ([ImageError]) -> Void) throws -> StepShare {
    guard let group = parallel else {
      report(failures)
      return StepShare(globalCount: localLabels.count, firstSample: 0, globalWeight: loss.weightSum(localLabels), someRankEmpty: localLabels.isEmpty)
    }
    let n = group.size
    var v = [Double](repeating: 0, count: 2 * n + 1)
    v[group.rank] = Double(localLabels.count)
    v[n + group.rank] = localLabels.isEmpty ? 0 : loss.weightSum(localLabels)
    v[2 * n] = Double(failures.count)
    try group.sum(&v)
    if v[2 * n] > 0 { try gatherFailures(failures, group: group).map(report) }
    let counts = v[0..<n].map { Int($0) }
    return StepShare(globalCount: counts.reduce(0, +), firstSample: counts[0..<group.rank].reduce(0, +), globalWeight: v[n..<(2 * n)].reduce(0, +),
                     someRankEmpty: counts.contains(0))
  }

  /// Every rank's failed files, in rank order, on rank 0 (nil elsewhere).
  func gatherFailures(_ failures: [ImageError], group: ReplicaGroup) throws -> [ImageError]? {
    let bytes = Array((try? JSONEncoder().encode(failures)) ?? Data("[]".utf8))
    guard let all = try group.gather(bytes, to: 0) else { return nil }
    return all.flatMap { (try? JSONDecoder().decode([ImageError].self, from: Data($0))) ?? [] }
  }

  /// Sums the gradients of the trainable parameters (and this rank's part of the loss) over
  /// the ranks: one buffer in parameter order, one MPI_Allreduce. Returns the batch's loss.
  func sumGradients(_ params: [(name: String, parameter: Parameter)], loss: Double, timing: inout ExchangeTiming) throws -> Double {
    guard let group = parallel else { return loss }
    let updated = params.filter { $0.parameter.isUpdated }
    let total = updated.reduce(0) { $0 + $1.parameter.grad.count }
    var buffer = [Float](repeating: 0, count: total + 1)
    var at = 0
    for (_, p) in updated {
      p.grad.scalars.withUnsafeBufferPointer { g in buffer.withUnsafeMutableBufferPointer { b in (b.baseAddress! + at).update(from: g.baseAddress!, count: g.count) } }
      at += p.grad.count
    }
    // The loss rides along in Float: it is only reported, never differentiated.
    buffer[total] = Float(loss)
    let start = Date()
    try group.sum(&buffer)
    timing.seconds += Date().timeIntervalSince(start)
    timing.bytes += buffer.count * MemoryLayout<Float>.size
    timing.steps += 1
    at = 0
    for (_, p) in updated {
      let n = p.grad.count
      p.grad.withMutablePointer { g in buffer.withUnsafeBufferPointer { b in g.update(from: b.baseAddress! + at, count: n) } }
      at += n
    }
    return Double(buffer[total])
  }

  /// End of an epoch: rank 0's BatchNorm running statistics to every rank (per-rank BatchNorm
  /// lets them drift apart), then a check that every rank holds the same weights.
  func synchroniseEpochEnd() throws {
    guard let group = parallel else { return }
    let buffers = model.namedParameters().filter { $0.parameter.kind == .buffer }
    var values = buffers.flatMap { $0.parameter.value.scalars }
    try values.withUnsafeMutableBytes { try group.broadcast($0, from: 0) }
    var at = 0
    for (_, p) in buffers {
      let n = p.value.count
      p.value = Tensor(shape: p.value.shape, scalars: Array(values[at..<(at + n)]))
      at += n
    }
    var digest = [UInt64(weightDigest())]
    try digest.withUnsafeMutableBytes { try group.broadcast($0, from: 0) }
    var differs = [digest[0] == UInt64(weightDigest()) ? 0.0 : 1.0]
    try group.sum(&differs)
    if differs[0] > 0 {
      throw TaskError.invalid("after epoch \(epochsDone): \(Int(differs[0])) of \(group.size) ranks hold other weights than rank 0 (the ranks run different effdx builds or CPUs with other results?); the run stops rather than train diverged replicas")
    }
  }

  /// FNV-1a over the bits of every parameter and buffer.
  func weightDigest() -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for (_, p) in model.namedParameters() {
      for v in p.value.scalars {
        h = (h ^ UInt64(v.bitPattern)) &* 0x0000_0100_0000_01B3
      }
    }
    return h
  }

  /// The label metrics of every rank's validation rows (each validated its part), from the
  /// per-class counts added up over the ranks: three numbers a class, where a classes x
  /// classes matrix was 80 GB at 100,000 classes.
  func summedLabelMetrics(truth: [Int32], predicted: [Int32], acrossRanks: Bool) throws -> LabelMetrics {
    let k = classes.count
    let mine = LabelMetrics.classCounts(truth: truth, predicted: predicted, classCount: k)
    var counts = (mine.truePositives + mine.predicted + mine.actual).map(Double.init)
    if acrossRanks, let group = parallel { try group.sum(&counts) }
    let part = { (i: Int) in counts[(i * k)..<((i + 1) * k)].map { Int($0) } }
    return LabelMetrics(truePositives: part(0), predicted: part(1), actual: part(2), classes: classes)
  }

  /// Runs rank 0's part of a step that writes files, then tells every rank whether it worked,
  /// so a full disk on rank 0 stops all ranks instead of leaving them waiting.
  func onRoot(_ what: String, _ body: () throws -> Void) throws {
    var failure: Error?
    if isRoot { do { try body() } catch { failure = error } }
    if let group = parallel {
      var failed = [failure == nil ? 0.0 : 1.0]
      try group.sum(&failed)
      if failed[0] > 0 && failure == nil { throw TaskError.invalid("rank 0 could not \(what) (its message says why); every rank stops") }
    }
    if let failure { throw failure }
  }
}
