import Foundation

/// Intervals of the metrics a confusion matrix cannot give: ROC-AUC and average precision (per
/// class and macro), the expected calibration error, and an operating point's rates. Each
/// resample draws whole studies (or rows, with one study) and recomputes the metric on the rows
/// drawn, so a resample costs a sort per class: at most `Bootstrap.scoreResamples` of them.
extension Bootstrap {
  /// Resamples for score metrics: each re-sorts the scores, so fewer than the label metrics'.
  public var scoreResamples: Int { min(resamples, 200) }
  /// Rows times resamples beyond which score intervals are skipped (with a warning).
  public static let scoreWorkLimit = 40_000_000

  /// `count` resampled row lists of `t`, whole studies at a time when there are several.
  func rowResamples(_ t: PredictionTable, count: Int) -> [[Int]] {
    let units: [[Int]] = Set(t.studies).count > 1 ? t.rowsByStudy().map(\.rows) : (0..<t.count).map { [$0] }
    var out = [[Int]](repeating: [], count: count)
    out.withUnsafeMutableBufferPointer { res in
      DispatchQueue.concurrentPerform(iterations: count) { r in
        var mixer = SplitMix64(seed: seed ^ 0x5C0E ^ (UInt64(r) &* 0xD1B5_4A32_D192_ED03))
        var rng = SplitMix64(seed: mixer.next())
        var rows: [Int] = []
        rows.reserveCapacity(t.count)
        for _ in 0..<units.count { rows += units[rng.below(units.count)] }
        res[r] = rows
      }
    }
    return out
  }

  /// Intervals of `roc_auc_macro`, `average_precision_macro`, `ece` and of each class's
  /// `roc_auc:<class>` and `average_precision:<class>`. Empty when the table is too large for
  /// `scoreWorkLimit` (`warn` says so).
  public func scoreIntervals(_ t: PredictionTable, warn: (String) -> Void = { _ in }) -> [String: Interval] {
    let n = scoreResamples
    guard n > 0, t.count > 1 else { return [:] }
    guard t.count * n <= Self.scoreWorkLimit else {
      warn("no intervals for ROC-AUC, average precision and ECE: \(t.count) rows x \(n) resamples exceeds the \(Self.scoreWorkLimit) rows the score bootstrap re-sorts; the label metrics keep theirs")
      return [:]
    }
    let resampled = rowResamples(t, count: n)
    var metrics = [ScoreMetrics?](repeating: nil, count: n)
    metrics.withUnsafeMutableBufferPointer { out in
      DispatchQueue.concurrentPerform(iterations: n) { r in out[r] = ScoreMetrics(t, rows: resampled[r]) }
    }
    let all = metrics.map { $0! }
    var out: [String: Interval] = [:]
    out["roc_auc_macro"] = percentile(all.compactMap(\.rocAUCMacro))
    out["average_precision_macro"] = percentile(all.compactMap(\.averagePrecisionMacro))
    out["ece"] = percentile(all.map(\.ece))
    for (c, name) in t.classes.enumerated() {
      out["roc_auc:" + name] = percentile(all.compactMap { $0.rocAUC[c] })
      out["average_precision:" + name] = percentile(all.compactMap { $0.averagePrecision[c] })
    }
    return out.compactMapValues { $0 }
  }
}

extension OperatingPoints {
  /// Each point's sensitivity, specificity, PPV and NPV intervals at its own rule, over the
  /// bootstrap's resamples of `t` (whole studies at a time).
  public mutating func addIntervals(_ t: PredictionTable, bootstrap: Bootstrap) {
    guard bootstrap.resamples > 0, t.count > 1, let c = t.classes.firstIndex(of: positiveClass) else { return }
    let resampled = bootstrap.rowResamples(t, count: bootstrap.resamples)
    let k = t.classes.count
    func intervals(_ p: Point) -> [String: Interval] {
      var rates: [String: [Double]] = ["sensitivity": [], "specificity": [], "ppv": [], "npv": []]
      for rows in resampled {
        var tp = 0, fp = 0, tn = 0, fn = 0
        for i in rows {
          let called = p.threshold.map { t.probabilities[i * k + c] >= $0 } ?? (Int(t.predicted[i]) == c)
          let positive = Int(t.truth[i]) == c
          switch (called, positive) {
          case (true, true): tp += 1
          case (true, false): fp += 1
          case (false, false): tn += 1
          case (false, true): fn += 1
          }
        }
        func add(_ key: String, _ a: Int, _ b: Int) { if a + b > 0 { rates[key]!.append(Double(a) / Double(a + b)) } }
        add("sensitivity", tp, fn)
        add("specificity", tn, fp)
        add("ppv", tp, fp)
        add("npv", tn, fn)
      }
      return rates.compactMapValues { bootstrap.percentile($0) }
    }
    for i in points.indices { points[i].ci95 = intervals(points[i]) }
  }
}
