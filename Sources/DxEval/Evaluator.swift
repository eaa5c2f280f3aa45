import DxCSV
import Foundation

/// Turns predictions into an `EvaluationReport`: overall metrics, the same per study,
/// study-level diagnoses, bootstrap intervals and (optionally) a paired comparison.
public struct Evaluator: Sendable {
  public var aggregation: StudyAggregation
  /// Resamples for the intervals; 0 skips the bootstrap.
  public var bootstrap: Bootstrap
  /// Score studies that hold several labels too, each by its most frequent label (for checking
  /// the aggregation against scikit-learn on any data; reports leave them out).
  var includeMixedStudies = false

  public init(aggregation: StudyAggregation = .meanProbability, bootstrap: Bootstrap = Bootstrap()) {
    self.aggregation = aggregation
    self.bootstrap = bootstrap
  }

  /// All metrics of `table` (or of its `rows`); `scope` prefixes the warnings. Without
  /// `matrices` the block leaves out its confusion matrices and costs O(rows x classes), not
  /// classes x classes (studies past `EvaluationReport.fullMatrixClassLimit` classes).
  public static func block(_ t: PredictionTable, rows: [Int]? = nil, scope: String, matrices: Bool = true, warnings: inout [String]) -> EvaluationReport.Block {
    var collected: [String] = []
    let warn: (String) -> Void = { collected.append("\(scope): \($0)") }
    let indices = rows ?? Array(0..<t.count)
    let k = t.classes.count
    var matrix: ConfusionMatrix? = nil
    if matrices {
      var m = ConfusionMatrix(classCount: k)
      for i in indices { m.counts[Int(t.truth[i]) * k + Int(t.predicted[i])] += 1 }
      matrix = m
    }
    // The label metrics need only the diagonal and the row and column sums.
    let labels = LabelMetrics(truth: t.truth, predicted: t.predicted, rows: indices, classes: t.classes, warn: warn)
    let scores = ScoreMetrics(t, rows: rows, warn: warn)
    warnings += collected
    var perClass: [String: EvaluationReport.ClassBlock] = [:]
    var auc: [String: Double?] = [:], ap: [String: Double?] = [:]
    for (c, name) in t.classes.enumerated() {
      let s = labels.perClass[c]
      perClass[name] = EvaluationReport.ClassBlock(precision: s.precision, recall: s.recall, f1: s.f1, support: labels.support[c])
      auc[name] = scores.rocAUC[c]
      ap[name] = scores.averagePrecision[c]
    }
    return EvaluationReport.Block(
      n: labels.n, accuracy: labels.accuracy, balancedAccuracy: labels.balancedAccuracy, macro: labels.macro,
      weighted: labels.weighted, micro: labels.micro, perClass: perClass, confusionMatrix: matrix?.rows,
      confusionMatrixNormalized: matrix?.rowNormalized, cohenKappa: labels.cohenKappa, matthewsCorrcoef: labels.matthewsCorrcoef,
      topKAccuracy: Dictionary(uniqueKeysWithValues: scores.topK.map { ("\($0.key)", $0.value) }), logLoss: scores.logLoss,
      rocAuc: auc, rocAucMacro: scores.rocAUCMacro, averagePrecision: ap, averagePrecisionMacro: scores.averagePrecisionMacro,
      ece: scores.ece, reliability: scores.reliability, ci95: nil)
  }

  /// The full report of `table`.
  public func evaluate(_ t: PredictionTable, inputs: EvaluationReport.Inputs, compareWith other: (path: String, table: PredictionTable)? = nil) -> EvaluationReport {
    var warnings: [String] = []
    // Label metrics use `predicted`, scores use the probabilities: say when the two disagree.
    let k = t.classes.count
    let disagree = (0..<t.count).filter { i in
      let row = t.probabilities[(i * k)..<((i + 1) * k)]
      return row[i * k + Int(t.predicted[i])] < (row.max() ?? 0) - 1e-6
    }
    if !disagree.isEmpty {
      warnings.append("\(disagree.count) rows predict a class that is not their most probable one (first: \(t.paths[disagree[0]])): a decision rule such as a slide's top-k tumour rule, or a file whose predicted column does not match its probabilities; label metrics use the predicted column, ROC and PR curves the probabilities")
    }
    // The overall matrix holds classes^2 counts: past overallMatrixClassLimit (4 million
    // cells) it is left out like the studies' (100,000 classes would be 80 GB).
    var overall = Evaluator.block(t, scope: "overall", matrices: k <= EvaluationReport.overallMatrixClassLimit, warnings: &warnings)
    let curves = Dictionary(uniqueKeysWithValues: t.classes.enumerated().map { ($0.element, Curves(t, positive: $0.offset)) })
    if bootstrap.resamples > 0 {
      overall.ci95 = bootstrap.intervals(t).merging(bootstrap.scoreIntervals(t) { warnings.append($0) }) { a, _ in a }
    }
    var studies: [String: EvaluationReport.Block] = [:]
    var studyLevel: EvaluationReport.StudyLevel? = nil
    var studyLevelNote: String? = nil
    if t.hasStudies {
      // Studies are independent: spread them over the cores, keep warnings in study order.
      // Past fullMatrixClassLimit classes their blocks leave out the classes x classes matrices
      // (studies x classes^2 numbers to build, hold and write).
      let groups = t.rowsByStudy()
      let studyMatrices = k <= EvaluationReport.fullMatrixClassLimit
      var blocks = [(EvaluationReport.Block, [String])?](repeating: nil, count: groups.count)
      blocks.withUnsafeMutableBufferPointer { out in
        DispatchQueue.concurrentPerform(iterations: groups.count) { g in
          var w: [String] = []
          let b = Evaluator.block(t, rows: groups[g].rows, scope: "study \(groups[g].study)", matrices: studyMatrices, warnings: &w)
          out[g] = (b, w)
        }
      }
      for (g, group) in groups.enumerated() {
        studies[group.study.isEmpty ? "(none)" : group.study] = blocks[g]!.0
        warnings += blocks[g]!.1
      }
      // A study is diagnosed as one (a patient's slides, a slide's tiles) only when it has one
      // label: a field or patient holding every class has no one truth to score against, and a
      // headline number over such studies misleads. Mixed studies are left out, and said so.
      let single = includeMixedStudies ? groups : groups.filter { g in Set(g.rows.map { t.truth[$0] }).count == 1 }
      let mixed = groups.count - single.count
      studyLevelNote = mixed == 0 ? nil
        : single.isEmpty ? "Study-level diagnosis is off: every one of the \(groups.count) studies holds images of more than one label (a field or patient with several classes has no one label to diagnose); read the per-image and per-study metrics."
        : "Study-level diagnosis covers the \(single.count) studies with one label; \(mixed) studies holding images of more than one label are left out of it."
      if single.isEmpty { return EvaluationReport(inputs: inputs, classes: t.classes, overall: overall, studies: studies, studyLevel: nil, comparison: other.map { compare(t, $0.table, otherPath: $0.path, warnings: &warnings) },
                                                   warnings: warnings, rowIssues: t.issues, studyLevelNote: studyLevelNote, curves: curves) }
      let scored = mixed == 0 ? t : t.subset(single.flatMap(\.rows).sorted())
      let aggregated = aggregation.aggregate(scored) { warnings.append($0) }
      var metrics = Evaluator.block(aggregated, scope: "study level", warnings: &warnings)
      if bootstrap.resamples > 0 && aggregated.count > 1 {
        metrics.ci95 = Bootstrap(resamples: bootstrap.resamples, seed: bootstrap.seed &+ 1, confidence: bootstrap.confidence).intervals(aggregated)
      }
      let counts = Dictionary(grouping: scored.studies, by: { $0 }).mapValues(\.count)
      let diagnoses = (0..<aggregated.count).map { i in
        EvaluationReport.Diagnosis(
          study: aggregated.paths[i], images: counts[aggregated.paths[i]] ?? 0, truth: t.classes[Int(aggregated.truth[i])],
          predicted: t.classes[Int(aggregated.predicted[i])], confidence: aggregated.probabilities[i * k + Int(aggregated.predicted[i])])
      }
      studyLevel = EvaluationReport.StudyLevel(aggregation: aggregation.description, metrics: metrics, diagnoses: diagnoses)
    }
    var comparison: EvaluationReport.Comparison? = nil
    if let other { comparison = compare(t, other.table, otherPath: other.path, warnings: &warnings) }
    return EvaluationReport(
      inputs: inputs, classes: t.classes, overall: overall, studies: studies, studyLevel: studyLevel, comparison: comparison,
      warnings: warnings, rowIssues: t.issues, studyLevelNote: studyLevelNote, curves: curves)
  }

  /// Headline metrics of `b` minus `a` on the rows both share (joined on path), with paired
  /// bootstrap intervals.
  func compare(_ a: PredictionTable, _ b: PredictionTable, otherPath: String, warnings: inout [String]) -> EvaluationReport.Comparison {
    // By file (`./x.png` is `x.png`), in bytes (Unicode twins are two files).
    var indexInB: [PathKey: Int] = [:]
    for (i, p) in b.paths.enumerated() { indexInB[PredictionsReader.fileKey(p)] = i }
    var rowsA: [Int] = [], rowsB: [Int] = []
    for (i, p) in a.paths.enumerated() {
      if let j = indexInB[PredictionsReader.fileKey(p)] { rowsA.append(i); rowsB.append(j) }
    }
    if rowsA.count < a.count || rowsB.count < b.count {
      warnings.append("comparison: \(a.count - rowsA.count) rows of this file and \(b.count - rowsB.count) of \(otherPath) have no counterpart and are left out")
    }
    if b.classes != a.classes { warnings.append("comparison: \(otherPath) lists classes \(b.classes); they must match to compare") }
    let ta = a.subset(rowsA)
    var tb = b.subset(rowsB)
    tb.truth = ta.truth  // one ground truth for both
    tb.studies = ta.studies
    let ma = LabelMetrics(truth: ta.truth, predicted: ta.predicted, classes: a.classes)
    let mb = LabelMetrics(truth: tb.truth, predicted: tb.predicted, classes: a.classes)
    let intervals = bootstrap.resamples > 0 && b.classes == a.classes ? bootstrap.differenceIntervals(ta, tb) : [:]
    var metrics: [String: EvaluationReport.Difference] = [:]
    for m in HeadlineMetric.allCases {
      let va = m.value(ma), vb = m.value(mb)
      metrics[m.rawValue] = EvaluationReport.Difference(a: va, b: vb, difference: va.flatMap { x in vb.map { $0 - x } }, ci95: intervals[m.rawValue])
    }
    return EvaluationReport.Comparison(other: otherPath, n: rowsA.count, metrics: metrics)
  }
}
