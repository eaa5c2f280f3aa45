import DxCSV
import Foundation

/// Cuts a slide into tiles: picks the level (by index or target microns per pixel), finds tissue
/// on a thumbnail, keeps tiles with enough tissue, and writes them as PNG with a CSV of their
/// coordinates, plus a thumbnail with the tissue mask drawn. Reads one tile at a time, so memory
/// stays flat whatever the slide's size.
public struct SlideTiler {
  public var tileSize = 256
  public var overlap = 0
  /// Read this level; ignored when `targetMPP` is set.
  public var level = 0
  /// Produce tiles at this resolution (microns per pixel), reading the closest finer level.
  public var targetMPP: Double? = nil
  /// Skip tiles whose tissue fraction is below this.
  public var minTissue = 0.5
  /// Level 0's microns per pixel when the slide records none (or records a wrong one): each
  /// level's is this times its downsample.
  public var baseMPP: Double? = nil
  public var detector = TissueDetector()
  /// The most tiles one slide is cut into.
  public static let maxTiles = 4_000_000
  /// How many tiles may cover one pixel, on average (an overlap of 7/8 of a tile is 64).
  public static let maxReadsPerPixel = 64.0

  public init(tileSize: Int = 256, overlap: Int = 0, level: Int = 0, targetMPP: Double? = nil, minTissue: Double = 0.5) {
    self.tileSize = tileSize
    self.overlap = overlap
    self.level = level
    self.targetMPP = targetMPP
    self.minTissue = minTissue
  }

  /// One written tile.
  public struct Record: Equatable, Sendable {
    public var file: String
    public var level: Int
    public var x: Int, y: Int, width: Int, height: Int
    /// The tile's rectangle in level-0 pixels.
    public var x0: Int, y0: Int, width0: Int, height0: Int
    public var mpp: Double?
    public var tissue: Double
  }

  public struct Summary: Sendable {
    public var level: Int
    public var readSize: Int
    public var candidates: Int
    public var records: [Record]
    public var thumbnail: String
    public var tissueFraction: Double
    /// Tiles that could not be read (a corrupt tile): left out, the rest written.
    public var failed: [(record: Record, error: Error)] = []
  }

  /// A slide's tiles before any pixel is read: the level chosen, the tissue mask, and the tiles
  /// with enough tissue. `read` decodes one tile at a time, so a caller streams them (diagnosis
  /// classifies them in memory; `run` writes them as PNG).
  public struct Plan {
    public let reader: any SlideSource
    public let level: Int
    /// Pixels read per tile at `level` (more than `tileSize` when a finer level is resampled).
    public let readSize: Int
    public let tileSize: Int
    public let candidates: Int
    public let thumbnail: (image: Image, downsampleX: Double, downsampleY: Double, level: Int)
    public let mask: TissueDetector.Mask
    /// Kept tiles, `file` empty until written.
    public let records: [Record]

    /// The pixels of one kept tile, resized to `tileSize` when read from a finer level;
    /// `source` is the plan's reader or another handle of the same slide (`reopened()`), one
    /// per thread.
    public func read(_ r: Record, from source: (any SlideSource)? = nil) throws -> Image {
      var image = try (source ?? reader).readRegion(level: level, x: r.x, y: r.y, width: r.width, height: r.height)
      if image.width != tileSize || image.height != tileSize { image = image.resized(width: tileSize, height: tileSize, filter: .area) }
      return image
    }
  }

  /// Chooses the level, detects tissue and lists the tiles to read.
  public func plan(slide: String, limits: ImageLimits = .default) throws -> Plan {
    let reader = try SlideOpener.open(slide, limits: limits)
    var levelIndex = level
    var readSize = tileSize
    if let targetMPP {
      let base = reader.pyramid[0]
      // Non-square pixels (X and Y resolutions that differ): a level chosen by X alone was
      // cut at the wrong scale along Y in silence.
      if baseMPP == nil, let x = base.mppX, let y = base.mppY, SlideLevel.nonSquare(x, y) {
        throw ImageError.unsupported(path: slide, reason: String(format: "its pixels are not square (%.4f um/px across, %.4f down): a level chosen by microns per pixel would be right along one axis only; choose a level (--level)", x, y))
      }
      let mpps = reader.pyramid.map { l in (baseMPP.map { $0 * Double(base.width) / Double(l.width) }) ?? l.mppX ?? .infinity }
      guard mpps[0].isFinite, let pick = TileGrid.levelFor(targetMPP: targetMPP, levelMPPs: mpps, tileSize: tileSize) else {
        throw ImageError.unsupported(path: slide, reason: Self.noLevelReason(targetMPP: targetMPP, levelMPPs: mpps, tileSize: tileSize))
      }
      (levelIndex, readSize) = pick
    }
    let l = try reader.slideLevel(levelIndex)
    let scaleX = Double(reader.pyramid[0].width) / Double(l.width), scaleY = Double(reader.pyramid[0].height) / Double(l.height)
    let grid = TileGrid(levelWidth: l.width, levelHeight: l.height, tileSize: readSize, overlap: Int((Double(overlap) * Double(readSize) / Double(tileSize)).rounded()))
    // A hostile header can claim a level of 2^31 x 2^31 pixels: the list is bounded first, before
    // the thumbnail reads anything (4 million tiles is a 450,000-pixel-square slide at 224 px).
    guard grid.count <= Self.maxTiles else {
      throw ImageError.unsupported(path: slide, reason: "level \(levelIndex) (\(l.width) x \(l.height)) cut into \(readSize)-pixel tiles makes \(grid.count) tiles, more than \(Self.maxTiles): a broken header, or tile a lower level (--level, --mpp)")
    }
    // Each pixel read at most 64 times over: an overlap of 15 on 16-pixel tiles read each 241
    // times (a million tiles of a 1024-pixel slide, minutes of PNGs).
    let reads = Double(grid.count) * Double(readSize) * Double(readSize) / max(Double(l.width) * Double(l.height), Double(readSize) * Double(readSize))
    guard reads <= Self.maxReadsPerPixel else {
      throw ImageError.unsupported(path: slide, reason: String(format: "an overlap of %d on %d-pixel tiles reads each pixel about %.0f times (%d tiles), more than %.0f: choose a smaller overlap", overlap, tileSize, reads, grid.count, Self.maxReadsPerPixel))
    }
    let thumb = try SlideThumbnail.make(reader)
    let mask = detector.detect(thumb.image)
    let tiles = grid.tiles
    var records: [Record] = []
    for t in tiles {
      let x0 = Int(Double(t.x) * scaleX), y0 = Int(Double(t.y) * scaleY)
      let tissue = mask.fraction(x: Int(Double(x0) / thumb.downsampleX), y: Int(Double(y0) / thumb.downsampleY),
                                 width: max(1, Int((Double(t.width) * scaleX / thumb.downsampleX).rounded())), height: max(1, Int((Double(t.height) * scaleY / thumb.downsampleY).rounded())))
      guard tissue >= minTissue else { continue }
      records.append(Record(file: "", level: levelIndex, x: t.x, y: t.y, width: t.width, height: t.height, x0: x0, y0: y0,
                            width0: Int((Double(t.width) * scaleX).rounded()), height0: Int((Double(t.height) * scaleY).rounded()),
                            mpp: targetMPP ?? l.mppX, tissue: tissue))
    }
    return Plan(reader: reader, level: levelIndex, readSize: readSize, tileSize: tileSize, candidates: tiles.count, thumbnail: thumb, mask: mask, records: records)
  }

  /// Why no level serves `targetMPP`: no resolution recorded, every level coarser than asked,
  /// or a tile that would need more than TileGrid's read limit of the finest fitting level
  /// (a resolution off by orders of magnitude, in the slide or in the flags).
  static func noLevelReason(targetMPP: Double, levelMPPs mpps: [Double], tileSize: Int) -> String {
    guard let finest = mpps.min(), mpps[0].isFinite else {
      return "no microns per pixel recorded in the slide, so \(targetMPP) um/px cannot be found: give --base-mpp X (its level-0 resolution) or --level N (tile a level as it is)"
    }
    guard finest <= targetMPP * 1.0001 else {
      return "no level is as fine as \(targetMPP) um/px (the finest is \(finest) um/px)"
    }
    let coarsest = mpps.filter { $0 <= targetMPP * 1.0001 }.max() ?? finest
    let read = Double(tileSize) * targetMPP / coarsest
    return "a \(tileSize)-pixel tile at \(targetMPP) um/px would read \(read) x \(read) pixels of a \(coarsest) um/px level, more than the \(TileGrid.maxReadSize)-pixel limit: the slide's resolution (--base-mpp or its metadata) or --mpp is off"
  }

  /// Tiles `slide` into `directory` (`tiles/`, `tiles.csv`, `thumbnail.png`); `progress` sees
  /// (done, total) after each kept tile.
  public func run(slide: String, to directory: String, limits: ImageLimits = .default, progress: (Int, Int) -> Void = { _, _ in }) throws -> Summary {
    try run(plan(slide: slide, limits: limits), slide: slide, to: directory, progress: progress)
  }

  /// `run(slide:to:)` with the plan made already (so a caller can check the slide before it
  /// touches an output).
  public func run(_ plan: Plan, slide: String, to directory: String, progress: (Int, Int) -> Void = { _, _ in }) throws -> Summary {
    let fm = FileManager.default
    let tilesDir = (directory as NSString).appendingPathComponent("tiles")
    do { try fm.createDirectory(atPath: tilesDir, withIntermediateDirectories: true) } catch {
      throw ImageError.writeFailed(path: tilesDir, reason: (error as NSError).localizedDescription)
    }
    let stem = ((slide as NSString).lastPathComponent as NSString).deletingPathExtension
    var records: [Record] = []
    var failed: [(record: Record, error: Error)] = []
    for (i, var r) in plan.records.enumerated() {
      let name = "\(stem)_L\(plan.level)_x\(r.x)_y\(r.y).png"
      let image: Image
      do { image = try plan.read(r) } catch {
        failed.append((r, error))  // a corrupt tile is recorded; the slide goes on
        progress(i + 1, plan.records.count)
        continue
      }
      try PNGCodec.write(image, to: (tilesDir as NSString).appendingPathComponent(name), level: 3)
      r.file = "tiles/\(name)"
      records.append(r)
      progress(i + 1, plan.records.count)
    }
    var csv = CSV.row(["file", "level", "x", "y", "width", "height", "x0", "y0", "mpp", "tissue_fraction"])
    for r in records { csv += CSV.row([r.file, "\(r.level)", "\(r.x)", "\(r.y)", "\(r.width)", "\(r.height)", "\(r.x0)", "\(r.y0)", r.mpp.map { String($0) } ?? "", String(format: "%.4f", r.tissue)]) }
    try writeAtomically(Data(csv.utf8), to: (directory as NSString).appendingPathComponent("tiles.csv"))
    let thumbnailPath = (directory as NSString).appendingPathComponent("thumbnail.png")
    let thumb = plan.thumbnail
    try PNGCodec.write(Self.overlay(thumb.image, mask: plan.mask, tiles: records, downsampleX: thumb.downsampleX, downsampleY: thumb.downsampleY), to: thumbnailPath)
    return Summary(level: plan.level, readSize: plan.readSize, candidates: plan.candidates, records: records, thumbnail: thumbnailPath, tissueFraction: plan.mask.tissueFraction, failed: failed)
  }

  /// The thumbnail with non-tissue dimmed and kept tiles outlined in green.
  static func overlay(_ image: Image, mask: TissueDetector.Mask, tiles: [Record], downsampleX: Double, downsampleY: Double) -> Image {
    let rgb = image.rgb().eightBit()
    guard case .uint8(var px) = rgb.samples else { return rgb }
    for i in 0..<(rgb.width * rgb.height) where !mask.values[i] {
      for c in 0..<3 { px[3 * i + c] = UInt8(Int(px[3 * i + c]) / 2 + 64) }
    }
    guard rgb.width > 0 && rgb.height > 0 else { return rgb }
    func mark(_ x: Int, _ y: Int) { px[3 * (y * rgb.width + x)] = 0; px[3 * (y * rgb.width + x) + 1] = 200; px[3 * (y * rgb.width + x) + 2] = 0 }
    for t in tiles {
      // Clamped to the thumbnail, and a tile narrower than one thumbnail pixel is that pixel
      // (its far edge fell before its near one, and the range between them trapped).
      let x0 = min(rgb.width - 1, max(0, Int(Double(t.x0) / downsampleX))), y0 = min(rgb.height - 1, max(0, Int(Double(t.y0) / downsampleY)))
      let x1 = max(x0, min(rgb.width - 1, Int(Double(t.x0 + t.width0) / downsampleX) - 1))
      let y1 = max(y0, min(rgb.height - 1, Int(Double(t.y0 + t.height0) / downsampleY) - 1))
      for x in x0...x1 { mark(x, y0); mark(x, y1) }
      for y in y0...y1 { mark(x0, y); mark(x1, y) }
    }
    return Image(width: rgb.width, height: rgb.height, channels: 3, samples: .uint8(px))
  }
}
