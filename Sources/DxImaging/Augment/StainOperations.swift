import DxTensor
import Foundation

/// Colour deconvolution into haematoxylin, eosin and DAB (Ruifrok & Johnston, 2001), as
/// scikit-image's `rgb2hed` / `hed2rgb` define it.
public enum HED {
  static let rgbFromHED: [[Float]] = [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]]
  static let hedFromRGB: [[Float]] = invert3(rgbFromHED)
  static let logAdjust = Float(log(1e-6))

  /// Per pixel (H, E, D) stain amounts.
  public static func stains(_ image: FloatImage) -> [Float] {
    var out = [Float](repeating: 0, count: image.values.count)
    for p in 0..<(image.width * image.height) {
      let od = (0..<3).map { log(max(image.values[3 * p + $0], 1e-6)) / logAdjust }
      for j in 0..<3 { out[3 * p + j] = max(0, od[0] * hedFromRGB[0][j] + od[1] * hedFromRGB[1][j] + od[2] * hedFromRGB[2][j]) }
    }
    return out
  }

  /// RGB from stain amounts.
  public static func image(stains s: [Float], width: Int, height: Int) -> FloatImage {
    var out = [Float](repeating: 0, count: s.count)
    for p in 0..<(width * height) {
      for j in 0..<3 {
        let logRGB = -(s[3 * p] * rgbFromHED[0][j] + s[3 * p + 1] * rgbFromHED[1][j] + s[3 * p + 2] * rgbFromHED[2][j]) * -logAdjust
        out[3 * p + j] = max(0, min(1, exp(logRGB)))
      }
    }
    return FloatImage(width: width, height: height, values: out)
  }

  static func invert3(_ m: [[Float]]) -> [[Float]] {
    let a = m.map { $0.map(Double.init) }
    let det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
    var inv = [[Double]](repeating: [0, 0, 0], count: 3)
    for i in 0..<3 {
      for j in 0..<3 {
        let r = [0, 1, 2].filter { $0 != j }, c = [0, 1, 2].filter { $0 != i }
        let minor = a[r[0]][c[0]] * a[r[1]][c[1]] - a[r[0]][c[1]] * a[r[1]][c[0]]
        inv[i][j] = ((i + j) % 2 == 0 ? 1 : -1) * minor / det
      }
    }
    return inv.map { $0.map(Float.init) }
  }
}

extension FloatImage {
  /// HED stain augmentation (Tellez et al., 2018): each stain channel scaled by a factor in
  /// [1 - sigma, 1 + sigma] and shifted by up to `bias`, then recomposed, mimicking the stain
  /// variation between labs and scanners.
  public func hedAugmented(sigma: Float = 0.05, bias: Float = 0.05, using rng: inout SeededGenerator) -> FloatImage {
    var s = HED.stains(self)
    let alpha = (0..<3).map { _ in 1 - sigma + 2 * sigma * rng.nextUniform() }
    let beta = (0..<3).map { _ in -bias + 2 * bias * rng.nextUniform() }
    for i in s.indices { s[i] = s[i] * alpha[i % 3] + beta[i % 3] }
    return HED.image(stains: s, width: width, height: height)
  }
}

/// Reinhard colour normalisation (Reinhard et al., 2001): match the mean and standard deviation
/// of each channel in the decorrelated l-alpha-beta space to a target's.
public struct ReinhardNormalizer: Sendable, Equatable {
  public var mean: [Float], std: [Float]

  /// Statistics of a reference image (a well-stained slide of the lab's choice).
  public init(target: FloatImage) {
    let lab = ReinhardNormalizer.toLab(target)
    (mean, std) = ReinhardNormalizer.stats(lab)
  }

  public init(mean: [Float], std: [Float]) {
    self.mean = mean
    self.std = std
  }

  public func normalize(_ image: FloatImage) -> FloatImage {
    var lab = ReinhardNormalizer.toLab(image)
    let (m, s) = ReinhardNormalizer.stats(lab)
    for i in lab.indices { let c = i % 3; lab[i] = (lab[i] - m[c]) / max(s[c], 1e-6) * std[c] + mean[c] }
    return ReinhardNormalizer.fromLab(lab, width: image.width, height: image.height)
  }

  static let rgbToLMS: [[Float]] = [[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]]
  static let lmsToRGB: [[Float]] = HED.invert3(rgbToLMS)
  static let s3 = Float(1 / 3.0.squareRoot()), s6 = Float(1 / 6.0.squareRoot()), s2 = Float(1 / 2.0.squareRoot())

  static func toLab(_ image: FloatImage) -> [Float] {
    var out = [Float](repeating: 0, count: image.values.count)
    for p in 0..<(image.width * image.height) {
      let rgb = (0..<3).map { max(image.values[3 * p + $0], 1.0 / 255) }
      let lms = (0..<3).map { i in log10(max(1e-6, rgbToLMS[i][0] * rgb[0] + rgbToLMS[i][1] * rgb[1] + rgbToLMS[i][2] * rgb[2])) }
      out[3 * p] = s3 * (lms[0] + lms[1] + lms[2])
      out[3 * p + 1] = s6 * (lms[0] + lms[1] - 2 * lms[2])
      out[3 * p + 2] = s2 * (lms[0] - lms[1])
    }
    return out
  }

  static func fromLab(_ lab: [Float], width: Int, height: Int) -> FloatImage {
    var out = [Float](repeating: 0, count: lab.count)
    for p in 0..<(width * height) {
      let l = lab[3 * p] * s3, a = lab[3 * p + 1] * s6, b = lab[3 * p + 2] * s2
      let lms = [l + a + b, l + a - b, l - 2 * a].map { pow(10, $0) }
      for i in 0..<3 { out[3 * p + i] = max(0, min(1, lmsToRGB[i][0] * lms[0] + lmsToRGB[i][1] * lms[1] + lmsToRGB[i][2] * lms[2])) }
    }
    return FloatImage(width: width, height: height, values: out)
  }

  static func stats(_ v: [Float]) -> ([Float], [Float]) {
    let n = Float(max(1, v.count / 3))
    var m: [Float] = [0, 0, 0], s: [Float] = [0, 0, 0]
    for i in v.indices { m[i % 3] += v[i] / n }
    for i in v.indices { s[i % 3] += (v[i] - m[i % 3]) * (v[i] - m[i % 3]) / n }
    return (m, s.map { $0.squareRoot() })
  }
}
