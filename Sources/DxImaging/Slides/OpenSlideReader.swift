internal import CDxImaging
import DxTensor
import Foundation

/// Slides through OpenSlide (Debian's libopenslide): the vendor formats EfficientDx's own
/// TIFF reader does not handle, Hamamatsu NDPI and VMS/VMU, MIRAX, Leica SCN, Ventana BIF,
/// Sakura and Philips TIFF. OpenSlide also reads Aperio SVS, which is how the two backends are
/// tested against each other.
///
/// Regions come back as 8-bit RGB: OpenSlide's premultiplied ARGB composited over white, so
/// the areas a scanner did not capture (MIRAX and NDPI gaps) read as empty glass, which tissue
/// detection skips. An OpenSlide error is sticky (the handle reads nothing more), so a failed
/// read reopens the handle, and each reading thread has its own (`reopened()`).
public final class OpenSlideReader: SlideSource {
  public let path: String
  /// OpenSlide's name for the format (`hamamatsu`, `mirax`, `aperio`, `generic-tiff`...).
  public let vendor: String
  public let pyramid: [SlideLevel]
  public let associated: [AssociatedImage]
  public let mppSource: String?
  let limits: ImageLimits
  private var osr: OpaquePointer
  /// Each level's downsample as OpenSlide gives it (level sizes are rounded).
  private let downsamples: [Double]

  public var backend: String { "openslide (\(vendor))" }

  /// The format OpenSlide recognises in `path` by content, or nil.
  public static func vendor(of path: String) -> String? {
    chooseLibrary()
    guard (try? ImageFormat.checkRegularFile(path)) != nil, let v = dx_openslide_detect_vendor(path) else { return nil }
    return String(cString: v)
  }

  public init(path: String, limits: ImageLimits = .default) throws {
    self.path = path
    self.limits = limits
    try ImageFormat.checkRegularFile(path)
    guard let vendor = Self.vendor(of: path) else {
      if let missing = Self.unavailable { throw ImageError.unsupported(path: path, reason: "not a TIFF slide, and \(missing)") }
      throw ImageError.unknownFormat(path: path, reason: "not a slide format OpenSlide \(Self.version) recognises")
    }
    self.vendor = vendor
    guard let osr = dx_openslide_open(path) else {
      throw ImageError.corrupt(path: path, reason: "OpenSlide recognised a \(vendor) slide but cannot open it")
    }
    if let e = dx_openslide_get_error(osr) {
      let reason = String(cString: e)
      dx_openslide_close(osr)
      throw ImageError.corrupt(path: path, reason: "OpenSlide (\(vendor)): \(reason)")
    }
    self.osr = osr
    func property(_ name: String) -> String? { dx_openslide_get_property_value(osr, name).map { String(cString: $0) } }
    // A resolution outside 1 nm to 1 mm a pixel is a broken header, read as none.
    let mppX = property("openslide.mpp-x").flatMap(Double.init).flatMap { SlideLayout.plausibleMPP($0) ? $0 : nil }
    let mppY = property("openslide.mpp-y").flatMap(Double.init).flatMap { SlideLayout.plausibleMPP($0) ? $0 : nil } ?? mppX
    mppSource = mppX != nil ? "openslide.mpp-x" : nil
    var levels: [SlideLevel] = []
    var downsamples: [Double] = []
    let count = max(0, Int(dx_openslide_get_level_count(osr)))
    for i in 0..<min(count, 64) {
      var w: Int64 = 0, h: Int64 = 0
      dx_openslide_get_level_dimensions(osr, Int32(i), &w, &h)
      guard w > 0, h > 0, w <= Int64(Int32.max), h <= Int64(Int32.max) else { break }
      let tileW = property("openslide.level[\(i)].tile-width").flatMap(Int.init)
      let tileH = property("openslide.level[\(i)].tile-height").flatMap(Int.init)
      let d = dx_openslide_get_level_downsample(osr, Int32(i))
      downsamples.append(d.isFinite && d >= 1 ? d : Double(levels.first?.width ?? Int(w)) / Double(w))
      levels.append(SlideLevel(index: i, width: Int(w), height: Int(h), tileWidth: tileW, tileHeight: tileH))
    }
    self.downsamples = downsamples
    guard let base = levels.first else {
      dx_openslide_close(osr)
      throw ImageError.corrupt(path: path, reason: "OpenSlide (\(vendor)): no pyramid level")
    }
    // One MPP chain: level 0's value times each level's downsample, as for TIFF.
    pyramid = levels.map { l in
      var l = l
      l.mppX = mppX.map { $0 * Double(base.width) / Double(l.width) }
      l.mppY = mppY.map { $0 * Double(base.height) / Double(l.height) }
      return l
    }
    var named: [AssociatedImage] = []
    if let names = dx_openslide_get_associated_image_names(osr) {
      var i = 0
      while i < 64, let n = names[i] {
        var w: Int64 = 0, h: Int64 = 0
        dx_openslide_get_associated_image_dimensions(osr, n, &w, &h)
        if w > 0, h > 0, w <= Int64(Int32.max), h <= Int64(Int32.max) { named.append(AssociatedImage(name: String(cString: n), width: Int(w), height: Int(h))) }
        i += 1
      }
    }
    associated = named
  }

  deinit { dx_openslide_close(osr) }

  public static var version: String {
    chooseLibrary()
    return dx_openslide_get_version().map { String(cString: $0) } ?? "?"
  }

  /// Why OpenSlide cannot be used (not installed), or nil. The library is loaded on first use,
  /// not linked, so a process that never opens a vendor slide never loads it.
  public static var unavailable: String? {
    chooseLibrary()
    return dx_openslide_load_error().map { String(cString: $0) }
  }

  /// Hands the library named by `EFFDX_OPENSLIDE_LIBRARY` to the loader before its first load
  /// (every way into OpenSlide passes through `vendor(of:)`, `version` or `unavailable`).
  private static func chooseLibrary() { _ = libraryChosen }
  private static let libraryChosen: Void = {
    if let path = RuntimeEnvironment.current.openSlideLibrary { dx_openslide_use_library(path) }
  }()

  public func reopened() throws -> any SlideSource { try OpenSlideReader(path: path, limits: limits) }

  public func readRegion(level index: Int, x: Int, y: Int, width: Int, height: Int) throws -> Image {
    let l = try slideLevel(index)
    guard width > 0, height > 0, x >= 0, y >= 0, x <= l.width, y <= l.height, width <= l.width - x, height <= l.height - y else {
      throw ImageError.outOfBounds(path: path, reason: "region (\(x), \(y), \(width) x \(height)) is outside level \(index) (\(l.width) x \(l.height))")
    }
    guard saturatingProduct(width, height) <= limits.maxPixels else { throw ImageError.tooLarge(path: path, width: width, height: height, limit: limits.maxPixels) }
    // OpenSlide takes the window's origin in level-0 pixels, by its own downsample.
    let x0 = Int64((Double(x) * downsamples[index]).rounded())
    let y0 = Int64((Double(y) * downsamples[index]).rounded())
    var argb = [UInt32](repeating: 0, count: width * height)
    argb.withUnsafeMutableBufferPointer { dx_openslide_read_region(osr, $0.baseAddress, x0, y0, Int32(index), Int64(width), Int64(height)) }
    try checkError("region (\(x), \(y), \(width) x \(height)) of level \(index)")
    return Self.rgbOverWhite(argb, width: width, height: height)
  }

  public func readAssociated(_ name: String) throws -> Image {
    guard let a = associated.first(where: { $0.name == name }) else {
      throw ImageError.outOfBounds(path: path, reason: "no associated image '\(name)' (the file has: \(associated.isEmpty ? "none" : associated.map(\.name).joined(separator: ", ")))")
    }
    guard saturatingProduct(a.width, a.height) <= limits.maxPixels else { throw ImageError.tooLarge(path: path, width: a.width, height: a.height, limit: limits.maxPixels) }
    var argb = [UInt32](repeating: 0, count: a.width * a.height)
    argb.withUnsafeMutableBufferPointer { dx_openslide_read_associated_image(osr, name, $0.baseAddress) }
    try checkError("associated image '\(name)'")
    return Self.rgbOverWhite(argb, width: a.width, height: a.height)
  }

  /// OpenSlide's errors are sticky: once set, the handle reads nothing more, so it is
  /// replaced by a fresh one (the next tile reads) before the error is reported.
  private func checkError(_ what: String) throws {
    guard let e = dx_openslide_get_error(osr) else { return }
    let reason = "\(what): OpenSlide (\(vendor)): \(String(cString: e))"
    if let fresh = dx_openslide_open(path) {
      if dx_openslide_get_error(fresh) == nil {
        dx_openslide_close(osr)
        osr = fresh
      } else {
        dx_openslide_close(fresh)
      }
    }
    throw ImageError.corrupt(path: path, reason: reason)
  }

  /// Premultiplied ARGB over white: each channel plus the white the missing alpha lets through.
  static func rgbOverWhite(_ argb: [UInt32], width: Int, height: Int) -> Image {
    var px = [UInt8](repeating: 0, count: width * height * 3)
    for (i, p) in argb.enumerated() {
      let white = 255 - Int(p >> 24)
      px[3 * i] = UInt8(min(255, Int((p >> 16) & 0xFF) + white))
      px[3 * i + 1] = UInt8(min(255, Int((p >> 8) & 0xFF) + white))
      px[3 * i + 2] = UInt8(min(255, Int(p & 0xFF) + white))
    }
    return Image(width: width, height: height, channels: 3, samples: .uint8(px))
  }
}
