import DxNN
import DxTensor
import XCTest

final class StateDictTests: XCTestCase {
  func makeModel(seed: UInt64) -> Sequential {
    var rng = SeededGenerator(seed: seed)
    return Sequential([
      ("conv_stem", Conv2D(3, 8, kernel: 3, stride: 2, rng: &rng)),
      ("bn1", BatchNorm2D(8)),
      ("blocks", Sequential([("0", Sequential([("0", Sequential([("conv_dw", DepthwiseConv2D(8, kernel: 3, rng: &rng))]))]))])),
      ("pool", GlobalAvgPool()),
      ("classifier", Linear(8, 4, rng: &rng)),
    ])
  }

  func testNames_areHierarchicalAndKindsMarked() {
    let model = makeModel(seed: 1)
    let names = model.namedParameters().map(\.name)
    XCTAssertEqual(names, ["conv_stem.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                           "blocks.0.0.conv_dw.weight", "classifier.weight", "classifier.bias"])
    let kinds = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter.kind) })
    XCTAssertEqual(kinds["bn1.running_var"], .buffer)
    XCTAssertEqual(kinds["bn1.weight"], .trainable)
    XCTAssertEqual(model.parameterCount, 3 * 3 * 3 * 8 + 16 + 9 * 8 + 8 * 4 + 4)
  }

  func testFreezeByPrefix() {
    let model = makeModel(seed: 1)
    XCTAssertEqual(model.setFrozen(true), 6)  // every trainable parameter, no buffers
    XCTAssertEqual(model.setFrozen(false, prefix: "classifier."), 2)
    let updated = model.namedParameters().filter { $0.parameter.isUpdated }.map(\.name)
    XCTAssertEqual(updated, ["classifier.weight", "classifier.bias"])

    // zeroGradients clears what optimizers update; a frozen gradient is cleared on unfreezing.
    let params = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter) })
    for p in params.values where p.kind == .trainable { p.grad.scalars = p.grad.scalars.map { _ in 1 } }
    model.zeroGradients()
    XCTAssertTrue(params["classifier.weight"]!.grad.scalars.allSatisfy { $0 == 0 })
    XCTAssertTrue(params["conv_stem.weight"]!.grad.scalars.allSatisfy { $0 == 1 }, "frozen: not touched")
    model.setFrozen(false, prefix: "conv_stem.")
    XCTAssertTrue(params["conv_stem.weight"]!.grad.scalars.allSatisfy { $0 == 0 }, "unfrozen: starts from zero")
  }

  func testLoadState_roundTripsAndStrictReportsEveryMismatchByName() throws {
    let a = makeModel(seed: 1), b = makeModel(seed: 2)
    XCTAssertNotEqual(a.stateDict(), b.stateDict())
    try b.loadState(a.stateDict())
    XCTAssertEqual(a.stateDict(), b.stateDict())

    var state = a.stateDict()
    state["bn1.running_var"] = nil
    state["head.fc.weight"] = Tensor.zeros([1])
    state["classifier.weight"] = Tensor.zeros([8, 5])
    let c = makeModel(seed: 3)
    let before = c.stateDict()
    XCTAssertThrowsError(try c.loadState(state)) { error in
      guard let e = error as? StateLoadError else { return XCTFail("untyped \(error)") }
      XCTAssertEqual(e.missing, ["bn1.running_var"])
      XCTAssertEqual(e.unexpected, ["head.fc.weight"])
      XCTAssertEqual(e.shapeMismatches.count, 1)
      XCTAssertTrue(e.description.contains("classifier.weight"))
    }
    XCTAssertEqual(c.stateDict(), before, "strict failure changes nothing")
    let report = try c.loadState(state, strict: false)
    XCTAssertEqual(report.missing, ["bn1.running_var"])
    XCTAssertEqual(c.stateDict()["conv_stem.weight"], a.stateDict()["conv_stem.weight"])
    XCTAssertEqual(c.stateDict()["classifier.weight"], before["classifier.weight"])
  }

  func testBatchNorm_runningStatisticsUseUnbiasedVarianceAndMomentum() {
    let bn = BatchNorm2D(1, momentum: 0.1)
    // Values 1..4: mean 2.5, biased variance 1.25, unbiased 5/3.
    let y = bn.forward(Tensor(shape: [4, 1], scalars: [1, 2, 3, 4]), mode: .training)
    XCTAssertEqual(bn.runningMean.value.scalars[0], 0.25, accuracy: 1e-6)
    XCTAssertEqual(bn.runningVar.value.scalars[0], 0.9 + 0.1 * 5 / 3, accuracy: 1e-6)
    XCTAssertEqual(y.scalars[0], Float(-1.5 / (1.25 + 1e-5).squareRoot()), accuracy: 1e-5)
    // Inference uses the running statistics.
    let z = bn.forward(Tensor(shape: [1, 1], scalars: [0.25]), mode: .inference)
    XCTAssertEqual(z.scalars[0], 0, accuracy: 1e-6)
  }
}
