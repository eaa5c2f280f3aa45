import DxEfficientNet
import DxEval
import DxTasks
import DxTestSupport
import Foundation
import XCTest

/// `effdx diagnose` on whole slides takes its tiling from the task's slide pipeline, from
/// `--pipeline`, or from flags, in that order of precedence (flags win).
final class SlideDiagnoseCommandTests: XCTestCase {
  var dir: String!

  override func setUpWithError() throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-slidecli-\(UUID().uuidString)").path
    try SampleDatasets.histopathology(to: dir, count: 5, holdout: 5, size: 32, slideSize: 512, seed: 3)
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = HistologySamples.classes.count
    let classes = String(decoding: try JSONEncoder().encode(HistologySamples.classes), as: UTF8.self)
    try EfficientNet(c, seed: 1).save(to: dir + "/tiny.safetensors", preprocessing: Preprocessing(resolution: 32),
                                     metadata: ["task": "histopathology", "classes": classes])
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

  func diagnose(_ extra: [String], out: String) throws -> EffDxRunner.Result {
    try EffDxRunner.run(["diagnose", "--checkpoint", dir + "/tiny.safetensors", "--input", dir + "/slides", "--out", dir + "/" + out] + extra)
  }

  func testSlideTiling_fromThePipelineFile_overriddenByFlags() throws {
    let plain = try diagnose([], out: "plain.csv")
    XCTAssertEqual(plain.status, 0, plain.stderr)
    XCTAssertTrue(plain.stdout.contains("2 diagnosed"), plain.stdout)

    // A pipeline asking for 0.01 um/px, finer than any level of these slides: each slide fails
    // with that reason, and the batch goes on to the end.
    let yaml = dir + "/too-fine.yaml"
    try """
      name: too-fine
      task: histopathology
      tiling:
        tile_size: 32
        mpp: 0.01
        min_tissue: 0.5
      """.write(toFile: yaml, atomically: true, encoding: .utf8)
    let tooFine = try diagnose(["--pipeline", yaml], out: "too-fine.csv")
    XCTAssertEqual(tooFine.status, 3, "exit 3: files failed\n\(tooFine.stderr)")
    let errors = try String(contentsOfFile: dir + "/too-fine.errors.csv", encoding: .utf8)
    XCTAssertTrue(errors.contains("0.01"), errors)
    XCTAssertEqual(errors.split(separator: "\n").count, 1 + 2, "both slides listed")

    // A flag overrides the file.
    let overridden = try diagnose(["--pipeline", yaml, "--slide-mpp", "0.5"], out: "overridden.csv")
    XCTAssertEqual(overridden.status, 0, overridden.stderr)
    XCTAssertTrue(overridden.stdout.contains("2 diagnosed"), overridden.stdout)
  }

  func testTheTaskDecidesSlideAggregation() {
    XCTAssertEqual(Task.histopathology.slideAggregation(HistologySamples.classes), .topKMean(positiveClass: "tumor", k: 5, threshold: 0.5))
    XCTAssertEqual(Task.histopathology.slideAggregation(["benign", "malignant"]), .meanProbability)
    XCTAssertEqual(Task.leafDisease.slideAggregation(["tumor"]), .meanProbability)
  }
}
