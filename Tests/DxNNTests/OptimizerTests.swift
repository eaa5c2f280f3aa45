import DxNN
import DxTensor
import DxTestSupport
import XCTest

/// Two steps of each optimizer against values computed by hand (numpy, float64) from the
/// update rule PyTorch / timm document, for p0 = [1, -2, 0.5], g1 = [0.5, -0.25, 2],
/// g2 = [-1, 0.75, 0.1], lr = 0.1.
final class OptimizerTests: XCTestCase {
  let p0: [Float] = [1, -2, 0.5]
  let g1: [Float] = [0.5, -0.25, 2]
  let g2: [Float] = [-1, 0.75, 0.1]

  func twoSteps(_ opt: any Optimizer, name: String = "blocks.0.conv.weight") -> [Float] {
    let p = Parameter(Tensor(shape: [3], scalars: p0))
    for g in [g1, g2] {
      p.grad = Tensor(shape: [3], scalars: g)
      opt.step([(name, p)], lr: 0.1)
    }
    return p.value.scalars
  }

  func testSGD_momentumAndCoupledDecay() {
    // buf = g (first step) then 0.9 buf + g; g includes 0.01 * p
    assertClose(twoSteps(SGD(momentum: 0.9, weightDecay: WeightDecay(0.01))), [1.002151, -2.021727, 0.1087505], atol: 1e-6, rtol: 1e-6)
  }

  func testSGD_nesterov() {
    assertClose(twoSteps(SGD(momentum: 0.9, nesterov: true, weightDecay: WeightDecay(0.01))), [1.05007411, -2.06562747, -0.062581195], atol: 1e-6, rtol: 1e-6)
  }

  func testSGD_plainIsGradientDescent() {
    assertClose(twoSteps(SGD()), [1.05, -2.05, 0.29], atol: 1e-6, rtol: 1e-6)
  }

  func testAdamW_decoupledDecayAndBiasCorrection() {
    assertClose(twoSteps(AdamW(weightDecay: WeightDecay(0.01))), [0.9347113542, -1.9455209864, 0.3284604629], atol: 1e-6, rtol: 1e-6)
  }

  func testRMSpropTF_epsInsideRootAndOnesInit() {
    assertClose(twoSteps(RMSpropTF(weightDecay: WeightDecay(0.01))), [1.0019315173, -2.0244268551, 0.1567407913], atol: 1e-6, rtol: 1e-6)
  }

  func testWeightDecay_excludesBiasesAndNormParametersWhenAsked() {
    let policy = WeightDecay(0.1, excludeBiasAndNorm: true)
    XCTAssertEqual(policy.rate(for: "conv_stem.weight", shape: [3, 3, 3, 32]), 0.1)
    XCTAssertEqual(policy.rate(for: "bn1.weight", shape: [32]), 0)
    XCTAssertEqual(policy.rate(for: "classifier.bias", shape: [10]), 0)
    XCTAssertEqual(WeightDecay(0.1).rate(for: "bn1.weight", shape: [32]), 0.1)
    // In a step: with zero gradients only decay moves a parameter.
    let w = Parameter(Tensor(shape: [2, 1], scalars: [1, 1])), b = Parameter(Tensor(shape: [2], scalars: [1, 1]))
    SGD(weightDecay: policy).step([("fc.weight", w), ("fc.bias", b)], lr: 1)
    XCTAssertEqual(w.value.scalars, [0.9, 0.9])
    XCTAssertEqual(b.value.scalars, [1, 1])
  }

  func testStep_skipsBuffersAndFrozenParameters() {
    var rng = SeededGenerator(seed: 1)
    let model = Sequential([("conv", Conv2D(2, 3, kernel: 1, rng: &rng)), ("bn", BatchNorm2D(3)), ("head", Linear(3, 2, rng: &rng))])
    for (_, p) in model.namedParameters() where p.kind == .trainable { p.grad = Tensor(shape: p.value.shape, repeating: 1) }
    XCTAssertEqual(model.setFrozen(true, prefix: "conv"), 1)
    let before = model.stateDict()
    SGD().step(model, lr: 0.5)
    let after = model.stateDict()
    XCTAssertEqual(after["conv.weight"], before["conv.weight"], "frozen")
    XCTAssertEqual(after["bn.running_mean"], before["bn.running_mean"], "buffer")
    XCTAssertEqual(after["bn.running_var"], before["bn.running_var"], "buffer")
    XCTAssertNotEqual(after["bn.weight"], before["bn.weight"])
    XCTAssertNotEqual(after["head.weight"], before["head.weight"])
  }

  func testClipGradientNorm_scalesToMaxNorm() {
    let a = Parameter(Tensor(shape: [2], scalars: [3, 0])), b = Parameter(Tensor(shape: [1], scalars: [0]))
    a.grad = Tensor(shape: [2], scalars: [3, 0])
    b.grad = Tensor(shape: [1], scalars: [4])
    let norm = clipGradientNorm([("a", a), ("b", b)], maxNorm: 1)
    XCTAssertEqual(norm, 5, accuracy: 1e-6)
    XCTAssertEqual(a.grad.scalars[0], 0.6, accuracy: 1e-6)
    XCTAssertEqual(b.grad.scalars[0], 0.8, accuracy: 1e-6)
    // Below the limit nothing changes.
    clipGradientNorm([("a", a), ("b", b)], maxNorm: 10)
    XCTAssertEqual(b.grad.scalars[0], 0.8, accuracy: 1e-6)
  }

  func testExponentialMovingAverage_tracksWeightsAndBuffers() {
    let bn = BatchNorm2D(2)
    let ema = ExponentialMovingAverage(bn, decay: 0.75)
    bn.weight.value = Tensor(shape: [2], scalars: [5, 9])
    bn.runningMean.value = Tensor(shape: [2], scalars: [4, -4])
    ema.update(bn)
    XCTAssertEqual(ema.shadow["weight"]!.scalars, [2, 3])  // 0.75 * 1 + 0.25 * [5, 9]
    XCTAssertEqual(ema.shadow["running_mean"]!.scalars, [1, -1])
    ema.copy(into: bn)
    XCTAssertEqual(bn.weight.value.scalars, [2, 3])
  }
}

final class LearningRateScheduleTests: XCTestCase {
  func testWarmupThenCosine() {
    let s = LearningRateSchedule(baseLR: 0.1, shape: .cosine(totalSteps: 100, minLR: 0.001), warmupSteps: 10, warmupStartLR: 0.01)
    XCTAssertEqual(s.lr(at: 0), 0.01, accuracy: 1e-12)
    XCTAssertEqual(s.lr(at: 5), 0.055, accuracy: 1e-12)
    XCTAssertEqual(s.lr(at: 10), 0.1, accuracy: 1e-12)
    XCTAssertEqual(s.lr(at: 60), (0.1 + 0.001) / 2, accuracy: 1e-12)
    XCTAssertEqual(s.lr(at: 110), 0.001, accuracy: 1e-12)
    XCTAssertEqual(s.lr(at: 500), 0.001, accuracy: 1e-12)
  }

  func testStepAndConstant() {
    let step = LearningRateSchedule(baseLR: 1, shape: .step(every: 30, gamma: 0.1))
    XCTAssertEqual(step.lr(at: 29), 1, accuracy: 1e-12)
    XCTAssertEqual(step.lr(at: 30), 0.1, accuracy: 1e-12)
    XCTAssertEqual(step.lr(at: 65), 0.01, accuracy: 1e-12)
    XCTAssertEqual(LearningRateSchedule(baseLR: 0.3).lr(at: 12345), 0.3)
  }
}
