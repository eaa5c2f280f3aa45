import DxNN
import DxTensor

/// An EfficientNet compiled for inference: every BatchNorm folded into the convolution before
/// it, every activation, residual add and squeeze-excitation pooling done in the output pass of
/// the convolution that produces the values, each block's expansion computed band by band in
/// cache for its depthwise convolution (the expanded map is never stored), and all activations
/// in four buffers that are reused from layer to layer and from batch to batch.
///
/// It is a snapshot of the network's weights when it was made: rebuild it after training.
/// It computes what `EfficientNet.forward(_:mode: .inference)` computes, to float rounding
/// (the folding changes the order of operations, nothing else), and is what diagnosis, feature
/// caching and `effdx bench infer` run. Not for concurrent use: one per thread.
public final class FoldedEfficientNet {
  /// The network it was made from; its classifier runs on the pooled features.
  public let network: EfficientNet
  let stem: FoldedConv
  let blocks: [FoldedBlock]
  let head: FoldedConv
  private let workspace = Workspace()

  /// Folds `network`'s current weights and running statistics.
  public init(_ network: EfficientNet) {
    self.network = network
    let activation = network.config.activation
    stem = FoldedConv(network.convStem, network.bn1)
    blocks = network.blocks.flatMap { $0 }.map { FoldedBlock($0, activation: activation) }
    head = FoldedConv(network.convHead, network.bn2)
  }

  /// Whether the first block's bands compute the stem (see `ExpandSource.convolution`): it has
  /// no expansion of its own, and no skip that would read the stem's output.
  var fusesStem: Bool {
    guard let first = blocks.first else { return false }
    return first.expand == nil && !first.hasSkip
  }

  /// Channels of the pooled features.
  public var numFeatures: Int { head.outChannels }

  /// `[N, H, W, 3]` images to pooled features `[N, numFeatures]`, with the cores kept awake
  /// between the layers' jobs.
  public func pooledFeatures(_ x: Tensor) -> Tensor { ThreadPool.whileHot { computePooledFeatures(x) } }

  private func computePooledFeatures(_ x: Tensor) -> Tensor {
    let (n, h0, w0, c0) = x.nhwc()
    precondition(c0 == stem.inChannels, "FoldedEfficientNet expects \(stem.inChannels) channels, got shape \(x.shape)")
    var features = Tensor.uninitialized([n, numFeatures])
    workspace.reserve(plan(batch: n, height: h0, width: w0))
    let ws = workspace
    var (a, b) = (ws.io0, ws.io1)

    // Stem: a GEMM over the 3x3x3 patches with the epilogue fused; before a first block
    // without expansion (every variant's), computed by that block's bands instead.
    let g = stem.geometry(batch: n, height: h0, width: w0)
    let stemInFirstBlock = fusesStem
    // Rates for the profiler: 2 FLOPs per multiply-add of each convolution.
    func flops(pixels: Int, _ perPixel: Int) -> Double { 2 * Double(pixels) * Double(perPixel) }
    if !stemInFirstBlock {
      Profiler.measure(
        "stem 3x3 conv+BN+act (folded)",
        flops: flops(pixels: n * g.outHeight * g.outWidth, g.kernel * g.kernel * c0 * stem.outChannels)
      ) {
        x.withPointer { xp in
          stem.withPackedWeight { packed in
            convInference(
              input: xp, weight: stem.weight, packedWeight: packed, bias: stem.bias, activation: stem.activation,
              output: a, col: ws.col, geometry: g, inChannels: c0, outChannels: stem.outChannels)
          }
        }
      }
    }
    var (h, w) = (g.outHeight, g.outWidth)

    for (index, block) in blocks.enumerated() {
      let dw = block.depthwise
      let dg = dw.geometry(batch: n, height: h, width: w)
      let means = block.squeezeExcite == nil ? nil : ws.pooled
      let p = block.project
      let expandsStem = index == 0 && stemInFirstBlock
      // Without SE the projection needs only the depthwise rows: it runs in the bands.
      let projectsInBands = (block.expand != nil || expandsStem) && block.squeezeExcite == nil
      if let expand = block.expand ?? (expandsStem ? stem : nil) {
        // The expanded map is made band by band in cache and never stored.
        let what = expandsStem ? "stem \(expand.kernel)x\(expand.kernel) conv" : "1x1 expand"
        let label = projectsInBands
          ? (Profiler.byShape ? "expand+depthwise+project \(h)x\(w) \(expand.inChannels)->\(dw.channels)->\(p.outChannels) k\(dw.kernel)/\(dw.stride)"
            : "\(what) + depthwise + 1x1 project, no SE (folded)")
          : (Profiler.byShape ? "expand+depthwise \(h)x\(w) \(expand.inChannels)->\(dw.channels) k\(dw.kernel)/\(dw.stride)"
            : "\(what) + depthwise conv, BN, act, SE pool (folded)")
        let projectFlops = projectsInBands ? flops(pixels: n * dg.outHeight * dg.outWidth, p.inChannels * p.outChannels) : 0
        Profiler.measure(
          expandsStem && Profiler.byShape ? "stem+" + label : label,
          flops: flops(pixels: n * h * w, expand.kernel * expand.kernel * expand.inChannels * dw.channels)
            + flops(pixels: n * dg.outHeight * dg.outWidth, dw.kernel * dw.kernel * dw.channels) + projectFlops
        ) {
          x.withPointer { xp in
            expand.withPackedWeight { packed in
              p.withPackedWeight { projectPacked in
                let projection = projectsInBands
                  ? BandProjection(
                    weight: p.weight, packed: projectPacked, bias: p.bias, activation: p.activation,
                    residual: block.hasSkip ? UnsafePointer(a) : nil, output: b, outChannels: p.outChannels)
                  : nil
                expandDepthwiseInference(
                  input: expandsStem ? xp : UnsafePointer(a), inChannels: expand.inChannels, expandSource: expandsStem ? .convolution(g) : .pointwise,
                  expandWeight: expand.weight, expandPacked: packed, expandBias: expand.bias,
                  expandActivation: expand.activation, depthwiseWeight: dw.weight, depthwiseBias: dw.bias,
                  depthwiseActivation: dw.activation, output: ws.depthwise, channelMeans: means, projection: projection,
                  geometry: dg, channels: dw.channels)
              }
            }
          }
        }
      } else {
        Profiler.measure(
          "depthwise conv+BN+act+SE pool (folded)",
          flops: flops(pixels: n * dg.outHeight * dg.outWidth, dw.kernel * dw.kernel * dw.channels)
        ) {
          depthwiseConvInference(
            input: a, weight: dw.weight, bias: dw.bias, activation: dw.activation, output: ws.depthwise,
            channelMeans: means, geometry: dg, channels: dw.channels)
        }
      }
      Profiler.measure("SE gate") { block.squeezeExcite?.gate(pooled: ws.pooled, images: n, into: ws.gate) }
      if !projectsInBands {
        Profiler.measure(
          Profiler.byShape ? "project \(dg.outHeight)x\(dg.outWidth) \(p.inChannels)->\(p.outChannels)" : "1x1 project conv+BN+SE scale+skip (folded)",
          flops: flops(pixels: n * dg.outHeight * dg.outWidth, p.inChannels * p.outChannels)
        ) {
          p.withPackedWeight { packed in
            pointwiseConvInference(
              input: ws.depthwise, weight: p.weight, packedWeight: packed, bias: p.bias, activation: p.activation,
              inputGate: block.squeezeExcite == nil ? nil : ws.gate, residual: block.hasSkip ? a : nil, output: b,
              images: n, pixels: dg.outHeight * dg.outWidth, inChannels: p.inChannels, outChannels: p.outChannels)
          }
        }
      }
      (a, b) = (b, a)
      (h, w) = (dg.outHeight, dg.outWidth)
    }

    // Head: conv_head + bn2 + act, pooled in its own output pass (the map is never stored).
    features.withMutablePointer { fp in
      Profiler.measure(
        "1x1 head conv+BN+act+pool (folded)", flops: flops(pixels: n * h * w, head.inChannels * head.outChannels)
      ) {
        head.withPackedWeight { packed in
          pointwiseConvInference(
            input: a, weight: head.weight, packedWeight: packed, bias: head.bias, activation: head.activation, output: nil,
            channelMeans: fp, images: n, pixels: h * w, inChannels: head.inChannels, outChannels: head.outChannels)
        }
      }
    }
    return features
  }

  /// `[N, H, W, 3]` images to logits `[N, classes]`.
  public func forward(_ x: Tensor) -> Tensor {
    network.classify(pooled: pooledFeatures(x), mode: .inference)
  }

  /// Buffer sizes (floats) for a batch.
  private func plan(batch n: Int, height: Int, width: Int) -> Workspace.Sizes {
    let g = stem.geometry(batch: n, height: height, width: width)
    var sizes = Workspace.Sizes()
    // The stem's patches (27 floats a pixel: 43 MB at batch 32 and 224 px) only when the stem
    // runs on its own; in the first block's bands it gathers them itself.
    if !fusesStem { sizes.col = n * g.outHeight * g.outWidth * g.kernel * g.kernel * stem.inChannels }
    var (h, w) = (g.outHeight, g.outWidth)
    sizes.io = n * h * w * stem.outChannels
    for block in blocks {
      let dg = block.depthwise.geometry(batch: n, height: h, width: w)
      (h, w) = (dg.outHeight, dg.outWidth)
      sizes.depthwise = max(sizes.depthwise, n * h * w * block.depthwise.channels)
      sizes.perImage = max(sizes.perImage, n * block.depthwise.channels)
      sizes.io = max(sizes.io, n * h * w * block.project.outChannels)
    }
    return sizes
  }
}

/// Activation buffers that only grow, so a run of same-sized batches allocates once.
private final class Workspace {
  struct Sizes { var col = 0, io = 0, depthwise = 0, perImage = 0 }
  private var sizes = Sizes()
  private(set) var col = CacheAlignedFloats.allocate(1)
  private(set) var io0 = CacheAlignedFloats.allocate(1)
  private(set) var io1 = CacheAlignedFloats.allocate(1)
  private(set) var depthwise = CacheAlignedFloats.allocate(1)
  private(set) var pooled = CacheAlignedFloats.allocate(1)
  private(set) var gate = CacheAlignedFloats.allocate(1)

  func reserve(_ need: Sizes) {
    func grow(_ p: inout UnsafeMutablePointer<Float>, _ have: Int, _ want: Int) {
      guard want > have else { return }
      p.deallocate()
      p = CacheAlignedFloats.allocate(want)
    }
    grow(&col, sizes.col, need.col)
    grow(&io0, sizes.io, need.io)
    grow(&io1, sizes.io, need.io)
    grow(&depthwise, sizes.depthwise, need.depthwise)
    grow(&pooled, sizes.perImage, need.perImage)
    grow(&gate, sizes.perImage, need.perImage)
    sizes = Sizes(
      col: max(sizes.col, need.col), io: max(sizes.io, need.io), depthwise: max(sizes.depthwise, need.depthwise), perImage: max(sizes.perImage, need.perImage))
  }

  deinit { for p in [col, io0, io1, depthwise, pooled, gate] { p.deallocate() } }
}
