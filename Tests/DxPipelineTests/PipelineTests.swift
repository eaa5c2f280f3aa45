import DxCSV
import DxImaging
import DxPipeline
import DxTensor
import DxTestSupport
import Foundation
import XCTest

final class PipelineSpecTests: XCTestCase {
  func testShippedPipelines_loadWithTheirSettings() throws {
    let dir = SharedData.repositoryRoot().appendingPathComponent("Pipelines")
    let leaf = try PipelineSpec.load(path: dir.appendingPathComponent("leaf-disease.yaml").path)
    XCTAssertEqual(leaf.task, "leaf-disease")
    XCTAssertEqual(leaf.split.test, 0.15)
    XCTAssertEqual(leaf.trainTransforms.first, .randomResizedCrop(scale: 0.5...1.0, ratio: 0.75...1.333))
    let patches = try PipelineSpec.load(path: dir.appendingPathComponent("histopathology-patches.yaml").path)
    XCTAssertTrue(patches.trainTransforms.contains(.hedJitter(sigma: 0.05, bias: 0.05)))
    let slides = try PipelineSpec.load(path: dir.appendingPathComponent("histopathology-slides.yaml").path)
    XCTAssertEqual(slides.tiling?.mpp, 0.5)
    XCTAssertEqual(slides.tiling, PipelineSpec.Tiling(tileSize: nil, mpp: 0.5, level: 0, overlap: 0, minTissue: 0.5))
    // Which steps are augmentations (what a feature cache would skip) and which are fixed.
    XCTAssertEqual(leaf.trainTransforms.filter(\.isRandom).first?.name, "random_resized_crop")
    XCTAssertTrue(leaf.evalTransforms.allSatisfy { !$0.isRandom }, "\(leaf.evalTransforms)")
    XCTAssertFalse(TransformSpec.horizontalFlip(p: 0).isRandom)
    XCTAssertTrue(TransformSpec.horizontalFlip(p: 0.5).isRandom)
    for t in leaf.trainTransforms + patches.trainTransforms { XCTAssertTrue(TransformSpec.names.contains(t.name), t.name) }
  }

  /// A pipeline file past 1 MiB is refused from its size, before a byte is read (a sparse
  /// 3 GB file was read whole first: seconds and gigabytes, or a failure to allocate).
  func testAHugePipelineFile_isRefusedBeforeItIsRead() throws {
    let p = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-huge-\(UUID().uuidString).yaml").path
    defer { try? FileManager.default.removeItem(atPath: p) }
    XCTAssertTrue(FileManager.default.createFile(atPath: p, contents: nil))
    let handle = try XCTUnwrap(FileHandle(forWritingAtPath: p))
    try handle.truncate(atOffset: 3 << 30)  // sparse: no disk used
    try handle.close()
    func peakKB() -> Int { var u = rusage(); getrusage(RUSAGE_SELF.rawValue, &u); return u.ru_maxrss }
    let before = peakKB()
    XCTAssertThrowsError(try PipelineSpec.load(path: p)) { XCTAssertTrue("\($0)".contains("\(3 << 30) bytes; a pipeline file is at most 1 MiB"), "\($0)") }
    XCTAssertLessThan(peakKB() - before, 100_000, "the file was read into memory")
  }

  /// Round seven of the audit: explicit keys (`? ? ? x`, or `? - - x`) nest a level each past
  /// every bound the scan kept, and a 10 KB line crashed the composer (a pipeline, a `training:`
  /// block, or a checkpoint's recorded evaluation transform). Refused naming the line; a `?`
  /// inside a value and `:` inside a plain scalar still read.
  func testExplicitKeys_areRefusedBeforeTheComposerRecurses() throws {
    for (yaml, line) in [("? " + String(repeating: "? ", count: 5000) + "x\n", 1), ("name: p\n? " + String(repeating: "- ", count: 5000) + "x\n", 2),
                         ("name: p\n- " + String(repeating: "? ", count: 5000) + "x\n", 2), ("name: p\ntraining:\n  ? " + String(repeating: "? ", count: 5000) + "x\n", 3),
                         ("name: p\n? a\n: b\n", 2), ("name: p\n  : b\n", 2),
                         // libyaml skips a byte-order mark at a line's start: it hid the keys.
                         ("name: p\n\u{FEFF}" + String(repeating: "? ", count: 5000) + "x\n", 2)] {
      XCTAssertThrowsError(try PipelineSpec.parse(yaml, file: "q.yaml")) { error in
        let e = error as? PipelineSpecError
        XCTAssertEqual(e?.line, line, "\(yaml.prefix(30))")
        XCTAssertTrue(e?.message.contains("explicit keys and values") ?? false, "\(error)")
      }
    }
    XCTAssertThrowsError(try PipelineSpec.parse("name: p\nx:\n\u{FEFF}" + String(repeating: "- ", count: 5000) + "x\n", file: "q.yaml")) {
      XCTAssertTrue("\($0)".contains("deeper than"), "a mark before compact dashes: \($0)")
    }
    XCTAssertThrowsError(try EvaluationTransform.decode(json: String(repeating: "? ", count: 5000) + "x", source: "bomb.safetensors")) {
      XCTAssertTrue("\($0)".contains("explicit keys and values"), "\($0)")
    }
    let spec = try PipelineSpec.parse("name: what? yes\ntask: leaf-disease\nsource:\n  study_column: a:b\n", file: "ok.yaml")
    XCTAssertEqual(spec.name, "what? yes")
  }

  /// Numbers are decimals written plain: hexadecimal (`0x1p-3` trained at 0.125) and quoted
  /// text (`"0.01"`) are refused naming the line; YAML's decimal forms still read.
  func testNumbers_areDecimalsWrittenPlain() throws {
    for (value, line) in [("0x1p-3", 3), ("\"0.01\"", 3), ("'0.01'", 3), ("0.01abc", 3), ("1e", 3), ("nan", 3)] {
      XCTAssertThrowsError(try PipelineSpec.parse("name: p\ntraining:\n  lr: \(value)\n", file: "n.yaml"), value) { error in
        let e = error as? PipelineSpecError
        XCTAssertEqual(e?.line, line, value)
        XCTAssertTrue(e?.message.contains("'lr' must be a number") ?? false, "\(value): \(error)")
      }
    }
    for (value, expected) in [("0.01", 0.01), ("1e-3", 0.001), ("+.5", 0.5), ("5.", 5.0), ("2E-2", 0.02)] {
      XCTAssertEqual(try PipelineSpec.parse("name: p\ntraining:\n  lr: \(value)\n", file: "n.yaml").training.learningRate, expected, value)
    }
    XCTAssertThrowsError(try PipelineSpec.parse("name: p\nresolution: \"224\"\n", file: "n.yaml"), "a quoted integer is text")
    XCTAssertNil(DecimalText.parse("0x10"))
    XCTAssertNil(DecimalText.parse("infinity"))
    XCTAssertNil(DecimalText.parse("."))
    XCTAssertEqual(DecimalText.parse("-12.5e+1"), -125)
  }

  func testMistakes_areErrorsWithFileLineAndExpectation() {
    func error(_ yaml: String) -> PipelineSpecError? {
      do { _ = try PipelineSpec.parse(yaml, file: "p.yaml"); return nil } catch { return error as? PipelineSpecError }
    }
    let typo = error("name: x\nresolution: 224\nbatchsize: 16\n")
    XCTAssertEqual(typo?.line, 3)
    XCTAssertTrue(typo?.message.contains("unknown key 'batchsize'") ?? false, "\(String(describing: typo))")
    XCTAssertTrue(typo?.description.hasPrefix("p.yaml:3:") ?? false)
    let bad = error("name: x\nsplit:\n  validation: 1.5\n")
    XCTAssertEqual(bad?.line, 3)
    XCTAssertTrue(bad?.message.contains("'validation' must be in 0.0...0.9") ?? false, "\(String(describing: bad))")
    let word = error("resolution: big\n")
    XCTAssertTrue(word?.message.contains("whole number") ?? false)
    let transform = error("train_transforms:\n  - horizontal_flip: {p: 0.5}\n  - sharpen: {}\n")
    XCTAssertEqual(transform?.line, 3)
    XCTAssertTrue(transform?.message.contains("unknown transform 'sharpen'") ?? false)
    let param = error("train_transforms:\n  - horizontal_flip: {probability: 0.5}\n")
    XCTAssertTrue(param?.message.contains("unknown key 'probability'") ?? false, "\(String(describing: param))")
    // Keys that did nothing are gone, and say so.
    XCTAssertTrue(error("source:\n  kind: folder\n")?.message.contains("unknown key 'kind'") ?? false)
    XCTAssertNotNil(error("name: [unclosed\n"))
    XCTAssertNotNil(error(""))
  }
}

final class DatasetTests: XCTestCase {
  var dir: URL!

  override func setUpWithError() throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-ds-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

  func writeImage(_ path: String, value: UInt8, size: Int = 20) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try PNGCodec.write(Image(width: size, height: size + 3, channels: 3, samples: .uint8((0..<(size * (size + 3) * 3)).map { UInt8((Int(value) + $0) % 256) })), to: path)
  }

  func testFolderIndex_classesFromFoldersFilesByExtension() throws {
    for (c, n) in [("Tomato___healthy", 3), ("Tomato___Early_blight", 2)] {
      for i in 0..<n { try writeImage(dir.appendingPathComponent("\(c)/sub/\(i).png").path, value: UInt8(i)) }
    }
    XCTAssertTrue(FileManager.default.createFile(atPath: dir.appendingPathComponent("Tomato___healthy/notes.txt").path, contents: Data("x".utf8)), "cannot create a test file")
    let index = try DatasetIndex.folder(dir.path, extensions: ["png"])
    XCTAssertEqual(index.classes, ["Tomato___Early_blight", "Tomato___healthy"])
    XCTAssertEqual(index.items.map(\.label), [0, 0, 1, 1, 1])
    XCTAssertThrowsError(try DatasetIndex.folder(dir.appendingPathComponent("none").path, extensions: ["png"]))
  }

  func testManifest_studiesFixedSplitsAndErrorsByLine() throws {
    let m = dir.appendingPathComponent("m.csv").path
    try "path,label,study,split\na.png,rust,F1,\n\"b, c.png\",healthy,F1,test\nd.png,rust,F2,\n".write(toFile: m, atomically: true, encoding: .utf8)
    let index = try DatasetIndex.manifest(m)
    XCTAssertEqual(index.classes, ["healthy", "rust"])
    XCTAssertEqual(index.items[1].path, dir.appendingPathComponent("b, c.png").path)
    XCTAssertEqual(index.items[1].split, "test")
    XCTAssertEqual(index.items[2].study, "F2")
    try "path,label,split\na.png,rust,holdout\n".write(toFile: m, atomically: true, encoding: .utf8)
    XCTAssertThrowsError(try DatasetIndex.manifest(m)) { XCTAssertTrue("\($0)".contains("line 2"), "\($0)") }
    // One file under two spellings is listed twice; two files whose names differ only in
    // Unicode normalisation are two files (they were refused as one listed twice).
    try "path,label\na.png,rust\n./x/../a.png,healthy\n".write(toFile: m, atomically: true, encoding: .utf8)
    XCTAssertThrowsError(try DatasetIndex.manifest(m)) { XCTAssertTrue("\($0)".contains("line 3: './x/../a.png' is already listed on line 2"), "\($0)") }
    try "path,label\ncaf\u{E9}.png,rust\ncafe\u{301}.png,healthy\n".write(toFile: m, atomically: true, encoding: .utf8)
    XCTAssertEqual(try DatasetIndex.manifest(m).items.count, 2)
    // A manifest named by a relative path: `sub/../a.png` and the absolute path are `a.png`
    // (they were two keys, and one photo trained under two labels or in two splits).
    let previous = FileManager.default.currentDirectoryPath
    XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir.deletingLastPathComponent().path))
    defer { FileManager.default.changeCurrentDirectoryPath(previous) }
    let relative = dir.lastPathComponent + "/m.csv"
    for other in ["sub/../a.png", dir.appendingPathComponent("a.png").path] {
      try "path,label,split\na.png,rust,train\n\(other),rust,test\n".write(toFile: m, atomically: true, encoding: .utf8)
      XCTAssertThrowsError(try DatasetIndex.manifest(relative), other) { XCTAssertTrue("\($0)".contains("is already listed on line 2"), "\($0)") }
    }
    // A label with spaces around it is the class without them (it made a class "rust " beside
    // "rust"); an empty label or path is an error at its line (it made a class "").
    try "path, label\na.png, rust\nb.png,rust \nc.png,healthy\n".write(toFile: m, atomically: true, encoding: .utf8)
    XCTAssertEqual(try DatasetIndex.manifest(m).classes, ["healthy", "rust"])
    try "path,label\na.png,rust\nb.png,\n".write(toFile: m, atomically: true, encoding: .utf8)
    XCTAssertThrowsError(try DatasetIndex.manifest(m)) { XCTAssertEqual("\($0)", "\(m): line 3: the label of 'b.png' is empty") }
    try "path,label\na.png,rust\n ,rust\n".write(toFile: m, atomically: true, encoding: .utf8)
    XCTAssertThrowsError(try DatasetIndex.manifest(m)) { XCTAssertEqual("\($0)", "\(m): line 3: the path is empty") }
    // What cannot be read says why: not UTF-8 (was "cannot read"), a FIFO or a device (was
    // read until memory ran out, for /dev/zero).
    try Data([0x70, 0x61, 0x74, 0x68, 0x2C, 0x6C, 0x61, 0x62, 0x65, 0x6C, 0x0A, 0xFF, 0x2C, 0x61, 0x0A]).write(to: URL(fileURLWithPath: m))
    XCTAssertThrowsError(try DatasetIndex.manifest(m)) { XCTAssertEqual("\($0)", "\(m): not UTF-8 text") }
    XCTAssertThrowsError(try DatasetIndex.manifest("/dev/zero")) { XCTAssertEqual("\($0)", "/dev/zero: cannot read: not a regular file (a FIFO, socket or device)") }
    assertRefusesAFIFO("a manifest") { _ = try DatasetIndex.manifest($0) }
  }

  func testSplit_stratifiedByClassStudiesNeverLeakAndSeeded() {
    var items: [DatasetIndex.Item] = []
    for s in 0..<40 { for i in 0..<5 { items.append(.init(path: "s\(s)/\(i).png", label: s % 4, study: "S\(s)")) } }
    let index = DatasetIndex(classes: ["a", "b", "c", "d"], items: items)
    let split = DatasetSplit(index, validation: 0.2, test: 0.2, seed: 3)
    XCTAssertEqual(split.train.count + split.validation.count + split.test.count, 200)
    let studies = [split.train, split.validation, split.test].map { Set($0.compactMap(\.study)) }
    XCTAssertTrue(studies[0].isDisjoint(with: studies[1]) && studies[0].isDisjoint(with: studies[2]) && studies[1].isDisjoint(with: studies[2]), "a study in two splits")
    for label in 0..<4 { XCTAssertEqual(split.validation.filter { $0.label == label }.count, 10, "2 of 10 studies per class") }
    XCTAssertEqual(split, DatasetSplit(index, validation: 0.2, test: 0.2, seed: 3))
    XCTAssertNotEqual(split, DatasetSplit(index, validation: 0.2, test: 0.2, seed: 4))
    let byImage = DatasetSplit(DatasetIndex(classes: ["a"], items: (0..<50).map { .init(path: "\($0)", label: 0) }), validation: 0.1, test: 0, seed: 1)
    XCTAssertEqual(byImage.validation.count, 5)
  }

  func testBatchLoader_sameBatchesWhateverTheWorkersAndBadFilesSkipped() throws {
    var items: [DatasetIndex.Item] = []
    for i in 0..<11 {
      let p = dir.appendingPathComponent("img\(i).png").path
      try writeImage(p, value: UInt8(i * 20), size: 20 + i)
      items.append(.init(path: p, label: i % 2))
    }
    let broken = dir.appendingPathComponent("broken.png").path
    XCTAssertTrue(FileManager.default.createFile(atPath: broken, contents: Data([0x89, 0x50, 0x4E, 0x47, 0, 0])), "cannot create a test file")
    items.append(.init(path: broken, label: 1))
    var spec = PipelineSpec(name: "t")
    spec.resolution = 16
    spec.batchSize = 5
    spec.trainTransforms = [.randomResizedCrop(scale: 0.3...1, ratio: 0.75...1.33), .horizontalFlip(p: 0.5), .colorJitter(brightness: 0.3, contrast: 0.3, saturation: 0.3, hue: 0.05)]
    func run(workers: Int) -> [Batch] {
      var s = spec
      s.workers = workers
      return Array(BatchLoader(items: items, spec: s, training: true, seed: 9, epoch: 2))
    }
    let one = run(workers: 1), three = run(workers: 3)
    XCTAssertEqual(one.count, 3)
    XCTAssertEqual(one.map(\.images), three.map(\.images), "bit-identical across worker counts")
    XCTAssertEqual(one.map(\.labels), three.map(\.labels))
    XCTAssertEqual(one.map(\.images.shape[0]).reduce(0, +), 11, "the broken file is skipped")
    let failures = one.flatMap(\.failures)
    XCTAssertEqual(failures.map(\.path), [broken])
    XCTAssertEqual(one[0].images.shape.suffix(3), [16, 16, 3])
    let otherEpoch = Array(BatchLoader(items: items, spec: spec, training: true, seed: 9, epoch: 3))
    XCTAssertNotEqual(otherEpoch.map(\.paths), one.map(\.paths), "each epoch reshuffles")
    let eval = Array(BatchLoader(items: Array(items.prefix(5)), spec: spec, training: false, seed: 9))
    XCTAssertEqual(eval[0].paths, items.prefix(5).map(\.path), "evaluation keeps the order")
  }

  /// Training's loader reads its first crop straight from the decoded photo. It made a Float copy
  /// of the whole photo first, then a clamped one and a 16-bit one: two loader workers on
  /// 108-megapixel photos peaked at 6.4 GB. Here a 24-megapixel photo (72 MB of samples) may
  /// add at most three times its samples to the process's peak; the copies came to about 800 MB.
  func testTrainingSamplesOfALargePhoto_areCutWithoutAFullSizeFloatCopy() throws {
    let clear = "/proc/self/clear_refs"
    guard FileManager.default.isWritableFile(atPath: clear) else { throw XCTSkip("needs \(clear) to reset the peak memory (Linux)") }
    func peakKB() throws -> Int {
      let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
      let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") })
      return try XCTUnwrap(Int(line.split(separator: " ").dropFirst().first ?? ""))
    }
    let (width, height) = (6000, 4000)
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for i in pixels.indices { pixels[i] = UInt8(truncatingIfNeeded: (i / 3 % width) / 24 + (i / 3 / width) / 16 + i % 3 * 60) }
    let path = dir.appendingPathComponent("large.png").path
    try PNGCodec.write(Image(width: width, height: height, channels: 3, samples: .uint8(pixels)), to: path, level: 1)
    pixels = []
    var spec = PipelineSpec(name: "t")
    spec.resolution = 32
    spec.trainTransforms = [.randomResizedCrop(scale: 0.5...1, ratio: 0.75...1.33), .horizontalFlip(p: 0.5)]
    let loader = BatchLoader(items: [.init(path: path, label: 0)], spec: spec, training: true, seed: 1)
    try "5".write(toFile: clear, atomically: false, encoding: .utf8)
    let before = try peakKB()
    let sample = try loader.sample(0)
    let added = try peakKB() - before
    XCTAssertEqual(sample.count, 32 * 32 * 3)
    XCTAssertLessThan(added, 3 * width * height * 3 / 1024, "a training sample of a \(width) x \(height) photo added \(added) KB to the peak")
    // The crop was taken from the photo's values: not a constant image.
    XCTAssertGreaterThan(Set(sample).count, 100)
  }

  /// A centre crop first in training refuses what evaluation refuses: a strip too elongated
  /// for its budget (train took it while diagnose refused it).
  func testTrainingsCentreCrop_refusesWhatEvaluationRefuses() throws {
    let path = dir.appendingPathComponent("strip.png").path
    try PNGCodec.write(Image(width: 1, height: 200_000, channels: 3, samples: .uint8([UInt8](repeating: 90, count: 600_000))), to: path)
    var spec = PipelineSpec(name: "t")
    spec.resolution = 32
    spec.maxPixels = 1_000_000
    spec.trainTransforms = [.centerCrop(cropFraction: 0.875, filter: .bicubic)]
    spec.evalTransforms = spec.trainTransforms
    let loader = BatchLoader(items: [.init(path: path, label: 0)], spec: spec, training: true, seed: 1)
    XCTAssertThrowsError(try loader.sample(0)) { XCTAssertTrue("\($0)".contains("too elongated for a centre crop to 32 px"), "\($0)") }
    let evaluation = try EvaluationTransform(spec: spec)
    XCTAssertThrowsError(try evaluation.prepare(path: path)) { XCTAssertTrue("\($0)".contains("too elongated"), "\($0)") }
  }

  /// The network's inputs are the transformed image's values, each `(v - mean) / std` of its
  /// channel exactly (the vectorised steps and the scalar tail alike: 7 x 7 x 3 = 147 values is
  /// three steps of 48 and one pixel; 8 x 8 x 3 = 192 is four steps).
  func testPrepare_normalisesEveryValueByItsChannel() throws {
    let image = Image(width: 40, height: 30, channels: 3, samples: .uint8((0..<(40 * 30 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ $0 / 90) }))
    let mean: [Double] = [0.485, 0.456, 0.406], std: [Double] = [0.229, 0.224, 0.225]
    for resolution in [7, 8] {
      let t = EvaluationTransform(resolution: resolution, mean: mean, std: std, steps: [.centerCrop(cropFraction: 0.875, filter: .bicubic)])
      let plain = try t.transformed(image, source: "test").values
      let prepared = try t.prepare(image, source: "test")
      XCTAssertEqual(prepared.count, resolution * resolution * 3)
      for (i, v) in plain.enumerated() {
        XCTAssertEqual(prepared[i], (v - Float(mean[i % 3])) / Float(std[i % 3]), "value \(i) of \(resolution) x \(resolution)")
      }
    }
  }
}
