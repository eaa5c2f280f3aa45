import DxImaging
import DxNN
import DxTensor
import DxTestSupport
import Foundation
import XCTest

/// The seventh audit round: evaluation's and merge's joins by path (Unicode twins, a manifest's
/// spellings), another tool's report folder, error rows of another shard, and training's
/// resume of damaged weights (in RecipeCommandTests).
final class HostileInputRoundSevenTests: HostileCLITestCase {
  let nfc = "caf\u{E9}.png", nfd = "cafe\u{301}.png"

  func write(_ text: String, _ name: String) throws -> String {
    try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
    return dir + "/" + name
  }

  func report(_ out: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))
    return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  /// Two files whose names differ only in Unicode normalisation are two rows everywhere: a file
  /// compared with itself scored -0.25 (two rows joined to one), a manifest listing both was
  /// refused as listing one twice, and `merge` refused a job diagnosed from a folder of both.
  func testUnicodeTwins_areTwoFilesInEvaluateAndMerge() throws {
    let rows = "path,label,predicted,p_a,p_b\n\(nfc),a,a,0.9,0.1\n\(nfd),b,b,0.2,0.8\nx.png,a,a,0.7,0.3\ny.png,b,a,0.6,0.4\n"
    let predictions = try write(rows, "p.csv"), same = try write(rows, "q.csv")
    let compared = try effdx(["evaluate", "--predictions", predictions, "--compare", same, "--out", dir + "/r", "--bootstrap", "0"])
    XCTAssertEqual(compared.status, 0, compared.stderr)
    let comparison = try XCTUnwrap(try report(dir + "/r")["comparison"] as? [String: Any])
    XCTAssertEqual(comparison["n"] as? Int, 4)
    let accuracy = try XCTUnwrap((comparison["metrics"] as? [String: Any])?["accuracy"] as? [String: Any])
    XCTAssertEqual(accuracy["difference"] as? Double, 0, "a file compared with itself")

    let manifest = try write("path,label\n\(nfc),a\n\(nfd),b\nx.png,a\ny.png,a\n", "labels.csv")
    let labelled = try effdx(["evaluate", "--predictions", predictions, "--labels", manifest, "--out", dir + "/l", "--bootstrap", "0"])
    XCTAssertEqual(labelled.status, 0, labelled.stderr)
    XCTAssertEqual(((try report(dir + "/l")["overall"] as? [String: Any])?["n"] as? Int), 4)

    let ckpt = try checkpoint("twins")
    try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
    for (i, name) in [nfc, nfd, "a.png", "z.png"].enumerated() { try photo(dir + "/in/" + name, w: 24 + i, h: 24) }
    for shard in ["0/2", "1/2"] {
      let r = try effdx(["diagnose", "--checkpoint", ckpt, "--input", dir + "/in", "--out", dir + "/s\(shard.prefix(1)).csv", "--shard", shard])
      XCTAssertEqual(r.status, 0, r.stderr)
    }
    let merged = try effdx(["merge", dir + "/s0.csv", dir + "/s1.csv", "--out", dir + "/m.csv"])
    XCTAssertEqual(merged.status, 0, merged.stderr)
    XCTAssertEqual(try String(contentsOfFile: dir + "/m.csv", encoding: .utf8).split(separator: "\n").count, 5, "a header and four rows")
  }

  /// A labels manifest is read as train reads one: a column twice, a short row, and one file
  /// under two spellings were each taken in silence (the second column, the row dropped, the
  /// truth depending on how the prediction spelled the path); labels are trimmed.
  func testALabelsManifest_isCheckedAsTrainsIs() throws {
    let predictions = try write("path,label,predicted,p_a,p_b\nx.png,a,a,0.9,0.1\ny.png,b,b,0.2,0.8\n", "p.csv")
    for (name, text, expected) in [("twice", "path,label,label\nx.png,a,b\ny.png,b,b\n", "column 'label' appears twice"),
                                   ("short", "path,label\nx.png,a\ny.png\n", "twice-short.csv:3: 1 fields, the header has 2"),
                                   ("spelled", "path,label\nx.png,a\n./x.png,b\ny.png,b\n", "'./x.png' is listed again (first on line 2 as 'x.png')")] {
      let manifest = try write(text, name == "short" ? "twice-short.csv" : "\(name).csv")
      try refuses(["evaluate", "--predictions", predictions, "--labels", manifest, "--out", dir + "/r-\(name)", "--bootstrap", "0"], expected)
    }
    let trimmed = try write("path,label\nx.png, a\ny.png,b \n", "trimmed.csv")
    let r = try effdx(["evaluate", "--predictions", predictions, "--labels", trimmed, "--out", dir + "/t", "--bootstrap", "0"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(((try report(dir + "/t")["overall"] as? [String: Any])?["accuracy"] as? Double), 1)
  }

  /// A folder holding another tool's report.json (which happens to say "schema_version") and
  /// its report.md is not ours: both were replaced. An earlier effdx report still is.
  func testAnotherToolsReportFolder_isLeftAlone() throws {
    let predictions = try write("path,label,predicted,p_a,p_b\nx.png,a,a,0.9,0.1\ny.png,b,b,0.2,0.8\n", "p.csv")
    try FileManager.default.createDirectory(atPath: dir + "/theirs", withIntermediateDirectories: true)
    let json = #"{"schema_version":"2","tool":"someone-elses-dashboard"}"#
    _ = try write(json, "theirs/report.json")
    _ = try write("# my notes\n", "theirs/report.md")
    try refuses(["evaluate", "--predictions", predictions, "--out", dir + "/theirs", "--bootstrap", "0"], "which no earlier report wrote there", status: 64)
    XCTAssertEqual(try String(contentsOfFile: dir + "/theirs/report.md", encoding: .utf8), "# my notes\n")
    XCTAssertEqual(try String(contentsOfFile: dir + "/theirs/report.json", encoding: .utf8), json)
    for _ in 0..<2 {
      let ours = try effdx(["evaluate", "--predictions", predictions, "--out", dir + "/ours", "--bootstrap", "0"])
      XCTAssertEqual(ours.status, 0, "a second report over the first: \(ours.stderr)")
    }
  }

  /// A shard's errors file naming a file of another shard's list was merged in beside that
  /// file's prediction (and the merged provenance said 0 failed). Refused as another run's
  /// rows; an input-level error every shard records (a link to nothing) is kept once.
  func testMerge_errorRowsOfAnotherShardsFile_areRefused() throws {
    let ckpt = try checkpoint("errors")
    try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
    for name in ["a.png", "b.png", "c.png"] { try photo(dir + "/in/" + name) }
    XCTAssertEqual(symlink(dir + "/nowhere.png", dir + "/in/broken.png"), 0)
    for shard in ["0/2", "1/2"] {
      let r = try effdx(["diagnose", "--checkpoint", ckpt, "--input", dir + "/in", "--out", dir + "/s\(shard.prefix(1)).csv", "--shard", shard])
      XCTAssertNotEqual(r.status, 1, r.stderr)
    }
    let merged = try effdx(["merge", dir + "/s0.csv", dir + "/s1.csv", "--out", dir + "/m.csv"])
    XCTAssertEqual(merged.status, 0, merged.stderr)
    let errors = try String(contentsOfFile: dir + "/m.errors.csv", encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(errors.filter { $0.contains("broken.png") }.count, 1, "\(errors)")
    // Shard 0's ledger now also names a file shard 1 predicted.
    let s1 = try String(contentsOfFile: dir + "/s1.csv", encoding: .utf8).split(separator: "\n")
    let theirs = try XCTUnwrap(s1.dropFirst().first.map { String($0.split(separator: ",")[0]) })
    let ledger = dir + "/s0.errors.csv"
    let before = (try? String(contentsOfFile: ledger, encoding: .utf8)) ?? "path,error\n"
    try (before + "\(theirs),decode failed\n").write(toFile: ledger, atomically: true, encoding: .utf8)
    try refuses(["merge", dir + "/s0.csv", dir + "/s1.csv", "--out", dir + "/m2.csv"], "rows are for files not in their shard's list (another run's rows?): \(theirs) (in \(dir!)/s0.csv's errors)")
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/m2.csv"))
  }

  /// A sparse safetensors file (a few KB on disk) whose one tensor the model never uses claims
  /// 6 GB: every floating-point tensor was decoded before names were matched, and the
  /// allocation failed (SIGABRT). Counted from the header first, beside the mapped file.
  func testImportWeights_countsWhatItWouldDecodeFirst() throws {
    let n = 1_500_000_000
    let header = Data(#"{"junk":{"dtype":"F32","shape":[\#(n)],"data_offsets":[0,\#(4 * n)]}}"#.utf8)
    let source = dir + "/sparse.safetensors"
    var bytes = Data()
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
    bytes += header
    XCTAssertTrue(FileManager.default.createFile(atPath: source, contents: bytes))
    let handle = try XCTUnwrap(FileHandle(forWritingAtPath: source))
    try handle.truncate(atOffset: UInt64(bytes.count + 4 * n))
    try handle.close()
    try refuses(["import-weights", source, "--arch", "efficientnet_lite0", "--out", dir + "/o.safetensors"], "its floating-point tensors hold \(n) values, 6.0 GB as Float32")
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/o.safetensors"))
  }

  /// Messages name where a value came from: an overlap from the pipeline's tiling block was
  /// blamed on --overlap; balanced class weights with mixup were found only after the data was
  /// indexed; a tile larger than every level said "no tissue found".
  func testMessages_nameTheValuesSource() throws {
    let ckpt = try checkpoint("msgs")
    let tiff = dir + "/s.tif"
    let level = TIFFWriter.Level(width: 512, height: 512) { _, _, w, h in Image(width: w, height: h, channels: 3, samples: .uint8([UInt8](repeating: 120, count: w * h * 3))) }
    try TIFFWriter.write(pages: [.level(level, description: "Aperio Image Library v12|AppMag = 20|MPP = 0.001|")], to: tiff, tileSize: 256, compression: .deflate)
    let pipeline = try write("name: slides\ntask: leaf-disease\ntiling:\n  overlap: 100\n", "overlap.yaml")
    try refuses(["diagnose", "--checkpoint", ckpt, "--input", tiff, "--out", dir + "/p.csv", "--pipeline", pipeline], "the pipeline's tiling.overlap must be in 0..<32", status: 64)
    try refuses(["tile", tiff, "--out", dir + "/t", "--overlap", "100", "--tile-size", "64"], "--overlap must be in 0..<64", status: 64)
    // 32 pixels at 0.5 um/px are 16,000 pixels of a 0.001 um/px slide: no tile fits its level.
    let r = try effdx(["diagnose", "--checkpoint", ckpt, "--input", tiff, "--out", dir + "/q.csv", "--mpp", "0.5"])
    XCTAssertEqual(r.status, 3, r.stderr)
    let errors = try String(contentsOfFile: dir + "/q.errors.csv", encoding: .utf8)
    XCTAssertTrue(errors.contains("no tile fits: a 16000-pixel tile is larger than level 0"), errors)
    // Checked before the data is read (this folder does not exist), naming the flags.
    try refuses(["train", "--task", "leaf-disease", "--data", dir + "/absent", "--out", dir + "/run", "--balanced", "--mixup", "0.2"],
                "--balanced class weights do not combine with mixup 0.2 (--mixup)")
  }

  /// A predictions file that is a good row then 16 GB of NULs (sparse, nothing on disk) was
  /// scanned four times over for a minute and passed. A NUL is refused at once, naming its line
  /// (4 GB here, within the tests' address-space limit; past it, the mapping's failure is named).
  func testAPredictionsFileWithNULs_isRefusedAtTheFirst() throws {
    for (size, expected) in [(4 << 30, "sparse.csv:3: a NUL byte at byte 47: not a text file"), (16 << 30, "could not be mapped into memory")] {
      let path = try write("path,label,predicted,p_a,p_b\nx.png,a,a,0.9,0.1\n", "sparse.csv")
      let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
      try handle.truncate(atOffset: UInt64(size))
      try handle.close()
      try refuses(["evaluate", "--predictions", path, "--out", dir + "/r", "--bootstrap", "0"], expected)
    }
  }

  /// Round eight: joins by file. A prediction took the truth of a manifest line with the same
  /// text in another folder before the line naming its very file; `./x.png` against `x.png` in
  /// `--compare` shared "no image" while Unicode twins passed that check and compared 0 rows;
  /// an empty manifest was blamed on the predictions; a repeated row was named as line 0.
  func testEvaluatesJoins_areByFile() throws {
    try FileManager.default.createDirectory(atPath: dir + "/m", withIntermediateDirectories: true)
    let predictions = try write("path,label,predicted,p_cat,p_dog\n\(dir!)/x.png,,dog,0.1,0.9\n\(dir!)/y.png,,dog,0.2,0.8\n", "p.csv")
    let manifest = try write("path,label\nx.png,cat\n\(dir!)/x.png,dog\n\(dir!)/y.png,dog\n", "m/labels.csv")
    let r = try effdx(["evaluate", "--predictions", predictions, "--labels", manifest, "--out", dir + "/r", "--bootstrap", "0"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual((try report(dir + "/r")["overall"] as? [String: Any])?["accuracy"] as? Double, 1, "x.png's own line says dog")

    let spelled = try write("path,label,predicted,p_a,p_b\n./\(nfc),a,a,0.9,0.1\n./x.png,b,b,0.2,0.8\n", "spelled.csv")
    let plain = try write("path,label,predicted,p_a,p_b\n\(nfc),a,a,0.9,0.1\nx.png,b,a,0.6,0.4\n", "plain.csv")
    let twins = try write("path,label,predicted,p_a,p_b\n\(nfd),a,a,0.9,0.1\n", "twins.csv")
    // Relative paths are read against the working folder: run where the files are.
    let compared = try effdxIn(dir, ["evaluate", "--predictions", spelled, "--compare", plain, "--out", dir + "/c", "--bootstrap", "0"])
    XCTAssertEqual(compared.status, 0, compared.stderr)
    XCTAssertEqual((try report(dir + "/c")["comparison"] as? [String: Any])?["n"] as? Int, 2)
    let none = try effdxIn(dir, ["evaluate", "--predictions", plain, "--compare", twins, "--out", dir + "/t", "--bootstrap", "0"])
    XCTAssertNotEqual(none.status, 0)
    XCTAssertTrue(none.stderr.contains("shares no image"), none.stderr)

    let empty = try write("", "empty.csv")
    try refuses(["evaluate", "--predictions", predictions, "--labels", empty, "--out", dir + "/e", "--bootstrap", "0"], "empty.csv: bad header: a labels manifest needs a header")
    let repeated = try write("path,label,predicted,p_a,p_b\nx.png,a,a,0.9,0.1\n./x.png,a,b,0.2,0.8\ny.png,b,b,0.3,0.7\n", "repeated.csv")
    let d = try effdxIn(dir, ["evaluate", "--predictions", repeated, "--out", dir + "/d", "--bootstrap", "0"])
    XCTAssertEqual(d.status, 0, d.stderr)
    XCTAssertTrue(d.stdout.contains("repeated.csv:3: path './x.png' is listed again (first on line 2 as 'x.png'") || d.stderr.contains("repeated.csv:3: path './x.png' is listed again (first on line 2 as 'x.png'"), d.stdout + d.stderr)
  }

  /// Flags that named no folder ended in Foundation's words ("NSCocoaErrorDomain Code=4").
  func testFolderFlags_areNamed() throws {
    try refuses(["samples", "--task", "leaf-disease", "--out", "", "--count", "4"], "--out must name a folder", status: 64)
    try refuses(["bench", "imaging", "--work", "/dev/null"], "--work /dev/null: cannot make the folder", status: 64)
  }

  /// 1,000 pages sharing one table of 4 million tiles (32 MB on disk): every directory read the
  /// whole table when it was opened, 32 GB of reading before a line was printed (21 s for a
  /// quarter of it). The tables are now read entry by entry, when a tile is.
  func testPagesSharingAHugeTileTable_openAtOnce() throws {
    func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    func le16(_ v: Int) -> [UInt8] { (0..<2).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    let across = 2000, tiles = across * across, pages = 1000
    let offsets = 8, counts = offsets + 4 * tiles, directories = counts + 4 * tiles
    var bytes = [UInt8]("II*\0".utf8) + le32(directories)
    bytes += [UInt8](repeating: 0, count: 4 * tiles) + [UInt8](repeating: 1, count: 4 * tiles)
    let entries: [(Int, Int, Int, Int)] = [(256, 4, 1, 256 * across), (257, 4, 1, 256 * across), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
                                           (277, 3, 1, 1), (322, 3, 1, 256), (323, 3, 1, 256), (324, 4, tiles, offsets), (325, 4, tiles, counts)]
    let size = 2 + 12 * entries.count + 4
    for page in 0..<pages {
      bytes += le16(entries.count)
      for (tag, type, count, value) in entries { bytes += le16(tag) + le16(type) + le32(count) + (type == 3 && count == 1 ? le16(value) + [0, 0] : le32(value)) }
      bytes += le32(page == pages - 1 ? 0 : directories + (page + 1) * size)
    }
    let path = dir + "/shared-table.tif"
    XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
    let r = try effdx(["inspect", path])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertTrue(r.stdout.contains("level 0: 512000 x 512000, tiles 256 x 256"), r.stdout)
  }

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

  /// `effdx` run in `folder` (relative paths resolve there), with the same limits as `effdx`.
  func effdxIn(_ folder: String, _ args: [String]) throws -> EffDxRunner.Result {
    let previous = FileManager.default.currentDirectoryPath
    XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(folder))
    defer { FileManager.default.changeCurrentDirectoryPath(previous) }
    return try effdx(args)
  }
}
