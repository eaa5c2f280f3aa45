import DxEfficientNet
import DxImaging
import DxNN
import DxTensor
import Foundation

// What a run carries from step to step besides the weights: the optimizer's state and the
// moving average of the weights, saved in one file for --resume and broadcast to every rank.
extension Trainer {
  static let modelPrefix = "model."
  static let emaPrefix = "ema."

  /// The model (`model.`), the optimizer's state (its own names) and the average (`ema.`).
  func trainingState() -> [String: Tensor] {
    var state = optimizer.stateTensors()
    for (name, tensor) in model.stateDict() { state[Self.modelPrefix + name] = tensor }
    for (name, tensor) in ema?.shadow ?? [:] { state[Self.emaPrefix + name] = tensor }
    return state
  }

  /// Restores what `trainingState` gave; `source` names it in errors.
  func loadTrainingState(_ tensors: [String: Tensor], source: String) throws {
    var weights: [String: Tensor] = [:], optimizerState: [String: Tensor] = [:], average: [String: Tensor] = [:]
    for (name, tensor) in tensors {
      if name.hasPrefix(Self.modelPrefix) {
        weights[String(name.dropFirst(Self.modelPrefix.count))] = tensor
      } else if name.hasPrefix(Self.emaPrefix) {
        average[String(name.dropFirst(Self.emaPrefix.count))] = tensor
      } else {
        optimizerState[name] = tensor
      }
    }
    // The weights as a checkpoint's are checked: a NaN or a negative running variance was
    // loaded, and the resumed run wrote it over a good last.safetensors (or best.safetensors).
    if let bad = EfficientNet.implausibleTensor(weights) {
      throw TaskError.invalid("\(source): tensor '\(Self.modelPrefix)\(bad.name)' holds \(bad.negativeVariance ? "a negative variance" : "NaN or infinite values"); the run folder was left as it is")
    }
    try model.loadState(weights)
    try checkOptimizerState(optimizerState, source: source)
    optimizer.loadState(optimizerState)
    if let ema {
      let expected = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter.value.shape) })
      guard Set(average.keys) == Set(expected.keys), average.allSatisfy({ expected[$0.key] == $0.value.shape }) else {
        throw TaskError.invalid("\(source): the moving average of the weights (--ema) is missing or does not fit the model: resume with the recipe the run was started with")
      }
      // A NaN in the average was scored as the best and written over a good best_ema.safetensors.
      if let (name, _) = average.sorted(by: { $0.key < $1.key }).first(where: { !$0.value.scalars.allSatisfy(\.isFinite) }) {
        throw TaskError.invalid("\(source): tensor '\(Self.emaPrefix)\(name)' holds NaN or infinite values; the run folder was left as it is")
      }
      ema.shadow = average
    }
  }

  /// The optimizer's state as the optimizers write it, checked before they read it (they trust
  /// it: a moment of the wrong length or a NaN step count trapped): every tensor names a
  /// parameter and holds as many finite values as it (`m.`, `v.`, `momentum.`, `ms.`, `buf.`),
  /// or one whole step count (`t.`), and a parameter's state is whole (AdamW's `m`, `v` and
  /// `t` together; RMSprop's `ms` and `buf`): half of it was silently dropped.
  func checkOptimizerState(_ state: [String: Tensor], source: String) throws {
    let counts = Dictionary(model.namedParameters().map { ($0.name, $0.parameter.value.count) }, uniquingKeysWith: { a, _ in a })
    let together = [["m", "v", "t"], ["ms", "buf"], ["momentum"]]
    var kinds: [String: Set<String>] = [:]
    for (key, tensor) in state.sorted(by: { $0.key < $1.key }) {
      func bad(_ why: String) -> TaskError { TaskError.invalid("\(source): optimizer state '\(key)' \(why): the file is damaged; start the run again") }
      guard let dot = key.firstIndex(of: "."), together.joined().contains(String(key[..<dot])) else { throw bad("is no optimizer's") }
      let kind = String(key[..<dot]), name = String(key[key.index(after: dot)...])
      guard let count = counts[name] else { throw bad("names no parameter of the model") }
      guard tensor.scalars.allSatisfy(\.isFinite) else { throw bad("holds NaN or infinite values") }
      if kind == "t" {
        guard tensor.count == 1, let t = tensor.scalars.first, t == t.rounded(), (1...1e9).contains(t) else { throw bad("is not a step count") }
      } else if tensor.count != count {
        throw bad("holds \(tensor.count) values for a parameter of \(count)")
      }
      kinds[name, default: []].insert(kind)
    }
    for (name, have) in kinds.sorted(by: { $0.key < $1.key }) {
      if let set = together.first(where: { !have.isDisjoint(with: $0) }), Set(set) != have {
        throw TaskError.invalid("\(source): the optimizer state of '\(name)' has \(have.sorted().joined(separator: ", ")) but not \(Set(set).subtracting(have).sorted().joined(separator: ", ")): the file is damaged; start the run again")
      }
    }
  }

  /// Runs `body` with `weights` in the model, then puts the model's own back.
  func withWeights<T>(_ weights: [String: Tensor], _ body: () throws -> T) rethrows -> T {
    let own = model.namedParameters().map { ($0.parameter, $0.parameter.value) }
    for (name, p) in model.namedParameters() { if let w = weights[name] { p.value = w } }
    defer { for (p, v) in own { p.value = v } }
    return try body()
  }

  /// The moving average's validation scores (nil without --ema).
  func evaluateEMA(_ features: FeatureCache?, failures: ([ImageError]) -> Void) throws -> (accuracy: Double, macroF1: Double, metric: Double)? {
    guard let ema else { return nil }
    let (accuracy, macroF1) = try withWeights(ema.shadow) { try evaluate(features, progress: { _, _ in }, failures: { _ in }) }
    return (accuracy, macroF1, config.metric == "accuracy" ? accuracy : macroF1)
  }
}
