import Foundation

/// CMYK to RGB for CMYK and YCCK JPEGs, as Pillow converts them: the inks are read inverted,
/// as Adobe's files store them, whether or not the file has Adobe's APP14 marker (Pillow
/// "assumes adobe conventions" for every CMYK JPEG: inverting only with the marker gave
/// colours 85 levels off on average against Pillow for a file without it), and each channel
/// is (1 - ink) x (1 - black).
/// Without a colour profile this is the naive conversion every viewer without colour
/// management shows; the point is a right-looking photo, not print-exact colour.
enum CMYK {
  /// Interleaved CMYK (4 bytes a pixel) to interleaved RGB.
  static func rgb(_ cmyk: [UInt8], inverted: Bool) -> [UInt8] {
    let n = cmyk.count / 4
    var out = [UInt8](repeating: 0, count: n * 3)
    cmyk.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        for i in 0..<n {
          var c = Int(src[4 * i]), m = Int(src[4 * i + 1]), y = Int(src[4 * i + 2]), k = Int(src[4 * i + 3])
          if inverted { (c, m, y, k) = (255 - c, 255 - m, 255 - y, 255 - k) }
          let nk = 255 - k
          dst[3 * i] = UInt8(nk - mulDiv255(c, nk))
          dst[3 * i + 1] = UInt8(nk - mulDiv255(m, nk))
          dst[3 * i + 2] = UInt8(nk - mulDiv255(y, nk))
        }
      }
    }
    return out
  }

  /// a x b / 255, rounded as Pillow's MULDIV255.
  @inline(__always) static func mulDiv255(_ a: Int, _ b: Int) -> Int {
    let t = a * b + 128
    return (t + (t >> 8)) >> 8
  }
}
