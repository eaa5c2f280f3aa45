/// What a lab decides with: for the class that matters (tumour; a disease against healthy),
/// sensitivity, specificity, PPV and NPV when it is called at the argmax rule, at a probability
/// threshold, and at the highest threshold that still reaches a target sensitivity, with the
/// confusion counts behind each; and a small table of thresholds.
public struct OperatingPoints: Codable, Equatable, Sendable {
  public struct Point: Codable, Equatable, Sendable {
    /// `argmax`, `threshold`, `target sensitivity`, or `table`.
    public var rule: String
    /// Calling the class when its probability is at least this (nil: the argmax rule).
    public var threshold: Double?
    public var tp: Int, fp: Int, tn: Int, fn: Int
    /// nil where undefined (no positives, no negatives, nothing called).
    public var sensitivity: Double?, specificity: Double?, ppv: Double?, npv: Double?
    /// Bootstrap intervals of the four rates (`addIntervals`), for the named points.
    public var ci95: [String: Interval]?

    init(rule: String, threshold: Double?, called: [Bool], positive: [Bool]) {
      self.rule = rule
      self.threshold = threshold
      (tp, fp, tn, fn) = (0, 0, 0, 0)
      for (c, p) in zip(called, positive) {
        switch (c, p) {
        case (true, true): tp += 1
        case (true, false): fp += 1
        case (false, false): tn += 1
        case (false, true): fn += 1
        }
      }
      func ratio(_ a: Int, _ b: Int) -> Double? { a + b == 0 ? nil : Double(a) / Double(a + b) }
      sensitivity = ratio(tp, fn)
      specificity = ratio(tn, fp)
      ppv = ratio(tp, fp)
      npv = ratio(tn, fn)
    }
  }

  public var positiveClass: String
  public var points: [Point]
  public var table: [Point]
  /// The target asked for and whether any threshold reached it.
  public var targetSensitivity: Double?

  /// - Parameters:
  ///   - threshold: a threshold to report besides the argmax rule.
  ///   - targetSensitivity: report the highest threshold whose sensitivity reaches it.
  public init(_ t: PredictionTable, positive c: Int, threshold: Double?, targetSensitivity: Double?) {
    let k = t.classes.count
    let positive = (0..<t.count).map { Int(t.truth[$0]) == c }
    let score = (0..<t.count).map { t.probabilities[$0 * k + c] }
    positiveClass = t.classes[c]
    self.targetSensitivity = targetSensitivity
    points = [Point(rule: "argmax", threshold: nil, called: (0..<t.count).map { Int(t.predicted[$0]) == c }, positive: positive)]
    if let threshold { points.append(Point(rule: "threshold", threshold: threshold, called: score.map { $0 >= threshold }, positive: positive)) }
    if let target = targetSensitivity {
      // Candidate thresholds are the positives' scores, highest first: the first that reaches
      // the target is the highest threshold that does.
      let candidates = Set(zip(score, positive).filter(\.1).map(\.0)).sorted(by: >)
      for th in candidates {
        let p = Point(rule: "target sensitivity", threshold: th, called: score.map { $0 >= th }, positive: positive)
        if let s = p.sensitivity, s >= target { points.append(p); break }
      }
    }
    table = (1...9).map { Double($0) / 10 }.map { th in Point(rule: "table", threshold: th, called: score.map { $0 >= th }, positive: positive) }
  }

  enum CodingKeys: String, CodingKey { case positiveClass = "positive_class", points, table, targetSensitivity = "target_sensitivity" }

  /// A point as the report tables show it.
  static func row(_ p: Point) -> [String] {
    func rate(_ v: Double?, _ key: String) -> String { Format.metric(v) + (p.ci95?[key].map { " " + Format.interval($0) } ?? "") }
    return [p.rule, p.threshold.map { String(format: "%.4g", $0) } ?? "-", "\(p.tp)", "\(p.fp)", "\(p.tn)", "\(p.fn)",
            rate(p.sensitivity, "sensitivity"), rate(p.specificity, "specificity"), rate(p.ppv, "ppv"), rate(p.npv, "npv")]
  }
}

extension String {
  /// `a | b` -> `| a | b |`, a Markdown table row.
  var wrappedInPipes: String { "| " + self + " |" }
}
