internal import CDxImaging
import Foundation

/// PNG through libpng: every colour type and bit depth, palettes with tRNS, Adam7 interlacing,
/// 16-bit samples kept; and lossless writing for tiles, heatmaps and thumbnails.
public enum PNGCodec {
  /// Decodes a whole PNG. Palette images expand to RGB (RGBA with tRNS), low-bit gray to 8 bits.
  public static func decode(_ data: Data, path: String, limits: ImageLimits = .default) throws -> Image {
    var info = dx_png_info()
    var pixels: UnsafeMutablePointer<UInt8>? = nil
    var err = [CChar](repeating: 0, count: 256)
    let rc = data.withUnsafeBytes { raw in
      dx_png_decode(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, UInt32(clamping: limits.maxSide), UInt64(limits.maxPixels), &info, &pixels, &err, err.count)
    }
    guard rc == 0, let pixels else {
      let reason = String(cString: err)
      if reason.contains("exceeds the limit") || reason.contains("Image width exceeds user limit") || reason.contains("Image height exceeds user limit") {
        let header = try? Self.header(data, path: path)
        throw ImageError.tooLarge(path: path, width: header?.width ?? 0, height: header?.height ?? 0, limit: limits.maxPixels)
      }
      throw ImageError.corrupt(path: path, reason: reason.isEmpty ? "libpng failed" : reason)
    }
    defer { dx_free(pixels) }
    let count = Int(info.width) * Int(info.height) * Int(info.channels)
    let samples: Image.Samples
    if info.bit_depth == 16 {
      samples = .uint16(Array(UnsafeBufferPointer(start: UnsafeRawPointer(pixels).assumingMemoryBound(to: UInt16.self), count: count)))
    } else {
      samples = .uint8(Array(UnsafeBufferPointer(start: pixels, count: count)))
    }
    return Image(width: Int(info.width), height: Int(info.height), channels: Int(info.channels), samples: samples)
  }

  /// Size, channels and bit depth (as `decode` gives them: `bitDepth` 8 or 16) from the
  /// header, without decoding pixels.
  public static func header(_ data: Data, path: String) throws -> (width: Int, height: Int, channels: Int, bitDepth: Int, interlaced: Bool) {
    var info = dx_png_info()
    var err = [CChar](repeating: 0, count: 256)
    let rc = data.withUnsafeBytes { raw in dx_png_info_only(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, &info, &err, err.count) }
    guard rc == 0 else { throw ImageError.corrupt(path: path, reason: String(cString: err)) }
    return (Int(info.width), Int(info.height), Int(info.channels), Int(info.bit_depth), info.interlaced != 0)
  }

  /// Encodes losslessly at the image's bit depth.
  public static func encode(_ image: Image, level: Int = 6) throws -> Data {
    var out: UnsafeMutablePointer<UInt8>? = nil
    var size = 0
    var err = [CChar](repeating: 0, count: 256)
    let rc: Int32
    switch image.samples {
    case .uint8(let s):
      rc = s.withUnsafeBufferPointer { dx_png_encode($0.baseAddress, UInt32(image.width), UInt32(image.height), Int32(image.channels), 8, Int32(level), &out, &size, &err, err.count) }
    case .uint16(let s):
      rc = s.withUnsafeBytes { dx_png_encode($0.bindMemory(to: UInt8.self).baseAddress, UInt32(image.width), UInt32(image.height), Int32(image.channels), 16, Int32(level), &out, &size, &err, err.count) }
    }
    guard rc == 0, let out else { throw ImageError.writeFailed(path: "<png>", reason: String(cString: err)) }
    defer { dx_free(out) }
    return Data(bytes: out, count: size)
  }

  /// Writes `image` to `path` atomically (temporary file, then rename).
  public static func write(_ image: Image, to path: String, level: Int = 6) throws {
    let data: Data
    do { data = try encode(image, level: level) } catch ImageError.writeFailed(_, let reason) {
      throw ImageError.writeFailed(path: path, reason: reason)
    }
    try writeAtomically(data, to: path)
  }
}

/// Writes `data` beside `path` and renames it into place.
func writeAtomically(_ data: Data, to path: String) throws {
  let url = URL(fileURLWithPath: path)
  let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
  do {
    try data.write(to: temp)
  } catch {
    // The system's reason ("No such file or directory" for /proc) rather than Foundation's
    // "The file doesn't exist", which reads as if the output should have existed already.
    let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
    let reason = underlying?.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32(underlying!.code))) : (error as NSError).localizedDescription
    throw ImageError.writeFailed(path: path, reason: "cannot create a file in \(temp.deletingLastPathComponent().path): \(reason)")
  }
  guard rename(temp.path, url.path) == 0 else {
    let reason = String(cString: strerror(errno))
    try? FileManager.default.removeItem(at: temp)
    throw ImageError.writeFailed(path: path, reason: reason)
  }
}
