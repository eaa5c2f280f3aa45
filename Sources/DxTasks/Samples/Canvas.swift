import DxImaging
import DxTensor
import Foundation

/// A tiny RGB raster for drawing sample images: filled ellipses, lines and noise, blended with
/// an opacity. Enough to make leaves with lesions and H&E-like tissue, nothing more.
struct Canvas {
  let width: Int, height: Int
  var pixels: [Float]

  init(width: Int, height: Int, color: [Float]) {
    self.width = width
    self.height = height
    pixels = [Float](repeating: 0, count: width * height * 3)
    for p in 0..<(width * height) { for c in 0..<3 { pixels[3 * p + c] = color[c] } }
  }

  mutating func blend(_ x: Int, _ y: Int, _ color: [Float], _ alpha: Float) {
    guard x >= 0, y >= 0, x < width, y < height else { return }
    let o = (y * width + x) * 3
    for c in 0..<3 { pixels[o + c] = pixels[o + c] * (1 - alpha) + color[c] * alpha }
  }

  /// An ellipse centred at (cx, cy) with radii (rx, ry), rotated by `angle` radians; `inside`
  /// may veto pixels (e.g. lesions only on the leaf).
  mutating func ellipse(_ cx: Double, _ cy: Double, _ rx: Double, _ ry: Double, angle: Double = 0, color: [Float], alpha: Float = 1, inside: ((Int, Int) -> Bool)? = nil) {
    let r = max(rx, ry)
    let ca = cos(angle), sa = sin(angle)
    for y in max(0, Int(cy - r))...min(height - 1, Int(cy + r) + 1) {
      for x in max(0, Int(cx - r))...min(width - 1, Int(cx + r) + 1) {
        let dx = Double(x) - cx, dy = Double(y) - cy
        let u = (dx * ca + dy * sa) / rx, v = (-dx * sa + dy * ca) / ry
        if u * u + v * v <= 1, inside?(x, y) ?? true { blend(x, y, color, alpha) }
      }
    }
  }

  mutating func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, color: [Float], alpha: Float, inside: ((Int, Int) -> Bool)? = nil) {
    let steps = Int(max(abs(x1 - x0), abs(y1 - y0))) + 1
    for i in 0...steps {
      let t = Double(i) / Double(steps)
      let x = Int((x0 + (x1 - x0) * t).rounded()), y = Int((y0 + (y1 - y0) * t).rounded())
      if inside?(x, y) ?? true { blend(x, y, color, alpha) }
    }
  }

  mutating func noise(_ sigma: Float, using rng: inout SeededGenerator) {
    for i in pixels.indices { pixels[i] = max(0, min(1, pixels[i] + sigma * rng.nextNormal())) }
  }

  var image: Image { Image(width: width, height: height, channels: 3, floats: pixels, bitDepth: 8) }
}

extension SeededGenerator {
  mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * Double(nextUniform()) }
  mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }
}
