import DxImaging
import Foundation
import Yams

/// A pipeline: where the images come from, how they are split, decoded, tiled, transformed
/// and batched. Written as YAML under `Pipelines/` (users copy and edit one) and decoded
/// strictly: unknown keys and bad values are errors naming the file and line.
public struct PipelineSpec: Equatable, Sendable {
  public struct Source: Equatable, Sendable {
    /// Default data location (a folder per class, a folder with `manifest.csv`, or a manifest),
    /// relative to the pipeline file's folder; the command line's `--data` wins.
    public var path: String?
    public var extensions: [String] = ["jpg", "jpeg", "png", "tif", "tiff"]
    public var studyColumn = "study"
  }

  public struct Split: Equatable, Sendable {
    public var validation = 0.15
    public var test = 0.0
    public var seed: UInt64 = 0
    /// Keep all images of a study (patient, slide, field) in one split.
    public var byStudy = true
  }

  /// How whole slides are cut, for `effdx tile` and slide diagnosis alike (flags override).
  public struct Tiling: Equatable, Sendable {
    /// Tile side in pixels at the tiling resolution: the size of the patches the model was
    /// trained on at that resolution (tiles then go through the evaluation transform like any
    /// image). Nil: the checkpoint's input resolution (`diagnose`), 256 (`tile`).
    public var tileSize: Int?
    /// Target microns per pixel; nil: read `level` as it is.
    public var mpp: Double?
    /// Pyramid level read when `mpp` is not set (or the slide records no resolution).
    public var level = 0
    /// Pixels shared by neighbouring tiles.
    public var overlap = 0
    /// Tiles with less tissue than this are skipped.
    public var minTissue = 0.5

    public init(tileSize: Int? = nil, mpp: Double? = nil, level: Int = 0, overlap: Int = 0, minTissue: Double = 0.5) {
      self.tileSize = tileSize
      self.mpp = mpp
      self.level = level
      self.overlap = overlap
      self.minTissue = minTissue
    }
  }

  public var name: String
  public var task: String?
  public var source = Source()
  public var split = Split()
  public var maxPixels = ImageLimits.default.maxPixels
  /// `decode.jpeg_scaling`: evaluation and training decode JPEGs at the smallest DCT scale
  /// that covers their first step (`EvaluationTransform.jpegScaling`,
  /// `TransformSpec.decodeShortSide`).
  public var jpegScaling = true
  public var tiling: Tiling?
  public var resolution = 224
  public var mean: [Double] = [0.485, 0.456, 0.406]
  public var std: [Double] = [0.229, 0.224, 0.225]
  public var trainTransforms: [TransformSpec] = []
  public var evalTransforms: [TransformSpec] = [.centerCrop(cropFraction: 0.875, filter: .bicubic)]
  public var batchSize = 32
  public var workers = 2
  public var prefetch = 2
  /// The `training:` block: the recipe's defaults for this pipeline (flags override them).
  public var training = RecipeSpec()

  public init(name: String) { self.name = name }

  /// Reads and validates a pipeline file.
  public static func load(path: String) throws -> PipelineSpec {
    let data: Data
    // A FIFO or a folder is named as what it is (reading a FIFO would block; Foundation called
    // both "You don't have permission").
    do { try ImageFormat.checkRegularFile(path) } catch ImageError.cannotOpen(_, let reason) {
      throw PipelineSpecError(file: path, line: 1, message: "cannot read: \(reason)")
    }
    // The size is checked before anything is read: a 3 GB file was read whole first.
    let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
    guard size <= 1 << 20 else { throw PipelineSpecError(file: path, line: 1, message: "\(size) bytes; a pipeline file is at most 1 MiB") }
    do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
      throw PipelineSpecError(file: path, line: 1, message: "cannot read: \((error as NSError).localizedDescription)")
    }
    guard data.count <= 1 << 20 else { throw PipelineSpecError(file: path, line: 1, message: "\(data.count) bytes; a pipeline file is at most 1 MiB") }
    guard let text = String(data: data, encoding: .utf8) else {
      let bytes = [UInt8](data), bad = Self.firstInvalidUTF8(bytes) ?? 0
      let line = 1 + bytes[..<bad].filter { $0 == 0x0A }.count
      throw PipelineSpecError(file: path, line: line, message: "not UTF-8 text")
    }
    return try parse(text, file: path)
  }

  public static func parse(_ text: String, file: String) throws -> PipelineSpec {
    let root = try YAMLNodeReader.compose(text, file: file)
    var r = try YAMLNodeReader(root, file: file)
    var spec = PipelineSpec(name: try r.string("name") ?? (file as NSString).lastPathComponent)
    spec.task = try r.string("task", allowed: ["leaf-disease", "histopathology"])
    if var s = try r.child("source") {
      spec.source.path = try s.string("path").map { p in
        p.hasPrefix("/") || file.hasPrefix("built-in") ? p : ((file as NSString).deletingLastPathComponent as NSString).appendingPathComponent(p)
      }
      spec.source.extensions = try s.strings("extensions")?.map { $0.lowercased() } ?? spec.source.extensions
      spec.source.studyColumn = try s.string("study_column", default: "study")!
      try s.finish("source")
    }
    if var s = try r.child("split") {
      spec.split.validation = try s.double("validation", default: 0.15, range: 0...0.9)!
      spec.split.test = try s.double("test", default: 0, range: 0...0.9)!
      spec.split.seed = UInt64(try s.int("seed", default: 0, range: 0...Int.max)!)
      spec.split.byStudy = try s.bool("by_study", default: true)
      if spec.split.validation + spec.split.test >= 1 { throw s.error(s.node, "validation + test must leave images for training") }
      try s.finish("split")
    }
    if var d = try r.child("decode") {
      // At most 300 million pixels: decoded to floats, larger images alone would pass 8 GB.
      spec.maxPixels = try d.int("max_pixels", default: spec.maxPixels, range: 1...300_000_000)!
      spec.jpegScaling = try d.bool("jpeg_scaling", default: true)
      try d.finish("decode")
    }
    if var t = try r.child("tiling") {
      var tiling = Tiling()
      tiling.tileSize = try t.int("tile_size", range: 16...8192)
      tiling.mpp = try t.double("mpp", range: 0.01...100)
      tiling.level = try t.int("level", default: 0, range: 0...64)!
      // Without a tile size (the checkpoint's resolution) the overlap is checked once that is known.
      tiling.overlap = try t.int("overlap", default: 0, range: 0...((tiling.tileSize ?? 8192) - 1))!
      tiling.minTissue = try t.double("min_tissue", default: 0.5, range: 0...1)!
      try t.finish("tiling")
      spec.tiling = tiling
    }
    spec.resolution = try r.int("resolution", default: 224, range: 16...2048)!
    if var n = try r.child("normalization") {
      spec.mean = try n.doubles("mean", count: 3) ?? spec.mean
      spec.std = try n.doubles("std", count: 3) ?? spec.std
      if let problem = NormalizationRange.problem(mean: spec.mean, std: spec.std) { throw n.error(n.node, "normalization: \(problem)") }
      try n.finish("normalization")
    }
    for (key, target) in [("train_transforms", \PipelineSpec.trainTransforms), ("eval_transforms", \PipelineSpec.evalTransforms)] {
      guard let list = r.value(key) else { continue }
      guard let seq = list.sequence else { throw r.error(list, "'\(key)' must be a list of transforms") }
      guard seq.count <= TransformSpec.maxSteps else { throw r.error(list, "'\(key)' has \(seq.count) transforms; at most \(TransformSpec.maxSteps)") }
      spec[keyPath: target] = try seq.map { node in
        let t = try TransformSpec.decode(node, file: file)
        if key == "eval_transforms" && t.isRandom {
          throw r.error(node, "eval_transforms must be deterministic; '\(t.name)' draws random numbers (move it to train_transforms)")
        }
        return t
      }
    }
    spec.batchSize = try r.int("batch_size", default: 32, range: 1...4096)!
    spec.workers = try r.int("workers", default: 2, range: 1...64)!
    spec.prefetch = try r.int("prefetch", default: 2, range: 1...64)!
    if var t = try r.child("training") { spec.training = try RecipeSpec.decode(&t) }
    try r.finish("the pipeline")
    return spec
  }

  /// The offset of the first byte that does not belong to a well-formed UTF-8 sequence.
  static func firstInvalidUTF8(_ b: [UInt8]) -> Int? {
    var i = 0
    while i < b.count {
      let lead = b[i]
      let n = lead < 0x80 ? 1 : lead >> 5 == 0b110 ? 2 : lead >> 4 == 0b1110 ? 3 : lead >> 3 == 0b11110 ? 4 : 0
      guard n > 0, i + n <= b.count, b[(i + 1)..<(i + n)].allSatisfy({ $0 >> 6 == 0b10 }) else { return i }
      i += n
    }
    return nil
  }

  static func line(of error: YamlError) -> Int {
    let text = "\(error)"
    if let r = text.range(of: #"^\d+"#, options: .regularExpression) { return Int(text[r]) ?? 0 }
    return 0
  }
}
