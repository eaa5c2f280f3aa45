import ArgumentParser
import DxCSV
import DxDistributed
import DxEfficientNet
import DxNN
import DxPipeline
import DxTasks
import DxTensor
import Foundation

/// Fine-tunes an EfficientNet for a task on a labelled dataset.
struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train", abstract: "Fine-tune an EfficientNet on a labelled dataset (folder per class or CSV manifest).",
    discussion: """
      The run directory gets best.safetensors, last.safetensors (+ .state for --resume), log.jsonl, the held-out test.csv \
      and test_predictions.csv (the best checkpoint on it, in diagnose's format).

      Data-parallel over MPI: `mpirun -n N effdx train ...` (Open MPI) splits every global batch of --batch-size images \
      among N processes on one or many machines and sums their gradients; rank 0 writes the run folder (Docs/Scaling.md).
      """)

  @Option(help: "The task (default: the --pipeline file's 'task' key).") var task: TaskKind?
  @Option(help: "Dataset: a folder per class, a folder with manifest.csv, or a manifest CSV (default: the pipeline's source.path).") var data: String?
  @Option(help: "Pipeline YAML (default: the task's built-in pipeline, the same as Pipelines/<task>.yaml).") var pipeline: String?
  @Option(help: "Architecture when not starting from --weights.") var arch = "efficientnet_b0"
  @Option(help: "Start from an EfficientDx checkpoint (e.g. ImageNet weights from effdx import-weights).") var weights: String?
  @Option(help: "The classifier head.") var head: HeadKind = .linear
  @Option(help: "Input resolution, 16...2048 (default: the pipeline's).") var resolution: Int?
  @Option(help: "Batch size, 1...4096 (default: the pipeline's).") var batchSize: Int?
  @Flag(help: "Weight the loss by inverse class frequency.") var balanced = false
  @Option(help: "Validation metric for the best checkpoint.") var metric: ValidationMetric = .macroF1
  @Option(help: "Random seed (split, initialisation, augmentation; default 0, or --like's).") var seed: UInt64?
  @Option(help: "Stop after this many optimisation steps (smoke runs; 1 or more).") var maxSteps: Int?
  @Option(help: "Run directory.") var out: String
  @Flag(inversion: .prefixedNo, help: "With --policy head: compute backbone features once and train the head on them (fast; the pipeline's training augmentations are then not applied).")
  var cacheFeatures = true
  @Flag(help: "Keep only each block's input and recompute its inside (convolutions too) in backward: about 25% less memory than the default, about 30% slower, same result.")
  var lowMemory = false
  @Flag(help: "Continue an interrupted run from its last complete epoch (an error when --out holds no run).") var resume = false
  @Flag(help: "Under mpirun: BatchNorm statistics over the whole global batch (every rank's images) instead of each rank's share.")
  var syncBN = false
  @Flag(help: "Print one JSON object per epoch on standard output (and a last one for the run) instead of text.") var json = false
  @OptionGroup(title: "Recipe (flags override --like, which overrides the pipeline's training: block)") var recipe: RecipeOptions
  @Option(help: "Start from the recipe, seed and split of this checkpoint's run (its effdx.training metadata); flags override it.") var like: String?
  @Option(help: "Fraction of --data held out for validation, 0...0.9 (default: the pipeline's split.validation).") var valFraction: Double?
  @Option(help: "Fraction of --data held out as the test set, 0...0.9; 0 when you keep your own test set (default: the pipeline's split.test).") var testFraction: Double?
  @Option(help: "An explicit validation set (a folder per class, a folder with manifest.csv, or a manifest); --data is then not held out for validation.") var valData: String?
  @OptionGroup var verbosity: VerbosityOptions
  @OptionGroup var compute: ComputeOptions

  func validate() throws {
    for (name, value) in [("--val-fraction", valFraction), ("--test-fraction", testFraction)] {
      if let value { guard value.isFinite, (0...0.9).contains(value) else { throw ValidationError("\(name) must be in 0...0.9, not \(value)") } }
    }
    if (valFraction ?? 0) + (testFraction ?? 0) >= 1 { throw ValidationError("--val-fraction + --test-fraction must leave images for training") }
    if valData != nil && (valFraction ?? 0) > 0 { throw ValidationError("--val-data is the validation set: leave out --val-fraction (or give 0)") }
    if let resolution { guard (16...2048).contains(resolution) else { throw ValidationError("--resolution must be in 16...2048, not \(resolution)") } }
    if let batchSize { guard (1...4096).contains(batchSize) else { throw ValidationError("--batch-size must be in 1...4096, not \(batchSize)") } }
    if let maxSteps { guard maxSteps >= 1 else { throw ValidationError("--max-steps must be at least 1, not \(maxSteps)") } }
  }

  func run() throws {
    // Launched by mpirun: join its world; every rank runs this same command.
    let world = RuntimeEnvironment.current.mpiLocalRanks == nil ? nil : try MPIWorld()
    guard let world, world.size > 1 else {
      defer { world?.finalize() }  // a run that fails leaves MPI properly too
      try train(world: nil, localRanks: 1)
      return
    }
    // Rank 0 alone prints results; every rank's warnings and errors still reach standard error.
    if world.rank != 0 { _ = freopen("/dev/null", "w", stdout) }
    do { try train(world: world, localRanks: RuntimeEnvironment.current.mpiLocalRanks ?? 1) } catch {
      // Ranks waiting in a collective for this one would wait forever: end them all.
      world.abort("\(error)")
    }
    world.finalize()
  }

  /// The recipe a checkpoint's run was trained with (`--like`).
  static func recipe(of checkpoint: String) throws -> TrainingConfig {
    let metadata: [String: String]
    do { metadata = try SafeTensorsFile(path: checkpoint).metadata } catch { throw CommandFailure("--like \(checkpoint): \(error)") }
    guard let json = metadata["effdx.training"] else { throw CommandFailure("--like \(checkpoint): no training recipe in its metadata (effdx.training); was it written by effdx train?") }
    let config: TrainingConfig
    do { config = try TrainingConfig.decode(json: json, source: "--like \(checkpoint)") } catch { throw CommandFailure("\(error)") }
    // A file's values are checked as a flag's would be (a negative layer decay or rate would train on).
    do { try config.recipe.validate { "--like \(checkpoint): effdx.training '\($0)'" } } catch { throw CommandFailure("\(error)") }
    // The split fractions too, in the flags' range (a -0.5 trained with no validation at all).
    for (key, value) in [("val_fraction", config.validationFraction), ("test_fraction", config.testFraction)] {
      if let value, !(value.isFinite && (0...0.9).contains(value)) {
        throw CommandFailure("--like \(checkpoint): effdx.training '\(key)' must be in 0...0.9, not \(value)")
      }
    }
    return config
  }

  private func train(world: MPIWorld?, localRanks: Int) throws {
    let isRoot = (world?.rank ?? 0) == 0
    try verbosity.apply(quieted: !isRoot)
    try compute.apply(sharedBy: localRanks)
    if syncBN && world == nil { Console.note("--sync-bn: training in one process, whose BatchNorm sees the whole batch anyway") }
    let loaded = try pipeline.map { try PipelineSpec.load(path: $0) }
    guard let task = task ?? loaded?.task.flatMap(TaskKind.init(rawValue:)) else {
      throw CommandFailure(pipeline.map { "--task is required: --pipeline \($0) has no 'task' key" } ?? "--task is required (or a --pipeline file with a 'task' key)")
    }
    var spec = try loaded ?? task.task.pipeline()
    if let other = spec.task, other != task.rawValue {
      throw CommandFailure("--pipeline \(pipeline ?? spec.name) is a \(other) pipeline (its 'task' key), not \(task.rawValue)")
    }
    if let resolution { spec.resolution = resolution }
    if let batchSize { spec.batchSize = batchSize }
    guard let data = data ?? spec.source.path else { throw ValidationError("--data is needed (the pipeline names no source.path)") }
    // The recipe: built-in defaults, the pipeline's training: block, --like's, then the flags.
    let liked = try like.map(Self.recipe(of:))
    var config = TrainingConfig()
    config.apply(spec.training.overridden(by: liked?.recipe ?? RecipeSpec()).overridden(by: recipe.recipe))
    try recipe.checkAgainst(config)
    // Where a merged value came from, for errors about combinations: the flag, --like's
    // checkpoint, the pipeline's training: block, or the default.
    func origin<T>(_ flag: String, _ key: String, _ value: KeyPath<RecipeSpec, T?>) -> String {
      if recipe.recipe[keyPath: value] != nil { return flag }
      if let like, liked?.recipe[keyPath: value] != nil { return "--like \(like)" }
      if spec.training[keyPath: value] != nil { return "training.\(key) in \(pipeline ?? spec.name)" }
      return "the default"
    }
    guard let policy = FineTunePolicy(config.policy) else {
      throw CommandFailure("\(origin("--policy", "policy", \.policy)): the policy must be head, last-N, full or gradual, not '\(config.policy)'")
    }
    if let m = config.minLearningRate, m > config.learningRate {
      throw CommandFailure("min_lr \(m) (\(origin("--min-lr", "min_lr", \.minLearningRate))) exceeds the peak lr \(config.learningRate) (\(origin("--lr", "lr", \.learningRate))): the schedule would climb instead of decay")
    }
    config.balancedClassWeights = balanced || (liked?.balancedClassWeights ?? false)
    if config.mixes && config.balancedClassWeights {
      let weights = balanced ? "--balanced class weights" : "balanced class weights (from --like \(like!))"
      let mixing = config.mixup > 0 ? "mixup \(config.mixup) (\(origin("--mixup", "mixup", \.mixup)))" : "CutMix \(config.cutmix) (\(origin("--cutmix", "cutmix", \.cutmix)))"
      throw CommandFailure("\(weights) do not combine with \(mixing): its targets are mixtures of two classes")
    }
    // The rest of the recipe's combinations, before any data is read.
    do { try config.validate() } catch { throw CommandFailure("\(error)") }
    let seed = self.seed ?? liked?.seed ?? 0
    config.seed = seed
    // The split: flags, else --like's, else the pipeline's.
    // A liked run that validated on its own folder recorded a fraction of 0: without that
    // folder here, the pipeline's fraction, not none at all.
    let likedFraction = liked?.validationData == nil ? liked?.validationFraction : nil
    let validationFraction = valData != nil ? 0 : valFraction ?? likedFraction ?? spec.split.validation
    let testFraction = self.testFraction ?? liked?.testFraction ?? spec.split.test
    if validationFraction + testFraction >= 1 { throw CommandFailure("the validation (\(validationFraction)) and test (\(testFraction)) fractions leave no images for training") }
    if let world, spec.batchSize < world.size {
      throw CommandFailure("--batch-size \(spec.batchSize) is smaller than the \(world.size) ranks: every rank needs at least one image of each global batch")
    }
    // Only rank 0 reads and writes the run folder (other machines need not see it).
    let holdsRun = FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent(RunFiles.state))
    if isRoot && resume && !holdsRun {
      throw CommandFailure("--resume: \(out) holds no run to resume (no last.state.safetensors); leave out --resume to start one")
    }
    if isRoot && !resume && holdsRun {
      throw CommandFailure("\(out) holds a run already: --resume continues it; remove the folder or choose another --out to start a new one")
    }
    // Files of a run's names in a folder no run of ours started (no `.lock`: a run creates it
    // first) are the user's: `--out` the data folder replaced its test.csv and log.jsonl. An
    // earlier run stopped before its first epoch ended has a `.lock`, and is started again.
    func inOut(_ name: String) -> Bool { FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent(name)) }
    if isRoot && !resume && !holdsRun && !inOut(RunFiles.lock), let foreign = RunFiles.outputs.first(where: inOut) {
      throw CommandFailure("\(out) holds \(foreign), and no run of effdx's: a new run would replace it; choose another --out")
    }
    let index = try Task.dataset(at: data, spec: spec, source: self.data != nil ? "--data" : "\(spec.name): source.path")
    var split = DatasetSplit(index, validation: validationFraction, test: testFraction, seed: spec.split.seed ^ seed, byStudy: spec.split.byStudy)
    try Task.checkValidationSplit(split, index: index, validationFraction: validationFraction, byStudy: spec.split.byStudy)
    if let valData { split.validation = try Task.validationSet(at: valData, classes: index.classes, spec: spec) }
    if index.classes.count < 2 { Console.warning("only one class (\(index.classes[0])): the model can only ever predict it, and accuracy will be 100%") }
    let model: EfficientNet
    if let weights {
      let loaded = try EfficientNet.load(from: weights)
      model = loaded.model
      // Pretrained features expect the normalisation they were trained with (checked here, so
      // a bad one names the file, not the pipeline it is copied into).
      if let problem = NormalizationRange.problem(mean: loaded.preprocessing.mean, std: loaded.preprocessing.std) {
        throw CommandFailure("--weights \(weights): metadata 'effdx.preprocessing': \(problem)")
      }
      spec.mean = loaded.preprocessing.mean
      spec.std = loaded.preprocessing.std
    } else {
      guard var c = Variants.named(arch) else { throw ValidationError("unknown --arch '\(arch)' (effdx models lists them)") }
      c.numClasses = index.classes.count
      model = try EfficientNet(c, seed: seed)
    }
    if head == .mlp || model.config.numClasses != index.classes.count || weights != nil {
      model.resetClassifier(numClasses: index.classes.count, hidden: head == .mlp ? 256 : nil, seed: seed)
    }
    config.metric = metric.rawValue
    config.head = head.rawValue
    config.maxSteps = maxSteps
    config.validationFraction = validationFraction
    config.testFraction = testFraction
    config.validationData = valData.map(DiagnosisRun.key)
    config.cacheFeatures = cacheFeatures
    config.lowMemory = lowMemory
    // What --like does not carry over (flags with defaults of their own) is said, not dropped
    // in silence: the run it copies may have trained another head, on another validation set.
    if let like, let was = liked {
      // In the flags' own words (low memory changes no result, so it goes unsaid).
      var differ: [String] = []
      if was.head != config.head { differ.append("--head \(was.head)") }
      if was.metric != config.metric { differ.append("--metric \(was.metric)") }
      if was.policy == "head" && was.cacheFeatures != config.cacheFeatures { differ.append(was.cacheFeatures ? "--cache-features" : "--no-cache-features") }
      if let folder = was.validationData, folder != config.validationData { differ.append("--val-data \(folder)") }
      if !differ.isEmpty { Console.note("--like \(like) trained with \(differ.joined(separator: " ")); give those flags to train as it did") }
    }
    if let world {
      config.ranks = world.size
      config.syncBatchNorm = syncBN
    }
    // Each rank holds its part of a global batch.
    let rankCount = world?.size ?? 1
    try MemoryCheck.check(model.config, batch: (min(spec.batchSize, split.train.count) + rankCount - 1) / rankCount, resolution: spec.resolution,
                          keepsMaps: !lowMemory && !(policy == .head && cacheFeatures), flags: "--batch-size \(spec.batchSize) at --resolution \(spec.resolution)")
    let trainer = try Trainer(model: model, spec: spec, config: config, classes: index.classes, train: split.train, validation: split.validation, runDirectory: out,
                              replicas: world)
    trainer.task = task
    trainer.dataDigest = Task.digest(split.train, classes: index.classes)
    if let killAt = RuntimeEnvironment.current.testKillAt {
      trainer.savePointHook = { epochs, point in if killAt == "\(epochs):\(point)" { kill(getpid(), SIGKILL) } }
    }
    // Absolute paths: the file is a manifest (`--labels RUN/test.csv`) wherever it is read from.
    // A resumed run keeps the one it wrote (the same split, which --resume checks).
    if !resume && isRoot {
      var testCSV = CSV.row(["path", "label", "study"])
      for item in split.test { testCSV += CSV.row([DiagnosisRun.key(item.path), index.classes[item.label], item.study ?? ""]) }
      do { try testCSV.write(toFile: (out as NSString).appendingPathComponent(RunFiles.testManifest), atomically: true, encoding: .utf8) } catch {
        throw CommandFailure("\(out)/\(RunFiles.testManifest): cannot write (\((error as NSError).localizedDescription))")
      }
    }
    if policy == .head && cacheFeatures && !spec.trainTransforms.filter(\.isRandom).isEmpty {
      Console.note("head-only training on cached features: the pipeline's random training transforms (\(spec.trainTransforms.filter(\.isRandom).map(\.name).joined(separator: ", "))) are not applied; --no-cache-features applies them at the cost of a backbone pass per image per epoch")
    }
    if split.validation.isEmpty { Console.note("no validation split (split.validation is 0): every epoch's model is the best so far, and nothing stops early") }
    let ranks = world.map { ", \($0.size) ranks of \(spec.batchSize / $0.size)-\((spec.batchSize + $0.size - 1) / $0.size) images per global batch of \(spec.batchSize)\(syncBN ? ", synchronised BatchNorm" : "")" } ?? ""
    let held = valData.map { "validation from --val-data \($0)" } ?? "\(Int((validationFraction * 100).rounded()))% held out for validation"
    let testNote = testFraction == 0 ? "no test split (your own test set)" : "\(Int((testFraction * 100).rounded()))% held out as the test set"
    Console.note("split: \(held), \(testNote)\(spec.split.byStudy ? ", whole studies together" : "")")
    let summary = "\(task.rawValue): \(split.train.count) training, \(split.validation.count) validation, \(split.test.count) test images; \(index.classes.count) classes; \(model.config.name) at \(spec.resolution) px, policy \(policy), \(model.parameterCount) parameters\(ranks)"
    if json { Console.note(summary) } else { print(summary) }
    let bar = ProgressBar()
    let logs = try trainer.run(resume: resume) { event in
      switch event {
      case .caching(let done, let total): bar.update(done: done, total: total, label: "feature cache")
      case .step(let p): bar.update(done: p.batch, total: p.batches, label: "epoch \(p.epoch)/\(p.epochs)", extra: String(format: "loss %.4f  %.1f img/s", p.loss, p.imagesPerSecond))
      case .validating(let done, let total): bar.update(done: done, total: total, label: "validation")
      case .skipped(let failures):
        bar.finish()
        for f in failures { Console.warning("skipped: \(f)") }
      case .epochEnd(let l):
        bar.finish()
        if let lone = l.skippedLoneImages {
          Console.warning("epoch \(l.epoch): \(lone) image(s) in a batch of one left out (at this resolution BatchNorm would see one value per channel)")
        }
        if json {
          print(String(decoding: (try? JSONEncoder.sortedKeys.encode(l)) ?? Data("{}".utf8), as: UTF8.self))
        } else if let accuracy = l.validationAccuracy, let f1 = l.validationMacroF1 {
          let averaged = l.validationAccuracyEMA.map { String(format: "; EMA %.1f%%, %.3f%@", 100 * $0, l.validationMacroF1EMA ?? .nan, l.bestEMA == true ? " *best*" : "") } ?? ""
          print(String(format: "epoch %d: train loss %.4f, validation accuracy %.1f%%, macro F1 %.3f%@%@ (%.0f s)", l.epoch, l.trainLoss, 100 * accuracy, f1, l.best ? " *best*" : "", averaged, l.seconds))
        } else {
          print(String(format: "epoch %d: train loss %.4f, no validation split (%.0f s)", l.epoch, l.trainLoss, l.seconds))
        }
        fflush(stdout)
      }
    }
    bar.finish()
    guard !logs.isEmpty || resume else { throw CommandFailure("no epoch ran (--max-steps reached before the first epoch ended?): no checkpoint was written") }
    guard isRoot else { return }
    let (tested, testFailures) = split.test.isEmpty ? (0, []) : try trainer.writeTestPredictions(split.test)
    for f in testFailures { Console.warning("test image skipped: \(f)") }
    if trainer.hasBestEMA && !split.test.isEmpty { _ = try trainer.writeTestPredictions(split.test, averaged: true) }
    let files = [RunFiles.best] + (trainer.hasBestEMA ? [RunFiles.bestEMA] : []) + [RunFiles.last, RunFiles.log, RunFiles.testManifest]
      + (split.test.isEmpty ? [] : [RunFiles.testPredictions] + (trainer.hasBestEMA ? [RunFiles.testPredictionsEMA] : []))
    if json {
      let done = RunSummary(out: out, files: files, epochs: logs.count, testPredictions: split.test.isEmpty ? nil : tested)
      print(String(decoding: try JSONEncoder.sortedKeys.encode(done), as: UTF8.self))
    } else {
      print("wrote \(out)/\(files.joined(separator: ", "))\(split.test.isEmpty ? "" : " (\(tested) of \(split.test.count) test images diagnosed; effdx evaluate --predictions \(out)/test_predictions.csv)")")
    }
  }

  struct RunSummary: Encodable {
    var out: String, files: [String], epochs: Int
    var testPredictions: Int?
    enum CodingKeys: String, CodingKey { case out, files, epochs, testPredictions = "test_predictions" }
  }
}

/// The classifier on top of the backbone.
enum HeadKind: String, ExpressibleByArgument, CaseIterable {
  case linear, mlp
}

/// What "best" means on the validation split.
enum ValidationMetric: String, ExpressibleByArgument, CaseIterable {
  case macroF1 = "macro_f1", accuracy
}

extension TaskKind: ExpressibleByArgument {}
