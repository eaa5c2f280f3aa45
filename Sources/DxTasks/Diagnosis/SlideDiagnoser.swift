import DxEval
import DxImaging
import DxPipeline
import Foundation

/// Diagnoses one whole slide: tiles where there is tissue (the slide pipeline's `tiling`), read
/// and classified in memory a batch at a time (no tile files), then one diagnosis for the slide
/// by the task's study aggregation, the same `StudyAggregation` `effdx evaluate` applies.
public struct SlideDiagnoser {
  public var predictor: Predictor
  /// How slides are cut; a nil tile size is the checkpoint's input resolution.
  public var tiling: PipelineSpec.Tiling
  public var aggregation: StudyAggregation
  public var batchSize = 16
  /// Level 0's microns per pixel for slides that record none (`--base-mpp`).
  public var baseMPP: Double? = nil
  /// Threads reading tiles (each with its own slide handle), and how many batches they read
  /// ahead while the network runs (0: between forward passes; see `BatchPrefetcher`).
  public var readers = 2, readAhead = 0
  /// Stage timings, when profiled.
  public var profile: DiagnosisProfile?

  public init(predictor: Predictor, tiling: PipelineSpec.Tiling, aggregation: StudyAggregation) {
    self.predictor = predictor
    self.tiling = tiling
    self.aggregation = aggregation
  }

  public struct Result {
    public var probabilities: [Float]
    public var predicted: Int
    /// Every classified tile with its probabilities.
    public var tiles: [(record: SlideTiler.Record, probabilities: [Float])]
    /// Tiles that could not be read or decoded: recorded, the slide goes on without them.
    public var failedTiles: [(record: SlideTiler.Record, error: Error)]
    public var plan: SlideTiler.Plan
    /// Choices made for the user (no microns per pixel in the file, so a level was used).
    public var notes: [String]
  }

  public func diagnose(_ path: String, limits: ImageLimits = .default) throws -> Result {
    var notes: [String] = []
    var tiler = SlideTiler(tileSize: tiling.tileSize ?? predictor.evaluation.resolution, overlap: tiling.overlap, level: tiling.level, targetMPP: tiling.mpp, minTissue: tiling.minTissue)
    tiler.baseMPP = baseMPP
    // A slide without microns per pixel is an error naming the two ways out (SlideTiler), never
    // a silent level 0.
    let plan = try tiler.plan(slide: path, limits: limits)
    if let base = baseMPP, let recorded = plan.reader.mppSource {
      notes.append("\(path): --base-mpp \(base) used instead of the \(recorded) value \(plan.reader.pyramid[0].mppX.map { String(format: "%.4f", $0) } ?? "?") um/px")
    }
    guard plan.candidates > 0 else {
      // A tile larger than the level (a slide's MPP far finer than the pipeline's mpp wants)
      // is not "no tissue", as tile says.
      throw ImageError.unsupported(path: path, reason: "no tile fits: a \(plan.readSize)-pixel tile is larger than level \(plan.level) (a smaller tile_size, or a finer level or mpp)")
    }
    guard !plan.records.isEmpty else { throw ImageError.unsupported(path: path, reason: "no tissue found to classify") }
    // Tiles are read, decoded and prepared a batch at a time on `readers` threads (one slide
    // handle each), between forward passes or `readAhead` batches ahead.
    let records = plan.records
    let handles = try [plan.reader] + (1..<Swift.max(1, readers)).map { _ in try plan.reader.reopened() }
    let evaluation = predictor.evaluation
    let profile = self.profile ?? DiagnosisProfile()
    let prefetcher = BatchPrefetcher(count: records.count, batchSize: batchSize, workers: handles.count, depth: readAhead) { [plan] i, w in
      let r = records[i]
      let tile = try profile.measure(.decode) { try plan.read(r, from: handles[w]) }
      return try profile.measure(.transform) { try evaluation.prepare(tile, source: "\(path) tile x=\(r.x) y=\(r.y) level \(r.level)") }
    }
    var tiles: [(SlideTiler.Record, [Float])] = [], failed: [(SlideTiler.Record, Error)] = []
    while true {
      guard let batch = readAhead > 0 ? profile.measure(.wait, { prefetcher.next() }) : prefetcher.next() else { break }
      for (i, outcome) in zip(batch.items, profile.measure(.network, { predictor.classify(batch, source: { "\(path) tile x=\(records[$0].x) y=\(records[$0].y) level \(records[$0].level)" }) })) {
        switch outcome {
        case .probabilities(let p): tiles.append((records[i], p))
        case .failed(let e): failed.append((records[i], e))
        }
      }
    }
    guard !tiles.isEmpty else {
      throw ImageError.corrupt(path: path, reason: "none of its \(plan.records.count) tissue tiles could be read (first: \(failed.first.map { "\($0.1)" } ?? "?"))")
    }
    var table = PredictionTable(classes: predictor.classes)
    for (_, p) in tiles {
      let probs = p.map(Double.init)
      table.append(path: path, study: path, truth: 0, predicted: p.argmax, probabilities: probs)
    }
    let slide = aggregation.aggregate(table)
    return Result(probabilities: slide.probabilities.map(Float.init), predicted: Int(slide.predicted[0]), tiles: tiles, failedTiles: failed, plan: plan, notes: notes)
  }
}
