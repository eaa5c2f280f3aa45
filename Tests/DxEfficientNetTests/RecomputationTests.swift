import DxEfficientNet
import DxNN
import DxTensor
import DxTestSupport
import XCTest

/// Training with activations recomputed in backward gives exactly the gradients, running
/// statistics and input gradient of training that keeps them.
final class RecomputationTests: XCTestCase {
  func check(_ variant: String, file: StaticString = #filePath, line: UInt = #line) throws {
    var config = try XCTUnwrap(Variants.named(variant))
    config.numClasses = 5
    config.dropPathRate = 0.2
    let kept = try EfficientNet(config, seed: 3), recomputed = try EfficientNet(config, seed: 3)
    recomputed.recomputesInBackward = true
    var rng = SeededGenerator(seed: 9)
    let x = Tensor.randomNormal([3, 40, 40, 3], using: &rng)
    let loss = SoftmaxCrossEntropy()
    var inputGrads: [Tensor] = []
    for model in [kept, recomputed] {
      for step in 0..<2 {  // twice: the second step runs on released-and-restored state
        model.zeroGradients()
        model.reseedStochasticLayers(UInt64(step))
        let (_, g) = loss(logits: model.forward(x, mode: .training), labels: [0, 3, 4])
        let dx = model.backward(g)
        if step == 1 { inputGrads.append(dx) }
      }
    }
    XCTAssertEqual(inputGrads[0], inputGrads[1], "\(variant) input gradient", file: file, line: line)
    let a = Dictionary(uniqueKeysWithValues: kept.namedParameters().map { ($0.name, $0.parameter) })
    for (name, p) in recomputed.namedParameters() {
      XCTAssertEqual(p.value, a[name]!.value, "\(variant) \(name) value", file: file, line: line)
      if p.kind == .trainable { XCTAssertEqual(p.grad, a[name]!.grad, "\(variant) \(name) grad", file: file, line: line) }
    }
  }

  func testB0_sameGradientsAsKeepingActivations() throws { try check("efficientnet_b0") }

  /// Training's backward (no image gradient) gives the full backward's parameter gradients.
  func testBackwardParameters_sameGradientsAsFullBackward() throws {
    var config = try XCTUnwrap(Variants.named("efficientnet_b0"))
    config.numClasses = 4
    let full = try EfficientNet(config, seed: 5), parametersOnly = try EfficientNet(config, seed: 5)
    var rng = SeededGenerator(seed: 2)
    let x = Tensor.randomNormal([2, 36, 36, 3], using: &rng)
    for model in [full, parametersOnly] {
      model.zeroGradients()
      let (_, g) = SoftmaxCrossEntropy()(logits: model.forward(x, mode: .training), labels: [1, 3])
      if model === full { _ = model.backward(g) } else { model.backwardParameters(g) }
    }
    let a = Dictionary(uniqueKeysWithValues: full.namedParameters().map { ($0.name, $0.parameter) })
    for (name, p) in parametersOnly.namedParameters() where p.kind == .trainable {
      XCTAssertEqual(p.grad, a[name]!.grad, name)
    }
    XCTAssertGreaterThan(a["conv_stem.weight"]!.grad.maxAbs(), 0)
  }
  func testLite0_sameGradientsAsKeepingActivations() throws { try check("efficientnet_lite0") }
}
