import DxTensor
import Foundation

extension FloatImage {
  /// torchvision's `adjust_brightness`: scale every sample.
  public func adjustingBrightness(_ factor: Float) -> FloatImage { blended(with: 0, factor: factor) }

  /// torchvision's `adjust_contrast`: blend with the mean gray level.
  public func adjustingContrast(_ factor: Float) -> FloatImage {
    var mean: Float = 0
    for p in 0..<(width * height) { mean += 0.299 * values[3 * p] + 0.587 * values[3 * p + 1] + 0.114 * values[3 * p + 2] }
    return blended(with: mean / Float(max(1, width * height)), factor: factor)
  }

  /// torchvision's `adjust_saturation`: blend each pixel with its gray value.
  public func adjustingSaturation(_ factor: Float) -> FloatImage {
    var out = self
    for p in 0..<(width * height) {
      let g = 0.299 * values[3 * p] + 0.587 * values[3 * p + 1] + 0.114 * values[3 * p + 2]
      for c in 0..<3 { out.values[3 * p + c] = max(0, min(1, factor * values[3 * p + c] + (1 - factor) * g)) }
    }
    return out
  }

  /// torchvision's `adjust_hue`: rotate the hue by `shift` turns (in [-0.5, 0.5]) in HSV.
  public func adjustingHue(_ shift: Float) -> FloatImage {
    var out = self
    for p in 0..<(width * height) {
      let r = values[3 * p], g = values[3 * p + 1], b = values[3 * p + 2]
      let mx = max(r, g, b), mn = min(r, g, b), d = mx - mn
      var h: Float = 0
      if d > 0 {
        if mx == r { h = (g - b) / d } else if mx == g { h = 2 + (b - r) / d } else { h = 4 + (r - g) / d }
        h /= 6
      }
      h = (h + shift).truncatingRemainder(dividingBy: 1)
      if h < 0 { h += 1 }
      let s = mx == 0 ? 0 : d / mx, v = mx
      let i = Int(h * 6) % 6, f = h * 6 - Float(Int(h * 6))
      let pp = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
      let rgb: [Float] = [[v, t, pp], [q, v, pp], [pp, v, t], [pp, q, v], [t, pp, v], [v, pp, q]][i]
      for c in 0..<3 { out.values[3 * p + c] = rgb[c] }
    }
    return out
  }

  /// torchvision's `ColorJitter`: each factor drawn uniformly in [1 - x, 1 + x] (hue: [-x, x]),
  /// applied in a random order.
  public func colorJittered(brightness: Float = 0, contrast: Float = 0, saturation: Float = 0, hue: Float = 0, using rng: inout SeededGenerator) -> FloatImage {
    var ops: [(FloatImage) -> FloatImage] = []
    func uniform(_ a: Float, _ b: Float) -> Float { a + (b - a) * rng.nextUniform() }
    if brightness > 0 { let f = uniform(max(0, 1 - brightness), 1 + brightness); ops.append { $0.adjustingBrightness(f) } }
    if contrast > 0 { let f = uniform(max(0, 1 - contrast), 1 + contrast); ops.append { $0.adjustingContrast(f) } }
    if saturation > 0 { let f = uniform(max(0, 1 - saturation), 1 + saturation); ops.append { $0.adjustingSaturation(f) } }
    if hue > 0 { let f = uniform(-hue, hue); ops.append { $0.adjustingHue(f) } }
    ops.shuffle(using: &rng)
    return ops.reduce(self) { $1($0) }
  }

  func blended(with other: Float, factor: Float) -> FloatImage {
    var out = self
    for i in out.values.indices { out.values[i] = max(0, min(1, factor * values[i] + (1 - factor) * other)) }
    return out
  }
}
