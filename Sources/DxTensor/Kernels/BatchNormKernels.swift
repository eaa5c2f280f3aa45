internal import CDxKernels

// Batch normalisation over the channel axis of NHWC data seen as rows [M = N*H*W, C].
//
// Training normalises with the batch mean and the *biased* variance and updates the running
// statistics with the *unbiased* variance (PyTorch's convention:
// https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html). Evaluation uses the
// running statistics. Sums are accumulated in Float over blocks of rows and in Double across
// blocks (see `channelReduce`).

/// Batch mean and biased variance per channel, in one pass over `x`: sums of `x - shift` and
/// its square with the first row as `shift` (`dx_shifted_moments`), in Float over blocks of 64
/// rows and in Double across blocks and chunks (combined in a fixed order). The shift keeps the
/// variance of data whose mean is far larger than its spread, which a plain one-pass
/// `E[x^2] - E[x]^2` would lose (tested).
public func batchStatistics(_ x: UnsafePointer<Float>, rows m: Int, channels c: Int) -> (
  mean: [Float], variance: [Float]
) {
  let (shift, s1, s2) = shiftedMoments(x, rows: m, channels: c)
  var mean = [Float](repeating: 0, count: c), variance = [Float](repeating: 0, count: c)
  for j in 0..<c {
    let d = s1[j] / Double(m)
    mean[j] = Float(Double(shift[j]) + d)
    variance[j] = Float(max(0, s2[j] / Double(m) - d * d))
  }
  return (mean, variance)
}

/// `Σx` and `Σx²` per channel in Double (from the shifted moments, so no precision is lost to
/// a large mean before the sums are combined): what synchronised BatchNorm adds up over
/// replicas before taking the mean and variance of the whole batch.
public func channelSums(_ x: UnsafePointer<Float>, rows m: Int, channels c: Int) -> (sum: [Double], sumOfSquares: [Double]) {
  let (shift, s1, s2) = shiftedMoments(x, rows: m, channels: c)
  var sum = [Double](repeating: 0, count: c), squares = [Double](repeating: 0, count: c)
  for j in 0..<c {
    let a = Double(shift[j])
    sum[j] = Double(m) * a + s1[j]
    squares[j] = Double(m) * a * a + 2 * a * s1[j] + s2[j]
  }
  return (sum, squares)
}

/// Sums of `x - shift` and of its square per channel, with the first row as `shift`.
private func shiftedMoments(_ x: UnsafePointer<Float>, rows m: Int, channels c: Int) -> (shift: [Float], s1: [Double], s2: [Double]) {
  let shift = Array(UnsafeBufferPointer(start: x, count: c))
  let chunks = max(1, min(ThreadPool.threadCount * ThreadPool.chunksPerThread, m / 256))
  var partial = [Double](repeating: 0, count: chunks * 2 * c)
  partial.withUnsafeMutableBufferPointer { p in
    let base = p.baseAddress!
    ThreadPool.parallelFor(chunks) { range in
      var block = [Float](repeating: 0, count: 2 * c)
      block.withUnsafeMutableBufferPointer { b in
        let s1 = b.baseAddress!, s2 = b.baseAddress! + c
        for chunk in range {
          let acc = base + chunk * 2 * c
          var r = m * chunk / chunks
          let end = m * (chunk + 1) / chunks
          while r < end {
            let rows = min(64, end - r)
            b.update(repeating: 0)
            dx_shifted_moments(x + r * c, rows, c, shift, s1, s2)
            for j in 0..<(2 * c) { acc[j] += Double(b[j]) }
            r += rows
          }
        }
      }
    }
  }
  var s1 = [Double](repeating: 0, count: c), s2 = [Double](repeating: 0, count: c)
  for j in 0..<c {
    for chunk in 0..<chunks {
      s1[j] += partial[chunk * 2 * c + j]
      s2[j] += partial[chunk * 2 * c + c + j]
    }
  }
  return (shift, s1, s2)
}

/// An activation applied in the same pass as BatchNorm's affine transform (one read and one
/// write of the activation instead of two of each).
public enum FusedActivation: Sendable {
  case none, silu, relu6
}

/// `y = act((x - mean) * invStd * gamma + beta)`, per channel.
public func batchNormApply(
  _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, mean: UnsafePointer<Float>,
  invStd: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
  rows m: Int, channels c: Int, activation: FusedActivation = .none
) {
  var scale = [Float](repeating: 0, count: c)
  var shift = [Float](repeating: 0, count: c)
  for j in 0..<c {
    scale[j] = invStd[j] * gamma[j]
    shift[j] = beta[j] - mean[j] * scale[j]
  }
  scale.withUnsafeBufferPointer { sc in
    shift.withUnsafeBufferPointer { sh in
      let sc = sc.baseAddress!, sh = sh.baseAddress!, stream = StreamingStores.flag(forFloats: m * c)
      ThreadPool.parallelFor(m, minChunk: max(1, 16_384 / max(c, 1))) { range in
        dx_scale_shift_activation(
          x + range.lowerBound * c, y + range.lowerBound * c, range.count, c, sc, sh, activation.kernelCode, stream)
      }
    }
  }
}

/// BatchNorm's input gradient from the gradient `upstream` at its output and that gradient's
/// channel sums `Σ g` and `Σ g * xhat`:
/// `dx = gamma * invStd * (g - Σg / M - xhat * Σ(g xhat) / M)` with batch statistics,
/// `dx = gamma * invStd * g` with running ones. `upstream` may be `dx` itself.
func batchNormInputGradient(
  x: UnsafePointer<Float>, upstream g: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
  mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
  sumG: [Double], sumGX: [Double], batchStats: Bool, rows m: Int, statisticsRows: Int, channels c: Int
) {
  var k1 = [Float](repeating: 0, count: c)  // gamma * invStd
  var k2 = [Float](repeating: 0, count: c)  // mean of g
  var k3 = [Float](repeating: 0, count: c)  // mean of g * xhat
  for j in 0..<c {
    k1[j] = gamma[j] * invStd[j]
    if batchStats {
      k2[j] = Float(sumG[j] / Double(statisticsRows))
      k3[j] = Float(sumGX[j] / Double(statisticsRows))
    }
  }
  k1.withUnsafeBufferPointer { k1 in
    k2.withUnsafeBufferPointer { k2 in
      k3.withUnsafeBufferPointer { k3 in
        let k1 = k1.baseAddress!, k2 = k2.baseAddress!, k3 = k3.baseAddress!, stream = StreamingStores.flag(forFloats: m * c)
        ThreadPool.parallelFor(m, minChunk: max(1, 16_384 / max(c, 1))) { range in
          dx_batchnorm_input_grad(
            x + range.lowerBound * c, g + range.lowerBound * c, dx + range.lowerBound * c, range.count, c, mean, invStd,
            k1, k2, k3, stream)
        }
      }
    }
  }
}
