import DxImaging
import DxTensor
import Foundation

/// Synthetic leaf photos: a green leaf with veins on a varied background, with the lesion
/// pattern of its class. Each class looks different for a reason a pathologist would name
/// (rust pustules, blight blotches with a yellow halo, powdery mildew), so a model that learns
/// them has learned something real about texture and colour.
public enum LeafSamples {
  public static let classes = ["Tomato___healthy", "Tomato___Early_blight", "Tomato___Leaf_rust", "Tomato___Powdery_mildew"]

  public static func render(label: Int, size: Int, using rng: inout SeededGenerator) -> Image {
    let backgrounds: [[Float]] = [[0.45, 0.35, 0.25], [0.55, 0.55, 0.5], [0.3, 0.35, 0.4], [0.7, 0.68, 0.6], [0.35, 0.3, 0.2]]
    var bg = backgrounds[rng.below(backgrounds.count)]
    bg = bg.map { $0 + Float(rng.uniform(-0.06, 0.06)) }
    var canvas = Canvas(width: size, height: size, color: bg)
    let s = Double(size)
    let cx = s * rng.uniform(0.42, 0.58), cy = s * rng.uniform(0.42, 0.58)
    let rx = s * rng.uniform(0.30, 0.42), ry = s * rng.uniform(0.17, 0.26), angle = rng.uniform(0, .pi)
    let green: [Float] = [Float(rng.uniform(0.15, 0.3)), Float(rng.uniform(0.45, 0.65)), Float(rng.uniform(0.12, 0.25))]
    canvas.ellipse(cx, cy, rx, ry, angle: angle, color: green)
    let (ca, sa) = (cos(angle), sin(angle))
    func onLeaf(_ x: Int, _ y: Int) -> Bool {
      let dx = Double(x) - cx, dy = Double(y) - cy
      let u = (dx * ca + dy * sa) / rx, v = (-dx * sa + dy * ca) / ry
      return u * u + v * v <= 0.95
    }
    // Midrib and side veins.
    let vein: [Float] = [min(1, green[0] + 0.25), min(1, green[1] + 0.2), min(1, green[2] + 0.15)]
    canvas.line(cx - rx * ca, cy - rx * sa, cx + rx * ca, cy + rx * sa, color: vein, alpha: 0.8, inside: onLeaf)
    for k in stride(from: -0.7, through: 0.7, by: 0.28) {
      let bx = cx + k * rx * ca, by = cy + k * rx * sa
      for side in [-1.0, 1.0] {
        canvas.line(bx, by, bx + 0.35 * rx * ca - side * ry * sa, by + 0.35 * rx * sa + side * ry * ca, color: vein, alpha: 0.5, inside: onLeaf)
      }
    }
    func spot() -> (Double, Double) {
      let r = sqrt(rng.uniform(0, 0.8)), t = rng.uniform(0, 2 * .pi)
      let u = r * cos(t) * rx, v = r * sin(t) * ry
      return (cx + u * ca - v * sa, cy + u * sa + v * ca)
    }
    switch label {
    case 1:  // early blight: brown concentric blotches with a yellow halo
      for _ in 0..<(2 + rng.below(4)) {
        let (x, y) = spot()
        let r = s * rng.uniform(0.05, 0.1)
        canvas.ellipse(x, y, r * 1.35, r * 1.35, color: [0.8, 0.75, 0.2], alpha: 0.7, inside: onLeaf)
        canvas.ellipse(x, y, r, r, color: [0.35, 0.22, 0.1], inside: onLeaf)
        canvas.ellipse(x, y, r * 0.55, r * 0.55, color: [0.25, 0.15, 0.07], inside: onLeaf)
      }
    case 2:  // rust: many small orange pustules
      for _ in 0..<(25 + rng.below(35)) {
        let (x, y) = spot()
        let r = s * rng.uniform(0.008, 0.02)
        canvas.ellipse(x, y, r, r, color: [0.85, 0.45, 0.1], alpha: 0.95, inside: onLeaf)
      }
    case 3:  // powdery mildew: soft white patches
      for _ in 0..<(4 + rng.below(5)) {
        let (x, y) = spot()
        canvas.ellipse(x, y, s * rng.uniform(0.05, 0.12), s * rng.uniform(0.04, 0.09), angle: rng.uniform(0, .pi), color: [0.93, 0.93, 0.9], alpha: Float(rng.uniform(0.45, 0.7)), inside: onLeaf)
      }
    default:
      break
    }
    canvas.noise(0.03, using: &rng)
    return canvas.image
  }
}
