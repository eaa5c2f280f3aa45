import DxNN
import DxTensor

/// Everything that defines an EfficientNet: the stage table, the scaling, and the conventions
/// of the framework its weights were trained in. Codable, so it travels in checkpoint metadata.
public struct EfficientNetConfig: Codable, Equatable, Sendable {
  /// A name for reports (`efficientnet_b0`, `tf_efficientnet_lite2`, or a custom one).
  public var name: String
  /// Stages as block strings (`Variants.b0Stages`, `Variants.liteStages`).
  public var stages: [String]
  public var widthMultiplier: Double
  public var depthMultiplier: Double
  /// Native input resolution (square).
  public var resolution: Int
  /// Dropout before the classifier.
  public var dropRate: Float
  /// Stochastic-depth rate of the last block; block i of n gets `rate * i / n`.
  public var dropPathRate: Float = 0
  public var activation: ActivationKind = .silu
  /// `.symmetric` for PyTorch-trained weights, `.same` for TensorFlow/Keras-trained ones.
  public var padding: PaddingMode = .symmetric
  public var bnEps: Float = 1e-5
  public var bnMomentum: Float = 0.1
  /// Lite variants keep the stem (32) and head (1280) unscaled and the first and last stages'
  /// depth unscaled, so they quantise well on edge devices.
  public var fixStemHeadAndEndStages = false
  public var stemChannels = 32
  public var headChannels = 1280
  public var numClasses = 1000
  /// Hidden width of an MLP classifier head (`fc1`, SiLU, dropout, `fc2`); nil: one linear layer.
  public var classifierHidden: Int? = nil

  public init(
    name: String, stages: [String], widthMultiplier: Double, depthMultiplier: Double, resolution: Int,
    dropRate: Float, dropPathRate: Float = 0, activation: ActivationKind = .silu, padding: PaddingMode = .symmetric,
    bnEps: Float = 1e-5, bnMomentum: Float = 0.1, fixStemHeadAndEndStages: Bool = false, numClasses: Int = 1000
  ) {
    self.name = name
    self.stages = stages
    self.widthMultiplier = widthMultiplier
    self.depthMultiplier = depthMultiplier
    self.resolution = resolution
    self.dropRate = dropRate
    self.dropPathRate = dropPathRate
    self.activation = activation
    self.padding = padding
    self.bnEps = bnEps
    self.bnMomentum = bnMomentum
    self.fixStemHeadAndEndStages = fixStemHeadAndEndStages
    self.numClasses = numClasses
  }

  /// Weights trained in TensorFlow/Keras (timm's `tf_` models): SAME padding, BN eps 1e-3 and
  /// momentum 0.01 (TF decay 0.99).
  public func tensorFlowConventions() -> EfficientNetConfig {
    var c = self
    c.padding = .same
    c.bnEps = 1e-3
    c.bnMomentum = 0.01
    return c
  }

  /// Channels of the stem after scaling.
  public var scaledStemChannels: Int {
    fixStemHeadAndEndStages ? stemChannels : Scaling.roundChannels(stemChannels, multiplier: widthMultiplier)
  }

  /// Channels of the head (features before pooling) after scaling.
  public var scaledHeadChannels: Int {
    fixStemHeadAndEndStages ? headChannels : Scaling.roundChannels(headChannels, multiplier: widthMultiplier)
  }

  /// The decoded stages with repeats and output channels scaled.
  public func scaledStages() throws -> [BlockArgs] {
    try stages.enumerated().map { index, string in
      var args = try BlockArgs(decoding: string)
      let fixed = fixStemHeadAndEndStages && (index == 0 || index == stages.count - 1)
      args.repeats = Scaling.scaledRepeats(args.repeats, multiplier: fixed ? 1 : depthMultiplier)
      args.outChannels = Scaling.roundChannels(args.outChannels, multiplier: widthMultiplier)
      return args
    }
  }
}
