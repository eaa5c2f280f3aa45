import DxCSV
import DxEfficientNet
import DxImaging
import DxNN
import DxTasks
import DxTensor
import DxTestSupport
import Foundation
import XCTest

/// Values a hostile user or file supplies, one case per class of issue #15, run as a user runs
/// them: `effdx` under an 8 GB address-space limit and a one-minute clock. Each must end with a
/// clear message and an exit status, never a signal, a trap or a hang.
final class HostileInputTests: HostileCLITestCase {
  // MARK: Checkpoint metadata

  func testCheckpointMetadata_isCheckedBeforeAnythingIsBuilt() throws {
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 4
    let good = dir + "/good.safetensors"
    try EfficientNet(c, seed: 1).save(to: good, preprocessing: Preprocessing(resolution: 32), metadata: ["classes": "[\"a\",\"b\",\"c\",\"d\"]", "task": "leaf-disease"])
    try photo(dir + "/x.png")
    let file = try SafeTensorsFile(path: good)
    let tensors = try file.allTensors()
    let config = try JSONSerialization.jsonObject(with: Data(file.metadata["effdx.config"]!.utf8)) as! [String: Any]
    func variant(_ name: String, config edit: [String: Any] = [:], metadata: [String: String] = [:]) throws -> String {
      var cfg = config
      for (k, v) in edit { cfg[k] = v }
      var meta = file.metadata
      meta["effdx.config"] = String(decoding: try JSONSerialization.data(withJSONObject: cfg), as: UTF8.self)
      for (k, v) in metadata { meta[k] = v }
      let path = dir + "/\(name).safetensors"
      try SafeTensorsWriter.write(tensors, metadata: meta, to: path)
      return path
    }
    let cases: [(String, [String: Any], [String: String], String)] = [
      ("classes-negative", ["numClasses": -3], [:], "numClasses"),
      ("stem-negative", ["stemChannels": -1], [:], "stemChannels"),
      ("hidden-negative", ["classifierHidden": -5], [:], "classifierHidden"),
      ("wide", ["widthMultiplier": 1e5], [:], "widthMultiplier"),
      ("deep", ["depthMultiplier": 1e7], [:], "depthMultiplier"),
      ("kernel", ["stages": ["ds_r1_k30001_s1_e1_c16_se0.25"]], [:], "kernel"),
      ("res-0", ["resolution": 0], [:], "resolution"),
      ("res-huge", ["resolution": 100_000], [:], "resolution"),
      ("crop-0", [:], ["effdx.preprocessing": "{\"resolution\":32,\"cropPct\":0,\"mean\":[0.5,0.5,0.5],\"std\":[0.2,0.2,0.2],\"interpolation\":\"bicubic\"}"], "crop_pct"),
      ("mean-2", [:], ["effdx.preprocessing": "{\"resolution\":32,\"cropPct\":0.875,\"mean\":[0.5,0.5],\"std\":[0.2,0.2,0.2],\"interpolation\":\"bicubic\"}"], "needs 3 means and 3 stds, not 2 and 3"),
      ("std-tiny", [:], ["effdx.preprocessing": "{\"resolution\":32,\"cropPct\":0.875,\"mean\":[0.5,0.5,0.5],\"std\":[1e-300,0.2,0.2],\"interpolation\":\"bicubic\"}"], "std 1e-300 is outside"),
      // Unreadable preprocessing is an error naming the field, never the defaults in its place.
      ("pre-not-json", [:], ["effdx.preprocessing": "{resolution: 32"], "metadata 'effdx.preprocessing' is unreadable"),
      ("pre-mean-text", [:], ["effdx.preprocessing": "{\"resolution\":32,\"cropPct\":0.875,\"mean\":\"0.5\",\"std\":[0.2,0.2,0.2],\"interpolation\":\"bicubic\"}"], "'mean'"),
      ("pre-filter", [:], ["effdx.preprocessing": "{\"resolution\":32,\"cropPct\":0.875,\"mean\":[0.5,0.5,0.5],\"std\":[0.2,0.2,0.2],\"interpolation\":\"lanczos9\"}"], "interpolation 'lanczos9'"),
      ("act-unknown", ["activation": "gelu9"], [:], "'activation'"),
      // A layout version this build does not know is refused, not read as if it were its own.
      ("format-2", [:], ["effdx.format": "2"], "metadata 'effdx.format' is unreadable: format '2'"),
      ("no-classes", [:], ["classes": "[]"], "'classes': empty"),
      ("six-names", [:], ["classes": "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"]"], "6 names for a classifier with 4 outputs"),
      ("three-names", [:], ["classes": "[\"a\",\"b\",\"c\"]"], "3 names for a classifier with 4 outputs"),
    ]
    for (name, edit, meta, expected) in cases {
      let ckpt = try variant(name, config: edit, metadata: meta)
      try refuses(["diagnose", "--checkpoint", ckpt, "--input", dir + "/x.png", "--out", dir + "/\(name).csv"], expected)
      XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/\(name).csv"), "\(name): nothing written")
    }
  }

  // MARK: Pickles

  /// A pre-1.6 `torch.save` file: its magic number, protocol 1001, system information, then
  /// `root` as the pickled object.
  func legacyPth(_ name: String, root: [UInt8]) throws -> String {
    var bytes: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
    bytes += [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E]  // 1001
    bytes += [0x80, 0x02, 0x7D, 0x2E]  // {}
    bytes += [0x80, 0x02] + root + [0x2E]
    let path = dir + "/\(name).pth"
    XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot create a test file")
    return path
  }

  func testHostilePickles_areRefusedWithoutOverflowingTheStack() throws {
    let nestedLists = [UInt8](repeating: 0x5D, count: 50_000) + [UInt8](repeating: 0x61, count: 49_999)  // ] ] ] ... a a a
    let nestedTuples = [0x29] + [UInt8](repeating: 0x85, count: 2_000_000)  // () then TUPLE1 two million times
    let selfList: [UInt8] = [0x5D, 0x71, 0x00, 0x68, 0x00, 0x61]  // [] memo 0, get 0, append: a list holding itself
    for (name, root, expected) in [("lists", nestedLists, "nested deeper than 1000"), ("tuples", nestedTuples, "nested deeper than 1000"), ("self", selfList, "contains itself")] {
      try refuses(["import-weights", try legacyPth(name, root: root), "--arch", "efficientnet_b0", "--out", dir + "/\(name).safetensors"], expected)
    }
    // A bare pickle that is no checkpoint is not met with advice to torch.load it.
    XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/evil.pth", contents: Data([0x80, 0x02, 0x63] + Array("os\nsystem\n".utf8) + [0x2E])), "cannot create a test file")
    let evil = try effdx(["import-weights", dir + "/evil.pth", "--arch", "efficientnet_b0", "--out", dir + "/evil.safetensors"])
    XCTAssertNotEqual(evil.status, 0)
    XCTAssertFalse(evil.stderr.contains("torch.save(torch.load"), evil.stderr)
  }

  // MARK: Derived sizes

  func testARibbonImage_isRecordedNotAllocated() throws {
    try PNGCodec.write(Image(width: 1_000_000, height: 1, channels: 3, samples: .uint8([UInt8](repeating: 50, count: 3_000_000))), to: dir + "/ribbon.png")
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 2
    try EfficientNet(c, seed: 1).save(to: dir + "/m.safetensors", preprocessing: Preprocessing(resolution: 32), metadata: ["classes": "[\"a\",\"b\"]"])
    let r = try effdx(["diagnose", "--checkpoint", dir + "/m.safetensors", "--input", dir + "/ribbon.png", "--out", dir + "/p.csv"])
    XCTAssertEqual(r.status, 3, r.stderr)
    XCTAssertTrue(try String(contentsOfFile: dir + "/p.errors.csv", encoding: .utf8).contains("too elongated"))
    try refuses(["convert", dir + "/ribbon.png", "--region", "9223372036854775000,0,1000,1", "--out", dir + "/r.png"], "error")
  }

  // MARK: Pipeline values

  func testHostilePipelineValues_areErrorsWithFileAndLine() throws {
    try FileManager.default.createDirectory(atPath: dir + "/data/a", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: dir + "/data/b", withIntermediateDirectories: true)
    try photo(dir + "/data/a/1.png")
    try photo(dir + "/data/b/1.png")
    let cases: [(String, String, String)] = [
      ("ratio0", "name: p\ntrain_transforms:\n  - random_resized_crop: {scale: [0.5, 1], ratio: [0, 1]}\n", "p.yaml:3:"),
      ("ratioinf", "name: p\ntrain_transforms:\n  - random_resized_crop: {ratio: [1, .inf]}\n", "'ratio' values must be in"),
      ("scaleneg", "name: p\ntrain_transforms:\n  - random_resized_crop: {scale: [-1, 1]}\n", "'scale' values must be in"),
      ("blur", "name: p\ntrain_transforms:\n  - gaussian_blur: {p: 1, sigma: [1.0e9, 1.0e9]}\n", "'sigma' values must be in"),
      ("blur6", "name: p\ntrain_transforms:\n  - gaussian_blur: {p: 1, sigma: [1.0e6, 1.0e6]}\n", "'sigma' values must be in"),
      ("brackets", "name: " + String(repeating: "[", count: 200_000) + "\n", "nested deeper than 64"),
      ("duplicate", "name: p\nresolution: 32\nresolution: 64\n", "p.yaml:3: key 'resolution' appears twice"),
      // Found by Scripts/fuzz (pipeline): Yams' YAML 1.1 base-60 integers trapped on overflow.
      ("sexagesimal", "name: p\nworkers: -444444444444:4444\n", "p.yaml:2: 'workers' must be a whole number"),
      ("jpeg-scaling", "name: p\ndecode:\n  jpeg_scaling: 7\n", "p.yaml:3: 'jpeg_scaling' must be true or false"),
      ("random-eval", "name: p\neval_transforms:\n  - horizontal_flip: {p: 0.5}\n", "p.yaml:3: eval_transforms must be deterministic"),
      // Finite but overflowing: every normalised pixel was infinite and training exited 0 with
      // NaN weights.
      ("mean-huge", "name: p\nnormalization:\n  mean: [1e308, 0.5, 0.5]\n  std: [0.2, 0.2, 0.2]\n", "p.yaml:3: normalization: mean 1e+308 is outside -1000.0...1000.0"),
      ("std-tiny", "name: p\nnormalization:\n  std: [1e-300, 0.2, 0.2]\n", "p.yaml:3: normalization: std 1e-300 is outside 0.0001...1000.0"),
    ]
    for (name, yaml, expected) in cases {
      try yaml.write(toFile: dir + "/p.yaml", atomically: true, encoding: .utf8)
      let r = try effdx(["train", "--task", "leaf-disease", "--pipeline", dir + "/p.yaml", "--data", dir + "/data", "--out", dir + "/run-\(name)"])
      XCTAssertNotEqual(r.status, 0, name)
      XCTAssertTrue(r.stderr.contains(expected), "\(name) should say '\(expected)':\n\(r.stderr)")
    }
    XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/latin1.yaml", contents: Data("name: p\nresolution: 32\n# caf\u{E9}\n".utf8.map { $0 }.dropLast(3) + [0xE9, 0x0A])), "cannot create a test file")
    let latin = try effdx(["train", "--task", "leaf-disease", "--pipeline", dir + "/latin1.yaml", "--data", dir + "/data", "--out", dir + "/run-latin"])
    XCTAssertTrue(latin.stderr.contains("latin1.yaml:3: not UTF-8 text"), latin.stderr)
  }

  // MARK: Flags

  func testHostileFlags_areNamedAndRefused() throws {
    try photo(dir + "/x.png")
    try "path,study,label,predicted,p_a\nx.png,,a,a,1\n".write(toFile: dir + "/pred.csv", atomically: true, encoding: .utf8)
    let cases: [([String], String)] = [
      (["train", "--task", "leaf-disease", "--data", dir, "--out", dir + "/r", "--lr", "inf"], "--lr"),
      (["train", "--task", "leaf-disease", "--data", dir, "--out", dir + "/r", "--batch-size", "-4"], "--batch-size"),
      (["diagnose", "--checkpoint", "x", "--input", dir, "--out", dir + "/o.csv", "--batch-size", "0"], "--batch-size"),
      (["diagnose", "--checkpoint", "x", "--input", dir, "--out", dir + "/o.csv", "--batch-size", "-1"], "--batch-size"),
      (["tile", dir + "/x.png", "--mpp", "1e300", "--out", dir + "/t"], "--mpp"),
      (["import-weights", dir + "/x.png", "--arch", "efficientnet_b0", "--num-classes", "100000000", "--out", dir + "/w"], "--num-classes"),
      (["evaluate", "--predictions", dir + "/pred.csv", "--bootstrap", "2000000000", "--out", dir + "/e"], "--bootstrap"),
      (["evaluate", "--predictions", dir + "/pred.csv", "--threshold", "nan", "--out", dir + "/e"], "--threshold"),
      (["samples", "--task", "leaf-disease", "--count", "100000000", "--out", dir + "/s"], "--count"),
      (["train", "--task", "leaf-disease", "--data", dir, "--out", dir + "/r", "--threads", "100000"], "--threads"),
      (["train", "--task", "leaf-disease", "--data", dir, "--out", dir + "/r", "--resolution", "0"], "--resolution"),
      (["train", "--task", "leaf-disease", "--data", dir, "--out", dir + "/r", "--max-steps", "0"], "--max-steps"),
      (["train", "--task", "leaf-disease", "--data", dir, "--out", dir + "/r", "--patience", "0"], "--patience"),
      (["train", "--task", "leaf-disease", "--data", dir, "--out", dir + "/r", "--optimizer", "lion"], "--optimizer"),
      (["train", "--task", "leaf-disease", "--data", dir, "--out", dir + "/r", "--optimizer", "sgd", "--momentum", "1"], "--momentum"),
      (["train", "--task", "leaf-disease", "--data", dir, "--out", dir + "/r", "--optimizer", "sgd", "--momentum", "nan"], "--momentum"),
      (["train", "--task", "leaf-disease", "--data", dir, "--out", dir + "/r", "--momentum", "0.5"], "not adamw"),
      (["train", "--task", "leaf-disease", "--data", dir, "--out", dir + "/r", "--optimizer", "sgd", "--eps", "1e-3"], "not sgd"),
      (["train", "--task", "leaf-disease", "--data", dir, "--out", dir + "/r", "--eps", "0"], "--eps"),
      (["train", "--task", "leaf-disease", "--data", dir, "--out", dir + "/r", "--eps", "inf"], "--eps"),
      (["train", "--task", "leaf-disease", "--data", dir, "--out", dir + "/r", "--weight-decay", "-0.1"], "--weight-decay"),
      (["train", "--task", "leaf-disease", "--data", dir, "--out", dir + "/r", "--weight-decay", "nan"], "--weight-decay"),
      (["diagnose", "--checkpoint", "x", "--input", dir, "--out", dir + "/o.csv", "--slide-mpp", "inf"], "--mpp"),
    ]
    for (args, expected) in cases {
      let r = try effdx(args)
      XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
      XCTAssertTrue(r.stderr.contains(expected), "\(args.joined(separator: " ")):\n\(r.stderr)")
    }
  }

  // MARK: Special files

  func testAFIFONamedLikeAnImage_isRecordedNotOpened() throws {
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 2
    try EfficientNet(c, seed: 1).save(to: dir + "/m.safetensors", preprocessing: Preprocessing(resolution: 32), metadata: ["classes": "[\"a\",\"b\"]"])
    try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
    try photo(dir + "/in/x.png")
    XCTAssertEqual(mkfifo(dir + "/in/a.png", 0o644), 0)
    let r = try effdx(["diagnose", "--checkpoint", dir + "/m.safetensors", "--input", dir + "/in", "--out", dir + "/p.csv"])
    XCTAssertEqual(r.status, 3, r.stderr)
    XCTAssertTrue(r.stdout.contains("1 diagnosed"), r.stdout)
    XCTAssertTrue(try String(contentsOfFile: dir + "/p.errors.csv", encoding: .utf8).contains("not a regular file"))
  }

  // MARK: Sample formats

  /// A 2 x 1 gray 16-bit TIFF written byte by byte, with the given SampleFormat tag.
  func tiff16(_ name: String, sampleFormat: UInt16) -> String {
    var b: [UInt8] = [0x49, 0x49, 42, 0, 8, 0, 0, 0]
    func u16(_ v: UInt16) { b += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    func u32(_ v: UInt32) { for s in stride(from: 0, to: 32, by: 8) { b.append(UInt8((v >> UInt32(s)) & 0xFF)) } }
    let entries: [(UInt16, UInt16, UInt32)] = [(256, 3, 2), (257, 3, 1), (258, 3, 16), (259, 3, 1), (262, 3, 1), (273, 4, 134), (277, 3, 1), (278, 3, 1), (279, 4, 4), (339, 3, UInt32(sampleFormat))]
    u16(UInt16(entries.count))
    for (tag, type, value) in entries { u16(tag); u16(type); u32(1); if type == 3 { u16(UInt16(value)); u16(0) } else { u32(value) } }
    u32(0)
    u16(0xA1B7)  // -24137 as int16
    u16(1000)
    let path = dir + "/\(name).tif"
    XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(b)), "cannot create a test file")
    return path
  }

  func testSignedAndFloatSamples_areUnsupported_notReadAsUnsigned() throws {
    let plain = try effdx(["convert", tiff16("uint", sampleFormat: 1), "--out", dir + "/uint.png"])
    XCTAssertEqual(plain.status, 0, plain.stderr)
    try refuses(["convert", tiff16("int", sampleFormat: 2), "--out", dir + "/int.png"], "signed integer samples")
    try refuses(["convert", tiff16("float", sampleFormat: 3), "--out", dir + "/float.png"], "floating-point samples")
  }

  func testATruncatedJPEG_isAnErrorNotAGreyFill() throws {
    let jpeg = try Data(contentsOf: SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/images/rgb.jpg"))
    XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/cut.jpg", contents: jpeg.prefix(jpeg.count * 9 / 10)), "cannot create a test file")
    try refuses(["convert", dir + "/cut.jpg", "--out", dir + "/cut.png"], "truncated")
  }

  // MARK: A full disk

  /// A 64 KB tmpfs (root only; skipped otherwise) nearly filled, so the predictions file runs out
  /// of space mid-run: the file keeps whole rows only, the run says why, and after space is freed
  /// a re-run finishes without losing or repeating a row.
  func testAFullDisk_losesNoRowAndLeavesNoHalfRow() throws {
    let disk = dir + "/disk"
    try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
    let mount = Process()
    mount.executableURL = URL(fileURLWithPath: "/bin/mount")
    mount.arguments = ["-t", "tmpfs", "-o", "size=64k", "tmpfs", disk]
    mount.standardError = FileHandle.nullDevice
    try mount.run()
    mount.waitUntilExit()
    guard mount.terminationStatus == 0 else { throw XCTSkip("cannot mount a tmpfs here (needs root): the full-disk case is not exercised") }
    defer {
      let umount = Process()
      umount.executableURL = URL(fileURLWithPath: "/bin/umount")
      umount.arguments = [disk]
      try? umount.run()
      umount.waitUntilExit()
    }
    // Leave two pages free: one for the errors ledger, one for the predictions.
    var st = statvfs()
    statvfs(disk, &st)
    let free = Int(st.f_bavail) * Int(st.f_bsize)
    XCTAssertTrue(FileManager.default.createFile(atPath: disk + "/filler", contents: Data(count: free - 2 * 4096)), "cannot create a test file")
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 2
    try EfficientNet(c, seed: 1).save(to: dir + "/m.safetensors", preprocessing: Preprocessing(resolution: 32), metadata: ["classes": "[\"a\",\"b\"]"])
    let images = dir + "/images-with-a-long-folder-name-so-that-rows-fill-a-page-quickly"
    try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
    for i in 0..<60 { try photo(images + "/photo-number-\(i).png") }
    let out = disk + "/pred.csv"
    let full = try effdx(["diagnose", "--checkpoint", dir + "/m.safetensors", "--input", images, "--out", out])
    XCTAssertEqual(full.status, 1, full.stderr)
    XCTAssertTrue(full.stderr.contains("cannot write") && full.stderr.contains("kept as it was"), full.stderr)
    let partial = try String(contentsOfFile: out, encoding: .utf8)
    XCTAssertTrue(partial.hasSuffix("\n"), "no half row")
    let rows = CSV.records(partial)
    XCTAssertTrue(rows.allSatisfy { $0.fields.count == 6 }, "whole rows only")
    XCTAssertGreaterThan(rows.count, 1)
    XCTAssertLessThan(rows.count, 61, "the disk filled before the end")
    try FileManager.default.removeItem(atPath: disk + "/filler")
    let again = try effdx(["diagnose", "--checkpoint", dir + "/m.safetensors", "--input", images, "--out", out])
    XCTAssertEqual(again.status, 0, again.stderr)
    let done = CSV.records(try String(contentsOfFile: out, encoding: .utf8)).dropFirst().map { $0.fields[0] }
    XCTAssertEqual(done.count, 60)
    XCTAssertEqual(Set(done).count, 60, "no row repeated")
  }

  /// A 1 x 65535 tiled TIFF: `tile` and `inspect` finish in bounded memory, reading only
  /// inside the level (its thumbnail used to read a 64-pixel-wide block of a 1-pixel level).
  func testAOnePixelWideSlide_isTiledInsideItsLevel() throws {
    let level = TIFFWriter.Level(width: 1, height: 65535) { _, _, w, h in
      Image(width: w, height: h, channels: 3, samples: .uint8([UInt8](repeating: 120, count: w * h * 3)))
    }
    try TIFFWriter.write(levels: [level], to: dir + "/strip.tif", tileSize: 256, compression: .deflate)
    let r = try effdx(["tile", dir + "/strip.tif", "--tile-size", "16", "--min-tissue", "0", "--out", dir + "/tiles"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertTrue(r.stdout.contains("0 of 0 tiles kept") || r.stdout.contains("tiles kept"), r.stdout)
  }

  /// Two `diagnose` runs on one `--out`: the second is refused while the first writes (or, if
  /// the first is done, finds everything there); either way no row is lost or repeated.
  func testTwoDiagnosesOnOneOutput_loseNothing() throws {
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 2
    try EfficientNet(c, seed: 1).save(to: dir + "/m.safetensors", preprocessing: Preprocessing(resolution: 32), metadata: ["classes": "[\"a\",\"b\"]"])
    try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
    for i in 0..<80 { try photo(dir + "/in/p\(i).png", w: 200, h: 180) }
    let args = ["diagnose", "--checkpoint", dir + "/m.safetensors", "--input", dir + "/in", "--out", dir + "/p.csv", "--batch-size", "4"]
    var results: [EffDxRunner.Result?] = [nil, nil]
    DispatchQueue.concurrentPerform(iterations: 2) { i in
      if i == 1 { usleep(300_000) }
      results[i] = try? effdx(args)
    }
    let second = try XCTUnwrap(results[1])
    XCTAssertTrue(second.status == 1 && second.stderr.contains("being written by another process") || second.stdout.contains("0 diagnosed, 80 already"), "\(second.status): \(second.stderr)\(second.stdout)")
    XCTAssertEqual(results[0]?.status, 0, results[0]?.stderr ?? "")
    let rows = CSV.records(try String(contentsOfFile: dir + "/p.csv", encoding: .utf8)).dropFirst().map { $0.fields[0] }
    XCTAssertEqual(rows.count, 80)
    XCTAssertEqual(Set(rows).count, 80)
  }

  func testSpecialPaths_areNamedForWhatTheyAre() throws {
    symlink(dir + "/loop-a.png", dir + "/loop-b.png")
    symlink(dir + "/loop-b.png", dir + "/loop-a.png")
    try refuses(["convert", dir + "/loop-a.png", "--out", dir + "/x.png"], "a symbolic link loop")
    XCTAssertEqual(mkfifo(dir + "/fifo.png", 0o644), 0)
    try refuses(["convert", dir + "/fifo.png", "--out", dir + "/y.png"], "not a regular file")
    let inspect = try effdx(["inspect", dir + "/fifo.png"])
    XCTAssertEqual(inspect.status, 1)
    XCTAssertTrue(inspect.stdout.contains("not a regular file"), inspect.stdout)
    XCTAssertEqual(mkfifo(dir + "/fifo.yaml", 0o644), 0)
    try refuses(["train", "--task", "leaf-disease", "--data", dir, "--pipeline", dir + "/fifo.yaml", "--out", dir + "/r"], "fifo.yaml:1: cannot read: not a regular file")
    // In a folder: a link loop and a link to nothing named like images are error rows.
    let folder = dir + "/photos"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try photo(folder + "/ok.png")
    symlink(folder + "/self.png", folder + "/self.png")
    symlink(dir + "/gone.png", folder + "/dangling.png")
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 2
    try EfficientNet(c, seed: 1).save(to: dir + "/m.safetensors", preprocessing: Preprocessing(resolution: 32), metadata: ["classes": "[\"a\",\"b\"]"])
    let r = try effdx(["diagnose", "--checkpoint", dir + "/m.safetensors", "--input", folder, "--out", dir + "/p.csv"])
    XCTAssertEqual(r.status, 3, r.stderr)
    let errors = try String(contentsOfFile: dir + "/p.errors.csv", encoding: .utf8)
    XCTAssertTrue(errors.contains("self.png") && errors.contains("a symbolic link loop"), errors)
    XCTAssertTrue(errors.contains("dangling.png") && errors.contains("which does not exist"), errors)
    XCTAssertEqual(try String(contentsOfFile: dir + "/p.csv", encoding: .utf8).split(separator: "\n").count, 2, "ok.png diagnosed")
  }

  func testASecondTrainOnOneRunFolder_isRefused() throws {
    let samples = try effdx(["samples", "--task", "leaf-disease", "--out", dir + "/leaf", "--count", "24", "--seed", "2"])
    XCTAssertEqual(samples.status, 0, samples.stderr)
    try FileManager.default.createDirectory(atPath: dir + "/run", withIntermediateDirectories: true)
    let holder = open(dir + "/run/.lock", O_RDWR | O_CREAT, 0o644)
    defer { close(holder) }
    XCTAssertEqual(flock(holder, LOCK_EX | LOCK_NB), 0)
    try refuses(["train", "--task", "leaf-disease", "--data", dir + "/leaf/train", "--arch", "efficientnet_lite0", "--resolution", "32", "--epochs", "1", "--out", dir + "/run"],
                "in use by another effdx train")
  }

  // MARK: Second review's cases

  func testPickleAndYAMLBypasses_areRefusedToo() throws {
    // A list filled after it was stored: its depth must be read live, not from the memo.
    var stale: [UInt8] = [0x5D, 0x71, 0x00]
    for r in 0..<3000 { stale += [0x5D, 0x71, UInt8((r + 1) % 2), 0x68, UInt8(r % 2), 0x61] }
    try refuses(["import-weights", try legacyPth("stale", root: stale), "--arch", "efficientnet_b0", "--out", dir + "/s.safetensors"], "nested deeper than 1000")
    // Six levels of 256 references to the level below: 256^6 paths, walked by nothing now.
    var wide: [UInt8] = [0x4E, 0x71, 0x00]
    for level in 1...6 { wide += [0x28] + [UInt8](repeating: 0, count: 256).flatMap { _ in [0x68, UInt8(level - 1)] } + [0x74, 0x71, UInt8(level)] }
    let bomb = try effdx(["import-weights", try legacyPth("wide", root: wide), "--arch", "efficientnet_b0", "--out", dir + "/w.safetensors"])
    XCTAssertNotEqual(bomb.status, 0)
    // YAML: a quote in a comment, compact block sequences, anchor chains.
    try FileManager.default.createDirectory(atPath: dir + "/data/a", withIntermediateDirectories: true)
    try photo(dir + "/data/a/1.png")
    for (name, yaml, expected) in [("comment", "name: p # don't\nx: " + String(repeating: "[", count: 200_000) + "\n", "nested deeper than 64"),
                                   ("dashes", "name: p\nx:\n" + String(repeating: "- ", count: 100_000) + "x\n", "deeper than"),
                                   ("anchors", "name: p\nx:\n" + String(repeating: "- &a [*a]\n", count: 2000), "anchors and aliases"),
                                   ("scalar", "name: p\ntrain_transforms:\n  - horizontal_flip: 1.0\n", "must be a mapping"),
                                   // A quote inside a plain scalar, a flow item or a block scalar opens
                                   // nothing in YAML; taken for an opening one, it hid the brackets and
                                   // anchors after it from the scan and libyaml overflowed the stack.
                                   ("plain-quote", "name: it is 'odd\nresolution: " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "\n", "more than 256 '[' and '{'"),
                                   ("flow-quote", "name: p\nresolution: [a 'b, " + String(repeating: "[", count: 30_000) + String(repeating: "]", count: 30_000) + "]\n", "more than 256 '[' and '{'"),
                                   ("block-quote", "name: |\n  \"\nresolution: " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "\n", "more than 256 '[' and '{'"),
                                   ("quoted-anchors", "name: it is 'odd\nx:\n" + String(repeating: "- &a [*a]\n", count: 20), "anchors and aliases")] {
      try yaml.write(toFile: dir + "/\(name).yaml", atomically: true, encoding: .utf8)
      try refuses(["train", "--task", "leaf-disease", "--pipeline", dir + "/\(name).yaml", "--data", dir + "/data", "--out", dir + "/r-\(name)"], expected)
    }
    XCTAssertEqual(mkfifo(dir + "/fifo.tif", 0o644), 0)
    try refuses(["tile", dir + "/fifo.tif", "--out", dir + "/t"], "not a regular file")
  }

  /// Round three of the audit: more threads than the spinning pool's 63 workers trapped every
  /// compute command (`--threads` allows 1024); gradcam wrote over its own input; bench's
  /// evaluate and kernels took any sizes (a division by zero, an index out of range, a 60 GB
  /// allocation); diagnose found `--heatmaps FILE` only after its outputs were made.
  func testThreadsPastThePoolGradcamOutputBenchSizesAndHeatmapsFile() throws {
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 2
    try EfficientNet(c, seed: 1).save(to: dir + "/m.safetensors", preprocessing: Preprocessing(resolution: 32), metadata: ["classes": "[\"a\",\"b\"]", "task": "leaf-disease"])
    try photo(dir + "/x.png")
    let many = try effdx(["diagnose", "--checkpoint", dir + "/m.safetensors", "--input", dir + "/x.png", "--threads", "100", "--out", dir + "/many.csv"])
    XCTAssertEqual(many.status, 0, many.stderr)
    XCTAssertEqual(try String(contentsOfFile: dir + "/many.csv", encoding: .utf8).split(separator: "\n").count, 2)

    let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/x.png"))
    try refuses(["gradcam", "--checkpoint", dir + "/m.safetensors", "--input", dir + "/x.png", "--out", dir + "/x.png"], "own input", status: 64)
    try refuses(["gradcam", "--checkpoint", dir + "/m.safetensors", "--input", dir + "/x.png", "--out", dir + "/m.safetensors"], "name the file .png", status: 64)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/x.png")), before)

    try refuses(["bench", "evaluate", "--classes", "0"], "--classes must be in 2...100000", status: 64)
    try refuses(["bench", "evaluate", "--studies", "0", "--rows", "10"], "--studies must be in 1...--rows", status: 64)
    try refuses(["bench", "evaluate", "--rows", "10", "--studies", "2", "--bootstrap", "100000000"], "--bootstrap must be in 0...100000", status: 64)
    try refuses(["bench", "kernels", "--batch", "100000"], "--batch must be in 1...4096", status: 64)
    try refuses(["bench", "kernels", "--batch", "4096", "--res", "2048"], "--batch 4096 at --res 2048", status: 64)

    try "not a folder\n".write(toFile: dir + "/maps", atomically: true, encoding: .utf8)
    try refuses(["diagnose", "--checkpoint", dir + "/m.safetensors", "--input", dir + "/x.png", "--heatmaps", dir + "/maps", "--out", dir + "/h.csv"], "--heatmaps \(dir!)/maps is a file", status: 64)
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/h.csv"))
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/h.errors.csv"))
  }

  /// Round four: `forward` built a batch's maps with no memory check (a valid 64 x 512 x 512
  /// input died allocating), and `import-weights` wrote a source's NaN or infinity into a
  /// checkpoint every later command refused as "a diverged training run?".
  func testForwardsMapsAreCounted_andImportedNaNIsNamed() throws {
    var c = try XCTUnwrap(Variants.named("efficientnet_lite0"))
    c.numClasses = 2
    let model = try EfficientNet(c, seed: 1)
    try model.save(to: dir + "/m.safetensors")
    // A batch whose maps need more than the test's 8 GB address space, in a small file.
    let perImage = c.activationBytes(batch: 1, resolution: 64).total
    let batch = Int((9e9 / perImage).rounded(.up))
    try XCTSkipIf(batch * 64 * 64 * 3 * 4 > 200_000_000, "the input would be \(batch * 49152 / 1_000_000) MB")
    try SafeTensorsWriter.write(["x": Tensor(shape: [batch, 64, 64, 3], scalars: [Float](repeating: 0.5, count: batch * 64 * 64 * 3))], to: dir + "/in.safetensors")
    try refuses(["forward", "--checkpoint", dir + "/m.safetensors", "--input", dir + "/in.safetensors", "--tensor", "x", "--out", dir + "/f.safetensors"],
                "tensor 'x' [\(batch), 64, 64, 3]", status: 64)
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/f.safetensors"))

    // The model's weights in PyTorch's layouts (what import-weights reads), one NaN in the stem.
    var state = model.stateDict().mapValues(toPyTorchLayout)
    // A transposed classifier is named as such, in PyTorch's layout on both sides.
    var transposed = state
    transposed["classifier.weight"] = try XCTUnwrap(model.stateDict()["classifier.weight"])
    try SafeTensorsWriter.write(transposed, to: dir + "/transposed.safetensors")
    try refuses(["import-weights", dir + "/transposed.safetensors", "--arch", "efficientnet_lite0", "--num-classes", "2", "--out", dir + "/w.safetensors"],
                "classifier.weight (classifier.weight): source [1280, 2], expected [2, 1280] (transposed?)")
    var stem = try XCTUnwrap(state["conv_stem.weight"]).scalars
    stem[0] = .nan
    state["conv_stem.weight"] = Tensor(shape: state["conv_stem.weight"]!.shape, scalars: stem)
    try SafeTensorsWriter.write(state, to: dir + "/nan.safetensors")
    try refuses(["import-weights", dir + "/nan.safetensors", "--arch", "efficientnet_lite0", "--num-classes", "2", "--out", dir + "/w.safetensors"],
                "the weights imported as 'conv_stem.weight' hold NaN or infinite values; nothing was written")
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/w.safetensors"))
  }

  func testAnMLPHeadOverAHugeClassifier_isCountedBeforeItIsBuilt() throws {
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 2, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 100_000
    c.headChannels = 16384
    c.classifierHidden = 1
    XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("500000000 parameters"), "\($0)") }
  }

  func testNaNWeights_andEvaluatesHostileRows_areNamed() throws {
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 2
    try EfficientNet(c, seed: 1).save(to: dir + "/m.safetensors", preprocessing: Preprocessing(resolution: 32), metadata: ["classes": "[\"a\",\"b\"]"])
    let file = try SafeTensorsFile(path: dir + "/m.safetensors")
    var tensors = try file.allTensors()
    tensors["classifier.weight"]!.scalars[3] = .nan
    try SafeTensorsWriter.write(tensors, metadata: file.metadata, to: dir + "/nan.safetensors")
    try photo(dir + "/x.png")
    try refuses(["diagnose", "--checkpoint", dir + "/nan.safetensors", "--input", dir + "/x.png", "--out", dir + "/p.csv"], "tensor 'classifier.weight' holds NaN")
    // evaluate: a repeated path, a row of zeros, an unknown positive class, nothing in common.
    try "path,study,label,predicted,p_a,p_b\nx.png,,a,a,0.9,0.1\ny.png,,b,b,0.2,0.8\nx.png,,a,a,0.9,0.1\nz.png,,a,a,0,0\n".write(toFile: dir + "/pred.csv", atomically: true, encoding: .utf8)
    let r = try effdx(["evaluate", "--predictions", dir + "/pred.csv", "--bootstrap", "0", "--out", dir + "/e", "--json"])
    XCTAssertEqual(r.status, 0, r.stderr)
    let summary = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
    XCTAssertEqual(summary?["n"] as? Int, 2, "the repeated row and the row of zeros are left out")
    XCTAssertEqual(summary?["row_issues"] as? Int, 2)
    try refuses(["evaluate", "--predictions", dir + "/pred.csv", "--positive-class", "c", "--out", dir + "/e2"], "is not a class", status: 64)
    try "path,study,label,predicted,p_a,p_b\nq.png,,a,a,0.9,0.1\n".write(toFile: dir + "/other.csv", atomically: true, encoding: .utf8)
    try refuses(["evaluate", "--predictions", dir + "/pred.csv", "--compare", dir + "/other.csv", "--out", dir + "/e3"], "shares no image")
  }

  func testResumeWithAnotherRecipe_isRefused_andLeavesTheRunAsItWas() throws {
    let samples = try effdx(["samples", "--task", "leaf-disease", "--out", dir + "/leaf", "--count", "24", "--seed", "2"])
    XCTAssertEqual(samples.status, 0, samples.stderr)
    let args = ["train", "--task", "leaf-disease", "--data", dir + "/leaf/train", "--arch", "efficientnet_lite0", "--resolution", "32", "--epochs", "2", "--max-steps", "2", "--out", dir + "/run"]
    let first = try effdx(args)
    XCTAssertEqual(first.status, 0, first.stderr)
    let testCSV = try Data(contentsOf: URL(fileURLWithPath: dir + "/run/test.csv"))
    try refuses(args + ["--resume", "--seed", "9"], "another recipe (seed 0 -> 9)")
    try refuses(args + ["--resume", "--lr", "0.5"], "learning_rate")
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/run/test.csv")), testCSV, "test.csv untouched")
    try refuses(args, "holds a run already")
  }

  /// The flags and keys added for slides and the console, each with a hostile value.
  func testTheNewFlagsAndKeys_refuseHostileValues() throws {
    try photo(dir + "/x.png")
    let diagnose = ["diagnose", "--checkpoint", "x", "--input", dir + "/x.png", "--out", dir + "/o.csv"]
    for (extra, expected) in [(["--tile-size", "8"], "--tile-size"), (["--tile-size", "100000"], "--tile-size"), (["--level", "65"], "--level"),
                              (["--level", "-1"], "--level"), (["--overlap", "-1"], "--overlap"), (["--min-tissue", "nan"], "--min-tissue"),
                              (["--min-tissue", "2"], "--min-tissue"), (["--base-mpp", "0"], "--base-mpp"), (["--base-mpp", "inf"], "--base-mpp"),
                              (["--quiet", "--verbose"], "exclude each other"), (["--batch-size", "abc"], "--batch-size"),
                              (["--read-threads", "0"], "--read-threads"), (["--read-threads", "65"], "--read-threads"), (["--read-threads", "-1"], "--read-threads"),
                              (["--read-ahead", "9"], "--read-ahead"), (["--read-ahead", "-1"], "--read-ahead"), (["--shard", "2/2"], "--shard"),
                              (["--shard", "-1/2"], "--shard"), (["--shard", "0/0"], "--shard"), (["--shard", "a/b"], "--shard"), (["--shard", "1"], "--shard"),
                              (["--shard", "0/99999999999999999999"], "--shard")] {
      let r = try effdx(diagnose + extra)
      XCTAssertEqual(r.status, 64, "\(extra): \(r.stderr)")
      XCTAssertTrue(r.stderr.contains(expected), "\(extra): \(r.stderr)")
    }
    try refuses(["tile", dir + "/x.png", "--tile-size", "0", "--out", dir + "/t"], "--tile-size", status: 64)
    // bench imaging: its threads, and a checkpoint refused before any slide is made.
    try refuses(["bench", "imaging", "--threads", "0", "--work", dir + "/b"], "--threads", status: 64)
    try refuses(["bench", "infer", "--arch", "efficientnet_b9"], "unknown --arch 'efficientnet_b9'; one of: efficientnet_b0", status: 64)
    try refuses(["bench", "imaging", "--checkpoint", dir + "/x.png", "--work", dir + "/b"], "--checkpoint \(dir!)/x.png")
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/b"), "nothing made for a bad checkpoint")
    // merge: missing parts, a PNG as predictions, a part without provenance, an output that exists.
    try refuses(["merge", dir + "/none.csv", "--out", dir + "/m.csv"], "none.meta.json: no provenance file")
    try refuses(["merge", dir + "/x.png", "--out", dir + "/m.csv"], "x.png.meta.json: no provenance file")
    try "{\"checkpoint\": 3}".write(toFile: dir + "/y.meta.json", atomically: true, encoding: .utf8)
    try "path,study\n".write(toFile: dir + "/y.csv", atomically: true, encoding: .utf8)
    try refuses(["merge", dir + "/y.csv", "--out", dir + "/m.csv"], "not a diagnosis provenance file")
    try refuses(["merge", dir + "/y.csv", "--out", dir + "/x.png"], "exists")
    try refuses(["merge", "--out", dir + "/m.csv"], "predictions", status: 64)
    try refuses(["convert", dir + "/x.png", "--associated", "label", "--out", dir + "/l.png"], "--associated reads slides")
    try refuses(["train", "--task", "astronomy", "--data", dir, "--out", dir + "/r"], "--task", status: 64)
    try refuses(["evaluate", "--predictions", dir + "/x.png", "--aggregate", "median", "--out", dir + "/e"], "--aggregate", status: 64)
    // A pipeline's source.path that does not exist is named as the pipeline's.
    try "name: mine\nsource:\n  path: nowhere\n".write(toFile: dir + "/p.yaml", atomically: true, encoding: .utf8)
    try refuses(["train", "--task", "leaf-disease", "--pipeline", dir + "/p.yaml", "--out", dir + "/r"], "mine: source.path")
    for yaml in ["name: p\ntiling:\n  tile_size: 0\n", "name: p\ntiling:\n  overlap: -3\n", "name: p\ntiling:\n  mpp: .nan\n"] {
      try yaml.write(toFile: dir + "/q.yaml", atomically: true, encoding: .utf8)
      try refuses(["tile", dir + "/x.png", "--pipeline", dir + "/q.yaml", "--out", dir + "/t"], "q.yaml:")
    }
  }

  /// The rest of the issue's silently-wrong and unclear cases, each once.
  func testUnreadableTrainingData_oneClass_CMYK_andEvaluatesMessages() throws {
    try "name: m\nsplit:\n  validation: 0\nresolution: 32\nbatch_size: 4\n".write(toFile: dir + "/m.yaml", atomically: true, encoding: .utf8)
    for c in ["a", "b"] {
      try FileManager.default.createDirectory(atPath: dir + "/broken/\(c)", withIntermediateDirectories: true)
      for i in 0..<3 { XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/broken/\(c)/\(i).png", contents: Data([0x89, 0x50, 0x4E, 0x47, 1]))) }
    }
    let train = ["train", "--task", "leaf-disease", "--pipeline", dir + "/m.yaml", "--arch", "efficientnet_lite0", "--epochs", "1"]
    try refuses(train + ["--data", dir + "/broken", "--out", dir + "/r1"], "not one training image could be read")
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/r1/best.safetensors"), "no checkpoint claims success")
    try FileManager.default.createDirectory(atPath: dir + "/one/healthy", withIntermediateDirectories: true)
    for i in 0..<3 { try photo(dir + "/one/healthy/\(i).png") }
    let one = try effdx(train + ["--data", dir + "/one", "--out", dir + "/r2"])
    XCTAssertEqual(one.status, 0, one.stderr)
    XCTAssertTrue(one.stderr.contains("warning: only one class"), one.stderr)
    // A CMYK (Adobe) JPEG is converted to RGB (DxImagingTests.CMYKTests checks the colours).
    let cmyk = try effdx(["convert", SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/images/cmyk.jpg").path, "--out", dir + "/c.png"])
    XCTAssertEqual(cmyk.status, 0, cmyk.stderr)
    XCTAssertEqual(try ImageDecoder.decode(path: dir + "/c.png").channels, 3)
    // evaluate: a file with no usable row lists why; a predicted column against the probabilities is a warning.
    try "path,study,label,predicted,p_a,p_b\nx.png,,a,a,0,0\n".write(toFile: dir + "/bad.csv", atomically: true, encoding: .utf8)
    try refuses(["evaluate", "--predictions", dir + "/bad.csv", "--out", dir + "/e1"], "probabilities sum to 0.0, not 1")
    try "path,study,label,predicted,p_a,p_b\nx.png,,a,a,0.9,0.1\ny.png,,b,a,0.3,0.7\n".write(toFile: dir + "/odd.csv", atomically: true, encoding: .utf8)
    let odd = try effdx(["evaluate", "--predictions", dir + "/odd.csv", "--bootstrap", "0", "--out", dir + "/e2"])
    XCTAssertEqual(odd.status, 0, odd.stderr)
    let report = try String(contentsOfFile: dir + "/e2/report.json", encoding: .utf8)
    XCTAssertTrue(report.contains("1 rows predict a class that is not their most probable one"), report)
  }

  // MARK: Report pictures

  func testEvaluatePictureFlags_nameWhatIsWrong_andHostileHeatmapFoldersDoNotStopTheReport() throws {
    try photo(dir + "/a.png")
    try photo(dir + "/b.png")
    try "path,study,label,predicted,p_x,p_y\n\(dir!)/a.png,,x,x,0.9,0.1\n\(dir!)/b.png,,y,x,0.6,0.4\n".write(toFile: dir + "/pred.csv", atomically: true, encoding: .utf8)
    try refuses(["evaluate", "--predictions", dir + "/pred.csv", "--heatmaps", dir + "/no-such-folder", "--out", dir + "/r1"], "--heatmaps")
    try refuses(["evaluate", "--predictions", dir + "/pred.csv", "--images", "--checkpoint", dir + "/no.safetensors", "--out", dir + "/r2"], "--checkpoint")
    // A heatmap that is not a PNG and a tiles CSV of garbage: listed, not shown, counted as nothing.
    try FileManager.default.createDirectory(atPath: dir + "/maps", withIntermediateDirectories: true)
    try Data("not a png".utf8).write(to: URL(fileURLWithPath: dir + "/maps/s_heatmap.png"))
    try Data([0xFF, 0x00, 0x22, 0x0A, 0x22]).write(to: URL(fileURLWithPath: dir + "/maps/s_tiles.csv"))
    let r = try effdx(["evaluate", "--predictions", dir + "/pred.csv", "--images", "--heatmaps", dir + "/maps", "--bootstrap", "0", "--out", dir + "/r3"])
    XCTAssertEqual(r.status, 0, r.stderr)
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/r3/report.json"))) as! [String: Any]
    let maps = json["slide_maps"] as! [[String: Any]]
    XCTAssertEqual(maps.first?["shown"] as? Bool, false)
    XCTAssertEqual(maps.first?["tiles"] as? Int, 0)
    // Two readable images are too few for the shortcut check: said so, no check.
    XCTAssertNil(json["shortcut_check"])
    XCTAssertTrue((json["warnings"] as! [String]).contains { $0.contains("too few for the shortcut check") })
  }
}
