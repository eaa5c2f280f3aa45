import Foundation

/// Decodes any supported image, choosing the codec by content.
public enum ImageDecoder {
  /// The whole image (for TIFF: the first page, full resolution), within `limits`.
  public static func decode(path: String, limits: ImageLimits = .default) throws -> Image {
    switch try ImageFormat.detect(path: path) {
    case .png: return try PNGCodec.decode(try contents(path), path: path, limits: limits)
    case .jpeg: return try JPEGCodec.decode(try contents(path), path: path, limits: limits)
    case .tiff: return try TIFFReader(path: path, limits: limits).read(level: 0)
    }
  }

  static func contents(_ path: String) throws -> Data {
    do { return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
      throw ImageError.cannotOpen(path: path, reason: (error as NSError).localizedDescription)
    }
  }
}
