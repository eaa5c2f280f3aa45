@testable import DxEfficientNet
@testable import DxNN
import DxTensor
import DxTestSupport
import XCTest

/// Training at every recomputation level gives exactly the gradients, running statistics and
/// input gradient of training that keeps every map.
final class RecomputationTests: XCTestCase {
  func check(_ variant: String, file: StaticString = #filePath, line: UInt = #line) throws {
    var config = try XCTUnwrap(Variants.named(variant))
    config.numClasses = 5
    config.dropPathRate = 0.2
    let levels = Recomputation.allCases
    let models = try levels.map { level in
      let model = try EfficientNet(config, seed: 3)
      model.recomputation = level
      return model
    }
    var rng = SeededGenerator(seed: 9)
    let x = Tensor.randomNormal([3, 40, 40, 3], using: &rng)
    let loss = SoftmaxCrossEntropy()
    var inputGrads: [Tensor] = []
    for model in models {
      for step in 0..<2 {  // twice: the second step runs on released-and-restored state
        model.zeroGradients()
        model.reseedStochasticLayers(UInt64(step))
        let (_, g) = loss(logits: model.forward(x, mode: .training), labels: [0, 3, 4])
        let dx = model.backward(g)
        if step == 1 { inputGrads.append(dx) }
      }
    }
    let kept = Dictionary(uniqueKeysWithValues: models[0].namedParameters().map { ($0.name, $0.parameter) })
    for (level, model) in zip(levels, models).dropFirst() {
      XCTAssertEqual(inputGrads[levels.firstIndex(of: level)!], inputGrads[0], "\(variant) \(level) input gradient", file: file, line: line)
      for (name, p) in model.namedParameters() {
        XCTAssertEqual(p.value, kept[name]!.value, "\(variant) \(level) \(name) value", file: file, line: line)
        if p.kind == .trainable { XCTAssertEqual(p.grad, kept[name]!.grad, "\(variant) \(level) \(name) grad", file: file, line: line) }
      }
    }
  }

  func testB0_everyLevelSameGradientsAsKeepingActivations() throws { try check("efficientnet_b0") }

  /// The projection reading SE's input and gate (the default) trains as the projection of SE's
  /// written output does, to float rounding (the gate multiplies the weights instead of the map).
  func testGateAppliedAsRead_sameGradientsAsGatedMapToRounding() throws {
    var config = try XCTUnwrap(Variants.named("efficientnet_b0"))
    config.numClasses = 4
    defer { MBConvBlock.gatesAsRead = true }
    var rng = SeededGenerator(seed: 21)
    let x = Tensor.randomNormal([2, 36, 36, 3], using: &rng)
    var grads: [[String: Tensor]] = []
    for gatesAsRead in [false, true] {
      MBConvBlock.gatesAsRead = gatesAsRead
      let model = try EfficientNet(config, seed: 7)
      let (_, g) = SoftmaxCrossEntropy()(logits: model.forward(x, mode: .training), labels: [1, 3])
      model.backwardParameters(g)
      grads.append(Dictionary(uniqueKeysWithValues: model.namedParameters().filter { $0.parameter.kind == .trainable }.map { ($0.name, $0.parameter.grad) }))
    }
    XCTAssertGreaterThan(grads[0]["blocks.1.0.conv_pwl.weight"]!.maxAbs(), 0)
    // Sums that cancel to about zero (bn3's bias) differ by a few 1e-6; the atol floor allows it.
    for (name, grad) in grads[1] {
      assertClose(grad, grads[0][name]!, atol: 1e-4 * max(0.1, grads[0][name]!.maxAbs()), rtol: 1e-3, name)
    }
  }

  /// Backward frees each map a block's children kept as soon as the child's backward is done.
  func testBackward_freesEveryMapTheBlocksKept() throws {
    var config = try XCTUnwrap(Variants.named("efficientnet_b0"))
    config.numClasses = 3
    let model = try EfficientNet(config, seed: 1)
    model.recomputation = .none
    var rng = SeededGenerator(seed: 4)
    let x = Tensor.randomNormal([2, 32, 32, 3], using: &rng)
    func keptMaps() -> [String] {
      model.blocks.joined().flatMap { block in
        block.children.compactMap { name, layer -> String? in
          let kept: Tensor? = switch layer {
          case let conv as Conv2D: conv.input
          case let conv as DepthwiseConv2D: conv.input
          case let bn as BatchNormAct: bn.bn.input
          case let se as SqueezeExcite: se.input
          default: nil
          }
          return kept == nil ? nil : name
        }
      }
    }
    let (_, g) = SoftmaxCrossEntropy()(logits: model.forward(x, mode: .training), labels: [0, 2])
    XCTAssertEqual(keptMaps().count, model.blocks.joined().map(\.children.count).reduce(0, +), "forward keeps every map")
    model.backwardParameters(g)
    XCTAssertEqual(keptMaps(), [], "maps still kept after backward")
  }

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
  func testLite0_everyLevelSameGradientsAsKeepingActivations() throws { try check("efficientnet_lite0") }
}
