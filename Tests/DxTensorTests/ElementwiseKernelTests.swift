import DxTensor
import DxTestSupport
import Foundation
import XCTest

final class ElementwiseKernelTests: XCTestCase {
  func testActivations_matchScalarFormulas() {
    let xs: [Float] = [-8, -3.5, -1, -0.1, 0, 0.2, 1, 2.5, 5.9, 6.1, 9]
    func apply(_ f: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> [Float] {
      var y = [Float](repeating: 0, count: xs.count)
      xs.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { f(xp.baseAddress!, $0.baseAddress!, xs.count) } }
      return y
    }
    let silu = apply { siluForward($0, $1, count: $2) }
    let sig = apply { sigmoidForward($0, $1, count: $2) }
    let relu6 = apply { relu6Forward($0, $1, count: $2) }
    for (i, x) in xs.enumerated() {
      let s = 1 / (1 + exp(-Double(x)))
      XCTAssertEqual(Double(silu[i]), Double(x) * s, accuracy: 1e-6)
      XCTAssertEqual(Double(sig[i]), s, accuracy: 1e-6)
      XCTAssertEqual(relu6[i], min(max(x, 0), 6))
    }
  }

  func testBatchStatistics_matchReference() {
    var rng = SeededGenerator(seed: 5)
    let x = Tensor.randomNormal([3, 5, 7, 11], std: 3, using: &rng) + Tensor(shape: [3, 5, 7, 11], repeating: 2)
    let stats = x.withPointer { batchStatistics($0, rows: 105, channels: 11) }
    let ref = referenceBatchNorm(x, gamma: Tensor(shape: [11], repeating: 1), beta: .zeros([11]), eps: 1e-5)
    assertClose(stats.mean, ref.mean.map { Float($0) }, atol: 1e-5, rtol: 1e-5, "mean")
    assertClose(stats.variance, ref.variance.map { Float($0) }, atol: 1e-4, rtol: 1e-5, "variance")
  }

  func testGlobalAvgPoolAndChannelScale_matchDirectLoops() {
    var rng = SeededGenerator(seed: 6)
    let (n, hw, c) = (2, 15, 9)
    let x = Tensor.randomNormal([n, 3, 5, c], using: &rng)
    let s = Tensor.randomNormal([n, c], using: &rng)
    var pooled = Tensor.zeros([n, c]), scaled = Tensor.zeros(x.shape)
    x.withPointer { xp in
      pooled.withMutablePointer { globalAvgPoolForward(xp, $0, batch: n, pixels: hw, channels: c) }
      s.withPointer { sp in scaled.withMutablePointer { channelScaleForward(xp, scale: sp, $0, batch: n, pixels: hw, channels: c) } }
    }
    for i in 0..<n {
      for j in 0..<c {
        var sum = 0.0
        for p in 0..<hw {
          sum += Double(x.scalars[(i * hw + p) * c + j])
          XCTAssertEqual(scaled.scalars[(i * hw + p) * c + j], x.scalars[(i * hw + p) * c + j] * s.scalars[i * c + j])
        }
        XCTAssertEqual(Double(pooled.scalars[i * c + j]), sum / Double(hw), accuracy: 1e-6)
      }
    }
  }
}

extension ElementwiseKernelTests {
  /// SE's scaling and its input gradient on every instruction set, streaming stores on and off,
  /// against direct loops: 24 and 40 channels walk AVX-512's flat path across row ends (rows
  /// of one image at a time), 9 the row path.
  func testChannelScaleAndInputGradient_everyInstructionSet_matchDirectLoops() {
    var rng = SeededGenerator(seed: 8)
    for (n, hw, c) in [(3, 37, 24), (2, 11, 40), (2, 15, 9)] {
      let x = Tensor.randomNormal([n, hw, 1, c], using: &rng), s = Tensor.randomNormal([n, c], using: &rng)
      let add = Tensor.randomNormal([n, c], using: &rng)
      for isa in KernelInstructionSet.available { for streams in [false, true] {
        StreamingStores.with(minimumBytes: streams ? 0 : .max) {
          KernelInstructionSet.with(isa) {
            var scaled = Tensor(shape: x.shape, repeating: .nan), dx = scaled
            x.withPointer { xp in
              s.withPointer { sp in
                scaled.withMutablePointer { channelScaleForward(xp, scale: sp, $0, batch: n, pixels: hw, channels: c) }
                add.withPointer { ap in
                  dx.withMutablePointer { channelScaleInputGradient(xp, scale: sp, adding: ap, inputGrad: $0, batch: n, pixels: hw, channels: c) }
                }
              }
            }
            for i in 0..<x.count {
              let k = (i / (hw * c)) * c + i % c
              XCTAssertEqual(scaled.scalars[i], x.scalars[i] * s.scalars[k], "\(isa) streams \(streams) c \(c) scale [\(i)]")
              let want = Double(x.scalars[i]) * Double(s.scalars[k]) + Double(add.scalars[k])
              XCTAssertEqual(Double(dx.scalars[i]), want, accuracy: 1e-6 * (1 + abs(want)), "\(isa) streams \(streams) c \(c) dx [\(i)]")
            }
          }
        }
      } }
    }
  }
}

final class FastExpTests: XCTestCase {
  func testFastExp_relativeErrorBelow3e7OverTheRange() {
    var worst = 0.0
    var x: Float = -87
    while x <= 88 {
      let exact = exp(Double(x))
      worst = max(worst, abs(Double(fastExp(x)) - exact) / exact)
      x += 0.0137
    }
    XCTAssertLessThan(worst, 3e-7)
    XCTAssertEqual(fastExp(-200), fastExp(-87))
    XCTAssertFalse(fastExp(100).isInfinite)
  }
}

/// One-pass batch statistics against a two-pass Double computation, including data whose mean
/// is far larger than its spread (where a naive one-pass variance loses every digit) and a
/// first row (the shift) far out in the tail, on every instruction set.
final class BatchStatisticsTests: XCTestCase {
  func testOnePassStatistics_matchTwoPassDoubleEvenWithALargeOffset() {
    var rng = SeededGenerator(seed: 41)
    for (offset, spread, rows, outlier) in [(Float(0), Float(1), 5000, Float(0)), (1000, 0.01, 5000, 0), (-30, 3, 7, 0), (5, 1, 3000, 12)] {
      let c = 11
      var x = Tensor.randomNormal([rows, c], using: &rng).scalars.enumerated().map { offset + Float($0.offset % c) + spread * $0.element }
      for j in 0..<c { x[j] += outlier * spread }  // the shift, 12 standard deviations out
      for isa in KernelInstructionSet.available {
        let (mean, variance) = KernelInstructionSet.with(isa) {
          x.withUnsafeBufferPointer { batchStatistics($0.baseAddress!, rows: rows, channels: c) }
        }
        for j in 0..<c {
          let column = stride(from: j, to: x.count, by: c).map { Double(x[$0]) }
          let mu = column.reduce(0, +) / Double(rows)
          let v = column.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(rows)
          XCTAssertEqual(Double(mean[j]), mu, accuracy: 1e-6 * max(1, abs(mu)), "\(isa) mean, offset \(offset)")
          XCTAssertEqual(Double(variance[j]), v, accuracy: 1e-3 * v + 1e-9, "\(isa) variance, offset \(offset), spread \(spread), outlier \(outlier)")
        }
      }
    }
  }
}
