import DxEfficientNet
import DxImaging
import DxTasks
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
    // A folder that does not exist is named before any work; one where no file can be made
    // (/proc) gives the system's reason, not "the file doesn't exist".
    try refuses(["convert", dir + "/x.png", "--out", dir + "/no/such/x.png"], "the folder \(dir!)/no/such does not exist", status: 64)
    try refuses(["convert", dir + "/x.png", "--out", "/proc/x.png"], "/proc/x.png: cannot write: cannot create a file in /proc: ")
    // A new PNG is written as before.
    let r = try effdx(["convert", dir + "/x.png", "--out", dir + "/copy.png"])
    XCTAssertEqual(r.status, 0, r.stderr)
  }

  /// `evaluate --out` the folder of its own predictions (named like a report file), or a folder
  /// holding a report file's name that no report wrote, replaced them; `train --out` a folder
  /// of the user's replaced its test.csv and log.jsonl. Each is refused, the files kept; an
  /// earlier report is replaced as before.
  func testReportAndRunFolders_neverReplaceTheUsersFiles() throws {
    let predictions = "path,label,predicted,p_a,p_b\nx.png,a,a,0.9,0.1\ny.png,b,a,0.6,0.4\nz.png,b,b,0.2,0.8\n"
    try FileManager.default.createDirectory(atPath: dir + "/ev", withIntermediateDirectories: true)
    try predictions.write(toFile: dir + "/ev/per_study.csv", atomically: true, encoding: .utf8)
    try refuses(["evaluate", "--predictions", dir + "/ev/per_study.csv", "--out", dir + "/ev"], "would replace the input", status: 64)
    XCTAssertEqual(try String(contentsOfFile: dir + "/ev/per_study.csv", encoding: .utf8), predictions)
    try predictions.write(toFile: dir + "/p.csv", atomically: true, encoding: .utf8)
    try "my notes\n".write(toFile: dir + "/ev/report.md", atomically: true, encoding: .utf8)
    try refuses(["evaluate", "--predictions", dir + "/p.csv", "--out", dir + "/ev"], "holds per_study.csv, which no earlier report wrote there", status: 64)
    XCTAssertEqual(try String(contentsOfFile: dir + "/ev/report.md", encoding: .utf8), "my notes\n")
    for _ in 0..<2 {
      let r = try effdx(["evaluate", "--predictions", dir + "/p.csv", "--bootstrap", "0", "--out", dir + "/report"])
      XCTAssertEqual(r.status, 0, r.stderr)
    }
    // --compare reads the other file's classes by name: the same predictions with the p_
    // columns swapped compare equal (they were scored by position: accuracy 0.33 against 0.67),
    // and a file of other classes is refused.
    try "path,label,predicted,p_b,p_a\nx.png,a,a,0.1,0.9\ny.png,b,a,0.4,0.6\nz.png,b,b,0.8,0.2\n".write(toFile: dir + "/swapped.csv", atomically: true, encoding: .utf8)
    let c = try effdx(["evaluate", "--predictions", dir + "/p.csv", "--compare", dir + "/swapped.csv", "--bootstrap", "0", "--json", "--out", dir + "/cmp"])
    XCTAssertEqual(c.status, 0, c.stderr)
    let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/cmp/report.json"))) as! [String: Any]
    let accuracy = ((report["comparison"] as? [String: Any])?["metrics"] as? [String: Any])?["accuracy"] as? [String: Any]
    XCTAssertEqual(accuracy?["a"] as? Double, accuracy?["b"] as? Double, "\(String(describing: accuracy))")
    XCTAssertEqual(accuracy?["difference"] as? Double, 0)
    try "path,label,predicted,p_a,p_c\nx.png,a,a,0.9,0.1\n".write(toFile: dir + "/other.csv", atomically: true, encoding: .utf8)
    try refuses(["evaluate", "--predictions", dir + "/p.csv", "--compare", dir + "/other.csv", "--out", dir + "/cmp2"], "has classes a, c, not the predictions' a, b", status: 64)

    for c in ["a", "b"] {
      try FileManager.default.createDirectory(atPath: dir + "/data/\(c)", withIntermediateDirectories: true)
      for i in 0..<3 { try photo(dir + "/data/\(c)/\(i).png") }
    }
    try "path,label\nmine.png,a\n".write(toFile: dir + "/data/test.csv", atomically: true, encoding: .utf8)
    try "{\"my\": \"notes\"}\n".write(toFile: dir + "/data/log.jsonl", atomically: true, encoding: .utf8)
    try refuses(["train", "--task", "leaf-disease", "--data", dir + "/data", "--out", dir + "/data", "--epochs", "1"], "holds log.jsonl, and no run of effdx's")
    XCTAssertEqual(try String(contentsOfFile: dir + "/data/test.csv", encoding: .utf8), "path,label\nmine.png,a\n")
    XCTAssertEqual(try String(contentsOfFile: dir + "/data/log.jsonl", encoding: .utf8), "{\"my\": \"notes\"}\n")
  }

  /// `samples --out` a user's dataset replaced its manifest; over an earlier sample set it left
  /// the old images beside the new. It writes a new or empty folder, or replaces a set it
  /// wrote (and only then).
  func testSamples_replaceOnlyASampleSet() throws {
    try FileManager.default.createDirectory(atPath: dir + "/mine/train", withIntermediateDirectories: true)
    try "path,label\nmy_precious.png,x\n".write(toFile: dir + "/mine/train/manifest.csv", atomically: true, encoding: .utf8)
    try refuses(["samples", "--task", "leaf-disease", "--out", dir + "/mine", "--count", "4"], "holds files and no sample set of effdx's", status: 64)
    XCTAssertEqual(try String(contentsOfFile: dir + "/mine/train/manifest.csv", encoding: .utf8), "path,label\nmy_precious.png,x\n")
    func images(_ folder: String) -> Int {
      (FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".png") || $0.hasSuffix(".jpg") }.count
    }
    for count in ["8", "4"] {
      let r = try effdx(["samples", "--task", "leaf-disease", "--out", dir + "/set", "--count", count])
      XCTAssertEqual(r.status, 0, r.stderr)
    }
    XCTAssertEqual(images(dir + "/set/train"), 4, "the first set's images are gone")
  }

  /// `tile --out` replaced a folder's tiles.csv and thumbnail.png, and a second run into its own
  /// folder left the first run's tiles beside the new ones (8 PNGs under a 1-row tiles.csv).
  func testTile_replacesOnlyItsOwnTiles() throws {
    try SampleDatasets.histopathology(to: dir + "/h", count: 5, holdout: 5, size: 32, slideSize: 512, seed: 3)
    let slide = dir + "/h/slides/slide_1.tif"
    try FileManager.default.createDirectory(atPath: dir + "/mine", withIntermediateDirectories: true)
    try "precious,data\n".write(toFile: dir + "/mine/tiles.csv", atomically: true, encoding: .utf8)
    try refuses(["tile", slide, "--tile-size", "64", "--out", dir + "/mine"], "holds files and no tiles of effdx's", status: 64)
    XCTAssertEqual(try String(contentsOfFile: dir + "/mine/tiles.csv", encoding: .utf8), "precious,data\n")
    try "x\n".write(toFile: dir + "/afile", atomically: true, encoding: .utf8)
    try refuses(["tile", slide, "--out", dir + "/afile"], "is a file; name a folder", status: 64)
    // A run refused before its first tile leaves no folder behind.
    XCTAssertNotEqual(try effdx(["tile", dir + "/afile", "--out", dir + "/none"]).status, 0)
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/none"))
    for size in ["32", "128"] {
      let r = try effdx(["tile", slide, "--tile-size", size, "--min-tissue", "0", "--out", dir + "/t"])
      XCTAssertEqual(r.status, 0, r.stderr)
    }
    let rows = try String(contentsOfFile: dir + "/t/tiles.csv", encoding: .utf8).split(separator: "\n").count - 1
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/t/tiles").count, rows, "only the last run's tiles")
    // A tile larger than the slide: said, not an empty success in silence.
    let big = try effdx(["tile", slide, "--tile-size", "4096", "--out", dir + "/big"])
    XCTAssertEqual(big.status, 0, big.stderr)
    XCTAssertTrue(big.stderr.contains("no tile fits: a 4096-pixel tile is larger than level 0"), big.stderr)
  }

  /// evaluate's pictures: an image past the pictures' 2^26 pixels is refused from its header
  /// (a 13,000-pixel-square PNG took minutes for a thumbnail), and every image or heatmap file
  /// that cannot be read is named in the warnings (they were counted, or dropped, silently).
  func testEvaluatePictures_areBoundedAndTheirFailuresNamed() throws {
    // A PNG header claiming 13,000 x 13,000 pixels, then nothing: refused before decoding.
    func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    let ihdr: [UInt8] = Array("IHDR".utf8) + be(13_000) + be(13_000) + [8, 2, 0, 0, 0]
    func crc(_ bytes: [UInt8]) -> UInt32 { bytes.reduce(UInt32(0xFFFF_FFFF)) { c, b in (0..<8).reduce(c ^ UInt32(b)) { c, _ in c & 1 == 1 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 } } ^ 0xFFFF_FFFF }
    let idat = Array("IDAT".utf8)  // empty: the header is all the decoder reads before the limit
    XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/huge.png", contents: Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + be(13) + ihdr + be(crc(ihdr)) + be(0) + idat + be(crc(idat)))))
    for i in 0..<12 { try photo(dir + "/p\(i).png", w: 40 + i, h: 36) }
    var csv = "path,label,predicted,p_a,p_b\n\(dir!)/huge.png,a,a,0.9,0.1\n"
    for i in 0..<12 { csv += "\(dir!)/p\(i).png,\(i % 2 == 0 ? "a" : "b"),a,0.6,0.4\n" }
    try csv.write(toFile: dir + "/pred.csv", atomically: true, encoding: .utf8)
    try FileManager.default.createDirectory(atPath: dir + "/maps", withIntermediateDirectories: true)
    try photo(dir + "/maps/s_heatmap.png")
    XCTAssertEqual(mkfifo(dir + "/maps/s_tiles.csv", 0o644), 0)
    let r = try effdx(["evaluate", "--predictions", dir + "/pred.csv", "--images", "--heatmaps", dir + "/maps", "--bootstrap", "0", "--out", dir + "/ev"])
    XCTAssertEqual(r.status, 0, r.stderr)
    let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/ev/report.json"))) as! [String: Any]
    let warnings = report["warnings"] as? [String] ?? []
    XCTAssertTrue(warnings.contains { $0.hasPrefix("--images: ") && $0.contains("huge.png") && $0.contains("67108864") }, "\(warnings)")
    XCTAssertTrue(warnings.contains { $0.contains("s_tiles.csv could not be read (not a regular file)") }, "\(warnings)")
  }

  /// A resumed run counts each row's file as done: a damaged or repeated row stops it, naming
  /// the line, with the file left as it is; without the row, the file is diagnosed again.
  func testDamagedRowsOfAResumedRun_stopItNamingTheLine() throws {
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 2
    try EfficientNet(c, seed: 1).save(to: dir + "/m.safetensors", preprocessing: Preprocessing(resolution: 32), metadata: ["classes": "[\"a\",\"b\"]"])
    try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
    for i in 0..<2 { try photo(dir + "/in/\(i).png") }
    let args = ["diagnose", "--checkpoint", dir + "/m.safetensors", "--input", dir + "/in", "--out", dir + "/o.csv"]
    XCTAssertEqual(try effdx(args).status, 0)
    let good = try String(contentsOfFile: dir + "/o.csv", encoding: .utf8)
    var lines = good.split(separator: "\n").map(String.init)
    XCTAssertEqual(lines.count, 3)
    let first = lines[1]
    for (damaged, expected) in [(first.components(separatedBy: ",").prefix(3).joined(separator: ","), "3 columns, not the header's 6"),
                                (first.replacingOccurrences(of: ",0.", with: ",nan0.", options: [], range: nil), "not a probability"),
                                (first, "already has a row at line 2")] {
      let text = lines.joined(separator: "\n") + "\n" + damaged + "\n"
      try text.write(toFile: dir + "/o.csv", atomically: true, encoding: .utf8)
      try refuses(args, "o.csv:4: ")
      let r = try effdx(args)
      XCTAssertTrue(r.stderr.contains(expected), r.stderr)
      XCTAssertEqual(try String(contentsOfFile: dir + "/o.csv", encoding: .utf8), text, "left as it was")
    }
    // The second photo's row removed: it is diagnosed again, the first is kept.
    lines.removeLast()
    try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/o.csv", atomically: true, encoding: .utf8)
    XCTAssertEqual(try effdx(args).status, 0)
    let resumed = try String(contentsOfFile: dir + "/o.csv", encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(resumed.count, 3)
    XCTAssertEqual(String(resumed[1]), first)
  }
}
