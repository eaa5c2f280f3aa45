import Foundation
import DxNN
import DxTensor

/// One EfficientNet block: MBConv (inverted residual) or the first stage's depthwise-separable
/// block, as a chain of named children, with a residual connection (and drop-path on the
/// branch) when the block keeps its input's shape.
///
///     inverted residual:    conv_pw 1x1 expand -> bn1+act -> conv_dw kxk -> bn2+act -> se
///                           -> conv_pwl 1x1 project -> bn3            (+ input)
///     depthwise-separable:  conv_dw kxk -> bn1+act -> se -> conv_pw 1x1 -> bn2   (+ input)
///
/// Child names are timm's `state_dict` names, so a parity failure names the layer that broke.
public final class MBConvBlock: Layer {
  /// The block's arguments (after scaling) and its geometry.
  public let args: BlockArgs
  public let inChannels: Int
  /// Channels after expansion (the depthwise convolution's width).
  public let midChannels: Int
  public let hasSkip: Bool
  let children: [(name: String, layer: any Layer)]
  let dropPath: DropPath?
  /// What training drops after forward and recomputes just before it is needed in backward
  /// (see `Recomputation`): `.elementwise` drops the outputs of BatchNorm+activation and of SE;
  /// `.all` drops each BatchNorm's input too, for two extra 1x1 convolutions and a depthwise
  /// one per block.
  var recomputation = Recomputation.elementwise
  /// Children whose input is released under `recomputation`: index i, recomputed by child i - 1.
  private var releasable: Set<Int> {
    guard recomputation != .none else { return [] }
    return Set(children.indices.filter { i in
      guard i > 0, children[i].layer is ReleasableInput, let producer = children[i - 1].layer as? RecomputableOutput else { return false }
      return recomputation == .all || producer.recomputesElementwise
    })
  }
  /// In training, the 1x1 convolution after squeeze-excitation reads SE's input with the gate
  /// applied as it multiplies (`Conv2D.forward(_:inputGate:)`): SE's output map is written only
  /// where backward keeps it (`.none`) or when it is recomputed for the convolution's backward.
  /// The index of SE when the child after it is such a convolution.
  private let gatedProjection: Int?
  /// Off for A/B measurements (`EFFDX_GATE_AS_READ=0`); every level gives the same bits either way.
  nonisolated(unsafe) public static var gatesAsRead = RuntimeEnvironment.current.gatesAsRead
  /// Whether the latest forward ran `gatedProjection`.
  private var gatedNow = false
  /// The children whose input is released right now.
  private var released: Set<Int> = []
  /// Backward ran since the latest forward (and freed the children's maps).
  private var backwardDone = false

  /// Gives child `i` its input back, first restoring the input its producer needs.
  private func restoreInput(of i: Int) {
    guard released.contains(i) else { return }
    restoreInput(of: i - 1)
    let input: Tensor
    if gatedNow, let s = gatedProjection, i == s + 2 {
      // The gated projection's output, recomputed as forward computed it (the gate on the weights).
      let se = children[s].layer as! SqueezeExcite
      input = (children[s + 1].layer as! Conv2D).forward(se.cachedInput!, inputGate: se.cachedGate!)
    } else {
      input = (children[i - 1].layer as! RecomputableOutput).recomputeOutput()
    }
    (children[i].layer as! ReleasableInput).restoreInput(input)
    released.remove(i)
  }

  /// - Parameters:
  ///   - args: one scaled block; `args.stride` is this repeat's stride.
  ///   - dropPathRate: this block's stochastic-depth rate.
  init(_ args: BlockArgs, inChannels: Int, config: EfficientNetConfig, dropPathRate: Float, rng: inout SeededGenerator) {
    self.args = args
    self.inChannels = inChannels
    let act = config.activation
    let pad = config.padding
    var list: [(String, any Layer)] = []
    switch args.kind {
    case .depthwiseSeparable:
      midChannels = inChannels
      list.append(("conv_dw", DepthwiseConv2D(inChannels, kernel: args.kernel, stride: args.stride, padding: pad, rng: &rng)))
      list.append(("bn1", BatchNormAct(inChannels, config, activation: act)))
      if args.seRatio > 0 {
        // timm: SE width from the block input, round(in * ratio) (Python's half-to-even).
        let reduced = Int((Double(inChannels) * args.seRatio).rounded(.toNearestOrEven))
        list.append(("se", SqueezeExcite(inChannels, reduced: max(1, reduced), activation: act, rng: &rng)))
      }
      list.append(("conv_pw", Conv2D(inChannels, args.outChannels, kernel: 1, padding: pad, rng: &rng)))
      list.append(("bn2", BatchNormAct(args.outChannels, config, activation: nil)))
    case .invertedResidual:
      midChannels = Scaling.makeDivisible(Double(inChannels) * args.expandRatio)
      list.append(("conv_pw", Conv2D(inChannels, midChannels, kernel: 1, padding: pad, rng: &rng)))
      list.append(("bn1", BatchNormAct(midChannels, config, activation: act)))
      list.append(("conv_dw", DepthwiseConv2D(midChannels, kernel: args.kernel, stride: args.stride, padding: pad, rng: &rng)))
      list.append(("bn2", BatchNormAct(midChannels, config, activation: act)))
      if args.seRatio > 0 {
        // timm (se_from_exp=False): ratio relative to the block input, applied to mid channels.
        let reduced = Int((Double(midChannels) * args.seRatio / args.expandRatio).rounded(.toNearestOrEven))
        list.append(("se", SqueezeExcite(midChannels, reduced: max(1, reduced), activation: act, rng: &rng)))
      }
      list.append(("conv_pwl", Conv2D(midChannels, args.outChannels, kernel: 1, padding: pad, rng: &rng)))
      list.append(("bn3", BatchNormAct(args.outChannels, config, activation: nil)))
    }
    children = list.map { (name: $0.0, layer: $0.1) }
    gatedProjection = list.indices.first { i in
      guard i + 1 < list.count, list[i].1 is SqueezeExcite, let conv = list[i + 1].1 as? Conv2D else { return false }
      return conv.kernel == 1 && conv.stride == 1 && conv.bias == nil
    }
    hasSkip = args.stride == 1 && inChannels == args.outChannels && !args.noSkip
    dropPath = hasSkip && dropPathRate > 0 ? DropPath(rate: dropPathRate, seed: rng.next()) : nil
  }

  public func forward(_ x: Tensor, mode: Mode) -> Tensor {
    let releasing = recomputation != .none && mode == .training ? releasable : []
    gatedNow = mode == .training && Self.gatesAsRead && gatedProjection != nil
    var y = x
    var i = 0
    while i < children.count {
      if gatedNow, i == gatedProjection {
        let se = children[i].layer as! SqueezeExcite, conv = children[i + 1].layer as! Conv2D
        let next = conv.forward(y, inputGate: se.forwardGate(y, mode: mode))
        // Backward gets SE's output as the convolution's input: now if it is kept, else when
        // restored (as any released input).
        if !releasing.contains(i + 1) { conv.restoreInput(se.recomputeOutput()) }
        y = next
        i += 2
        continue
      }
      y = children[i].layer.forward(y, mode: mode)
      i += 1
    }
    released = []
    backwardDone = false
    for i in releasing { (children[i].layer as! ReleasableInput).releaseInput() }
    released = releasing
    guard hasSkip else { return y }
    if let dropPath { y = dropPath.forward(y, mode: mode) }
    return y + x
  }

  /// Backward of the latest forward, once: each child's kept map is freed right after the
  /// child's backward (nothing reads it again before the next forward), so a training step's
  /// memory shrinks as backward walks back instead of holding every map until the next forward.
  public func backward(_ dy: Tensor) -> Tensor {
    precondition(!backwardDone, "MBConvBlock.backward twice after one forward: backward frees the forward's maps")
    let branch = dropPath?.backward(dy) ?? dy
    var dx = branch
    for i in children.indices.reversed() {
      restoreInput(of: i)
      dx = children[i].layer.backward(dx)
      (children[i].layer as? ReleasableInput)?.releaseInput()
    }
    backwardDone = true
    return hasSkip ? dx + dy : dx
  }

  public func visitParameters(_ visit: (String, Parameter) -> Void) {
    for (name, layer) in children { layer.visitParameters { visit("\(name).\($0)", $1) } }
  }
}
