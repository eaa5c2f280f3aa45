import DxEfficientNet
import DxNN
import DxTensor
import DxTestSupport
import Foundation
import XCTest

/// The recipe as a user gives it: a pipeline's training: block under the flags, --like, the
/// split flags, and --resume bit-exact with EMA and mixing on.
final class RecipeCommandTests: XCTestCase {
  var dir: URL!

  override func setUpWithError() throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-recipe-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let made = try EffDxRunner.run(["samples", "--task", "leaf-disease", "--out", path("leaf"), "--count", "24", "--seed", "3", "--quiet"])
    XCTAssertEqual(made.status, 0, made.stderr)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

  func path(_ p: String) -> String { dir.appendingPathComponent(p).path }

  func train(_ out: String, _ extra: [String], environment: [String: String] = [:]) throws -> EffDxRunner.Result {
    try EffDxRunner.run(["train", "--task", "leaf-disease", "--data", path("leaf/train"), "--arch", "efficientnet_lite0", "--resolution", "32", "--batch-size", "8",
                         "--seed", "5", "--out", path(out)] + extra, environment: environment)
  }

  func recipe(_ run: String, _ file: String = "last.safetensors") throws -> [String: Any] {
    let json = try SafeTensorsFile(path: path("\(run)/\(file)")).metadata["effdx.training"] ?? "{}"
    return try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
  }

  func testThePipelinesTrainingBlock_givesDefaults_flagsOverrideIt_andLikeReproducesTheRun() throws {
    let pipeline = path("p.yaml")
    try """
      name: mine
      task: leaf-disease
      resolution: 32
      train_transforms:
        - trivial_augment:
        - rand_augment: {n: 2, m: 9}
      training:
        optimizer: sgd
        lr: 0.05
        momentum: 0.8
        sched: step
        decay_epochs: 1
        epochs: 2
        label_smoothing: 0.2
      """.write(toFile: pipeline, atomically: true, encoding: .utf8)
    let r = try train("yaml", ["--pipeline", pipeline, "--lr", "0.02", "--test-fraction", "0", "--layer-decay", "0.9"])
    XCTAssertEqual(r.status, 0, r.stderr)
    let recorded = try recipe("yaml")
    XCTAssertEqual(recorded["optimizer"] as? String, "sgd")
    XCTAssertEqual(recorded["learning_rate"] as? Double, 0.02, "the flag wins over the block")
    XCTAssertEqual(recorded["momentum"] as? Double, 0.8)
    XCTAssertEqual(recorded["layer_decay"] as? Double, 0.9)
    XCTAssertEqual(recorded["sched"] as? String, "step")
    XCTAssertEqual(recorded["label_smoothing"] as? Double, 0.2)
    XCTAssertEqual(recorded["weight_decay"] as? Double, 1e-4, "sgd's usual decay, since no source gave one")
    XCTAssertEqual(recorded["test_fraction"] as? Double, 0)
    let log = try String(contentsOfFile: path("yaml/log.jsonl"), encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(log.count, 2, "epochs from the block")
    // The log says how the run was trained, on its first line.
    let first = try JSONSerialization.jsonObject(with: Data(log[0].utf8)) as! [String: Any]
    XCTAssertTrue((first["recipe"] as? String)?.contains("\"optimizer\":\"sgd\"") ?? false, "\(first)")
    XCTAssertNil((try JSONSerialization.jsonObject(with: Data(log[1].utf8)) as! [String: Any])["recipe"])
    // --test-fraction 0: no test split, no test predictions, and the split says so.
    XCTAssertTrue(r.stdout.contains(", 0 test images"), r.stdout)
    XCTAssertTrue(r.stderr.contains("no test split (your own test set)"), r.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: path("yaml/test_predictions.csv")))

    // --like: the same recipe, seed and split, so the same weights; a flag still overrides.
    // (No --task: the pipeline's 'task' key gives it.)
    let again = try EffDxRunner.run(["train", "--data", path("leaf/train"), "--pipeline", pipeline, "--arch", "efficientnet_lite0",
                                     "--resolution", "32", "--batch-size", "8", "--like", path("yaml/best.safetensors"), "--out", path("like")])
    XCTAssertEqual(again.status, 0, again.stderr)
    XCTAssertEqual(try SafeTensorsFile(path: path("like/last.safetensors")).allTensors(), try SafeTensorsFile(path: path("yaml/last.safetensors")).allTensors())
    XCTAssertFalse(again.stderr.contains("give those flags"), "nothing differs: \(again.stderr)")
    // What --like does not carry over is said (round nine: another head or metric was dropped
    // in silence).
    let other = try train("like2", ["--pipeline", pipeline, "--like", path("yaml/best.safetensors"), "--epochs", "1", "--metric", "accuracy"])
    XCTAssertEqual(other.status, 0, other.stderr)
    XCTAssertTrue(other.stderr.contains("trained with --metric macro_f1; give those flags"), other.stderr)
    XCTAssertEqual(try recipe("like2")["epochs"] as? Int, 1)
    XCTAssertEqual(try recipe("like2")["learning_rate"] as? Double, 0.02)
  }

  func testAnExplicitValidationSet_isUsed_andItsClassesAreChecked() throws {
    let r = try train("val", ["--val-data", path("leaf/holdout"), "--epochs", "1", "--max-steps", "1"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertTrue(r.stderr.contains("validation from --val-data"), r.stderr)
    let holdout = try FileManager.default.subpathsOfDirectory(atPath: path("leaf/holdout")).filter { $0.hasSuffix(".png") }.count
    XCTAssertTrue(r.stdout.contains(", \(holdout) validation"), "the whole holdout validates: \(r.stdout)")
    XCTAssertEqual(try recipe("val")["val_data"] as? String, path("leaf/holdout"))
    // A class the training data lacks.
    try FileManager.default.createDirectory(atPath: path("odd/Tomato___mosaic"), withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: path("leaf/holdout/Tomato___healthy/" + (try FileManager.default.contentsOfDirectory(atPath: path("leaf/holdout/Tomato___healthy")).filter { $0.hasSuffix(".png") }.sorted()[0])),
                                     toPath: path("odd/Tomato___mosaic/x.png"))
    let odd = try train("odd-run", ["--val-data", path("odd"), "--epochs", "1"])
    XCTAssertEqual(odd.status, 1)
    XCTAssertTrue(odd.stderr.contains("Tomato___mosaic not in the training data"), odd.stderr)
    // --val-fraction: that share of the images validates (whole studies, so about it).
    let half = try train("half", ["--val-fraction", "0.5", "--test-fraction", "0", "--epochs", "1", "--max-steps", "1"])
    XCTAssertEqual(half.status, 0, half.stderr)
    // "leaf-disease: N training, M validation, 0 test images; ..."
    let summary = half.stdout.split(separator: "\n").first { $0.hasPrefix("leaf-disease: ") } ?? ""
    let counts = summary.dropFirst("leaf-disease: ".count).split(separator: ",").prefix(2).map { Int($0.split(separator: " ")[0]) ?? -1 }
    XCTAssertEqual(counts.count, 2, half.stdout)
    let fraction = Double(counts[1]) / Double(counts[0] + counts[1])
    XCTAssertTrue((0.3...0.7).contains(fraction), "validation share \(fraction): \(half.stdout)")
    XCTAssertEqual(try recipe("half")["val_fraction"] as? Double, 0.5)
    let both = try train("both", ["--val-data", path("odd"), "--val-fraction", "0.2"])
    XCTAssertEqual(both.status, 64)
    XCTAssertTrue(both.stderr.contains("--val-data is the validation set"), both.stderr)
  }

  /// A damaged resume state (round four of the audit): optimizer moments of the wrong length, a
  /// NaN step count and a step counter of 2^63 - 1 trapped; a huge epoch count or a NaN best
  /// metric passed silently; a stale log line that is not UTF-8 was kept; a changed pipeline
  /// was resumed. Each is refused naming the file and key, and a good state still resumes.
  func testADamagedResumeStateOrAnotherPipeline_isRefusedNamingIt() throws {
    let flags = ["--epochs", "2", "--max-steps", "4"]
    let killed = try train("k", flags, environment: ["EFFDX_TEST_KILL_AT": "1:after-last"])
    XCTAssertNotEqual(killed.status, 0)
    let state = path("k/last.state.safetensors")
    let good = try Data(contentsOf: URL(fileURLWithPath: state))
    let file = try SafeTensorsFile(path: state)
    let tensors = try file.allTensors()
    func resumeRefused(_ edit: (inout [String: Tensor], inout [String: String]) -> Void, _ expected: String, extra: [String] = []) throws {
      var t = tensors, m = file.metadata
      edit(&t, &m)
      try SafeTensorsWriter.write(t, metadata: m, to: state)
      let r = try train("k", flags + extra + ["--resume"])
      XCTAssertEqual(r.status, 1, r.stderr)
      XCTAssertTrue(r.stderr.contains(expected), "should say '\(expected)': \(r.stderr)")
      try good.write(to: URL(fileURLWithPath: state))
    }
    let moment = try XCTUnwrap(tensors.keys.first { $0.hasPrefix("m.") })
    let name = String(moment.dropFirst(2))
    try resumeRefused({ t, _ in t[moment] = Tensor(shape: [1], scalars: [0]) }, "optimizer state '\(moment)' holds 1 values for a parameter of")
    try resumeRefused({ t, _ in t["t." + name] = Tensor(shape: [1], scalars: [.nan]) }, "optimizer state 't.\(name)' holds NaN")
    try resumeRefused({ t, _ in t["v." + name] = nil }, "the optimizer state of '\(name)' has m, t but not v")
    // Round seven: the model's own weights, checked as a checkpoint's. A NaN weight was loaded
    // and the resumed run wrote it over last.safetensors; a negative running variance ran to
    // exit 0 and replaced best.safetensors with a checkpoint diagnose refuses.
    let last = try Data(contentsOf: URL(fileURLWithPath: path("k/last.safetensors")))
    let weight = try XCTUnwrap(tensors.keys.sorted().first { $0.hasPrefix("model.") && $0.hasSuffix(".weight") })
    let variance = try XCTUnwrap(tensors.keys.sorted().first { $0.hasPrefix("model.") && $0.hasSuffix("running_var") })
    func poisoned(_ key: String, _ value: Float) -> (inout [String: Tensor], inout [String: String]) -> Void {
      { t, _ in
        var v = t[key]!.scalars
        v[0] = value
        t[key] = Tensor(shape: t[key]!.shape, scalars: v)
      }
    }
    try resumeRefused(poisoned(weight, .nan), "tensor '\(weight)' holds NaN or infinite values; the run folder was left as it is")
    try resumeRefused(poisoned(variance, -1), "tensor '\(variance)' holds a negative variance; the run folder was left as it is")
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("k/last.safetensors"))), last, "last.safetensors as the killed run left it")
    try resumeRefused({ _, m in m["steps"] = "9223372036854775807" }, "metadata 'steps' is '9223372036854775807', not a count in 0...")
    try resumeRefused({ _, m in m["epochs_done"] = "99999" }, "metadata 'epochs_done' is '99999', not a count in 0...2")
    try resumeRefused({ _, m in m["best_metric"] = "nan" }, "metadata 'best_metric' is 'nan', not a metric in 0...1")
    try resumeRefused({ _, _ in }, "resolution 32 -> 48); resume with the same --pipeline", extra: ["--resolution", "48"])
    // Round nine: another run's best.safetensors in the folder made the test predictions (of
    // its classes' width, under this run's header), with exit 0.
    let bestPath = path("k/best.safetensors")
    let bestFile = try SafeTensorsFile(path: bestPath)
    let goodBest = try Data(contentsOf: URL(fileURLWithPath: bestPath))
    var otherClasses = bestFile.metadata
    let count = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try XCTUnwrap(otherClasses["classes"]).utf8)) as? [String]).count
    otherClasses["classes"] = String(decoding: try JSONSerialization.data(withJSONObject: (0..<count).map { "other\($0)" }), as: UTF8.self)
    try SafeTensorsWriter.write(try bestFile.allTensors(), metadata: otherClasses, to: bestPath)
    let foreignBest = try train("k", flags + ["--resume"])
    XCTAssertEqual(foreignBest.status, 1, foreignBest.stderr)
    XCTAssertTrue(foreignBest.stderr.contains("best.safetensors is not this run's (classes"), foreignBest.stderr)
    try goodBest.write(to: URL(fileURLWithPath: bestPath))
    // Round nine: a key deleted from the state skipped its check (another recipe or other
    // data resumed in silence).
    for key in ["effdx.training", "effdx.data_digest", "effdx.run.resolution"] {
      try resumeRefused({ _, m in m[key] = nil }, "metadata '\(key)' is missing: the file is damaged")
    }
    // A stale line after the state's epoch that is not UTF-8 is cut off with the rest.
    let log = path("k/log.jsonl")
    var bytes = try Data(contentsOf: URL(fileURLWithPath: log))
    let kept = bytes
    bytes += Data("{\"epoch\": 2, \"stale\": true}\n{\"bad\u{FF}\"}\n".utf8) + Data([0xFF, 0x0A])
    try bytes.write(to: URL(fileURLWithPath: log))
    let resumed = try train("k", flags + ["--resume"])
    XCTAssertEqual(resumed.status, 0, resumed.stderr)
    let lines = try Data(contentsOf: URL(fileURLWithPath: log)).split(separator: UInt8(ascii: "\n"))
    XCTAssertEqual(lines.count, 2, "epoch 1 as it was, then the resumed epoch 2")
    XCTAssertEqual(Data(lines[0]) + Data([0x0A]), kept)
    XCTAssertFalse(String(decoding: lines[1], as: UTF8.self).contains("stale"))
    // Round nine: the state's last line without its line end was cut off with the stale ones
    // (the first epoch's line, which carries the recipe, was lost); a log that is a link to
    // another file had the next epoch appended there.
    try good.write(to: URL(fileURLWithPath: state))
    try kept.dropLast().write(to: URL(fileURLWithPath: log))
    let unended = try train("k", flags + ["--resume"])
    XCTAssertEqual(unended.status, 0, unended.stderr)
    let relogged = try Data(contentsOf: URL(fileURLWithPath: log)).split(separator: UInt8(ascii: "\n"))
    XCTAssertEqual(relogged.count, 2, "epoch 1 kept and ended, then epoch 2")
    XCTAssertEqual(Data(relogged[0]) + Data([0x0A]), kept)
    try good.write(to: URL(fileURLWithPath: state))
    try FileManager.default.removeItem(atPath: log)
    try kept.write(to: URL(fileURLWithPath: path("notes.txt")))
    try FileManager.default.createSymbolicLink(atPath: log, withDestinationPath: path("notes.txt"))
    let linked = try train("k", flags + ["--resume"])
    XCTAssertNotEqual(linked.status, 0)
    XCTAssertTrue(linked.stderr.contains("log.jsonl is a symbolic link"), linked.stderr)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("notes.txt"))), kept)
  }

  func testResumeWithEMAAndMixing_isBitExact() throws {
    let flags = ["--epochs", "3", "--ema", "0.9", "--mixup", "0.4", "--cutmix", "1.0", "--drop-path", "0.1", "--optimizer", "rmsprop-tf", "--lr", "0.005"]
    let whole = try train("whole", flags)
    XCTAssertEqual(whole.status, 0, whole.stderr)
    XCTAssertTrue(whole.stdout.contains("best_ema.safetensors"), whole.stdout)
    XCTAssertTrue(FileManager.default.fileExists(atPath: path("whole/test_predictions_ema.csv")))
    let killed = try train("killed", flags, environment: ["EFFDX_TEST_KILL_AT": "2:after-state"])
    XCTAssertNotEqual(killed.status, 0)
    // A NaN in the saved moving average (round six of the audit: it was scored as the best and
    // replaced a good best_ema.safetensors) is refused, and the run folder is left as it was.
    let state = path("killed/last.state.safetensors"), best = path("killed/best_ema.safetensors")
    let goodState = try Data(contentsOf: URL(fileURLWithPath: state)), goodBest = try Data(contentsOf: URL(fileURLWithPath: best))
    let file = try SafeTensorsFile(path: state)
    var tensors = try file.allTensors()
    let averaged = try XCTUnwrap(tensors.keys.sorted().first { $0.hasPrefix("ema.") })
    var poisoned = try XCTUnwrap(tensors[averaged]).scalars
    poisoned[poisoned.count / 2] = .nan
    tensors[averaged] = Tensor(shape: try XCTUnwrap(tensors[averaged]).shape, scalars: poisoned)
    try SafeTensorsWriter.write(tensors, metadata: file.metadata, to: state)
    let refused = try train("killed", flags + ["--resume"])
    XCTAssertEqual(refused.status, 1, refused.stderr)
    XCTAssertTrue(refused.stderr.contains("tensor '\(averaged)' holds NaN or infinite values; the run folder was left as it is"), refused.stderr)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: best)), goodBest)
    try goodState.write(to: URL(fileURLWithPath: state))
    let resumed = try train("killed", flags + ["--resume"])
    XCTAssertEqual(resumed.status, 0, resumed.stderr)
    for file in ["last.safetensors", "best_ema.safetensors", "last.state.safetensors"] {
      XCTAssertEqual(try SafeTensorsFile(path: path("killed/\(file)")).allTensors(), try SafeTensorsFile(path: path("whole/\(file)")).allTensors(), file)
    }
    let a = try String(contentsOfFile: path("whole/log.jsonl"), encoding: .utf8).split(separator: "\n").map { WorkflowTests.withoutTimings($0) }
    let b = try String(contentsOfFile: path("killed/log.jsonl"), encoding: .utf8).split(separator: "\n").map { WorkflowTests.withoutTimings($0) }
    XCTAssertEqual(a, b)
    XCTAssertNotNil(a.first?["val_accuracy_ema"])
    // Resuming with another recipe is refused, naming what changed.
    let changed = try train("killed", ["--epochs", "3", "--ema", "0.8", "--mixup", "0.4", "--cutmix", "1.0", "--drop-path", "0.1", "--optimizer", "rmsprop-tf", "--lr", "0.005", "--resume"])
    XCTAssertEqual(changed.status, 1)
    XCTAssertTrue(changed.stderr.contains("ema 0.9 -> 0.8"), changed.stderr)
  }

  func testHostileRecipeValues_areNamed() throws {
    func refused(_ extra: [String], _ expected: String, status: Int32 = 64) throws {
      let r = try train("r-\(UUID().uuidString)", extra)
      XCTAssertEqual(r.status, status, "\(extra)")
      XCTAssertTrue(r.stderr.contains(expected), "\(extra): \(r.stderr)")
    }
    try refused(["--ema", "1"], "--ema must be in 0.5...0.99999")
    try refused(["--ema", "nan"], "--ema")
    try refused(["--mixup", "-1"], "--mixup")
    try refused(["--cutmix", "inf"], "--cutmix")
    try refused(["--mix-prob", "2"], "--mix-prob")
    try refused(["--drop-path", "1"], "--drop-path")
    try refused(["--dropout", "-0.1"], "--dropout")
    try refused(["--label-smoothing", "1"], "--label-smoothing")
    try refused(["--sched", "linear"], "--sched")
    try refused(["--decay-rate", "0"], "--decay-rate")
    try refused(["--layer-decay", "0"], "--layer-decay must be in 0.01...1")
    try refused(["--layer-decay", "1.5"], "--layer-decay")
    try refused(["--warmup-epochs", "-1"], "--warmup-epochs")
    try refused(["--test-fraction", "0.95"], "--test-fraction")
    try refused(["--val-fraction", "0.6", "--test-fraction", "0.5"], "must leave images for training")
    try refused(["--min-lr", "0.5", "--lr", "0.1"], "min_lr 0.5 (--min-lr) exceeds the peak lr 0.1 (--lr)", status: 1)
    // From a pipeline's training: block: named by file and key, before the data is read (it
    // came after indexing and splitting, naming neither).
    try "task: leaf-disease\ntraining:\n  lr: 0.001\n  min_lr: 5\n  policy: half\n".write(toFile: path("minlr.yaml"), atomically: true, encoding: .utf8)
    let r = try EffDxRunner.run(["train", "--pipeline", path("minlr.yaml"), "--data", path("nowhere"), "--out", path("r-minlr")])
    XCTAssertTrue(r.stderr.contains("training.policy in \(path("minlr.yaml")): the policy must be"), r.stderr)
    let p = try EffDxRunner.run(["train", "--pipeline", path("minlr.yaml"), "--policy", "full", "--data", path("nowhere"), "--out", path("r-minlr")])
    XCTAssertTrue(p.stderr.contains("min_lr 5.0 (training.min_lr in \(path("minlr.yaml"))) exceeds the peak lr 0.001 (training.lr in"), p.stderr)
    try refused(["--mixup", "0.2", "--balanced"], "do not combine with mixup", status: 1)
    try refused(["--mixup", "0.2", "--policy", "head"], "--no-cache-features", status: 1)
    try refused(["--like", path("nothing.safetensors")], "--like", status: 1)
    try refused(["--val-data", path("nowhere")], "--val-data", status: 1)
    // A checkpoint that records no recipe (made by import-weights or by hand).
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 4
    try EfficientNet(c, seed: 1).save(to: path("plain.safetensors"), preprocessing: Preprocessing(resolution: 32))
    try refused(["--like", path("plain.safetensors")], "no training recipe in its metadata", status: 1)
    // A recipe in a checkpoint's metadata is checked like flags: out of range, wrong type.
    for (key, json, expected) in [("ld", #"{"layer_decay": -1}"#, "effdx.training 'layer_decay' must be in 0.01...1.0, not -1.0"),
                                  ("lr", #"{"learning_rate": 1e9}"#, "effdx.training 'lr' must be in"),
                                  ("type", #"{"layer_decay": "high"}"#, "effdx.training 'layer_decay': "),
                                  // Round nine: the key of a wrong value, and a key no recipe has.
                                  ("seed", #"{"seed": -1}"#, "effdx.training 'seed': "),
                                  ("unknown", #"{"frobnicate": 1}"#, "effdx.training has an unknown key 'frobnicate'"),
                                  ("split", #"{"val_fraction": -0.5}"#, "effdx.training 'val_fraction' must be in 0...0.9, not -0.5")] {
      try EfficientNet(c, seed: 1).save(to: path("meta-\(key).safetensors"), preprocessing: Preprocessing(resolution: 32), metadata: ["effdx.training": json])
      try refused(["--like", path("meta-\(key).safetensors")], expected, status: 1)
    }
    // A --task that contradicts the pipeline's 'task' key.
    try "name: h\ntask: histopathology\n".write(toFile: path("histo.yaml"), atomically: true, encoding: .utf8)
    try refused(["--pipeline", path("histo.yaml")], "is a histopathology pipeline (its 'task' key), not leaf-disease", status: 1)
    try refused(["--mix-switch-prob", "-0.5"], "--mix-switch-prob")
    try refused(["--mix-switch-prob", "nan"], "--mix-switch-prob")
    // Neither --task nor a pipeline that names one.
    try "name: p\nresolution: 32\n".write(toFile: path("no-task.yaml"), atomically: true, encoding: .utf8)
    for (args, expected) in [(["--pipeline", path("no-task.yaml")], "--task is required: --pipeline \(path("no-task.yaml")) has no 'task' key"),
                             ([], "--task is required (or a --pipeline file with a 'task' key)")] {
      let r = try EffDxRunner.run(["train", "--data", path("leaf/train"), "--out", path("no-task")] + args)
      XCTAssertEqual(r.status, 1, r.stderr)
      XCTAssertTrue(r.stderr.contains(expected), r.stderr)
      XCTAssertFalse(FileManager.default.fileExists(atPath: path("no-task")), "nothing written before the check")
    }
    for (name, block, expected) in [("lr", "  lr: -1\n", "p-lr.yaml:3: 'lr' must be in"), ("opt", "  optimizer: lion\n", "p-opt.yaml:3: 'optimizer' must be one of"),
                                    ("key", "  learning_rate: 0.1\n", "p-key.yaml:3"), ("ema", "  ema: 2\n", "'ema' must be in"),
                                    ("ld", "  layer_decay: nan\n", "p-ld.yaml:3: 'layer_decay'"), ("ldt", "  layer_decay: high\n", "p-ldt.yaml:3: 'layer_decay'"),
                                    ("ra", "", "'m' must be in 0...30")] {
      let file = path("p-\(name).yaml")
      let transforms = name == "ra" ? "train_transforms:\n  - rand_augment: {m: 31}\n" : ""
      try "name: p\ntraining:\n\(block.isEmpty ? "  epochs: 1\n" : block)\(transforms)".write(toFile: file, atomically: true, encoding: .utf8)
      try refused(["--pipeline", file], expected, status: 1)
    }
  }
}
