import DxPipeline
import Foundation

extension TrainingConfig {
  /// Puts every value `recipe` sets in force. A weight decay that no source gave becomes the
  /// optimizer's usual one (AdamW's decoupled 0.01 is far too strong as SGD's L2 term).
  public mutating func apply(_ recipe: RecipeSpec) {
    if let v = recipe.optimizer.flatMap(OptimizerKind.init(rawValue:)) { optimizer = v }
    if let v = recipe.schedule.flatMap(ScheduleKind.init(rawValue:)) { schedule = v }
    if let v = recipe.policy { policy = v }
    if let v = recipe.epochs { epochs = v }
    if let v = recipe.warmupEpochs { warmupEpochs = v }
    if let v = recipe.decayEpochs { decayEpochs = v }
    if let v = recipe.patience { patience = v }
    if let v = recipe.learningRate { learningRate = v }
    weightDecay = recipe.weightDecay ?? optimizer.defaultWeightDecay
    if let v = recipe.momentum { momentum = v }
    if let v = recipe.eps { eps = v }
    if let v = recipe.backboneLRScale { backboneLRScale = v }
    if let v = recipe.layerDecay { layerDecay = v }
    if let v = recipe.minLearningRate { minLearningRate = v }
    if let v = recipe.decayRate { decayRate = v }
    if let v = recipe.labelSmoothing { labelSmoothing = v }
    if let v = recipe.dropout { dropout = v }
    if let v = recipe.dropPath { dropPath = v }
    if let v = recipe.ema { ema = v }
    if let v = recipe.mixup { mixup = v }
    if let v = recipe.cutmix { cutmix = v }
    if let v = recipe.mixProbability { mixProbability = v }
    if let v = recipe.mixSwitchProbability { mixSwitchProbability = v }
    if let v = recipe.nesterov { nesterov = v }
  }

  /// This config as a recipe with every value set (`train --like CHECKPOINT`).
  public var recipe: RecipeSpec {
    var r = RecipeSpec()
    r.optimizer = optimizer.rawValue
    r.schedule = schedule.rawValue
    r.policy = policy
    r.epochs = epochs
    r.warmupEpochs = warmupEpochs
    r.decayEpochs = decayEpochs
    r.patience = patience
    r.learningRate = learningRate
    r.weightDecay = weightDecay
    r.momentum = momentum
    r.eps = eps
    r.backboneLRScale = backboneLRScale
    r.layerDecay = layerDecay
    r.minLearningRate = minLearningRate
    r.decayRate = decayRate
    r.labelSmoothing = labelSmoothing
    r.dropout = dropout
    r.dropPath = dropPath
    r.ema = ema
    r.mixup = mixup
    r.cutmix = cutmix
    r.mixProbability = mixProbability
    r.mixSwitchProbability = mixSwitchProbability
    r.nesterov = nesterov
    return r
  }
}
