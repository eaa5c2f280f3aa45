import Foundation

/// Resampling filters, as Pillow defines them; every one is antialiased when shrinking (the
/// filter widens with the scale), which is what keeps downscaled slides and photos free of
/// aliasing. `area` is a box filter: exact area averaging.
public enum ResizeFilter: String, Sendable, Codable, CaseIterable {
  case area, bilinear, bicubic

  var support: Double {
    switch self {
    case .area: return 0.5
    case .bilinear: return 1
    case .bicubic: return 2
    }
  }

  func weight(_ x: Double) -> Double {
    let x = abs(x)
    switch self {
    case .area: return x >= -0.5 && x < 0.5 ? 1 : 0  // Pillow: [-0.5, 0.5)
    case .bilinear: return x < 1 ? 1 - x : 0
    case .bicubic:
      let a = -0.5  // Pillow's (and Keys') a
      if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
      if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
      return 0
    }
  }
}

extension Image {
  /// A resized copy at the same bit depth (values rounded and clamped).
  public func resized(width w: Int, height h: Int, filter: ResizeFilter = .bilinear) -> Image {
    precondition(w > 0 && h > 0, "resize to \(w) x \(h)")
    if w == width && h == height { return self }
    return resized(width: w, height: h, filter: filter, window: (0, 0, w, h))
  }

  /// An image from samples in [0, 1] at `bitDepth` (rounded to nearest, clamped).
  public init(width: Int, height: Int, channels: Int, floats: [Float], bitDepth: Int) {
    if bitDepth == 16 {
      self.init(width: width, height: height, channels: channels, samples: .uint16(floats.map { UInt16(roundedLevel($0 * 65535, levels: 65535)) }))
    } else {
      self.init(width: width, height: height, channels: channels, samples: .uint8(floats.map { UInt8(roundedLevel($0 * 255, levels: 255)) }))
    }
  }
}

/// `max(0, min(levels, x.rounded()))`, the same value, without libm's `roundf` call (the
/// imaging module is built for any x86-64, where rounding is a function call): clamped first,
/// then rounded half away from zero by truncation. NaN gives `levels`, as `min` does.
@inline(__always) func roundedLevel(_ x: Float, levels: Float) -> Float {
  let v = max(0, min(levels, x))
  let i = Float(Int32(v))
  return v - i >= 0.5 ? i + 1 : i
}

/// Separable resampling on interleaved Float samples (Pillow's `ImagingResample` algorithm:
/// per output pixel, normalised filter weights over the input pixels the scaled support covers).
public enum Resampler {
  /// Weights for one axis: for each output index, the first input index and its weights.
  static func coefficients(from inSize: Int, to outSize: Int, filter: ResizeFilter, outputs: Range<Int>? = nil) -> [(first: Int, weights: [Float])] {
    let scale = Double(inSize) / Double(outSize)
    let filterScale = max(scale, 1)  // widen when shrinking: antialias
    let support = filter.support * filterScale
    return (outputs ?? 0..<outSize).map { i in
      let center = (Double(i) + 0.5) * scale
      let lo = max(0, Int((center - support + 0.5).rounded(.down)))
      let hi = min(inSize, Int((center + support + 0.5).rounded(.down)))
      var w = (lo..<max(lo, hi)).map { filter.weight((Double($0) - center + 0.5) / filterScale) }
      let total = w.reduce(0, +)
      if total != 0 { w = w.map { $0 / total } }
      return (lo, w.map(Float.init))
    }
  }

  /// Resizes `[height, width, channels]` samples to `[toHeight, toWidth, channels]`.
  /// - Parameter intermediateLevels: for integer images, round and clamp the horizontal pass to
  ///   this many levels (255, 65535) as Pillow does, so results agree with it to one level.
  public static func resize(_ src: [Float], width: Int, height: Int, channels c: Int, toWidth: Int, toHeight: Int, filter: ResizeFilter, intermediateLevels: Float? = nil) -> [Float] {
    // Horizontal pass, then vertical.
    let cx = coefficients(from: width, to: toWidth, filter: filter)
    var mid = [Float](repeating: 0, count: height * toWidth * c)
    for y in 0..<height {
      for (x, k) in cx.enumerated() {
        for ch in 0..<c {
          var s: Float = 0
          for (j, wt) in k.weights.enumerated() { s += src[(y * width + k.first + j) * c + ch] * wt }
          if let levels = intermediateLevels { s = roundedLevel(s * levels, levels: levels) / levels }
          mid[(y * toWidth + x) * c + ch] = s
        }
      }
    }
    let cy = coefficients(from: height, to: toHeight, filter: filter)
    var out = [Float](repeating: 0, count: toHeight * toWidth * c)
    for (y, k) in cy.enumerated() {
      for x in 0..<(toWidth * c) {
        var s: Float = 0
        for (j, wt) in k.weights.enumerated() { s += mid[(k.first + j) * toWidth * c + x] * wt }
        out[y * toWidth * c + x] = s
      }
    }
    return out
  }
}
