import DxImaging
import DxNN
import DxTensor
import DxTestSupport
import Foundation
import XCTest

/// The seventh and eighth audit rounds: evaluation's and merge's joins by path (Unicode twins,
/// a manifest's spellings), another tool's report folder, error rows of another shard, the
/// weights import-weights would decode, messages that name a value's source, files of NULs,
/// and TIFF pages sharing one huge table. Training's resume of damaged weights is in
/// RecipeCommandTests.
final class HostileInputRoundSevenTests: HostileCLITestCase {
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

}
