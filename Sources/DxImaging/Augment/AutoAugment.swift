import DxTensor
import Foundation

/// The image operations of RandAugment (Cubuk et al. 2020) and TrivialAugment (Müller and
/// Hutter 2021), with torchvision's magnitude scales: a magnitude is a bin 0...30, 0 leaving
/// the image as it is for every signed operation.
public enum AugmentOperation: String, CaseIterable, Sendable {
  case identity, shearX, shearY, translateX, translateY, rotate, brightness, color, contrast, sharpness, posterize, solarize, autoContrast, equalize

  /// Whether the operation's strength is drawn with a random sign (a shear left or right).
  var isSigned: Bool {
    switch self {
    case .shearX, .shearY, .translateX, .translateY, .rotate, .brightness, .color, .contrast, .sharpness: return true
    default: return false
    }
  }

  /// The operation at `bin` (0...30) of RandAugment's scale, or TrivialAugment's wide one.
  /// `negative` flips the sign of a signed operation.
  public func apply(_ image: FloatImage, bin: Int, wide: Bool, negative: Bool) -> FloatImage {
    let t = Double(max(0, min(30, bin))) / 30
    let sign: Double = isSigned && negative ? -1 : 1
    let gray: [Float] = [0.5, 0.5, 0.5]
    switch self {
    case .identity: return image
    case .shearX, .shearY:
      let s = sign * t * (wide ? 0.99 : 0.3)
      return self == .shearX
        ? image.remapped(width: image.width, height: image.height, fill: gray) { x, y in (Int((Double(x) - s * Double(y)).rounded()), y) }
        : image.remapped(width: image.width, height: image.height, fill: gray) { x, y in (x, Int((Double(y) - s * Double(x)).rounded())) }
    case .translateX, .translateY:
      let side = Double(self == .translateX ? image.width : image.height)
      let d = Int((sign * t * (wide ? 32 : 150.0 / 331 * side)).rounded())
      return self == .translateX
        ? image.remapped(width: image.width, height: image.height, fill: gray) { x, y in (x - d, y) }
        : image.remapped(width: image.width, height: image.height, fill: gray) { x, y in (x, y - d) }
    case .rotate: return image.rotated(degrees: sign * t * (wide ? 135 : 30), fill: gray)
    case .brightness: return image.adjustingBrightness(Float(1 + sign * t * (wide ? 0.99 : 0.9)))
    case .color: return image.adjustingSaturation(Float(1 + sign * t * (wide ? 0.99 : 0.9)))
    case .contrast: return image.adjustingContrast(Float(1 + sign * t * (wide ? 0.99 : 0.9)))
    case .sharpness: return image.sharpened(Float(1 + sign * t * (wide ? 0.99 : 0.9)))
    case .posterize: return image.posterized(bits: 8 - Int((Double(bin) / (wide ? 5 : 7.5)).rounded()))
    case .solarize: return image.solarized(threshold: Float(1 - t))
    case .autoContrast: return image.autoContrasted()
    case .equalize: return image.equalized()
    }
  }
}

/// A random policy of those operations.
public enum AutoAugment {
  /// RandAugment: `n` operations drawn uniformly (with repetition), each at bin `m`.
  public static func randAugment(_ image: FloatImage, n: Int, m: Int, using rng: inout SeededGenerator) -> FloatImage {
    var out = image
    for _ in 0..<n {
      let op = AugmentOperation.allCases[Int(rng.next() % UInt64(AugmentOperation.allCases.count))]
      out = op.apply(out, bin: m, wide: false, negative: rng.nextUniform() < 0.5)
    }
    return out
  }

  /// TrivialAugment (torchvision's TrivialAugmentWide): one operation at a uniform bin.
  public static func trivialAugment(_ image: FloatImage, using rng: inout SeededGenerator) -> FloatImage {
    let op = AugmentOperation.allCases[Int(rng.next() % UInt64(AugmentOperation.allCases.count))]
    let bin = Int(rng.next() % 31)
    return op.apply(image, bin: bin, wide: true, negative: rng.nextUniform() < 0.5)
  }
}

extension FloatImage {
  /// PIL's `ImageEnhance.Sharpness`: a blend with the image smoothed by PIL's SMOOTH kernel
  /// (borders kept), `factor` 1 leaving it unchanged.
  public func sharpened(_ factor: Float) -> FloatImage {
    guard width > 2, height > 2, factor != 1 else { return self }
    var smooth = values
    for y in 1..<(height - 1) {
      for x in 1..<(width - 1) {
        for c in 0..<3 {
          var sum: Float = 0
          for dy in -1...1 { for dx in -1...1 { sum += values[((y + dy) * width + x + dx) * 3 + c] * (dx == 0 && dy == 0 ? 5 : 1) } }
          smooth[(y * width + x) * 3 + c] = sum / 13
        }
      }
    }
    return FloatImage(width: width, height: height, values: zip(values, smooth).map { v, s in max(0, min(1, s + factor * (v - s))) })
  }

  /// Keeps the top `bits` bits of each 8-bit sample (PIL's `posterize`).
  public func posterized(bits: Int) -> FloatImage {
    let keep = UInt8(truncatingIfNeeded: 0xFF << (8 - max(1, min(8, bits))))
    return FloatImage(width: width, height: height, values: values.map { Float(UInt8(max(0, min(255, ($0 * 255).rounded()))) & keep) / 255 })
  }

  /// Inverts samples at or above `threshold` (PIL's `solarize`).
  public func solarized(threshold: Float) -> FloatImage {
    FloatImage(width: width, height: height, values: values.map { $0 >= threshold ? 1 - $0 : $0 })
  }

  /// Stretches each channel to [0, 1] (PIL's `autocontrast` without cut-off).
  public func autoContrasted() -> FloatImage {
    var out = values
    for c in 0..<3 {
      var lo: Float = .infinity, hi: Float = -.infinity
      for i in Swift.stride(from: c, to: values.count, by: 3) { lo = min(lo, values[i]); hi = max(hi, values[i]) }
      guard hi > lo else { continue }
      for i in Swift.stride(from: c, to: values.count, by: 3) { out[i] = (values[i] - lo) / (hi - lo) }
    }
    return FloatImage(width: width, height: height, values: out)
  }

  /// Equalises each channel's 256-bin histogram (PIL's `equalize`).
  public func equalized() -> FloatImage {
    var out = values
    for c in 0..<3 {
      var histogram = [Int](repeating: 0, count: 256)
      let levels = Swift.stride(from: c, to: values.count, by: 3).map { Int(max(0, min(255, (values[$0] * 255).rounded()))) }
      for l in levels { histogram[l] += 1 }
      let nonzero = histogram.filter { $0 > 0 }
      let step = (levels.count - (nonzero.last ?? 0)) / 255
      guard step > 0 else { continue }
      var lut = [Int](repeating: 0, count: 256), n = step / 2
      for i in 0..<256 {
        lut[i] = min(255, n / step)
        n += histogram[i]
      }
      for (k, i) in Swift.stride(from: c, to: values.count, by: 3).enumerated() { out[i] = Float(lut[levels[k]]) / 255 }
    }
    return FloatImage(width: width, height: height, values: out)
  }
}
