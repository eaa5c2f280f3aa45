/// How images must be prepared for a network: what its weights were trained with.
/// Travels in checkpoint metadata so diagnosis uses exactly the training-time transform.
public struct Preprocessing: Codable, Equatable, Sendable {
  /// Square input size the network is run at.
  public var resolution: Int
  /// Center crop fraction at evaluation (resize to `resolution / cropPct`, crop `resolution`).
  public var cropPct: Double
  /// Per-channel mean and standard deviation (RGB, for pixels scaled to [0, 1]).
  public var mean: [Double]
  public var std: [Double]
  public var interpolation: String

  public init(resolution: Int, cropPct: Double = 0.875, mean: [Double] = Preprocessing.imagenetMean, std: [Double] = Preprocessing.imagenetStd, interpolation: String = "bicubic") {
    self.resolution = resolution
    self.cropPct = cropPct
    self.mean = mean
    self.std = std
    self.interpolation = interpolation
  }

  public static let imagenetMean = [0.485, 0.456, 0.406]
  public static let imagenetStd = [0.229, 0.224, 0.225]

  /// timm's defaults for a variant: ImageNet statistics, except TF-trained Lite models which
  /// were trained on [-1, 1] inputs (mean = std = 0.5).
  public static func defaults(for config: EfficientNetConfig) -> Preprocessing {
    if config.name.hasPrefix("tf_efficientnet_lite") {
      return Preprocessing(resolution: config.resolution, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
    }
    return Preprocessing(resolution: config.resolution)
  }
}
