import DxCSV
import DxEfficientNet
import DxEval
import DxImaging
import DxPipeline
@testable import DxTasks
import DxTensor
import Foundation
import XCTest

/// The diagnosis parts on real files: a tiny random network, PNG photos written to disk.
final class DiagnosisRunTests: XCTestCase {
  /// A hashed overlay name (`d_x_<hash>`, for two files named `d_x`) that is a third file's
  /// own name is hashed again: two overlays shared one name and one was lost.
  func testAHashedNameThatIsAnotherFilesName_isHashedAgain() {
    let first = "/r/d/x.png", second = "/r/e/d/x.png"
    let hashed = "d_x_" + OutputNames.hash(DiagnosisRun.key(first))
    let third = "/r/d/x_" + String(hashed.dropFirst(4)) + ".png"
    let names = OutputNames(job: [first, second, third], earlier: [])
    XCTAssertEqual(DiagnosisRun.flatName(third), hashed, "the third file's own name is the first's hashed one")
    XCTAssertEqual(Set([first, second, third].map(names.name)).count, 3, [first, second, third].map(names.name).joined(separator: ", "))
  }

  var dir: String!
  static let classes = ["Pepper,_bell___Bacterial_spot", "Tomato___\"healthy\""]

  override func setUpWithError() throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-diag-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

  func predictor(classes: [String] = DiagnosisRunTests.classes) throws -> Predictor { try Self.tinyPredictor(classes: classes) }

  /// A tiny random network at 32 px behind the evaluation transform.
  static func tinyPredictor(classes: [String]) throws -> Predictor {
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = classes.count
    return Predictor(model: try EfficientNet(c, seed: 2), classes: classes,
                     evaluation: EvaluationTransform(resolution: 32, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], steps: [.centerCrop(cropFraction: 0.875)]))
  }

  /// Writes a `w` x `h` photo with a seeded pattern.
  func photo(_ path: String, w: Int = 40, h: Int = 36, seed: UInt8 = 1) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    var px = [UInt8](repeating: 0, count: w * h * 3)
    for i in px.indices { px[i] = UInt8(truncatingIfNeeded: i &* Int(seed) &+ i / 7) }
    try PNGCodec.write(Image(width: w, height: h, channels: 3, samples: .uint8(px)), to: path)
  }

  func testClassNamesWithCommasAndQuotes_roundTripThroughEvaluate() throws {
    try photo(dir + "/a.png", seed: 3)
    try photo(dir + "/b.png", seed: 5)
    let run = DiagnosisRun(predictor: try predictor(), slides: nil)
    let summary = try run.run(inputs: DiagnosisInputs([dir + "/a.png", dir + "/b.png"], recursive: false, classes: Self.classes), output: dir + "/pred.csv")
    XCTAssertEqual(summary.written, 2)
    let header = try String(contentsOfFile: dir + "/pred.csv", encoding: .utf8).split(separator: "\n")[0]
    XCTAssertEqual(CSV.records(String(header))[0].fields, ["path", "study", "label", "predicted"] + Self.classes.map { "p_\($0)" })
    // evaluate's reader takes the same file (labels from a manifest, since the folder names none).
    try (CSV.row(["path", "label"]) + CSV.row([dir + "/a.png", Self.classes[0]]) + CSV.row([dir + "/b.png", Self.classes[1]])).write(toFile: dir + "/truth.csv", atomically: true, encoding: .utf8)
    let table = try PredictionsReader.read(predictions: dir + "/pred.csv", labels: dir + "/truth.csv")
    XCTAssertEqual(table.classes, Self.classes)
    XCTAssertEqual(table.count, 2)
    XCTAssertEqual(table.issues, [])
  }

  func testTheErrorsLedger_holdsOneRowPerBadFile_howeverOftenTheRunIsRepeated() throws {
    try photo(dir + "/good.png")
    XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/bad.png", contents: Data([0x89, 0x50, 0x4E, 0x47, 9, 9])), "cannot create a test file")
    XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/worse.jpg", contents: Data([0xFF, 0xD8, 0xFF, 1])), "cannot create a test file")
    let run = DiagnosisRun(predictor: try predictor(), slides: nil)
    for attempt in 1...3 {
      let summary = try run.run(inputs: DiagnosisInputs([dir], recursive: false, classes: Self.classes), output: dir + "/pred.csv")
      XCTAssertEqual(summary.failed, 2, "attempt \(attempt)")
      XCTAssertEqual(summary.written, attempt == 1 ? 1 : 0)
      let ledger = CSV.records(try String(contentsOfFile: dir + "/pred.errors.csv", encoding: .utf8))
      XCTAssertEqual(ledger.map { ($0.fields[0] as NSString).lastPathComponent }, ["error", "bad.png", "worse.jpg"].map { $0 == "error" ? "path" : $0 }, "attempt \(attempt)")
    }
    // A file that reads now leaves the ledger.
    try FileManager.default.removeItem(atPath: dir + "/bad.png")
    try photo(dir + "/bad.png", seed: 9)
    _ = try run.run(inputs: DiagnosisInputs([dir], recursive: false, classes: Self.classes), output: dir + "/pred.csv")
    let ledger = CSV.records(try String(contentsOfFile: dir + "/pred.errors.csv", encoding: .utf8))
    XCTAssertEqual(ledger.count, 2, "header and worse.jpg: \(ledger)")
  }

  func testAnOutputThatIsNotOurs_isLeftByteForByte_andALockedOneIsRefused() throws {
    try photo(dir + "/a.png")
    let run = DiagnosisRun(predictor: try predictor(), slides: nil)
    let inputs = DiagnosisInputs([dir + "/a.png"], recursive: false, classes: Self.classes)
    // A PNG given as --out, and a manifest without a final newline: refused, unchanged.
    try photo(dir + "/precious.png")
    let manifest = "path,label\nx.png,Tomato\ny.png,Pepper"
    try manifest.write(toFile: dir + "/manifest.csv", atomically: true, encoding: .utf8)
    for victim in [dir + "/precious.png", dir + "/manifest.csv"] {
      let before = try Data(contentsOf: URL(fileURLWithPath: victim))
      XCTAssertThrowsError(try run.run(inputs: inputs, output: victim)) { XCTAssertTrue("\($0)".contains("left as it is"), "\($0)") }
      XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: victim)), before, victim)
    }
    // A row cut short by a crash is dropped and done again; the rows before it stay.
    _ = try run.run(inputs: inputs, output: dir + "/pred.csv")
    let whole = try String(contentsOfFile: dir + "/pred.csv", encoding: .utf8)
    try (whole + "/other/path.png,,,Tomato").write(toFile: dir + "/pred.csv", atomically: true, encoding: .utf8)
    let again = try run.run(inputs: inputs, output: dir + "/pred.csv")
    XCTAssertEqual(again.skipped, 1)
    XCTAssertEqual(try String(contentsOfFile: dir + "/pred.csv", encoding: .utf8), whole)
    // While one run holds the output, a second is refused (flock) and the file is untouched.
    let holder = open(dir + "/pred.csv", O_RDWR)
    defer { close(holder) }
    XCTAssertEqual(flock(holder, LOCK_EX | LOCK_NB), 0)
    XCTAssertThrowsError(try run.run(inputs: inputs, output: dir + "/pred.csv")) { XCTAssertTrue("\($0)".contains("another process"), "\($0)") }
    XCTAssertEqual(try String(contentsOfFile: dir + "/pred.csv", encoding: .utf8), whole)
  }

  func testInputs_areEachReadOnce_andAFolderPerClassIsLabelledByItsFolders() throws {
    try photo(dir + "/data/Tomato___\"healthy\"/x.png")
    try photo(dir + "/data/Tomato___\"healthy\"/deeper/y.png")
    try photo(dir + "/data/unknown_class/z.png")
    // Without --recursive a folder whose images sit in class folders is read as a folder per class.
    let plain = DiagnosisInputs([dir + "/data"], recursive: false, classes: Self.classes)
    XCTAssertEqual(plain.files.map { ($0.path as NSString).lastPathComponent }, ["y.png", "x.png", "z.png"])
    XCTAssertEqual(plain.files.map(\.label), [Self.classes[1], Self.classes[1], nil], "labels from the top folder, as train reads them")
    XCTAssertTrue(plain.notes.first?.contains("a folder per class") ?? false, "\(plain.notes)")
    // The same file named three ways is one input; a FIFO and a missing path are unusable.
    mkfifo(dir + "/pipe.png", 0o644)
    let named = DiagnosisInputs([dir + "/data/unknown_class/z.png", dir + "/data/unknown_class/", dir + "/data/unknown_class", dir + "/pipe.png", dir + "/nope.png"],
                                recursive: false, classes: Self.classes)
    XCTAssertEqual(named.files.count, 1)
    XCTAssertEqual(named.unusable.map { ($0.path as NSString).lastPathComponent }, ["pipe.png", "nope.png"])
    // The FIFO is recorded, never opened (opening it would block forever).
    let summary = try DiagnosisRun(predictor: try predictor(), slides: nil).run(inputs: named, output: dir + "/pred.csv")
    XCTAssertEqual(summary.failed, 2)
    XCTAssertEqual(summary.written, 1)
  }

  func testTrainingsTestPredictions_andDiagnose_agree_withStainNormalisationInTheContract() throws {
    // The contract with a stain normalisation and a plain resize, as a pipeline would give it.
    var spec = try PipelineSpec.parse("name: t\nresolution: 32\neval_transforms:\n  - stain_normalize: {method: macenko}\n  - resize: {filter: area}\n", file: "t.yaml")
    spec.batchSize = 4
    let evaluation = try EvaluationTransform(spec: spec)
    XCTAssertEqual(try EvaluationTransform.decode(json: evaluation.json, source: "test"), evaluation, "recorded and read back exactly")
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 2
    let model = try EfficientNet(c, seed: 4)
    var items: [DatasetIndex.Item] = []
    for i in 0..<6 {
      try photo(dir + "/img\(i).png", w: 48 + i, h: 40, seed: UInt8(3 + i))
      items.append(.init(path: dir + "/img\(i).png", label: i % 2))
    }
    let trainer = try Trainer(model: model, spec: spec, config: { var t = TrainingConfig(); t.epochs = 1; t.maxSteps = 1; return t }(),
                              classes: ["a", "b"], train: items, validation: Array(items.prefix(2)), runDirectory: dir + "/run")
    trainer.task = .histopathology
    try trainer.run()
    XCTAssertEqual(try trainer.writeTestPredictions(Array(items.suffix(4))).written, 4)
    let checkpoint = try TaskCheckpoint.load(dir + "/run/best.safetensors")
    XCTAssertEqual(checkpoint.evaluation, evaluation, "the checkpoint records the transform it was validated with")
    XCTAssertEqual(checkpoint.task, .histopathology)
    _ = try DiagnosisRun(predictor: Predictor(checkpoint), slides: nil)
      .run(inputs: DiagnosisInputs(items.suffix(4).map(\.path), recursive: false, classes: ["a", "b"]), output: dir + "/diag.csv")
    func probabilities(_ file: String) throws -> [String: [Double]] {
      let rows = CSV.records(try String(contentsOfFile: file, encoding: .utf8))
      return Dictionary(uniqueKeysWithValues: rows.dropFirst().map { ($0.fields[0], $0.fields.suffix(2).map { Double($0)! }) })
    }
    let tested = try probabilities(dir + "/run/test_predictions.csv"), diagnosed = try probabilities(dir + "/diag.csv")
    XCTAssertEqual(Set(tested.keys), Set(diagnosed.keys))
    for (path, p) in tested { for c in 0..<2 { XCTAssertEqual(p[c], diagnosed[path]![c], accuracy: 1e-5, path) } }
    // And validation prepared its images with the same values diagnosis does.
    let loader = BatchLoader(items: items, spec: spec, training: false, seed: 0)
    XCTAssertEqual(try loader.sample(0), try evaluation.prepare(path: items[0].path))
  }

  func testCheckpointMetadata_isCheckedAgainstTheNetwork() throws {
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 4
    let model = try EfficientNet(c, seed: 1)
    func saved(_ meta: [String: String]) throws -> String {
      let path = dir + "/m\(UUID().uuidString).safetensors"
      try model.save(to: path, preprocessing: Preprocessing(resolution: 32), metadata: meta)
      return path
    }
    for (meta, expected) in [(["classes": "[\"a\",\"b\",\"c\"]"], "3 names for a classifier with 4 outputs"),
                             (["classes": "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"]"], "6 names"), (["classes": "[]"], "empty"),
                             (["classes": "[\"a\",\"a\",\"c\",\"d\"]"], "twice"), (["classes": "a,b"], "not a JSON array"),
                             (["classes": "[\"a\",\"b\",\"c\",\"d\"]", "task": "astronomy"], "'astronomy' is not one of"),
                             (["classes": "[\"a\",\"b\",\"c\",\"d\"]", "effdx.eval_transform": "{\"resolution\": 0, \"mean\": [0,0,0], \"std\": [1,1,1], \"steps\": []}"], "'resolution' must be in 16...2048")] {
      XCTAssertThrowsError(try TaskCheckpoint.load(try saved(meta))) { XCTAssertTrue("\($0)".contains(expected), "\($0) should say \(expected)") }
    }
    // A checkpoint without a recorded transform (ImageNet weights) gets timm's centre crop.
    let legacy = try TaskCheckpoint.load(try saved(["classes": "[\"a\",\"b\",\"c\",\"d\"]"]))
    XCTAssertEqual(legacy.evaluation.steps, [.centerCrop(cropFraction: 0.875, filter: .bicubic)])
    // Its crop_pct and interpolation are read (they were ignored before).
    let path = dir + "/bilinear.safetensors"
    try model.save(to: path, preprocessing: Preprocessing(resolution: 32, cropPct: 0.9, interpolation: "bilinear"), metadata: ["classes": "[\"a\",\"b\",\"c\",\"d\"]"])
    XCTAssertEqual(try TaskCheckpoint.load(path).evaluation.steps, [.centerCrop(cropFraction: 0.9, filter: .bilinear)])
  }

  func testAStripOfAMillionPixels_isRefusedBeforeTheCropAllocates() throws {
    let e = EvaluationTransform(resolution: 224, mean: [0, 0, 0], std: [1, 1, 1], steps: [.centerCrop(cropFraction: 0.875)], maxPixels: 100_000_000)
    let strip = Image(width: 1_000_000, height: 1, channels: 3, samples: .uint8([UInt8](repeating: 7, count: 3_000_000)))
    XCTAssertThrowsError(try e.prepare(strip, source: "strip.png")) { XCTAssertTrue("\($0)".contains("too elongated"), "\($0)") }
  }

  func testAnEmptyValidationSplit_isAnErrorThatNamesTheStudies() throws {
    let items = (0..<6).map { DatasetIndex.Item(path: "/p\($0).png", label: $0 % 2, study: "patient\($0 / 2)") }
    let index = DatasetIndex(classes: ["a", "b"], items: items)
    let split = DatasetSplit(index, validation: 0.15, test: 0, seed: 0)
    XCTAssertTrue(split.validation.isEmpty)
    XCTAssertThrowsError(try Task.checkValidationSplit(split, index: index, validationFraction: 0.15, byStudy: true)) {
      XCTAssertTrue("\($0)".contains("patient0") && "\($0)".contains("validation split is empty"), "\($0)")
    }
    XCTAssertNoThrow(try Task.checkValidationSplit(split, index: index, validationFraction: 0, byStudy: true), "no validation asked for")
  }

  func testBuiltInPipelines_areTheShippedFiles() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let files = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Pipelines").path).filter { $0.hasSuffix(".yaml") }.sorted()
    XCTAssertEqual(files, BuiltinPipelines.files.keys.sorted())
    for f in files {
      let text = try String(contentsOfFile: root.appendingPathComponent("Pipelines/\(f)").path, encoding: .utf8)
      XCTAssertEqual(BuiltinPipelines.files[f]! + "\n", text, "\(f) differs from the built-in copy: run Scripts/dev/embed-pipelines")
    }
    XCTAssertEqual(try Task.leafDisease.pipeline().evalTransforms, [.centerCrop(cropFraction: 0.875, filter: .bicubic)])
    XCTAssertEqual(try Task.histopathology.slidePipeline()?.tiling?.mpp, 0.5)
  }

  func testGradCAMOverlays_ofSameNamedFilesInTwoFolders_doNotOverwriteEachOther() throws {
    try photo(dir + "/A/img.png", seed: 3)
    try photo(dir + "/B/img.png", seed: 7)
    var run = DiagnosisRun(predictor: try predictor(), slides: nil)
    run.heatmaps = dir + "/cams"
    _ = try run.run(inputs: DiagnosisInputs([dir + "/A/img.png", dir + "/B/img.png"], recursive: false, classes: Self.classes), output: dir + "/pred.csv")
    let overlays = try FileManager.default.contentsOfDirectory(atPath: dir + "/cams").sorted()
    XCTAssertEqual(overlays.count, 2, "\(overlays)")
    XCTAssertTrue(overlays[0].hasPrefix("A_img_gradcam_") && overlays[1].hasPrefix("B_img_gradcam_"), "\(overlays)")
    // Two shards of one job, each with one of two files whose folder and name agree
    // (A/x/img.png, B/x/img.png): named over the job, they do not overwrite each other.
    try photo(dir + "/A/x/img.png", seed: 3)
    try photo(dir + "/B/x/img.png", seed: 7)
    let job = [dir + "/A/x/img.png", dir + "/B/x/img.png"]
    for (i, path) in job.enumerated() {
      var shard = DiagnosisRun(predictor: try predictor(), slides: nil)
      shard.heatmaps = dir + "/shard-cams"
      shard.jobFiles = job
      _ = try shard.run(inputs: DiagnosisInputs([path], recursive: false, classes: Self.classes), output: dir + "/shard\(i).csv")
    }
    let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/shard-cams").sorted()
    XCTAssertEqual(names.count, 2, "\(names)")
    let hashed = try Regex("^x_img_[0-9a-f]{8}_gradcam_")
    XCTAssertTrue(names.allSatisfy { $0.contains(hashed) }, "told apart by their paths' hashes: \(names)")
  }

  /// A slide whose own stem is another slide's `folder_stem` name (`c/a_s.tif` beside
  /// `a/s.tif` and `b/s.tif`) gets maps of its own: both were written as `a_s_heatmap.png`.
  func testSlideMaps_ofAStemThatIsAnotherSlidesName_doNotOverwriteEachOther() throws {
    try SampleDatasets.histopathology(to: dir + "/h", count: 5, holdout: 5, size: 32, slideSize: 512, seed: 3)
    for (folder, name) in [("a", "s"), ("b", "s"), ("c", "a_s")] {
      try FileManager.default.createDirectory(atPath: dir + "/" + folder, withIntermediateDirectories: true)
      try FileManager.default.copyItem(atPath: dir + "/h/slides/slide_1.tif", toPath: dir + "/\(folder)/\(name).tif")
    }
    let p = try predictor(classes: ["stroma", "tumor"])
    var run = DiagnosisRun(predictor: p, slides: SlideDiagnoser(predictor: p, tiling: .init(mpp: 0.5), aggregation: .meanProbability))
    run.heatmaps = dir + "/maps"
    _ = try run.run(inputs: DiagnosisInputs([dir + "/a/s.tif", dir + "/b/s.tif", dir + "/c/a_s.tif"], recursive: false, classes: p.classes), output: dir + "/pred.csv")
    let maps = try FileManager.default.contentsOfDirectory(atPath: dir + "/maps")
    XCTAssertEqual(maps.filter { $0.hasSuffix("_heatmap.png") }.count, 3, "one heatmap per slide: \(maps.sorted())")
    XCTAssertEqual(maps.filter { $0.hasSuffix("_tiles.csv") }.count, 3, "\(maps.sorted())")
  }

  /// A run resumed with another file of the same `folder_stem` name (added to the folder after
  /// the first run) gives the new file a name of its own: the earlier file's overlay is kept
  /// byte for byte. Named by rank over this run's inputs, the new file (sorted first) took the
  /// earlier one's name and wrote over its overlay.
  func testResumedRunWithASameNamedFile_keepsTheEarlierOverlay() throws {
    try photo(dir + "/B/x/img.png", seed: 7)
    var run = DiagnosisRun(predictor: try predictor(), slides: nil)
    run.heatmaps = dir + "/cams"
    _ = try run.run(inputs: DiagnosisInputs([dir + "/B/x/img.png"], recursive: false, classes: Self.classes), output: dir + "/pred.csv")
    let first = try FileManager.default.contentsOfDirectory(atPath: dir + "/cams")
    XCTAssertEqual(first.count, 1, "\(first)")
    let earlier = try Data(contentsOf: URL(fileURLWithPath: dir + "/cams/" + first[0]))
    try photo(dir + "/A/x/img.png", seed: 3)
    let summary = try run.run(
      inputs: DiagnosisInputs([dir + "/A/x/img.png", dir + "/B/x/img.png"], recursive: false, classes: Self.classes), output: dir + "/pred.csv")
    XCTAssertEqual(summary.written, 1)
    XCTAssertEqual(summary.skipped, 1)
    let after = try FileManager.default.contentsOfDirectory(atPath: dir + "/cams")
    XCTAssertEqual(after.count, 2, "one overlay per file: \(after)")
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/cams/" + first[0])), earlier, "the earlier overlay is kept")
  }

  func testSlides_tileAtTheCheckpointsResolutionByDefault_andSameNamedSlidesStayApart() throws {
    try SampleDatasets.histopathology(to: dir + "/h", count: 5, holdout: 5, size: 32, slideSize: 512, seed: 3)
    try FileManager.default.createDirectory(atPath: dir + "/a", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: dir + "/b", withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: dir + "/h/slides/slide_1.tif", toPath: dir + "/a/s.tif")
    try FileManager.default.copyItem(atPath: dir + "/h/slides/slide_2.tif", toPath: dir + "/b/s.tif")
    let p = try predictor(classes: ["stroma", "tumor"])
    // No tile size anywhere: tiles are the checkpoint's 32 px, read whole (no 256 -> 224 crop).
    let slides = SlideDiagnoser(predictor: p, tiling: .init(mpp: 0.5), aggregation: .meanProbability)
    let one = try slides.diagnose(dir + "/a/s.tif")
    XCTAssertEqual(one.plan.tileSize, 32)
    XCTAssertTrue(one.tiles.allSatisfy { $0.record.width == 32 && $0.record.height == 32 }, "tiles read at 32 px")
    var run = DiagnosisRun(predictor: p, slides: slides)
    run.heatmaps = dir + "/maps"
    _ = try run.run(inputs: DiagnosisInputs([dir + "/a/s.tif", dir + "/b/s.tif"], recursive: false, classes: p.classes), output: dir + "/pred.csv")
    let rows = CSV.records(try String(contentsOfFile: dir + "/pred.csv", encoding: .utf8)).dropFirst()
    XCTAssertEqual(Set(rows.map { $0.fields[1] }).count, 2, "two studies: \(rows.map { $0.fields[1] })")
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/maps").sorted(), ["a_s_heatmap.png", "a_s_tiles.csv", "b_s_heatmap.png", "b_s_tiles.csv"])

    // The same job cut into two shards, one slide each: named over the whole job, they stay two
    // studies with two sets of maps (each shard alone called its slide "s" and wrote "s_heatmap.png").
    var studies: [String] = []
    for (i, slide) in [dir + "/a/s.tif", dir + "/b/s.tif"].enumerated() {
      var shard = DiagnosisRun(predictor: p, slides: slides)
      shard.heatmaps = dir + "/shard-maps"
      shard.jobFiles = [dir + "/a/s.tif", dir + "/b/s.tif"]
      _ = try shard.run(inputs: DiagnosisInputs([slide], recursive: false, classes: p.classes), output: dir + "/shard\(i).csv")
      studies += CSV.records(try String(contentsOfFile: dir + "/shard\(i).csv", encoding: .utf8)).dropFirst().map { $0.fields[1] }
    }
    XCTAssertEqual(studies, rows.map { $0.fields[1] }, "the studies of one run")
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/shard-maps").sorted(), ["a_s_heatmap.png", "a_s_tiles.csv", "b_s_heatmap.png", "b_s_tiles.csv"])
  }

  /// Photos decoded on 1 and 2 threads, between forward passes and ahead of them: the same
  /// rows in the same order, a bad file recorded in place.
  func testPhotos_giveTheSameRowsWithAnyNumberOfReadingThreads() throws {
    for i in 0..<11 { try photo(dir + "/in/p\(String(format: "%02d", i)).png", w: 40 + i, h: 36, seed: UInt8(i + 1)) }
    try Data("not an image".utf8).write(to: URL(fileURLWithPath: dir + "/in/p05b.png"))
    var outputs: [String] = []
    for (workers, ahead) in [(1, 0), (2, 0), (2, 2)] {
      var run = DiagnosisRun(predictor: try predictor(), slides: nil)
      run.batchSize = 4
      run.workers = workers
      run.readAhead = ahead
      let summary = try run.run(inputs: DiagnosisInputs([dir + "/in"], recursive: false, classes: Self.classes), output: dir + "/pred\(workers)\(ahead).csv")
      XCTAssertEqual(summary.written, 11)
      XCTAssertEqual(summary.failed, 1)
      outputs.append(try String(contentsOfFile: dir + "/pred\(workers)\(ahead).csv", encoding: .utf8))
    }
    XCTAssertEqual(outputs[1], outputs[0])
    XCTAssertEqual(outputs[2], outputs[0])
    XCTAssertEqual(CSV.records(outputs[0]).dropFirst().map { ($0.fields[0] as NSString).lastPathComponent }, (0..<11).map { "p\(String(format: "%02d", $0)).png" })
  }

  func testTheLegend_drawsAnyClassName() {
    // Upper-casing "ß" gives two letters, "ﬁ" too: each is drawn, nothing traps.
    let image = FloatImage(width: 40, height: 30, values: [Float](repeating: 0.5, count: 40 * 30 * 3))
    let out = SlideHeatmap.withLegend(image, title: "P(Straße ﬁ ✓)")
    XCTAssertGreaterThan(out.height, image.height)
  }
}
