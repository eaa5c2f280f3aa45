internal import CDxKernels

// Full (groups = 1) 2-D convolution on NHWC tensors, forward and backward.
//
//   input  [N, H, W, Cin]      weight [k, k, Cin, Cout]      output [N, OH, OW, Cout]
//
// A 1x1, stride-1, unpadded convolution is one GEMM over the N*OH*OW rows with no copy.
// Anything else is im2col + GEMM: each output pixel's receptive field is copied into one row
// of `col` [N*OH*OW, k*k*Cin] (zeros where it falls into the padding), so that
//   forward:  out  = col  x W            (M x K) x (K x Cout)
//   backward: dW  += col^T x dOut        dcol = dOut x W^T, then col2im adds dcol back into dx.
// Reference: https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html

/// True when the convolution needs no im2col: every output pixel is one input pixel.
@inlinable
public func convIsPointwise(_ g: ConvGeometry) -> Bool {
  g.kernel == 1 && g.stride == 1 && g.pad == Padding2D(top: 0, bottom: 0, left: 0, right: 0)
}

/// Copies receptive fields into rows: `col[(n,oh,ow), (kh,kw,ci)]`.
public func im2col(
  input: UnsafePointer<Float>, col: UnsafeMutablePointer<Float>, geometry g: ConvGeometry,
  channels cin: Int
) {
  let k = g.kernel
  let rowLength = k * k * cin
  ThreadPool.parallelFor(g.batch * g.outHeight, minChunk: 4) { rows in
    for row in rows {
      let n = row / g.outHeight, oh = row % g.outHeight
      for ow in 0..<g.outWidth {
        let dst = col + ((n * g.outHeight + oh) * g.outWidth + ow) * rowLength
        for kh in 0..<k {
          let ih = oh * g.stride - g.pad.top + kh
          for kw in 0..<k {
            let iw = ow * g.stride - g.pad.left + kw
            let d = dst + (kh * k + kw) * cin
            if ih >= 0 && ih < g.inHeight && iw >= 0 && iw < g.inWidth {
              d.update(from: input + ((n * g.inHeight + ih) * g.inWidth + iw) * cin, count: cin)
            } else {
              d.update(repeating: 0, count: cin)
            }
          }
        }
      }
    }
  }
}

/// Adds the rows of `col` back into the input positions they were copied from (im2col's adjoint).
public func col2imAccumulate(
  col: UnsafePointer<Float>, inputGrad: UnsafeMutablePointer<Float>, geometry g: ConvGeometry,
  channels cin: Int
) {
  let k = g.kernel
  let rowLength = k * k * cin
  // Receptive fields of one image overlap, of different images never: split by image.
  ThreadPool.parallelFor(g.batch) { images in
    for n in images {
      for oh in 0..<g.outHeight {
        for ow in 0..<g.outWidth {
          let src = col + ((n * g.outHeight + oh) * g.outWidth + ow) * rowLength
          for kh in 0..<k {
            let ih = oh * g.stride - g.pad.top + kh
            guard ih >= 0 && ih < g.inHeight else { continue }
            for kw in 0..<k {
              let iw = ow * g.stride - g.pad.left + kw
              guard iw >= 0 && iw < g.inWidth else { continue }
              let s = src + (kh * k + kw) * cin
              let d = inputGrad + ((n * g.inHeight + ih) * g.inWidth + iw) * cin
              for c in 0..<cin { d[c] += s[c] }
            }
          }
        }
      }
    }
  }
}

/// Whether `conv2DForward` needs an im2col buffer for `g`: not for a 1x1, nor on AVX-512, where
/// the packed GEMM reads each tile's patches straight from the image (and backward gathers them
/// again, a chunk at a time, for the weight gradient).
public func convNeedsColumns(_ g: ConvGeometry) -> Bool { !convIsPointwise(g) && !usesPackedGemm }

/// Convolution forward: `output = conv(input, weight) + bias`.
/// - Parameters:
///   - col: scratch of `N*OH*OW*k*k*Cin` floats when `convNeedsColumns`, else nil; on return it
///     holds the im2col rows, which `conv2DBackward` can reuse.
public func conv2DForward(
  input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
  output: UnsafeMutablePointer<Float>, col: UnsafeMutablePointer<Float>?,
  geometry g: ConvGeometry, inChannels cin: Int, outChannels cout: Int
) {
  let m = g.batch * g.outHeight * g.outWidth
  let kk = g.kernel * g.kernel * cin
  let a: UnsafePointer<Float>
  if convIsPointwise(g) {
    a = input
  } else if col == nil && usesPackedGemm {
    let zeros = [Float](repeating: 0, count: bias == nil ? cout : 0)
    zeros.withUnsafeBufferPointer { z in
      convInference(
        input: input, weight: weight, bias: bias ?? z.baseAddress!, activation: .none, output: output, col: nil, geometry: g,
        inChannels: cin, outChannels: cout)
    }
    return
  } else {
    guard let col else { preconditionFailure("conv2DForward needs a col buffer for \(g)") }
    im2col(input: input, col: col, geometry: g, channels: cin)
    a = UnsafePointer(col)
  }
  if convIsPointwise(g) && usesPackedGemm {
    packedProduct(a, rows: m, depth: cin, packed: packForInference(weight, rows: cin, columns: cout), columns: cout, into: output)
  } else {
    sgemm(m: m, n: cout, k: kk, a: a, lda: kk, b: weight, ldb: cout, c: output, ldc: cout)
  }
  if let bias { addChannelBias(output, bias: bias, rows: m, channels: cout) }
}

/// Convolution backward. Accumulates into `weightGrad` and `biasGrad`; writes the input
/// gradient into `inputGrad` when it is non-nil.
/// - Parameters:
///   - col: the im2col rows from the matching forward (nil when pointwise, or when forward read
///     the patches from the image: the weight gradient then gathers them again chunk by chunk).
///   - colGrad: scratch of `N*OH*OW*k*k*Cin` floats for the input gradient (nil when pointwise).
public func conv2DBackward(
  input: UnsafePointer<Float>, col: UnsafePointer<Float>?, weight: UnsafePointer<Float>,
  outputGrad: UnsafePointer<Float>, inputGrad: UnsafeMutablePointer<Float>?,
  weightGrad: UnsafeMutablePointer<Float>, biasGrad: UnsafeMutablePointer<Float>?,
  colGrad: UnsafeMutablePointer<Float>?,
  geometry g: ConvGeometry, inChannels cin: Int, outChannels cout: Int
) {
  let m = g.batch * g.outHeight * g.outWidth
  let kk = g.kernel * g.kernel * cin
  let pointwise = convIsPointwise(g)
  // dW[K, Cout] += A^T[K, M] x dY[M, Cout]
  guard let a = pointwise ? input : col else {
    weightGradientFromPatches(input, geometry: g, inChannels: cin, outputGrad, columns: cout, into: weightGrad)
    return conv2DInputGradient(
      outputGrad, weight: weight, biasGrad: biasGrad, inputGrad: inputGrad, colGrad: colGrad, geometry: g, inChannels: cin,
      outChannels: cout)
  }
  if kk * cout <= 4_096 && ThreadPool.threadCount > 1 {
    weightGradientByRowChunks(a, outputGrad, rows: m, depth: kk, columns: cout, into: weightGrad)
  } else {
    sgemm(
      transA: true, m: kk, n: cout, k: m, a: a, lda: kk, b: outputGrad, ldb: cout,
      beta: 1, c: weightGrad, ldc: cout)
  }
  conv2DInputGradient(
    outputGrad, weight: weight, biasGrad: biasGrad, inputGrad: inputGrad, colGrad: colGrad, geometry: g, inChannels: cin,
    outChannels: cout)
}

/// The bias and input gradients of `conv2DBackward` (each when asked for).
private func conv2DInputGradient(
  _ outputGrad: UnsafePointer<Float>, weight: UnsafePointer<Float>, biasGrad: UnsafeMutablePointer<Float>?,
  inputGrad: UnsafeMutablePointer<Float>?, colGrad: UnsafeMutablePointer<Float>?, geometry g: ConvGeometry,
  inChannels cin: Int, outChannels cout: Int
) {
  let m = g.batch * g.outHeight * g.outWidth
  let kk = g.kernel * g.kernel * cin
  let pointwise = convIsPointwise(g)
  if let biasGrad { accumulateChannelSums(outputGrad, into: biasGrad, rows: m, channels: cout) }
  guard let inputGrad else { return }
  if pointwise && usesPackedGemm {
    // dX[M, Cin] = dY[M, Cout] x W^T[Cout, Cin], W^T packed from a transposed copy.
    let transposed = [Float](unsafeUninitializedCapacity: cin * cout) { t, n in
      for i in 0..<cin { for j in 0..<cout { t[j * cin + i] = weight[i * cout + j] } }
      n = cin * cout
    }
    packedProduct(outputGrad, rows: m, depth: cout, packed: packForInference(transposed, rows: cout, columns: cin), columns: cin, into: inputGrad)
  } else if pointwise {
    // dX[M, Cin] = dY[M, Cout] x W^T[Cout, Cin]
    sgemm(
      transB: true, m: m, n: cin, k: cout, a: outputGrad, lda: cout, b: weight, ldb: cout,
      c: inputGrad, ldc: cin)
  } else {
    guard let colGrad else { preconditionFailure("conv2DBackward needs a colGrad buffer") }
    sgemm(
      transB: true, m: m, n: kk, k: cout, a: outputGrad, lda: cout, b: weight, ldb: cout,
      c: colGrad, ldc: kk)
    inputGrad.update(repeating: 0, count: g.batch * g.inHeight * g.inWidth * cin)
    col2imAccumulate(col: colGrad, inputGrad: inputGrad, geometry: g, channels: cin)
  }
}

/// `output[n] = (input[n] * gate[n]) x weight` for each image: a 1x1 convolution (no bias) of
/// squeeze-excitation's output, read as SE's input and gate so the gated map is never written
/// (training; inference does the same in `pointwiseConvInference`). On AVX-512 the packed GEMM
/// applies the gate to the weights' rows as it reads them; elsewhere the gated rows are
/// formed first and OpenBLAS multiplies.
public func gatedPointwiseConvForward(
  input: UnsafePointer<Float>, gate: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  output: UnsafeMutablePointer<Float>, images: Int, pixels p: Int, inChannels k: Int, outChannels n: Int
) {
  guard usesPackedGemm else {
    var gated = [Float](unsafeUninitializedCapacity: images * p * k) { _, c in c = images * p * k }
    gated.withUnsafeMutableBufferPointer { channelScaleForward(input, scale: gate, $0.baseAddress!, batch: images, pixels: p, channels: k) }
    sgemm(m: images * p, n: n, k: k, a: gated, lda: k, b: weight, ldb: n, c: output, ldc: n)
    return
  }
  packedProduct(
    input, rows: images * p, depth: k, packed: packForInference(weight, rows: k, columns: n), columns: n, into: output,
    gate: gate, rowsPerGate: p)
}

/// `c[m, n] = a[m, k] x b` with `b` packed by `packForInference`, on the packed GEMM, rows
/// spread over the cores: the 1x1 convolutions of training, forward and input gradient. On
/// their skinny products (a million rows, 16-1152 columns) OpenBLAS spends much of its time
/// packing the rows and clearing C (`effdx bench train` on B0: 1x1 forward about 20%
/// faster on the packed GEMM, whose tiles read the rows where they lie). With
/// `gate` (`[m / rowsPerGate, k]`), each image of `rowsPerGate` rows is multiplied with its
/// columns scaled by its gate row, and chunks stay within one image.
func packedProduct(
  _ a: UnsafePointer<Float>, rows m: Int, depth k: Int, packed: [Float], columns n: Int,
  into c: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>? = nil, rowsPerGate: Int? = nil
) {
  let p = gate == nil ? m : rowsPerGate!, images = gate == nil ? 1 : m / p
  let chunks = evenChunkCount(p, maxRows: max(12, 32_768 / max(k, n)), images: images, threads: ThreadPool.threadCount)
  packed.withUnsafeBufferPointer { b in
    ThreadPool.parallelFor(images * chunks) { range in
      for item in range {
        let image = item / chunks, rows = evenChunk(item % chunks, of: chunks, total: p)
        let row0 = image * p + rows.lowerBound
        dx_gemm_packed(
          a + row0 * k, k, rows.count, k, n, b.baseAddress!, gate.map { $0 + image * k }, c + row0 * n, n, nil,
          DX_ACT_NONE, nil, nil)
      }
    }
  }
}

/// `rows[r, c] += bias[c]`.
public func addChannelBias(
  _ rows: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows m: Int, channels c: Int
) {
  ThreadPool.parallelFor(m, minChunk: max(1, 16_384 / max(c, 1))) { range in
    for r in range {
      let row = rows + r * c
      for j in 0..<c { row[j] += bias[j] }
    }
  }
}

/// `sums[c] += Σ_r rows[r, c]`, accumulated per chunk of rows in Double then added.
public func accumulateChannelSums(
  _ rows: UnsafePointer<Float>, into sums: UnsafeMutablePointer<Float>, rows m: Int, channels c: Int
) {
  let totals = channelReduce(rows: m, channels: c) { r, acc in
    let row = rows + r * c
    for j in 0..<c { acc[j] += row[j] }
  }
  for j in 0..<c { sums[j] += Float(totals[j]) }
}

/// Sums a per-row contribution into `channels` accumulators, in parallel over row chunks.
///
/// `body` adds row `r`'s contribution into Float accumulators that are flushed into Double every
/// 64 rows (Float adds vectorise; Double across blocks keeps millions of rows accurate). Each
/// chunk has its own accumulators, added in chunk order, so the result does not depend on
/// scheduling.
public func channelReduce(
  rows m: Int, channels c: Int, _ body: (Int, UnsafeMutablePointer<Float>) -> Void
) -> [Double] {
  let chunks = max(1, min(ThreadPool.threadCount * ThreadPool.chunksPerThread, m / 256))
  var partial = [Double](repeating: 0, count: chunks * c)
  partial.withUnsafeMutableBufferPointer { p in
    let base = p.baseAddress!
    ThreadPool.parallelFor(chunks) { range in
      let block = UnsafeMutablePointer<Float>.allocate(capacity: c)
      defer { block.deallocate() }
      for chunk in range {
        let acc = base + chunk * c
        let end = m * (chunk + 1) / chunks
        var r = m * chunk / chunks
        while r < end {
          block.update(repeating: 0, count: c)
          let blockEnd = min(end, r + 64)
          while r < blockEnd {
            body(r, block)
            r += 1
          }
          for j in 0..<c { acc[j] += Double(block[j]) }
        }
      }
    }
  }
  var total = [Double](repeating: 0, count: c)
  for chunk in 0..<chunks { for j in 0..<c { total[j] += partial[chunk * c + j] } }
  return total
}


/// `dw[k, n] += a[m, k]^T x dy[m, n]` with the m rows cut into chunks, one single-threaded
/// SGEMM per chunk into its own partial, the partials added in chunk order. For a small `dw`
/// (the stem's 27 x 32) OpenBLAS, which spreads a product over the cores by its output, ran
/// at half this speed (B0's stem backward 21 -> 11 ms per step).
func weightGradientByRowChunks(
  _ a: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, rows m: Int, depth k: Int, columns n: Int,
  into dw: UnsafeMutablePointer<Float>
) {
  sumOverRowChunks(rows: m, count: k * n, into: dw) { rows, partial in
    sgemm(
      transA: true, m: k, n: n, k: rows.count, a: a + rows.lowerBound * k, lda: k, b: dy + rows.lowerBound * n,
      ldb: n, beta: 1, c: partial, ldc: n)
  }
}

/// `dw[k*k*Cin, n] += patches^T x dy` without an im2col buffer: each chunk of output pixels
/// gathers its patches a block of rows at a time (within one image, about 200 KB) and adds
/// their product to its partial, as `weightGradientByRowChunks` does with the rows in memory.
func weightGradientFromPatches(
  _ input: UnsafePointer<Float>, geometry g: ConvGeometry, inChannels cin: Int, _ dy: UnsafePointer<Float>, columns n: Int,
  into dw: UnsafeMutablePointer<Float>
) {
  let k = g.kernel * g.kernel * cin, pixels = g.outHeight * g.outWidth
  let blockRows = max(1, 50_000 / k)
  let shape = g.kernelShape(channels: cin)
  sumOverRowChunks(rows: g.batch * pixels, count: k * n, into: dw) { rows, partial in
    withUnsafeTemporaryAllocation(of: Float.self, capacity: blockRows * k) { block in
      var local = shape
      var r = rows.lowerBound
      while r < rows.upperBound {
        let image = r / pixels, first = r % pixels
        let count = min(blockRows, rows.upperBound - r, pixels - first)
        dx_conv_patch_rows(input + image * g.inHeight * g.inWidth * cin, &local, first, count, block.baseAddress!)
        sgemm(
          transA: true, m: k, n: n, k: count, a: block.baseAddress!, lda: k, b: dy + r * n, ldb: n, beta: 1,
          c: partial, ldc: n)
        r += count
      }
    }
  }
}

/// `dw[i] += Σ_chunks partial[chunk][i]` for `body(rows, partial)` run on each of a few chunks
/// of `m` rows, each into its own zeroed partial of `count` floats, with single-threaded
/// OpenBLAS; the partials are added in chunk order, so the sum does not depend on scheduling.
private func sumOverRowChunks(
  rows m: Int, count: Int, into dw: UnsafeMutablePointer<Float>,
  _ body: (Range<Int>, UnsafeMutablePointer<Float>) -> Void
) {
  let chunks = max(1, min(ThreadPool.threadCount * ThreadPool.chunksPerThread, m / 1024))
  var partial = [Float](repeating: 0, count: chunks * count)
  partial.withUnsafeMutableBufferPointer { p in
    let base = p.baseAddress!
    ThreadPool.withSingleThreadedBLAS {
      ThreadPool.parallelFor(chunks) { range in
        for chunk in range { body(evenChunk(chunk, of: chunks, total: m), base + chunk * count) }
      }
    }
    for chunk in 0..<chunks {
      let src = base + chunk * count
      for i in 0..<count { dw[i] += src[i] }
    }
  }
}
