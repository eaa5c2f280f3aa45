import DxNN
import DxTensor

// The layers of `FoldedEfficientNet`: a convolution with the BatchNorm that follows it folded
// into its weights and bias (inference statistics are constants, so `bn(conv(x))` is one
// affine map), and the activation applied in the same output pass.
//
//   scale = gamma / sqrt(running_var + eps)      W'[..., c] = W[..., c] * scale[c]
//   bias' = beta - running_mean * scale

extension FusedActivation {
  init(_ kind: ActivationKind?) {
    switch kind {
    case .silu: self = .silu
    case .relu6: self = .relu6
    case .sigmoid: preconditionFailure("sigmoid is not a block activation")
    case nil: self = .none
    }
  }
}

/// BatchNorm's inference map as a per-channel `(scale, shift)`.
private func affine(of bn: BatchNorm2D) -> (scale: [Float], shift: [Float]) {
  let c = bn.channels
  var scale = [Float](repeating: 0, count: c), shift = [Float](repeating: 0, count: c)
  for j in 0..<c {
    scale[j] = bn.weight.value.scalars[j] / (bn.runningVar.value.scalars[j] + bn.eps).squareRoot()
    shift[j] = bn.bias.value.scalars[j] - bn.runningMean.value.scalars[j] * scale[j]
  }
  return (scale, shift)
}

/// `weight` (any layout whose last axis is the output channel) scaled per output channel.
private func scaledPerChannel(_ weight: [Float], _ scale: [Float]) -> [Float] {
  let c = scale.count
  precondition(c > 0 && weight.count % c == 0, "\(weight.count) weights for \(c) channels")
  return [Float](unsafeUninitializedCapacity: weight.count) { w, initialized in
    weight.withUnsafeBufferPointer { src in
      scale.withUnsafeBufferPointer { s in
        for i in 0..<(src.count / c) { for j in 0..<c { w[i * c + j] = src[i * c + j] * s[j] } }
      }
    }
    initialized = weight.count
  }
}

/// What a folded convolution needs to lay itself over an input.
protocol FoldedWindow {
  var kernel: Int { get }
  var stride: Int { get }
  var padding: PaddingMode { get }
}

extension FoldedWindow {
  /// The geometry on a `[batch, height, width, C]` input (padding resolved for its size).
  func geometry(batch: Int, height: Int, width: Int) -> ConvGeometry {
    ConvGeometry(
      batch: batch, inHeight: height, inWidth: width, kernel: kernel, stride: stride,
      pad: Padding2D(padding, kernel: kernel, stride: stride, height: height, width: width))
  }
}

/// A full convolution (1x1, or kxk through im2col) with BatchNorm and activation folded in.
struct FoldedConv: FoldedWindow {
  let inChannels: Int, outChannels: Int, kernel: Int, stride: Int
  let padding: PaddingMode
  /// `[k, k, Cin, Cout]`, i.e. a `[k*k*Cin, Cout]` GEMM operand.
  let weight: [Float]
  /// `weight` packed once for the fused kernels' GEMM; nil where that GEMM does not run (the
  /// portable C kernels when folded: OpenBLAS reads `weight`), which would otherwise hold a
  /// second copy of the model's convolutions for nothing.
  let packedWeight: [Float]?
  let bias: [Float]
  let activation: FusedActivation

  init(_ conv: Conv2D, _ bn: BatchNormAct) {
    precondition(conv.bias == nil, "folding expects a bias-free convolution before BatchNorm")
    let (scale, shift) = affine(of: bn.bn)
    inChannels = conv.inChannels
    outChannels = conv.outChannels
    kernel = conv.kernel
    stride = conv.stride
    padding = conv.padding
    weight = scaledPerChannel(conv.weight.value.scalars, scale)
    packedWeight = KernelInstructionSet.current.hasPackedGemm
      ? packForInference(weight, rows: kernel * kernel * inChannels, columns: outChannels) : nil
    bias = shift
    activation = FusedActivation(bn.act?.kind)
  }
}

/// A depthwise convolution with BatchNorm and activation folded in.
struct FoldedDepthwise: FoldedWindow {
  let channels: Int, kernel: Int, stride: Int
  let padding: PaddingMode
  /// `[k, k, C]`.
  let weight: [Float]
  let bias: [Float]
  let activation: FusedActivation

  init(_ conv: DepthwiseConv2D, _ bn: BatchNormAct) {
    precondition(conv.bias == nil, "folding expects a bias-free convolution before BatchNorm")
    let (scale, shift) = affine(of: bn.bn)
    channels = conv.channels
    kernel = conv.kernel
    stride = conv.stride
    padding = conv.padding
    weight = scaledPerChannel(conv.weight.value.scalars, scale)
    bias = shift
    activation = FusedActivation(bn.act?.kind)
  }
}

/// Squeeze-excitation's gate on pooled features: `sigmoid(expand(act(reduce(pooled))))`,
/// `[N, C]` to `[N, C]`. Tiny GEMMs; the gate itself is applied by the next convolution.
extension FoldedConv {
  /// Calls `body` with the packed weights, or nil when there are none (the kernels then pack per
  /// call if they need them).
  func withPackedWeight<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let packedWeight else { return body(nil) }
    return packedWeight.withUnsafeBufferPointer { body($0.baseAddress) }
  }
}

struct FoldedSqueezeExcite {
  let channels: Int, reduced: Int
  let reduceWeight: [Float], reduceBias: [Float]
  let expandWeight: [Float], expandBias: [Float]
  let activation: FusedActivation

  init(_ se: SqueezeExcite, activation: ActivationKind) {
    channels = se.convReduce.inChannels
    reduced = se.convReduce.outChannels
    reduceWeight = se.convReduce.weight.value.scalars
    reduceBias = se.convReduce.bias?.value.scalars ?? [Float](repeating: 0, count: reduced)
    expandWeight = se.convExpand.weight.value.scalars
    expandBias = se.convExpand.bias?.value.scalars ?? [Float](repeating: 0, count: channels)
    self.activation = FusedActivation(activation)
  }

  /// The gate for `pooled` (`[n, channels]`), written to `gate`.
  func gate(pooled: UnsafePointer<Float>, images n: Int, into gate: UnsafeMutablePointer<Float>) {
    let parts = n == 1 ? ThreadPool.threadCount : 1
    if parts > 1 { return splitGate(pooled: pooled, into: gate, parts: parts) }
    var hidden = [Float](repeating: 0, count: n * reduced)
    hidden.withUnsafeMutableBufferPointer { h in
      let h = h.baseAddress!
      sgemm(m: n, n: reduced, k: channels, a: pooled, lda: channels, b: reduceWeight, ldb: reduced, c: h, ldc: reduced)
      for i in 0..<n {
        let row = h + i * reduced
        for j in 0..<reduced { row[j] += reduceBias[j] }
      }
      activateInPlace(h, count: n * reduced, activation)
      sgemm(m: n, n: channels, k: reduced, a: h, lda: reduced, b: expandWeight, ldb: channels, c: gate, ldc: channels)
    }
    for i in 0..<n {
      let row = gate + i * channels
      for j in 0..<channels { row[j] = 1 / (1 + fastExp(-(row[j] + expandBias[j]))) }
    }
  }

  /// One image's gate with both products split over `parts` cores: the first by input
  /// channels (partial sums, added in part order), the second by output channels. At batch 1
  /// the gate is about 2.5 MB of weights (B0) read from L3 for a few ten thousand
  /// multiply-adds, between two parallel jobs; split, each core reads its share.
  private func splitGate(pooled: UnsafePointer<Float>, into gate: UnsafeMutablePointer<Float>, parts: Int) {
    func share(_ t: Int, of total: Int, unit: Int) -> Range<Int> {
      let (first, count) = columnSlice(t, of: parts, total: total, unit: unit)
      return first..<(first + count)
    }
    func forEachPart(_ body: (Int) -> Void) { ThreadPool.parallelFor(parts) { $0.forEach(body) } }
    var partial = [Float](repeating: 0, count: parts * reduced)
    var hidden = reduceBias
    ThreadPool.withSingleThreadedBLAS {
      reduceWeight.withUnsafeBufferPointer { rw in
        partial.withUnsafeMutableBufferPointer { pp in
          forEachPart { t in
            let c = share(t, of: channels, unit: 1)
            guard !c.isEmpty else { return }
            sgemm(
              m: 1, n: reduced, k: c.count, a: pooled + c.lowerBound, lda: channels, b: rw.baseAddress! + c.lowerBound * reduced,
              ldb: reduced, c: pp.baseAddress! + t * reduced, ldc: reduced)
          }
        }
      }
      for t in 0..<parts { for j in 0..<reduced { hidden[j] += partial[t * reduced + j] } }
      hidden.withUnsafeMutableBufferPointer { activateInPlace($0.baseAddress!, count: reduced, activation) }
      expandWeight.withUnsafeBufferPointer { ew in
        hidden.withUnsafeBufferPointer { h in
          forEachPart { t in
            let c = share(t, of: channels, unit: 16)
            guard !c.isEmpty else { return }
            sgemm(
              m: 1, n: c.count, k: reduced, a: h.baseAddress!, lda: reduced, b: ew.baseAddress! + c.lowerBound, ldb: channels,
              c: gate + c.lowerBound, ldc: channels)
            for j in c { gate[j] = 1 / (1 + fastExp(-(gate[j] + expandBias[j]))) }
          }
        }
      }
    }
  }
}

/// One MBConv or depthwise-separable block, folded.
struct FoldedBlock {
  let expand: FoldedConv?
  let depthwise: FoldedDepthwise
  let squeezeExcite: FoldedSqueezeExcite?
  let project: FoldedConv
  let hasSkip: Bool

  init(_ block: MBConvBlock, activation: ActivationKind) {
    let named = Dictionary(uniqueKeysWithValues: block.children.map { ($0.name, $0.layer) })
    func bn(_ name: String) -> BatchNormAct { named[name] as! BatchNormAct }
    switch block.args.kind {
    case .depthwiseSeparable:
      expand = nil
      depthwise = FoldedDepthwise(named["conv_dw"] as! DepthwiseConv2D, bn("bn1"))
      project = FoldedConv(named["conv_pw"] as! Conv2D, bn("bn2"))
    case .invertedResidual:
      expand = FoldedConv(named["conv_pw"] as! Conv2D, bn("bn1"))
      depthwise = FoldedDepthwise(named["conv_dw"] as! DepthwiseConv2D, bn("bn2"))
      project = FoldedConv(named["conv_pwl"] as! Conv2D, bn("bn3"))
    }
    squeezeExcite = (named["se"] as? SqueezeExcite).map { FoldedSqueezeExcite($0, activation: activation) }
    hasSkip = block.hasSkip
  }
}
