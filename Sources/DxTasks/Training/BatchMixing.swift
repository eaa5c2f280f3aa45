import DxTensor
import Foundation

/// Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) as timm's `Mixup` does them in its
/// default batch mode: with probability `mix_prob` a batch is mixed with itself reversed, by
/// CutMix with probability `mix_switch_prob` when both are on; λ ~ Beta(α, α); CutMix pastes a
/// box of about (1 - λ) of the area and corrects λ to the box's true share. Targets are the
/// same mixture of label-smoothed one-hot rows, so they sum to 1.
///
/// In a data-parallel run each rank mixes its own part of the batch (as timm under DDP does),
/// with the step's λ and box, which every rank draws alike.
struct BatchMixing {
  var mixup: Double, cutmix: Double, probability: Double, switchProbability: Double
  var labelSmoothing: Double
  var classes: Int

  init(_ config: TrainingConfig, classes: Int) {
    mixup = config.mixup
    cutmix = config.cutmix
    probability = config.mixProbability
    switchProbability = config.mixSwitchProbability
    labelSmoothing = config.labelSmoothing
    self.classes = classes
  }

  /// What a step mixes: λ, and the box CutMix pastes (rows y0..<y1, columns x0..<x1).
  struct Draw: Equatable {
    var lambda: Double
    var box: (y0: Int, y1: Int, x0: Int, x1: Int)?
    static func == (a: Draw, b: Draw) -> Bool { a.lambda == b.lambda && a.box?.y0 == b.box?.y0 && a.box?.y1 == b.box?.y1 && a.box?.x0 == b.box?.x0 && a.box?.x1 == b.box?.x1 }
  }

  /// The step's draw for images of `height` x `width`.
  func draw(height: Int, width: Int, using rng: inout SeededGenerator) -> Draw {
    guard Double(rng.nextUniform()) < probability else { return Draw(lambda: 1, box: nil) }
    let useCutmix = mixup > 0 && cutmix > 0 ? Double(rng.nextUniform()) < switchProbability : cutmix > 0
    let lambda = Self.beta(useCutmix ? cutmix : mixup, using: &rng)
    guard useCutmix else { return Draw(lambda: lambda, box: nil) }
    let ratio = (1 - lambda).squareRoot()
    let cutH = Int(Double(height) * ratio), cutW = Int(Double(width) * ratio)
    let cy = Int(rng.next() % UInt64(height)), cx = Int(rng.next() % UInt64(width))
    let y0 = min(max(cy - cutH / 2, 0), height), y1 = min(max(cy + cutH / 2, 0), height)
    let x0 = min(max(cx - cutW / 2, 0), width), x1 = min(max(cx + cutW / 2, 0), width)
    let corrected = 1 - Double((y1 - y0) * (x1 - x0)) / Double(height * width)
    return Draw(lambda: corrected, box: (y0, y1, x0, x1))
  }

  /// Mixes `images` `[N, H, W, C]` in place and returns the soft targets `[N, K]`.
  func mix(_ images: inout Tensor, labels: [Int], draw: Draw) -> [Float] {
    let n = labels.count, k = classes
    let off = labelSmoothing / Double(k), on = 1 - labelSmoothing + off
    var targets = [Float](repeating: 0, count: n * k)
    for i in 0..<n {
      let j = n - 1 - i
      for c in 0..<k {
        let a = c == labels[i] ? on : off, b = c == labels[j] ? on : off
        targets[i * k + c] = Float(draw.lambda * a + (1 - draw.lambda) * b)
      }
    }
    guard draw.lambda < 1, n > 0 else { return targets }
    let h = images.shape[1], w = images.shape[2], ch = images.shape[3], per = h * w * ch
    let source = images.scalars
    images.withMutablePointer { out in
      for i in 0..<n {
        let a = i * per, b = (n - 1 - i) * per
        if let box = draw.box {
          for y in box.y0..<box.y1 {
            for x in box.x0..<box.x1 {
              for c in 0..<ch { out[a + (y * w + x) * ch + c] = source[b + (y * w + x) * ch + c] }
            }
          }
        } else {
          let l = Float(draw.lambda)
          for e in 0..<per { out[a + e] = l * source[a + e] + (1 - l) * source[b + e] }
        }
      }
    }
    return targets
  }

  /// Beta(α, α) from two Gamma(α) draws (Marsaglia and Tsang; α < 1 by the boost u^(1/α)).
  static func beta(_ alpha: Double, using rng: inout SeededGenerator) -> Double {
    let x = gamma(alpha, using: &rng), y = gamma(alpha, using: &rng)
    return x + y > 0 ? x / (x + y) : 0.5
  }

  static func gamma(_ alpha: Double, using rng: inout SeededGenerator) -> Double {
    if alpha < 1 {
      let u = max(Double(rng.nextUniform()), 1e-12)
      return gamma(alpha + 1, using: &rng) * pow(u, 1 / alpha)
    }
    let d = alpha - 1.0 / 3, c = 1 / (9 * d).squareRoot()
    while true {
      var x: Double, v: Double
      repeat {
        x = Double(rng.nextNormal())
        v = 1 + c * x
      } while v <= 0
      v = v * v * v
      let u = Double(rng.nextUniform())
      if u < 1 - 0.0331 * x * x * x * x || log(max(u, 1e-300)) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
    }
  }
}
