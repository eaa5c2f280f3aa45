import DxEfficientNet
import DxImaging
import DxTasks
import DxTensor
import DxTestSupport
import Foundation
import XCTest

/// `evaluate --images`: classes that differ only by their background are flagged; classes
/// whose pixels share one colour distribution are not, whatever the model scores.
final class ShortcutCheckTests: XCTestCase {
  var dir: String!

  override func setUpWithError() throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-shortcut-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

  /// 60 images of two classes in 12 studies, and predictions right 90% of the time.
  /// `pixel(class, x, y, rng)` paints them.
  func dataset(_ name: String, pixel: (Int, Int, Int, inout SeededGenerator) -> [UInt8]) throws -> String {
    var rng = SeededGenerator(seed: 7)
    var csv = "path,study,label,predicted,p_healthy,p_rust\n"
    for i in 0..<60 {
      let label = i % 2
      var px: [UInt8] = []
      for y in 0..<48 { for x in 0..<48 { px += pixel(label, x, y, &rng) } }
      let path = "\(dir!)/\(name)/img\(i).png"
      try FileManager.default.createDirectory(atPath: "\(dir!)/\(name)", withIntermediateDirectories: true)
      try PNGCodec.write(Image(width: 48, height: 48, channels: 3, samples: .uint8(px)), to: path)
      let predicted = i % 10 == 0 ? 1 - label : label
      let p = predicted == 1 ? 0.8 : 0.2
      csv += "\(path),field\(i / 5),\(["healthy", "rust"][label]),\(["healthy", "rust"][predicted]),\(1 - p),\(p)\n"
    }
    try csv.write(toFile: "\(dir!)/\(name).csv", atomically: true, encoding: .utf8)
    return "\(dir!)/\(name).csv"
  }

  func check(_ predictions: String) throws -> [String: Any] {
    let out = predictions + ".report"
    let r = try EffDxRunner.run(["evaluate", "--predictions", predictions, "--images", "--bootstrap", "0", "--out", out])
    XCTAssertEqual(r.status, 0, r.stderr)
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as! [String: Any]
    return json["shortcut_check"] as? [String: Any] ?? [:]
  }

  func testClassesThatDifferOnlyByBackground_areFlagged_andSharedColourIsNot() throws {
    // A leaf-like blob of the same random colours on a background whose shade is the class.
    let background = try dataset("background") { label, x, y, rng in
      let inside = (x - 24) * (x - 24) + (y - 24) * (y - 24) < 225
      if inside { return [UInt8(60 + rng.next() % 80), UInt8(120 + rng.next() % 80), UInt8(40 + rng.next() % 40)] }
      let shade = UInt8(label == 0 ? 200 : 150) &+ UInt8(rng.next() % 20)
      return [shade, shade, shade]
    }
    let flagged = try check(background)
    XCTAssertEqual(flagged["images"] as? Int, 60)
    XCTAssertEqual(flagged["grouped_by"] as? String, "study")
    let baselines = flagged["baselines"] as! [[String: Any]]
    XCTAssertEqual(baselines.map { $0["name"] as! String }, ["colour statistics", "background"])
    XCTAssertGreaterThan(baselines[1]["accuracy"] as! Double, 0.9)
    XCTAssertEqual(baselines[1]["flagged"] as? Bool, true)
    XCTAssertNotNil(flagged["warning"])
    let html = try String(contentsOfFile: background + ".report/report.html", encoding: .utf8)
    XCTAssertTrue(html.contains("id=\"shortcut-check\"") && html.contains("(flagged)"))

    // Stripes across or along: every pixel's colour comes from one distribution in both classes.
    let shared = try dataset("shared") { label, x, y, rng in
      let on = (label == 0 ? x : y) % 6 < 3
      let v = UInt8(on ? 180 : 70) &+ UInt8(rng.next() % 20)
      return [v, v &- 20, v &- 40]
    }
    let clean = try check(shared)
    for b in clean["baselines"] as! [[String: Any]] {
      XCTAssertLessThan(b["accuracy"] as! Double, 0.75, "\(b["name"]!)")
      XCTAssertEqual(b["flagged"] as? Bool, false)
    }
    XCTAssertNil(clean["warning"])
  }

  func testExamples_areEmbeddedWithTheirGradCAM_andBounded() throws {
    let predictions = try dataset("examples") { label, x, y, rng in
      let v = UInt8(label == 0 ? 90 : 160) &+ UInt8(rng.next() % 40)
      return [v, UInt8(x * 5), UInt8(y * 5)]
    }
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 2
    try EfficientNet(c, seed: 1).save(to: dir + "/tiny.safetensors", preprocessing: Preprocessing(resolution: 32), metadata: ["classes": "[\"healthy\",\"rust\"]"])
    let out = dir + "/examples-report"
    let r = try EffDxRunner.run(["evaluate", "--predictions", predictions, "--images", "--checkpoint", dir + "/tiny.safetensors", "--bootstrap", "0", "--out", out])
    XCTAssertEqual(r.status, 0, r.stderr)
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as! [String: Any]
    let examples = json["examples"] as! [[String: Any]]
    // Every tenth row is wrong, all of them healthy photos: healthy has 3 confident errors (of
    // 6), rust none; each class has 3 least confident right ones.
    XCTAssertEqual(examples.count, 9)
    XCTAssertEqual(examples.filter { $0["kind"] as? String == "confident error" }.map { $0["class"] as! String }, ["healthy", "healthy", "healthy"])
    XCTAssertEqual(examples.filter { $0["kind"] as? String == "least confident correct" }.count, 6)
    for e in examples where e["kind"] as? String == "confident error" { XCTAssertNotEqual(e["truth"] as? String, e["predicted"] as? String) }
    XCTAssertTrue(examples.allSatisfy { $0["thumbnail"] as? Bool == true && $0["grad_cam"] as? Bool == true })
    let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
    XCTAssertEqual(html.components(separatedBy: "<img src=\"data:image/png;base64,").count - 1, 18, "a thumbnail and a Grad-CAM per example")
    XCTAssertLessThan(html.utf8.count, ReportPictures.exampleBudget + 200_000)
    let refused = try EffDxRunner.run(["evaluate", "--predictions", predictions, "--checkpoint", dir + "/tiny.safetensors", "--out", out + "2"])
    XCTAssertEqual(refused.status, 64)
    XCTAssertTrue(refused.stderr.contains("add --images"), refused.stderr)
  }
}
