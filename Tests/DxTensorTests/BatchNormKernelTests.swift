@testable import DxTensor
import DxTestSupport
import XCTest

/// BatchNorm's training passes (affine map + activation forward; the fused backward) on every
/// instruction set this CPU has, against the formulas evaluated in Double.
final class BatchNormKernelTests: XCTestCase {
  func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
  func act(_ v: Double, _ a: FusedActivation) -> Double {
    switch a {
    case .none: v
    case .silu: v * sigmoid(v)
    case .relu6: min(max(v, 0), 6)
    }
  }
  func actGrad(_ v: Double, _ a: FusedActivation) -> Double {
    switch a {
    case .none: 1
    case .silu: sigmoid(v) * (1 + v * (1 - sigmoid(v)))
    case .relu6: v > 0 && v < 6 ? 1 : 0
    }
  }

  func testApplyAndBackward_everyInstructionSet_matchDouble() {
    var rng = SeededGenerator(seed: 31)
    // 5 and 37 channels end in masked / scalar tails; 96 is whole vectors; past 64 channels the
    // backward sums walk rows outer (100: with a masked tail).
    for (m, c) in [(300, 5), (130, 37), (200, 96), (90, 100)] {
      let x = Tensor.randomNormal([m, c], std: 2, using: &rng), dy = Tensor.randomNormal([m, c], using: &rng)
      let gamma = Tensor.randomUniform([c], low: 0.5, high: 2, using: &rng), beta = Tensor.randomNormal([c], using: &rng)
      let stats = x.withPointer { batchStatistics($0, rows: m, channels: c) }
      let invStd = stats.variance.map { 1 / ($0 + 1e-5).squareRoot() }
      for a in [FusedActivation.none, .silu, .relu6] {
        // Double: xhat, v, y, g = act'(v) dy, the sums, dx.
        var y = [Double](repeating: 0, count: m * c), g = y, xhat = y
        var sumG = [Double](repeating: 0, count: c), sumGX = sumG
        for i in 0..<(m * c) {
          let j = i % c
          xhat[i] = (Double(x.scalars[i]) - Double(stats.mean[j])) * Double(invStd[j])
          let v = xhat[i] * Double(gamma.scalars[j]) + Double(beta.scalars[j])
          y[i] = act(v, a)
          g[i] = actGrad(v, a) * Double(dy.scalars[i])
          sumG[j] += g[i]
          sumGX[j] += g[i] * xhat[i]
        }
        let dx = (0..<(m * c)).map { i -> Double in
          let j = i % c
          return Double(gamma.scalars[j] * invStd[j]) * (g[i] - sumG[j] / Double(m) - xhat[i] * sumGX[j] / Double(m))
        }
        // Streaming stores (AVX-512's flat walk) on and off: the same values either way.
        for isa in KernelInstructionSet.available { for streams in [false, true] {
          StreamingStores.with(minimumBytes: streams ? 0 : .max) { KernelInstructionSet.with(isa) {
            var out = [Float](repeating: .nan, count: m * c)
            batchNormApply(x.scalars, &out, mean: stats.mean, invStd: invStd, gamma: gamma.scalars, beta: beta.scalars, rows: m, channels: c, activation: a)
            for i in 0..<(m * c) { XCTAssertEqual(Double(out[i]), y[i], accuracy: 1e-5 * (1 + abs(y[i])), "\(isa) streams \(streams) \(a) apply [\(i)]") }
            var din = [Float](repeating: .nan, count: m * c)
            var dGamma = [Float](repeating: 1, count: c), dBeta = [Float](repeating: 1, count: c)
            batchNormActivationBackward(
              x: x.scalars, outputGrad: dy.scalars, inputGrad: &din, mean: stats.mean, invStd: invStd, gamma: gamma.scalars,
              beta: beta.scalars, gammaGrad: &dGamma, betaGrad: &dBeta, activation: a, batchStats: true, rows: m, channels: c)
            for i in 0..<(m * c) { XCTAssertEqual(Double(din[i]), dx[i], accuracy: 1e-4 * (1 + abs(dx[i])), "\(isa) streams \(streams) \(a) dx [\(i)]") }
            for j in 0..<c {
              XCTAssertEqual(Double(dBeta[j]), 1 + sumG[j], accuracy: 1e-4 * (1 + abs(sumG[j])), "\(isa) \(a) dbeta [\(j)]")
              XCTAssertEqual(Double(dGamma[j]), 1 + sumGX[j], accuracy: 1e-4 * (1 + abs(sumGX[j])), "\(isa) \(a) dgamma [\(j)]")
            }
          } }
        } }
      }
    }
  }
}
