import Foundation

/// Metrics that read the probabilities: one-vs-rest ROC-AUC and average precision per class,
/// top-k accuracy, log loss, and calibration (ECE with its reliability diagram).
public struct ScoreMetrics: Equatable, Sendable {
  /// Per class; nil where undefined (the class is absent from the truth, or is all of it).
  public var rocAUC: [Double?]
  public var averagePrecision: [Double?]
  /// Mean over the classes where it is defined.
  public var rocAUCMacro: Double?
  public var averagePrecisionMacro: Double?
  /// k -> accuracy, for k = 1...min(5, classes).
  public var topK: [Int: Double]
  public var logLoss: Double
  public var ece: Double
  public var reliability: [ReliabilityBin]

  /// One bin of the reliability diagram.
  public struct ReliabilityBin: Codable, Equatable, Sendable {
    public var lower: Double, upper: Double
    public var count: Int
    /// Mean top-class probability and the fraction correct in the bin (nil when empty).
    public var confidence: Double?, accuracy: Double?
  }

  public static let eceBins = 15

  public init(_ t: PredictionTable, rows: [Int]? = nil, warn: ((String) -> Void)? = nil) {
    let k = t.classes.count
    let indices = rows ?? Array(0..<t.count)
    let n = indices.count
    var auc = [Double?](repeating: nil, count: k), ap = [Double?](repeating: nil, count: k)
    // One sort per class serves both AUC and AP; classes are independent, so run them in parallel.
    if n > 20_000 {
      auc.withUnsafeMutableBufferPointer { aucOut in
        ap.withUnsafeMutableBufferPointer { apOut in
          DispatchQueue.concurrentPerform(iterations: k) { c in
            (aucOut[c], apOut[c]) = ScoreMetrics.binaryRanking(t, rows: indices, positive: c)
          }
        }
      }
    } else {
      for c in 0..<k { (auc[c], ap[c]) = ScoreMetrics.binaryRanking(t, rows: indices, positive: c) }
    }
    if let warn {
      for (absent, why) in [(true, "absent from"), (false, "all of")] {
        let names = (0..<k).filter { auc[$0] == nil && (ap[$0] == nil) == absent }.map { t.classes[$0] }
        if !names.isEmpty { warn("ROC-AUC of \(classNamesPhrase(names)) is undefined (\(names.count == 1 ? "the class is" : "each is") \(why) the ground truth); left out of the macro average") }
      }
    }
    rocAUC = auc
    averagePrecision = ap
    let definedAUC = auc.compactMap { $0 }, definedAP = ap.compactMap { $0 }
    rocAUCMacro = definedAUC.isEmpty ? nil : definedAUC.reduce(0, +) / Double(definedAUC.count)
    averagePrecisionMacro = definedAP.isEmpty ? nil : definedAP.reduce(0, +) / Double(definedAP.count)

    let eps = Double.ulpOfOne
    var loss = 0.0
    var hits = [Int](repeating: 0, count: min(5, k) + 1)
    let bins = ScoreMetrics.eceBins
    var binCount = [Int](repeating: 0, count: bins), binConf = [Double](repeating: 0, count: bins), binCorrect = [Double](repeating: 0, count: bins)
    t.probabilities.withUnsafeBufferPointer { probs in
      for i in indices {
        let row = probs.baseAddress! + i * k
        let y = Int(t.truth[i])
        loss -= log(min(max(row[y], eps), 1 - eps))
        // Rank as scikit-learn's top_k_accuracy_score: ties go to the higher class index.
        var rank = 0, best = 0
        for c in 0..<k {
          if row[c] > row[y] || (row[c] == row[y] && c > y) { rank += 1 }
          if row[c] > row[best] { best = c }
        }
        if rank < hits.count - 1 { hits[rank + 1] += 1 }
        let bin = min(Int(row[best] * Double(bins)), bins - 1)
        binCount[bin] += 1
        binConf[bin] += row[best]
        if best == y { binCorrect[bin] += 1 }
      }
    }
    logLoss = n == 0 ? 0 : loss / Double(n)
    var cumulative = 0
    var top: [Int: Double] = [:]
    for kk in 1..<hits.count {
      cumulative += hits[kk]
      top[kk] = n == 0 ? 0 : Double(cumulative) / Double(n)
    }
    topK = top
    var e = 0.0
    reliability = (0..<bins).map { b in
      let count = binCount[b]
      let conf = count == 0 ? nil : binConf[b] / Double(count)
      let acc = count == 0 ? nil : binCorrect[b] / Double(count)
      if let conf, let acc { e += abs(acc - conf) * Double(count) }
      return ReliabilityBin(lower: Double(b) / Double(bins), upper: Double(b + 1) / Double(bins), count: count, confidence: conf, accuracy: acc)
    }
    ece = n == 0 ? 0 : e / Double(n)
  }

  /// ROC-AUC (with tied scores counted half, i.e. the trapezoidal ROC) and average precision
  /// (scikit-learn's step-wise sum over distinct thresholds) for class `c` against the rest.
  static func binaryRanking(_ t: PredictionTable, rows: [Int], positive c: Int) -> (Double?, Double?) {
    let k = t.classes.count
    // Scores are in [0, 1], so their IEEE bit patterns sort like the values; the low bit marks
    // positives, and one integer sort orders everything.
    var keys = [UInt64](repeating: 0, count: rows.count)
    var positives = 0
    keys.withUnsafeMutableBufferPointer { out in
      t.probabilities.withUnsafeBufferPointer { probs in
        t.truth.withUnsafeBufferPointer { truth in
          for (j, i) in rows.enumerated() {
            let isPositive: UInt64 = Int(truth[i]) == c ? 1 : 0
            positives += Int(isPositive)
            out[j] = probs[i * k + c].bitPattern << 1 | isPositive
          }
        }
      }
    }
    let negatives = rows.count - positives
    guard positives > 0 else { return (nil, nil) }
    radixSort(&keys)
    // Walk tie groups from the highest score down.
    var aucSum = 0.0, apSum = 0.0
    var tpAbove = 0, fpAbove = 0
    var end = keys.count
    while end > 0 {
      let score = keys[end - 1] >> 1
      var start = end - 1
      while start > 0 && keys[start - 1] >> 1 == score { start -= 1 }
      var groupPos = 0
      for j in start..<end { groupPos += Int(keys[j] & 1) }
      let groupNeg = (end - start) - groupPos
      // Positives in this group beat every negative below it and tie with the group's negatives.
      let negativesBelow = negatives - fpAbove - groupNeg
      aucSum += Double(groupPos) * (Double(negativesBelow) + 0.5 * Double(groupNeg))
      tpAbove += groupPos
      fpAbove += groupNeg
      if groupPos > 0 { apSum += Double(groupPos) / Double(positives) * Double(tpAbove) / Double(tpAbove + fpAbove) }
      end = start
    }
    let auc: Double? = negatives == 0 ? nil : aucSum / (Double(positives) * Double(negatives))
    return (auc, apSum)
  }
}

/// LSD radix sort of 64-bit keys: 16-bit digits for large arrays, 8-bit for small ones;
/// passes where every key has the same digit (the high bits of probabilities mostly agree) are
/// skipped. Several times faster than a comparison sort on the million-row (and the many
/// small per-study) sorts of a report.
package func radixSort(_ keys: inout [UInt64]) {
  let n = keys.count
  guard n > 64 else { keys.sort(); return }
  let bits: UInt64 = n > 50_000 ? 16 : 8
  let mask = (UInt64(1) << bits) - 1
  var buffer = [UInt64](repeating: 0, count: n)
  var counts = [Int](repeating: 0, count: 1 << bits)
  for shift in stride(from: UInt64(0), to: 64, by: Int(bits)) {
    counts.withUnsafeMutableBufferPointer { pos in
      for i in pos.indices { pos[i] = 0 }
      keys.withUnsafeBufferPointer { src in for k in src { pos[Int((k >> shift) & mask)] += 1 } }
    }
    if counts.contains(n) { continue }  // all keys share this digit
    var total = 0
    for i in counts.indices {
      let c = counts[i]
      counts[i] = total
      total += c
    }
    keys.withUnsafeBufferPointer { src in
      buffer.withUnsafeMutableBufferPointer { dst in
        counts.withUnsafeMutableBufferPointer { pos in
          for k in src {
            let d = Int((k >> shift) & mask)
            dst[pos[d]] = k
            pos[d] += 1
          }
        }
      }
    }
    swap(&keys, &buffer)
  }
}
