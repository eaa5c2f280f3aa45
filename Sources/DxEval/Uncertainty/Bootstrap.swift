import Foundation

/// A 95% (or other) confidence interval.
public struct Interval: Codable, Equatable, Sendable {
  public var lower: Double
  public var upper: Double

  public init(lower: Double, upper: Double) {
    self.lower = lower
    self.upper = upper
  }
}

/// The metrics that get bootstrap intervals: the headline numbers of a report, all computable
/// from a confusion matrix, so a resample costs one matrix, not a re-sort.
public enum HeadlineMetric: String, CaseIterable, Codable, Sendable {
  case accuracy, balancedAccuracy = "balanced_accuracy", macroPrecision = "macro_precision", macroRecall = "macro_recall"
  case macroF1 = "macro_f1", weightedF1 = "weighted_f1", cohenKappa = "cohen_kappa", matthewsCorrcoef = "matthews_corrcoef"

  func value(_ m: LabelMetrics) -> Double? {
    switch self {
    case .accuracy: return m.accuracy
    case .balancedAccuracy: return m.balancedAccuracy
    case .macroPrecision: return m.macro.precision
    case .macroRecall: return m.macro.recall
    case .macroF1: return m.macro.f1
    case .weightedF1: return m.weighted.f1
    case .cohenKappa: return m.cohenKappa
    case .matthewsCorrcoef: return m.matthewsCorrcoef
    }
  }
}

/// Percentile bootstrap (Efron) over rows, or over whole studies when the data has more than
/// one: images of one slide or patient are not independent, and resampling them one by one
/// would make the intervals too narrow. Seeded; each resample draws from its own stream
/// derived from (seed, resample index), so the result does not depend on the thread count.
public struct Bootstrap: Sendable {
  public var resamples: Int
  public var seed: UInt64
  public var confidence: Double

  public init(resamples: Int = 1000, seed: UInt64 = 0, confidence: Double = 0.95) {
    self.resamples = resamples
    self.seed = seed
    self.confidence = confidence
  }

  /// Resampling units: a study's confusion matrix, or a single row's cell.
  struct Units {
    /// Per study: the cells (truth * k + predicted) it fills and its images in each, so a draw
    /// adds what the study holds, not a classes x classes matrix.
    var studies: [[(cell: Int, count: Int)]]?
    var cells: [Int]?  // per row: truth * k + predicted
    var count: Int { studies?.count ?? cells!.count }
  }

  static func units(_ t: PredictionTable, byStudy: Bool) -> Units {
    let k = t.classes.count
    if byStudy {
      return Units(studies: t.rowsByStudy().map { _, rows in
        var counts: [Int: Int] = [:]
        for i in rows { counts[Int(t.truth[i]) * k + Int(t.predicted[i]), default: 0] += 1 }
        return counts.keys.sorted().map { (cell: $0, count: counts[$0]!) }
      }, cells: nil)
    }
    // As Int: truth * k + predicted passes Int32 past 46,340 classes (it trapped).
    return Units(studies: nil, cells: zip(t.truth, t.predicted).map { Int($0) * k + Int($1) })
  }

  /// Intervals for every headline metric of `table`.
  public func intervals(_ t: PredictionTable) -> [String: Interval] {
    let byStudy = Set(t.studies).count > 1
    let samples = draw([Bootstrap.units(t, byStudy: byStudy)], classes: t.classes)
    var out: [String: Interval] = [:]
    for (m, metric) in HeadlineMetric.allCases.enumerated() {
      if let i = percentile(samples.compactMap { $0[0][m] }) { out[metric.rawValue] = i }
    }
    return out
  }

  /// Paired intervals of `b - a` for every headline metric (same resamples for both).
  public func differenceIntervals(_ a: PredictionTable, _ b: PredictionTable) -> [String: Interval] {
    let byStudy = Set(a.studies).count > 1
    let samples = draw([Bootstrap.units(a, byStudy: byStudy), Bootstrap.units(b, byStudy: byStudy)], classes: a.classes)
    var out: [String: Interval] = [:]
    for (m, metric) in HeadlineMetric.allCases.enumerated() {
      let diffs = samples.compactMap { pair -> Double? in
        guard let va = pair[0][m], let vb = pair[1][m] else { return nil }
        return vb - va
      }
      if let i = percentile(diffs) { out[metric.rawValue] = i }
    }
    return out
  }

  /// The headline metrics (in `HeadlineMetric.allCases` order) of `resamples` resamples per
  /// table, computed in parallel. A draw counts only what the metrics read, the diagonal and
  /// the row and column sums (rows + classes of work): a classes x classes matrix per draw,
  /// all kept until the end, was 8 GB for 1,000 resamples of 1,000 classes; and only the eight
  /// numbers of each draw are kept (its label metrics, arrays of the classes, were 6.4 GB for
  /// 100,000 resamples of 2,000 classes). The same integers, so the same metrics.
  func draw(_ all: [Units], classes: [String]) -> [[[Double?]]] {
    let k = classes.count
    var results = [[[Double?]]](repeating: [], count: resamples)
    let n = all[0].count
    results.withUnsafeMutableBufferPointer { res in
      DispatchQueue.concurrentPerform(iterations: resamples) { r in
        // Streams start at hashed positions of the 2^64 cycle; consecutive seeds would give
        // shifted copies of one stream.
        var mixer = SplitMix64(seed: seed ^ (UInt64(r) &* 0xD1B5_4A32_D192_ED03))
        var rng = SplitMix64(seed: mixer.next())
        let zeros = [Int](repeating: 0, count: k)
        var tp = all.map { _ in zeros }, predicted = tp, actual = tp
        func add(_ j: Int, cell: Int, count: Int) {
          let y = cell / k, p = cell % k
          actual[j][y] += count
          predicted[j][p] += count
          if y == p { tp[j][y] += count }
        }
        if all[0].studies != nil {
          let studies = all.map { $0.studies! }
          for _ in 0..<n {
            let pick = rng.below(n)
            for j in 0..<studies.count {
              for (cell, count) in studies[j][pick] { add(j, cell: cell, count: count) }
            }
          }
        } else {
          let cells = all.map { $0.cells! }
          for _ in 0..<n {
            let pick = rng.below(n)
            for j in 0..<cells.count { add(j, cell: cells[j][pick], count: 1) }
          }
        }
        res[r] = all.indices.map { j in
          let metrics = LabelMetrics(truePositives: tp[j], predicted: predicted[j], actual: actual[j], classes: classes)
          return HeadlineMetric.allCases.map { $0.value(metrics) }
        }
      }
    }
    return results
  }

  /// The central `confidence` interval of `values` (linear interpolation, numpy's default).
  func percentile(_ values: [Double]) -> Interval? {
    guard !values.isEmpty else { return nil }
    let s = values.sorted()
    func q(_ p: Double) -> Double {
      let x = p * Double(s.count - 1)
      let lo = Int(x.rounded(.down)), hi = min(lo + 1, s.count - 1)
      return s[lo] + (s[hi] - s[lo]) * (x - Double(lo))
    }
    let tail = (1 - confidence) / 2
    return Interval(lower: q(tail), upper: q(1 - tail))
  }
}

/// SplitMix64 (Steele et al.): tiny, fast and good enough for resampling indices.
struct SplitMix64 {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  /// Uniform in `0..<n` (Lemire's multiply-shift; bias below 2^-40 for n < 2^24).
  mutating func below(_ n: Int) -> Int { Int(next().multipliedFullWidth(by: UInt64(n)).high) }
}
