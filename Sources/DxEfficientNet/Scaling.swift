import Foundation

/// Compound scaling (Tan & Le, 2019, section 3.3): width, depth and resolution grow together.
///
/// Both rounding rules are timm's exactly (`timm/layers/helpers.py::make_divisible`,
/// `_efficientnet_builder.py::_scale_stage_depth`), because a checkpoint only loads into a
/// network whose every channel count matches.
public enum Scaling {
  /// The paper's constants: depth `alpha^phi`, width `beta^phi`, resolution `gamma^phi`.
  public static let alpha = 1.2, beta = 1.1, gamma = 1.15

  /// Rounds `value` to a multiple of `divisor` (at least `divisor`), adding one more divisor
  /// when rounding lost more than 10% of the *scaled* value.
  public static func makeDivisible(_ value: Double, divisor: Int = 8) -> Int {
    let d = Double(divisor)
    var rounded = max(divisor, Int(value + d / 2) / divisor * divisor)
    if Double(rounded) < 0.9 * value { rounded += divisor }
    return rounded
  }

  /// Width scaling of a channel count.
  public static func roundChannels(_ channels: Int, multiplier: Double) -> Int {
    multiplier == 0 ? channels : makeDivisible(Double(channels) * multiplier)
  }

  /// Depth scaling of a stage's repeat count (ceil).
  public static func scaledRepeats(_ repeats: Int, multiplier: Double) -> Int {
    Int((Double(repeats) * multiplier).rounded(.up))
  }

  /// Width, depth and resolution multipliers for compound coefficient `phi` from a base
  /// resolution (224 for B0).
  public static func compound(phi: Double, baseResolution: Int = 224) -> (width: Double, depth: Double, resolution: Int) {
    (pow(beta, phi), pow(alpha, phi), Int((Double(baseResolution) * pow(gamma, phi)).rounded()))
  }
}
