/// How a fine-tune runs. Everything that changes the result is here (and in the pipeline), so
/// a run is reproducible from its config and seed.
public struct TrainingConfig: Codable, Equatable, Sendable {
  public var epochs = 10
  /// Peak learning rate of the head (AdamW), reached after `warmupEpochs`, then cosine decay.
  public var learningRate = 1e-3
  /// The backbone learns at `learningRate * backboneLRScale` (pretrained features move slowly).
  public var backboneLRScale = 0.1
  public var warmupEpochs = 1
  public var weightDecay = 0.01
  public var labelSmoothing = 0.1
  /// Weight classes by inverse frequency in the loss (for imbalanced datasets).
  public var balancedClassWeights = false
  /// Stop after this many epochs without improvement of `metric`.
  public var patience = 5
  /// `macro_f1` or `accuracy` on the validation split: what "best" means.
  public var metric = "macro_f1"
  public var policy = "full"
  /// `linear` or `mlp`.
  public var head = "linear"
  /// With the `head` policy: compute pooled features once (eval transforms) and train the head
  /// on them.
  public var cacheFeatures = true
  public var gradientClip = 5.0
  /// Keep only each block's input and recompute the rest in backward (`Recomputation.all`)
  /// instead of recomputing only the elementwise passes (`.elementwise`): about 25% less memory
  /// for about 30% more time per step, with identical results.
  public var lowMemory = false
  public var seed: UInt64 = 0
  /// Stop after this many optimisation steps in all (for tests and smoke runs); nil: no limit.
  public var maxSteps: Int?

  public init() {}

  enum CodingKeys: String, CodingKey {
    case epochs, learningRate = "learning_rate", backboneLRScale = "backbone_lr_scale", warmupEpochs = "warmup_epochs"
    case weightDecay = "weight_decay", labelSmoothing = "label_smoothing", balancedClassWeights = "balanced_class_weights"
    case patience, metric, policy, head, cacheFeatures = "cache_features", gradientClip = "gradient_clip", lowMemory = "low_memory", seed, maxSteps = "max_steps"
  }
}

/// One epoch's record in `log.jsonl`.
public struct EpochLog: Codable, Equatable, Sendable {
  public var epoch: Int
  public var steps: Int
  public var trainLoss: Double
  /// Nil when the run has no validation split.
  public var validationAccuracy: Double?
  public var validationMacroF1: Double?
  public var learningRate: Double
  public var seconds: Double
  public var imagesPerSecond: Double
  public var best: Bool
  public var skippedFiles: Int

  enum CodingKeys: String, CodingKey {
    case epoch, steps, trainLoss = "train_loss", validationAccuracy = "val_accuracy", validationMacroF1 = "val_macro_f1"
    case learningRate = "learning_rate", seconds, imagesPerSecond = "images_per_second", best, skippedFiles = "skipped_files"
  }
}
