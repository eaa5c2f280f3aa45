import DxNN
import DxTensor

/// A miniature EfficientNet-style classifier for the demo: a strided stem, one inverted
/// residual block with squeeze-excitation, a 1x1 head, pooling and a linear classifier, named
/// as timm names EfficientNet's parts.
public func makeToyNetwork(classes: Int, seed: UInt64) -> Sequential {
  var rng = SeededGenerator(seed: seed)
  let block = Sequential([
    ("conv_pw", Conv2D(16, 48, kernel: 1, rng: &rng)), ("bn1", BatchNorm2D(48)), ("act1", Activation(.silu)),
    ("conv_dw", DepthwiseConv2D(48, kernel: 3, rng: &rng)), ("bn2", BatchNorm2D(48)), ("act2", Activation(.silu)),
    ("se", SqueezeExcite(48, reduced: 4, rng: &rng)),
    ("conv_pwl", Conv2D(48, 16, kernel: 1, rng: &rng)), ("bn3", BatchNorm2D(16)),
  ])
  return Sequential([
    ("conv_stem", Conv2D(3, 16, kernel: 3, stride: 2, rng: &rng)), ("bn1", BatchNorm2D(16)), ("act1", Activation(.silu)),
    ("blocks", Sequential([("0", Residual(block))])),
    ("conv_head", Conv2D(16, 64, kernel: 1, rng: &rng)), ("bn2", BatchNorm2D(64)), ("act2", Activation(.silu)),
    ("pool", GlobalAvgPool()), ("dropout", Dropout(rate: 0.1, seed: rng.next())),
    ("classifier", Linear(64, classes, rng: &rng)),
  ])
}
