import Foundation

/// CMYK to RGB for CMYK and YCCK JPEGs, as Pillow converts them: Adobe's files (an APP14
/// `Adobe` marker) store the inks inverted, and each channel is (1 - ink) x (1 - black).
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

  /// Whether the JPEG's header (the markers before the first scan) holds an APP14 `Adobe`
  /// segment; bounded by the data, never reading past it.
  static func hasAdobeMarker(_ data: Data) -> Bool {
    let b = [UInt8](data.prefix(1 << 20))
    var i = 2
    while i + 4 <= b.count, b[i] == 0xFF {
      let marker = b[i + 1]
      if marker == 0xDA || marker == 0xD9 { return false }  // start of scan, end of image
      if marker == 0xFF { i += 1; continue }  // fill bytes
      let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
      guard length >= 2 else { return false }
      if marker == 0xEE, i + 9 <= b.count, Array(b[(i + 4)..<(i + 9)]) == Array("Adobe".utf8) { return true }
      i += 2 + length
    }
    return false
  }
}
