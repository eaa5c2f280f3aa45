import ArgumentParser
import DxCSV
import DxImaging
import DxPipeline
import DxTasks
import DxTensor
import Foundation

/// Imaging throughput: 256 x 256 tile extraction from a JPEG-compressed pyramidal TIFF, and
/// images per second through the full training pipeline (decode, augment, normalise, batch).
struct BenchImagingCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "imaging", abstract: "Tiles/s from a JPEG pyramidal TIFF and images/s through the training pipeline (release builds).")

  @Option(help: "Slide to read (default: a generated 8192 x 8192 JPEG pyramid, kept at --work).") var slide: String?
  @Option(help: "Working directory for generated data.") var work = "/tmp/effdx-bench-imaging"
  @Option(help: "Threads for the parallel measurements (default: all cores).") var threads: Int?
  @Option(help: "Also diagnose the slide end to end with this checkpoint (read, evaluation transform, network, tiles CSV and heatmap): every tile of level 0 at the checkpoint's resolution.") var checkpoint: String?

  func validate() throws {
    if let threads, !(1...1024).contains(threads) { throw ValidationError("--threads must be in 1...1024, not \(threads)") }
  }

  func run() throws {
    #if DEBUG
      Console.warning("debug build; use swift build -c release")
    #endif
    // The checkpoint first: a bad one is reported before minutes of slide making and reading.
    let model = try checkpoint.map { path in
      do { return try TaskCheckpoint.load(path) } catch { throw CommandFailure("--checkpoint \(path): \(error)") }
    }
    do { try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true) } catch {
      throw ValidationError("--work \(work): cannot make the folder (\((error as NSError).localizedFailureReason ?? "it is a file, or not writable"))")
    }
    let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
    let path = slide ?? (work as NSString).appendingPathComponent("slide_8192_jpeg.tif")
    if slide == nil && !FileManager.default.fileExists(atPath: path) { try Self.makeSlide(path) }
    let reader = try TIFFReader(path: path)
    let level = reader.levels[0]
    let tiles = TileGrid(levelWidth: level.width, levelHeight: level.height, tileSize: 256).tiles
    guard !tiles.isEmpty else { throw CommandFailure("--slide \(path): no 256-pixel tile fits its level 0 (\(level.width) x \(level.height))") }
    var t0 = Date()
    for t in tiles { _ = try reader.readRegion(level: 0, x: t.x, y: t.y, width: t.width, height: t.height) }
    let single = Double(tiles.count) / Date().timeIntervalSince(t0)
    // One reader per thread (libtiff handles are not shared).
    t0 = Date()
    // The same tiles as the one-thread pass (which would have thrown on a failed read).
    DispatchQueue.concurrentPerform(iterations: threadCount) { w in
      guard let r = try? TIFFReader(path: path) else { return }
      for t in Swift.stride(from: w, to: tiles.count, by: threadCount) { _ = try? r.readRegion(level: 0, x: tiles[t].x, y: tiles[t].y, width: tiles[t].width, height: tiles[t].height) }
    }
    let parallel = Double(tiles.count) / Date().timeIntervalSince(t0)
    print(String(format: "tile extraction, %@ (%d x %d, %@): %.0f tiles/s on 1 thread, %.0f tiles/s on %d threads", (path as NSString).lastPathComponent, level.width, level.height, level.compression, single, parallel, threadCount))
    if let model { try diagnoseSlide(path, checkpoint: model, threads: threadCount) }

    // Pipeline: 96 JPEG photos of 500 x 375 through the leaf-disease training transforms.
    let photos = (work as NSString).appendingPathComponent("photos")
    if !FileManager.default.fileExists(atPath: photos) { try Self.makePhotos(photos, count: 96) }
    let index = try DatasetIndex.folder(photos, extensions: ["png"])
    var spec = try PipelineSpec.parse(Self.leafPipeline, file: "bench")
    spec.workers = threadCount
    t0 = Date()
    var images = 0
    for batch in BatchLoader(items: index.items, spec: spec, training: true, seed: 1) { images += batch.labels.count }
    print(String(format: "training pipeline at 224 (decode PNG 500 x 375, random resized crop, flips, colour jitter, normalise, batch 32): %.1f images/s on %d workers", Double(images) / Date().timeIntervalSince(t0), threadCount))
  }

  /// Slide diagnosis as `effdx diagnose` runs it, timed as a whole: tiles per second.
  func diagnoseSlide(_ path: String, checkpoint ckpt: TaskCheckpoint, threads: Int) throws {
    ThreadPool.threadCount = threads
    let predictor = Predictor(ckpt)
    let tiling = PipelineSpec.Tiling(tileSize: ckpt.evaluation.resolution, mpp: nil, level: 0, overlap: 0, minTissue: 0)
    var run = DiagnosisRun(predictor: predictor, slides: SlideDiagnoser(predictor: predictor, tiling: tiling, aggregation: .meanProbability))
    run.workers = threads
    let out = (work as NSString).appendingPathComponent("diagnosis")
    try? FileManager.default.removeItem(atPath: out)
    run.heatmaps = out
    let t0 = Date()
    _ = try run.run(inputs: DiagnosisInputs([path], recursive: false, classes: ckpt.classes), output: out + ".csv")
    let seconds = Date().timeIntervalSince(t0)
    try? FileManager.default.removeItem(atPath: out + ".csv")
    let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    let tiles = CSV.records(try String(contentsOfFile: (out as NSString).appendingPathComponent(stem + "_tiles.csv"), encoding: .utf8)).count - 1
    print(String(format: "slide diagnosis end to end, %@ at %d px (%d tiles, %@): %.1f tiles/s on %d threads (%.1f s)", (path as NSString).lastPathComponent,
                 ckpt.evaluation.resolution, tiles, ckpt.model.config.name, Double(tiles) / seconds, threads, seconds))
  }

  static let leafPipeline = """
    name: bench
    resolution: 224
    train_transforms:
      - random_resized_crop: {scale: [0.5, 1.0]}
      - horizontal_flip: {p: 0.5}
      - vertical_flip: {p: 0.5}
      - color_jitter: {brightness: 0.2, contrast: 0.2, saturation: 0.2, hue: 0.02}
    batch_size: 32
    """

  /// A textured 8192 x 8192 pyramid (4 levels), JPEG quality 90, 256-pixel tiles.
  static func makeSlide(_ path: String) throws {
    var rng = SeededGenerator(seed: 1)
    let textures = (0..<8).map { _ -> Image in
      var px = [UInt8](repeating: 0, count: 256 * 256 * 3)
      let base = [170 + Int(rng.next() % 60), 80 + Int(rng.next() % 60), 140 + Int(rng.next() % 60)]
      for i in 0..<(256 * 256) { for c in 0..<3 { px[3 * i + c] = UInt8(max(0, min(255, base[c] + Int(rng.nextNormal() * 25) + ((i / 256 + i % 256) % 32)))) } }
      return Image(width: 256, height: 256, channels: 3, samples: .uint8(px))
    }
    let levels = (0..<4).map { k in
      TIFFWriter.Level(width: 8192 >> k, height: 8192 >> k) { x, y, w, h in
        let t = textures[(x / 256 * 7 + y / 256 * 13) % textures.count]
        return w == 256 && h == 256 ? t : t.cropped(x: 0, y: 0, width: w, height: h)
      }
    }
    try TIFFWriter.write(levels: levels, to: path, tileSize: 256, compression: .jpeg(quality: 90), mpp: 0.25)
  }

  static func makePhotos(_ dir: String, count: Int) throws {
    var rng = SeededGenerator(seed: 2)
    for i in 0..<count {
      let sub = (dir as NSString).appendingPathComponent("class\(i % 4)")
      try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
      let px = (0..<(500 * 375 * 3)).map { j in UInt8(truncatingIfNeeded: (j * 31 + i * 7) % 200 + Int(rng.next() % 40)) }
      try PNGCodec.write(Image(width: 500, height: 375, channels: 3, samples: .uint8(px)), to: (sub as NSString).appendingPathComponent("\(i).png"), level: 1)
    }
  }
}
