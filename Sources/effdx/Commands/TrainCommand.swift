import ArgumentParser
import DxEfficientNet
import DxNN
import DxPipeline
import DxTasks
import Foundation

/// Fine-tunes an EfficientNet for a task on a labelled dataset.
struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train", abstract: "Fine-tune an EfficientNet on a labelled dataset (folder per class or CSV manifest).",
    discussion: "The run directory gets best.safetensors, last.safetensors (+ .state for --resume), log.jsonl and the held-out test.csv.")

  @Option(help: "leaf-disease or histopathology.") var task: String
  @Option(help: "Dataset: a folder per class, a folder with manifest.csv, or a manifest CSV.") var data: String
  @Option(help: "Pipeline YAML (default: the task's file under Pipelines/).") var pipeline: String?
  @Option(help: "Architecture when not starting from --weights.") var arch = "efficientnet_b0"
  @Option(help: "Start from an EfficientDx checkpoint (e.g. ImageNet weights from effdx import-weights).") var weights: String?
  @Option(help: "head, last-N, full or gradual.") var policy = "full"
  @Option(help: "linear or mlp.") var head = "linear"
  @Option(help: "Epochs.") var epochs = 10
  @Option(help: "Peak learning rate of the head (AdamW).") var lr = 1e-3
  @Option(help: "Backbone learning rate as a fraction of --lr.") var backboneLRScale = 0.1
  @Option(help: "Input resolution (default: the pipeline's).") var resolution: Int?
  @Option(help: "Batch size (default: the pipeline's).") var batchSize: Int?
  @Flag(help: "Weight the loss by inverse class frequency.") var balanced = false
  @Option(help: "Early stopping: epochs without improvement.") var patience = 5
  @Option(help: "Validation metric for the best checkpoint: macro_f1 or accuracy.") var metric = "macro_f1"
  @Option(help: "Random seed (split, initialisation, augmentation).") var seed: UInt64 = 0
  @Option(help: "Stop after this many optimisation steps (smoke runs).") var maxSteps: Int?
  @Option(help: "Run directory.") var out: String
  @Flag(inversion: .prefixedNo, help: "With --policy head: compute backbone features once and train the head on them (fast; the pipeline's training augmentations are then not applied).")
  var cacheFeatures = true
  @Flag(help: "Keep only each block's input and recompute its inside (convolutions too) in backward: about 25% less memory than the default, about 30% slower, same result.")
  var lowMemory = false
  @Flag(help: "Continue an interrupted run from its last complete epoch.") var resume = false
  @OptionGroup var compute: ComputeOptions

  func validate() throws {
    guard TaskKind(rawValue: task) != nil else { throw ValidationError("--task must be leaf-disease or histopathology") }
    guard FineTunePolicy(policy) != nil else { throw ValidationError("--policy must be head, last-N, full or gradual") }
    guard ["linear", "mlp"].contains(head) else { throw ValidationError("--head must be linear or mlp") }
    guard ["macro_f1", "accuracy"].contains(metric) else { throw ValidationError("--metric must be macro_f1 or accuracy") }
    guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
  }

  func run() throws {
    try compute.apply()
    let kind = TaskKind(rawValue: task)!
    var spec = try pipeline.map { try PipelineSpec.load(path: $0) } ?? kind.defaultPipeline()
    if let resolution { spec.resolution = resolution }
    if let batchSize { spec.batchSize = batchSize }
    let index = try TaskKind.index(data: data, spec: spec)
    let split = DatasetSplit(index, validation: spec.split.validation, test: spec.split.test, seed: spec.split.seed ^ seed, byStudy: spec.split.byStudy)
    let model: EfficientNet
    if let weights {
      let loaded = try EfficientNet.load(from: weights)
      model = loaded.model
      // Pretrained features expect the normalisation they were trained with.
      spec.mean = loaded.preprocessing.mean
      spec.std = loaded.preprocessing.std
    } else {
      guard var c = Variants.named(arch) else { throw ValidationError("unknown --arch '\(arch)'") }
      c.numClasses = index.classes.count
      model = try EfficientNet(c, seed: seed)
    }
    if head == "mlp" || model.config.numClasses != index.classes.count || weights != nil {
      model.resetClassifier(numClasses: index.classes.count, hidden: head == "mlp" ? 256 : nil, seed: seed)
    }
    var config = TrainingConfig()
    config.epochs = epochs
    config.learningRate = lr
    config.backboneLRScale = backboneLRScale
    config.balancedClassWeights = balanced
    config.patience = patience
    config.metric = metric
    config.policy = policy
    config.head = head
    config.seed = seed
    config.maxSteps = maxSteps
    config.cacheFeatures = cacheFeatures
    config.lowMemory = lowMemory
    let trainer = try Trainer(model: model, spec: spec, config: config, classes: index.classes, train: split.train, validation: split.validation, runDirectory: out)
    trainer.metadata = ["task": task, "arch": model.config.name]
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    var testCSV = "path,label,study\n"
    for item in split.test { testCSV += "\(item.path),\(index.classes[item.label]),\(item.study ?? "")\n" }
    try testCSV.write(toFile: (out as NSString).appendingPathComponent("test.csv"), atomically: true, encoding: .utf8)
    if policy == "head" && cacheFeatures && !spec.trainTransforms.filter(\.isRandom).isEmpty {
      print("note: head-only training on cached features: the pipeline's random training transforms (\(spec.trainTransforms.filter(\.isRandom).map(\.name).joined(separator: ", "))) are not applied; --no-cache-features applies them at the cost of a backbone pass per image per epoch")
    }
    print("\(task): \(split.train.count) training, \(split.validation.count) validation, \(split.test.count) test images; \(index.classes.count) classes; \(model.config.name) at \(spec.resolution) px, policy \(policy), \(model.parameterCount) parameters")
    let bar = ProgressBar()
    let logs = try trainer.run(resume: resume) { p in
      bar.update(done: p.batch, total: p.batches, label: "epoch \(p.epoch)/\(p.epochs)", extra: String(format: "loss %.4f  %.1f img/s", p.loss, p.imagesPerSecond))
    }
    bar.finish()
    for l in logs {
      print(String(format: "epoch %d: train loss %.4f, validation accuracy %.1f%%, macro F1 %.3f%@ (%.0f s)", l.epoch, l.trainLoss, 100 * l.validationAccuracy, l.validationMacroF1, l.best ? " *best*" : "", l.seconds))
    }
    print("wrote \(out)/best.safetensors, last.safetensors, log.jsonl, test.csv")
  }
}

/// A one-line progress bar on standard error (plain lines when it is not a terminal).
final class ProgressBar {
  let start = Date()
  var last = Date.distantPast
  let interactive = isatty(STDERR_FILENO) != 0

  func update(done: Int, total: Int, label: String, extra: String = "") {
    guard Date().timeIntervalSince(last) > (interactive ? 0.2 : 5) || done == total else { return }
    last = Date()
    let width = 24, filled = total == 0 ? width : min(width, width * done / max(total, 1))
    let elapsed = Date().timeIntervalSince(start)
    let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
    let line = "\(label) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(done)/\(total) \(extra) ETA \(Int(eta)) s"
    FileHandle.standardError.write(Data((interactive ? "\r\u{1B}[K" + line : line + "\n").utf8))
  }

  func finish() { if interactive { FileHandle.standardError.write(Data("\n".utf8)) } }
}
