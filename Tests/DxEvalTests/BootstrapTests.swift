@testable import DxEval
import Foundation
import XCTest

final class BootstrapTests: XCTestCase {
  /// n rows over 3 classes, correct with probability `p`; `studyOf(i)` names the study.
  func table(n: Int, p: Double, seed: UInt64, studyOf: (Int) -> String = { _ in "" }, correct: ((Int) -> Bool)? = nil) -> PredictionTable {
    var t = PredictionTable(classes: ["a", "b", "c"])
    var state = seed
    func uniform() -> Double {
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return Double(state >> 11) / Double(1 << 53)
    }
    for i in 0..<n {
      let y = i % 3
      let ok = correct?(i) ?? (uniform() < p)
      let pred = ok ? y : (y + 1) % 3
      var probs = [0.1, 0.1, 0.1]
      probs[pred] = 0.8
      t.append(path: "img\(i)", study: studyOf(i), truth: y, predicted: pred, probabilities: probs)
    }
    return t
  }

  func testRowBootstrap_matchesTheBinomialStandardError() {
    let t = table(n: 4000, p: 0.8, seed: 1)
    let acc = Double(zip(t.truth, t.predicted).filter { $0 == $1 }.count) / 4000
    let ci = Bootstrap(resamples: 2000, seed: 3).intervals(t)["accuracy"]!
    let halfWidth = 1.96 * (acc * (1 - acc) / 4000).squareRoot()
    XCTAssertEqual(ci.upper - ci.lower, 2 * halfWidth, accuracy: 0.15 * 2 * halfWidth)
    XCTAssertEqual((ci.upper + ci.lower) / 2, acc, accuracy: 0.25 * halfWidth)
  }

  func testSameSeedSameIntervals_differentSeedDifferent() {
    let t = table(n: 500, p: 0.7, seed: 2)
    XCTAssertEqual(Bootstrap(resamples: 300, seed: 9).intervals(t), Bootstrap(resamples: 300, seed: 9).intervals(t))
    XCTAssertNotEqual(Bootstrap(resamples: 300, seed: 9).intervals(t), Bootstrap(resamples: 300, seed: 10).intervals(t))
  }

  func testStudyBootstrap_isWiderWhenImagesOfAStudyAgree() {
    // 40 studies of 25 images; a study is entirely right or entirely wrong: the effective
    // sample size is 40, not 1000, and the study bootstrap must say so.
    let clustered = table(n: 1000, p: 0, seed: 0, studyOf: { "S\($0 / 25)" }, correct: { ($0 / 25) % 4 != 0 })
    let byStudy = Bootstrap(resamples: 1000, seed: 1).intervals(clustered)["accuracy"]!
    var flat = clustered
    flat.studies = flat.studies.map { _ in "" }
    let byRow = Bootstrap(resamples: 1000, seed: 1).intervals(flat)["accuracy"]!
    XCTAssertGreaterThan(byStudy.upper - byStudy.lower, 3 * (byRow.upper - byRow.lower))
  }

  func testPairedComparison_detectsAnImprovementAndNotASelfComparison() {
    let a = table(n: 1000, p: 0.7, seed: 4)
    var b = a
    for i in stride(from: 0, to: 1000, by: 5) { b.predicted[i] = b.truth[i] }  // b fixes some of a's errors
    let evaluator = Evaluator(bootstrap: Bootstrap(resamples: 500, seed: 2))
    let inputs = EvaluationReport.Inputs(predictions: "a.csv")
    let report = evaluator.evaluate(a, inputs: inputs, compareWith: ("b.csv", b))
    let d = report.comparison!.metrics["accuracy"]!
    XCTAssertEqual(d.difference!, d.b! - d.a!, accuracy: 1e-12)
    XCTAssertGreaterThan(d.difference!, 0)
    XCTAssertGreaterThan(d.ci95!.lower, 0, "the paired interval excludes zero")
    let same = evaluator.evaluate(a, inputs: inputs, compareWith: ("a.csv", a)).comparison!.metrics["macro_f1"]!
    XCTAssertEqual(same.difference, 0)
    XCTAssertEqual(same.ci95, Interval(lower: 0, upper: 0))
  }

  /// Past 46,340 classes a row's cell (truth x classes + predicted) passed Int32 and trapped;
  /// the intervals of a two-row table over 50,000 classes are those of its two rows. And a
  /// comparison's metrics come from the per-class sums, as a full matrix's would.
  func testFiftyThousandClasses_bootstrapAndCompareWithoutAMatrix() {
    let k = 50_000
    var t = PredictionTable(classes: (0..<k).map { "c\($0)" })
    for (i, y) in [k - 1, k - 2].enumerated() {
      var probs = [Double](repeating: 0, count: k)
      probs[y] = 1
      t.append(path: "img\(i)", study: "", truth: y, predicted: y, probabilities: probs)
    }
    let ci = Bootstrap(resamples: 20, seed: 1).intervals(t)
    XCTAssertEqual(ci["accuracy"], Interval(lower: 1, upper: 1))
    var warnings: [String] = []
    var wrong = t
    wrong.predicted[1] = 0
    let comparison = Evaluator(bootstrap: Bootstrap(resamples: 0)).compare(t, wrong, otherPath: "b.csv", warnings: &warnings)
    XCTAssertEqual(comparison.metrics["accuracy"]?.difference, -0.5)
    // The sums give the matrix's metrics, on a table with every kind of cell.
    let small = table(n: 300, p: 0.6, seed: 4)
    let fromMatrix = LabelMetrics(ConfusionMatrix(truth: small.truth, predicted: small.predicted, classCount: 3), classes: small.classes)
    let fromSums = LabelMetrics(truth: small.truth, predicted: small.predicted, classes: small.classes)
    for metric in HeadlineMetric.allCases { XCTAssertEqual(metric.value(fromSums), metric.value(fromMatrix), "\(metric)") }
  }
}

final class RadixSortTests: XCTestCase {
  func testRadixSort_equalsSortOnEverySizeClassWithDuplicates() {
    var state: UInt64 = 7
    for n in [0, 1, 50, 65, 300, 4000, 60_000, 200_000] {
      var keys = (0..<n).map { _ -> UInt64 in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        let p = Double(state >> 11) / Double(1 << 53)
        return (p * 1000).rounded().bitPattern << 1 | (state & 1)  // many duplicate scores
      }
      let expected = keys.sorted()
      radixSort(&keys)
      XCTAssertEqual(keys, expected, "n = \(n)")
    }
  }
}

final class ScoreIntervalTests: XCTestCase {
  /// n rows of a binary task whose positive scores are noisy: AUC well inside (0.5, 1).
  func scored(n: Int, seed: UInt64, studies: Int = 0) -> PredictionTable {
    var t = PredictionTable(classes: ["healthy", "rust"])
    var state = seed
    func uniform() -> Double {
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return Double(state >> 11) / Double(1 << 53)
    }
    for i in 0..<n {
      let rust = i % 2 == 1
      let p = min(0.99, max(0.01, (rust ? 0.6 : 0.4) + 0.5 * (uniform() - 0.5)))
      t.append(path: "img\(i)", study: studies > 0 ? "S\(i % studies)" : "", truth: rust ? 1 : 0, predicted: p >= 0.5 ? 1 : 0, probabilities: [1 - p, p])
    }
    return t
  }

  func testScoreIntervals_holdTheEstimate_narrowWithData_andAreSeeded() {
    let small = scored(n: 200, seed: 1), large = scored(n: 3000, seed: 1)
    let b = Bootstrap(resamples: 400, seed: 5)
    for t in [small, large] {
      let m = ScoreMetrics(t)
      let ci = b.scoreIntervals(t)
      XCTAssertEqual(b.scoreResamples, 200)
      for (key, value) in [("roc_auc_macro", m.rocAUCMacro!), ("average_precision_macro", m.averagePrecisionMacro!), ("ece", m.ece),
                           ("roc_auc:rust", m.rocAUC[1]!), ("average_precision:healthy", m.averagePrecision[0]!)] {
        let i = ci[key]!
        XCTAssertLessThanOrEqual(i.lower, value + 1e-9, key)
        XCTAssertGreaterThanOrEqual(i.upper, value - 1e-9, key)
      }
      // The AUC's interval matches its standard error (Hanley and McNeil) within a third.
      let auc = m.rocAUC[1]!, n1 = Double(t.count / 2), n0 = n1
      let q1 = auc / (2 - auc), q2 = 2 * auc * auc / (1 + auc)
      let se = ((auc * (1 - auc) + (n1 - 1) * (q1 - auc * auc) + (n0 - 1) * (q2 - auc * auc)) / (n1 * n0)).squareRoot()
      XCTAssertEqual(ci["roc_auc:rust"]!.upper - ci["roc_auc:rust"]!.lower, 2 * 1.96 * se, accuracy: 0.33 * 2 * 1.96 * se)
    }
    let w = { (t: PredictionTable) in b.scoreIntervals(t)["roc_auc_macro"]!.upper - b.scoreIntervals(t)["roc_auc_macro"]!.lower }
    XCTAssertGreaterThan(w(small), 2.5 * w(large))
    XCTAssertEqual(b.scoreIntervals(small), b.scoreIntervals(small))
    XCTAssertNotEqual(b.scoreIntervals(small), Bootstrap(resamples: 400, seed: 6).scoreIntervals(small))
    // Too much work: skipped, and said so.
    var said = ""
    XCTAssertEqual(Bootstrap(resamples: 200, seed: 1).scoreIntervals(scored(n: Bootstrap.scoreWorkLimit / 200 + 1, seed: 2)) { said = $0 }, [:])
    XCTAssertTrue(said.contains("no intervals for ROC-AUC"), said)
  }

  func testOperatingPointIntervals_holdTheRates_andResampleStudies() {
    let t = scored(n: 600, seed: 3, studies: 30)
    var op = OperatingPoints(t, positive: 1, threshold: 0.45, targetSensitivity: 0.9)
    op.addIntervals(t, bootstrap: Bootstrap(resamples: 300, seed: 1))
    XCTAssertEqual(op.points.count, 3)
    for p in op.points {
      for (key, value) in [("sensitivity", p.sensitivity!), ("specificity", p.specificity!), ("ppv", p.ppv!), ("npv", p.npv!)] {
        let i = p.ci95![key]!
        XCTAssert(i.lower <= value && value <= i.upper, "\(p.rule) \(key): \(value) outside \(i)")
        XCTAssertGreaterThan(i.upper - i.lower, 0.01)
      }
    }
    XCTAssertNil(op.table[0].ci95, "the threshold table stays plain")
    // The report says so beside the rate, and warns when the studies are few.
    var report = Evaluator(bootstrap: Bootstrap(resamples: 100, seed: 1)).evaluate(scored(n: 300, seed: 4, studies: 6), inputs: .init(predictions: "x"))
    report.operatingPoints = op
    let md = MarkdownReport.render(report)
    XCTAssertTrue(md.contains("only 6: read them as rough"), md)
    XCTAssertTrue(md.range(of: #"\| argmax \| - \| \d+ \| \d+ \| \d+ \| \d+ \| 0\.\d{4} \[0\.\d{4}, 0\.\d{4}\]"#, options: .regularExpression) != nil, md)
    XCTAssertNotNil(report.overall.ci95?["roc_auc:rust"])
    XCTAssertNotNil(report.overall.ci95?["ece"])
  }
}
