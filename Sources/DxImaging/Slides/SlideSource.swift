import Foundation

/// A whole-slide image as tiling and diagnosis see it, whichever library reads it: a pyramid
/// of levels (largest first), the images stored beside it, and microns per pixel. Two backends
/// conform: `TIFFReader` (EfficientDx's own, for Aperio SVS, OME-TIFF and generic pyramidal
/// TIFF, JPEG 2000 included) and `OpenSlideReader` (the vendor formats); `SlideOpener` picks
/// one by the file's content.
public protocol SlideSource: AnyObject {
  var path: String { get }
  /// Which library reads the file and what it found: `tiff`, or `openslide (hamamatsu)`.
  var backend: String { get }
  /// The pyramid, largest first; associated images are not levels.
  var pyramid: [SlideLevel] { get }
  var associated: [AssociatedImage] { get }
  /// Where level 0's microns per pixel came from (`aperio`, `ome`, `philips`, `tiff tags`,
  /// `openslide.mpp-x`), or nil when the slide records none.
  var mppSource: String? { get }
  /// 8-bit RGB (or the level's own channels for TIFF) of a window of `level`.
  func readRegion(level: Int, x: Int, y: Int, width: Int, height: Int) throws -> Image
  func readAssociated(_ name: String) throws -> Image
  /// A source for another thread: a new handle where the library's is not thread-safe.
  func reopened() throws -> any SlideSource
}

/// One pyramid level: its size, microns per pixel (level 0's times its downsample) and tiles.
public struct SlideLevel: Equatable, Sendable, Codable {
  public var index: Int
  public var width: Int, height: Int
  public var mppX: Double?, mppY: Double?

  /// Whether pixels of `x` by `y` microns are not square (more than 1% apart): a level chosen
  /// by microns per pixel would be right along one axis only.
  public static func nonSquare(_ x: Double, _ y: Double) -> Bool { abs(x - y) > 0.01 * max(x, y) }
  /// The stored tile size, when the level is tiled and the backend says.
  public var tileWidth: Int?, tileHeight: Int?

  public init(index: Int, width: Int, height: Int, mppX: Double? = nil, mppY: Double? = nil, tileWidth: Int? = nil, tileHeight: Int? = nil) {
    self.index = index
    self.width = width
    self.height = height
    self.mppX = mppX
    self.mppY = mppY
    self.tileWidth = tileWidth
    self.tileHeight = tileHeight
  }

  /// width x height, saturating: a hostile header can claim 4 billion x 4 billion.
  public var pixelCount: Int { saturatingProduct(width, height) }
}

/// An image stored beside the pyramid: the scanner's thumbnail, the slide label, the macro
/// photograph of the whole glass.
public struct AssociatedImage: Equatable, Sendable, Codable {
  public var name: String
  public var width: Int, height: Int

  public init(name: String, width: Int, height: Int) {
    self.name = name
    self.width = width
    self.height = height
  }
}

extension SlideSource {
  /// Level `index`, or an error naming how many the slide has.
  public func slideLevel(_ index: Int) throws -> SlideLevel {
    guard pyramid.indices.contains(index) else { throw ImageError.outOfBounds(path: path, reason: "level \(index) does not exist (the slide has \(pyramid.count))") }
    return pyramid[index]
  }

  /// The whole of `level`, if it is within `maxPixels`.
  public func read(level index: Int, maxPixels: Int) throws -> Image {
    let l = try slideLevel(index)
    guard l.pixelCount <= maxPixels else { throw ImageError.tooLarge(path: path, width: l.width, height: l.height, limit: maxPixels) }
    return try readRegion(level: index, x: 0, y: 0, width: l.width, height: l.height)
  }
}
