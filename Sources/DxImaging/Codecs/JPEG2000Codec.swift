internal import CDxImaging
import Foundation

/// JPEG 2000 codestreams through OpenJPEG: the tiles of Aperio's JPEG 2000 SVS files (33003
/// YCbCr, 33005 RGB) and of TIFF's compression 34712, which libtiff stores but cannot decode.
///
/// Bounded like the other decoders: the codestream's header must describe exactly the tile the
/// TIFF says it is (checked before a sample is decoded), within the pixel limit, and a hostile
/// codestream is an `ImageError`, never a trap.
public enum JPEG2000Codec {
  /// The largest tile decoded (16 megapixels: scanners write 240-1024 pixel tiles).
  public static let maxTilePixels = 16 << 20

  /// Decodes `data` into `buffer` as interleaved 8-bit RGB, `width` x `height`; `source` names
  /// the file and tile in errors.
  static func decode(_ data: ArraySlice<UInt8>, width: Int, height: Int, ycbcr: Bool, maxPixels: Int,
                     into buffer: UnsafeMutableRawBufferPointer, source: String) throws {
    guard width > 0, height > 0, width <= Int(UInt32.max), height <= Int(UInt32.max),
          saturatingProduct(saturatingProduct(width, height), 3) <= buffer.count else {
      throw ImageError.corrupt(path: source, reason: "JPEG 2000 block of \(width) x \(height) does not fit its buffer")
    }
    var err = [CChar](repeating: 0, count: 512)
    let status = data.withUnsafeBufferPointer { d in
      dx_j2k_decode(d.baseAddress, d.count, UInt32(width), UInt32(height), ycbcr ? 1 : 0, UInt64(max(0, min(maxPixels, maxTilePixels))),
                    buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), &err, err.count)
    }
    guard status == 0 else { throw ImageError.corrupt(path: source, reason: String(cString: err)) }
  }

  /// An RGB image as a J2K codestream, as scanners write tiles: `ycbcr` stores Y, Cb, Cr with
  /// chroma halved horizontally when `subsampleChroma` (Aperio 33003), else RGB with the
  /// reversible colour transform (33005). `rate` 0 is lossless, else a compression ratio.
  public static func encode(_ image: Image, ycbcr: Bool = false, subsampleChroma: Bool = false, rate: Int = 0) throws -> [UInt8] {
    let rgb = image.rgb().eightBit()
    guard case .uint8(let px) = rgb.samples else { throw ImageError.unsupported(path: "JPEG 2000 encoder", reason: "8-bit RGB only") }
    var out: UnsafeMutablePointer<UInt8>? = nil
    var size = 0
    var err = [CChar](repeating: 0, count: 512)
    let status = px.withUnsafeBufferPointer {
      dx_j2k_encode($0.baseAddress, UInt32(rgb.width), UInt32(rgb.height), ycbcr ? 1 : 0, ycbcr && subsampleChroma ? 2 : 1, Int32(rate), &out, &size, &err, err.count)
    }
    guard status == 0, let out else { throw ImageError.writeFailed(path: "JPEG 2000 codestream", reason: String(cString: err)) }
    defer { dx_free(out) }
    return Array(UnsafeBufferPointer(start: out, count: size))
  }

  /// Decodes a whole codestream of known size to an RGB image (tests and tools).
  public static func decode(_ data: [UInt8], width: Int, height: Int, ycbcr: Bool, maxPixels: Int = ImageLimits.default.maxPixels, source: String = "JPEG 2000 codestream") throws -> Image {
    guard width > 0, height > 0, saturatingProduct(width, height) <= maxPixels else {
      throw ImageError.tooLarge(path: source, width: width, height: height, limit: maxPixels)
    }
    var px = [UInt8](repeating: 0, count: width * height * 3)
    try px.withUnsafeMutableBytes { try decode(data[...], width: width, height: height, ycbcr: ycbcr, maxPixels: maxPixels, into: $0, source: source) }
    return Image(width: width, height: height, channels: 3, samples: .uint8(px))
  }
}
