import DxTensor
import Foundation

extension FloatImage {
  public func flippedHorizontally() -> FloatImage { remapped(width: width, height: height) { x, y in (width - 1 - x, y) } }
  public func flippedVertically() -> FloatImage { remapped(width: width, height: height) { x, y in (x, height - 1 - y) } }

  /// Rotated by `quarterTurns` x 90 degrees counter-clockwise (histology has no "up").
  public func rotated90(_ quarterTurns: Int) -> FloatImage {
    switch ((quarterTurns % 4) + 4) % 4 {
    case 1: return remapped(width: height, height: width) { x, y in (width - 1 - y, x) }
    case 2: return remapped(width: width, height: height) { x, y in (width - 1 - x, height - 1 - y) }
    case 3: return remapped(width: height, height: width) { x, y in (y, height - 1 - x) }
    default: return self
    }
  }

  /// Rotated by `degrees` counter-clockwise about the centre, bilinear, same size; corners that
  /// come from outside the image take `fill`.
  public func rotated(degrees: Double, fill: [Float] = [1, 1, 1]) -> FloatImage {
    let a = degrees * .pi / 180, c = Float(cos(a)), s = Float(sin(a))
    let cx = Float(width - 1) / 2, cy = Float(height - 1) / 2
    var out = [Float](repeating: 0, count: values.count)
    for y in 0..<height {
      for x in 0..<width {
        // Inverse map: output pixel back into the source.
        let dx = Float(x) - cx, dy = Float(y) - cy
        let sx = c * dx - s * dy + cx, sy = s * dx + c * dy + cy
        let o = (y * width + x) * 3
        let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
        let fx = sx - Float(x0), fy = sy - Float(y0)
        for ch in 0..<3 {
          func at(_ xx: Int, _ yy: Int) -> Float { (xx >= 0 && yy >= 0 && xx < width && yy < height) ? values[(yy * width + xx) * 3 + ch] : fill[ch] }
          let top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx
          let bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx
          out[o + ch] = top * (1 - fy) + bottom * fy
        }
      }
    }
    return FloatImage(width: width, height: height, values: out)
  }

  /// A rectangle of `size` x `size` at a random place set to `fill` (DeVries & Taylor, 2017).
  public func cutout(size: Int, fill: [Float] = [0.5, 0.5, 0.5], using rng: inout SeededGenerator) -> FloatImage {
    var out = self
    let cx = Int(rng.next() % UInt64(width)), cy = Int(rng.next() % UInt64(height))
    for y in max(0, cy - size / 2)..<min(height, cy - size / 2 + size) {
      for x in max(0, cx - size / 2)..<min(width, cx - size / 2 + size) { for c in 0..<3 { out.values[(y * width + x) * 3 + c] = fill[c] } }
    }
    return out
  }

  /// Gaussian blur with standard deviation `sigma` (separable, kernel radius 3 sigma, edges
  /// clamped).
  public func blurred(sigma: Double) -> FloatImage {
    guard sigma > 0 else { return self }
    let r = max(1, Int((3 * sigma).rounded(.up)))
    var k = (-r...r).map { Float(exp(-Double($0 * $0) / (2 * sigma * sigma))) }
    let total = k.reduce(0, +)
    k = k.map { $0 / total }
    func pass(_ src: [Float], horizontal: Bool) -> [Float] {
      var dst = [Float](repeating: 0, count: src.count)
      for y in 0..<height {
        for x in 0..<width {
          for c in 0..<3 {
            var s: Float = 0
            for (j, w) in k.enumerated() {
              let xx = horizontal ? min(max(x + j - r, 0), width - 1) : x
              let yy = horizontal ? y : min(max(y + j - r, 0), height - 1)
              s += src[(yy * width + xx) * 3 + c] * w
            }
            dst[(y * width + x) * 3 + c] = s
          }
        }
      }
      return dst
    }
    return FloatImage(width: width, height: height, values: pass(pass(values, horizontal: true), horizontal: false))
  }

  /// Adds independent Gaussian noise of standard deviation `sigma` to every sample (clamped).
  public func withNoise(sigma: Float, using rng: inout SeededGenerator) -> FloatImage {
    var out = self
    for i in out.values.indices { out.values[i] = max(0, min(1, out.values[i] + sigma * rng.nextNormal())) }
    return out
  }
}
