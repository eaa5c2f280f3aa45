import DxCSV
import DxEval
import DxImaging
import Foundation

/// Batch diagnosis: classifies image files and whole slides into a predictions CSV that
/// `effdx evaluate` reads (`path,study,label,predicted,p_<class>...`).
///
/// Resumable: files already in the output are skipped and new rows appended, so re-running
/// after a crash neither loses nor duplicates a row. Files that cannot be read go to an errors
/// ledger (`PRED.errors.csv`, one row per bad file however often the run is repeated) and the
/// run goes on. The output is checked before it is touched and locked while it is written.
public struct DiagnosisRun {
  public var predictor: Predictor
  /// How slides are tiled and aggregated; nil: slides are refused (recorded as failures).
  public var slides: SlideDiagnoser?
  public var batchSize = 16
  /// Extra column listing the k most probable classes.
  public var topK = 0
  /// Known truth per image (from a manifest): keys are `DiagnosisRun.key(path)`.
  public var known: [String: (label: String, study: String)] = [:]
  /// Where heatmaps go: Grad-CAM overlays for images, tile-probability maps for slides.
  public var heatmaps: String?
  /// Threads decoding photos and reading slide tiles, and how many batches they prepare ahead
  /// while the network runs (0: between forward passes; see `BatchPrefetcher`).
  public var workers = 2, readAhead = 0
  /// What produced the predictions, written beside them as `PRED.meta.json` when the run ends
  /// (its files and counts filled in then); nil writes none.
  public var provenance: DiagnosisMeta?
  /// Every file of the job before it was cut into shards (empty: this run's inputs). Names of
  /// studies and maps are made over it, so every shard and every resumed run names a file
  /// alike: over its own part only, two slides called `slide.tif` in two shards were one study
  /// and wrote one heatmap over the other.
  public var jobFiles: [String] = []
  /// Stage timings (`diagnose --profile`), or nil.
  public var profile: DiagnosisProfile?

  public init(predictor: Predictor, slides: SlideDiagnoser?) {
    self.predictor = predictor
    self.slides = slides
  }

  public struct Summary: Codable, Sendable {
    public var output: String
    public var errorsPath: String
    public var written = 0, skipped = 0, failed = 0
    public var notes: [String] = []

    enum CodingKeys: String, CodingKey { case output, errorsPath = "errors_path", written, skipped, failed, notes }
  }

  /// How rows are matched across runs, inputs and manifests: the absolute, standardized path
  /// with symbolic links resolved (one file, however it is named).
  public static func key(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
  }

  /// `key`'s bytes: what tells two files apart. Swift compares strings by Unicode canonical
  /// equivalence, so `café.png` written precomposed and decomposed (two files) were one key, and
  /// one of them was never diagnosed, without a word.
  static func identity(_ path: String) -> PathKey { PathKey(key(path)) }

  var format: PredictionsFormat { PredictionsFormat(classes: predictor.classes, topK: topK) }

  public func run(inputs: DiagnosisInputs, output: String, progress: (Int, Int) -> Void = { _, _ in }) throws -> Summary {
    // PRED.meta.json is replaced when the run ends: one that diagnose did not write is refused
    // now, before anything is written (as a foreign PRED.csv or PRED.errors.csv is).
    let metaPath = DiagnosisMeta.path(forOutput: output)
    if provenance != nil && FileManager.default.fileExists(atPath: metaPath) && !DiagnosisMeta.isProvenance(metaPath) {
      throw TaskError.invalid("\(metaPath) exists and is not a provenance file from effdx diagnose (it would be replaced): move it, or choose another --out")
    }
    var earlierDirectory: String? = nil
    // Resuming under other settings (--tta, the tiling) or with another checkpoint would add
    // rows of another diagnosis. A provenance file that cannot be read says nothing of the
    // rows: refused, not passed over (an edited one let other settings in).
    if let provenance, FileManager.default.fileExists(atPath: metaPath) {
      let earlier: DiagnosisMeta
      do { earlier = try DiagnosisMeta.read(metaPath) } catch {
        throw TaskError.invalid("\(metaPath) cannot be read (\(error)): which diagnosis wrote \(output)'s rows is unknown; repair or delete it, or choose another --out")
      }
      if earlier.checkpoint.sha256 != provenance.checkpoint.sha256 {
        throw TaskError.invalid("\(output) holds the predictions of another checkpoint (\(earlier.checkpoint.path), sha256 \(earlier.checkpoint.sha256.prefix(12))): resume with it, or choose another --out")
      }
      if let changed = DiagnosisMeta.changedSettings(earlier, provenance) {
        throw TaskError.invalid("\(output) was diagnosed with other settings (\(changed)): resume with the same flags, or choose another --out")
      }
      earlierDirectory = earlier.workingDirectory
    }
    let out = try AppendOnlyCSV(path: output, header: format.header, purpose: "predictions CSV")
    // Each row already there marks its file done: a damaged or repeated one would leave a file
    // undiagnosed for good (or counted twice), so it stops the run before anything is written.
    var firstLine: [PathKey: Int] = [:]
    for row in out.existing {
      let why = format.problem(with: row.fields)
        ?? firstLine[PathKey(row.fields[0])].map { "\(row.fields[0]) already has a row at line \($0)" }
      if let why {
        throw TaskError.invalid("\(output):\(row.line): \(why); a run resumes from this file, so it was left as it is: repair or delete that row, or choose another --out")
      }
      firstLine[PathKey(row.fields[0])] = row.line
    }
    // Rows hold paths as they were given: relative ones are relative to the folder the earlier
    // run ran in. Read from another folder, a row whose file is there and not here named no
    // file done, and every file was diagnosed again (a moved project folder still resumes).
    let here = FileManager.default.currentDirectoryPath
    if let earlierDirectory, Self.identity(earlierDirectory) != Self.identity(here),
      let relative = out.existing.first(where: { row in
        guard let p = row.fields.first, !p.hasPrefix("/") else { return false }
        return !FileManager.default.fileExists(atPath: (here as NSString).appendingPathComponent(p))
          && FileManager.default.fileExists(atPath: (earlierDirectory as NSString).appendingPathComponent(p))
      })
    {
      throw TaskError.invalid("\(output):\(relative.line): its rows name files relative to \(earlierDirectory), where the earlier run ran: resume there (or give the inputs as absolute paths from the start)")
    }
    let errorsPath = ErrorsLedger.path(forOutput: output)
    var ledger: ErrorsLedger
    do { ledger = try ErrorsLedger(path: errorsPath) } catch {
      out.removeIfUnused()
      throw error
    }
    var summary = Summary(output: output, errorsPath: errorsPath, notes: inputs.notes)
    if let heatmaps {
      do { try FileManager.default.createDirectory(atPath: heatmaps, withIntermediateDirectories: true) } catch {
        // Outputs this run created are taken back (a header-only PRED.csv was left).
        out.removeIfUnused()
        ledger.removeIfUnused()
        throw TaskError.invalid("--heatmaps \(heatmaps): cannot create the folder (\((error as NSError).localizedFailureReason ?? "a file is in its way, or a folder above it is not writable"))")
      }
    }
    // Every check has passed: an unfinished last row may now be cut off.
    try out.settle()
    try ledger.settle()
    var done = Set(out.existing.compactMap { $0.fields.first }.map(Self.identity))
    let todo = inputs.files.filter { !done.contains(Self.identity($0.path)) }
    summary.skipped = inputs.files.count - todo.count
    let limits = ImageLimits(maxPixels: predictor.evaluation.maxPixels)

    func record(_ file: DiagnosisInputs.File, study defaultStudy: String, probs: [Float], predicted: Int? = nil) throws {
      let truth = known[Self.key(file.path)]
      let label = truth?.label ?? file.label ?? ""
      let study = truth.map { $0.study.isEmpty ? defaultStudy : $0.study } ?? defaultStudy
      // One write per row: a crash never leaves half a row.
      try out.append(row: format.row(path: file.path, study: study, label: label, probabilities: probs, predicted: predicted))
      let key = Self.identity(file.path)
      done.insert(key)
      ledger.succeeded(key)
      summary.written += 1
    }
    func fail(_ path: String, _ reason: String) throws {
      try ledger.failed(path, reason)
      summary.failed += 1
    }
    for u in inputs.unusable { try fail(u.path, u.reason) }

    var slideFiles: [DiagnosisInputs.File] = [], images: [DiagnosisInputs.File] = []
    for f in todo {
      let ext = (f.path as NSString).pathExtension.lowercased()
      if !DiagnosisInputs.isRegularFile(f.path) {
        try fail(f.path, "not a regular file")
      } else if SlideOpener.vendorExtensions[ext] != nil || Self.isSlide(f.path, limits: limits) {
        // A vendor slide goes to the slide path even when no backend opens it, so its error
        // row names the format.
        slideFiles.append(f)
      } else {
        images.append(f)
      }
    }
    var finished = 0
    let total = images.count + slideFiles.count
    // Names over the whole job and the files earlier runs recorded (see `OutputNames`).
    let names = OutputNames(
      job: jobFiles.isEmpty ? inputs.files.map(\.path) : jobFiles, earlier: out.existing.compactMap { $0.fields.first })
    func slideName(_ path: String) -> String { names.sharesItsStem(path) ? path : Self.stem(path) }
    // What a heatmap or overlay may never replace: this run's outputs and the job's inputs (a
    // slide's `<name>_tiles.csv` in --heatmaps replaced a predictions file of that name).
    let kept = Set(([output, errorsPath, DiagnosisMeta.path(forOutput: output)] + (jobFiles.isEmpty ? inputs.files.map(\.path) : jobFiles)).map(Self.identity))
    // Photos are decoded and prepared a batch at a time on `workers` threads, between forward
    // passes or `readAhead` batches ahead.
    let evaluation = predictor.evaluation
    let paths = images.map(\.path)
    let profile = self.profile ?? DiagnosisProfile()
    let prefetcher = BatchPrefetcher(count: images.count, batchSize: batchSize, workers: workers, depth: readAhead, sharing: .nextFree) { i, _ in
      let image = try profile.measure(.decode) { try evaluation.decode(path: paths[i]) }
      return try profile.measure(.transform) { try evaluation.prepare(image, source: paths[i]) }
    }
    while true {
      guard let batch = readAhead > 0 ? profile.measure(.wait, { prefetcher.next() }) : prefetcher.next() else { break }
      let chunk = Array(images[batch.items])
      let outcomes = profile.measure(.network) { predictor.classify(batch, source: { paths[$0] }) }
      for (file, outcome) in zip(chunk, outcomes) {
        switch outcome {
        case .probabilities(let p):
          try profile.measure(.write) { try record(file, study: "", probs: p) }
          if let heatmaps {
            do { try gradCAM(file.path, probabilities: p, name: names.name(file.path), to: heatmaps, keeping: kept) } catch { summary.notes.append("\(file.path): no Grad-CAM overlay (\(error))") }
          }
        case .failed(let e): try fail(file.path, "\(e)")
        }
      }
      finished += chunk.count
      progress(finished, total)
    }
    for slide in slideFiles {
      let stem = slideName(slide.path)
      let result: SlideDiagnoser.Result
      do {
        guard var slides else { throw ImageError.unsupported(path: slide.path, reason: "this checkpoint's task does not diagnose whole slides") }
        slides.batchSize = batchSize
        slides.readers = workers
        slides.readAhead = readAhead
        slides.profile = profile
        result = try slides.diagnose(slide.path, limits: limits)
      } catch {
        try fail(slide.path, "\(error)")
        finished += 1
        progress(finished, total)
        continue
      }
      summary.notes += result.notes
      for (r, e) in result.failedTiles { try fail(slide.path + " tile x=\(r.x) y=\(r.y) level \(r.level)", "\(e)") }
      if let first = result.failedTiles.first {
        summary.notes.append("\(slide.path): \(result.failedTiles.count) of \(result.failedTiles.count + result.tiles.count) tissue tiles could not be read and were left out (first: \(first.error)); they are listed in \(errorsPath)")
      }
      try record(slide, study: stem, probs: result.probabilities, predicted: result.predicted)
      if let heatmaps {
        // The slide is diagnosed and recorded; a map that cannot be written is a note, not a failure.
        do { try writeSlideMaps(result, stem: names.slideMapName(slide.path), to: heatmaps, keeping: kept) } catch { summary.notes.append("\(slide.path): no heatmap (\(error))") }
      }
      finished += 1
      progress(finished, total)
    }
    try ledger.finish()
    if var meta = provenance {
      meta.files = inputs.files.map(\.path)
      meta.rows = out.existing.count + summary.written
      (meta.written, meta.skipped, meta.failed) = (summary.written, summary.skipped, summary.failed)
      meta.finished = DiagnosisMeta.now()
      meta.workingDirectory = FileManager.default.currentDirectoryPath
      try meta.write(to: DiagnosisMeta.path(forOutput: output))
    }
    return summary
  }

  static func isSlide(_ path: String, limits: ImageLimits) -> Bool {
    if SlideOpener.backend(for: path) == .openslide { return true }
    guard (try? ImageFormat.detect(path: path)) == .tiff, let r = try? TIFFReader(path: path, limits: limits) else { return false }
    // A tiled pyramid, a tiled scan with associated images or vendor metadata (an SVS with one
    // level), or anything too large to decode whole.
    let tiled = r.levels[0].tileWidth != nil
    return tiled && (r.levels.count > 1 || !r.associated.isEmpty || ["aperio", "ome", "philips"].contains(r.mppSource ?? "")) || r.levels[0].pixelCount > limits.maxPixels
  }

  /// Anything but a JPEG or PNG photo may be a slide (a TIFF is one or a photo by its content,
  /// decided only when it is opened).
  static func couldBeSlide(_ path: String) -> Bool {
    !["jpg", "jpeg", "png"].contains((path as NSString).pathExtension.lowercased())
  }

  static func stem(_ path: String) -> String { ((path as NSString).lastPathComponent as NSString).deletingPathExtension }

  /// `folder_stem`: a file name for outputs made from an input file.
  static func flatName(_ path: String) -> String {
    let folder = ((path as NSString).deletingLastPathComponent as NSString).lastPathComponent
    return (folder.isEmpty || folder == "." || folder == "/" ? "" : safe(folder) + "_") + safe(stem(path))
  }

  /// A name with no path separators or NULs in it.
  static func safe(_ s: String) -> String { String(s.map { $0 == "/" || $0 == "\0" ? "_" : $0 }) }

  /// Per-tile probabilities (`<slide>_tiles.csv`) and the heatmap (`<slide>_heatmap.png`).
  func writeSlideMaps(_ result: SlideDiagnoser.Result, stem: String, to dir: String, keeping kept: Set<PathKey> = []) throws {
    let classes = predictor.classes
    // Tiles that could not be read are rows too, with their error and no probabilities.
    var text = CSV.row(["x0", "y0", "width0", "height0", "predicted"] + classes.map { "p_\($0)" } + ["error"])
    for (r, p) in result.tiles {
      text += CSV.row(["\(r.x0)", "\(r.y0)", "\(r.width0)", "\(r.height0)", classes[p.argmax]] + p.map { String(format: "%.6f", $0) } + [""])
    }
    for (r, e) in result.failedTiles {
      text += CSV.row(["\(r.x0)", "\(r.y0)", "\(r.width0)", "\(r.height0)", ""] + classes.map { _ in "" } + ["\(e)"])
    }
    try text.write(toFile: try Self.heatmapPath("\(stem)_tiles.csv", in: dir, keeping: kept), atomically: true, encoding: .utf8)
    // The class that decides the slide when the task has one (tumour), else the predicted class.
    var shown = result.predicted
    if case .topKMean(let positive, _, _)? = slides?.aggregation, let i = classes.firstIndex(of: positive) { shown = i }
    try SlideHeatmap.write(plan: result.plan, tiles: result.tiles, classIndex: shown, className: classes[shown],
                           to: try Self.heatmapPath("\(stem)_heatmap.png", in: dir, keeping: kept))
  }

  /// A Grad-CAM overlay of the predicted class, named by the image's folder and file so that
  /// `A/img.png` and `B/img.png` do not overwrite each other.
  func gradCAM(_ path: String, probabilities p: [Float], name base: String, to dir: String, keeping kept: Set<PathKey> = []) throws {
    let classIndex = p.argmax
    let image = try predictor.evaluation.decode(path: path)
    let shown = try predictor.evaluation.transformed(image, source: path)
    let input = try predictor.evaluation.prepare(image, source: path)
    let s = predictor.evaluation.resolution
    let map = GradCAM.map(predictor.model, input: .init(shape: [1, s, s, 3], scalars: input), classIndex: classIndex)
    let name = base + "_gradcam_\(Self.safe(predictor.classes[classIndex])).png"
    try PNGCodec.write(GradCAM.overlay(shown.image(), map: map), to: try Self.heatmapPath(name, in: dir, keeping: kept))
  }

  /// `name` in `dir`, unless that is a file `kept` holds (the run's outputs, the job's inputs).
  static func heatmapPath(_ name: String, in dir: String, keeping kept: Set<PathKey>) throws -> String {
    let path = (dir as NSString).appendingPathComponent(name)
    guard !kept.contains(identity(path)) else {
      throw TaskError.invalid("\(path) is this run's output or one of its inputs, and is not replaced (choose another --heatmaps folder)")
    }
    return path
  }
}
