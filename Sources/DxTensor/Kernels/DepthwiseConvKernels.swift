internal import CDxKernels

// Depthwise 2-D convolution (groups = channels, one k x k filter per channel) on NHWC tensors.
//
//   input [N, H, W, C]    weight [k, k, C]    output [N, OH, OW, C]
//
// Channels are innermost: the kernels work on blocks of 8 channels (one AVX register; 16 with
// AVX-512 in CDxKernels), keeping sums in registers; rows (n, oh) are spread over the thread
// pool. The forward and the stride-1 input gradient run on CDxKernels' depthwise rows; the
// stride-2 input gradient is computed by gathering (each dx row reads the dy rows it
// influenced), so threads never write the same memory; the weight gradient uses one partial
// buffer per chunk of rows (added in chunk order, so the sum does not depend on scheduling).
// Reference: https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html (groups = in_channels)

/// Depthwise convolution forward: `output = dwconv(input, weight) + bias` (the register-blocked
/// kernel of `depthwiseConvInference`, with no activation).
public func depthwiseConvForward(
  input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
  output: UnsafeMutablePointer<Float>, geometry g: ConvGeometry, channels c: Int
) {
  if let bias {
    depthwiseConvInference(input: input, weight: weight, bias: bias, activation: .none, output: output, geometry: g, channels: c)
  } else {
    let zeros = [Float](repeating: 0, count: c)
    depthwiseConvInference(input: input, weight: weight, bias: zeros, activation: .none, output: output, geometry: g, channels: c)
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

  // Weight gradient: dW[kh, kw, c] = Σ_{n,oh,ow} x[n, ih, iw, c] * dy[n, oh, ow, c]. For each
  // output row, tap and block of channels the sum over the row's pixels stays in a register
  // and is added once into this chunk's partial dW (CDxKernels' depthwise weight-gradient row).
  let rows = g.batch * g.outHeight
  let chunks = max(1, min(ThreadPool.threadCount * ThreadPool.chunksPerThread, rows))
  let wSize = k * k * c
  var partial = [Float](repeating: 0, count: chunks * wSize)
  partial.withUnsafeMutableBufferPointer { p in
    let base = p.baseAddress!
    ThreadPool.parallelFor(chunks) { range in
      var shape = dx_depthwise_shape(
        in_height: g.inHeight, in_width: g.inWidth, out_width: g.outWidth, kernel: k, stride: g.stride,
        pad_top: g.pad.top, pad_left: g.pad.left, channels: c, pixel_stride: c)
      for chunk in range {
        for row in (rows * chunk / chunks)..<(rows * (chunk + 1) / chunks) {
          let n = row / g.outHeight
          dx_depthwise_weight_grad_row(
            input + n * g.inHeight * g.inWidth * c, row % g.outHeight, outputGrad + row * g.outWidth * c,
            base + chunk * wSize, &shape)
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
  if s == 1 {
    // With stride 1 this is a forward depthwise convolution of dy with the kernel turned by
    // 180 degrees and padding k - 1 - pad: the forward kernel's register-blocked rows.
    var flipped = [Float](repeating: 0, count: k * k * c)
    for kh in 0..<k { for kw in 0..<k { for ch in 0..<c { flipped[(kh * k + kw) * c + ch] = weight[((k - 1 - kh) * k + k - 1 - kw) * c + ch] } } }
    let zeros = [Float](repeating: 0, count: c)
    let t = ConvGeometry(
      batch: g.batch, inHeight: g.outHeight, inWidth: g.outWidth, kernel: k, stride: 1,
      pad: Padding2D(top: k - 1 - g.pad.top, bottom: k - 1 - g.pad.bottom, left: k - 1 - g.pad.left, right: k - 1 - g.pad.right))
    assert(t.outHeight == g.inHeight && t.outWidth == g.inWidth, "transposed geometry \(t) for \(g)")
    depthwiseConvInference(input: outputGrad, weight: flipped, bias: zeros, activation: .none, output: inputGrad, geometry: t, channels: c)
    return
  }
  ThreadPool.parallelFor(g.batch * g.inHeight) { rows in
    // The taps that read one input pixel: (offset into dy, offset into w), found once per
    // pixel, then run over every channel block.
    withUnsafeTemporaryAllocation(of: (Int, Int).self, capacity: k * k) { taps in
      for row in rows {
        let n = row / g.inHeight, ih = row % g.inHeight
        let dxRow = inputGrad + row * g.inWidth * c
        for iw in 0..<g.inWidth {
          var count = 0
          for kh in 0..<k {
            let t = ih + g.pad.top - kh
            guard t >= 0 && t % s == 0 && t / s < g.outHeight else { continue }
            for kw in 0..<k {
              let u = iw + g.pad.left - kw
              guard u >= 0 && u % s == 0 && u / s < g.outWidth else { continue }
              taps[count] = (((n * g.outHeight + t / s) * g.outWidth + u / s) * c, (kh * k + kw) * c)
              count += 1
            }
          }
          let dx = dxRow + iw * c
          var ch = 0
          while ch &+ 32 <= c {
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            for i in 0..<count {
              let dy = outputGrad + (taps[i].0 &+ ch), w = weight + (taps[i].1 &+ ch)
              a0.addProduct(load8(dy, 0), load8(w, 0))
              a1.addProduct(load8(dy, 8), load8(w, 8))
              a2.addProduct(load8(dy, 16), load8(w, 16))
              a3.addProduct(load8(dy, 24), load8(w, 24))
            }
            store8(a0, dx, ch); store8(a1, dx, ch &+ 8); store8(a2, dx, ch &+ 16); store8(a3, dx, ch &+ 24)
            ch &+= 32
          }
          while ch &+ 8 <= c {
            var acc = SIMD8<Float>()
            for i in 0..<count { acc.addProduct(load8(outputGrad, taps[i].0 &+ ch), load8(weight, taps[i].1 &+ ch)) }
            store8(acc, dx, ch)
            ch &+= 8
          }
          while ch < c {
            var acc: Float = 0
            for i in 0..<count { acc += outputGrad[taps[i].0 + ch] * weight[taps[i].1 + ch] }
            dx[ch] = acc
            ch += 1
          }
        }
      }
    }
  }
}
