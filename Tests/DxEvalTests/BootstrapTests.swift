import DxEval
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
