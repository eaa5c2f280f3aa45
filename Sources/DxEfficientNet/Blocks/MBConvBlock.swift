import DxNN
import DxTensor
import Foundation

/// What every EfficientNet block shares: its arguments and geometry, the residual connection
/// (with drop-path on the branch) when the block keeps its input's shape, and the `BlockChain`
/// that runs its layers. The two kinds are `DepthwiseSeparableBlock` (the first stage) and
/// `InvertedResidualBlock` (MBConv); each lists its layers in the order of the paper.
///
/// Child names are timm's `state_dict` names, so a parity failure names the layer that broke.
public class MBConvBlock: Layer {
  /// The block's arguments (after scaling) and its geometry.
  public let args: BlockArgs
  public let inChannels: Int
  /// Channels after expansion (the depthwise convolution's width).
  public let midChannels: Int
  public let hasSkip: Bool
  let chain: BlockChain
  var dropPath: DropPath?
  /// Whether training gates SE's input as the projection reads it (see `BlockChain`). Off for
  /// A/B measurements (`effdx` sets it from `EFFDX_GATE_AS_READ=0`); every level gives the same
  /// bits either way.
  nonisolated(unsafe) public static var gatesAsRead = true

  /// The layers in execution order (for folding and tests).
  var children: [(name: String, layer: any Layer)] { chain.children }

  var recomputation: Recomputation {
    get { chain.recomputation }
    set { chain.recomputation = newValue }
  }

  init(_ args: BlockArgs, inChannels: Int, midChannels: Int, layers: [(String, any Layer)], dropPathRate: Float, rng: inout SeededGenerator) {
    self.args = args
    self.inChannels = inChannels
    self.midChannels = midChannels
    chain = BlockChain(layers)
    hasSkip = args.stride == 1 && inChannels == args.outChannels && !args.noSkip
    dropPath = hasSkip && dropPathRate > 0 ? DropPath(rate: dropPathRate, seed: rng.next()) : nil
  }

  /// A block of the kind `args` names.
  static func make(_ args: BlockArgs, inChannels: Int, config: EfficientNetConfig, dropPathRate: Float, rng: inout SeededGenerator) -> MBConvBlock {
    switch args.kind {
    case .depthwiseSeparable: return DepthwiseSeparableBlock(args, inChannels: inChannels, config: config, dropPathRate: dropPathRate, rng: &rng)
    case .invertedResidual: return InvertedResidualBlock(args, inChannels: inChannels, config: config, dropPathRate: dropPathRate, rng: &rng)
    }
  }

  /// y = x + drop_path(f(x)) when the block keeps the shape, else f(x).
  public func forward(_ x: Tensor, mode: Mode) -> Tensor {
    let branch = chain.forward(x, mode: mode)
    guard hasSkip else { return branch }
    return (dropPath?.forward(branch, mode: mode) ?? branch) + x
  }

  public func backward(_ dy: Tensor) -> Tensor {
    let dx = chain.backward(dropPath?.backward(dy) ?? dy)
    return hasSkip ? dx + dy : dx
  }

  public func visitParameters(_ visit: (String, Parameter) -> Void) { chain.visitParameters(visit) }

  /// timm's SE width: the exact width rounded as Python rounds (half to even), at least 1.
  static func squeezeWidth(_ exact: Double) -> Int {
    max(1, Int(exact.rounded(.toNearestOrEven)))
  }
}
