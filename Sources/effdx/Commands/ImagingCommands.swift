import ArgumentParser
import DxCSV
import DxImaging
import DxPipeline
import Foundation

/// Prints what a file is: format, size, levels, tiles, compression, bit depth, resolution.
struct InspectCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Describe image files: format, size, levels, tiles, compression, bit depth, microns per pixel.")

  @Argument(help: "Image files and slides (PNG, JPEG, TIFF, and what OpenSlide reads: NDPI, MIRAX, SCN...; recognised by content).") var files: [String]
  @Flag(help: "Print a JSON array, one object per file.") var json = false

  struct Info: Encodable {
    var path: String
    var format: String?
    var error: String?
    var width: Int?, height: Int?, channels: Int?, bitDepth: Int?
    var bigTIFF: Bool?
    var levels: [TIFFReader.Level]?
    /// Images beside the pyramid (thumbnail, label, macro).
    var associated: [TIFFReader.AssociatedImage]?
    /// Where level 0's microns per pixel came from.
    var mppSource: String?
    /// Slides: which library reads the file (`tiff`, `openslide (hamamatsu)`).
    var backend: String?
    /// Slides read through OpenSlide: the pyramid (TIFF slides list `levels` in detail).
    var pyramid: [SlideLevel]?
  }

  func run() throws {
    var infos: [Info] = []
    for path in files {
      var info = Info(path: path)
      do {
        if SlideOpener.backend(for: path) == .openslide {
          let reader = try OpenSlideReader(path: path)
          info.format = reader.vendor
          info.backend = reader.backend
          info.pyramid = reader.pyramid
          info.associated = reader.associated
          info.mppSource = reader.mppSource
          (info.width, info.height, info.channels, info.bitDepth) = (reader.pyramid[0].width, reader.pyramid[0].height, 3, 8)
          infos.append(info)
          continue
        }
        let format: ImageFormat
        do { format = try ImageFormat.detect(path: path) } catch {
          // Not an image: SlideOpener names a vendor slide that OpenSlide did not read (and why,
          // when OpenSlide could not be loaded) better than "not PNG, JPEG or TIFF".
          _ = try SlideOpener.open(path)
          throw error
        }
        info.format = format.rawValue
        switch format {
        case .tiff:
          let reader = try TIFFReader(path: path)
          info.backend = reader.backend
          info.levels = reader.levels
          info.associated = reader.associated
          info.mppSource = reader.mppSource
          info.bigTIFF = reader.isBigTIFF
          info.width = reader.levels[0].width
          info.height = reader.levels[0].height
          info.channels = reader.levels[0].outputChannels
          info.bitDepth = reader.levels[0].bitsPerSample
        case .png:
          // Headers only: decoding a 13,000-pixel-square PNG to print its size took 6 s and 3 GB.
          let h = try PNGCodec.header(try ImageDecoder.contents(path), path: path)
          (info.width, info.height, info.channels, info.bitDepth) = (h.width, h.height, h.channels, h.bitDepth)
        case .jpeg:
          let h = try JPEGCodec.header(try ImageDecoder.contents(path), path: path)
          (info.width, info.height, info.channels, info.bitDepth) = (h.width, h.height, h.channels, 8)
        }
      } catch {
        info.error = "\(error)"
      }
      infos.append(info)
    }
    if json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      print(String(decoding: try encoder.encode(infos), as: UTF8.self))
    } else {
      for i in infos {
        if let e = i.error { print("\(i.path): error: \(e)"); continue }
        print("\(i.path): \(i.format!) \(i.width!) x \(i.height!), \(i.channels!) channels, \(i.bitDepth!)-bit\(i.bigTIFF == true ? ", BigTIFF" : "")")
        for l in i.levels ?? [] {
          let layout = l.tileWidth.map { "tiles \($0) x \(l.tileHeight!)" } ?? "strips of \(l.rowsPerStrip ?? l.height) rows"
          let mpp = Self.micronsPerPixel(l.mppX, l.mppY)
          print("  level \(l.index)\(l.isSubIFD ? " (SubIFD)" : ""): \(l.width) x \(l.height), \(layout), \(l.compression), \(l.photometric), \(l.samplesPerPixel) x \(l.bitsPerSample)-bit\(l.planarSeparate ? ", planar" : "")\(mpp)")
        }
        for l in i.pyramid ?? [] {
          let layout = l.tileWidth.map { ", tiles \($0) x \(l.tileHeight ?? $0)" } ?? ""
          print("  level \(l.index): \(l.width) x \(l.height)\(layout)\(Self.micronsPerPixel(l.mppX, l.mppY))")
        }
        for a in i.associated ?? [] { print("  associated \(a.name): \(a.width) x \(a.height)") }
        if let backend = i.backend { print("  read by: \(backend)") }
        if !(i.levels ?? []).isEmpty || !(i.pyramid ?? []).isEmpty { print("  microns per pixel: \(i.mppSource.map { "from \($0)" } ?? "none recorded (diagnose needs --base-mpp or --level)")") }
      }
    }
    if infos.contains(where: { $0.error != nil }) { throw ExitCode(1) }
  }

  /// ", 0.2500 um/px", or both axes when the pixels are not square.
  static func micronsPerPixel(_ x: Double?, _ y: Double?) -> String {
    guard let x else { return "" }
    guard let y, SlideLevel.nonSquare(x, y) else { return String(format: ", %.4f um/px", x) }
    return String(format: ", %.4f x %.4f um/px (not square)", x, y)
  }
}

/// Decodes any supported image (or a region of a slide level) to a lossless PNG.
struct ConvertCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "convert", abstract: "Decode an image, or a region of a slide level, into a lossless PNG (8- or 16-bit as the source).")

  @Argument(help: "Input image.") var input: String
  @Option(help: "Pyramid level to read (0 = full resolution; associated images are not levels).") var level = 0
  @Option(help: "An associated image to write instead of a level: thumbnail, label or macro (as inspect lists them).") var associated: String?
  @Option(help: "Region X,Y,W,H in the level's pixels.") var region: String?
  @Option(help: "Output PNG.") var out: String

  func validate() throws {
    try OutputFile.check(out, writes: "a PNG", extensions: ["png"], inputs: [input])
  }

  /// A PNG or JPEG has no levels or regions: said so (it was "neither reader recognises its
  /// content", of a valid photo).
  private func readsSlidesOnly(_ flag: String) throws {
    if let format = try? ImageFormat.detect(path: input), format == .png || format == .jpeg {
      throw ImageError.unsupported(path: input, reason: "\(flag) reads slides only (TIFF, or a format OpenSlide reads), and this is a \(format == .png ? "PNG" : "JPEG") image")
    }
  }

  func run() throws {
    do {
      let image: Image
      if let associated {
        guard region == nil, level == 0 else { throw ValidationError("--associated writes a whole associated image: leave out --region and --level") }
        guard SlideOpener.backend(for: input) != nil else { throw ImageError.unsupported(path: input, reason: "--associated reads slides only (TIFF, or a format OpenSlide reads)") }
        image = try SlideOpener.open(input).readAssociated(associated)
      } else if let region {
        // Exactly four whole numbers: empty or unreadable fields were dropped, so `0,,0,10,10`
        // or a typo like `1O24` read another region in silence.
        let fields = region.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let v = fields.compactMap { Int($0) }
        guard fields.count == 4, v.count == 4 else {
          throw ValidationError("--region '\(region)' is not X,Y,W,H (four whole numbers separated by commas)")
        }
        try readsSlidesOnly("--region")
        image = try SlideOpener.open(input).readRegion(level: level, x: v[0], y: v[1], width: v[2], height: v[3])
      } else if level != 0 || SlideOpener.backend(for: input) == .openslide {
        try readsSlidesOnly("--level")
        image = try SlideOpener.open(input).read(level: level, maxPixels: ImageLimits.default.maxPixels)
      } else {
        image = try ImageDecoder.decode(path: input)
      }
      try PNGCodec.write(image, to: out)
      print("wrote \(out): \(image.width) x \(image.height), \(image.channels) channels, \(image.bitDepth)-bit")
    } catch let e as ImageError {
      FileHandle.standardError.write(Data("error: \(e)\n".utf8))
      throw ExitCode(1)
    }
  }
}

/// Tiles a whole-slide image, skipping background.
struct TileCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "tile", abstract: "Cut a slide into PNG tiles with a coordinates CSV, skipping background found by tissue detection.")

  @Argument(help: "Slide (TIFF).") var slide: String
  @Option(help: "Pipeline YAML whose tiling block gives the defaults (flags override); without it: 256 px tiles of level 0, min tissue 0.5.")
  var pipeline: String?
  @OptionGroup var tilingOptions: TilingOptions
  @Option(help: "Output directory (tiles/, tiles.csv, thumbnail.png).") var out: String
  @Flag(help: "Print a JSON summary on standard output instead of text.") var json = false
  @OptionGroup var verbosity: VerbosityOptions

  /// The first line of the tiles.csv `SlideTiler` writes.
  static let tilesHeader = "file,level,x,y,width,height,x0,y0,mpp,tissue_fraction"

  /// `--out` is new, empty, or a tile folder this command wrote (its `tiles.csv` header), whose
  /// old tiles are removed first: a folder of anything else is the user's (its tiles.csv and
  /// thumbnail.png were replaced), and a second run kept the first run's tiles beside its own.
  func prepareOutput() throws {
    guard let contents = try OutputFolder.contents(out) else { return }
    let csv = (out as NSString).appendingPathComponent("tiles.csv")
    // Read only when it is a regular file (a FIFO named tiles.csv blocked here).
    let header = InputFile.problem(csv, maxBytes: .max) != nil ? ""
      : (try? FileHandle(forReadingFrom: URL(fileURLWithPath: csv)).read(upToCount: 64)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) } ?? ""
    guard header.hasPrefix(Self.tilesHeader) else {
      throw ValidationError("--out \(out) holds files and no tiles of effdx's (no tiles.csv it wrote): tile writes a new or empty folder, or replaces one it wrote")
    }
    if contents.contains("tiles") { try FileManager.default.removeItem(atPath: (out as NSString).appendingPathComponent("tiles")) }
  }

  func run() throws {
    try verbosity.apply()
    // The pipeline, the flags and the slide (its levels, the plan of tiles) are checked before
    // the output is touched: a missing slide or a bad --level removed the last run's tiles.
    let base = try pipeline.map { try PipelineSpec.load(path: $0).tiling ?? PipelineSpec.Tiling() } ?? PipelineSpec.Tiling()
    let t = try tilingOptions.tiling(base, defaultTileSize: 256, defaultSource: "tile's default of 256")
    var tiler = SlideTiler(tileSize: t.tileSize!, overlap: t.overlap, level: t.level, targetMPP: t.mpp, minTissue: t.minTissue)
    tiler.baseMPP = tilingOptions.baseMPP
    let start = Date()
    let plan = try tiler.plan(slide: slide)
    try prepareOutput()
    // tiles.csv's header first, the folder's mark as ours: a run stopped half-way leaves a
    // folder the next run may replace (the whole list replaces it at the end).
    let existed = FileManager.default.fileExists(atPath: out)
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    try (Self.tilesHeader + "\n").write(toFile: (out as NSString).appendingPathComponent("tiles.csv"), atomically: true, encoding: .utf8)
    // A run that fails before its first tile leaves nothing behind.
    func removeIfUnused() {
      guard (try? FileManager.default.contentsOfDirectory(atPath: (out as NSString).appendingPathComponent("tiles")))?.isEmpty ?? true else { return }
      if existed { try? FileManager.default.removeItem(atPath: (out as NSString).appendingPathComponent("tiles.csv")) } else { try? FileManager.default.removeItem(atPath: out) }
    }
    let bar = ProgressBar()
    let summary: SlideTiler.Summary
    do { summary = try tiler.run(plan, slide: slide, to: out) { done, total in bar.update(done: done, total: total, label: "tiles") } } catch {
      removeIfUnused()
      throw error
    }
    bar.finish()
    if summary.candidates == 0 {
      Console.warning("no tile fits: a \(summary.readSize)-pixel tile is larger than level \(summary.level) of \(slide); give a smaller --tile-size or a finer level")
    }
    for (r, e) in summary.failed.prefix(10) { Console.warning("tile x=\(r.x) y=\(r.y) level \(r.level) left out: \(e)") }
    if summary.failed.count > 10 { Console.warning("\(summary.failed.count - 10) more tiles left out") }
    // Some tiles could not be read: the rest are written, and the exit status says so.
    let partial = summary.failed.isEmpty ? nil : ExitCode(3)
    if json {
      let object: [String: Any] = ["out": out, "level": summary.level, "read_size": summary.readSize, "kept": summary.records.count, "candidates": summary.candidates,
                                   "tissue_fraction": summary.tissueFraction, "thumbnail": summary.thumbnail, "seconds": Date().timeIntervalSince(start),
                                   "failed_tiles": summary.failed.count]
      print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
      if let partial { throw partial }
      return
    }
    print("level \(summary.level) (read \(summary.readSize) px per tile): \(summary.records.count) of \(summary.candidates) tiles kept (tissue \(String(format: "%.1f%%", 100 * summary.tissueFraction)) of the slide)")
    print("wrote \(out)/tiles.csv, \(out)/tiles/, \(summary.thumbnail) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s; peak memory \(peakMemoryMB()) MB")
    if !summary.failed.isEmpty { print("\(summary.failed.count) tiles could not be read and were left out") }
    if let partial { throw partial }
  }
}

/// This process's peak resident memory in MB: VmHWM from /proc (the high-water mark of this
/// program's own address space; getrusage's figure can include the parent that spawned it).
func peakMemoryMB() -> Int {
  if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
    let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
    let kb = Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty }?.trimmingCharacters(in: .whitespaces) ?? "")
  {
    return kb / 1024
  }
  var usage = rusage()
  getrusage(RUSAGE_SELF.rawValue, &usage)
  return usage.ru_maxrss / 1024
}
