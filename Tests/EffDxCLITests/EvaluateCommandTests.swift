import DxTestSupport
import Foundation
import XCTest

final class EvaluateCommandTests: XCTestCase {
  func testEvaluate_writesEveryFileListsBadRowsAndFinishes() throws {
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-evalcli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: tmp) }
    let source = SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/eval/balanced.csv")
    var text = try String(contentsOf: source, encoding: .utf8)
    text += "broken.png,S000,healthy,healthy,NaN,0.5,0.5,0\n"
    let pred = tmp.appendingPathComponent("pred.csv")
    try text.write(to: pred, atomically: true, encoding: .utf8)
    let out = tmp.appendingPathComponent("report")
    let r = try EffDxRunner.run(["evaluate", "--predictions", pred.path, "--bootstrap", "200", "--compare", source.path, "--out", out.path])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertTrue(r.stdout.contains("400 images, 4 classes, 5 studies"), r.stdout)
    XCTAssertTrue(r.stdout.contains("1 rows left out"), r.stdout)
    XCTAssertTrue(r.stdout.contains("pred.csv:402"), r.stdout)
    for name in ["report.json", "per_class.csv", "per_study.csv", "confusion_matrix.csv", "report.md", "report.html"] {
      XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), name)
    }
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as! [String: Any]
    let comparison = json["comparison"] as! [String: Any]
    XCTAssertEqual(comparison["n"] as? Int, 400)
    let missing = try EffDxRunner.run(["evaluate", "--predictions", tmp.appendingPathComponent("nope.csv").path, "--out", out.path])
    XCTAssertNotEqual(missing.status, 0)
    XCTAssertTrue(missing.stderr.contains("nope.csv"), missing.stderr)
  }
}
