internal import CDxImaging
import Foundation

/// TIFF through libtiff, for histology patches and pyramidal whole-slide images: striped or
/// tiled, any compression the system libtiff decodes, BigTIFF, 8- and 16-bit, gray, RGB, RGBA,
/// palette and YCbCr-JPEG, contiguous or separate planes, multi-page and SubIFD pyramids.
///
/// `readRegion` decodes only the tiles or strips a window touches, so memory follows the
/// window, never the slide. Not thread-safe: open one reader per thread (`reopened()`).
public final class TIFFReader: SlideSource {
  /// One image in the file: a page or a SubIFD (a pyramid level).
  public struct Level: Equatable, Sendable, Codable {
    public var index: Int
    public var width: Int, height: Int
    /// Tile size, or nil for a striped image.
    public var tileWidth: Int?, tileHeight: Int?
    public var rowsPerStrip: Int?
    public var samplesPerPixel: Int
    public var bitsPerSample: Int
    public var photometric: String
    public var compression: String
    public var planarSeparate: Bool
    /// Microns per pixel (x, y): the slide's (vendor metadata, else level 0's resolution tags)
    /// times this level's downsample, when known.
    public var mppX: Double?, mppY: Double?
    /// True for a SubIFD (a reduced-resolution copy of its page).
    public var isSubIFD: Bool
    /// Channels `readRegion` returns (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).
    public var outputChannels: Int
    public var outputBitDepth: Int
    /// `uint`, `int` (signed) or `float` (the SampleFormat tag): only unsigned samples are read.
    public var sampleFormat: String = "uint"

    /// Aperio's 33003 (YCbCr) and 33005 (RGB), or TIFF's 34712: read raw, decoded by OpenJPEG.
    public var isJPEG2000: Bool { compression.hasPrefix("jpeg2000") }

    /// width x height, saturating: a hostile header can claim 4 billion x 4 billion.
    public var pixelCount: Int { saturatingProduct(width, height) }
  }

  public typealias AssociatedImage = DxImaging.AssociatedImage

  public let path: String
  /// The pyramid, largest first (associated images are not levels). Each level's microns per
  /// pixel is level 0's times its downsample.
  public let levels: [Level]
  public let associated: [AssociatedImage]
  /// Where the level-0 resolution came from: `aperio`, `ome`, `philips`, `tiff tags`, or nil.
  public let mppSource: String?
  public let isBigTIFF: Bool
  let limits: ImageLimits
  let handle: OpaquePointer
  /// The pyramid's decoded blocks neighbouring windows share: 16 MB, 85 tiles of 256 x 256 RGB
  /// (more than a row of them across a 20,000-pixel slide), per reader.
  let blockCache = TIFFBlockCache(budget: 16 << 20)
  /// Where each level lives: a page number, or a SubIFD offset.
  private let locations: [(page: Int, subIFD: UInt64?)]
  private let associatedLocations: [(page: Int, subIFD: UInt64?)]

  /// The most pages read of one file.
  static let maxPages = 1_000

  /// The most tile and strip table entries, over all pages, read whole when the file opens.
  static let maxTableEntries = 4_000_000

  /// libtiff's mode for `path`: "r", which reads each page's tile and strip tables whole (and
  /// repairs bad strip byte counts of uncompressed files), unless the pages' tables hold more
  /// than `maxTableEntries` entries in all: then "rO", which reads entries as blocks are read
  /// (1,000 pages sharing one table of 4 million tiles took 86 s to open in "r").
  static func openMode(_ path: String, limits: ImageLimits) -> String {
    var err = [CChar](repeating: 0, count: 512)
    guard let h = dx_tiff_open(path, "rO", UInt64(limits.maxTiffAllocation), &err, err.count) else { return "r" }
    defer { dx_tiff_close(h) }
    let tif = dx_tiff_handle(h)!
    var entries = 0, pages = 0
    repeat {
      entries += Int(TIFFIsTiled(tif) != 0 ? TIFFNumberOfTiles(tif) : TIFFNumberOfStrips(tif))
      pages += 1
      if entries > maxTableEntries { return "rO" }
    } while pages < maxPages && TIFFReadDirectory(tif) == 1
    return "r"
  }

  public init(path: String, limits: ImageLimits = .default) throws {
    self.path = path
    self.limits = limits
    try ImageFormat.checkRegularFile(path)  // libtiff's blocking open would wait forever on a FIFO
    var err = [CChar](repeating: 0, count: 512)
    guard let h = dx_tiff_open(path, Self.openMode(path, limits: limits), UInt64(limits.maxTiffAllocation), &err, err.count) else {
      throw ImageError.corrupt(path: path, reason: String(cString: err))
    }
    handle = h
    let tif = dx_tiff_handle(h)!
    isBigTIFF = TIFFIsBigTIFF(tif) != 0
    var locations: [(Int, UInt64?)] = []
    var page = 0
    // A SubIFD offset that names a page's own directory (or one listed already) is that page
    // again, not a reduced copy: one pointing at its own page was listed as an associated image.
    var pageOffsets = Set<UInt64>()
    repeat {
      pageOffsets.insert(TIFFCurrentDirOffset(tif))
      locations.append((page, nil))
      var count: UInt16 = 0
      var offsets: UnsafePointer<UInt64>? = nil
      if dx_tiff_get_subifds(tif, &count, &offsets) == 0, let offsets {
        for i in 0..<Int(min(count, 64)) { locations.append((page, offsets[i])) }
      }
      page += 1
      // A looping IFD chain, or a file of thousands of directories that each reload a shared
      // million-entry tile table (10,000 of them took minutes): slides have a few dozen.
      if page >= Self.maxPages || locations.count >= 2 * Self.maxPages { break }
    } while TIFFReadDirectory(tif) == 1
    var subIFDs = Set<UInt64>()
    locations = locations.filter { loc in loc.1.map { !pageOffsets.contains($0) && subIFDs.insert($0).inserted } ?? true }
    var kept: [(location: (page: Int, subIFD: UInt64?), level: Level, directory: SlideLayout.Directory)] = []
    for loc in locations {
      guard Self.select(tif, loc), let level = try? Self.describe(tif, index: kept.count, isSubIFD: loc.1 != nil, path: path) else { continue }
      var subfile: UInt32 = 0
      _ = dx_tiff_get_u32(tif, UInt32(TIFFTAG_SUBFILETYPE), &subfile)
      var text: UnsafePointer<CChar>? = nil
      // Level 0's description whole (Aperio's MPP, OME-XML); the others' first 64 KiB, which is
      // all classification reads: 2,500 directories sharing one 4 MB description were 2,500
      // strings of 4 MB.
      var description = ""
      if dx_tiff_get_string(tif, UInt32(TIFFTAG_IMAGEDESCRIPTION), &text) == 0, let text {
        let count = kept.isEmpty ? strlen(text) : strnlen(text, 1 << 16)
        description = String(decoding: UnsafeRawBufferPointer(start: text, count: count), as: UTF8.self)
      }
      let directory = SlideLayout.Directory(width: level.width, height: level.height, tiled: level.tileWidth != nil, isSubIFD: loc.1 != nil, page: loc.0,
                                            subfileType: Int(subfile), description: description)
      kept.append((loc, level, directory))
    }
    guard !kept.isEmpty else {
      dx_tiff_close(h)
      throw ImageError.corrupt(path: path, reason: "no readable image directory")
    }
    // Pyramid levels apart from associated images; one chain of microns per pixel: the vendor's
    // level-0 value (Aperio MPP, OME PhysicalSize), else level 0's resolution tags, times each
    // level's downsample.
    let (pyramid, named) = SlideLayout.classify(kept.map(\.directory))
    let base = kept[0].level
    let vendorMPP = SlideLayout.vendorMPP(kept[0].directory.description)
    let baseMPP: (x: Double, y: Double)? = vendorMPP ?? base.mppX.map { ($0, base.mppY ?? $0) }
    mppSource = vendorMPP != nil ? SlideLayout.vendor(kept[0].directory).rawValue : base.mppX != nil ? "tiff tags" : nil
    self.locations = pyramid.map { kept[$0].location }
    self.levels = pyramid.enumerated().map { position, i in
      var l = kept[i].level
      l.index = position
      l.mppX = baseMPP.map { $0.x * Double(base.width) / Double(l.width) }
      l.mppY = baseMPP.map { $0.y * Double(base.height) / Double(l.height) }
      return l
    }
    self.associatedLocations = named.map { kept[$0.index].location }
    self.associated = named.map { AssociatedImage(name: $0.name, width: kept[$0.index].level.width, height: kept[$0.index].level.height) }
    self.associatedLevels = named.map { kept[$0.index].level }
  }

  /// The associated images' own geometry (strips, compression), for reading them.
  private let associatedLevels: [Level]

  /// An associated image by name (`thumbnail`, `label`, `macro`), whole, within the pixel limit.
  public func readAssociated(_ name: String) throws -> Image {
    guard let i = associated.firstIndex(where: { $0.name == name }) else {
      throw ImageError.outOfBounds(path: path, reason: "no associated image '\(name)' (the file has: \(associated.isEmpty ? "none" : associated.map(\.name).joined(separator: ", ")))")
    }
    let l = associatedLevels[i]
    guard l.pixelCount <= limits.maxPixels else { throw ImageError.tooLarge(path: path, width: l.width, height: l.height, limit: limits.maxPixels) }
    dx_tiff_clear_error(handle)
    guard Self.select(tif, associatedLocations[i]) else { throw ImageError.corrupt(path: path, reason: "cannot select the associated image '\(name)': \(lastError)") }
    return try read(l, x: 0, y: 0, width: l.width, height: l.height)
  }

  deinit { dx_tiff_close(handle) }

  public var backend: String { "tiff" }

  public var pyramid: [SlideLevel] {
    levels.map { SlideLevel(index: $0.index, width: $0.width, height: $0.height, mppX: $0.mppX, mppY: $0.mppY, tileWidth: $0.tileWidth, tileHeight: $0.tileHeight) }
  }

  public func reopened() throws -> any SlideSource { try TIFFReader(path: path, limits: limits) }

  var tif: OpaquePointer { dx_tiff_handle(handle)! }

  static func select(_ tif: OpaquePointer, _ loc: (page: Int, subIFD: UInt64?)) -> Bool {
    if TIFFSetDirectory(tif, UInt32(loc.page)) != 1 { return false }
    if let offset = loc.subIFD { return TIFFSetSubDirectory(tif, offset) == 1 }
    return true
  }

  /// Makes `level` the current directory.
  func select(level: Int) throws {
    dx_tiff_clear_error(handle)
    guard Self.select(tif, locations[level]) else { throw ImageError.corrupt(path: path, reason: "cannot select level \(level): \(lastError)") }
  }

  var lastError: String { String(cString: dx_tiff_error(handle)) }

  static let photometricNames: [UInt16: String] = [0: "miniswhite", 1: "minisblack", 2: "rgb", 3: "palette", 4: "mask", 5: "separated", 6: "ycbcr", 8: "cielab"]
  static let compressionNames: [UInt16: String] = [1: "none", 5: "lzw", 7: "jpeg", 8: "deflate", 32946: "deflate", 32773: "packbits", 34925: "lzma", 50000: "zstd", 50001: "webp", 33003: "jpeg2000-ycbcr", 33005: "jpeg2000", 34712: "jpeg2000", 6: "ojpeg"]

  private static func describe(_ tif: OpaquePointer, index: Int, isSubIFD: Bool, path: String) throws -> Level {
    var w: UInt32 = 0, h: UInt32 = 0
    guard dx_tiff_get_u32(tif, UInt32(TIFFTAG_IMAGEWIDTH), &w) == 0, dx_tiff_get_u32(tif, UInt32(TIFFTAG_IMAGELENGTH), &h) == 0, w > 0, h > 0 else {
      throw ImageError.corrupt(path: path, reason: "directory \(index) has no size")
    }
    var spp: UInt16 = 1, bps: UInt16 = 1, photometric: UInt16 = 1, compression: UInt16 = 1, planar: UInt16 = 1
    _ = dx_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_SAMPLESPERPIXEL), &spp)
    _ = dx_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_BITSPERSAMPLE), &bps)
    if dx_tiff_get_u16(tif, UInt32(TIFFTAG_PHOTOMETRIC), &photometric) != 0 { photometric = spp >= 3 ? 2 : 1 }
    _ = dx_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_COMPRESSION), &compression)
    _ = dx_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_PLANARCONFIG), &planar)
    var tw: UInt32 = 0, th: UInt32 = 0, rps: UInt32 = 0
    let tiled = TIFFIsTiled(tif) != 0
    if tiled {
      _ = dx_tiff_get_u32(tif, UInt32(TIFFTAG_TILEWIDTH), &tw)
      _ = dx_tiff_get_u32(tif, UInt32(TIFFTAG_TILELENGTH), &th)
      guard tw > 0, th > 0 else { throw ImageError.corrupt(path: path, reason: "directory \(index) has a zero tile size") }
    } else {
      if dx_tiff_get_u32(tif, UInt32(TIFFTAG_ROWSPERSTRIP), &rps) != 0 || rps == 0 || rps > h { rps = h }
    }
    // Resolution: the tags (inch or centimetre) only. A vendor's value in the description
    // (Aperio's "MPP = 0.25") is read once, for the whole slide, by SlideLayout.vendorMPP, which
    // refuses what is not a plausible number ("0.5abc", 1e308): a second, looser parse here
    // passed those as "tiff tags".
    var mppX: Double? = nil, mppY: Double? = nil
    var xres: Float = 0, yres: Float = 0, unit: UInt16 = 2
    _ = dx_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_RESOLUTIONUNIT), &unit)
    if dx_tiff_get_float(tif, UInt32(TIFFTAG_XRESOLUTION), &xres) == 0, xres > 0, unit == 2 || unit == 3 {
      let micronsPerUnit = unit == 2 ? 25_400.0 : 10_000.0
      mppX = micronsPerUnit / Double(xres)
      mppY = dx_tiff_get_float(tif, UInt32(TIFFTAG_YRESOLUTION), &yres) == 0 && yres > 0 ? micronsPerUnit / Double(yres) : mppX
      if !SlideLayout.plausibleMPP(mppX!) || !SlideLayout.plausibleMPP(mppY!) { (mppX, mppY) = (nil, nil) }
    }
    var extraCount: UInt16 = 0
    var extraTypes: UnsafePointer<UInt16>? = nil
    _ = dx_tiff_get_extrasamples(tif, &extraCount, &extraTypes)
    let base: Int = (photometric == 2 || photometric == 6 || photometric == 3 || photometric == 8) ? 3 : (photometric == 5 ? 4 : 1)
    let hasAlpha = extraCount > 0 && Int(spp) > (photometric == 3 ? 1 : base)
    let outputChannels = (base == 4 ? 3 : base) + (hasAlpha ? 1 : 0)
    var format: UInt16 = 1
    _ = dx_tiff_get_u16_defaulted(tif, UInt32(TIFFTAG_SAMPLEFORMAT), &format)
    var level = Level(
      index: index, width: Int(w), height: Int(h), tileWidth: tiled ? Int(tw) : nil, tileHeight: tiled ? Int(th) : nil,
      rowsPerStrip: tiled ? nil : Int(rps), samplesPerPixel: Int(spp), bitsPerSample: Int(bps),
      photometric: photometricNames[photometric] ?? "photometric \(photometric)", compression: compressionNames[compression] ?? "compression \(compression)",
      planarSeparate: planar == 2, mppX: mppX, mppY: mppY, isSubIFD: isSubIFD, outputChannels: outputChannels,
      outputBitDepth: bps == 16 ? 16 : 8)
    level.sampleFormat = format == 2 ? "int" : format == 3 ? "float" : format == 1 ? "uint" : "format \(format)"
    return level
  }

  /// The whole of `level`, if it is within the pixel limit.
  public func read(level: Int = 0) throws -> Image {
    let l = try self.level(level)
    guard l.pixelCount <= limits.maxPixels else { throw ImageError.tooLarge(path: path, width: l.width, height: l.height, limit: limits.maxPixels) }
    return try readRegion(level: level, x: 0, y: 0, width: l.width, height: l.height)
  }

  public func level(_ index: Int) throws -> Level {
    guard levels.indices.contains(index) else { throw ImageError.outOfBounds(path: path, reason: "level \(index) does not exist (the file has \(levels.count))") }
    return levels[index]
  }
}

/// `a * b`, or `Int.max` when that overflows.
func saturatingProduct(_ a: Int, _ b: Int) -> Int {
  let (p, overflow) = a.multipliedReportingOverflow(by: b)
  return overflow ? .max : p
}
