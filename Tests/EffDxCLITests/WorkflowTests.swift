import DxImaging
import DxNN
import DxTestSupport
import Foundation
import XCTest

/// The three workflows end to end, on generated samples: train (a few steps at a tiny
/// resolution), kill and resume, diagnose with a corrupt file, re-diagnose, evaluate.
final class WorkflowTests: XCTestCase {
  var tmp: URL!

  override func setUpWithError() throws {
    tmp = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-flow-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

  func path(_ p: String) -> String { tmp.appendingPathComponent(p).path }

  func train(_ out: String, extra: [String] = [], environment: [String: String] = [:]) throws -> EffDxRunner.Result {
    try EffDxRunner.run(["train", "--task", "leaf-disease", "--data", path("leaf/train"), "--arch", "efficientnet_lite0", "--resolution", "32",
                         "--batch-size", "8", "--epochs", "3", "--seed", "5", "--out", path(out)] + extra, environment: environment)
  }

  /// A log line without its wall-clock fields and its recipe (which records flags such as
  /// --low-memory that change how, not what, a run computes).
  static func withoutTimings(_ line: Substring) -> [String: String] {
    let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
    var out: [String: String] = [:]
    for (k, v) in object where !["seconds", "images_per_second", "imagesPerSecond", "recipe"].contains(k) { out[k] = "\(v)" }
    return out
  }

  /// Head-only training caches backbone features unless told not to, and says which
  /// augmentations the cache leaves out.
  func testHeadOnlyTraining_cachedFeaturesSayWhatTheySkip_noCacheAppliesAugmentation() throws {
    let samples = try EffDxRunner.run(["samples", "--task", "leaf-disease", "--out", path("leaf"), "--count", "24", "--seed", "4"])
    XCTAssertEqual(samples.status, 0, samples.stderr)
    let cached = try train("cached", extra: ["--policy", "head", "--epochs", "1"])
    XCTAssertEqual(cached.status, 0, cached.stderr)
    XCTAssertTrue(cached.stderr.contains("note: head-only training on cached features"), cached.stderr)
    XCTAssertTrue(cached.stderr.contains("random_resized_crop"), cached.stderr)
    XCTAssertTrue(cached.stderr.contains("feature cache [########################]"), "the feature cache has a progress bar:\n\(cached.stderr)")
    let augmented = try train("augmented", extra: ["--policy", "head", "--epochs", "1", "--no-cache-features"])
    XCTAssertEqual(augmented.status, 0, augmented.stderr)
    XCTAssertFalse(augmented.stderr.contains("are not applied"), augmented.stderr)
    // Different inputs to the head: augmented crops instead of the fixed centre crop.
    let a = try SafeTensorsFile(path: path("cached/last.safetensors")).allTensors()
    let b = try SafeTensorsFile(path: path("augmented/last.safetensors")).allTensors()
    XCTAssertNotEqual(a["classifier.weight"], b["classifier.weight"])
    XCTAssertEqual(a["conv_stem.weight"], b["conv_stem.weight"], "the backbone stays frozen either way")
  }

  func testTrainKillResume_diagnoseWithACorruptFile_rediagnose_evaluate() throws {
    let samples = try EffDxRunner.run(["samples", "--task", "leaf-disease", "--out", path("leaf"), "--count", "24", "--seed", "3"])
    XCTAssertEqual(samples.status, 0, samples.stderr)

    // An uninterrupted run, and runs killed (SIGKILL) after epoch 1 and between the writes of
    // epoch 2's save, then resumed: all end with the same weights, log and best model.
    let whole = try train("whole")
    XCTAssertEqual(whole.status, 0, whole.stderr)
    let a = try SafeTensorsFile(path: path("whole/last.safetensors")).allTensors()
    let wholeLog = try String(contentsOfFile: path("whole/log.jsonl"), encoding: .utf8).split(separator: "\n").map { Self.withoutTimings($0) }
    // The last one also trains with --low-memory (activations recomputed in backward): the
    // same weights again.
    for (killAt, linesLeft, extra) in [("1:after-last", 1, []), ("2:after-log", 2, []), ("2:after-state", 2, ["--low-memory"])] {
      let run = "resumed-" + killAt.replacingOccurrences(of: ":", with: "-")
      let killed = try train(run, extra: extra, environment: ["EFFDX_TEST_KILL_AT": killAt])
      XCTAssertNotEqual(killed.status, 0, "the first attempt was killed at \(killAt)")
      XCTAssertEqual(try String(contentsOfFile: path("\(run)/log.jsonl"), encoding: .utf8).split(separator: "\n").count, linesLeft, killAt)
      let resumed = try train(run, extra: ["--resume"] + extra)
      XCTAssertEqual(resumed.status, 0, resumed.stderr)
      let b = try SafeTensorsFile(path: path("\(run)/last.safetensors")).allTensors()
      XCTAssertEqual(a.keys.sorted(), b.keys.sorted())
      XCTAssertEqual(a, b, "killed at \(killAt) and resumed: the same weights as an uninterrupted run")
      XCTAssertEqual(try SafeTensorsFile(path: path("\(run)/best.safetensors")).allTensors(), try SafeTensorsFile(path: path("whole/best.safetensors")).allTensors(), killAt)
      let log = try String(contentsOfFile: path("\(run)/log.jsonl"), encoding: .utf8).split(separator: "\n").map { Self.withoutTimings($0) }
      XCTAssertEqual(log, wholeLog, "killed at \(killAt): one log line per epoch, as uninterrupted")
    }
    for file in ["best.safetensors", "last.state.safetensors", "test.csv"] { XCTAssertTrue(FileManager.default.fileExists(atPath: path("whole/\(file)")), file) }

    // Diagnose the held-out photos plus a corrupt file: the batch finishes, the file is listed.
    let corrupt = path("leaf/holdout/Tomato___healthy/corrupt.png")
    XCTAssertTrue(FileManager.default.createFile(atPath: corrupt, contents: Data([0x89, 0x50, 0x4E, 0x47, 1, 2, 3])), "cannot create a test file")
    let pred = path("pred.csv")
    let first = try EffDxRunner.run(["diagnose", "--checkpoint", path("whole/best.safetensors"), "--input", path("leaf/holdout"), "--recursive", "--out", pred, "--topk", "2"])
    XCTAssertEqual(first.status, 3, "exit status 3: some file failed\n\(first.stderr)")
    let rows = try String(contentsOfFile: pred, encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(rows.count, 1 + 6, "header and the six readable photos")
    XCTAssertTrue(rows[0].hasPrefix("path,study,label,predicted,p_Tomato___Early_blight"))
    XCTAssertTrue(rows[0].hasSuffix(",top2"))
    let errors = try String(contentsOfFile: path("pred.errors.csv"), encoding: .utf8)
    XCTAssertTrue(errors.contains("corrupt.png"), errors)

    // Re-running skips what is there: no duplicate rows.
    let again = try EffDxRunner.run(["diagnose", "--checkpoint", path("whole/best.safetensors"), "--input", path("leaf/holdout"), "--recursive", "--out", pred, "--topk", "2"])
    XCTAssertTrue(again.stdout.contains("0 diagnosed, 6 already in"), again.stdout)
    let otherColumns = try EffDxRunner.run(["diagnose", "--checkpoint", path("whole/best.safetensors"), "--input", path("leaf/holdout"), "--recursive", "--out", pred])
    XCTAssertNotEqual(otherColumns.status, 0, "appending rows with other columns is refused")
    XCTAssertEqual(try String(contentsOfFile: pred, encoding: .utf8).split(separator: "\n").count, 7)

    // Grad-CAM for any image and any class.
    let photo = try FileManager.default.contentsOfDirectory(atPath: path("leaf/holdout/Tomato___Leaf_rust")).sorted().first!
    let cam = try EffDxRunner.run(["gradcam", "--checkpoint", path("whole/best.safetensors"), "--input", path("leaf/holdout/Tomato___Leaf_rust/\(photo)"),
                                   "--class", "Tomato___healthy", "--out", path("cam.png")])
    XCTAssertEqual(cam.status, 0, cam.stderr)
    XCTAssertTrue(cam.stdout.contains("Grad-CAM of 'Tomato___healthy'"), cam.stdout)
    XCTAssertEqual(try ImageFormat.detect(path: path("cam.png")), .png)

    // Evaluate reads diagnose's output directly, with the studies from the samples' manifest.
    let report = try EffDxRunner.run(["evaluate", "--predictions", pred, "--labels", path("leaf/holdout/manifest.csv"), "--bootstrap", "50", "--out", path("report")])
    XCTAssertEqual(report.status, 0, report.stderr)
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("report/report.json")))) as! [String: Any]
    XCTAssertEqual((json["overall"] as! [String: Any])["n"] as? Int, 6)
    XCTAssertFalse((json["studies"] as! [String: Any]).isEmpty, "fields from the manifest are studies")

    // diagnose --labels fills each photo's study (and label) from the manifest.
    let withStudies = path("pred-studies.csv")
    let labelled = try EffDxRunner.run(["diagnose", "--checkpoint", path("whole/best.safetensors"), "--input", path("leaf/holdout"), "--recursive",
                                        "--labels", path("leaf/holdout/manifest.csv"), "--out", withStudies])
    XCTAssertEqual(labelled.status, 3, labelled.stderr)  // the corrupt file is still there
    let manifestRows = try String(contentsOfFile: path("leaf/holdout/manifest.csv"), encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
    let pc = manifestRows[0].firstIndex(of: "path")!, sc = manifestRows[0].firstIndex(of: "study")!
    let studyOf = Dictionary(manifestRows.dropFirst().map { ((($0[pc] as NSString).lastPathComponent), $0[sc]) }, uniquingKeysWith: { a, _ in a })
    let predicted = try String(contentsOfFile: withStudies, encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    XCTAssertEqual(predicted.count, 6)
    for row in predicted {
      let file = (row[0] as NSString).lastPathComponent
      XCTAssertEqual(row[1], studyOf[file], "study of \(file)")
      XCTAssertFalse(row[1].isEmpty)
    }
  }
}
