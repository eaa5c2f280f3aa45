import DxImaging
import DxNN
import DxTensor
import DxTestSupport
import Foundation
import XCTest

/// The ninth audit round: a diagnosis's own files (heatmaps over outputs and inputs, resumes of
/// another checkpoint, folder or settings, the errors ledger, nothing changed before the
/// checks), names that are not UTF-8, and merge's trust in the shards' files. Training's
/// resume checks of that round are in RecipeCommandTests.
final class HostileInputRoundNineTests: HostileCLITestCase {
  /// Round nine: heatmaps never replace the run's own files or its inputs. A slide's
  /// `<stem>_tiles.csv` in --heatmaps replaced a predictions file of that name (its rows lost),
  /// and an overlay replaced an input photo of its name; a hashed overlay name that was another
  /// file's plain name, and a name past the file system's limit, lost an overlay.
  func testHeatmaps_neverReplaceTheRunsFilesOrInputs() throws {
    let ckpt = try checkpoint("maps")
    try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
    try photo(dir + "/in/a.png")
    try photo(dir + "/in/in_a_gradcam_a.png", w: 30, h: 30)
    try photo(dir + "/in/in_a_gradcam_b.png", w: 31, h: 30)
    let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/in/in_a_gradcam_a.png")) + Data(contentsOf: URL(fileURLWithPath: dir + "/in/in_a_gradcam_b.png"))
    let r = try effdx(["diagnose", "--checkpoint", ckpt, "--input", dir + "/in", "--out", dir + "/in/in_a_gradcam_a.csv", "--heatmaps", dir + "/in"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/in/in_a_gradcam_a.png")) + Data(contentsOf: URL(fileURLWithPath: dir + "/in/in_a_gradcam_b.png")), before, "no input replaced")
    XCTAssertTrue(r.stdout.contains("is this run's output or one of its inputs") || r.stderr.contains("is this run's output or one of its inputs"), r.stdout + r.stderr)
    XCTAssertEqual(try String(contentsOfFile: dir + "/in/in_a_gradcam_a.csv", encoding: .utf8).split(separator: "\n").count, 4, "a header and three rows")

    // A slide's `<stem>_tiles.csv` where the predictions go: the map is not written, the rows stay.
    let histology = try checkpoint("maps-slides", metadata: ["task": "histopathology"])
    try FileManager.default.createDirectory(atPath: dir + "/slides", withIntermediateDirectories: true)
    func level(_ side: Int) -> TIFFWriter.Level {  // a pyramid, so the TIFF is a slide, not a photo
      TIFFWriter.Level(width: side, height: side) { x, _, w, h in
        var px = [UInt8](repeating: 240, count: w * h * 3)
        for i in 0..<(w * h) where x + i % w < side / 2 { px[3 * i] = 150; px[3 * i + 1] = 60; px[3 * i + 2] = 160 }
        return Image(width: w, height: h, channels: 3, samples: .uint8(px))
      }
    }
    try TIFFWriter.write(levels: [level(256), level(64)], to: dir + "/slides/s.tif", tileSize: 64, compression: .deflate)
    let slide = try effdx(["diagnose", "--checkpoint", histology, "--input", dir + "/slides/s.tif", "--out", dir + "/slides/s_tiles.csv",
                           "--heatmaps", dir + "/slides", "--level", "0", "--min-tissue", "0.1"])
    XCTAssertEqual(slide.status, 0, slide.stderr)
    let predictions = try String(contentsOfFile: dir + "/slides/s_tiles.csv", encoding: .utf8)
    XCTAssertTrue(predictions.hasPrefix("path,"), "still the predictions file: \(predictions.prefix(80))")
    XCTAssertEqual(predictions.split(separator: "\n").count, 2, "a header and the slide's row")
    XCTAssertTrue((slide.stdout + slide.stderr).contains("s_tiles.csv is this run's output or one of its inputs"), slide.stdout + slide.stderr)

    // A name past the file system's limit is cut and hashed: the overlay is written.
    let long = dir + "/" + String(repeating: "f", count: 200)
    try FileManager.default.createDirectory(atPath: long, withIntermediateDirectories: true)
    try photo(long + "/" + String(repeating: "g", count: 200) + ".png")
    let l = try effdx(["diagnose", "--checkpoint", ckpt, "--input", long, "--out", dir + "/long.csv", "--heatmaps", dir + "/maps"])
    XCTAssertEqual(l.status, 0, l.stderr)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/maps").count, 1, l.stdout + l.stderr)
  }

  /// Round nine: a resumed diagnosis checks the rows it continues. Another checkpoint's
  /// resume added its rows under the first one's (the provenance then named the second only);
  /// a provenance file that could not be read, or had lost its settings, let --tta rows in.
  func testAResumedDiagnosis_continuesOnlyItsOwnRows() throws {
    let first = try checkpoint("first"), second = try checkpoint("second") { t in t["classifier.bias"]!.scalars[0] += 1 }
    try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
    try photo(dir + "/in/a.png")
    let r = try effdx(["diagnose", "--checkpoint", first, "--input", dir + "/in/a.png", "--out", dir + "/p.csv"])
    XCTAssertEqual(r.status, 0, r.stderr)
    try photo(dir + "/in/b.png", w: 30, h: 30)
    let rows = try Data(contentsOf: URL(fileURLWithPath: dir + "/p.csv"))
    try refuses(["diagnose", "--checkpoint", second, "--input", dir + "/in", "--out", dir + "/p.csv"], "holds the predictions of another checkpoint")
    let meta = dir + "/p.meta.json"
    let good = try String(contentsOfFile: meta, encoding: .utf8)
    try good.replacingOccurrences(of: #""rows" : 1"#, with: #""rows" : "1""#).write(toFile: meta, atomically: true, encoding: .utf8)
    try refuses(["diagnose", "--checkpoint", first, "--input", dir + "/in", "--out", dir + "/p.csv", "--tta"], "p.meta.json cannot be read")
    var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(good.utf8)) as? [String: Any])
    object["settings"] = nil
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: meta))
    try refuses(["diagnose", "--checkpoint", first, "--input", dir + "/in", "--out", dir + "/p.csv", "--tta"], "settings recorded in one run only")
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/p.csv")), rows, "the rows as the first run left them")
  }

  /// Round nine: the errors ledger tells files apart by identity. A bad `café.png` beside a good
  /// twin lost its row when the twin was diagnosed; the same file spelled absolutely kept its
  /// old row after it was diagnosed; rows that are not `path,error` were dropped in the rewrite.
  func testTheErrorsLedger_keysFilesByIdentity() throws {
    let ckpt = try checkpoint("ledger")
    try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
    try photo(dir + "/in/" + nfc)
    try Data("not a png".utf8).write(to: URL(fileURLWithPath: dir + "/in/" + nfd))
    try Data("not a png".utf8).write(to: URL(fileURLWithPath: dir + "/in/b.png"))
    let r = try effdxIn(dir, ["diagnose", "--checkpoint", ckpt, "--input", "in", "--out", dir + "/p.csv"])
    XCTAssertEqual(r.status, 3, r.stderr)
    let ledger = dir + "/p.errors.csv"
    XCTAssertTrue(try String(contentsOfFile: ledger, encoding: .utf8).contains(nfd), "the bad twin's row stays")
    try (try String(contentsOfFile: ledger, encoding: .utf8) + "/other/file.png,reason one,extra note\n").write(toFile: ledger, atomically: true, encoding: .utf8)
    try photo(dir + "/in/b.png")
    let again = try effdxIn(dir, ["diagnose", "--checkpoint", ckpt, "--input", dir + "/in", "--out", dir + "/p.csv"])
    XCTAssertEqual(again.status, 3, again.stderr)
    let rows = try String(contentsOfFile: ledger, encoding: .utf8).split(separator: "\n").map(String.init)
    XCTAssertFalse(rows.contains { $0.hasPrefix("in/b.png") }, "b.png, diagnosed under its absolute path, left the ledger: \(rows)")
    XCTAssertTrue(rows.contains("/other/file.png,reason one,extra note"), "\(rows)")
    XCTAssertTrue(rows.contains { $0.contains(nfd) }, "\(rows)")
  }

  /// Round nine: nothing changes before the inputs are checked. A refused resume had already cut
  /// its PRED.csv's unfinished last line; a --heatmaps folder that could not be made left a
  /// header-only PRED.csv and errors file behind.
  func testARefusedDiagnosis_leavesItsOutputsAsTheyWere() throws {
    let ckpt = try checkpoint("untouched")
    try photo(dir + "/x.png")
    let damaged = "path,study,label,predicted,p_a,p_b\nbroken\n/some/y.png,,,a,0.6,0.4"
    try damaged.write(toFile: dir + "/p.csv", atomically: true, encoding: .utf8)
    try refuses(["diagnose", "--checkpoint", ckpt, "--input", dir + "/x.png", "--out", dir + "/p.csv"], "it was left as it is")
    XCTAssertEqual(try String(contentsOfFile: dir + "/p.csv", encoding: .utf8), damaged, "byte for byte")
    try Data("a file".utf8).write(to: URL(fileURLWithPath: dir + "/afile"))
    try refuses(["diagnose", "--checkpoint", ckpt, "--input", dir + "/x.png", "--out", dir + "/q.csv", "--heatmaps", dir + "/afile/maps"], "--heatmaps \(dir!)/afile/maps: cannot create the folder")
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/q.csv"))
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/q.errors.csv"))
  }

  /// Round nine: a file whose name is not UTF-8 was left out of a folder's listing, neither
  /// diagnosed nor listed as an error, with exit 0.
  func testAFileNamedInBytesThatAreNotUTF8_isAnErrorRow() throws {
    let ckpt = try checkpoint("bytes")
    try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
    try photo(dir + "/in/ok.png")
    let name = Array((dir + "/in/x").utf8) + [0xFF] + Array(".png".utf8) + [0]
    let fd = name.withUnsafeBufferPointer { $0.baseAddress!.withMemoryRebound(to: CChar.self, capacity: name.count) { open($0, O_CREAT | O_WRONLY, 0o644) } }
    XCTAssertGreaterThanOrEqual(fd, 0)
    close(fd)
    let r = try effdx(["diagnose", "--checkpoint", ckpt, "--input", dir + "/in", "--out", dir + "/p.csv"])
    XCTAssertEqual(r.status, 3, r.stdout + r.stderr)
    XCTAssertTrue(try String(contentsOfFile: dir + "/p.errors.csv", encoding: .utf8).contains("its name is not UTF-8 text"))
  }

  /// Round nine: merge checks what the shards' files say. Edited classes were recorded in the
  /// merged provenance; a FIFO errors file was read as empty; binary bytes in one were copied
  /// into the merged ledger.
  func testMerge_checksTheShardsProvenanceAndLedgers() throws {
    let ckpt = try checkpoint("merge9")
    try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
    for name in ["a.png", "b.png"] { try photo(dir + "/in/" + name) }
    for shard in ["0/2", "1/2"] {
      let r = try effdx(["diagnose", "--checkpoint", ckpt, "--input", dir + "/in", "--out", dir + "/s\(shard.prefix(1)).csv", "--shard", shard])
      XCTAssertEqual(r.status, 0, r.stderr)
    }
    let meta = dir + "/s0.meta.json", good = try Data(contentsOf: URL(fileURLWithPath: meta))
    var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: good) as? [String: Any])
    object["classes"] = ["cat", "dog"]
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: meta))
    try refuses(["merge", dir + "/s0.csv", dir + "/s1.csv", "--out", dir + "/m.csv"], "are not the columns of")
    try good.write(to: URL(fileURLWithPath: meta))
    let ledger = dir + "/s0.errors.csv"
    try? FileManager.default.removeItem(atPath: ledger)
    XCTAssertEqual(mkfifo(ledger, 0o644), 0)
    try refuses(["merge", dir + "/s0.csv", dir + "/s1.csv", "--out", dir + "/m.csv"], "not a regular file")
    try FileManager.default.removeItem(atPath: ledger)
    try Data("path,error\nx\0.png,bad\n".utf8).write(to: URL(fileURLWithPath: ledger))
    try refuses(["merge", dir + "/s0.csv", dir + "/s1.csv", "--out", dir + "/m.csv"], "s0.errors.csv: holds a NUL byte")
    try FileManager.default.removeItem(atPath: ledger)
    let merged = try effdx(["merge", dir + "/s0.csv", dir + "/s1.csv", "--out", dir + "/m.csv"])
    XCTAssertEqual(merged.status, 0, merged.stderr)
  }

  /// Round nine: a resume from another folder read the rows' relative paths from there, found
  /// nothing done, and diagnosed every file again beside its first row.
  func testAResumeFromAnotherFolder_isRefusedWhenRowsAreRelative() throws {
    let ckpt = try checkpoint("cwd")
    try FileManager.default.createDirectory(atPath: dir + "/A/in", withIntermediateDirectories: true)
    try photo(dir + "/A/in/x.png")
    let first = try effdxIn(dir + "/A", ["diagnose", "--checkpoint", ckpt, "--input", "in", "--out", dir + "/A/p.csv"])
    XCTAssertEqual(first.status, 0, first.stderr)
    let rows = try Data(contentsOf: URL(fileURLWithPath: dir + "/A/p.csv"))
    let elsewhere = try effdxIn(dir, ["diagnose", "--checkpoint", ckpt, "--input", "A/in", "--out", dir + "/A/p.csv"])
    XCTAssertEqual(elsewhere.status, 1, elsewhere.stderr)
    XCTAssertTrue(elsewhere.stderr.contains("its rows name files relative to \(dir!)/A, where the earlier run ran"), elsewhere.stderr)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/A/p.csv")), rows)
    let there = try effdxIn(dir + "/A", ["diagnose", "--checkpoint", ckpt, "--input", "in", "--out", dir + "/A/p.csv"])
    XCTAssertEqual(there.status, 0, there.stderr)
    XCTAssertTrue(there.stdout.contains("0 diagnosed, 1 already"), there.stdout)
  }
}
