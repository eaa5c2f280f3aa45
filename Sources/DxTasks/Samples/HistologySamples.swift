import DxImaging
import DxTensor
import Foundation

/// Synthetic H&E-like patches of five tissue classes, drawn the way they look under the
/// microscope: tumour (crowded large irregular nuclei), stroma (pink fibres, sparse elongated
/// nuclei), lymphocytes (dense small round dark nuclei), adipose (empty cells with thin pink
/// walls) and background (glass).
public enum HistologySamples {
  public static let classes = ["adipose", "background", "lymphocytes", "stroma", "tumor"]

  static let eosin: [Float] = [0.93, 0.62, 0.78], hematoxylin: [Float] = [0.32, 0.2, 0.55]

  public static func render(label: String, size: Int, using rng: inout SeededGenerator) -> Image {
    let s = Double(size)
    var c: Canvas
    switch label {
    case "background":
      c = Canvas(width: size, height: size, color: [0.95, 0.94, 0.95])
      for _ in 0..<rng.below(3) { c.ellipse(rng.uniform(0, s), rng.uniform(0, s), s * 0.05, s * 0.03, color: eosin, alpha: 0.2) }
    case "adipose":
      c = Canvas(width: size, height: size, color: [0.9, 0.7, 0.82])
      for _ in 0..<Int(s * s / 500) {
        let r = s * rng.uniform(0.07, 0.13)
        c.ellipse(rng.uniform(0, s), rng.uniform(0, s), r, r * rng.uniform(0.8, 1.1), angle: rng.uniform(0, .pi), color: [0.97, 0.96, 0.97])
      }
    case "stroma":
      c = Canvas(width: size, height: size, color: eosin)
      let angle = rng.uniform(0, .pi)
      for _ in 0..<Int(s * 0.6) {
        let x = rng.uniform(-s * 0.2, s * 1.2), y = rng.uniform(-s * 0.2, s * 1.2), l = s * rng.uniform(0.2, 0.5)
        c.line(x, y, x + l * cos(angle), y + l * sin(angle), color: [0.85, 0.45, 0.65], alpha: 0.5)
      }
      for _ in 0..<Int(s * s / 900) { c.ellipse(rng.uniform(0, s), rng.uniform(0, s), s * 0.035, s * 0.01, angle: angle, color: hematoxylin, alpha: 0.85) }
    case "lymphocytes":
      c = Canvas(width: size, height: size, color: [0.88, 0.7, 0.85])
      for _ in 0..<Int(s * s / 45) { let r = s * rng.uniform(0.018, 0.026); c.ellipse(rng.uniform(0, s), rng.uniform(0, s), r, r, color: [0.2, 0.12, 0.42], alpha: 0.9) }
    default:  // tumor
      c = Canvas(width: size, height: size, color: [0.82, 0.58, 0.78])
      for _ in 0..<Int(s * s / 160) {
        c.ellipse(rng.uniform(0, s), rng.uniform(0, s), s * rng.uniform(0.04, 0.07), s * rng.uniform(0.03, 0.055), angle: rng.uniform(0, .pi),
                  color: [0.38, 0.24, 0.6], alpha: Float(rng.uniform(0.7, 0.95)))
      }
      for _ in 0..<Int(s * s / 700) { c.ellipse(rng.uniform(0, s), rng.uniform(0, s), s * 0.012, s * 0.012, color: [0.18, 0.1, 0.3]) }
    }
    c.noise(0.025, using: &rng)
    return c.image
  }
}
