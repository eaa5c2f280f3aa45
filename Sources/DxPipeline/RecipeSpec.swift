import Foundation

/// A training recipe as a pipeline's `training:` block (and `effdx train`'s flags) give it:
/// every value optional, so that flags override the block, which overrides the built-in
/// defaults. The ranges live here once, for YAML (errors name `file:line`) and flags alike.
///
///     training:
///       optimizer: sgd        # adamw, sgd, rmsprop-tf
///       lr: 0.05
///       momentum: 0.9
///       sched: cosine         # cosine, step, constant
///       ema: 0.999
///       mixup: 0.2
public struct RecipeSpec: Equatable, Sendable {
  public var optimizer: String?, schedule: String?, policy: String?
  public var epochs: Int?, warmupEpochs: Int?, decayEpochs: Int?, patience: Int?
  public var learningRate: Double?, weightDecay: Double?, momentum: Double?, eps: Double?, backboneLRScale: Double?, layerDecay: Double?
  public var minLearningRate: Double?, decayRate: Double?, labelSmoothing: Double?, dropout: Double?, dropPath: Double?
  public var ema: Double?, mixup: Double?, cutmix: Double?, mixProbability: Double?, mixSwitchProbability: Double?
  public var nesterov: Bool?

  public init() {}

  public static let optimizers = ["adamw", "sgd", "rmsprop-tf"]
  public static let schedules = ["cosine", "step", "constant"]

  /// The accepted values, by YAML key (the flag is `--` and the key with `-` for `_`).
  public static let intRanges: [String: ClosedRange<Int>] = ["epochs": 1...10_000, "warmup_epochs": 0...1000, "decay_epochs": 1...10_000, "patience": 1...10_000]
  public static let doubleRanges: [String: ClosedRange<Double>] = [
    "lr": 1e-9...10, "weight_decay": 0...1, "momentum": 0...0.999, "eps": 1e-12...1, "backbone_lr_scale": 0...1, "layer_decay": 0.01...1, "min_lr": 0...10,
    "decay_rate": 1e-6...1, "label_smoothing": 0...0.9, "dropout": 0...0.99, "drop_path": 0...0.99, "ema": 0.5...0.99999,
    "mixup": 0...10, "cutmix": 0...10, "mix_prob": 0...1, "mix_switch_prob": 0...1,
  ]

  /// Every value that is set, by key, for checks and messages.
  var ints: [(String, Int?)] { [("epochs", epochs), ("warmup_epochs", warmupEpochs), ("decay_epochs", decayEpochs), ("patience", patience)] }
  var doubles: [(String, Double?)] {
    [("lr", learningRate), ("weight_decay", weightDecay), ("momentum", momentum), ("eps", eps), ("backbone_lr_scale", backboneLRScale),
     ("layer_decay", layerDecay), ("min_lr", minLearningRate), ("decay_rate", decayRate), ("label_smoothing", labelSmoothing), ("dropout", dropout), ("drop_path", dropPath),
     ("ema", ema), ("mixup", mixup), ("cutmix", cutmix), ("mix_prob", mixProbability), ("mix_switch_prob", mixSwitchProbability)]
  }

  /// Checks every value that is set; `name` turns a key into what the user wrote (a flag).
  public func validate(naming name: (String) -> String) throws {
    for (key, value) in ints {
      if let value, let range = Self.intRanges[key], !range.contains(value) {
        throw RecipeValueError(source: name(key), message: "must be in \(range.lowerBound)...\(range.upperBound), not \(value)")
      }
    }
    for (key, value) in doubles {
      if let value, let range = Self.doubleRanges[key], !(value.isFinite && range.contains(value)) {
        throw RecipeValueError(source: name(key), message: "must be in \(range.lowerBound)...\(range.upperBound), not \(value)")
      }
    }
    if let optimizer, !Self.optimizers.contains(optimizer) { throw RecipeValueError(source: name("optimizer"), message: "must be one of \(Self.optimizers.joined(separator: ", "))") }
    if let schedule, !Self.schedules.contains(schedule) { throw RecipeValueError(source: name("sched"), message: "must be one of \(Self.schedules.joined(separator: ", "))") }
  }

  /// This recipe with every value `other` sets taken from it.
  public func overridden(by other: RecipeSpec) -> RecipeSpec {
    var r = self
    r.optimizer = other.optimizer ?? optimizer
    r.schedule = other.schedule ?? schedule
    r.policy = other.policy ?? policy
    r.epochs = other.epochs ?? epochs
    r.warmupEpochs = other.warmupEpochs ?? warmupEpochs
    r.decayEpochs = other.decayEpochs ?? decayEpochs
    r.patience = other.patience ?? patience
    r.learningRate = other.learningRate ?? learningRate
    r.weightDecay = other.weightDecay ?? weightDecay
    r.momentum = other.momentum ?? momentum
    r.eps = other.eps ?? eps
    r.backboneLRScale = other.backboneLRScale ?? backboneLRScale
    r.layerDecay = other.layerDecay ?? layerDecay
    r.minLearningRate = other.minLearningRate ?? minLearningRate
    r.decayRate = other.decayRate ?? decayRate
    r.labelSmoothing = other.labelSmoothing ?? labelSmoothing
    r.dropout = other.dropout ?? dropout
    r.dropPath = other.dropPath ?? dropPath
    r.ema = other.ema ?? ema
    r.mixup = other.mixup ?? mixup
    r.cutmix = other.cutmix ?? cutmix
    r.mixProbability = other.mixProbability ?? mixProbability
    r.mixSwitchProbability = other.mixSwitchProbability ?? mixSwitchProbability
    r.nesterov = other.nesterov ?? nesterov
    return r
  }

  /// Reads a `training:` block (unknown keys are errors).
  static func decode(_ r: inout YAMLNodeReader) throws -> RecipeSpec {
    var spec = RecipeSpec()
    spec.optimizer = try r.string("optimizer", allowed: optimizers)
    spec.schedule = try r.string("sched", allowed: schedules)
    spec.policy = try r.string("policy")
    func int(_ key: String) throws -> Int? { try r.int(key, range: intRanges[key]!) }
    func double(_ key: String) throws -> Double? { try r.double(key, range: doubleRanges[key]!) }
    spec.epochs = try int("epochs")
    spec.warmupEpochs = try int("warmup_epochs")
    spec.decayEpochs = try int("decay_epochs")
    spec.patience = try int("patience")
    spec.learningRate = try double("lr")
    spec.weightDecay = try double("weight_decay")
    spec.momentum = try double("momentum")
    spec.eps = try double("eps")
    spec.backboneLRScale = try double("backbone_lr_scale")
    spec.layerDecay = try double("layer_decay")
    spec.minLearningRate = try double("min_lr")
    spec.decayRate = try double("decay_rate")
    spec.labelSmoothing = try double("label_smoothing")
    spec.dropout = try double("dropout")
    spec.dropPath = try double("drop_path")
    spec.ema = try double("ema")
    spec.mixup = try double("mixup")
    spec.cutmix = try double("cutmix")
    spec.mixProbability = try double("mix_prob")
    spec.mixSwitchProbability = try double("mix_switch_prob")
    spec.nesterov = r.value("nesterov") == nil ? nil : try r.bool("nesterov", default: true)
    try r.finish("training")
    return spec
  }
}

/// A recipe value out of its range, named as the user gave it (`--lr`, `training.lr`).
public struct RecipeValueError: Error, CustomStringConvertible, Equatable, Sendable {
  public var source: String
  public var message: String
  public var description: String { "\(source) \(message)" }
}
