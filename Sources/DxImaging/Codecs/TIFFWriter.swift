internal import CDxImaging
import Foundation

/// Writes tiled, pyramidal TIFFs (pages: full resolution first, then each reduced level), the
/// layout of whole-slide scanners, and with `write(pages:)` any vendor's page order (Aperio's
/// thumbnail after level 0, label and macro at the end, descriptions per page). Tiles come from
/// a closure, so a slide far larger than memory can be written tile by tile. Used for samples
/// and for tests of the slide workflow.
public enum TIFFWriter {
  public enum Compression: Sendable, Equatable {
    case none, lzw, deflate
    /// JPEG in YCbCr, as scanners store slides; quality 1-100.
    case jpeg(quality: Int)
    /// JPEG 2000 tiles as Aperio writes them: compression 33003 (`ycbcr`, chroma halved
    /// horizontally) or 33005 (RGB); `rate` 0 is lossless, else a compression ratio.
    case jpeg2000(ycbcr: Bool, rate: Int)
  }

  /// One page of a file: a tiled pyramid level, or a stripped image beside the pyramid (a
  /// thumbnail, label or macro), with its ImageDescription and NewSubfileType.
  public enum Page {
    case level(Level, description: String? = nil)
    case stripped(Image, description: String? = nil, subfileType: UInt32 = 0)
  }

  /// One pyramid level: its size and a source for any tile of it (RGB, 8-bit).
  public struct Level {
    public var width: Int, height: Int
    public var tile: (_ x: Int, _ y: Int, _ width: Int, _ height: Int) -> Image

    public init(width: Int, height: Int, tile: @escaping (Int, Int, Int, Int) -> Image) {
      self.width = width
      self.height = height
      self.tile = tile
    }
  }

  /// Writes `levels` to `path` atomically. `mpp` is the level-0 resolution; each level's is
  /// scaled by its size ratio.
  public static func write(levels: [Level], to path: String, tileSize: Int = 256, compression: Compression = .jpeg(quality: 90), mpp: Double? = nil, bigTIFF: Bool = false) throws {
    try write(pages: levels.map { .level($0) }, to: path, tileSize: tileSize, compression: compression, mpp: mpp, bigTIFF: bigTIFF)
  }

  /// Writes `pages` in order; the first must be a level (level 0), whose size scales `mpp` for
  /// the others.
  public static func write(pages: [Page], to path: String, tileSize: Int = 256, compression: Compression = .jpeg(quality: 90), mpp: Double? = nil, bigTIFF: Bool = false) throws {
    guard case .level(let base, _)? = pages.first else { preconditionFailure("the first page is level 0") }
    precondition(tileSize % 16 == 0, "a tile size that is a multiple of 16")
    let url = URL(fileURLWithPath: path)
    let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
    var err = [CChar](repeating: 0, count: 512)
    guard let h = dx_tiff_open(temp, bigTIFF ? "w8" : "w", UInt64(1) << 30, &err, err.count) else {
      throw ImageError.writeFailed(path: path, reason: String(cString: err))
    }
    var closed = false
    defer { if !closed { dx_tiff_close(h); unlink(temp) } }
    let tif = dx_tiff_handle(h)!
    func fail(_ what: String) -> ImageError { ImageError.writeFailed(path: path, reason: "\(what): \(String(cString: dx_tiff_error(h)))") }
    for (index, page) in pages.enumerated() {
      let level: Level, description: String?
      switch page {
      case .level(let l, let d):
        (level, description) = (l, d)
      case .stripped(let image, let d, let subfile):
        try writeStripped(image, description: d, subfileType: subfile, tif: tif, fail: fail)
        guard TIFFWriteDirectory(tif) == 1 else { throw fail("directory \(index)") }
        continue
      }
      let tags: [(UInt32, UInt32)] = [(UInt32(TIFFTAG_IMAGEWIDTH), UInt32(level.width)), (UInt32(TIFFTAG_IMAGELENGTH), UInt32(level.height)),
                                      (UInt32(TIFFTAG_TILEWIDTH), UInt32(tileSize)), (UInt32(TIFFTAG_TILELENGTH), UInt32(tileSize)),
                                      (UInt32(TIFFTAG_SUBFILETYPE), index == 0 ? 0 : UInt32(FILETYPE_REDUCEDIMAGE))]
      for (tag, value) in tags { guard dx_tiff_set_u32(tif, tag, value) == 0 else { throw fail("tag \(tag)") } }
      if let description { _ = dx_tiff_set_string(tif, UInt32(TIFFTAG_IMAGEDESCRIPTION), description) }
      _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_SAMPLESPERPIXEL), 3)
      _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_BITSPERSAMPLE), 8)
      _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_PLANARCONFIG), UInt16(PLANARCONFIG_CONTIG))
      switch compression {
      case .none:
        _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_COMPRESSION), UInt16(COMPRESSION_NONE))
        _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_PHOTOMETRIC), UInt16(PHOTOMETRIC_RGB))
      case .lzw, .deflate:
        _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_COMPRESSION), UInt16(compression == .lzw ? COMPRESSION_LZW : COMPRESSION_ADOBE_DEFLATE))
        _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_PHOTOMETRIC), UInt16(PHOTOMETRIC_RGB))
        _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_PREDICTOR), UInt16(PREDICTOR_HORIZONTAL))
      case .jpeg(let quality):
        _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_COMPRESSION), UInt16(COMPRESSION_JPEG))
        _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_PHOTOMETRIC), UInt16(PHOTOMETRIC_YCBCR))
        _ = dx_tiff_set_u32(tif, UInt32(TIFFTAG_JPEGQUALITY), UInt32(max(1, min(100, quality))))
        _ = dx_tiff_set_u32(tif, UInt32(TIFFTAG_JPEGCOLORMODE), UInt32(JPEGCOLORMODE_RGB))
      case .jpeg2000(let ycbcr, _):
        // libtiff keeps a scheme it has no codec for; the tiles are written raw below.
        _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_COMPRESSION), ycbcr ? 33003 : 33005)
        _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_PHOTOMETRIC), UInt16(PHOTOMETRIC_RGB))
      }
      if let mpp {
        let levelMPP = mpp * Double(base.width) / Double(level.width)
        _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_RESOLUTIONUNIT), UInt16(RESUNIT_CENTIMETER))
        _ = dx_tiff_set_float(tif, UInt32(TIFFTAG_XRESOLUTION), Float(10_000 / levelMPP))
        _ = dx_tiff_set_float(tif, UInt32(TIFFTAG_YRESOLUTION), Float(10_000 / levelMPP))
      }
      var buffer = [UInt8](repeating: 0, count: tileSize * tileSize * 3)
      for ty in stride(from: 0, to: level.height, by: tileSize) {
        for tx in stride(from: 0, to: level.width, by: tileSize) {
          let w = min(tileSize, level.width - tx), hh = min(tileSize, level.height - ty)
          let image = level.tile(tx, ty, w, hh).rgb().eightBit()
          precondition(image.width == w && image.height == hh, "tile source returned \(image.width) x \(image.height) for \(w) x \(hh)")
          guard case .uint8(let px) = image.samples else { continue }
          buffer.withUnsafeMutableBytes { dst in
            px.withUnsafeBytes { src in
              if w < tileSize || hh < tileSize { memset(dst.baseAddress!, 0, dst.count) }
              for row in 0..<hh { memcpy(dst.baseAddress! + row * tileSize * 3, src.baseAddress! + row * w * 3, w * 3) }
            }
          }
          let tileIndex = TIFFComputeTile(tif, UInt32(tx), UInt32(ty), 0, 0)
          let n: tmsize_t
          if case .jpeg2000(let ycbcr, let rate) = compression {
            var codestream = try JPEG2000Codec.encode(Image(width: tileSize, height: tileSize, channels: 3, samples: .uint8(buffer)), ycbcr: ycbcr, subsampleChroma: ycbcr, rate: rate)
            n = codestream.withUnsafeMutableBytes { TIFFWriteRawTile(tif, tileIndex, $0.baseAddress, tmsize_t($0.count)) }
          } else {
            n = buffer.withUnsafeMutableBytes { TIFFWriteEncodedTile(tif, tileIndex, $0.baseAddress, tmsize_t($0.count)) }
          }
          guard n >= 0 else { throw fail("tile (\(tx), \(ty)) of level \(index)") }
        }
      }
      guard TIFFWriteDirectory(tif) == 1 else { throw fail("directory \(index)") }
    }
    dx_tiff_close(h)
    closed = true
    guard rename(temp, path) == 0 else {
      unlink(temp)
      throw ImageError.writeFailed(path: path, reason: String(cString: strerror(errno)))
    }
  }

  /// A stripped, deflate-compressed RGB page (how the tests write associated images; scanners
  /// use JPEG or LZW, which the reader treats alike).
  private static func writeStripped(_ image: Image, description: String?, subfileType: UInt32, tif: OpaquePointer, fail: (String) -> ImageError) throws {
    let rgb = image.rgb().eightBit()
    guard case .uint8(var px) = rgb.samples else { throw fail("an associated image that is not 8-bit") }
    _ = dx_tiff_set_u32(tif, UInt32(TIFFTAG_IMAGEWIDTH), UInt32(rgb.width))
    _ = dx_tiff_set_u32(tif, UInt32(TIFFTAG_IMAGELENGTH), UInt32(rgb.height))
    _ = dx_tiff_set_u32(tif, UInt32(TIFFTAG_ROWSPERSTRIP), 16)
    _ = dx_tiff_set_u32(tif, UInt32(TIFFTAG_SUBFILETYPE), subfileType)
    _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_SAMPLESPERPIXEL), 3)
    _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_BITSPERSAMPLE), 8)
    _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_PLANARCONFIG), UInt16(PLANARCONFIG_CONTIG))
    _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_COMPRESSION), UInt16(COMPRESSION_ADOBE_DEFLATE))
    _ = dx_tiff_set_u16(tif, UInt32(TIFFTAG_PHOTOMETRIC), UInt16(PHOTOMETRIC_RGB))
    if let description { _ = dx_tiff_set_string(tif, UInt32(TIFFTAG_IMAGEDESCRIPTION), description) }
    let rowBytes = rgb.width * 3
    for (strip, row) in stride(from: 0, to: rgb.height, by: 16).enumerated() {
      let rows = min(16, rgb.height - row)
      let n = px.withUnsafeMutableBytes { TIFFWriteEncodedStrip(tif, UInt32(strip), $0.baseAddress! + row * rowBytes, tmsize_t(rows * rowBytes)) }
      guard n >= 0 else { throw fail("strip \(strip)") }
    }
  }
}
