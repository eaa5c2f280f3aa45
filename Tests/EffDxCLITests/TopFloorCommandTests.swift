import DxCSV
import DxEfficientNet
import DxImaging
import DxTasks
import DxTestSupport
import Foundation
import XCTest

/// What a user sees at the top floor: pipelines that work from any folder, folder-per-class
/// diagnosis, refusals with exit 1, `--json`, slide tiling from the pipeline's keys.
final class TopFloorCommandTests: XCTestCase {
  var tmp: URL!

  override func setUpWithError() throws {
    tmp = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-top-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

  func path(_ p: String) -> String { tmp.appendingPathComponent(p).path }

  func testTrainFromAnotherFolder_usesTheBuiltInPipeline_printsJSONPerEpoch_andDiagnoseReadsClassFolders() throws {
    let samples = try EffDxRunner.run(["samples", "--task", "leaf-disease", "--out", path("leaf"), "--count", "24", "--seed", "2"])
    XCTAssertEqual(samples.status, 0, samples.stderr)
    // Run from a folder with no Pipelines/ beside it: the built-in pipeline (15% validation,
    // 15% test) applies, not a silent fallback.
    let elsewhere = tmp.appendingPathComponent("elsewhere")
    try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
    let train = try EffDxRunner.run(["train", "--task", "leaf-disease", "--data", path("leaf/train"), "--arch", "efficientnet_lite0", "--resolution", "32",
                                     "--batch-size", "8", "--epochs", "2", "--out", path("run"), "--json"], currentDirectory: elsewhere)
    XCTAssertEqual(train.status, 0, train.stderr)
    XCTAssertTrue(train.stderr.contains("16 training, 4 validation, 4 test images"), train.stderr)
    XCTAssertTrue(train.stderr.contains("validation [########################] 4/4"), "validation has a progress bar:\n\(train.stderr)")
    let lines = train.stdout.split(separator: "\n")
    XCTAssertEqual(lines.count, 3, "one JSON object per epoch and one for the run:\n\(train.stdout)")
    for (i, line) in lines.prefix(2).enumerated() {
      let epoch = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
      XCTAssertEqual(epoch?["epoch"] as? Int, i + 1)
      XCTAssertNotNil(epoch?["val_accuracy"] as? Double)
    }
    let done = try JSONSerialization.jsonObject(with: Data(lines[2].utf8)) as? [String: Any]
    XCTAssertEqual(done?["test_predictions"] as? Int, 4)
    let tested = CSV.records(try String(contentsOfFile: path("run/test_predictions.csv"), encoding: .utf8))
    XCTAssertEqual(tested.count, 5)
    XCTAssertEqual(tested[0].fields.prefix(4), ["path", "study", "label", "predicted"])

    // A pipeline's source.path is the data when --data is not given (relative to the file);
    // an unreadable training image is named on the console as it is skipped.
    let classDir = try FileManager.default.contentsOfDirectory(atPath: path("leaf/train")).filter { !$0.hasSuffix(".csv") }.sorted()[0]
    XCTAssertTrue(FileManager.default.createFile(atPath: path("leaf/train/\(classDir)/broken.png"), contents: Data([0x89, 0x50, 0x4E, 0x47, 0, 1])), "cannot create a test file")
    let manifest = try String(contentsOfFile: path("leaf/train/manifest.csv"), encoding: .utf8)
    try (manifest + CSV.row(["\(classDir)/broken.png", classDir, "field1"])).write(toFile: path("leaf/train/manifest.csv"), atomically: true, encoding: .utf8)
    try "name: mine\ntask: leaf-disease\nsource:\n  path: leaf/train\nsplit:\n  validation: 0.15\n  by_study: false\nresolution: 32\nbatch_size: 8\n".write(toFile: path("mine.yaml"), atomically: true, encoding: .utf8)
    let fromPipeline = try EffDxRunner.run(["train", "--task", "leaf-disease", "--pipeline", path("mine.yaml"), "--arch", "efficientnet_lite0", "--epochs", "1", "--out", path("run2")],
                                           currentDirectory: elsewhere)
    XCTAssertEqual(fromPipeline.status, 0, fromPipeline.stderr)
    XCTAssertTrue(fromPipeline.stdout.contains("0 test images"), fromPipeline.stdout)
    XCTAssertTrue(fromPipeline.stderr.contains("warning: skipped") && fromPipeline.stderr.contains("broken.png"), fromPipeline.stderr)
    try FileManager.default.removeItem(atPath: path("leaf/train/\(classDir)/broken.png"))
    try manifest.write(toFile: path("leaf/train/manifest.csv"), atomically: true, encoding: .utf8)

    // diagnose on the folder per class without --recursive: read, labelled, and said so.
    let diagnose = try EffDxRunner.run(["diagnose", "--checkpoint", path("run/best.safetensors"), "--input", path("leaf/holdout"), "--out", path("pred.csv"), "--json"])
    XCTAssertEqual(diagnose.status, 0, diagnose.stderr)
    XCTAssertTrue(diagnose.stderr.contains("a folder per class"), diagnose.stderr)
    let summary = try JSONSerialization.jsonObject(with: Data(diagnose.stdout.utf8)) as? [String: Any]
    XCTAssertEqual(summary?["written"] as? Int, 6)
    XCTAssertEqual(summary?["errors_path"] as? String, path("pred.errors.csv"))
    let rows = CSV.records(try String(contentsOfFile: path("pred.csv"), encoding: .utf8)).dropFirst()
    for row in rows { XCTAssertEqual(row.fields[2], ((row.fields[0] as NSString).deletingLastPathComponent as NSString).lastPathComponent, "label from the folder") }
    // --quiet: no notes, no progress.
    let quiet = try EffDxRunner.run(["diagnose", "--checkpoint", path("run/best.safetensors"), "--input", path("leaf/holdout"), "--out", path("pred2.csv"), "--quiet"])
    XCTAssertEqual(quiet.status, 0, quiet.stderr)
    XCTAssertEqual(quiet.stderr, "")

    // Refusals: nothing to diagnose, and --resume where no run is.
    try FileManager.default.createDirectory(atPath: path("empty"), withIntermediateDirectories: true)
    let nothing = try EffDxRunner.run(["diagnose", "--checkpoint", path("run/best.safetensors"), "--input", path("empty"), "--out", path("none.csv")])
    XCTAssertEqual(nothing.status, 1, nothing.stderr)
    XCTAssertTrue(nothing.stderr.contains("no images found"), nothing.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("none.csv")))
    let resume = try EffDxRunner.run(["train", "--task", "leaf-disease", "--data", path("leaf/train"), "--arch", "efficientnet_lite0", "--resolution", "32",
                                      "--epochs", "1", "--out", path("never-ran"), "--resume"])
    XCTAssertNotEqual(resume.status, 0)
    XCTAssertTrue(resume.stderr.contains("holds no run to resume"), resume.stderr)
    // Hostile flags are refused with the flag's name.
    for (flags, expected) in [(["--lr", "nan"], "--lr"), (["--batch-size", "0"], "--batch-size"), (["--resolution", "100000"], "--resolution"), (["--threads", "100000"], "--threads")] {
      let r = try EffDxRunner.run(["train", "--task", "leaf-disease", "--data", path("leaf/train"), "--out", path("x")] + flags)
      XCTAssertNotEqual(r.status, 0, flags.joined(separator: " "))
      XCTAssertTrue(r.stderr.contains(expected), "\(flags): \(r.stderr)")
    }
  }

  func testSlideDiagnosis_tilesAsThePipelineSays_andItsHeatmapHasALegend() throws {
    let dir = path("h")
    try SampleDatasets.histopathology(to: dir, count: 5, holdout: 5, size: 32, slideSize: 512, seed: 3)
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = HistologySamples.classes.count
    let classes = String(decoding: try JSONEncoder().encode(HistologySamples.classes), as: UTF8.self)
    try EfficientNet(c, seed: 1).save(to: dir + "/tiny.safetensors", preprocessing: Preprocessing(resolution: 32), metadata: ["task": "histopathology", "classes": classes])
    func tiles(_ yaml: String, flags: [String] = []) throws -> Int {
      let name = UUID().uuidString
      try yaml.write(toFile: path("\(name).yaml"), atomically: true, encoding: .utf8)
      let r = try EffDxRunner.run(["diagnose", "--checkpoint", dir + "/tiny.safetensors", "--input", dir + "/slides/slide_1.tif", "--pipeline", path("\(name).yaml"),
                                   "--out", path("\(name).csv"), "--heatmaps", path(name)] + flags)
      XCTAssertEqual(r.status, 0, r.stderr)
      return CSV.records(try String(contentsOfFile: path("\(name)/slide_1_tiles.csv"), encoding: .utf8)).count - 1
    }
    let small = try tiles("name: s\ntiling:\n  tile_size: 32\n  level: 0\n  min_tissue: 0\n")
    let large = try tiles("name: l\ntiling:\n  tile_size: 64\n  level: 0\n  min_tissue: 0\n")
    let overlapping = try tiles("name: o\ntiling:\n  tile_size: 64\n  overlap: 32\n  level: 0\n  min_tissue: 0\n")
    XCTAssertEqual(small, 256, "512 x 512 in 32 px tiles")
    XCTAssertEqual(large, 64, "tile_size drives slide diagnosis")
    XCTAssertEqual(overlapping, 225, "overlap drives it too")
    XCTAssertEqual(try tiles("name: l\ntiling:\n  tile_size: 64\n  level: 0\n  min_tissue: 0\n", flags: ["--tile-size", "128"]), 16, "a flag overrides the key")
    let yaml = path("h/heat.yaml")
    try "name: h\ntiling:\n  tile_size: 32\n  level: 0\n".write(toFile: yaml, atomically: true, encoding: .utf8)
    let r = try EffDxRunner.run(["diagnose", "--checkpoint", dir + "/tiny.safetensors", "--input", dir + "/slides/slide_1.tif", "--pipeline", yaml, "--out", path("heat.csv"), "--heatmaps", path("heat")])
    XCTAssertEqual(r.status, 0, r.stderr)
    let heatmap = try ImageDecoder.decode(path: path("heat/slide_1_heatmap.png")).rgb().eightBit()
    guard case .uint8(let px) = heatmap.samples else { return XCTFail("8-bit RGB expected") }
    let thumbnailHeight = heatmap.height - 32
    XCTAssertGreaterThan(thumbnailHeight, 0)
    // The legend band under the thumbnail holds dark text pixels and the colour bar's red end.
    var dark = 0, red = 0
    for y in thumbnailHeight..<heatmap.height {
      for x in 0..<heatmap.width {
        let i = 3 * (y * heatmap.width + x)
        if px[i] < 40 && px[i + 1] < 40 && px[i + 2] < 40 { dark += 1 }
        if px[i] > 200 && px[i + 2] < 60 { red += 1 }
      }
    }
    XCTAssertGreaterThan(dark, 50, "legend text")
    XCTAssertGreaterThan(red, 10, "colour bar")
    // The report embeds the heatmap with the slide's tile counts.
    let predicted = CSV.records(try String(contentsOfFile: path("heat.csv"), encoding: .utf8))
    try "path,label\n\(CSV.field(predicted[1].fields[0])),tumor\n".write(toFile: path("truth.csv"), atomically: true, encoding: .utf8)
    let report = try EffDxRunner.run(["evaluate", "--predictions", path("heat.csv"), "--labels", path("truth.csv"), "--bootstrap", "0", "--heatmaps", path("heat"), "--out", path("heat-report")])
    XCTAssertEqual(report.status, 0, report.stderr)
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("heat-report/report.json")))) as! [String: Any]
    let maps = json["slide_maps"] as! [[String: Any]]
    XCTAssertEqual(maps.count, 1)
    let tileRows = CSV.records(try String(contentsOfFile: path("heat/slide_1_tiles.csv"), encoding: .utf8)).count - 1
    XCTAssertEqual(maps[0]["tiles"] as? Int, tileRows)
    XCTAssertEqual((maps[0]["tiles_by_class"] as! [String: Int]).values.reduce(0, +), tileRows)
    XCTAssertEqual(maps[0]["shown"] as? Bool, true)
    let html = try String(contentsOfFile: path("heat-report/report.html"), encoding: .utf8)
    XCTAssertTrue(html.contains("id=\"slide-maps\"") && html.contains("<img src=\"data:image/png;base64,"), "the heatmap is in the page")
    XCTAssertFalse(try String(contentsOfFile: path("heat-report/report.json"), encoding: .utf8).contains("base64"), "report.json lists, the HTML shows")
  }

  func testEpochLinesArriveAsEachEpochEnds_andAnEmptyValidationSplitIsNamed() throws {
    let samples = try EffDxRunner.run(["samples", "--task", "leaf-disease", "--out", path("leaf"), "--count", "24", "--seed", "6"])
    XCTAssertEqual(samples.status, 0, samples.stderr)
    let process = Process()
    process.executableURL = EffDxRunner.productsDirectory.appendingPathComponent("effdx")
    process.arguments = ["train", "--task", "leaf-disease", "--data", path("leaf/train"), "--arch", "efficientnet_lite0", "--resolution", "32",
                         "--batch-size", "8", "--epochs", "4", "--patience", "10", "--out", path("run"), "--quiet"]
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    var text = Data()
    while !String(decoding: text, as: UTF8.self).contains("epoch 1:") {
      let chunk = out.fileHandleForReading.availableData
      if chunk.isEmpty { break }
      text += chunk
    }
    XCTAssertTrue(String(decoding: text, as: UTF8.self).contains("epoch 1: train loss"), String(decoding: text, as: UTF8.self))
    XCTAssertTrue(process.isRunning, "epoch 1's line is on stdout while epochs 2-4 still train")
    text += out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 0)
    XCTAssertTrue(String(decoding: text, as: UTF8.self).contains("epoch 4: train loss"))

    // Twelve photos in three fields that each hold every class: no field can be validation.
    let few = try EffDxRunner.run(["samples", "--task", "leaf-disease", "--out", path("few"), "--count", "12", "--seed", "4"])
    XCTAssertEqual(few.status, 0, few.stderr)
    let empty = try EffDxRunner.run(["train", "--task", "leaf-disease", "--data", path("few/train"), "--arch", "efficientnet_lite0", "--resolution", "32", "--out", path("few-run")])
    XCTAssertEqual(empty.status, 1, empty.stderr)
    XCTAssertTrue(empty.stderr.contains("the validation split is empty") && empty.stderr.contains("field1"), empty.stderr)
    // A pipeline written for another task is refused, not half-used.
    try "name: h\ntask: histopathology\n".write(toFile: path("h.yaml"), atomically: true, encoding: .utf8)
    let wrongTask = try EffDxRunner.run(["train", "--task", "leaf-disease", "--pipeline", path("h.yaml"), "--data", path("leaf/train"), "--out", path("w")])
    XCTAssertEqual(wrongTask.status, 1, wrongTask.stderr)
    XCTAssertTrue(wrongTask.stderr.contains("is a histopathology pipeline"), wrongTask.stderr)
  }
}
