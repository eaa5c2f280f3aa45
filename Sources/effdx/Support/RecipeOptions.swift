import ArgumentParser
import DxPipeline
import DxTasks

/// `effdx train`'s recipe flags. Each is optional: a flag given overrides `--like`'s recipe,
/// which overrides the pipeline's `training:` block, which overrides the built-in defaults
/// (`TrainingConfig`). Ranges are `RecipeSpec`'s, shared with the YAML block.
struct RecipeOptions: ParsableArguments {
  @Option(help: "The update rule (default adamw).") var optimizer: OptimizerKind?
  @Option(help: "Peak learning rate of the head (default 1e-3).") var lr: Double?
  @Option(help: "Weight decay, 0...1 (default: 0.01 for adamw, decoupled; 1e-4 for sgd and 1e-5 for rmsprop-tf, as L2).") var weightDecay: Double?
  @Option(help: "Momentum of sgd and rmsprop-tf, 0...0.999 (default 0.9).") var momentum: Double?
  @Flag(inversion: .prefixedNo, help: "sgd: Nesterov momentum (default on).") var nesterov: Bool?
  @Option(help: "Epsilon of adamw (default 1e-8) and rmsprop-tf (default 1e-3).") var eps: Double?
  @Option(help: "Backbone learning rate as a fraction of --lr, 0...1 (default 0.1).") var backboneLRScale: Double?
  @Option(help: "timm's layer-wise learning-rate decay, 0.01...1: each layer below the top learns at this times the rate of the one above (off by default; timm's recipe: --layer-decay 0.8 --backbone-lr-scale 1).") var layerDecay: Double?
  @Option(help: "Epochs, 1...10000 (default 10).") var epochs: Int?
  @Option(help: "Epochs of linear warmup from a tenth of --lr, 0...1000 (default 1).") var warmupEpochs: Int?
  @Option(help: "Decay after warmup: cosine (to --min-lr), step (x --decay-rate every --decay-epochs) or constant (default cosine).") var sched: ScheduleKind?
  @Option(help: "Where the cosine ends (default --lr / 100).") var minLR: Double?
  @Option(help: "Step schedule: epochs between decays (default a third of --epochs).") var decayEpochs: Int?
  @Option(help: "Step schedule: the factor of each decay, (0, 1] (default 0.1).") var decayRate: Double?
  @Option(help: "Label smoothing, 0...0.9 (default 0.1).") var labelSmoothing: Double?
  @Option(help: "Dropout before the classifier, 0...0.99 (default: the network's).") var dropout: Double?
  @Option(help: "Stochastic depth at the last block, 0...0.99, scaled down linearly towards the first (default: the network's).") var dropPath: Double?
  @Option(help: "Keep an exponential moving average of the weights with this decay, 0.5...0.99999; validated each epoch, saved as best_ema.safetensors.") var ema: Double?
  @Option(help: "Mixup alpha, 0...10 (0: off).") var mixup: Double?
  @Option(help: "CutMix alpha, 0...10 (0: off).") var cutmix: Double?
  @Option(help: "Probability that a batch is mixed (default 1).") var mixProb: Double?
  @Option(help: "With both --mixup and --cutmix: probability of CutMix (default 0.5).") var mixSwitchProb: Double?
  @Option(help: "What trains: head, last-N, full or gradual (default full).") var policy: String?
  @Option(help: "Early stopping: epochs without improvement, 1 or more (default 5).") var patience: Int?

  /// The flags given, as a recipe.
  var recipe: RecipeSpec {
    var r = RecipeSpec()
    r.optimizer = optimizer?.rawValue
    r.learningRate = lr
    r.weightDecay = weightDecay
    r.momentum = momentum
    r.nesterov = nesterov
    r.eps = eps
    r.backboneLRScale = backboneLRScale
    r.layerDecay = layerDecay
    r.epochs = epochs
    r.warmupEpochs = warmupEpochs
    r.schedule = sched?.rawValue
    r.minLearningRate = minLR
    r.decayEpochs = decayEpochs
    r.decayRate = decayRate
    r.labelSmoothing = labelSmoothing
    r.dropout = dropout
    r.dropPath = dropPath
    r.ema = ema
    r.mixup = mixup
    r.cutmix = cutmix
    r.mixProbability = mixProb
    r.mixSwitchProbability = mixSwitchProb
    r.policy = policy
    r.patience = patience
    return r
  }

  func validate() throws {
    do { try recipe.validate { "--" + $0.replacingOccurrences(of: "_", with: "-") } } catch { throw ValidationError("\(error)") }
    if let policy, FineTunePolicy(policy) == nil { throw ValidationError("--policy must be head, last-N (N >= 1), full or gradual, not '\(policy)'") }
  }

  /// Flags that make no sense for the recipe's optimizer, once every source is merged.
  func checkAgainst(_ config: TrainingConfig) throws {
    if config.optimizer == .adamw && momentum != nil { throw ValidationError("--momentum applies to sgd and rmsprop-tf, not adamw (its betas are 0.9 and 0.999)") }
    if config.optimizer == .sgd && eps != nil { throw ValidationError("--eps applies to adamw and rmsprop-tf, not sgd") }
  }
}

extension OptimizerKind: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}
