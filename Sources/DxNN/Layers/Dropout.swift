import DxTensor

/// Inverted dropout: in training, zeroes each element with probability `rate` and scales the
/// rest by `1 / (1 - rate)`; identity in inference.
///
/// The mask comes from the layer's own seeded generator, so a run is reproducible from its seed.
public final class Dropout: Layer {
  public let rate: Float
  /// The generator masks are drawn from; reset it to replay the same masks.
  public var generator: SeededGenerator
  /// Samples whose draws the next forward skips: a data-parallel replica holding rows k... of
  /// the global batch draws the masks a single process would give those rows.
  public var skipSamples = 0
  private var mask: [Float]?

  public init(rate: Float, seed: UInt64) {
    precondition(rate >= 0 && rate < 1, "dropout rate must be in [0, 1), got \(rate)")
    self.rate = rate
    generator = SeededGenerator(seed: seed)
  }

  public func forward(_ x: Tensor, mode: Mode) -> Tensor {
    guard mode == .training, rate > 0 else {
      mask = nil
      return x
    }
    let keep = 1 - rate
    for _ in 0..<(skipSamples * (x.count / max(1, x.shape[0]))) { _ = generator.nextUniform() }
    skipSamples = 0
    let m = (0..<x.count).map { _ in generator.nextUniform() < keep ? 1 / keep : 0 }
    mask = m
    return x * Tensor(shape: x.shape, scalars: m)
  }

  public func backward(_ dy: Tensor) -> Tensor {
    guard let mask else { return dy }
    return dy * Tensor(shape: dy.shape, scalars: mask)
  }

  public func visitParameters(_ visit: (String, Parameter) -> Void) {}
}

/// Drop-path (stochastic depth, Huang et al. 2016): in training, zeroes a residual branch for
/// a whole sample with probability `rate` and scales surviving samples by `1 / (1 - rate)`.
///
/// Put it at the end of a residual branch, before the skip addition (timm's `DropPath`).
public final class DropPath: Layer {
  public let rate: Float
  /// The generator per-sample decisions are drawn from.
  public var generator: SeededGenerator
  /// Samples whose draws the next forward skips (see `Dropout.skipSamples`).
  public var skipSamples = 0
  private var sampleScale: [Float]?

  public init(rate: Float, seed: UInt64) {
    precondition(rate >= 0 && rate < 1, "drop-path rate must be in [0, 1), got \(rate)")
    self.rate = rate
    generator = SeededGenerator(seed: seed)
  }

  public func forward(_ x: Tensor, mode: Mode) -> Tensor {
    guard mode == .training, rate > 0 else {
      sampleScale = nil
      return x
    }
    let keep = 1 - rate
    for _ in 0..<skipSamples { _ = generator.nextUniform() }
    skipSamples = 0
    let scales = (0..<x.shape[0]).map { _ in generator.nextUniform() < keep ? 1 / keep : Float(0) }
    sampleScale = scales
    return Self.scaleSamples(x, scales)
  }

  public func backward(_ dy: Tensor) -> Tensor {
    guard let sampleScale else { return dy }
    return Self.scaleSamples(dy, sampleScale)
  }

  private static func scaleSamples(_ x: Tensor, _ scales: [Float]) -> Tensor {
    var y = x
    let per = x.count / max(1, x.shape[0])
    for (n, s) in scales.enumerated() { for i in 0..<per { y.scalars[n * per + i] *= s } }
    return y
  }

  public func visitParameters(_ visit: (String, Parameter) -> Void) {}
}

/// A layer with random behaviour in training, whose generator can be reset; the trainer reseeds
/// these every step from (seed, epoch, step), so a resumed run draws the same masks.
///
/// `firstSample`: the position in the global batch of this replica's first sample, so that
/// replicas of a data-parallel run draw, between them, exactly a single process's masks.
public protocol StochasticLayer: AnyObject {
  func reseed(_ seed: UInt64, firstSample: Int)
}

extension StochasticLayer {
  public func reseed(_ seed: UInt64) { reseed(seed, firstSample: 0) }
}

extension Dropout: StochasticLayer {
  public func reseed(_ seed: UInt64, firstSample: Int) {
    generator = SeededGenerator(seed: seed)
    skipSamples = firstSample
  }
}

extension DropPath: StochasticLayer {
  public func reseed(_ seed: UInt64, firstSample: Int) {
    generator = SeededGenerator(seed: seed)
    skipSamples = firstSample
  }
}

extension Sequential: StochasticLayer {
  public func reseed(_ seed: UInt64, firstSample: Int) {
    var rng = SeededGenerator(seed: seed)
    for (_, layer) in children { (layer as? StochasticLayer)?.reseed(rng.next(), firstSample: firstSample) }
  }
}
