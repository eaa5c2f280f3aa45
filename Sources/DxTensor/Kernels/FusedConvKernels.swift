internal import CDxKernels

// Inference-only convolutions with everything that follows them fused into their output pass:
// the (folded) BatchNorm's bias, the activation, a residual add, and a per-image channel sum
// for squeeze-excitation or global pooling. Each output value is written once, while it is
// still in cache, instead of once per layer in a chain of full-size passes.
//
//   pointwise:  out[n, p, :] = act(in[n, p, :] x (gate[n, :] * W) + bias) (+ residual)
//   depthwise:  out[n, oh, ow, c] = act(Σ_taps x * w + bias[c])
//
// The pointwise GEMM runs in row chunks of one image, each chunk on one core. On AVX-512 a
// chunk is CDxKernels' packed GEMM with the epilogue applied to its accumulators and SE's gate
// applied to the weights' rows as they are read (two multiplies per step of k); on AVX2 a
// single-threaded OpenBLAS call followed at once by the epilogue, so the chunk
// (about 128 KB) never leaves L2 between the two, with the gate multiplying the weight rows
// (Cin x Cout floats per image) rather than the activation map (H x W x Cin per image).

/// Applies `activation` to `count` values in place.
public func activateInPlace(_ v: UnsafeMutablePointer<Float>, count: Int, _ activation: FusedActivation) {
  finishOutputRows(v, rows: 1, count: count, bias: nil, activation: activation, residual: nil, sums: nil)
}

/// The shared epilogue of `rows` output rows of `c` channels, `stride` floats apart (the
/// residual's rows too): bias, activation, residual, running channel sums. Bias, activation
/// and sums run in CDxKernels (AVX-512 where the CPU has it, and a reciprocal estimate instead
/// of SiLU's division).
@inline(__always)
func finishOutputRows(
  _ o: UnsafeMutablePointer<Float>, rows: Int, stride: Int? = nil, count c: Int, bias: UnsafePointer<Float>?,
  activation: FusedActivation, residual: UnsafePointer<Float>?, sums: UnsafeMutablePointer<Float>?
) {
  let ld = stride ?? c
  dx_bias_activation(o, rows, c, ld, bias, activation.kernelCode, residual == nil ? sums : nil)
  guard let residual else { return }
  for r in 0..<rows {
    let row = o + r * ld, res = residual + r * ld
    for j in 0..<c { row[j] += res[j] }
    if let sums { for j in 0..<c { sums[j] += row[j] } }
  }
}

extension FusedActivation {
  var kernelCode: dx_activation {
    switch self {
    case .none: DX_ACT_NONE
    case .silu: DX_ACT_SILU
    case .relu6: DX_ACT_RELU6
    }
  }
}

/// `weight` (`[k, n]` row-major) packed for the AVX-512 GEMM of the fused inference kernels;
/// pack once when a model is loaded and pass it as `packedWeight`.
public func packForInference(_ weight: UnsafePointer<Float>, rows k: Int, columns n: Int) -> [Float] {
  let count = dx_gemm_packed_count(k, n)
  return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
    dx_gemm_pack(weight, n, k, n, buffer.baseAddress!)
    initialized = count
  }
}

/// Slice `slice` of `slices` of `total` columns, cut at multiples of `unit` (the packed GEMM's
/// panels, or vectors): its first column and column count (possibly 0). Public for the other
/// work splits of inference (SE's gate at batch 1).
public func columnSlice(_ slice: Int, of slices: Int, total: Int, unit: Int) -> (first: Int, count: Int) {
  let units = (total + unit - 1) / unit
  let first = min(total, units * slice / slices * unit)
  return (first, min(total, units * (slice + 1) / slices * unit) - first)
}

/// How many chunks to cut `total` rows (of each of `images`) into, at most `maxRows` each;
/// chunk `i` is `evenChunk(i, of: count, total: total)`. Chunks are the units the cores claim
/// (`parallelFor`), so when there are few, a core left with a chunk much taller than the
/// others' holds everyone up at the end of the job: their count is rounded up to a multiple of
/// `threads` and their heights differ by at most one row (196 rows at 68 per chunk were
/// 68 + 68 + 60 rows, 128 on one core and 68 on the other; now 4 x 49).
func evenChunkCount(_ total: Int, maxRows: Int, images: Int, threads: Int) -> Int {
  let count = (total + maxRows - 1) / max(1, maxRows)
  guard images * count < 4 * threads else { return count }
  return max(1, min(total, (count + threads - 1) / threads * threads))
}

/// Rows of chunk `i` of `count` over `total` rows (heights differ by at most one).
func evenChunk(_ i: Int, of count: Int, total: Int) -> Range<Int> { (total * i / count)..<(total * (i + 1) / count) }

/// Whether the fused kernels multiply with CDxKernels' packed GEMM (epilogue on the
/// accumulators, weights packed once) rather than OpenBLAS followed by the epilogue pass.
/// Its tiles read the rows where they lie (see gemm.c); `effdx bench kernels` compares the two
/// on every B0 shape in one process.
var usesPackedGemm: Bool { KernelInstructionSet.current.hasPackedGemm }

/// Fused 1x1 convolution for inference.
///
/// - Parameters:
///   - input: `[images, pixels, cin]`.
///   - weight: `[cin, cout]` with BatchNorm folded in; `bias` `[cout]`.
///   - packedWeight: optional `weight` as packed by `packForInference` (else packed per call).
///   - inputGate: optional `[images, cin]` per-image channel scale of the input (SE's gate).
///   - residual: optional `[images, pixels, cout]` added after the activation.
///   - output: `[images, pixels, cout]`, or nil to keep only `channelMeans`.
///   - channelMeans: optional `[images, cout]`, set to the mean of each image's output channels.
public func pointwiseConvInference(
  input: UnsafePointer<Float>, weight: UnsafePointer<Float>, packedWeight: UnsafePointer<Float>? = nil,
  bias: UnsafePointer<Float>, activation: FusedActivation, inputGate: UnsafePointer<Float>? = nil,
  residual: UnsafePointer<Float>? = nil, output: UnsafeMutablePointer<Float>?,
  channelMeans: UnsafeMutablePointer<Float>? = nil,
  images n: Int, pixels p: Int, inChannels cin: Int, outChannels cout: Int
) {
  precondition(output != nil || channelMeans != nil, "pointwiseConvInference: nothing to write")
  let packed = usesPackedGemm
  let columnUnit = packed ? Int(DX_GEMM_PANEL) : 1
  let columnUnits = (cout + columnUnit - 1) / columnUnit
  // More output columns than rows in the whole call (the 7x7 layers and the head at batch 1):
  // the cores split the columns, in whole panels, so each reads half of the weights, which
  // then outweigh the rows and come from L3 (with row chunks both cores read all of them;
  // B0 batch 1 2.8-3.9% faster, three one-process A/B runs). Otherwise row chunks, and the
  // columns split too when the chunks are fewer than the cores.
  let byColumns = n * p < cout && columnUnits >= ThreadPool.threadCount
  let chunksPerImage = byColumns ? 1 : evenChunkCount(p, maxRows: max(8, 32_768 / max(cout, cin)), images: n, threads: ThreadPool.threadCount)
  let chunkRows = (p + chunksPerImage - 1) / chunksPerImage
  let columnSlices = byColumns ? ThreadPool.threadCount
    : n * chunksPerImage >= ThreadPool.threadCount ? 1 : min(ThreadPool.threadCount, max(1, cout / 64), columnUnits)
  let items = n * chunksPerImage * columnSlices
  let workers = max(1, min(ThreadPool.threadCount * ThreadPool.chunksPerThread, items))
  // OpenBLAS multiplies by gated weights; the packed GEMM gates the weights' rows as it reads
  // them (see gemm.c).
  let gatedSize = inputGate == nil || packed ? 0 : cin * cout
  let scratchSize = output == nil ? chunkRows * cout : 0
  // Weights packed for this call, when the caller has none packed and there is no gate.
  let callPacked = packed && packedWeight == nil ? packForInference(weight, rows: cin, columns: cout) : []
  // Channel sums per work share (added in share order); gated weights and output scratch in a
  // buffer per running share, so only one per core is live.
  WorkerSums.with(workers: workers, count: channelMeans == nil ? 0 : n * cout) { ws in
    callPacked.withUnsafeBufferPointer { cp in ThreadPool.withSingleThreadedBLAS {
      ThreadPool.parallelFor(workers) { range in
        CacheAlignedFloats.with(gatedSize + scratchSize) { local in
          let gated = local
          let scratch = local + gatedSize
          var gatedFor = -1  // the image whose gate `gated` holds, across this call's shares
          for worker in range {
            let sums = ws.share(worker)
            for item in (items * worker / workers)..<(items * (worker + 1) / workers) {
              let slice = item % columnSlices, rowItem = item / columnSlices
              let image = rowItem / chunksPerImage
              let chunk = evenChunk(rowItem % chunksPerImage, of: chunksPerImage, total: p)
              let first = chunk.lowerBound
              let (col0, cols) = columnSlice(slice, of: columnSlices, total: cout, unit: columnUnit)
              let rows = chunk.count
              let row0 = image * p + first
              var w = packed ? packedWeight ?? UnsafePointer(cp.baseAddress!) : weight
              if let inputGate, !packed {
                if gatedFor != image {
                  let g = inputGate + image * cin
                  for i in 0..<cin {
                    let s = g[i], src = weight + i * cout, dst = gated + i * cout
                    for j in 0..<cout { dst[j] = src[j] * s }
                  }
                  gatedFor = image
                }
                w = UnsafePointer(gated)
              }
              let out = (output.map { $0 + row0 * cout } ?? scratch) + col0
              let res = residual.map { $0 + row0 * cout + col0 }
              let sumsAt = sums.map { $0 + image * cout + col0 }
              if packed {
                dx_gemm_packed(
                  input + row0 * cin, cin, rows, cin, cols, w + col0 * cin, inputGate.map { $0 + image * cin }, out, cout,
                  bias + col0, activation.kernelCode, res, sumsAt)
              } else {
                sgemm(m: rows, n: cols, k: cin, a: input + row0 * cin, lda: cin, b: w + col0, ldb: cout, c: out, ldc: cout)
                finishOutputRows(
                  out, rows: rows, stride: cout, count: cols, bias: bias + col0, activation: activation,
                  residual: res, sums: sumsAt)
              }
            }
        }
        }
      }
    } }
    if let channelMeans { ws.reduce(into: channelMeans, divisor: p) }
  }
}

/// Fused depthwise convolution for inference: `weight` `[k, k, C]` with BatchNorm folded in.
/// With `channelMeans` (`[N, C]`), also the mean of each image's output channels (for SE).
public func depthwiseConvInference(
  input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
  activation: FusedActivation, output: UnsafeMutablePointer<Float>,
  channelMeans: UnsafeMutablePointer<Float>? = nil, geometry g: ConvGeometry, channels c: Int
) {
  let rows = g.batch * g.outHeight
  let workers = max(1, min(ThreadPool.threadCount * ThreadPool.chunksPerThread, rows))
  WorkerSums.with(workers: workers, count: channelMeans == nil ? 0 : g.batch * c) { pp in
    ThreadPool.parallelFor(workers) { range in
      for worker in range {
        for row in (rows * worker / workers)..<(rows * (worker + 1) / workers) {
          let n = row / g.outHeight
          depthwiseOutputRow(
            image: input + n * g.inHeight * g.inWidth * c, oh: row % g.outHeight, outRow: output + row * g.outWidth * c,
            weight: weight, bias: bias, activation: activation,
            sums: pp.share(worker).map { $0 + n * c }, geometry: g, channels: c)
        }
      }
    }
    if let channelMeans { pp.reduce(into: channelMeans, divisor: g.outHeight * g.outWidth) }
  }
}

/// One output row of the fused depthwise convolution: bias, taps, activation, channel sums.
/// `image` points at row 0 of the input image (rows outside the padding-free window are never
/// read, so it may point before a band of rows held in a scratch buffer). With `pixelStride`
/// wider than `c`, the `c` channels are a slice of a wider map (every pointer offset to it).
@inline(__always)
func depthwiseOutputRow(
  image: UnsafePointer<Float>, oh: Int, outRow: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>, activation: FusedActivation, sums: UnsafeMutablePointer<Float>?,
  geometry g: ConvGeometry, channels c: Int, pixelStride: Int? = nil
) {
  var shape = dx_depthwise_shape(
    in_height: g.inHeight, in_width: g.inWidth, out_width: g.outWidth, kernel: g.kernel, stride: g.stride,
    pad_top: g.pad.top, pad_left: g.pad.left, channels: c, pixel_stride: pixelStride ?? c)
  dx_depthwise_row(image, oh, outRow, weight, bias, activation.kernelCode, sums, &shape)
}
