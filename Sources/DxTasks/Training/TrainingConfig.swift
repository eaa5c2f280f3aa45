import DxNN

/// How a fine-tune runs. Everything that changes the result is here (and in the pipeline), so
/// a run is reproducible from its config and seed.
public struct TrainingConfig: Codable, Equatable, Sendable {
  public var epochs = 10
  /// The update rule.
  public var optimizer = OptimizerKind.adamw
  /// SGD's and RMSprop-TF's momentum.
  public var momentum = 0.9
  /// SGD: Nesterov momentum (timm's `sgd` is Nesterov SGD).
  public var nesterov = true
  /// AdamW's and RMSprop-TF's epsilon (nil: the optimizer's own, 1e-8 and 1e-3).
  public var eps: Double?
  /// Peak learning rate of the head, reached after `warmupEpochs`, then cosine decay.
  public var learningRate = 1e-3
  /// The backbone learns at `learningRate * backboneLRScale` (pretrained features move slowly).
  public var backboneLRScale = 0.1
  public var warmupEpochs = 1
  /// AdamW's decoupled decay, or SGD's and RMSprop-TF's L2 term (`OptimizerKind.defaultWeightDecay`).
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
  /// Processes of a data-parallel run (`mpirun -n N`); nil: one. A resumed run needs the same.
  public var ranks: Int?
  /// Data-parallel BatchNorm over the whole global batch (`--sync-bn`) instead of each rank's
  /// share; nil when training alone.
  public var syncBatchNorm: Bool?

  public init() {}

  /// The optimizer this config names, with its hyper-parameters.
  public func makeOptimizer() -> Optimizer {
    let decay = WeightDecay(Float(weightDecay), excludeBiasAndNorm: true)
    switch optimizer {
    case .adamw: return AdamW(eps: Float(eps ?? 1e-8), weightDecay: decay)
    case .sgd: return SGD(momentum: Float(momentum), nesterov: nesterov && momentum > 0, weightDecay: decay)
    case .rmspropTF: return RMSpropTF(momentum: Float(momentum), eps: Float(eps ?? 1e-3), weightDecay: decay)
    }
  }

  /// Every key may be missing (a checkpoint written before it existed): its default applies.
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T { try c.decodeIfPresent(T.self, forKey: key) ?? fallback }
    let d = TrainingConfig()
    epochs = try value(.epochs, d.epochs)
    optimizer = try value(.optimizer, d.optimizer)
    momentum = try value(.momentum, d.momentum)
    nesterov = try value(.nesterov, d.nesterov)
    eps = try c.decodeIfPresent(Double.self, forKey: .eps)
    learningRate = try value(.learningRate, d.learningRate)
    backboneLRScale = try value(.backboneLRScale, d.backboneLRScale)
    warmupEpochs = try value(.warmupEpochs, d.warmupEpochs)
    weightDecay = try value(.weightDecay, d.weightDecay)
    labelSmoothing = try value(.labelSmoothing, d.labelSmoothing)
    balancedClassWeights = try value(.balancedClassWeights, d.balancedClassWeights)
    patience = try value(.patience, d.patience)
    metric = try value(.metric, d.metric)
    policy = try value(.policy, d.policy)
    head = try value(.head, d.head)
    cacheFeatures = try value(.cacheFeatures, d.cacheFeatures)
    gradientClip = try value(.gradientClip, d.gradientClip)
    lowMemory = try value(.lowMemory, d.lowMemory)
    seed = try value(.seed, d.seed)
    maxSteps = try c.decodeIfPresent(Int.self, forKey: .maxSteps)
    ranks = try c.decodeIfPresent(Int.self, forKey: .ranks)
    syncBatchNorm = try c.decodeIfPresent(Bool.self, forKey: .syncBatchNorm)
  }

  enum CodingKeys: String, CodingKey {
    case epochs, optimizer, momentum, nesterov, eps, learningRate = "learning_rate", backboneLRScale = "backbone_lr_scale", warmupEpochs = "warmup_epochs"
    case weightDecay = "weight_decay", labelSmoothing = "label_smoothing", balancedClassWeights = "balanced_class_weights"
    case patience, metric, policy, head, cacheFeatures = "cache_features", gradientClip = "gradient_clip", lowMemory = "low_memory", seed, maxSteps = "max_steps"
    case ranks, syncBatchNorm = "sync_bn"
  }
}

/// An update rule `effdx train` offers.
public enum OptimizerKind: String, Codable, CaseIterable, Sendable {
  /// Adam with decoupled weight decay (Loshchilov & Hutter): robust to the learning rate.
  case adamw
  /// SGD with (Nesterov) momentum: timm's `sgd`, and what large-batch recipes use.
  case sgd
  /// RMSprop as TensorFlow has it: the original EfficientNet recipe.
  case rmspropTF = "rmsprop-tf"

  /// timm's usual decay for each: AdamW's is decoupled (0.01 to 0.05), the others' is an L2
  /// term on the gradient (1e-4 for SGD, 1e-5 for the EfficientNet RMSprop recipe).
  public var defaultWeightDecay: Double {
    switch self {
    case .adamw: return 0.01
    case .sgd: return 1e-4
    case .rmspropTF: return 1e-5
    }
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
  /// Data-parallel runs only: the ranks, and the gradient exchange of an average step (the
  /// buffer each rank contributes to MPI_Allreduce, and the wall time the call took).
  public var ranks: Int?
  public var allreduceBytesPerStep: Int?
  public var allreduceSecondsPerStep: Double?
  /// Images of global batches some rank held none of (every rank skipped those steps alike).
  public var skippedInEmptyShares: Int?

  enum CodingKeys: String, CodingKey {
    case epoch, steps, trainLoss = "train_loss", validationAccuracy = "val_accuracy", validationMacroF1 = "val_macro_f1"
    case learningRate = "learning_rate", seconds, imagesPerSecond = "images_per_second", best, skippedFiles = "skipped_files"
    case ranks, allreduceBytesPerStep = "allreduce_bytes_per_step", allreduceSecondsPerStep = "allreduce_seconds_per_step"
    case skippedInEmptyShares = "skipped_in_empty_shares"
  }
}
