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
  func testLite0_sameGradientsAsKeepingActivations() throws { try check("efficientnet_lite0") }
}
