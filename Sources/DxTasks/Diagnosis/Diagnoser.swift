import DxEfficientNet
import DxImaging
import DxNN
import DxPipeline
import DxTensor
import Foundation

/// Batch diagnosis: classifies image files and whole slides into a predictions CSV that
/// `effdx evaluate` reads (`path,study,label,predicted,p_<class>...`).
///
/// Resumable: files already in the output are skipped and new rows appended, so re-running
/// after a crash neither loses nor duplicates a row. Files that cannot be read go to an errors
/// CSV and the run goes on. Slides (multi-level TIFFs, or images too large to decode whole) are
/// tiled where there is tissue, each tile classified, and the slide's probabilities are the
/// mean of its tiles'; a heatmap and a per-tile CSV are written when asked.
public struct Diagnoser {
  public var model: EfficientNet { didSet { folded = FoldedEfficientNet(model) } }
  /// What classification runs: the network with BatchNorm folded and its passes fused.
  private var folded: FoldedEfficientNet
  public var classes: [String]
  public var preprocessing: Preprocessing
  public var batchSize = 16
  /// Average with horizontally and vertically flipped copies (test-time augmentation).
  public var tta = false
  /// Extra column listing the k most probable classes.
  public var topK = 0
  /// Slide tiling: target microns per pixel (nil: level 0) and minimum tissue fraction.
  public var slideMPP: Double? = 0.5
  public var minTissue = 0.5
  /// Known truth per image (from a manifest): the `study` and `label` columns of its row.
  /// Keys are standardized absolute paths (`Diagnoser.key`). Without an entry, the label is
  /// the parent folder's name when it is a class, and the study is empty (slides: their name).
  public var known: [String: (label: String, study: String)] = [:]
  /// Where heatmaps go: Grad-CAM overlays for images, tile-probability maps for slides.
  public var heatmaps: String?
  /// For slides: call the slide `positiveClass` when the mean of its `k` most probable tiles
  /// for that class reaches 0.5 (a small tumour is still a tumour); nil: mean of all tiles.
  public var slidePositive: (positiveClass: String, k: Int)? = nil

  public init(model: EfficientNet, classes: [String], preprocessing: Preprocessing) {
    self.model = model
    self.folded = FoldedEfficientNet(model)
    self.classes = classes
    self.preprocessing = preprocessing
  }

  public struct Summary: Sendable {
    public var written: Int, skipped: Int, failed: Int
    public var errorsPath: String
  }

  static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "tif", "tiff", "svs"]

  /// Files from `inputs` (files as given; folders expanded, recursively with `recursive`), sorted.
  public static func expand(_ inputs: [String], recursive: Bool) -> [String] {
    var out: [String] = []
    let fm = FileManager.default
    for input in inputs {
      var isDir: ObjCBool = false
      guard fm.fileExists(atPath: input, isDirectory: &isDir), isDir.boolValue else { out.append(input); continue }
      let names = recursive ? (fm.enumerator(atPath: input)?.compactMap { $0 as? String } ?? []) : ((try? fm.contentsOfDirectory(atPath: input)) ?? [])
      out += names.filter { imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }.map { (input as NSString).appendingPathComponent($0) }.sorted()
    }
    return out
  }

  /// How `known` is keyed: the absolute, standardized path.
  public static func key(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.path
  }

  public func run(files: [String], output: String, progress: (Int, Int) -> Void = { _, _ in }) throws -> Summary {
    let errorsPath = (output as NSString).deletingPathExtension + ".errors.csv"
    let header = "path,study,label,predicted," + classes.map { "p_\($0)" }.joined(separator: ",") + (topK > 0 ? ",top\(topK)" : "")
    var done = try Self.existingRows(output)
    if let existing = FileManager.default.contents(atPath: output).flatMap({ String(decoding: $0, as: UTF8.self).split(separator: "\n").first }), String(existing) != header {
      throw TaskError.invalid("\(output) holds predictions with other columns (\(existing)); choose another --out to diagnose with this checkpoint")
    }
    if done.isEmpty { try (header + "\n").write(toFile: output, atomically: true, encoding: .utf8) }
    guard let out = FileHandle(forWritingAtPath: output) else { throw TaskError.invalid("\(output): cannot write") }
    out.seekToEndOfFile()
    defer { try? out.close() }
    var errors = FileHandle(forWritingAtPath: errorsPath)
    if errors == nil {
      try "path,error\n".write(toFile: errorsPath, atomically: true, encoding: .utf8)
      errors = FileHandle(forWritingAtPath: errorsPath)
    }
    errors?.seekToEndOfFile()
    defer { try? errors?.close() }
    if let heatmaps { try FileManager.default.createDirectory(atPath: heatmaps, withIntermediateDirectories: true) }

    let todo = files.filter { !done.contains($0) }
    var written = 0, failed = 0
    func record(_ path: String, study defaultStudy: String, probs: [Float]) {
      let predicted = probs.indices.max { probs[$0] < probs[$1] }!
      let parent = ((path as NSString).deletingLastPathComponent as NSString).lastPathComponent
      let truth = known[Self.key(path)]
      let label = truth?.label ?? (classes.contains(parent) ? parent : "")
      let study = truth.map { $0.study.isEmpty ? defaultStudy : $0.study } ?? defaultStudy
      var row = [csv(path), csv(study), csv(label), csv(classes[predicted])] + probs.map { String(format: "%.6f", $0) }
      if topK > 0 { row.append(csv(probs.indices.sorted { probs[$0] > probs[$1] }.prefix(topK).map { classes[$0] }.joined(separator: ";"))) }
      out.write(Data((row.joined(separator: ",") + "\n").utf8))  // one write per row: a crash never leaves half a row
      done.insert(path)
      written += 1
    }
    func fail(_ path: String, _ error: Error) {
      errors?.write(Data("\(csv(path)),\(csv("\(error)"))\n".utf8))
      failed += 1
    }
    var slides: [String] = [], images: [String] = []
    for f in todo { if Self.isSlide(f) { slides.append(f) } else { images.append(f) } }
    var finished = 0
    for start in stride(from: 0, to: images.count, by: batchSize) {
      let chunk = Array(images[start..<min(images.count, start + batchSize)])
      let (probs, failures) = classify(chunk)
      for (path, p) in probs { record(path, study: "", probs: p) }
      for e in failures { fail(e.path, e) }
      if let heatmaps { for (path, p) in probs { try? gradCAM(path, classIndex: p.indices.max { p[$0] < p[$1] }!, to: heatmaps) } }
      finished += chunk.count
      progress(finished, todo.count)
    }
    for slide in slides {
      do {
        let probs = try diagnoseSlide(slide)
        record(slide, study: ((slide as NSString).lastPathComponent as NSString).deletingPathExtension, probs: probs)
      } catch { fail(slide, error) }
      finished += 1
      progress(finished, todo.count)
    }
    return Summary(written: written, skipped: files.count - todo.count, failed: failed, errorsPath: errorsPath)
  }

  /// Paths already in an output file; an unfinished last line (a crash mid-write) is dropped.
  static func existingRows(_ output: String) throws -> Set<String> {
    guard let data = FileManager.default.contents(atPath: output), !data.isEmpty else { return [] }
    var text = String(decoding: data, as: UTF8.self)
    if !text.hasSuffix("\n"), let cut = text.lastIndex(of: "\n") {
      text = String(text[...cut])
      try text.write(toFile: output, atomically: true, encoding: .utf8)
    }
    let rows = DatasetIndex.parseCSV(text)
    guard let header = rows.first, let pc = header.firstIndex(of: "path") else { throw TaskError.invalid("\(output): exists but is not a predictions CSV") }
    return Set(rows.dropFirst().compactMap { $0.count > pc ? $0[pc] : nil })
  }

  static func isSlide(_ path: String) -> Bool {
    guard (try? ImageFormat.detect(path: path)) == .tiff, let r = try? TIFFReader(path: path) else { return false }
    return r.levels.count > 1 && r.levels[0].tileWidth != nil || r.levels[0].pixelCount > ImageLimits.default.maxPixels
  }

  var mean: [Float] { preprocessing.mean.map(Float.init) }
  var std: [Float] { preprocessing.std.map(Float.init) }

  /// Decodes and classifies image files; returns probabilities per readable file.
  func classify(_ paths: [String]) -> ([(String, [Float])], [ImageError]) {
    var tensors: [Float] = [], ok: [String] = [], failures: [ImageError] = []
    let s = preprocessing.resolution
    for path in paths {
      do {
        let image = try ImageDecoder.decode(path: path).centerCropped(size: s, cropFraction: preprocessing.cropPct)
        tensors += FloatImage(image).tensor(mean: mean, std: std).scalars
        ok.append(path)
      } catch let e as ImageError { failures.append(e) } catch { failures.append(.corrupt(path: path, reason: "\(error)")) }
    }
    guard !ok.isEmpty else { return ([], failures) }
    let probs = predict(Tensor(shape: [ok.count, s, s, 3], scalars: tensors))
    return (ok.enumerated().map { ($1, probs[$0]) }, failures)
  }

  /// Softmax probabilities, averaged over flips with TTA.
  func predict(_ x: Tensor) -> [[Float]] {
    var views = [x]
    if tta { views += [Self.flip(x, horizontal: true), Self.flip(x, horizontal: false)] }
    let k = classes.count, n = x.shape[0]
    var sum = [[Float]](repeating: [Float](repeating: 0, count: k), count: n)
    for v in views {
      let logits = folded.forward(v)
      for i in 0..<n {
        let row = Array(logits.scalars[(i * k)..<((i + 1) * k)])
        let m = row.max()!
        let e = row.map { exp($0 - m) }
        let z = e.reduce(0, +)
        for c in 0..<k { sum[i][c] += e[c] / z / Float(views.count) }
      }
    }
    return sum
  }

  static func flip(_ x: Tensor, horizontal: Bool) -> Tensor {
    let (n, h, w, c) = x.nhwc()
    var out = x
    for i in 0..<n { for y in 0..<h { for xx in 0..<w {
      let (sy, sx) = horizontal ? (y, w - 1 - xx) : (h - 1 - y, xx)
      for ch in 0..<c { out.scalars[((i * h + y) * w + xx) * c + ch] = x.scalars[((i * h + sy) * w + sx) * c + ch] }
    } } }
    return out
  }

  /// Tiles a slide where there is tissue, classifies the tiles, and averages them.
  func diagnoseSlide(_ path: String) throws -> [Float] {
    let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    let work = NSTemporaryDirectory() + "effdx-slide-\(getpid())-\(stem)"
    defer { try? FileManager.default.removeItem(atPath: work) }
    let reader = try TIFFReader(path: path)
    let tiler = SlideTiler(tileSize: preprocessing.resolution, targetMPP: reader.levels[0].mppX == nil ? nil : slideMPP, minTissue: minTissue)
    let summary = try tiler.run(slide: path, to: work)
    guard !summary.records.isEmpty else { throw ImageError.unsupported(path: path, reason: "no tissue found to classify") }
    var tileProbs: [[Float]] = []
    for start in stride(from: 0, to: summary.records.count, by: batchSize) {
      let chunk = summary.records[start..<min(summary.records.count, start + batchSize)]
      let (probs, failures) = classify(chunk.map { (work as NSString).appendingPathComponent($0.file) })
      if let f = failures.first { throw f }
      tileProbs += probs.map(\.1)
    }
    let k = classes.count
    var meanProbs = (0..<k).map { c in tileProbs.reduce(0) { $0 + $1[c] } / Float(tileProbs.count) }
    if let (name, topK) = slidePositive, let p = classes.firstIndex(of: name) {
      let top = tileProbs.map { $0[p] }.sorted(by: >).prefix(max(1, topK))
      let score = top.reduce(0, +) / Float(top.count)
      let others = meanProbs.enumerated().filter { $0.offset != p }.reduce(Float(0)) { $0 + $1.element }
      meanProbs = (0..<k).map { c in c == p ? score : (others > 0 ? meanProbs[c] / others * (1 - score) : (1 - score) / Float(k - 1)) }
      if score >= 0.5 { meanProbs[p] = max(meanProbs[p], meanProbs.max()! + 1e-6) }
    }
    if let heatmaps {
      var csvText = "x0,y0,width0,height0,predicted," + classes.map { "p_\($0)" }.joined(separator: ",") + "\n"
      for (r, p) in zip(summary.records, tileProbs) {
        csvText += "\(r.x0),\(r.y0),\(r.width0),\(r.height0),\(classes[p.indices.max { p[$0] < p[$1] }!]),\(p.map { String(format: "%.6f", $0) }.joined(separator: ","))\n"
      }
      try csvText.write(toFile: (heatmaps as NSString).appendingPathComponent("\(stem)_tiles.csv"), atomically: true, encoding: .utf8)
      let focus = classes.firstIndex(of: "tumor") ?? meanProbs.indices.max { meanProbs[$0] < meanProbs[$1] }!
      try SlideHeatmap.write(reader: reader, records: summary.records, probabilities: tileProbs.map { $0[focus] }, label: classes[focus],
                             to: (heatmaps as NSString).appendingPathComponent("\(stem)_heatmap.png"))
    }
    return meanProbs
  }

  func gradCAM(_ path: String, classIndex: Int, to dir: String) throws {
    let image = try ImageDecoder.decode(path: path).centerCropped(size: preprocessing.resolution, cropFraction: preprocessing.cropPct)
    let map = GradCAM.map(model, input: FloatImage(image).tensor(mean: mean, std: std), classIndex: classIndex)
    let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension + "_gradcam_\(classes[classIndex]).png"
    try PNGCodec.write(GradCAM.overlay(image, map: map), to: (dir as NSString).appendingPathComponent(name))
  }

  func csv(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
  }
}

/// The slide thumbnail with each classified tile tinted by its probability of one class.
enum SlideHeatmap {
  static func write(reader: TIFFReader, records: [SlideTiler.Record], probabilities: [Float], label: String, to path: String) throws {
    let thumb = try SlideThumbnail.make(reader, maxSide: 768)
    var img = FloatImage(thumb.image)
    for (r, p) in zip(records, probabilities) {
      let x0 = Int(Double(r.x0) / thumb.downsampleX), y0 = Int(Double(r.y0) / thumb.downsampleY)
      let x1 = min(img.width, Int(Double(r.x0 + r.width0) / thumb.downsampleX)), y1 = min(img.height, Int(Double(r.y0 + r.height0) / thumb.downsampleY))
      guard x1 > x0, y1 > y0 else { continue }
      let color: [Float] = [p, 0.2, 1 - p]  // blue (low) to red (high)
      for y in y0..<y1 { for x in x0..<x1 { for c in 0..<3 { img.values[(y * img.width + x) * 3 + c] = img.values[(y * img.width + x) * 3 + c] * 0.5 + color[c] * 0.5 } } }
    }
    try PNGCodec.write(img.image(), to: path)
    _ = label
  }
}
