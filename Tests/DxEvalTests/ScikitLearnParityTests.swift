@testable import DxEval
import DxTestSupport
import Foundation
import XCTest

/// Every metric against scikit-learn 1.9.1 on six prediction sets (Tests/TestData/eval, made
/// by Scripts/dev/make_eval_fixtures.py): balanced, imbalanced with a predicted column that is
/// not the argmax, a class never predicted, a class absent from the ground truth, a single
/// study, and sixty studies.
final class ScikitLearnParityTests: XCTestCase {
  let dir = SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/eval")
  let cases = ["balanced", "imbalanced", "never_predicted", "absent_truth", "single_study", "many_studies"]

  func expected(_ name: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("\(name).expected.json"))) as! [String: Any]
  }

  func close(_ a: Double?, _ e: Any?, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    if e == nil || e is NSNull {
      XCTAssertNil(a, "\(what): expected undefined, got \(String(describing: a))", file: file, line: line)
      return
    }
    guard let a, let e = (e as? NSNumber)?.doubleValue else { return XCTFail("\(what): got \(String(describing: a)), expected \(String(describing: e))", file: file, line: line) }
    XCTAssertEqual(a, e, accuracy: 1e-9 + 1e-9 * abs(e), what, file: file, line: line)
  }

  func compare(_ b: EvaluationReport.Block, _ e: [String: Any], classes: [String], _ scope: String) {
    XCTAssertEqual(b.n, e["n"] as? Int, "\(scope) n")
    close(b.accuracy, e["accuracy"], "\(scope) accuracy")
    close(b.balancedAccuracy, e["balanced_accuracy"], "\(scope) balanced_accuracy")
    for (avg, s) in [("macro", b.macro), ("weighted", b.weighted), ("micro", b.micro)] {
      let x = e[avg] as! [String: Any]
      close(s.precision, x["precision"], "\(scope) \(avg) precision")
      close(s.recall, x["recall"], "\(scope) \(avg) recall")
      close(s.f1, x["f1"], "\(scope) \(avg) f1")
    }
    let perClass = e["per_class"] as! [String: [String: Any]]
    for c in classes {
      close(b.perClass[c]?.precision, perClass[c]!["precision"], "\(scope) \(c) precision")
      close(b.perClass[c]?.recall, perClass[c]!["recall"], "\(scope) \(c) recall")
      close(b.perClass[c]?.f1, perClass[c]!["f1"], "\(scope) \(c) f1")
      XCTAssertEqual(b.perClass[c]?.support, perClass[c]!["support"] as? Int, "\(scope) \(c) support")
      close(b.rocAuc[c] ?? nil, (e["roc_auc"] as! [String: Any])[c], "\(scope) \(c) roc_auc")
      close(b.averagePrecision[c] ?? nil, (e["average_precision"] as! [String: Any])[c], "\(scope) \(c) average_precision")
    }
    XCTAssertEqual(b.confusionMatrix, e["confusion_matrix"] as? [[Int]], "\(scope) confusion matrix")
    let normalized = e["confusion_matrix_normalized"] as! [[Double]]
    for (r, row) in normalized.enumerated() { for (c, v) in row.enumerated() { close(b.confusionMatrixNormalized?[r][c], v, "\(scope) normalized[\(r)][\(c)]") } }
    close(b.cohenKappa, e["cohen_kappa"], "\(scope) kappa")
    close(b.matthewsCorrcoef, e["matthews_corrcoef"], "\(scope) mcc")
    close(b.logLoss, e["log_loss"], "\(scope) log_loss")
    for (k, v) in e["top_k_accuracy"] as! [String: Any] { close(b.topKAccuracy[k], v, "\(scope) top-\(k)") }
    close(b.rocAucMacro, e["roc_auc_macro"], "\(scope) roc_auc_macro")
    // Macro average precision: the mean of scikit-learn's per-class values where defined.
    let definedAP = (e["average_precision"] as! [String: Any]).values.compactMap { ($0 as? NSNumber)?.doubleValue }
    close(b.averagePrecisionMacro, definedAP.isEmpty ? NSNull() : NSNumber(value: definedAP.reduce(0, +) / Double(definedAP.count)), "\(scope) average_precision_macro")
    if let sk = e["roc_auc_macro_sklearn"], !(sk is NSNull) { close(b.rocAucMacro, sk, "\(scope) roc_auc_macro vs roc_auc_score(ovr, macro)") }
    close(b.ece, e["ece"], "\(scope) ece")
  }

  func testEveryMetric_overallPerStudyAndStudyLevel_equalsScikitLearn() throws {
    for name in cases {
      let table = try PredictionsReader.read(predictions: dir.appendingPathComponent("\(name).csv").path)
      XCTAssertTrue(table.issues.isEmpty, "\(table.issues)")
      let e = try expected(name)
      let classes = e["classes"] as! [String]
      XCTAssertEqual(table.classes, classes)
      let inputs = EvaluationReport.Inputs(predictions: name, labels: nil, studyColumn: "study", bootstrapResamples: 0, seed: 0)
      let report = Evaluator(bootstrap: Bootstrap(resamples: 0)).evaluate(table, inputs: inputs)
      compare(report.overall, e["overall"] as! [String: Any], classes: classes, "\(name) overall")
      let studies = e["studies"] as! [String: [String: Any]]
      XCTAssertEqual(Set(report.studies.keys), Set(studies.keys), name)
      for (s, block) in studies { compare(report.studies[s]!, block, classes: classes, "\(name) study \(s)") }
      let studyLevel = e["study_level"] as! [String: Any]
      let truth = studyLevel["truth"] as! [String: String]
      for (aggregation, key) in [(StudyAggregation.meanProbability, "mean_probability"), (.majorityVote, "majority_vote")] {
        var evaluator = Evaluator(aggregation: aggregation, bootstrap: Bootstrap(resamples: 0))
        evaluator.includeMixedStudies = true  // the fixtures' studies mix labels; the aggregation is what is checked
        let r = evaluator.evaluate(table, inputs: inputs)
        let exp = studyLevel[key] as! [String: Any]
        let level = try XCTUnwrap(r.studyLevel)
        XCTAssertEqual(level.aggregation, key)
        close(level.metrics.accuracy, exp["accuracy"], "\(name) \(key) accuracy")
        close(level.metrics.macro.f1, exp["macro_f1"], "\(name) \(key) macro f1")
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: level.diagnoses.map { ($0.study, $0.predicted) }), exp["predicted"] as? [String: String], "\(name) \(key) diagnoses")
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: level.diagnoses.map { ($0.study, $0.truth) }), truth, "\(name) study truth")
      }
    }
  }

  func testIllDefinedValues_areZeroWithAWarningNamingTheClass() throws {
    let table = try PredictionsReader.read(predictions: dir.appendingPathComponent("never_predicted.csv").path)
    let report = Evaluator(bootstrap: Bootstrap(resamples: 0)).evaluate(table, inputs: .init(predictions: "x", labels: nil, studyColumn: "study", bootstrapResamples: 0, seed: 0))
    XCTAssertEqual(report.overall.perClass["mildew"]?.precision, 0)
    XCTAssertTrue(report.warnings.contains { $0.hasPrefix("overall:") && $0.contains("precision of 'mildew' is ill-defined") }, "\(report.warnings)")
    let absent = try PredictionsReader.read(predictions: dir.appendingPathComponent("absent_truth.csv").path)
    let r2 = Evaluator(bootstrap: Bootstrap(resamples: 0)).evaluate(absent, inputs: .init(predictions: "x", labels: nil, studyColumn: "study", bootstrapResamples: 0, seed: 0))
    XCTAssertTrue(r2.warnings.contains { $0.contains("ROC-AUC of 'mildew' is undefined") }, "\(r2.warnings)")
  }

  /// Many ill-defined classes make one sentence per kind naming them (the first ten and a
  /// count), not a sentence per class: 1,000 classes over a few images gave thousands.
  func testManyIllDefinedClasses_makeOneWarningPerKind() {
    let classes = (0..<25).map { "c\($0)" }
    var warnings: [String] = []
    // Truth: c0 twice, c1 once; predicted: c0 three times. 24 never predicted, 23 absent.
    var tp = [Int](repeating: 0, count: 25), predicted = tp, actual = tp
    (tp[0], predicted[0], actual[0], actual[1]) = (2, 3, 2, 1)
    let m = LabelMetrics(truePositives: tp, predicted: predicted, actual: actual, classes: classes) { warnings.append($0) }
    XCTAssertEqual(m.perClass[5].precision, 0)
    XCTAssertEqual(warnings.count, 3, "\(warnings)")
    XCTAssertEqual(warnings[0], "precision of 24 classes, 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8', 'c9', 'c10' and 14 more is ill-defined (never predicted); set to 0")
    XCTAssertTrue(warnings[1].hasPrefix("recall of 23 classes, 'c2', 'c3'"), warnings[1])
    XCTAssertTrue(warnings[2].hasPrefix("F1 of 23 classes, 'c2',"), warnings[2])
  }

  /// Study-level diagnosis only where a study has one label: all mixed, off with the reason;
  /// some mixed, scored on the single-label studies and said so; none mixed, all of them.
  func testStudyLevel_coversSingleLabelStudiesOnly_andSaysWhy() {
    func table(_ studies: [(String, [Int])]) -> PredictionTable {
      var t = PredictionTable(classes: ["healthy", "rust"])
      for (study, labels) in studies {
        for (i, label) in labels.enumerated() {
          let p = i % 3 == 0 ? 0.3 : 0.8  // some wrong, some right
          t.append(path: "\(study)/\(i).png", study: study, truth: label, predicted: p > 0.5 ? label : 1 - label, probabilities: label == 0 ? [p, 1 - p] : [1 - p, p])
        }
      }
      return t
    }
    let inputs = EvaluationReport.Inputs(predictions: "x")
    let evaluator = Evaluator(bootstrap: Bootstrap(resamples: 0))
    let allMixed = evaluator.evaluate(table([("field1", [0, 1, 0, 1]), ("field2", [1, 0, 1])]), inputs: inputs)
    XCTAssertNil(allMixed.studyLevel, "no headline number over fields holding every class")
    XCTAssertTrue(allMixed.studyLevelNote?.contains("off") == true, "\(allMixed.studyLevelNote ?? "")")
    XCTAssertTrue(MarkdownReport.render(allMixed).contains("Study-level diagnosis is off"))
    let some = evaluator.evaluate(table([("p1", [0, 0, 0]), ("p2", [1, 1]), ("p3", [0, 1])]), inputs: inputs)
    XCTAssertEqual(some.studyLevel?.metrics.n, 2)
    XCTAssertEqual(Set(some.studyLevel?.diagnoses.map(\.study) ?? []), ["p1", "p2"])
    XCTAssertTrue(some.studyLevelNote?.contains("1 studies holding images of more than one label are left out") == true, "\(some.studyLevelNote ?? "")")
    let none = evaluator.evaluate(table([("p1", [0, 0]), ("p2", [1, 1, 1])]), inputs: inputs)
    XCTAssertEqual(none.studyLevel?.metrics.n, 2)
    XCTAssertNil(none.studyLevelNote)
    // Intervals from few studies are flagged; comparison rows use readable names.
    XCTAssertEqual(Format.fewStudies(3), " (from only 3 studies: a rough interval)")
    XCTAssertEqual(Format.fewStudies(10), "")
    XCTAssertEqual(Format.metricName("cohen_kappa"), "Cohen's kappa")
  }

  /// ROC and PR points: a hand-computed case (ties included), and on every fixture the area
  /// under the ROC points equals the scikit-learn ROC-AUC the report carries.
  func testCurves_handComputedAndTheirAreaIsTheAUC() throws {
    var t = PredictionTable(classes: ["healthy", "rust"])
    for (score, rust) in [(0.9, true), (0.8, false), (0.7, true), (0.7, false), (0.2, false)] {
      t.append(path: "\(score)-\(rust)", study: "", truth: rust ? 1 : 0, predicted: score >= 0.5 ? 1 : 0, probabilities: [1 - score, score])
    }
    let c = Curves(t, positive: 1)
    XCTAssertEqual(c.points.map(\.threshold), [0.9, 0.8, 0.7, 0.2])
    XCTAssertEqual(c.points.map(\.tpr), [0.5, 0.5, 1, 1])
    XCTAssertEqual(c.points.map(\.fpr), [0, 1.0 / 3, 2.0 / 3, 1])
    XCTAssertEqual(c.points.map(\.precision), [1, 0.5, 0.5, 0.4])
    XCTAssertEqual(c.trapezoidalAUC, 4.5 / 6, accuracy: 1e-12, "of 6 positive-negative pairs, 4 ordered right and the tie at 0.7 half")
    XCTAssertEqual(c.trapezoidalAUC, ScoreMetrics(t).rocAUC[1]!, accuracy: 1e-12)
    for name in cases {
      let table = try PredictionsReader.read(predictions: dir.appendingPathComponent("\(name).csv").path)
      let report = Evaluator(bootstrap: Bootstrap(resamples: 0)).evaluate(table, inputs: .init(predictions: name))
      for cls in table.classes {
        guard let auc = report.overall.rocAuc[cls] ?? nil, let curve = report.curves?[cls], curve.points.count < Curves.maxPoints else { continue }
        XCTAssertEqual(curve.trapezoidalAUC, auc, accuracy: 1e-9, "\(name) \(cls)")
      }
    }
  }

  /// Operating points against confusion counts worked out by hand.
  func testOperatingPoints_equalHandCountedConfusions() {
    var t = PredictionTable(classes: ["healthy", "rust"])
    // (probability of rust, truly rust)
    let rows: [(Double, Bool)] = [(0.95, true), (0.8, true), (0.6, false), (0.45, true), (0.3, false), (0.1, false), (0.05, true)]
    for (i, (p, rust)) in rows.enumerated() {
      t.append(path: "\(i)", study: "", truth: rust ? 1 : 0, predicted: p >= 0.5 ? 1 : 0, probabilities: [1 - p, p])
    }
    let op = OperatingPoints(t, positive: 1, threshold: 0.4, targetSensitivity: 0.75)
    let argmax = op.points[0]
    XCTAssertEqual([argmax.tp, argmax.fp, argmax.tn, argmax.fn], [2, 1, 2, 2])
    XCTAssertEqual(argmax.sensitivity, 0.5)
    XCTAssertEqual(argmax.specificity ?? 0, 2.0 / 3, accuracy: 1e-12)
    XCTAssertEqual(argmax.ppv ?? 0, 2.0 / 3, accuracy: 1e-12)
    XCTAssertEqual(argmax.npv, 0.5)
    let at = op.points[1]
    XCTAssertEqual([at.tp, at.fp, at.tn, at.fn], [3, 1, 2, 1], "0.45 is called at 0.4")
    let target = op.points[2]
    XCTAssertEqual(target.threshold, 0.45, "the highest threshold with 3 of 4 rust photos called")
    XCTAssertEqual(target.sensitivity, 0.75)
    XCTAssertEqual(op.table.map(\.threshold), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    XCTAssertEqual(op.table[0].tp + op.table[0].fn, 4)
    XCTAssertNil(OperatingPoints(t, positive: 1, threshold: nil, targetSensitivity: 1.01).points.first { $0.rule == "target sensitivity" }, "no threshold reaches it")
    var report = Evaluator(bootstrap: Bootstrap(resamples: 0)).evaluate(t, inputs: .init(predictions: "x"))
    report.operatingPoints = op
    XCTAssertTrue(MarkdownReport.render(report).contains("| target sensitivity | 0.45 | 3 | 1 | 2 | 1 | 0.7500 | 0.6667 | 0.7500 | 0.6667 |"))
  }
}

