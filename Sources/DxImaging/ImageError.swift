/// Why an image could not be read or written. Every case names the file and the reason, so a
/// batch run can list it and go on.
public enum ImageError: Error, CustomStringConvertible, Equatable, Sendable, Codable {
  case cannotOpen(path: String, reason: String)
  case unknownFormat(path: String, reason: String)
  case corrupt(path: String, reason: String)
  case tooLarge(path: String, width: Int, height: Int, limit: Int)
  case unsupported(path: String, reason: String)
  case outOfBounds(path: String, reason: String)
  case writeFailed(path: String, reason: String)

  public var description: String {
    switch self {
    case .cannotOpen(let p, let r): return "\(p): cannot open: \(r)"
    case .unknownFormat(let p, let r): return "\(p): not a supported image: \(r)"
    case .corrupt(let p, let r): return "\(p): corrupt or truncated: \(r)"
    case .tooLarge(let p, let w, let h, let limit):
      return "\(p): \(w) x \(h) pixels exceeds the \(limit)-pixel limit for whole-image decoding (read a region or a lower level, or raise the limit)"
    case .unsupported(let p, let r): return "\(p): unsupported: \(r)"
    case .outOfBounds(let p, let r): return "\(p): \(r)"
    case .writeFailed(let p, let r): return "\(p): cannot write: \(r)"
    }
  }

  /// The file the error is about.
  public var path: String {
    switch self {
    case .cannotOpen(let p, _), .unknownFormat(let p, _), .corrupt(let p, _), .unsupported(let p, _), .outOfBounds(let p, _), .writeFailed(let p, _):
      return p
    case .tooLarge(let p, _, _, _): return p
    }
  }
}

/// Limits checked before any pixel buffer is allocated.
public struct ImageLimits: Sendable, Equatable {
  /// Largest image decoded whole: Pillow's decompression-bomb error threshold (2 x 89,478,485),
  /// about 13,400 x 13,400. Region reads of slides are bounded by the region instead.
  public var maxPixels: Int
  /// Largest side accepted at all (libpng's user limit; slides are read by region).
  public var maxSide: Int
  /// Largest single allocation libtiff may make while decoding a strip or tile.
  public var maxTiffAllocation: Int

  public init(maxPixels: Int = 178_956_970, maxSide: Int = 1 << 20, maxTiffAllocation: Int = 512 << 20) {
    self.maxPixels = maxPixels
    self.maxSide = maxSide
    self.maxTiffAllocation = maxTiffAllocation
  }

  public static let `default` = ImageLimits()
}
