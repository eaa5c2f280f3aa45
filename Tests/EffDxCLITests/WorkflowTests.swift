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

  func testTrainKillResume_diagnoseWithACorruptFile_rediagnose_evaluate() throws {
    let samples = try EffDxRunner.run(["samples", "--task", "leaf-disease", "--out", path("leaf"), "--count", "24", "--seed", "3"])
    XCTAssertEqual(samples.status, 0, samples.stderr)

    // An uninterrupted run, and one killed (SIGKILL) right after epoch 1 and resumed.
    let whole = try train("whole")
    XCTAssertEqual(whole.status, 0, whole.stderr)
    let killed = try train("resumed", environment: ["EFFDX_TEST_KILL_AFTER_EPOCH": "1"])
    XCTAssertNotEqual(killed.status, 0, "the first attempt was killed")
    XCTAssertEqual(try String(contentsOfFile: path("resumed/log.jsonl"), encoding: .utf8).split(separator: "\n").count, 1)
    let resumed = try train("resumed", extra: ["--resume"])
    XCTAssertEqual(resumed.status, 0, resumed.stderr)
    let a = try SafeTensorsFile(path: path("whole/last.safetensors")).allTensors()
    let b = try SafeTensorsFile(path: path("resumed/last.safetensors")).allTensors()
    XCTAssertEqual(a.keys.sorted(), b.keys.sorted())
    XCTAssertEqual(a, b, "a killed and resumed run ends with the same weights as an uninterrupted one")
    XCTAssertEqual(try String(contentsOfFile: path("resumed/log.jsonl"), encoding: .utf8).split(separator: "\n").count, 3)
    for file in ["best.safetensors", "last.state.safetensors", "test.csv"] { XCTAssertTrue(FileManager.default.fileExists(atPath: path("whole/\(file)")), file) }

    // Diagnose the held-out photos plus a corrupt file: the batch finishes, the file is listed.
    let corrupt = path("leaf/holdout/Tomato___healthy/corrupt.png")
    FileManager.default.createFile(atPath: corrupt, contents: Data([0x89, 0x50, 0x4E, 0x47, 1, 2, 3]))
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
  }
}
