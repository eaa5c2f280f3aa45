import Foundation

/// A seeded, reproducible random number generator (xoshiro256**, seeded through SplitMix64).
///
/// Every random choice in EfficientDx (initialisation, dropout masks, shuffles, augmentation)
/// takes one of these explicitly: there is no global RNG, so the same seed gives bit-identical
/// results run to run. `fork` derives an independent stream without disturbing the parent's
/// sequence more than one step, so adding a consumer does not reshuffle everything else.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
  private var s: (UInt64, UInt64, UInt64, UInt64)
  /// Random tensors drawn from this generator are zeros: for building a network whose every
  /// weight is about to be loaded (drawing 66 million normals for B7 takes over a second).
  /// Its own sequence (`next`) is unchanged.
  public private(set) var givesPlaceholders = false

  /// A generator for placeholder weights (see `givesPlaceholders`).
  public static func placeholders(seed: UInt64) -> SeededGenerator {
    var g = SeededGenerator(seed: seed)
    g.givesPlaceholders = true
    return g
  }

  /// A generator whose whole sequence is determined by `seed`.
  public init(seed: UInt64) {
    var sm = seed
    func splitMix() -> UInt64 {
      sm &+= 0x9E37_79B9_7F4A_7C15
      var z = sm
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    s = (splitMix(), splitMix(), splitMix(), splitMix())
  }

  public static func == (a: SeededGenerator, b: SeededGenerator) -> Bool {
    a.s.0 == b.s.0 && a.s.1 == b.s.1 && a.s.2 == b.s.2 && a.s.3 == b.s.3
  }

  public mutating func next() -> UInt64 {
    let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
    let t = s.1 << 17
    s.2 ^= s.0
    s.3 ^= s.1
    s.1 ^= s.2
    s.0 ^= s.3
    s.2 ^= t
    s.3 = (s.3 << 45) | (s.3 >> 19)
    return result
  }

  /// A new, independent generator derived from this one's next output.
  public mutating func fork() -> SeededGenerator { SeededGenerator(seed: next()) }

  /// Uniform in [0, 1) with 24 bits of precision.
  public mutating func nextUniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

  /// Standard normal sample (Box-Muller, computed in Double).
  public mutating func nextNormal() -> Float {
    let u1 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    let r = (-2.0 * log(max(u1, 1e-300))).squareRoot()
    return Float(r * cos(2.0 * Double.pi * u2))
  }
}

extension Tensor {
  /// Normally distributed values with the given standard deviation.
  public static func randomNormal(
    _ shape: [Int], std: Float = 1, using rng: inout SeededGenerator
  ) -> Tensor {
    let n = shape.reduce(1, *)
    var values = [Float](repeating: 0, count: n)
    if rng.givesPlaceholders { return Tensor(shape: shape, scalars: values) }
    for i in 0..<n { values[i] = rng.nextNormal() * std }
    return Tensor(shape: shape, scalars: values)
  }

  /// Uniformly distributed values in `[low, high)`.
  public static func randomUniform(
    _ shape: [Int], low: Float = -1, high: Float = 1, using rng: inout SeededGenerator
  ) -> Tensor {
    let n = shape.reduce(1, *)
    var values = [Float](repeating: 0, count: n)
    if rng.givesPlaceholders { return Tensor(shape: shape, scalars: values) }
    for i in 0..<n { values[i] = low + (high - low) * rng.nextUniform() }
    return Tensor(shape: shape, scalars: values)
  }
}
