import Foundation

/// Precision, recall and F1 of one class or one average.
public struct Scores: Codable, Equatable, Sendable {
  public var precision: Double
  public var recall: Double
  public var f1: Double
}

/// Everything computed from the confusion matrix alone, defined as scikit-learn 1.9 defines it
/// with `labels` = every class and `zero_division=0`: an undefined ratio is 0 and a warning
/// says which and why.
public struct LabelMetrics: Equatable, Sendable {
  public var n: Int
  public var accuracy: Double
  /// Mean recall over the classes present in the truth.
  public var balancedAccuracy: Double
  public var perClass: [Scores]
  public var support: [Int]
  public var macro: Scores, weighted: Scores, micro: Scores
  /// nil when undefined (truth and prediction agree on a single class only).
  public var cohenKappa: Double?
  public var matthewsCorrcoef: Double

  /// - Parameters:
  ///   - warn: receives a sentence for every ill-defined value (nil: stay quiet, e.g. in bootstrap).
  public init(_ m: ConfusionMatrix, classes: [String], warn: ((String) -> Void)? = nil) {
    self.init(truePositives: m.truePositives, predicted: m.predictedCounts, actual: m.trueCounts, classes: classes, warn: warn)
  }

  /// The same from rows' true and predicted class indices (all rows, or `rows`), through the
  /// sums alone: no classes x classes matrix (two of them for 40,000 classes were 25 GB).
  public init(truth: [Int32], predicted: [Int32], rows: [Int]? = nil, classes: [String], warn: ((String) -> Void)? = nil) {
    let counts = Self.classCounts(truth: truth, predicted: predicted, rows: rows, classCount: classes.count)
    self.init(truePositives: counts.truePositives, predicted: counts.predicted, actual: counts.actual, classes: classes, warn: warn)
  }

  /// Per class: true positives, times predicted and times true, over `rows` (all by default):
  /// all a matrix's metrics read of it.
  public static func classCounts(truth: [Int32], predicted: [Int32], rows: [Int]? = nil, classCount k: Int) -> (truePositives: [Int], predicted: [Int], actual: [Int]) {
    var tp = [Int](repeating: 0, count: k), predictedCounts = tp, actual = tp
    func add(_ i: Int) {
      let y = Int(truth[i]), p = Int(predicted[i])
      actual[y] += 1
      predictedCounts[p] += 1
      if y == p { tp[y] += 1 }
    }
    if let rows { for i in rows { add(i) } } else { for i in truth.indices { add(i) } }
    return (tp, predictedCounts, actual)
  }

  /// The same from the matrix's diagonal (`tp`), column sums (`predicted`) and row sums
  /// (`actual`, the support) alone: every metric here needs only those, so a block need not
  /// build a classes x classes matrix (a study of a few images over many classes).
  public init(truePositives tp: [Int], predicted: [Int], actual: [Int], classes: [String], warn: ((String) -> Void)? = nil) {
    let k = tp.count
    let total = actual.reduce(0, +)
    n = total
    func ratio(_ a: Double, _ b: Double) -> Double { b == 0 ? 0 : a / b }
    let per = (0..<k).map { c in
      Scores(
        precision: ratio(Double(tp[c]), Double(predicted[c])),
        recall: ratio(Double(tp[c]), Double(actual[c])),
        f1: ratio(2 * Double(tp[c]), Double(actual[c] + predicted[c])))
    }
    if let warn {
      // One sentence per kind of ill-defined value, naming its classes.
      func illDefined(_ metric: String, _ why: String, _ undefined: (Int) -> Bool) {
        let names = (0..<k).filter(undefined).map { classes[$0] }
        if !names.isEmpty { warn("\(metric) of \(classNamesPhrase(names)) is ill-defined (\(why)); set to 0") }
      }
      illDefined("precision", "never predicted") { predicted[$0] == 0 }
      illDefined("recall", "absent from the ground truth") { actual[$0] == 0 }
      illDefined("F1", "neither true nor predicted") { actual[$0] + predicted[$0] == 0 }
    }
    perClass = per
    support = actual
    let correct = tp.reduce(0, +)
    let acc = total == 0 ? 0 : Double(correct) / Double(total)
    accuracy = acc
    func mean(_ f: (Scores) -> Double) -> Double { per.map(f).reduce(0, +) / Double(k) }
    macro = Scores(precision: mean(\.precision), recall: mean(\.recall), f1: mean(\.f1))
    let supportSum = Double(actual.reduce(0, +))
    func weightedMean(_ f: (Scores) -> Double) -> Double {
      supportSum == 0 ? 0 : zip(per, actual).reduce(0) { $0 + f($1.0) * Double($1.1) } / supportSum
    }
    weighted = Scores(precision: weightedMean(\.precision), recall: weightedMean(\.recall), f1: weightedMean(\.f1))
    micro = Scores(precision: acc, recall: acc, f1: acc)  // single-label: all equal accuracy
    let present = (0..<k).filter { actual[$0] > 0 }
    if present.count < k && (0..<k).contains(where: { actual[$0] == 0 && predicted[$0] > 0 }) {
      warn?("balanced accuracy: predictions contain classes absent from the ground truth")
    }
    balancedAccuracy = present.isEmpty ? 0 : present.reduce(0) { $0 + per[$1].recall } / Double(present.count)
    // Cohen's kappa: 1 - Σ w C / Σ w E with w = 1 off the diagonal, E = outer(row, col) / n.
    // Σ w C is the off-diagonal count, total - correct (exact: whole numbers). Σ w E visits the
    // classes that occur as truth and as prediction only, in row-major order as the full double
    // loop did: each term it skips is +0, so the sum is the same to the last bit.
    let nd = Double(total)
    let observed = Double(total - correct)
    var expected = 0.0
    if nd != 0 {
      let called = (0..<k).filter { predicted[$0] > 0 }
      for r in present {
        for c in called where r != c { expected += Double(actual[r]) * Double(predicted[c]) / nd }
      }
    }
    if expected == 0 {
      warn?("Cohen's kappa is undefined (truth and predictions share a single label); reported as null")
      cohenKappa = nil
    } else {
      cohenKappa = 1 - observed / expected
    }
    // Matthews correlation (multiclass, Gorodkin 2004), 0 when undefined, as scikit-learn.
    let t = actual.map(Double.init), p = predicted.map(Double.init)
    let covTP = Double(correct) * nd - zip(t, p).reduce(0) { $0 + $1.0 * $1.1 }
    let covPP = nd * nd - p.reduce(0) { $0 + $1 * $1 }
    let covTT = nd * nd - t.reduce(0) { $0 + $1 * $1 }
    matthewsCorrcoef = covPP * covTT == 0 ? 0 : covTP / (covPP * covTT).squareRoot()
  }
}
