import Foundation

/// Macenko stain normalisation (Macenko et al., 2009): estimate the image's two stain vectors
/// from the extreme angles of its optical densities in the plane of their two principal
/// directions, then re-express the stain concentrations with a reference stain matrix and
/// reference maximum concentrations.
public struct MacenkoNormalizer: Sendable, Equatable {
  /// Reference stain vectors (H, E) in optical-density space and their 99th-percentile
  /// concentrations; the defaults are the widely used reference values of the original method's
  /// public implementations.
  public var stainMatrix: [[Float]] = [[0.5626, 0.7201, 0.4062], [0.2159, 0.8012, 0.5581]]
  public var maxConcentrations: [Float] = [1.9705, 1.0308]
  /// Light intensity of the background (240 of 255).
  public var background: Float = 240.0 / 255
  /// Optical density below which a pixel counts as background.
  public var odThreshold: Float = 0.15
  public var percentile: Float = 1

  public init() {}

  /// Uses `target`'s stains as the reference.
  public init(target: FloatImage) {
    if let est = MacenkoNormalizer().estimate(target) {
      stainMatrix = est.stains
      maxConcentrations = est.maxConcentrations
    }
  }

  func od(_ v: Float) -> Float { -log(max(v, 1.0 / 255) / background) }

  /// The image's (H, E) stain vectors and max concentrations, or nil when it has too little
  /// tissue to estimate them.
  public func estimate(_ image: FloatImage) -> (stains: [[Float]], maxConcentrations: [Float])? {
    var ods: [[Float]] = []
    for p in 0..<(image.width * image.height) {
      let o = (0..<3).map { od(image.values[3 * p + $0]) }
      if o.allSatisfy({ $0 > odThreshold }) { ods.append(o) }
    }
    guard ods.count >= 10 else { return nil }
    // Principal plane: the two eigenvectors of the OD covariance with the largest eigenvalues.
    var cov = [[Double]](repeating: [0, 0, 0], count: 3)
    var mean = [Double](repeating: 0, count: 3)
    for o in ods { for i in 0..<3 { mean[i] += Double(o[i]) / Double(ods.count) } }
    for o in ods { for i in 0..<3 { for j in 0..<3 { cov[i][j] += (Double(o[i]) - mean[i]) * (Double(o[j]) - mean[j]) / Double(ods.count) } } }
    let (values, vectors) = MacenkoNormalizer.symmetricEigen(cov)
    let order = [0, 1, 2].sorted { values[$0] > values[$1] }
    var e1 = vectors[order[0]], e2 = vectors[order[1]]
    if e1[0] < 0 { e1 = e1.map { -$0 } }
    if e2[0] < 0 { e2 = e2.map { -$0 } }
    let angles = ods.map { o -> Double in
      let a = zip(o, e1).reduce(0.0) { $0 + Double($1.0) * $1.1 }, b = zip(o, e2).reduce(0.0) { $0 + Double($1.0) * $1.1 }
      return atan2(b, a)
    }.sorted()
    func pct(_ p: Float) -> Double { angles[min(angles.count - 1, max(0, Int(Double(p) / 100 * Double(angles.count - 1))))] }
    let lo = pct(percentile), hi = pct(100 - percentile)
    func vector(_ angle: Double) -> [Float] {
      let v = (0..<3).map { e1[$0] * cos(angle) + e2[$0] * sin(angle) }
      let norm = (v.reduce(0) { $0 + $1 * $1 }).squareRoot()
      return v.map { Float($0 / norm) }
    }
    var v1 = vector(lo), v2 = vector(hi)
    if v1[0] < v2[0] { swap(&v1, &v2) }  // haematoxylin first: the larger red optical density
    let stains = [v1, v2]
    let concentrations = ods.map { leastSquares(stains, $0) }
    let maxC = (0..<2).map { k -> Float in
      let sorted = concentrations.map { $0[k] }.sorted()
      return sorted[min(sorted.count - 1, Int(0.99 * Double(sorted.count - 1)))]
    }
    return (stains, maxC)
  }

  /// Concentrations (c1, c2) minimising |c1 s1 + c2 s2 - od|.
  func leastSquares(_ s: [[Float]], _ od: [Float]) -> [Float] {
    let a11 = zip(s[0], s[0]).reduce(0) { $0 + $1.0 * $1.1 }, a12 = zip(s[0], s[1]).reduce(0) { $0 + $1.0 * $1.1 }
    let a22 = zip(s[1], s[1]).reduce(0) { $0 + $1.0 * $1.1 }
    let b1 = zip(s[0], od).reduce(0) { $0 + $1.0 * $1.1 }, b2 = zip(s[1], od).reduce(0) { $0 + $1.0 * $1.1 }
    let det = a11 * a22 - a12 * a12
    guard abs(det) > 1e-12 else { return [0, 0] }
    return [(a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det]
  }

  /// The image with its stains mapped onto the reference; returned unchanged when its stains
  /// cannot be estimated (a blank tile).
  public func normalize(_ image: FloatImage) -> FloatImage {
    guard let source = estimate(image) else { return image }
    var out = image
    for p in 0..<(image.width * image.height) {
      let o = (0..<3).map { od(image.values[3 * p + $0]) }
      var c = leastSquares(source.stains, o)
      for k in 0..<2 { c[k] *= maxConcentrations[k] / max(source.maxConcentrations[k], 1e-6) }
      for i in 0..<3 {
        let odNew = c[0] * stainMatrix[0][i] + c[1] * stainMatrix[1][i]
        out.values[3 * p + i] = max(0, min(1, background * exp(-odNew)))
      }
    }
    return out
  }

  /// Eigenvalues and eigenvectors of a symmetric 3x3 matrix (cyclic Jacobi).
  static func symmetricEigen(_ m: [[Double]]) -> ([Double], [[Double]]) {
    var a = m
    var v: [[Double]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    for _ in 0..<50 {
      for (p, q) in [(0, 1), (0, 2), (1, 2)] where abs(a[p][q]) > 1e-15 {
        let theta = (a[q][q] - a[p][p]) / (2 * a[p][q])
        let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
        let c = 1 / (t * t + 1).squareRoot(), s = t * c
        for k in 0..<3 {
          let akp = a[k][p], akq = a[k][q]
          a[k][p] = c * akp - s * akq
          a[k][q] = s * akp + c * akq
        }
        for k in 0..<3 {
          let apk = a[p][k], aqk = a[q][k]
          a[p][k] = c * apk - s * aqk
          a[q][k] = s * apk + c * aqk
        }
        for k in 0..<3 {
          let vkp = v[k][p], vkq = v[k][q]
          v[k][p] = c * vkp - s * vkq
          v[k][q] = s * vkp + c * vkq
        }
      }
    }
    let vectors = (0..<3).map { j in (0..<3).map { v[$0][j] } }
    return ([a[0][0], a[1][1], a[2][2]], vectors)
  }
}
