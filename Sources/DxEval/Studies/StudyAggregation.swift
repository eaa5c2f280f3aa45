/// How a study's (slide's, patient's, field's) diagnosis is made from its images.
public enum StudyAggregation: Equatable, Sendable, CustomStringConvertible {
  /// Average the images' probabilities; the study's class is the most probable one.
  case meanProbability
  /// Each image votes with its predicted class; ties go to the first class in class order.
  case majorityVote
  /// For slides: the study is positive when the mean of its `k` highest probabilities for
  /// `positiveClass` reaches `threshold` (a few tumour tiles make a tumour slide); otherwise it
  /// takes the most probable of the other classes. A study is truly positive if any of its
  /// images is labelled positive.
  case topKMean(positiveClass: String, k: Int, threshold: Double)

  public var description: String {
    switch self {
    case .meanProbability: return "mean_probability"
    case .majorityVote: return "majority_vote"
    case .topKMean(let c, let k, let t): return "top\(k)_mean(\(c) >= \(t))"
    }
  }

  /// One row per study: path = study name, truth = the study's label (the most frequent image
  /// label, ties to the first class; for `topKMean` positive if any image is), predicted and
  /// probabilities from the aggregation. Mixed-label studies are counted in `warn`.
  public func aggregate(_ t: PredictionTable, warn: ((String) -> Void)? = nil) -> PredictionTable {
    let k = t.classes.count
    var out = PredictionTable(classes: t.classes)
    var mixed = 0
    let positive: Int? = { if case .topKMean(let c, _, _) = self { return t.classes.firstIndex(of: c) } else { return nil } }()
    if case .topKMean(let c, _, _) = self, positive == nil { warn?("study aggregation: positive class '\(c)' is not a class; using mean probability") }
    for (study, rows) in t.rowsByStudy() {
      var labelCounts = [Int](repeating: 0, count: k), votes = [Int](repeating: 0, count: k)
      var mean = [Double](repeating: 0, count: k)
      for i in rows {
        labelCounts[Int(t.truth[i])] += 1
        votes[Int(t.predicted[i])] += 1
        for c in 0..<k { mean[c] += t.probabilities[i * k + c] / Double(rows.count) }
      }
      if labelCounts.filter({ $0 > 0 }).count > 1 { mixed += 1 }
      var truth = argmax(labelCounts.map(Double.init))
      var probs = mean
      switch self {
      case .meanProbability:
        break
      case .majorityVote:
        probs = votes.map { Double($0) / Double(rows.count) }
      case .topKMean(_, let topK, let threshold):
        if let p = positive {
          let top = rows.map { t.probabilities[$0 * k + p] }.sorted(by: >).prefix(max(1, topK))
          let score = top.reduce(0, +) / Double(top.count)
          let othersMass = mean.enumerated().filter { $0.offset != p }.reduce(0) { $0 + $1.element }
          probs = (0..<k).map { c in c == p ? score : (othersMass == 0 ? (1 - score) / Double(k - 1) : mean[c] / othersMass * (1 - score)) }
          truth = labelCounts[p] > 0 ? p : argmax(labelCounts.enumerated().map { $0.offset == p ? -1 : Double($0.element) })
          let predicted = score >= threshold ? p : argmax(probs.enumerated().map { $0.offset == p ? -1 : $0.element })
          out.append(path: study, study: study, truth: truth, predicted: predicted, probabilities: probs)
          continue
        }
      }
      out.append(path: study, study: study, truth: truth, predicted: argmax(probs), probabilities: probs)
    }
    if mixed > 0 { warn?("study level: \(mixed) studies hold images of more than one label; their label is the most frequent one") }
    return out
  }
}

/// Index of the first maximum (numpy's `argmax`).
func argmax(_ v: [Double]) -> Int {
  var best = 0
  for i in v.indices where v[i] > v[best] { best = i }
  return best
}
