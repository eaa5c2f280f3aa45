import DxNN
import DxPipeline
import Foundation

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
  /// timm's layer-wise decay: each layer below the top learns at `layerDecay` times the rate of
  /// the one above it (`LayerDecay`); nil: none.
  public var layerDecay: Double?
  public var warmupEpochs = 1
  /// The decay after warmup.
  public var schedule = ScheduleKind.cosine
  /// Where the cosine ends (nil: 1% of `learningRate`).
  public var minLearningRate: Double?
  /// The step schedule: multiply by `decayRate` every `decayEpochs` (nil: a third of the epochs).
  public var decayEpochs: Int?
  public var decayRate = 0.1
  /// Dropout before the classifier and drop-path (stochastic depth) of the blocks, at the last
  /// block (earlier blocks drop less, linearly); nil: the network's own.
  public var dropout: Double?
  public var dropPath: Double?
  /// Decay of an exponential moving average of the weights (timm's ModelEmaV3 with warmup),
  /// validated every epoch and saved as `best_ema.safetensors`; nil: none.
  public var ema: Double?
  /// Mixup and CutMix: Beta(alpha, alpha) mixing of each batch with itself reversed, soft
  /// targets through the loss (0: off). With both, `mixSwitchProbability` picks CutMix.
  public var mixup = 0.0
  public var cutmix = 0.0
  public var mixProbability = 1.0
  public var mixSwitchProbability = 0.5
  /// How the images were split (recorded so `--like` and readers of a checkpoint can see it):
  /// the held-out fractions, or the explicit validation set.
  public var validationFraction: Double?
  public var testFraction: Double?
  public var validationData: String?
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
    layerDecay = try c.decodeIfPresent(Double.self, forKey: .layerDecay)
    warmupEpochs = try value(.warmupEpochs, d.warmupEpochs)
    schedule = try value(.schedule, d.schedule)
    minLearningRate = try c.decodeIfPresent(Double.self, forKey: .minLearningRate)
    decayEpochs = try c.decodeIfPresent(Int.self, forKey: .decayEpochs)
    decayRate = try value(.decayRate, d.decayRate)
    dropout = try c.decodeIfPresent(Double.self, forKey: .dropout)
    dropPath = try c.decodeIfPresent(Double.self, forKey: .dropPath)
    ema = try c.decodeIfPresent(Double.self, forKey: .ema)
    mixup = try value(.mixup, d.mixup)
    cutmix = try value(.cutmix, d.cutmix)
    mixProbability = try value(.mixProbability, d.mixProbability)
    mixSwitchProbability = try value(.mixSwitchProbability, d.mixSwitchProbability)
    validationFraction = try c.decodeIfPresent(Double.self, forKey: .validationFraction)
    testFraction = try c.decodeIfPresent(Double.self, forKey: .testFraction)
    validationData = try c.decodeIfPresent(String.self, forKey: .validationData)
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

  enum CodingKeys: String, CodingKey, CaseIterable {
    case epochs, optimizer, momentum, nesterov, eps, learningRate = "learning_rate", backboneLRScale = "backbone_lr_scale", layerDecay = "layer_decay", warmupEpochs = "warmup_epochs"
    case weightDecay = "weight_decay", labelSmoothing = "label_smoothing", balancedClassWeights = "balanced_class_weights"
    case patience, metric, policy, head, cacheFeatures = "cache_features", gradientClip = "gradient_clip", lowMemory = "low_memory", seed, maxSteps = "max_steps"
    case ranks, syncBatchNorm = "sync_bn"
    case schedule = "sched", minLearningRate = "min_lr", decayEpochs = "decay_epochs", decayRate = "decay_rate", dropout, dropPath = "drop_path", ema
    case mixup, cutmix, mixProbability = "mix_prob", mixSwitchProbability = "mix_switch_prob"
    case validationFraction = "val_fraction", testFraction = "test_fraction", validationData = "val_data"
  }

  /// A recipe from a checkpoint's `effdx.training` (`source` names it in errors): every key
  /// known, and a value of the wrong type named by its key (the decoder said only "not valid
  /// JSON", and a misspelt key was passed over).
  public static func decode(json: String, source: String) throws -> TrainingConfig {
    guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
      throw TaskError.invalid("\(source): effdx.training is not a JSON object")
    }
    let known = Set(CodingKeys.allCases.map(\.rawValue))
    if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) { throw TaskError.invalid("\(source): effdx.training has an unknown key '\(unknown)'") }
    do { return try JSONDecoder().decode(TrainingConfig.self, from: Data(json.utf8)) } catch {
      // The decoder names no key for a number out of its type's range ("not valid JSON"): the
      // key is found by decoding each alone.
      for key in object.keys.sorted() {
        guard let one = try? JSONSerialization.data(withJSONObject: [key: object[key]!]), (try? JSONDecoder().decode(TrainingConfig.self, from: one)) == nil else { continue }
        throw TaskError.invalid("\(source): effdx.training '\(key)': \(object[key]!) is not a value it takes")
      }
      throw TaskError.invalid("\(source): effdx.training is not a training recipe (\(error))")
    }
  }

  /// Whether batches are mixed (mixup or CutMix).
  public var mixes: Bool { (mixup > 0 || cutmix > 0) && mixProbability > 0 }

  /// The recipe's values checked against `RecipeSpec`'s ranges (a config read from a
  /// checkpoint's metadata or built by a library user has had no other check).
  public func validate() throws {
    do { try recipe.validate { "'\($0)'" } } catch { throw TaskError.invalid("the training recipe's \(error)") }
    if let m = minLearningRate, m > learningRate { throw TaskError.invalid("min_lr \(m) exceeds the peak lr \(learningRate)") }
    guard gradientClip.isFinite, gradientClip > 0 else { throw TaskError.invalid("gradient_clip must be a positive number, not \(gradientClip)") }
    if mixes && balancedClassWeights { throw TaskError.invalid("--balanced class weights do not combine with mixup or CutMix (their targets are mixtures of two classes)") }
  }
}

/// The learning rate's decay after warmup.
public enum ScheduleKind: String, Codable, CaseIterable, Sendable {
  /// Half a cosine from the peak to `min_lr` over the remaining epochs (timm's default).
  case cosine
  /// The peak times `decay_rate` every `decay_epochs`.
  case step
  /// The peak to the end.
  case constant
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
  /// The run's recipe (`TrainingConfig` as sorted JSON), on the first epoch's line only: the log
  /// alone says how the run was trained.
  public var recipe: String?
  /// With --ema: the moving average's validation scores, and whether it is the best average.
  public var validationAccuracyEMA: Double?
  public var validationMacroF1EMA: Double?
  public var bestEMA: Bool?
  /// Data-parallel runs only: the ranks, and the gradient exchange of an average step (the
  /// buffer each rank contributes to MPI_Allreduce, and the wall time the call took).
  public var ranks: Int?
  public var allreduceBytesPerStep: Int?
  public var allreduceSecondsPerStep: Double?
  /// Images of global batches some rank held none of (every rank skipped those steps alike).
  public var skippedInEmptyShares: Int?
  /// Images of batches with one value per channel at the last BatchNorm (a last batch of one
  /// at a 1 x 1 last feature map), left out of training.
  public var skippedLoneImages: Int?

  enum CodingKeys: String, CodingKey {
    case epoch, steps, trainLoss = "train_loss", validationAccuracy = "val_accuracy", validationMacroF1 = "val_macro_f1"
    case learningRate = "learning_rate", seconds, imagesPerSecond = "images_per_second", best, skippedFiles = "skipped_files"
    case ranks, allreduceBytesPerStep = "allreduce_bytes_per_step", allreduceSecondsPerStep = "allreduce_seconds_per_step"
    case skippedInEmptyShares = "skipped_in_empty_shares", skippedLoneImages = "skipped_lone_images"
    case validationAccuracyEMA = "val_accuracy_ema", validationMacroF1EMA = "val_macro_f1_ema", bestEMA = "best_ema", recipe
  }
}
