internal import CDxKernels

// The front of an inverted-residual block for inference, fused: the 1x1 expansion (bias,
// activation) and the depthwise convolution after it (bias, activation, SE channel means).
//
// The expanded map is the largest tensor of the block (6x the input's channels at the input's
// resolution) and is only ever read by the depthwise convolution, which needs k rows of it at a
// time. So each core takes a band of output rows of one image, expands just the input rows that
// band reads into a scratch buffer of about 1 MB (in L2), and runs the depthwise rows on it: the
// expanded map never goes to memory. Bands overlap by k - stride input rows, which are expanded
// twice (a few percent more arithmetic for much less memory traffic).
//
// A block without squeeze-excitation (the Lite variants) can go one step further: its 1x1
// projection needs nothing but the depthwise rows, so each band projects its own rows a few at
// a time while they are in cache (`BandProjection`), and the depthwise map is never stored
// either. At 56 x 56 x 144 and batch 16 that map is 29 MB written and read back, and the
// projection that read it ran at half the GEMM's rate.

/// The 1x1 projection that follows an expansion and depthwise convolution without SE, run on
/// each band's rows: `output = input x weight + bias` (activation, then `residual` added), with
/// `input` the depthwise map `[pixels, channels]`.
public struct BandProjection {
  public var weight: UnsafePointer<Float>
  /// `weight` packed by `packForInference` (else packed per call).
  public var packed: UnsafePointer<Float>?
  public var bias: UnsafePointer<Float>
  public var activation: FusedActivation
  /// The block's input, added to its output (same shape), or nil.
  public var residual: UnsafePointer<Float>?
  public var output: UnsafeMutablePointer<Float>
  public var outChannels: Int

  public init(
    weight: UnsafePointer<Float>, packed: UnsafePointer<Float>?, bias: UnsafePointer<Float>, activation: FusedActivation,
    residual: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, outChannels: Int
  ) {
    (self.weight, self.packed, self.bias, self.activation) = (weight, packed, bias, activation)
    (self.residual, self.output, self.outChannels) = (residual, output, outChannels)
  }
}

/// What a band's expanded rows are computed from.
public enum ExpandSource {
  /// A 1x1 convolution of `input`, the `[N, H, W, inChannels]` map at the depthwise's input
  /// resolution.
  case pointwise
  /// A k x k convolution with this geometry of `input`, `[N, H, W, inChannels]` images, whose
  /// output map is the depthwise's input: the network's stem before a first block without
  /// expansion. Its output (32 channels at half the input's resolution, 26 MB at batch 16 and
  /// 224 pixels) was written, read by the depthwise convolution and written again; now each
  /// band gathers its rows' patches from the image.
  case convolution(ConvGeometry)
}

/// `output = dw(act(input x expandWeight + expandBias))` with the depthwise's own bias and
/// activation; `geometry` is the depthwise's on the `[N, H, W, channels]` expanded map.
/// `expandPacked` is `expandWeight` packed by `packForInference` (else packed per call).
///
/// With `projection` (never with `channelMeans`), the depthwise rows are projected as well and
/// `output` is only used when the map must be stored after all (channel slices, see below).
public func expandDepthwiseInference(
  input: UnsafePointer<Float>, inChannels cin: Int, expandSource: ExpandSource = .pointwise,
  expandWeight: UnsafePointer<Float>, expandPacked: UnsafePointer<Float>? = nil, expandBias: UnsafePointer<Float>, expandActivation: FusedActivation,
  depthwiseWeight: UnsafePointer<Float>, depthwiseBias: UnsafePointer<Float>, depthwiseActivation: FusedActivation,
  output: UnsafeMutablePointer<Float>, channelMeans: UnsafeMutablePointer<Float>? = nil,
  projection: BandProjection? = nil,
  geometry g: ConvGeometry, channels m: Int
) {
  precondition(projection == nil || channelMeans == nil, "a projection in the bands has no SE gate to wait for")
  // The expansion's GEMM depth, and for a convolution its shape over one image.
  var depth = cin
  var convShape: dx_conv_shape?
  var imageFloats = 0
  if case .convolution(let cg) = expandSource {
    precondition(cg.batch == g.batch && cg.outHeight == g.inHeight && cg.outWidth == g.inWidth, "expansion \(cg) does not make the depthwise's input \(g)")
    depth = cg.kernel * cg.kernel * cin
    imageFloats = cg.inHeight * cg.inWidth * cin
    convShape = cg.kernelShape(channels: cin)
  }
  let k = g.kernel, s = g.stride
  let rowFloats = g.inWidth * m
  let packed = usesPackedGemm
  let channelUnit = packed ? Int(DX_GEMM_PANEL) : 8
  let channelUnits = (m + channelUnit - 1) / channelUnit
  // Output rows per band and channel slices: expanded rows near 1 MB, tall enough bands.
  let plan = ExpandBandPlan(
    outHeight: g.outHeight, inHeight: g.inHeight, inWidth: g.inWidth, channels: m, kernel: k, stride: s, unit: channelUnit)
  var bandRows = plan.bandRows
  // Enough work items to keep every core busy on a small batch: first split the channels (a
  // channel of the expanded map needs only its own column of the expansion), then, if that is
  // not enough, cut thinner bands (which expand the rows neighbouring bands share twice). Only
  // when the bands are fewer than the cores: splitting channels as soon as they were fewer than
  // two per core cost 3% at batch 1 (B0, one-process A/B), and finer splits more.
  let threads = ThreadPool.threadCount
  func bandCount(_ rows: Int) -> Int { (g.outHeight + rows - 1) / rows }
  let channelSlices = g.batch * bandCount(bandRows) * plan.channelSlices >= threads
    ? plan.channelSlices : max(plan.channelSlices, min(threads, channelUnits))
  while bandRows > 1 && g.batch * bandCount(bandRows) * channelSlices < threads { bandRows = (bandRows + 1) / 2 }
  // Bands of equal height, in a multiple of the cores when they are few (unless the channel
  // slices already are).
  let bands = evenChunkCount(g.outHeight, maxRows: bandRows, images: g.batch, threads: channelSlices % threads == 0 ? 1 : threads)
  bandRows = (g.outHeight + bands - 1) / bands  // the tallest
  // A band projects its rows only when it holds all their channels; otherwise the map is
  // stored and projected after.
  let projectInBands = projection != nil && channelSlices == 1
  let items = g.batch * bands * channelSlices
  let workers = max(1, min(threads * ThreadPool.chunksPerThread, items))  // claimed by the cores as they free up
  let scratchRows = min(g.inHeight, (bandRows - 1) * s + k)
  let callPacked = packed && expandPacked == nil ? packForInference(expandWeight, rows: depth, columns: m) : []
  // Depthwise rows projected together: enough pixels for the GEMM's row blocks, few enough
  // that they stay in L2 (about 128 KB).
  let chunkRows = projectInBands ? max(1, min(bandRows, 32_768 / max(1, g.outWidth * m))) : 0
  let chunkSize = chunkRows * g.outWidth * m
  let projectionPacked = packed && projectInBands && projection!.packed == nil
    ? packForInference(projection!.weight, rows: m, columns: projection!.outChannels) : []
  // SE's channel sums per work share (added in share order: the same bits whichever core ran
  // it); the expanded rows in a buffer per running share, so only one per core is live.
  WorkerSums.with(workers: workers, count: channelMeans == nil ? 0 : g.batch * m) { ws in
    callPacked.withUnsafeBufferPointer { cp in projectionPacked.withUnsafeBufferPointer { pp in ThreadPool.withSingleThreadedBLAS {
      // The projection's packed weights (none on the OpenBLAS path).
      let projectionWeights = packed ? projection?.packed ?? pp.baseAddress.map { UnsafePointer($0) } : nil
      ThreadPool.parallelFor(workers) { range in
        CacheAlignedFloats.with(scratchRows * rowFloats + chunkSize) { band in
          let chunk = band + scratchRows * rowFloats
          for worker in range {
            let sums = ws.share(worker)
            for item in (items * worker / workers)..<(items * (worker + 1) / workers) {
              let slice = item % channelSlices, rowItem = item / channelSlices
              let n = rowItem / bands
              let outRows = evenChunk(rowItem % bands, of: bands, total: g.outHeight)
              let oh0 = outRows.lowerBound, oh1 = outRows.upperBound
              // This item's channels: [c0, c0 + cols) of the m, in whole units.
              let (c0, cols) = columnSlice(slice, of: channelSlices, total: m, unit: channelUnit)
              // The input rows this band's taps read, inside the image.
              let ih0 = max(0, oh0 * s - g.pad.top), ih1 = min(g.inHeight, (oh1 - 1) * s - g.pad.top + k)
              guard ih0 < ih1, cols > 0 else { continue }
              let pixels = (ih1 - ih0) * g.inWidth
              // The expanded rows ih0..<ih1: a 1x1 convolution of the input's rows, or (the
              // stem) a convolution of the image's patches.
              let rows = input + (n * g.inHeight + ih0) * g.inWidth * cin
              let photo = input + n * imageFloats  // the stem's image
              if packed {
                let weights = (expandPacked ?? UnsafePointer(cp.baseAddress!)) + c0 * depth
                if var shape = convShape {
                  dx_conv_packed(photo, &shape, ih0 * g.inWidth, pixels, cols, weights, band + c0, m, expandBias + c0, expandActivation.kernelCode, nil)
                } else {
                  dx_gemm_packed(rows, cin, pixels, cin, cols, weights, nil, band + c0, m, expandBias + c0, expandActivation.kernelCode, nil, nil)
                }
              } else {
                func expand(_ a: UnsafePointer<Float>) {
                  sgemm(m: pixels, n: cols, k: depth, a: a, lda: depth, b: expandWeight + c0, ldb: m, c: band + c0, ldc: m)
                }
                if var shape = convShape {
                  withUnsafeTemporaryAllocation(of: Float.self, capacity: pixels * depth) { patches in
                    dx_conv_patch_rows(photo, &shape, ih0 * g.inWidth, pixels, patches.baseAddress!)
                    expand(patches.baseAddress!)
                  }
                } else {
                  expand(rows)
                }
                finishOutputRows(
                  band + c0, rows: pixels, stride: m, count: cols, bias: expandBias + c0, activation: expandActivation,
                  residual: nil, sums: nil)
              }
              // Row ih of the expanded image is at band + (ih - ih0) * rowFloats.
              let image = UnsafePointer(band) - ih0 * rowFloats + c0
              if projectInBands, let projection {
                for r0 in stride(from: oh0, to: oh1, by: chunkRows) {
                  let r1 = min(oh1, r0 + chunkRows)
                  for oh in r0..<r1 {
                    depthwiseOutputRow(
                      image: image, oh: oh, outRow: chunk + (oh - r0) * g.outWidth * m, weight: depthwiseWeight, bias: depthwiseBias,
                      activation: depthwiseActivation, sums: nil, geometry: g, channels: m)
                  }
                  projectRows(
                    chunk, rows: (r1 - r0) * g.outWidth, inChannels: m, projection, packed: projectionWeights,
                    firstRow: (n * g.outHeight + r0) * g.outWidth)
                }
                continue
              }
              for oh in oh0..<oh1 {
                depthwiseOutputRow(
                  image: image, oh: oh, outRow: output + (n * g.outHeight + oh) * g.outWidth * m + c0,
                  weight: depthwiseWeight + c0, bias: depthwiseBias + c0, activation: depthwiseActivation,
                  sums: sums.map { $0 + n * m + c0 }, geometry: g, channels: cols, pixelStride: m)
              }
            }
        }
        }
      }
    } } }
    if let projection, !projectInBands {
      pointwiseConvInference(
        input: output, weight: projection.weight, packedWeight: projection.packed, bias: projection.bias,
        activation: projection.activation, residual: projection.residual, output: projection.output,
        images: g.batch, pixels: g.outHeight * g.outWidth, inChannels: m, outChannels: projection.outChannels)
    }
    if let channelMeans { ws.reduce(into: channelMeans, divisor: g.outHeight * g.outWidth) }
  }
}

/// `rows` depthwise pixels at `input` projected into `projection`'s output from pixel
/// `firstRow` on, as `pointwiseConvInference` computes each of them.
private func projectRows(
  _ input: UnsafePointer<Float>, rows: Int, inChannels cin: Int, _ p: BandProjection, packed: UnsafePointer<Float>?, firstRow: Int
) {
  let cout = p.outChannels
  let out = p.output + firstRow * cout
  let residual = p.residual.map { $0 + firstRow * cout }
  if let packed {
    dx_gemm_packed(input, cin, rows, cin, cout, packed, nil, out, cout, p.bias, p.activation.kernelCode, residual, nil)
  } else {
    sgemm(m: rows, n: cout, k: cin, a: input, lda: cin, b: p.weight, ldb: cout, c: out, ldc: cout)
    finishOutputRows(out, rows: rows, stride: cout, count: cout, bias: p.bias, activation: p.activation, residual: residual, sums: nil)
  }
}
