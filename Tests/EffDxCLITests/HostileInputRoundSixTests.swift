import DxEfficientNet
import DxImaging
import DxNN
import DxTensor
import Foundation
import XCTest

/// The sixth audit round: Grad-CAM's memory, weights that compute no numbers, FIFOs among a
/// run's files, unbounded transform lists, and class names that cannot be told apart.
final class HostileInputRoundSixTests: HostileCLITestCase {
  /// Grad-CAM keeps every map of an unfused network: counted before the overlay (gradcam) or
  /// before the first row (diagnose --heatmaps); both ended with an allocation failure.
  func testGradCAMsMaps_areCountedBeforeTheRun() throws {
    // The smallest variant whose Grad-CAM at 2048 px (maps and their gradients) needs more
    // than the test's 8 GB.
    var c = try XCTUnwrap(["efficientnet_lite0", "efficientnet_b0", "efficientnet_b2", "efficientnet_b4"].lazy.compactMap { Variants.named($0) }
      .first { 2 * $0.activationBytes(batch: 1, resolution: 2048).total > 9e9 }, "no variant's Grad-CAM at 2048 px exceeds 8 GB")
    c.numClasses = 2
    let ckpt = try checkpoint("huge", resolution: 2048, config: c)
    try photo(dir + "/x.png")
    try refuses(["gradcam", "--checkpoint", ckpt, "--input", dir + "/x.png", "--out", dir + "/g.png"], "(Grad-CAM at its resolution 2048)", status: 64)
    try refuses(["diagnose", "--checkpoint", ckpt, "--input", dir + "/x.png", "--out", dir + "/p.csv", "--batch-size", "1", "--heatmaps", dir + "/maps"],
                "--heatmaps (Grad-CAM at the checkpoint's resolution 2048)", status: 64)
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/p.csv"), "no row was written")
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/g.png"))
  }

  /// A negative running variance is refused by name wherever weights come in; finite weights
  /// that overflow on an image record the image as failed instead of writing a `-nan` row.
  func testWeightsThatComputeNoNumbers_areNamedOrRecorded() throws {
    try photo(dir + "/x.png")
    let negative = try checkpoint("negvar") { t in
      let name = t.keys.sorted().first { $0.hasSuffix("running_var") }!
      t[name]!.scalars[0] = -1
    }
    try refuses(["diagnose", "--checkpoint", negative, "--input", dir + "/x.png", "--out", dir + "/p.csv"], "holds a negative variance")
    // Finite weights whose products overflow: the head's features near 1e30, the logits past
    // Float's range.
    let overflowing = try checkpoint("overflow") { t in
      for name in ["conv_head.weight", "classifier.weight"] { t[name]!.scalars = t[name]!.scalars.map { $0 * 1e30 } }
    }
    let r = try effdx(["diagnose", "--checkpoint", overflowing, "--input", dir + "/x.png", "--out", dir + "/p.csv"])
    XCTAssertEqual(r.status, 3, "a file could not be diagnosed:\n\(r.stderr)")
    let rows = try String(contentsOfFile: dir + "/p.csv", encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(rows.count, 1, "the header only, no -nan row: \(rows)")
    let errors = try String(contentsOfFile: dir + "/p.errors.csv", encoding: .utf8)
    XCTAssertTrue(errors.contains("x.png") && errors.contains("not finite numbers"), errors)
  }

  /// FIFOs where a run keeps its files are refused at once, by what they are.
  func testFIFOsAmongARunsFiles_areRefusedWithoutBlocking() throws {
    try photo(dir + "/x.png")
    let ckpt = try checkpoint("ok")
    XCTAssertEqual(mkfifo(dir + "/p.meta.json", 0o644), 0)
    try refuses(["diagnose", "--checkpoint", ckpt, "--input", dir + "/x.png", "--out", dir + "/p.csv"], "p.meta.json")
    XCTAssertEqual(mkfifo(dir + "/w.pth", 0o644), 0)
    try refuses(["import-weights", dir + "/w.pth", "--arch", "efficientnet_lite0", "--out", dir + "/w.safetensors"], "not a regular file")
    // A run folder of ours (its .lock) whose log.jsonl is a FIFO: refused before an epoch.
    for c in ["a", "b"] {
      try FileManager.default.createDirectory(atPath: dir + "/data/\(c)", withIntermediateDirectories: true)
      for i in 0..<2 { try photo(dir + "/data/\(c)/\(i).png") }
    }
    try FileManager.default.createDirectory(atPath: dir + "/run", withIntermediateDirectories: true)
    XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/run/.lock", contents: nil))
    XCTAssertEqual(mkfifo(dir + "/run/log.jsonl", 0o644), 0)
    try refuses(["train", "--task", "leaf-disease", "--data", dir + "/data", "--out", dir + "/run", "--epochs", "1", "--resolution", "32",
                 "--val-fraction", "0", "--test-fraction", "0"], "log.jsonl: not a regular file")
  }

  /// Lists of transforms are bounded: a checkpoint with 100 stain normalisations took minutes
  /// an image.
  func testTransformLists_areBounded() throws {
    let steps = Array(repeating: #"{"resize":{"size":32}}"#, count: 33).joined(separator: ",")
    let json = #"{"resolution":32,"mean":[0.5,0.5,0.5],"std":[0.5,0.5,0.5],"steps":["# + steps + "]}"
    let ckpt = try checkpoint("steps", metadata: ["effdx.eval_transform": json])
    try photo(dir + "/x.png")
    try refuses(["diagnose", "--checkpoint", ckpt, "--input", dir + "/x.png", "--out", dir + "/p.csv"], "33 steps; an evaluation transform has at most 32")
    let yaml = "name: p\neval_transforms:\n" + String(repeating: "  - resize: {size: 32}\n", count: 33)
    try yaml.write(toFile: dir + "/p.yaml", atomically: true, encoding: .utf8)
    try refuses(["train", "--task", "leaf-disease", "--pipeline", dir + "/p.yaml", "--data", dir, "--out", dir + "/run"], "p.yaml:3: 'eval_transforms' has 33 transforms; at most 32")
  }

  /// Class names that cannot be told apart in a predictions file are refused where they come
  /// in: folders named `a` and `a `, or `café` written two ways, and a checkpoint's `a;b`.
  func testClassNamesThatCannotBeToldApart_areRefused() throws {
    func data(_ classes: [String]) throws -> String {
      let root = dir + "/d\(UUID().uuidString.prefix(6))"
      for c in classes {
        try FileManager.default.createDirectory(atPath: root + "/" + c, withIntermediateDirectories: true)
        try photo(root + "/" + c + "/1.png")
      }
      return root
    }
    let spaced = try data(["a", "a "])
    try refuses(["train", "--task", "leaf-disease", "--data", spaced, "--out", dir + "/r1", "--epochs", "1", "--resolution", "32"],
                "the class name 'a ' has spaces around it (class folders are class names): rename the folder")
    let unicode = try data(["caf\u{E9}", "cafe\u{301}"])
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: unicode).count, 2, "two folders on disk")
    try refuses(["train", "--task", "leaf-disease", "--data", unicode, "--out", dir + "/r2", "--epochs", "1", "--resolution", "32"], "written two ways (Unicode)")
    let semicolon = try data(["a;b", "c"])
    try refuses(["train", "--task", "leaf-disease", "--data", semicolon, "--out", dir + "/r3", "--epochs", "1", "--resolution", "32"], "holds ';'")
    // A checkpoint keeps loading with names these rules would not give now (trained before
    // them), but not with two names that are one.
    try photo(dir + "/x.png")
    let old = try checkpoint("old", classes: #"["a;b","c "]"#)
    let r = try effdx(["diagnose", "--checkpoint", old, "--input", dir + "/x.png", "--out", dir + "/p.csv"])
    XCTAssertEqual(r.status, 0, r.stderr)
    let same = try checkpoint("same", classes: "[\"caf\u{E9}\",\"cafe\u{301}\"]")
    try refuses(["diagnose", "--checkpoint", same, "--input", dir + "/x.png", "--out", dir + "/p2.csv"], "written two ways (Unicode)")
  }

  /// Two files whose names differ only in Unicode normalisation are two files: both diagnosed
  /// (one was dropped without a word, as the same key).
  func testFilesNamedAlikeInUnicode_areBothDiagnosed() throws {
    let ckpt = try checkpoint("ok2")
    try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
    try photo(dir + "/in/caf\u{E9}.png")
    try photo(dir + "/in/cafe\u{301}.png", w: 30, h: 30)
    let r = try effdx(["diagnose", "--checkpoint", ckpt, "--input", dir + "/in", "--out", dir + "/p.csv"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(try String(contentsOfFile: dir + "/p.csv", encoding: .utf8).split(separator: "\n").count, 3, "a header and two rows")
    let again = try effdx(["diagnose", "--checkpoint", ckpt, "--input", dir + "/in", "--out", dir + "/p.csv"])
    XCTAssertEqual(again.status, 0, again.stderr)
    XCTAssertTrue(again.stdout.contains("0 diagnosed, 2 already"), again.stdout)
  }

  /// A 512-pixel slide, its left half tissue-coloured, with an 8-pixel second level.
  func slide(_ path: String) throws {
    func level(_ size: Int) -> TIFFWriter.Level {
      TIFFWriter.Level(width: size, height: size) { x, _, w, h in
        var px = [UInt8](repeating: 240, count: w * h * 3)
        for i in 0..<(w * h) where x + i % w < size / 2 { px[3 * i] = 150; px[3 * i + 1] = 60; px[3 * i + 2] = 160 }
        return Image(width: w, height: h, channels: 3, samples: .uint8(px))
      }
    }
    try TIFFWriter.write(levels: [level(512), level(8)], to: path, tileSize: 16, compression: .deflate)
  }

  /// `tile`: a failed run (a missing slide, a bad pipeline) leaves the last run's tiles as they
  /// were (they were deleted before the slide was opened); a FIFO named tiles.csv is refused
  /// without blocking; tiles narrower than a thumbnail pixel are drawn (they trapped).
  func testTile_checksItsInputsBeforeItsOutput() throws {
    try slide(dir + "/s.tif")
    let r = try effdx(["tile", dir + "/s.tif", "--tile-size", "16", "--out", dir + "/t"])
    XCTAssertEqual(r.status, 0, r.stderr)
    let tiles = try FileManager.default.contentsOfDirectory(atPath: dir + "/t/tiles").count
    XCTAssertGreaterThan(tiles, 100)
    XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/t/thumbnail.png"))
    try refuses(["tile", dir + "/none.tif", "--out", dir + "/t"], "no such file")
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/t/tiles").count, tiles, "the last run's tiles are kept")
    XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/t/tiles.csv"))
    try FileManager.default.createDirectory(atPath: dir + "/f", withIntermediateDirectories: true)
    XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/f/notes.txt", contents: Data("x".utf8)))
    XCTAssertEqual(mkfifo(dir + "/f/tiles.csv", 0o644), 0)
    try refuses(["tile", dir + "/s.tif", "--out", dir + "/f"], "holds files and no tiles of effdx's", status: 64)
  }

  /// `convert`: `--region` is four whole numbers (empty or unreadable fields were dropped); on
  /// a photo it says it reads slides only; an existing file that is not a PNG is not replaced.
  func testConvert_regionsPhotosAndOtherFiles() throws {
    try slide(dir + "/s.tif")
    for bad in ["0,,0,10,10", "0,0,abc,10,10", "1O24,0,8,8", "0,0,8"] {
      try refuses(["convert", dir + "/s.tif", "--region", bad, "--out", dir + "/o.png"], "--region '\(bad)' is not X,Y,W,H", status: 64)
    }
    try photo(dir + "/x.png")
    try refuses(["convert", dir + "/x.png", "--region", "0,0,8,8", "--out", dir + "/o.png"], "--region reads slides only (TIFF, or a format OpenSlide reads), and this is a PNG image")
    try "precious notes\n".write(toFile: dir + "/notes.png", atomically: true, encoding: .utf8)
    try refuses(["convert", dir + "/x.png", "--out", dir + "/notes.png"], "exists and does not hold a PNG", status: 64)
    XCTAssertEqual(try String(contentsOfFile: dir + "/notes.png", encoding: .utf8), "precious notes\n")
    let r = try effdx(["convert", dir + "/s.tif", "--region", "0, 0, 8, 8", "--out", dir + "/o.png"])
    XCTAssertEqual(r.status, 0, r.stderr)
    let again = try effdx(["convert", dir + "/s.tif", "--region", "8,8,8,8", "--out", dir + "/o.png"])
    XCTAssertEqual(again.status, 0, "a PNG of ours is replaced: \(again.stderr)")
  }

  /// Messages that blamed the wrong thing: a source classifier of 200,001 classes names the
  /// file; one readable image at a 1 x 1 last map is not "not one training image could be read".
  func testMessagesNameTheRealCause() throws {
    var c = try XCTUnwrap(Variants.named("efficientnet_lite0"))
    c.numClasses = 2
    var state = try EfficientNet(c, seed: 1).stateDict().mapValues(toPyTorchLayout)
    state["classifier.bias"] = Tensor(shape: [200_001], scalars: [Float](repeating: 0, count: 200_001))
    try SafeTensorsWriter.write(state, to: dir + "/wide.safetensors")
    try refuses(["import-weights", dir + "/wide.safetensors", "--arch", "efficientnet_lite0", "--out", dir + "/w.safetensors"],
                "wide.safetensors: its classifier's bias has 200001 values")
    try FileManager.default.createDirectory(atPath: dir + "/one/a", withIntermediateDirectories: true)
    try photo(dir + "/one/a/1.png")
    try refuses(["train", "--task", "leaf-disease", "--data", dir + "/one", "--out", dir + "/run", "--epochs", "1", "--resolution", "32",
                 "--val-fraction", "0", "--test-fraction", "0"], "every batch held one image at a 1 x 1 last map")
  }
}
