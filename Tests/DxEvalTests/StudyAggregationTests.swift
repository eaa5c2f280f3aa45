import DxEval
import XCTest

final class StudyAggregationTests: XCTestCase {
  func testTopKMean_makesASlidePositiveFromAFewConfidentTiles() {
    var t = PredictionTable(classes: ["normal", "tumor"])
    // Slide A: 10 tiles, 2 labelled tumour with p(tumor) 0.9 and 0.8; the rest 0.1.
    for i in 0..<10 {
      let p = i == 0 ? 0.9 : (i == 1 ? 0.8 : 0.1)
      t.append(path: "A\(i)", study: "A", truth: i < 2 ? 1 : 0, predicted: p > 0.5 ? 1 : 0, probabilities: [1 - p, p])
    }
    // Slide B: all normal, one tile at 0.6.
    for i in 0..<10 {
      let p = i == 0 ? 0.6 : 0.05
      t.append(path: "B\(i)", study: "B", truth: 0, predicted: p > 0.5 ? 1 : 0, probabilities: [1 - p, p])
    }
    let slides = StudyAggregation.topKMean(positiveClass: "tumor", k: 2, threshold: 0.5).aggregate(t)
    XCTAssertEqual(slides.paths, ["A", "B"])
    XCTAssertEqual(slides.truth, [1, 0], "a slide with any tumour tile is a tumour slide")
    XCTAssertEqual(slides.predicted, [1, 0])  // A: mean(0.9, 0.8) = 0.85; B: mean(0.6, 0.05) = 0.325
    XCTAssertEqual(slides.probabilities[1], 0.85, accuracy: 1e-12)
    XCTAssertEqual(slides.probabilities[3], 0.325, accuracy: 1e-12)
    // Mean probability calls slide A normal (mean p(tumor) = 0.25) and majority vote too.
    XCTAssertEqual(StudyAggregation.meanProbability.aggregate(t).predicted, [0, 0])
    XCTAssertEqual(StudyAggregation.majorityVote.aggregate(t).predicted, [0, 0])
    // Truth for mean/vote is the most frequent label: A is "normal" there.
    XCTAssertEqual(StudyAggregation.meanProbability.aggregate(t).truth, [0, 0])
  }

  func testUnknownPositiveClass_fallsBackWithAWarning() {
    var t = PredictionTable(classes: ["a", "b"])
    t.append(path: "1", study: "S", truth: 0, predicted: 0, probabilities: [0.7, 0.3])
    var warnings: [String] = []
    let out = StudyAggregation.topKMean(positiveClass: "zzz", k: 3, threshold: 0.5).aggregate(t) { warnings.append($0) }
    XCTAssertEqual(out.predicted, [0])
    XCTAssertTrue(warnings.contains { $0.contains("'zzz' is not a class") })
  }
}
