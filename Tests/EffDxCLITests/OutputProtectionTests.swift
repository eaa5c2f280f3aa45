import DxEfficientNet
import DxImaging
import DxTestSupport
import Foundation
import XCTest

/// Files a command would replace that are not its own (a hostile-input audit found each being
/// overwritten): refused before any work, and left byte for byte as they were.
final class OutputProtectionTests: HostileCLITestCase {
  func testAForeignProvenanceFile_isRefusedAndKept() throws {
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 2
    try EfficientNet(c, seed: 1).save(to: dir + "/m.safetensors", preprocessing: Preprocessing(resolution: 32), metadata: ["classes": "[\"a\",\"b\"]"])
    try photo(dir + "/x.png")
    let notes = "my notes about this folder\n"
    try notes.write(toFile: dir + "/o.meta.json", atomically: true, encoding: .utf8)
    try refuses(["diagnose", "--checkpoint", dir + "/m.safetensors", "--input", dir + "/x.png", "--out", dir + "/o.csv"], "not a provenance file")
    XCTAssertEqual(try String(contentsOfFile: dir + "/o.meta.json", encoding: .utf8), notes)
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/o.csv"), "nothing written")
    // Its own provenance file from an earlier run is replaced as before.
    try FileManager.default.removeItem(atPath: dir + "/o.meta.json")
    for _ in 0..<2 {
      let r = try effdx(["diagnose", "--checkpoint", dir + "/m.safetensors", "--input", dir + "/x.png", "--out", dir + "/o.csv"])
      XCTAssertEqual(r.status, 0, r.stderr)
    }
    XCTAssertTrue(try String(contentsOfFile: dir + "/o.meta.json", encoding: .utf8).contains("\"effdx_version\""))
  }

  func testOutputsOfAnotherKindOrTheInputItself_areRefusedAndKept() throws {
    try photo(dir + "/x.png")
    let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/x.png"))
    try refuses(["convert", dir + "/x.png", "--out", dir + "/x.png"], "own input", status: 64)
    try refuses(["convert", dir + "/x.png", "--out", dir + "/./x.png"], "own input", status: 64)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/x.png")), before)
    try refuses(["convert", dir + "/x.png", "--out", dir + "/x.jpg"], "name the file .png", status: 64)
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x.jpg"))
    try "notes\n".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
    try refuses(["convert", dir + "/x.png", "--out", dir + "/notes.txt"], "name the file .png", status: 64)
    try refuses(["forward", "--checkpoint", "c.safetensors", "--input", "i.safetensors", "--tensor", "x", "--out", dir + "/notes.txt"], ".safetensors", status: 64)
    try refuses(["import-weights", dir + "/w.pth", "--arch", "efficientnet_b0", "--out", dir + "/x.png"], ".safetensors", status: 64)
    XCTAssertEqual(try String(contentsOfFile: dir + "/notes.txt", encoding: .utf8), "notes\n")
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/x.png")), before)
    try FileManager.default.createDirectory(atPath: dir + "/folder.png", withIntermediateDirectories: true)
    try refuses(["convert", dir + "/x.png", "--out", dir + "/folder.png"], "is a folder", status: 64)
    // A new PNG is written as before.
    let r = try effdx(["convert", dir + "/x.png", "--out", dir + "/copy.png"])
    XCTAssertEqual(r.status, 0, r.stderr)
  }
}
