/// One-vs-rest ROC and precision-recall curves of a class, one point per distinct score (as
/// scikit-learn's `roc_curve(drop_intermediate=False)` and `precision_recall_curve` without
/// their end points): what a lab reads an operating point off.
public struct Curves: Codable, Equatable, Sendable {
  /// A threshold and what predicting the class at scores >= it gives.
  public struct Point: Codable, Equatable, Sendable {
    public var threshold: Double
    /// False and true positive rates (ROC), precision and recall (PR).
    public var fpr: Double, tpr: Double
    public var precision: Double, recall: Double
  }

  /// From the highest threshold down; empty when the class has no positive or no negative.
  public var points: [Point]

  /// At most this many points are kept (evenly by rank, the ends always): a curve over a
  /// million rows stays a few kilobytes in `report.json` and the HTML.
  public static let maxPoints = 200

  /// The curves of class `c` over `rows` of `t`.
  public init(_ t: PredictionTable, rows: [Int]? = nil, positive c: Int) {
    let k = t.classes.count
    let rows = rows ?? Array(0..<t.count)
    let scored = rows.map { (score: t.probabilities[$0 * k + c], positive: Int(t.truth[$0]) == c) }.sorted { $0.score > $1.score }
    let positives = scored.count { $0.positive }, negatives = scored.count - positives
    guard positives > 0, negatives > 0 else { points = []; return }
    var all: [Point] = []
    var tp = 0, fp = 0, i = 0
    while i < scored.count {
      let score = scored[i].score
      while i < scored.count && scored[i].score == score {
        if scored[i].positive { tp += 1 } else { fp += 1 }
        i += 1
      }
      all.append(Point(threshold: score, fpr: Double(fp) / Double(negatives), tpr: Double(tp) / Double(positives),
                       precision: Double(tp) / Double(tp + fp), recall: Double(tp) / Double(positives)))
    }
    if all.count > Self.maxPoints {
      let step = Double(all.count - 1) / Double(Self.maxPoints - 1)
      all = (0..<Self.maxPoints).map { all[Int((Double($0) * step).rounded())] }
    }
    points = all
  }

  /// The area under the ROC points, from (0, 0), by trapezoids (ROC-AUC when no point was dropped).
  public var trapezoidalAUC: Double {
    var area = 0.0, x = 0.0, y = 0.0
    for p in points {
      area += (p.fpr - x) * (p.tpr + y) / 2
      (x, y) = (p.fpr, p.tpr)
    }
    return area
  }
}
