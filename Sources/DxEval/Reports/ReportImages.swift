import Foundation

/// The pictures a report shows: examples of the model's errors and doubts, and slide heatmaps.
/// `report.json` lists them (`examples`, `slide_maps`); the images themselves go only into the
/// HTML, as data URIs (`EvaluationReport.embedded`), so the page stays one self-contained file
/// and the JSON stays small.
extension EvaluationReport {
  /// One image shown as an example.
  public struct Example: Codable, Equatable, Sendable {
    /// The true class it illustrates.
    public var className: String
    /// `confident error` (wrong, with the highest confidence in what it predicted) or
    /// `least confident correct` (right, with the lowest confidence).
    public var kind: String
    public var path: String
    public var truth: String, predicted: String
    public var confidence: Double
    /// Whether the HTML has its thumbnail and its Grad-CAM (`evaluate --checkpoint`).
    public var thumbnail: Bool, gradCAM: Bool

    public init(className: String, kind: String, path: String, truth: String, predicted: String, confidence: Double) {
      self.className = className
      self.kind = kind
      self.path = path
      self.truth = truth
      self.predicted = predicted
      self.confidence = confidence
      thumbnail = false
      gradCAM = false
    }

    enum CodingKeys: String, CodingKey { case className = "class", kind, path, truth, predicted, confidence, thumbnail, gradCAM = "grad_cam" }
  }

  /// A slide's heatmap from `diagnose --heatmaps`, with its tile counts.
  public struct SlideMap: Codable, Equatable, Sendable {
    public var slide: String
    public var heatmap: String
    /// Tiles classified, tiles that could not be read, and tiles predicted as each class.
    public var tiles: Int, failedTiles: Int
    public var tilesByClass: [String: Int]
    public var shown: Bool

    public init(slide: String, heatmap: String, tiles: Int, failedTiles: Int, tilesByClass: [String: Int]) {
      self.slide = slide
      self.heatmap = heatmap
      self.tiles = tiles
      self.failedTiles = failedTiles
      self.tilesByClass = tilesByClass
      shown = false
    }

    enum CodingKeys: String, CodingKey { case slide, heatmap, tiles, failedTiles = "failed_tiles", tilesByClass = "tiles_by_class", shown }
  }

  /// Per class, the `perKind` most confident errors and least confident correct predictions.
  public static func pickExamples(_ t: PredictionTable, perKind: Int = 3) -> [Example] {
    let k = t.classes.count
    var out: [Example] = []
    for c in 0..<k {
      let rows = (0..<t.count).filter { Int(t.truth[$0]) == c }
      func confidence(_ i: Int) -> Double { t.probabilities[i * k + Int(t.predicted[i])] }
      let errors = rows.filter { t.predicted[$0] != t.truth[$0] }.sorted { (confidence($0), $1) > (confidence($1), $0) }.prefix(perKind)
      let doubts = rows.filter { t.predicted[$0] == t.truth[$0] }.sorted { (confidence($0), $0) < (confidence($1), $1) }.prefix(perKind)
      for (kind, picked) in [("confident error", errors), ("least confident correct", doubts)] {
        out += picked.map { i in
          Example(className: t.classes[c], kind: kind, path: t.paths[i], truth: t.classes[c], predicted: t.classes[Int(t.predicted[i])], confidence: confidence(i))
        }
      }
    }
    return out
  }
}
