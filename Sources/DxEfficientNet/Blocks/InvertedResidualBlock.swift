import DxNN
import DxTensor

/// MBConv: MobileNetV2's inverted residual with squeeze-and-excitation (Tan & Le, 2019):
///
///     x -> 1x1 expand (x ratio) -> BN -> Swish -> depthwise kxk -> BN -> Swish -> SE
///       -> 1x1 project -> BN (linear bottleneck)  (+ x)
///
/// SE's width is set relative to the block's input (timm's `se_from_exp=False`) and applied to
/// the expanded channels.
final class InvertedResidualBlock: MBConvBlock {
  init(_ args: BlockArgs, inChannels: Int, config: EfficientNetConfig, dropPathRate: Float, rng: inout SeededGenerator) {
    let act = config.activation, pad = config.padding
    let mid = Scaling.makeDivisible(Double(inChannels) * args.expandRatio)
    var layers: [(String, any Layer)] = []
    layers.append(("conv_pw", Conv2D(inChannels, mid, kernel: 1, padding: pad, rng: &rng)))
    layers.append(("bn1", BatchNormAct(mid, config, activation: act)))
    layers.append(("conv_dw", DepthwiseConv2D(mid, kernel: args.kernel, stride: args.stride, padding: pad, rng: &rng)))
    layers.append(("bn2", BatchNormAct(mid, config, activation: act)))
    if args.seRatio > 0 {
      layers.append(("se", SqueezeExcite(mid, reduced: MBConvBlock.squeezeWidth(Double(mid) * args.seRatio / args.expandRatio), activation: act, rng: &rng)))
    }
    layers.append(("conv_pwl", Conv2D(mid, args.outChannels, kernel: 1, padding: pad, rng: &rng)))
    layers.append(("bn3", BatchNormAct(args.outChannels, config, activation: nil)))
    super.init(args, inChannels: inChannels, midChannels: mid, layers: layers, dropPathRate: dropPathRate, rng: &rng)
  }
}
