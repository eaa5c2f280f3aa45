import DxNN
import DxTensor
import DxTestSupport
import XCTest

/// Every layer's backward against central finite differences, on inputs and every parameter,
/// with odd sizes, stride 2 and channel counts that are not a multiple of the SIMD width.
final class LayerGradientTests: XCTestCase {
  var rng = SeededGenerator(seed: 2024)

  func input(_ shape: [Int]) -> Tensor { Tensor.randomNormal(shape, using: &rng) }

  /// Randomises every trainable parameter (including BatchNorm's gamma and beta) so that no
  /// gradient is trivially symmetric.
  func randomize(_ layer: any Layer) {
    for (_, p) in layer.namedParameters() where p.kind == .trainable {
      p.value = Tensor.randomNormal(p.value.shape, std: 0.5, using: &rng)
    }
  }

  func testConv2D_backwardMatchesFiniteDifferences() {
    let cases: [(cin: Int, cout: Int, k: Int, s: Int, pad: PaddingMode, bias: Bool, shape: [Int])] = [
      (3, 5, 3, 2, .symmetric, false, [2, 7, 9, 3]),
      (3, 4, 3, 2, .same, true, [1, 8, 7, 3]),
      (9, 7, 1, 1, .symmetric, true, [2, 3, 5, 9]),
      (5, 3, 1, 2, .symmetric, false, [1, 5, 5, 5]),
      (2, 3, 5, 1, .same, false, [1, 6, 5, 2]),
    ]
    // Every instruction set: 1x1 convolutions run on the packed GEMM with AVX-512, OpenBLAS else.
    for isa in KernelInstructionSet.available {
      KernelInstructionSet.with(isa) {
        for c in cases {
          let conv = Conv2D(c.cin, c.cout, kernel: c.k, stride: c.s, padding: c.pad, bias: c.bias, rng: &rng)
          if c.bias { randomize(conv) }
          GradientChecker().check(conv, input: input(c.shape))
        }
      }
    }
  }

  func testDepthwiseConv2D_backwardMatchesFiniteDifferences() {
    for (k, s, pad) in [(3, 1, PaddingMode.symmetric), (3, 2, .same), (5, 2, .symmetric), (5, 1, .same), (5, 2, .same)] {
      let dw = DepthwiseConv2D(11, kernel: k, stride: s, padding: pad, bias: true, rng: &rng)
      randomize(dw)
      GradientChecker().check(dw, input: input([2, 9, 7, 11]))
    }
  }

  func testBatchNorm_trainingAndInferenceBackwardMatchFiniteDifferences() {
    let bn = BatchNorm2D(13, eps: 1e-3)
    randomize(bn)
    GradientChecker(eps: 1e-2, atol: 3e-3).check(bn, input: input([3, 4, 5, 13]) * 2, mode: .training)
    bn.runningMean.value = Tensor.randomNormal([13], using: &rng)
    bn.runningVar.value = Tensor.randomUniform([13], low: 0.5, high: 2, using: &rng)
    GradientChecker().check(bn, input: input([2, 3, 3, 13]), mode: .inference)
    let bn2d = BatchNorm2D(6)
    randomize(bn2d)
    GradientChecker().check(bn2d, input: input([9, 6]), mode: .training)  // [N, C] input, as after pooling
  }

  func testActivations_backwardMatchesFiniteDifferences() {
    for kind in [ActivationKind.silu, .sigmoid] {
      GradientChecker().check(Activation(kind), input: input([2, 3, 5, 7]) * 3)
    }
    // ReLU6 has kinks at 0 and 6: keep inputs away from them so differences are well defined.
    var x = input([2, 3, 5, 7]) * 4 + Tensor(shape: [2, 3, 5, 7], repeating: 3)
    for i in 0..<x.count where abs(x.scalars[i]) < 0.05 || abs(x.scalars[i] - 6) < 0.05 { x.scalars[i] += 0.2 }
    GradientChecker().check(Activation(.relu6), input: x)
  }

  func testPoolingLinearAndSqueezeExcite_backwardMatchFiniteDifferences() {
    GradientChecker().check(GlobalAvgPool(), input: input([3, 5, 3, 7]))
    GradientChecker().check(GlobalAvgPool(keepSpatial: true), input: input([2, 2, 3, 5]))
    let linear = Linear(13, 6, rng: &rng)
    randomize(linear)
    GradientChecker().check(linear, input: input([5, 13]))
    let se = SqueezeExcite(10, reduced: 3, rng: &rng)
    randomize(se)
    GradientChecker().check(se, input: input([2, 5, 3, 10]))
  }

  func testDropoutAndDropPath_backwardMatchesFiniteDifferencesWithFixedMasks() {
    let dropout = Dropout(rate: 0.3, seed: 5)
    GradientChecker().check(dropout, input: input([4, 3, 3, 5]), beforeForward: { dropout.generator = SeededGenerator(seed: 5) })
    let dropPath = DropPath(rate: 0.5, seed: 6)
    GradientChecker().check(dropPath, input: input([6, 2, 2, 3]), beforeForward: { dropPath.generator = SeededGenerator(seed: 6) })
  }

  func testResidualMBConvLikeStack_backwardMatchesFiniteDifferences() {
    // A miniature inverted residual: expand, BN+SiLU, depthwise stride 1, SE, project, BN, skip.
    let body = Sequential([
      ("conv_pw", Conv2D(6, 12, kernel: 1, rng: &rng)),
      ("bn1", BatchNorm2D(12)), ("act1", Activation(.silu)),
      ("conv_dw", DepthwiseConv2D(12, kernel: 3, padding: .same, rng: &rng)),
      ("bn2", BatchNorm2D(12)), ("act2", Activation(.silu)),
      ("se", SqueezeExcite(12, reduced: 2, rng: &rng)),
      ("conv_pwl", Conv2D(12, 6, kernel: 1, rng: &rng)),
      ("bn3", BatchNorm2D(6)),
    ])
    randomize(body)
    GradientChecker(atol: 3e-3).check(Residual(body), input: input([2, 5, 5, 6]))
  }
}

/// The contracts every layer keeps: gradients accumulate, zeroing clears, every trainable
/// parameter receives a gradient, shape misuse is a programmer error.
final class LayerContractTests: XCTestCase {
  func testBackward_accumulatesAcrossCallsAndZeroingClears() {
    var rng = SeededGenerator(seed: 1)
    let conv = Conv2D(3, 4, kernel: 3, stride: 2, bias: true, rng: &rng)
    let x = Tensor.randomNormal([2, 6, 6, 3], using: &rng)
    let y = conv.forward(x, mode: .training)
    let dy = Tensor.randomNormal(y.shape, using: &rng)
    _ = conv.backward(dy)
    let once = conv.weight.grad
    _ = conv.backward(dy)
    assertClose(conv.weight.grad, once * 2, atol: 1e-5, rtol: 1e-5, "accumulated twice")
    conv.zeroGradients()
    XCTAssertEqual(conv.weight.grad.maxAbs(), 0)
    XCTAssertEqual(conv.bias!.grad.maxAbs(), 0)
  }

  func testConv2DBackwardParameters_givesTheFullBackwardsParameterGradients() {
    var rng = SeededGenerator(seed: 4)
    for (k, s) in [(3, 2), (1, 1)] {
      let conv = Conv2D(3, 5, kernel: k, stride: s, padding: .same, bias: true, rng: &rng)
      let x = Tensor.randomNormal([2, 9, 9, 3], using: &rng)
      let dy = Tensor.randomNormal(conv.forward(x, mode: .training).shape, using: &rng)
      _ = conv.backward(dy)
      let (weightGrad, biasGrad) = (conv.weight.grad, conv.bias!.grad)
      XCTAssertGreaterThan(weightGrad.maxAbs(), 0)
      conv.zeroGradients()
      conv.backwardParameters(dy)
      XCTAssertEqual(conv.weight.grad, weightGrad, "\(k)x\(k) weight")
      XCTAssertEqual(conv.bias!.grad, biasGrad, "\(k)x\(k) bias")
    }
  }
}

/// BatchNorm with a fused activation computes exactly what BatchNorm followed by the
/// activation layer computes, forward and backward, in training and inference.
final class FusedBatchNormActivationTests: XCTestCase {
  func testFusedSiLUAndReLU6_equalTheSeparateLayers() {
    var rng = SeededGenerator(seed: 31)
    for (fused, kind) in [(FusedActivation.silu, ActivationKind?.some(.silu)), (.relu6, .relu6), (.none, nil)] {
      for mode in [Mode.training, .inference] {
        // 60 rows (one block), and 396 rows (several blocks, both threads); 13 channels: one
        // 8-lane vector and a scalar tail.
        for shape in [[3, 4, 5, 13], [4, 9, 11, 13]] {
          let x = Tensor.randomNormal(shape, std: 3, using: &rng)
          let dy = Tensor.randomNormal(x.shape, using: &rng)
          let a = BatchNorm2D(13), b = BatchNorm2D(13)
          for bn in [a, b] {
            bn.weight.value = Tensor(shape: [13], scalars: (0..<13).map { 0.5 + Float($0) * 0.2 })
            bn.bias.value = Tensor(shape: [13], scalars: (0..<13).map { Float($0) * 0.5 - 3 })
            bn.runningVar.value = Tensor(shape: [13], scalars: (0..<13).map { 0.5 + Float($0) })
          }
          let act = kind.map(Activation.init)
          let label = "\(fused) \(mode) \(shape)"
          let separate = act.map { $0.forward(a.forward(x, mode: mode), mode: mode) } ?? a.forward(x, mode: mode)
          let together = b.forward(x, mode: mode, activation: fused)
          assertClose(together, separate, atol: 1e-6, rtol: 1e-5, "\(label) forward")
          let dxSeparate = a.backward(act.map { $0.backward(dy) } ?? dy)
          let dxTogether = b.backward(dy, activation: fused)
          assertClose(dxTogether, dxSeparate, atol: 1e-5, rtol: 1e-4, "\(label) backward")
          assertClose(b.weight.grad, a.weight.grad, atol: 1e-4, rtol: 1e-5, "\(label) gamma grad")
          assertClose(b.bias.grad, a.bias.grad, atol: 1e-4, rtol: 1e-5, "\(label) beta grad")
        }
      }
    }
  }
}
