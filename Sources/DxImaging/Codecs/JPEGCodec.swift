internal import CJPEG
import Foundation

/// JPEG through libjpeg-turbo (most leaf datasets are JPEG), with the EXIF orientation
/// applied, so a phone photo taken in portrait comes out upright.
public enum JPEGCodec {
  /// - Parameter minShortSide: decode in the DCT domain at the smallest of libjpeg-turbo's
  ///   scales (1/8 ... 1) whose short side is still at least this (a 12-megapixel photo for a
  ///   224 px network is decoded at 1/8 or 1/4): far less work than decoding every pixel.
  public static func decode(_ data: Data, path: String, limits: ImageLimits = .default, applyOrientation: Bool = true, minShortSide: Int? = nil) throws -> Image {
    try decode(data, path: path, limits: limits, applyOrientation: applyOrientation, shortSide: minShortSide.map { n in { _, _ in n } })
  }

  /// `decode` with the short side to keep computed from the stored size (training's random
  /// crop needs more of a wide photo than of a square one of the same short side).
  public static func decode(_ data: Data, path: String, limits: ImageLimits = .default, applyOrientation: Bool = true,
                            shortSide: ((_ width: Int, _ height: Int) -> Int?)?) throws -> Image {
    guard let handle = tjInitDecompress() else { throw ImageError.corrupt(path: path, reason: "cannot start the JPEG decoder") }
    defer { tjDestroy(handle) }
    var (width, height, colorspace) = try readHeader(handle, data, path: path)
    let (fullWidth, fullHeight) = (width, height)
    if let minShortSide = shortSide?(Int(width), Int(height)) { (width, height) = scaledSize(width: width, height: height, minShortSide: minShortSide) }
    guard Int(width) * Int(height) <= limits.maxPixels, Int(max(width, height)) <= limits.maxSide,
          Int(fullWidth) * Int(fullHeight) <= limits.maxPixels * 64 else {
      throw ImageError.tooLarge(path: path, width: Int(fullWidth), height: Int(fullHeight), limit: limits.maxPixels)
    }
    // CMYK and YCCK (Adobe, prepress and some scanners) decode as CMYK and are converted to RGB.
    let cmyk = colorspace == TJCS_CMYK.rawValue || colorspace == TJCS_YCCK.rawValue
    let gray = colorspace == TJCS_GRAY.rawValue
    let channels = gray ? 1 : 3
    var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * (cmyk ? 4 : channels))
    let format = gray ? TJPF_GRAY : cmyk ? TJPF_CMYK : TJPF_RGB
    let rc = data.withUnsafeBytes { raw in
      pixels.withUnsafeMutableBufferPointer { out in
        tjDecompress2(handle, raw.bindMemory(to: UInt8.self).baseAddress, UInt(raw.count), out.baseAddress, width, 0, height,
                      format.rawValue, TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS)
      }
    }
    // A warning (extraneous bytes before a marker, common in camera files) still yields the
    // image; a truncated file would be decoded with a grey fill where its data ends, so it is an
    // error, as in Pillow. A fatal error yields nothing.
    if rc != 0 {
      let message = String(cString: tjGetErrorStr2(handle))
      if tjGetErrorCode(handle) == TJERR_FATAL.rawValue {
        if message.contains("precision") || message.contains("color conversion") || message.contains("Unsupported JPEG process") {
          throw ImageError.unsupported(path: path, reason: message)
        }
        // More than libjpeg-turbo's 500 scans (TJFLAG_LIMITSCANS): 10,000 empty scans of a
        // 100 KB progressive file took minutes to decode.
        throw ImageError.corrupt(path: path, reason: message)
      }
      // "Premature end of JPEG file", or "...premature end of data segment" (a header that
      // claims more pixels than the file holds: decoded at 1/8 it still passed as a grey image).
      if message.lowercased().contains("premature end") {
        throw ImageError.corrupt(path: path, reason: "truncated (\(message)): the end of the image is missing")
      }
    }
    if cmyk { pixels = CMYK.rgb(pixels, inverted: true) }
    let image = Image(width: Int(width), height: Int(height), channels: channels, samples: .uint8(pixels))
    guard applyOrientation else { return image }
    return image.oriented(EXIFOrientation.read(data) ?? 1)
  }

  /// Size (as shown: EXIF orientations 5-8 swap the sides) and channels from the header,
  /// without decoding pixels.
  public static func header(_ data: Data, path: String) throws -> (width: Int, height: Int, channels: Int) {
    guard let handle = tjInitDecompress() else { throw ImageError.corrupt(path: path, reason: "cannot start the JPEG decoder") }
    defer { tjDestroy(handle) }
    let (width, height, colorspace) = try readHeader(handle, data, path: path)
    let swapped = (EXIFOrientation.read(data) ?? 1) >= 5
    return (Int(swapped ? height : width), Int(swapped ? width : height), colorspace == TJCS_GRAY.rawValue ? 1 : 3)
  }

  /// The stored size and colour space, or the reason there are none: 12-bit and lossless
  /// JPEGs are unsupported (formats libjpeg-turbo's 8-bit decoder does not read), anything
  /// else corrupt.
  private static func readHeader(_ handle: tjhandle, _ data: Data, path: String) throws -> (width: Int32, height: Int32, colorspace: Int32) {
    var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
    let rc = data.withUnsafeBytes { raw in
      tjDecompressHeader3(handle, raw.bindMemory(to: UInt8.self).baseAddress, UInt(raw.count), &width, &height, &subsampling, &colorspace)
    }
    guard rc == 0 else {
      let message = String(cString: tjGetErrorStr2(handle))
      if message.contains("precision") { throw ImageError.unsupported(path: path, reason: "\(message) (12- or 16-bit JPEG)") }
      if message.contains("Unsupported JPEG process") { throw ImageError.unsupported(path: path, reason: "\(message) (lossless or hierarchical JPEG)") }
      throw ImageError.corrupt(path: path, reason: message)
    }
    guard width > 0, height > 0 else { throw ImageError.corrupt(path: path, reason: "zero size") }
    return (width, height, colorspace)
  }

  /// The smallest scaled size libjpeg-turbo decodes to whose short side is at least
  /// `minShortSide` (the full size when none is that small).
  public static func scaledSize(width: Int32, height: Int32, minShortSide: Int) -> (Int32, Int32) {
    var count: Int32 = 0
    guard let factors = tjGetScalingFactors(&count) else { return (width, height) }
    var best = (width, height)
    for i in 0..<Int(count) {
      let f = factors[i]
      guard f.num > 0, f.denom > 0, f.num <= f.denom else { continue }  // never upscale
      let w = (width * f.num + f.denom - 1) / f.denom, h = (height * f.num + f.denom - 1) / f.denom
      if Int(min(w, h)) >= minShortSide && Int(w) * Int(h) < Int(best.0) * Int(best.1) { best = (w, h) }
    }
    return best
  }
}

/// The EXIF orientation tag (0x0112) from a JPEG's APP1 segment, read without a library.
enum EXIFOrientation {
  /// Walks the markers before the image data (within the first MiB), so an EXIF segment that
  /// ends past 64 KiB (a big embedded thumbnail after a JFIF header) is read too: the walk
  /// once stopped at 64 KiB, and such a portrait photo came out on its side.
  static func read(_ data: Data) -> Int? {
    let b = data.prefix(1 << 20)
    func byte(_ k: Int) -> UInt8 { b[b.startIndex + k] }
    var i = 2
    while i + 4 <= b.count, byte(i) == 0xFF {
      let marker = byte(i + 1)
      let length = Int(byte(i + 2)) << 8 | Int(byte(i + 3))
      if marker == 0xDA || length < 2 { break }  // start of scan: no more metadata
      if marker == 0xE1, i + 2 + length <= b.count, length > 14, (0..<6).map({ byte(i + 4 + $0) }) == [0x45, 0x78, 0x69, 0x66, 0, 0] {
        return orientation(in: [UInt8](b[(b.startIndex + i + 10)..<(b.startIndex + i + 2 + length)]))
      }
      i += 2 + length
    }
    return nil
  }

  /// Walks IFD0 of a TIFF-structured EXIF block.
  static func orientation(in t: [UInt8]) -> Int? {
    guard t.count >= 8 else { return nil }
    let little = t[0] == 0x49
    func u16(_ o: Int) -> Int? { o + 2 <= t.count ? (little ? Int(t[o]) | Int(t[o + 1]) << 8 : Int(t[o]) << 8 | Int(t[o + 1])) : nil }
    func u32(_ o: Int) -> Int? { guard let a = u16(o), let b = u16(o + 2) else { return nil }; return little ? a | b << 16 : a << 16 | b }
    guard let ifd = u32(4), let count = u16(ifd) else { return nil }
    for e in 0..<count {
      let entry = ifd + 2 + 12 * e
      if u16(entry) == 0x0112, let v = u16(entry + 8), (1...8).contains(v) { return v }
    }
    return nil
  }
}

extension Image {
  /// Applies an EXIF orientation (1: as stored; 2-8: mirrored and/or rotated).
  func oriented(_ orientation: Int) -> Image {
    switch orientation {
    case 2: return transformed(width: width, height: height) { x, y in (width - 1 - x, y) }
    case 3: return transformed(width: width, height: height) { x, y in (width - 1 - x, height - 1 - y) }
    case 4: return transformed(width: width, height: height) { x, y in (x, height - 1 - y) }
    case 5: return transformed(width: height, height: width) { x, y in (y, x) }
    case 6: return transformed(width: height, height: width) { x, y in (y, height - 1 - x) }
    case 7: return transformed(width: height, height: width) { x, y in (width - 1 - y, height - 1 - x) }
    case 8: return transformed(width: height, height: width) { x, y in (width - 1 - y, x) }
    default: return self
    }
  }

  /// A new image of the given size whose pixel (x, y) is this image's pixel `source(x, y)`.
  public func transformed(width w: Int, height h: Int, source: (Int, Int) -> (Int, Int)) -> Image {
    func map<T>(_ s: [T]) -> [T] {
      var out = [T]()
      out.reserveCapacity(w * h * channels)
      for y in 0..<h {
        for x in 0..<w {
          let (sx, sy) = source(x, y)
          let base = (sy * width + sx) * channels
          for c in 0..<channels { out.append(s[base + c]) }
        }
      }
      return out
    }
    switch samples {
    case .uint8(let s): return Image(width: w, height: h, channels: channels, samples: .uint8(map(s)))
    case .uint16(let s): return Image(width: w, height: h, channels: channels, samples: .uint16(map(s)))
    }
  }
}
