internal import CDxKernels

// Backward of `y = act(BatchNorm(x))` in two passes over the activation map, for training.
//
// The layer keeps only its input x (the pre-activation values are recomputed from x, mean and
// invStd), so with xhat = (x - mean) * invStd and v = gamma * xhat + beta:
//
//   pass 1:  g = act'(v) * dy  (written to dx's buffer; with no activation g is dy),
//            Σ g and Σ g * xhat per channel
//   pass 2:  dx = gamma * invStd * (g - Σg / M - xhat * Σ(g xhat) / M)     (batch statistics)
//            dx = gamma * invStd * g                                         (running statistics)
//
// instead of four (recompute v, act backward, BatchNorm's reduction, BatchNorm's dx), each
// reading and writing a full map. Sums are accumulated in Float over blocks of 64 rows and in
// Double across blocks.

/// BatchNorm backward, with the activation that followed it (`.none`: BatchNorm alone). With
/// `batchStats` (training) the gradient flows through the batch mean and variance; without,
/// they are constants. Accumulates `gammaGrad`, `betaGrad`; writes `dx`.
///
/// Synchronised BatchNorm (statistics over the batches of several replicas) passes
/// `globalSums`, which turns this replica's `[Σg, Σg·xhat]` into every replica's, and
/// `statisticsRows`, the rows of all replicas; `gammaGrad` and `betaGrad` still get this
/// replica's own sums, since parameter gradients are summed over replicas afterwards.
public func batchNormActivationBackward(
  x: UnsafePointer<Float>, outputGrad dy: UnsafePointer<Float>, inputGrad dx: UnsafeMutablePointer<Float>,
  mean: UnsafePointer<Float>, invStd: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
  gammaGrad: UnsafeMutablePointer<Float>, betaGrad: UnsafeMutablePointer<Float>,
  activation: FusedActivation, batchStats: Bool, rows m: Int, channels c: Int,
  statisticsRows: Int? = nil, globalSums: ((inout [Double]) -> Void)? = nil
) {
  let workers = max(1, min(ThreadPool.threadCount * ThreadPool.chunksPerThread, m / 64))
  let block = 64
  var partial = [Double](repeating: 0, count: workers * 2 * c)
  partial.withUnsafeMutableBufferPointer { pp in
    ThreadPool.parallelFor(workers) { range in
      var local = [Float](repeating: 0, count: 2 * c)
      local.withUnsafeMutableBufferPointer { lp in
        let sumG = lp.baseAddress!, sumGX = lp.baseAddress! + c
        for worker in range {
          let acc = pp.baseAddress! + worker * 2 * c
          let end = m * (worker + 1) / workers
          var r = m * worker / workers
          while r < end {
            let blockEnd = min(end, r + block)
            for j in 0..<(2 * c) { lp[j] = 0 }
            dx_batchnorm_activation_sums(
              x + r * c, dy + r * c, dx + r * c, blockEnd - r, c, mean, invStd, gamma, beta, activation.kernelCode,
              sumG, sumGX)
            r = blockEnd
            for j in 0..<(2 * c) { acc[j] += Double(lp[j]) }
          }
        }
      }
    }
  }
  var sumG = [Double](repeating: 0, count: c), sumGX = [Double](repeating: 0, count: c)
  for j in 0..<c {
    for worker in 0..<workers {
      sumG[j] += partial[worker * 2 * c + j]
      sumGX[j] += partial[worker * 2 * c + c + j]
    }
    betaGrad[j] += Float(sumG[j])
    gammaGrad[j] += Float(sumGX[j])
  }
  if batchStats, let globalSums {
    var both = sumG + sumGX
    globalSums(&both)
    sumG = Array(both[0..<c])
    sumGX = Array(both[c...])
  }
  batchNormInputGradient(
    x: x, upstream: activation == .none ? dy : UnsafePointer(dx), dx: dx, mean: mean, invStd: invStd, gamma: gamma, sumG: sumG, sumGX: sumGX,
    batchStats: batchStats, rows: m, statisticsRows: statisticsRows ?? m, channels: c)
}
