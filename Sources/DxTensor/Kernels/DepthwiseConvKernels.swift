// Depthwise 2-D convolution (groups = channels, one k x k filter per channel) on NHWC tensors.
//
//   input [N, H, W, C]    weight [k, k, C]    output [N, OH, OW, C]
//
// Channels are innermost, so every inner loop is a contiguous multiply-add over C that the
// compiler vectorises; rows (n, oh) are spread over the thread pool. The input gradient is
// computed by gathering (each dx row reads the dy rows it influenced), so threads never write
// the same memory; the weight gradient uses one partial buffer per thread.
// Reference: https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html (groups = in_channels)

/// Depthwise convolution forward: `output = dwconv(input, weight) + bias`.
public func depthwiseConvForward(
  input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
  output: UnsafeMutablePointer<Float>, geometry g: ConvGeometry, channels c: Int
) {
  let k = g.kernel
  ThreadPool.parallelFor(g.batch * g.outHeight) { rows in
    for row in rows {
      let n = row / g.outHeight, oh = row % g.outHeight
      let outRow = output + row * g.outWidth * c
      for ow in 0..<g.outWidth {
        let o = outRow + ow * c
        if let bias { o.update(from: bias, count: c) } else { o.update(repeating: 0, count: c) }
      }
      for kh in 0..<k {
        let ih = oh * g.stride - g.pad.top + kh
        guard ih >= 0 && ih < g.inHeight else { continue }
        let inRow = input + (n * g.inHeight + ih) * g.inWidth * c
        for ow in 0..<g.outWidth {
          let o = outRow + ow * c
          for kw in 0..<k {
            let iw = ow * g.stride - g.pad.left + kw
            guard iw >= 0 && iw < g.inWidth else { continue }
            let x = inRow + iw * c
            let w = weight + (kh * k + kw) * c
            for ch in 0..<c { o[ch] += x[ch] * w[ch] }
          }
        }
      }
    }
  }
}

/// Depthwise convolution backward: writes `inputGrad` (if non-nil) and accumulates into
/// `weightGrad` and `biasGrad`.
public func depthwiseConvBackward(
  input: UnsafePointer<Float>, weight: UnsafePointer<Float>, outputGrad: UnsafePointer<Float>,
  inputGrad: UnsafeMutablePointer<Float>?, weightGrad: UnsafeMutablePointer<Float>,
  biasGrad: UnsafeMutablePointer<Float>?, geometry g: ConvGeometry, channels c: Int
) {
  let k = g.kernel
  if let inputGrad { depthwiseInputGrad(weight: weight, outputGrad: outputGrad, inputGrad: inputGrad, geometry: g, channels: c) }

  // Weight gradient: dW[kh, kw, c] = Σ_{n,oh,ow} x[n, ih, iw, c] * dy[n, oh, ow, c].
  let rows = g.batch * g.outHeight
  let chunks = max(1, min(ThreadPool.threadCount, rows))
  let wSize = k * k * c
  var partial = [Float](repeating: 0, count: chunks * wSize)
  partial.withUnsafeMutableBufferPointer { p in
    let base = p.baseAddress!
    ThreadPool.parallelFor(chunks) { range in
      for chunk in range {
        let acc = base + chunk * wSize
        for row in (rows * chunk / chunks)..<(rows * (chunk + 1) / chunks) {
          let n = row / g.outHeight, oh = row % g.outHeight
          let dyRow = outputGrad + row * g.outWidth * c
          for kh in 0..<k {
            let ih = oh * g.stride - g.pad.top + kh
            guard ih >= 0 && ih < g.inHeight else { continue }
            let inRow = input + (n * g.inHeight + ih) * g.inWidth * c
            for ow in 0..<g.outWidth {
              let dy = dyRow + ow * c
              for kw in 0..<k {
                let iw = ow * g.stride - g.pad.left + kw
                guard iw >= 0 && iw < g.inWidth else { continue }
                let x = inRow + iw * c
                let a = acc + (kh * k + kw) * c
                for ch in 0..<c { a[ch] += x[ch] * dy[ch] }
              }
            }
          }
        }
      }
    }
  }
  for chunk in 0..<chunks { for i in 0..<wSize { weightGrad[i] += partial[chunk * wSize + i] } }
  if let biasGrad {
    accumulateChannelSums(outputGrad, into: biasGrad, rows: rows * g.outWidth, channels: c)
  }
}

/// dx[n, ih, iw, c] = Σ over the taps (kh, kw) that read (ih, iw): dy[n, oh, ow, c] * w[kh, kw, c].
private func depthwiseInputGrad(
  weight: UnsafePointer<Float>, outputGrad: UnsafePointer<Float>,
  inputGrad: UnsafeMutablePointer<Float>, geometry g: ConvGeometry, channels c: Int
) {
  let k = g.kernel, s = g.stride
  ThreadPool.parallelFor(g.batch * g.inHeight) { rows in
    for row in rows {
      let n = row / g.inHeight, ih = row % g.inHeight
      let dxRow = inputGrad + row * g.inWidth * c
      dxRow.update(repeating: 0, count: g.inWidth * c)
      for kh in 0..<k {
        let t = ih + g.pad.top - kh
        guard t >= 0 && t % s == 0 && t / s < g.outHeight else { continue }
        let dyRow = outputGrad + (n * g.outHeight + t / s) * g.outWidth * c
        for iw in 0..<g.inWidth {
          let dx = dxRow + iw * c
          for kw in 0..<k {
            let u = iw + g.pad.left - kw
            guard u >= 0 && u % s == 0 && u / s < g.outWidth else { continue }
            let dy = dyRow + (u / s) * c
            let w = weight + (kh * k + kw) * c
            for ch in 0..<c { dx[ch] += dy[ch] * w[ch] }
          }
        }
      }
    }
  }
}
