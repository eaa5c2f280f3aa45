import Foundation
import DxTensor

/// An exponential moving average of a model's weights (timm's `ModelEmaV2`):
/// after each step, `ema = decay * ema + (1 - decay) * current` for every parameter and buffer.
///
/// Evaluating with the averaged weights usually beats the raw ones late in training.
public final class ExponentialMovingAverage {
  public let decay: Float
  /// The averaged tensors by parameter name (restored from a checkpoint to resume).
  public var shadow: [String: Tensor]

  /// Starts the average at the model's current weights.
  public init(_ model: any Layer, decay: Float = 0.9998) {
    precondition(decay >= 0 && decay <= 1, "EMA decay must be in [0, 1]")
    self.decay = decay
    shadow = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter.value) })
  }

  /// Moves the average towards the model's current weights.
  public func update(_ model: any Layer) { update(model, decay: decay) }

  /// Moves the average with the decay of update number `step` (1 for the first): timm's
  /// ModelEmaV3 warmup, `min(decay, 1 - (1 + step)^(-2/3))`, so the early average follows the
  /// weights instead of remembering the initialisation for thousands of steps.
  public func update(_ model: any Layer, step: Int) { update(model, decay: Self.warmedUp(decay, step: step)) }

  /// The decay of update number `step` under the warmup.
  public static func warmedUp(_ decay: Float, step: Int) -> Float {
    min(decay, Float(1 - pow(1 + Double(step), -2.0 / 3)))
  }

  private func update(_ model: any Layer, decay: Float) {
    for (name, p) in model.namedParameters() {
      guard var s = shadow[name] else { preconditionFailure("EMA has no entry for \(name)") }
      for i in s.scalars.indices { s.scalars[i] = decay * s.scalars[i] + (1 - decay) * p.value.scalars[i] }
      shadow[name] = s
    }
  }

  /// Copies the averaged weights into `model` (e.g. before evaluating or saving).
  public func copy(into model: any Layer) {
    for (name, p) in model.namedParameters() { if let s = shadow[name] { p.value = s } }
  }
}
