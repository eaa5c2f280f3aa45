import Foundation

/// Decodes any supported image, choosing the codec by content.
public enum ImageDecoder {
  /// The whole image (for TIFF: the first page, full resolution), within `limits`.
  /// - Parameter minShortSide: a JPEG may be decoded smaller (in the DCT domain) as long as its
  ///   short side stays at least this; other formats decode whole.
  public static func decode(path: String, limits: ImageLimits = .default, minShortSide: Int? = nil) throws -> Image {
    try decode(path: path, limits: limits, shortSide: minShortSide.map { n in { _, _ in n } })
  }

  /// `decode` with a JPEG's short side to keep computed from its stored width and height (nil:
  /// decode it whole).
  public static func decode(path: String, limits: ImageLimits = .default, shortSide: ((_ width: Int, _ height: Int) -> Int?)?) throws -> Image {
    switch try ImageFormat.detect(path: path) {
    case .png: return try PNGCodec.decode(try contents(path), path: path, limits: limits)
    case .jpeg: return try JPEGCodec.decode(try contents(path), path: path, limits: limits, shortSide: shortSide)
    case .tiff: return try TIFFReader(path: path, limits: limits).read(level: 0)
    }
  }

  /// The file's bytes, mapped (checked a regular file first by `ImageFormat.detect`).
  public static func contents(_ path: String) throws -> Data {
    do { return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
      throw ImageError.cannotOpen(path: path, reason: (error as NSError).localizedDescription)
    }
  }
}
