internal import CDxKernels

// A kxk convolution for inference (EfficientNet's stem) with its epilogue fused. With the
// packed GEMM (AVX-512), each core gathers the patches of a chunk of output pixels straight
// from the image into the GEMM's packed operand, so the im2col matrix (k*k*Cin floats per
// output pixel: 43 MB for B0's stem on a batch of 32) is never written or read back.

/// `output = act(conv(input, weight) + bias)`, `[N, outH, outW, cout]`, for `input`
/// `[N, H, W, cin]` and `weight` `[k, k, cin, cout]` (BatchNorm folded in). `packedWeight` is
/// `weight` packed by `packForInference` as a `[k*k*cin, cout]` matrix. `col`
/// (`[N*outH*outW, k*k*cin]`) is used only when the packed GEMM is not (im2col + OpenBLAS); it
/// may be nil where the packed GEMM is.
public func convInference(
  input: UnsafePointer<Float>, weight: UnsafePointer<Float>, packedWeight: UnsafePointer<Float>? = nil,
  bias: UnsafePointer<Float>, activation: FusedActivation, output: UnsafeMutablePointer<Float>,
  col: UnsafeMutablePointer<Float>?, geometry g: ConvGeometry, inChannels cin: Int, outChannels cout: Int
) {
  let pixels = g.outHeight * g.outWidth, depth = g.kernel * g.kernel * cin
  guard usesPackedGemm else {
    guard let col else { preconditionFailure("convInference needs a col buffer without the packed GEMM") }
    im2col(input: input, col: col, geometry: g, channels: cin)
    pointwiseConvInference(
      input: col, weight: weight, bias: bias, activation: activation, output: output,
      images: g.batch, pixels: pixels, inChannels: depth, outChannels: cout)
    return
  }
  let owned = packedWeight == nil ? packForInference(weight, rows: depth, columns: cout) : []
  let shape = g.kernelShape(channels: cin)
  let chunk = max(12, 32_768 / max(cout, depth))
  let chunksPerImage = (pixels + chunk - 1) / chunk
  owned.withUnsafeBufferPointer { op in
    let packed = packedWeight ?? UnsafePointer(op.baseAddress!)
    ThreadPool.parallelFor(g.batch * chunksPerImage) { range in
      var local = shape
      for item in range {
        let n = item / chunksPerImage, first = (item % chunksPerImage) * chunk
        dx_conv_packed(
          input + n * g.inHeight * g.inWidth * cin, &local, first, min(chunk, pixels - first), cout, packed,
          output + (n * pixels + first) * cout, cout, bias, activation.kernelCode, nil)
      }
    }
  }
}
