import DxEfficientNet
import DxImaging
import DxNN
import DxPipeline
import DxTasks
import DxTensor
import Foundation
import XCTest

final class TaskTests: XCTestCase {
  func tiny(classes: Int = 3) throws -> EfficientNet {
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0.2)
    c.numClasses = classes
    return try EfficientNet(c, seed: 1)
  }

  func updated(_ m: EfficientNet) -> Set<String> { Set(m.namedParameters().filter { $0.parameter.isUpdated }.map(\.name)) }

  func testPolicies_freezeTheRightParameters() throws {
    let m = try tiny()
    FineTunePolicy.head.apply(to: m, epoch: 0)
    XCTAssertEqual(updated(m), ["classifier.weight", "classifier.bias"])
    FineTunePolicy.lastStages(2).apply(to: m, epoch: 0)
    let last2 = updated(m)
    XCTAssertTrue(last2.contains("blocks.6.0.conv_dw.weight") && last2.contains("blocks.5.0.conv_pw.weight") && last2.contains("conv_head.weight"))
    XCTAssertFalse(last2.contains("blocks.4.0.conv_dw.weight") || last2.contains("conv_stem.weight"))
    FineTunePolicy.full.apply(to: m, epoch: 0)
    XCTAssertEqual(updated(m).count, m.namedParameters().filter { $0.parameter.kind == .trainable }.count)
    FineTunePolicy.gradual.apply(to: m, epoch: 0)
    XCTAssertEqual(updated(m), ["classifier.weight", "classifier.bias"])
    FineTunePolicy.gradual.apply(to: m, epoch: 2)
    XCTAssertTrue(updated(m).contains("blocks.6.0.conv_pwl.weight"))
    XCTAssertFalse(updated(m).contains("blocks.5.0.conv_pwl.weight"))
    XCTAssertEqual(FineTunePolicy("last-3"), .lastStages(3))
    XCTAssertNil(FineTunePolicy("last-0"))
    for name in ["last-+2", "last-01", "last-２", "last- 2"] { XCTAssertNil(FineTunePolicy(name), name) }
  }

  func testFrozenBatchNorm_keepsItsStatisticsInTraining() {
    let bn = BatchNorm2D(2)
    bn.runningMean.value = Tensor(shape: [2], scalars: [1, -1])
    bn.setFrozen(true)
    let y = bn.forward(Tensor(shape: [2, 2], scalars: [1, -1, 3, 1]), mode: .training)
    XCTAssertEqual(bn.runningMean.value.scalars, [1, -1], "statistics untouched")
    XCTAssertEqual(y.scalars[0], 0, accuracy: 1e-4, "normalised with the running mean")
  }

  func testMLPHead_isRecordedInTheConfigAndSurvivesACheckpoint() throws {
    let m = try tiny()
    m.resetClassifier(numClasses: 4, hidden: 16, seed: 2)
    XCTAssertEqual(m.config.numClasses, 4)
    XCTAssertEqual(m.config.classifierHidden, 16)
    XCTAssertTrue(m.namedParameters().contains { $0.name == "classifier.fc1.weight" })
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("mlp-\(UUID().uuidString).safetensors").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try m.save(to: path)
    let loaded = try EfficientNet.load(from: path).model
    XCTAssertEqual(loaded.stateDict(), m.stateDict())
    var rng = SeededGenerator(seed: 1)
    let x = Tensor.randomNormal([2, 32, 32, 3], using: &rng)
    XCTAssertEqual(loaded.forward(x, mode: .inference), m.forward(x, mode: .inference))
  }

  func testOptimizerState_roundTripsForAnExactResume() {
    let p = Parameter(Tensor(shape: [3], scalars: [1, 2, 3]))
    let a = AdamW()
    p.grad = Tensor(shape: [3], scalars: [0.1, -0.2, 0.3])
    a.step([("w", p)], lr: 0.1)
    let b = AdamW()
    b.loadState(a.stateTensors())
    let q = Parameter(p.value)
    for opt in [(a, p), (b, q)] {
      opt.1.grad = Tensor(shape: [3], scalars: [0.5, 0.5, -0.5])
      opt.0.step([("w", opt.1)], lr: 0.1)
    }
    XCTAssertEqual(p.value, q.value)
    let s = SGD(momentum: 0.9), t = SGD(momentum: 0.9)
    s.step([("w", p)], lr: 0.1)
    t.loadState(s.stateTensors())
    XCTAssertEqual(t.stateTensors(), s.stateTensors())
  }

  func testGradCAM_isANonNegativeMapScaledToOne() throws {
    let m = try tiny()
    var rng = SeededGenerator(seed: 4)
    let map = GradCAM.map(m, input: Tensor.randomNormal([1, 64, 64, 3], using: &rng), classIndex: 1)
    XCTAssertEqual([map.width, map.height], [2, 2])  // 64 / 32
    XCTAssertTrue(map.values.allSatisfy { $0 >= 0 && $0 <= 1 })
    XCTAssertTrue(map.values.contains(1) || map.values.allSatisfy { $0 == 0 })
    let overlay = GradCAM.overlay(Image(width: 64, height: 64, channels: 3), map: map)
    XCTAssertEqual([overlay.width, overlay.height], [64, 64])
  }

  func testSamples_areSeededAndLabelled() throws {
    var a = SeededGenerator(seed: 9), b = SeededGenerator(seed: 9)
    XCTAssertEqual(LeafSamples.render(label: 2, size: 64, using: &a), LeafSamples.render(label: 2, size: 64, using: &b))
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("samples-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try SampleDatasets.leafDisease(to: dir, count: 8, holdout: 4, size: 48, seed: 1)
    let manifest = try String(contentsOfFile: dir + "/train/manifest.csv", encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(manifest.count, 9)
    XCTAssertEqual(manifest[0], "path,label,study")
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/train").filter { !$0.hasSuffix(".csv") }.count, 4)
  }
}

final class SlideDiagnosisTests: XCTestCase {
  func testSlides_areTiledClassifiedAggregatedAndMapped() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slides-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try SampleDatasets.histopathology(to: dir, count: 5, holdout: 5, size: 32, slideSize: 512, seed: 3)
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = HistologySamples.classes.count
    let model = try EfficientNet(c, seed: 1)
    let predictor = Predictor(model: model, classes: HistologySamples.classes, evaluation: EvaluationTransform(resolution: 32, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], steps: [.resize(filter: .area)]))
    var d = DiagnosisRun(predictor: predictor, slides: SlideDiagnoser(predictor: predictor, tiling: .init(tileSize: 32, mpp: 0.5), aggregation: .topKMean(positiveClass: "tumor", k: 3, threshold: 0.5)))
    d.heatmaps = dir + "/heat"
    let slides = DiagnosisInputs([dir + "/slides"], recursive: false, classes: HistologySamples.classes)
    XCTAssertEqual(slides.files.map { ($0.path as NSString).lastPathComponent }, ["slide_1.tif", "slide_2.tif"])
    let summary = try d.run(inputs: slides, output: dir + "/pred.csv")
    XCTAssertEqual(summary.written, 2)
    XCTAssertEqual(summary.failed, 0)
    let rows = try String(contentsOfFile: dir + "/pred.csv", encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(rows.count, 3)
    XCTAssertTrue(rows[1].contains(",slide_1,"), "the slide is its own study")
    for slide in ["slide_1", "slide_2"] {
      XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/heat/\(slide)_heatmap.png"))
      let tiles = try String(contentsOfFile: dir + "/heat/\(slide)_tiles.csv", encoding: .utf8).split(separator: "\n")
      XCTAssertGreaterThan(tiles.count, 2, "tissue tiles classified")
    }
    // Probabilities in a row sum to one.
    let p = rows[1].split(separator: ",").suffix(HistologySamples.classes.count).compactMap { Double($0) }
    XCTAssertEqual(p.reduce(0, +), 1, accuracy: 1e-4)
  }
}
