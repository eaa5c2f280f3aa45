import DxImaging
import Foundation

/// The slide thumbnail with each classified tile tinted by its probability of one class, and a
/// legend under it: the colour scale from 0 to 1 and the class it shows, so a heatmap read on
/// its own still says what it means.
public enum SlideHeatmap {
  /// Blue (0) through purple to red (1), as RGB.
  static func color(_ p: Float) -> [Float] { [p, 0.2, 1 - p] }

  public static func write(plan: SlideTiler.Plan, tiles: [(record: SlideTiler.Record, probabilities: [Float])], classIndex: Int, className: String, to path: String) throws {
    let thumb = plan.thumbnail
    var img = FloatImage(thumb.image.rgb())
    for (r, probs) in tiles {
      let p = max(0, min(1, probs[classIndex]))
      let x0 = Int(Double(r.x0) / thumb.downsampleX), y0 = Int(Double(r.y0) / thumb.downsampleY)
      let x1 = min(img.width, Int(Double(r.x0 + r.width0) / thumb.downsampleX)), y1 = min(img.height, Int(Double(r.y0 + r.height0) / thumb.downsampleY))
      guard x1 > x0, y1 > y0, x0 >= 0, y0 >= 0 else { continue }
      let c = color(p)
      for y in y0..<y1 { for x in x0..<x1 { for ch in 0..<3 { img.values[(y * img.width + x) * 3 + ch] = img.values[(y * img.width + x) * 3 + ch] * 0.5 + c[ch] * 0.5 } } }
    }
    try PNGCodec.write(withLegend(img, title: "P(\(className))").image(), to: path)
  }

  /// `image` above a white band holding the colour bar, "0" and "1" at its ends and `title`.
  static func withLegend(_ image: FloatImage, title: String) -> FloatImage {
    let scale = 2, band = 12 * scale + 8
    let width = max(image.width, 220), height = image.height + band
    var out = FloatImage(width: width, height: height, values: [Float](repeating: 1, count: width * height * 3))
    for y in 0..<image.height { for x in 0..<image.width { for c in 0..<3 { out.values[(y * width + x) * 3 + c] = image.values[(y * image.width + x) * 3 + c] } } }
    let barX = 8 + 6 * scale, barW = 100, barY = image.height + 4, barH = 7 * scale
    for x in 0..<barW {
      let c = color(Float(x) / Float(barW - 1))
      for y in barY..<(barY + barH) { for ch in 0..<3 { out.values[(y * width + barX + x) * 3 + ch] = c[ch] } }
    }
    BitmapFont.draw("0", into: &out, x: 4, y: barY, scale: scale)
    BitmapFont.draw("1", into: &out, x: barX + barW + 4, y: barY, scale: scale)
    BitmapFont.draw(title, into: &out, x: barX + barW + 6 * scale + 10, y: barY, scale: scale)
    return out
  }
}

/// A 5 x 7 pixel font for legends (upper-case letters, digits and a little punctuation; lower
/// case is drawn as upper case, anything else as a box).
enum BitmapFont {
  /// Seven rows of five bits per glyph, most significant bit on the left.
  static let glyphs: [Character: [UInt8]] = [
    "0": [14, 17, 19, 21, 25, 17, 14], "1": [4, 12, 4, 4, 4, 4, 14], "2": [14, 17, 1, 2, 4, 8, 31], "3": [31, 2, 4, 2, 1, 17, 14],
    "4": [2, 6, 10, 18, 31, 2, 2], "5": [31, 16, 30, 1, 1, 17, 14], "6": [6, 8, 16, 30, 17, 17, 14], "7": [31, 1, 2, 4, 8, 8, 8],
    "8": [14, 17, 17, 14, 17, 17, 14], "9": [14, 17, 17, 15, 1, 2, 12],
    "A": [14, 17, 17, 31, 17, 17, 17], "B": [30, 17, 17, 30, 17, 17, 30], "C": [14, 17, 16, 16, 16, 17, 14], "D": [28, 18, 17, 17, 17, 18, 28],
    "E": [31, 16, 16, 30, 16, 16, 31], "F": [31, 16, 16, 30, 16, 16, 16], "G": [14, 17, 16, 23, 17, 17, 15], "H": [17, 17, 17, 31, 17, 17, 17],
    "I": [14, 4, 4, 4, 4, 4, 14], "J": [7, 2, 2, 2, 2, 18, 12], "K": [17, 18, 20, 24, 20, 18, 17], "L": [16, 16, 16, 16, 16, 16, 31],
    "M": [17, 27, 21, 21, 17, 17, 17], "N": [17, 17, 25, 21, 19, 17, 17], "O": [14, 17, 17, 17, 17, 17, 14], "P": [30, 17, 17, 30, 16, 16, 16],
    "Q": [14, 17, 17, 17, 21, 18, 13], "R": [30, 17, 17, 30, 20, 18, 17], "S": [15, 16, 16, 14, 1, 1, 30], "T": [31, 4, 4, 4, 4, 4, 4],
    "U": [17, 17, 17, 17, 17, 17, 14], "V": [17, 17, 17, 17, 17, 10, 4], "W": [17, 17, 17, 21, 21, 21, 10], "X": [17, 17, 10, 4, 10, 17, 17],
    "Y": [17, 17, 10, 4, 4, 4, 4], "Z": [31, 1, 2, 4, 8, 16, 31],
    " ": [0, 0, 0, 0, 0, 0, 0], ".": [0, 0, 0, 0, 0, 12, 12], "(": [2, 4, 8, 8, 8, 4, 2], ")": [8, 4, 2, 2, 2, 4, 8],
    "_": [0, 0, 0, 0, 0, 0, 31], "-": [0, 0, 0, 31, 0, 0, 0], ",": [0, 0, 0, 0, 12, 4, 8], ":": [0, 12, 12, 0, 12, 12, 0],
  ]
  static let unknown: [UInt8] = [31, 17, 17, 17, 17, 17, 31]

  /// Draws `text` in black with its top-left corner at (x, y); clipped at the image's edges.
  static func draw(_ text: String, into image: inout FloatImage, x: Int, y: Int, scale: Int) {
    var cx = x
    // Upper-casing can lengthen a character ("ß" -> "SS"): draw what it becomes.
    for ch in text.uppercased() {
      let rows = glyphs[ch] ?? unknown
      for (r, bits) in rows.enumerated() {
        for col in 0..<5 where bits & (16 >> col) != 0 {
          for dy in 0..<scale { for dx in 0..<scale {
            let px = cx + col * scale + dx, py = y + r * scale + dy
            guard px >= 0, py >= 0, px < image.width, py < image.height else { continue }
            for c in 0..<3 { image.values[(py * image.width + px) * 3 + c] = 0 }
          } }
        }
      }
      cx += 6 * scale
    }
  }
}
