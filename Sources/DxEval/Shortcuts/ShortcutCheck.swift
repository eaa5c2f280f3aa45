import Foundation

/// Would a model that never saw the disease do as well? Simple baselines fitted on summary
/// statistics of the same images (the colour of the whole image; the colour of its border, where
/// a photo's background or a slide tile's glass is) by cross-validation grouped by study, and
/// their accuracy set beside the model's. A colour histogram that matches the model means the
/// model has probably learnt the scanner, the field, the camera or the background, not the
/// disease: the classes can be told apart without looking at a lesion.
public struct ShortcutCheck: Codable, Equatable, Sendable {
  public struct Baseline: Codable, Equatable, Sendable {
    public var name: String
    /// What its features are.
    public var features: String
    public var accuracy: Double
    /// Within `margin` of the model's accuracy and clearly above the majority class's share.
    public var flagged: Bool
  }

  /// Images whose statistics were computed, and files that could not be read.
  public var images: Int
  public var unreadable: Int
  public var folds: Int
  /// `study` (folds never split a study) or `image`.
  public var groupedBy: String
  public var modelAccuracy: Double
  /// The share of the most common class: what a constant guess scores.
  public var majorityAccuracy: Double
  public var baselines: [Baseline]
  public var margin: Double
  public var warning: String?

  enum CodingKeys: String, CodingKey {
    case images, unreadable, folds, groupedBy = "grouped_by", modelAccuracy = "model_accuracy", majorityAccuracy = "majority_accuracy", baselines, margin, warning
  }

  /// One image's statistics: mean and standard deviation of R, G and B over the whole image
  /// (`colour`) and over its border frame (`border`).
  public struct Statistics: Sendable {
    public var colour: [Double], border: [Double]
    public init(colour: [Double], border: [Double]) {
      self.colour = colour
      self.border = border
    }
  }

  /// - Parameters:
  ///   - statistics: per row of `truth`, nil for a file that could not be read.
  ///   - groups: each row's study ("" for none): folds keep a study together.
  ///   - modelAccuracy: the model's accuracy on the same rows.
  ///   - tissue: the background is the complement of a tissue mask (histology tiles), not the border.
  public init(statistics: [Statistics?], truth: [Int], classes: Int, groups: [String], modelAccuracy: Double, folds: Int = 5, margin: Double = 0.10, tissue: Bool = false) {
    let rows = statistics.indices.filter { statistics[$0] != nil }
    images = rows.count
    unreadable = statistics.count - rows.count
    self.modelAccuracy = modelAccuracy
    self.margin = margin
    let y = rows.map { truth[$0] }
    var counts = [Int](repeating: 0, count: classes)
    for c in y { counts[c] += 1 }
    let majority = y.isEmpty ? 0 : Double(counts.max()!) / Double(y.count)
    majorityAccuracy = majority
    // Folds by study when there are enough studies, else by image.
    let studyNames = Array(Set(rows.map { groups[$0] }.filter { !$0.isEmpty })).sorted()
    let byStudy = studyNames.count >= folds
    groupedBy = byStudy ? "study" : "image"
    let index = Dictionary(uniqueKeysWithValues: studyNames.enumerated().map { ($1, $0) })
    let fold = rows.enumerated().map { k, r in byStudy ? index[groups[r]]! % folds : k % folds }
    self.folds = folds
    let kinds: [(String, String, (Statistics) -> [Double])] = [
      ("colour statistics", "per-channel mean and standard deviation of the whole image", { $0.colour }),
      ("background", tissue ? "per-channel mean and standard deviation of the pixels outside the tissue mask (the glass; the border when a tile is all tissue)"
        : "per-channel mean and standard deviation of the image's border (the outer eighth on each side)", { $0.border }),
    ]
    baselines = kinds.map { name, description, features in
      let x = rows.map { features(statistics[$0]!) }
      var correct = 0
      for f in 0..<folds {
        let train = x.indices.filter { fold[$0] != f }, test = x.indices.filter { fold[$0] == f }
        guard !train.isEmpty, !test.isEmpty else { continue }
        let model = SoftmaxRegression(x: train.map { x[$0] }, y: train.map { y[$0] }, classes: classes)
        correct += test.filter { model.predict(x[$0]) == y[$0] }.count
      }
      let accuracy = x.isEmpty ? 0 : Double(correct) / Double(x.count)
      let flagged = accuracy >= modelAccuracy - margin && accuracy >= majority + 0.15
      return Baseline(name: name, features: description, accuracy: accuracy, flagged: flagged)
    }
    let flagged = baselines.filter(\.flagged)
    warning = flagged.isEmpty ? nil
      : "\(flagged.map { "a \($0.name) baseline (\(Self.percent($0.accuracy)))" }.joined(separator: " and ")) comes within \(Int(margin * 100)) points of the model (\(Self.percent(modelAccuracy))): the classes differ in colour or background as much as in anything a lesion shows; the model may have learnt the scanner, field or camera. Check it on data from other sources."
  }

  /// One sentence on how the check was made.
  public static func summary(_ c: ShortcutCheck) -> String {
    "Simple models fitted on summary statistics of the same \(c.images) images (\(c.folds)-fold cross-validation, folds grouped by \(c.groupedBy)\(c.unreadable > 0 ? "; \(c.unreadable) files could not be read" : "")). A baseline within \(Int(c.margin * 100)) points of the model is flagged."
  }

  static func percent(_ v: Double) -> String { String(format: "%.1f%%", 100 * v) }
}

/// Multinomial logistic regression on standardised features, fitted by full-batch gradient
/// descent (fixed steps, L2 1e-3): small, deterministic, and enough to show what a handful of
/// statistics can separate.
struct SoftmaxRegression {
  var mean: [Double], scale: [Double]
  var weights: [[Double]]  // [class][feature + bias]

  init(x: [[Double]], y: [Int], classes k: Int, steps: Int = 300, rate: Double = 0.5) {
    let d = x.first?.count ?? 0, n = Double(x.count)
    let mu = (0..<d).map { j in x.reduce(0) { $0 + $1[j] } / n }
    let sc = (0..<d).map { j -> Double in
      let v = x.reduce(0) { $0 + ($1[j] - mu[j]) * ($1[j] - mu[j]) } / n
      return v > 1e-12 ? 1 / v.squareRoot() : 0
    }
    mean = mu
    scale = sc
    let z = x.map { row in (0..<d).map { (row[$0] - mu[$0]) * sc[$0] } + [1] }
    var w = [[Double]](repeating: [Double](repeating: 0, count: d + 1), count: k)
    for _ in 0..<steps {
      var grad = [[Double]](repeating: [Double](repeating: 0, count: d + 1), count: k)
      for (row, label) in zip(z, y) {
        let p = Self.softmax(w.map { wc in zip(wc, row).reduce(0) { $0 + $1.0 * $1.1 } })
        for c in 0..<k {
          let g = p[c] - (c == label ? 1 : 0)
          for j in 0...d { grad[c][j] += g * row[j] / n }
        }
      }
      for c in 0..<k { for j in 0...d { w[c][j] -= rate * (grad[c][j] + (j < d ? 1e-3 * w[c][j] : 0)) } }
    }
    weights = w
  }

  func predict(_ x: [Double]) -> Int {
    let row = x.indices.map { (x[$0] - mean[$0]) * scale[$0] } + [1]
    let scores = weights.map { wc in zip(wc, row).reduce(0) { $0 + $1.0 * $1.1 } }
    return scores.indices.max { scores[$0] < scores[$1] }!
  }

  static func softmax(_ z: [Double]) -> [Double] {
    let m = z.max() ?? 0
    let e = z.map { exp($0 - m) }
    let s = e.reduce(0, +)
    return e.map { $0 / s }
  }
}
