import DxEfficientNet
import DxNN
import DxTensor
import DxTestSupport
import XCTest

/// The folded, fused inference network against the layer-by-layer one it was made from, on
/// networks whose BatchNorm statistics are far from the identity (so a wrong fold shows).
final class FoldedEfficientNetTests: XCTestCase {
  /// Random BatchNorm affine parameters and running statistics everywhere, and a non-zero
  /// classifier bias.
  func randomized(_ config: EfficientNetConfig, seed: UInt64) throws -> EfficientNet {
    let model = try EfficientNet(config, seed: seed)
    var rng = SeededGenerator(seed: seed &+ 1)
    for (name, p) in model.namedParameters() {
      let shape = p.value.shape
      if name.hasSuffix("running_mean") || name.hasSuffix("bias") {
        p.value = .randomUniform(shape, low: -0.5, high: 0.5, using: &rng)
      } else if name.hasSuffix("running_var") {
        p.value = .randomUniform(shape, low: 0.3, high: 2.5, using: &rng)
      } else if shape.count == 1 && name.hasSuffix("weight") {
        p.value = .randomUniform(shape, low: 0.5, high: 1.5, using: &rng)
      }
    }
    return model
  }

  func check(_ variant: String, batch: Int, size: Int, file: StaticString = #filePath, line: UInt = #line) throws {
    var config = try XCTUnwrap(Variants.named(variant))
    config.numClasses = 7
    let model = try randomized(config, seed: 11)
    var rng = SeededGenerator(seed: 5)
    let x = Tensor.randomNormal([batch, size, size, 3], using: &rng)
    let folded = FoldedEfficientNet(model)
    let expectedPooled = model.forwardHead(model.forwardFeatures(x, mode: .inference), mode: .inference, preLogits: true)
    assertClose(folded.pooledFeatures(x), expectedPooled, atol: 1e-4, rtol: 1e-3, "\(variant) pooled", file: file, line: line)
    assertClose(folded.forward(x), model.forward(x, mode: .inference), atol: 1e-4, rtol: 1e-3, "\(variant) logits", file: file, line: line)
    // Buffers are reused: a second, smaller batch through the same object gives the same rows.
    let first = Tensor(shape: [1, size, size, 3], scalars: Array(x.scalars.prefix(size * size * 3)))
    let again = folded.forward(first)
    assertClose(again, model.forward(first, mode: .inference), atol: 1e-4, rtol: 1e-3, "\(variant) reused buffers", file: file, line: line)
  }

  func testB0_symmetricPadding_SiLU_squeezeExcite() throws { try check("efficientnet_b0", batch: 3, size: 64) }

  /// TensorFlow SAME padding on an odd size: asymmetric padding in every strided layer.
  func testTFB0_samePaddingOnOddSize() throws { try check("tf_efficientnet_b0", batch: 2, size: 57) }

  /// Lite: ReLU6, no squeeze-excitation.
  func testLite0_ReLU6_noSqueezeExcite() throws { try check("efficientnet_lite0", batch: 2, size: 48) }

  /// Folded on every instruction set and run on every one: without AVX-512 at fold time no
  /// packed weights are kept, and a run on AVX-512 then packs them per call.
  func testFoldedOnOneInstructionSet_runsOnEvery() throws {
    var config = try XCTUnwrap(Variants.named("efficientnet_b0"))
    config.numClasses = 4
    let model = try randomized(config, seed: 7)
    var rng = SeededGenerator(seed: 8)
    let x = Tensor.randomNormal([2, 40, 40, 3], using: &rng)
    let expected = model.forward(x, mode: .inference)
    for foldedOn in KernelInstructionSet.available {
      let folded = KernelInstructionSet.with(foldedOn) { FoldedEfficientNet(model) }
      for runOn in KernelInstructionSet.available {
        let logits = KernelInstructionSet.with(runOn) { folded.forward(x) }
        assertClose(logits, expected, atol: 1e-4, rtol: 1e-3, "folded on \(foldedOn), run on \(runOn)")
      }
    }
  }

  /// Differs from the layered network when BatchNorm is left out of the fold: the test above
  /// is able to fail.
  func testFoldUsesTheRunningStatistics() throws {
    var config = try XCTUnwrap(Variants.named("efficientnet_b0"))
    config.numClasses = 3
    let model = try randomized(config, seed: 2)
    var rng = SeededGenerator(seed: 3)
    let x = Tensor.randomNormal([1, 32, 32, 3], using: &rng)
    let before = FoldedEfficientNet(model).forward(x)
    model.namedParameters().first { $0.name == "blocks.3.0.bn2.running_var" }!.parameter.value.scalars[0] *= 4
    let after = FoldedEfficientNet(model).forward(x)
    XCTAssertGreaterThan(zip(before.scalars, after.scalars).map { abs($0 - $1) }.max()!, 1e-6)
    assertClose(after, model.forward(x, mode: .inference), atol: 1e-4, rtol: 1e-3, "after the change")
  }

  /// `bench infer --by-shape`: each block's fused kernels charged to their shape, one call per
  /// block in all; without it, to their kind only.
  func testProfile_byShape_namesEachLayerShape() throws {
    var config = try XCTUnwrap(Variants.named("efficientnet_b0"))
    config.numClasses = 3
    let model = try EfficientNet(config, seed: 2)
    let folded = FoldedEfficientNet(model)
    var rng = SeededGenerator(seed: 3)
    let x = Tensor.randomNormal([1, 64, 64, 3], using: &rng)
    defer { Profiler.enabled = false; Profiler.byShape = false; Profiler.reset() }
    func profile(byShape: Bool) -> [Profiler.Entry] {
      Profiler.reset()
      Profiler.enabled = true
      Profiler.byShape = byShape
      _ = folded.forward(x)
      Profiler.enabled = false
      return Profiler.report
    }
    let blocks = model.blocks.flatMap { $0 }.count
    let shaped = profile(byShape: true)
    let projects = shaped.filter { $0.kind.hasPrefix("project ") }
    XCTAssertEqual(projects.reduce(0) { $0 + $1.calls }, blocks)
    XCTAssertTrue(projects.contains { $0.kind == "project 32x32 16->16" } || projects.contains { $0.kind.hasPrefix("project 32x32 32->16") }, "\(projects.map(\.kind))")
    XCTAssertTrue(shaped.contains { $0.kind == "expand+depthwise 32x32 16->96 k3/2" }, "\(shaped.map(\.kind))")
    let kinds = profile(byShape: false)
    XCTAssertFalse(kinds.contains { $0.kind.hasPrefix("project ") || $0.kind.hasPrefix("expand+depthwise ") })
    XCTAssertEqual(kinds.first { $0.kind == "1x1 project conv+BN+SE scale+skip (folded)" }?.calls, blocks)
  }
}
