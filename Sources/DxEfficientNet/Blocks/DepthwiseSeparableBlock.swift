import DxNN
import DxTensor

/// The first stage's block (MobileNet's depthwise-separable convolution, with SE):
///
///     x -> depthwise kxk -> BN -> Swish -> SE -> 1x1 -> BN  (+ x)
///
/// No expansion: the depthwise convolution works on the input's channels, and SE's width comes
/// from them.
final class DepthwiseSeparableBlock: MBConvBlock {
  init(_ args: BlockArgs, inChannels: Int, config: EfficientNetConfig, dropPathRate: Float, rng: inout SeededGenerator) {
    let act = config.activation, pad = config.padding
    var layers: [(String, any Layer)] = []
    layers.append(("conv_dw", DepthwiseConv2D(inChannels, kernel: args.kernel, stride: args.stride, padding: pad, rng: &rng)))
    layers.append(("bn1", BatchNormAct(inChannels, config, activation: act)))
    if args.seRatio > 0 {
      layers.append(("se", SqueezeExcite(inChannels, reduced: MBConvBlock.squeezeWidth(Double(inChannels) * args.seRatio), activation: act, rng: &rng)))
    }
    layers.append(("conv_pw", Conv2D(inChannels, args.outChannels, kernel: 1, padding: pad, rng: &rng)))
    layers.append(("bn2", BatchNormAct(args.outChannels, config, activation: nil)))
    super.init(args, inChannels: inChannels, midChannels: inChannels, layers: layers, dropPathRate: dropPathRate, rng: &rng)
  }
}
