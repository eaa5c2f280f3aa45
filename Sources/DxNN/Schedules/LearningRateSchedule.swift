import Foundation

/// A learning rate as a pure function of the step number, with optional linear warmup.
///
/// Warmup goes linearly from `warmupStartLR` at step 0 to the schedule's value at step
/// `warmupSteps`; after it the decay shape runs on `step - warmupSteps`, as timm's schedulers do
/// with `warmup_prefix=True`.
public struct LearningRateSchedule: Sendable, Equatable {
  /// The shape after warmup.
  public enum Shape: Sendable, Equatable {
    /// Always the base rate.
    case constant
    /// Multiply by `gamma` every `every` steps.
    case step(every: Int, gamma: Double)
    /// Half-cosine from the base rate to `minLR` over `totalSteps` steps, then `minLR`.
    case cosine(totalSteps: Int, minLR: Double)
  }

  public var baseLR: Double
  public var shape: Shape
  public var warmupSteps: Int
  public var warmupStartLR: Double

  public init(baseLR: Double, shape: Shape = .constant, warmupSteps: Int = 0, warmupStartLR: Double = 0) {
    self.baseLR = baseLR
    self.shape = shape
    self.warmupSteps = warmupSteps
    self.warmupStartLR = warmupStartLR
  }

  /// The learning rate for step `step` (0-based).
  public func lr(at step: Int) -> Double {
    if step < warmupSteps {
      return warmupStartLR + (baseLR - warmupStartLR) * Double(step) / Double(warmupSteps)
    }
    let t = step - warmupSteps
    switch shape {
    case .constant:
      return baseLR
    case .step(let every, let gamma):
      return baseLR * pow(gamma, Double(t / max(every, 1)))
    case .cosine(let total, let minLR):
      guard t < total else { return minLR }
      return minLR + 0.5 * (baseLR - minLR) * (1 + cos(Double.pi * Double(t) / Double(total)))
    }
  }
}
