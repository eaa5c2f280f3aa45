import DxCSV
import DxEfficientNet
import DxEval
import DxImaging
import DxNN
import DxPipeline
import DxTensor
import Foundation

/// Fine-tunes an EfficientNet on a labelled split and keeps a run directory:
///
///     last.safetensors        the model after the latest complete epoch (atomic)
///     last.state.safetensors  that model again, with optimizer state and progress: one atomic
///                             file is all --resume reads, so a kill between two writes never
///                             pairs the weights of one epoch with the optimizer of another
///     best.safetensors        the model with the best validation metric
///     log.jsonl               one line per epoch
///     test_predictions.csv    the best model on the held-out test split, in `diagnose`'s
///                             format and computed by the same `Predictor` (when there is one)
///
/// Every random choice is a function of (seed, epoch, step or sample), and the optimizer state is
/// saved exactly, so a run killed and resumed ends with the same weights as one that never
/// stopped.
public final class Trainer {
  public let model: EfficientNet
  public let spec: PipelineSpec
  public let config: TrainingConfig
  public let classes: [String]
  public let train: [DatasetIndex.Item]
  public let validation: [DatasetIndex.Item]
  public let runDirectory: String
  /// The task checkpoints name (nil: none).
  public var task: TaskKind?
  /// The one evaluation transform: validation here, `diagnose` later (recorded in every checkpoint).
  public let evaluation: EvaluationTransform
  /// Called at each named point of an epoch's save (`after-best`, `after-log`, `after-state`,
  /// `after-last`) with the epochs done: crash tests kill the process there.
  public var savePointHook: ((_ epochsDone: Int, _ point: String) -> Void)?
  /// SHA-256 of the sorted training list (paths and labels), recorded in checkpoints.
  public var dataDigest: String?
  /// The ranks of a data-parallel run (`mpirun -n N effdx train`, see Trainer+DataParallel);
  /// nil: this process trains alone. Only rank 0 writes the run folder.
  public let replicas: ReplicaGroup?

  let policy: FineTunePolicy
  let optimizer: Optimizer
  /// The moving average of the weights (`--ema`), validated and saved beside the model.
  let ema: ExponentialMovingAverage?
  var epochsDone = 0, steps = 0, bestMetric = -Double.infinity, badEpochs = 0
  var bestEMAMetric = -Double.infinity
  /// Whether `best_ema.safetensors` in the run directory is this run's.
  var bestEMAWritten = false
  private var reportedFailures = Set<String>()
  /// The run folder's lock, held while this trainer exists.
  private var lockFD: Int32 = -1
  /// Whether `best.safetensors` in the run directory is this run's.
  var bestWritten = false

  public struct Progress: Sendable {
    public var epoch: Int, epochs: Int, batch: Int, batches: Int
    public var loss: Double, imagesPerSecond: Double
  }

  /// What a run reports as it goes, in order, so a console shows each epoch when it ends.
  public enum Event {
    /// The head-only feature cache: images done of total.
    case caching(done: Int, total: Int)
    case step(Progress)
    /// Validation of an epoch: images done of total.
    case validating(done: Int, total: Int)
    /// Files that could not be read (left out of their batch, counted in the epoch's log).
    case skipped([ImageError])
    case epochEnd(EpochLog)
  }

  public init(model: EfficientNet, spec: PipelineSpec, config: TrainingConfig, classes: [String], train: [DatasetIndex.Item], validation: [DatasetIndex.Item], runDirectory: String,
              replicas: ReplicaGroup? = nil) throws {
    guard let policy = FineTunePolicy(config.policy) else { throw TaskError.invalid("unknown policy '\(config.policy)' (head, last-N, full, gradual)") }
    guard !train.isEmpty else { throw TaskError.invalid("no training images") }
    try config.validate()
    if config.mixes && policy == .head && config.cacheFeatures {
      throw TaskError.invalid("mixup and CutMix mix images, and the head-only policy trains on cached features: add --no-cache-features, or leave out --mixup/--cutmix")
    }
    // Training BatchNorm takes each channel's statistics over the batch's pixels: a whole batch
    // of one value per channel cannot be normalised (PyTorch refuses it too).
    let side = model.config.featureMapSide(resolution: spec.resolution)
    if policy != .head && spec.batchSize * side * side < 2 {
      throw TaskError.invalid(
        "--batch-size \(spec.batchSize) at --resolution \(spec.resolution): the last feature map is \(side) x \(side), so BatchNorm would see one value per channel; use --batch-size 2 or more, or a resolution above 32")
    }
    if let rate = config.dropout { model.setDropRate(Float(rate), seed: config.seed) }
    if let rate = config.dropPath { model.setDropPathRate(Float(rate), seed: config.seed) }
    self.evaluation = try EvaluationTransform(spec: spec)
    self.model = model
    self.spec = spec
    self.config = config
    self.classes = classes
    self.train = train
    self.validation = validation
    self.runDirectory = runDirectory
    self.policy = policy
    self.replicas = replicas
    optimizer = config.makeOptimizer()
    ema = config.ema.map { ExponentialMovingAverage(model, decay: Float($0)) }
    if let replicas, replicas.size > 1 {
      guard config.ranks == replicas.size else { throw TaskError.invalid("the training config says \(config.ranks ?? 1) ranks, but \(replicas.size) run") }
      guard replicas.rank == 0 else { return }  // only rank 0 touches the run folder
    }
    do { try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true) } catch {
      throw TaskError.invalid("--out \(runDirectory): cannot create the run folder (\((error as NSError).localizedDescription))")
    }
    // One trainer per folder at a time, for its whole life: a second `train` on the same --out
    // would interleave its checkpoints, log and test files with this one's.
    let lockPath = (runDirectory as NSString).appendingPathComponent(RunFiles.lock)
    lockFD = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard lockFD >= 0 else { throw TaskError.invalid("\(lockPath): cannot open (\(String(cString: strerror(errno))))") }
    guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
      close(lockFD)
      lockFD = -1
      throw TaskError.invalid("\(runDirectory) is in use by another effdx train (locked); wait for it or choose another --out")
    }
    // A run file that is a FIFO, a folder or a device would block the run, or fail it, after an
    // epoch's work (a FIFO log.jsonl waited for a reader forever after the epoch trained).
    for name in [RunFiles.state] + RunFiles.outputs {
      let path = (runDirectory as NSString).appendingPathComponent(name)
      // A link's writes land where it points (a resumed run appended its log to another file).
      if (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil {
        throw TaskError.invalid("\(path) is a symbolic link; a run folder holds only its own files: remove it or choose another --out")
      }
      guard FileManager.default.fileExists(atPath: path), let why = InputFile.problem(path, maxBytes: .max) else { continue }
      throw TaskError.invalid("\(path): \(why); a run folder holds only its own files: remove it or choose another --out")
    }
  }

  deinit { if lockFD >= 0 { close(lockFD) } }

  var lastPath: String { (runDirectory as NSString).appendingPathComponent(RunFiles.last) }
  var statePath: String { (runDirectory as NSString).appendingPathComponent(RunFiles.state) }
  var bestPath: String { (runDirectory as NSString).appendingPathComponent(RunFiles.best) }
  var bestEMAPath: String { (runDirectory as NSString).appendingPathComponent(RunFiles.bestEMA) }
  var logPath: String { (runDirectory as NSString).appendingPathComponent(RunFiles.log) }
  public var testPredictionsPath: String { (runDirectory as NSString).appendingPathComponent(RunFiles.testPredictions) }
  public var testPredictionsEMAPath: String { (runDirectory as NSString).appendingPathComponent(RunFiles.testPredictionsEMA) }
  /// Whether this run saved a best moving average.
  public var hasBestEMA: Bool { bestEMAWritten }

  var stepsPerEpoch: Int { (train.count + spec.batchSize - 1) / spec.batchSize }

  /// Learning rate at global step `step`: linear warmup from a tenth of the peak, then the
  /// schedule (cosine to `min_lr`, 1% of the peak by default).
  func learningRate(at step: Int) -> Double {
    let shape: LearningRateSchedule.Shape
    switch config.schedule {
    case .cosine: shape = .cosine(totalSteps: max(1, (config.epochs - config.warmupEpochs) * stepsPerEpoch), minLR: config.minLearningRate ?? config.learningRate / 100)
    case .step: shape = .step(every: (config.decayEpochs ?? max(1, config.epochs / 3)) * stepsPerEpoch, gamma: config.decayRate)
    case .constant: shape = .constant
    }
    return LearningRateSchedule(baseLR: config.learningRate, shape: shape, warmupSteps: config.warmupEpochs * stepsPerEpoch, warmupStartLR: config.learningRate / 10).lr(at: step)
  }

  /// Each parameter's share of the step's learning rate: the classifier's is 1, the backbone's
  /// `backboneLRScale`, times timm's layer-wise decay when the recipe has one.
  func lrScale(_ name: String) -> Float {
    if name.hasPrefix("classifier.") { return 1 }
    return Float(config.backboneLRScale * (layerDecay?.scale(name) ?? 1))
  }

  /// `config.layerDecay` over this model's layers (nil: none).
  private(set) lazy var layerDecay: LayerDecay? = config.layerDecay.map { LayerDecay(decay: $0, parameterNames: model.namedParameters().map(\.name)) }

  /// The loss, with inverse-frequency class weights when asked.
  func loss() -> SoftmaxCrossEntropy {
    guard config.balancedClassWeights else { return SoftmaxCrossEntropy(labelSmoothing: Float(config.labelSmoothing)) }
    var counts = [Double](repeating: 0, count: classes.count)
    for item in train { counts[item.label] += 1 }
    let weights = counts.map { Float($0 == 0 ? 0 : Double(train.count) / (Double(classes.count) * $0)) }
    return SoftmaxCrossEntropy(labelSmoothing: Float(config.labelSmoothing), classWeights: weights)
  }

  /// Trains to the end (or to early stopping, or `maxSteps`); with `resume`, continues from the
  /// last complete epoch in the run directory.
  @discardableResult
  public func run(resume: Bool = false, events: (Event) -> Void = { _ in }) throws -> [EpochLog] {
    if isRoot {
      if resume { try restore() } else { try? FileManager.default.removeItem(atPath: logPath) }
    }
    try startReplicas()
    func progress(_ p: Progress) { if isRoot { events(.step(p)) } }
    model.recomputation = config.lowMemory ? .all : .elementwise
    var logs: [EpochLog] = []
    let lossFunction = loss()
    let mixing = config.mixes ? BatchMixing(config, classes: classes.count) : nil
    let params = model.namedParameters()
    var features: FeatureCache? = nil
    if policy == .head && config.cacheFeatures {
      features = try FeatureCache(model: model, spec: spec, evaluation: evaluation, train: train, validation: validation) { events(.caching(done: $0, total: $1)) }
      if let f = features, isRoot { report(f.failures, events) }
    }
    while epochsDone < config.epochs && badEpochs < config.patience {
      if let max = config.maxSteps, steps >= max { break }
      let epoch = epochsDone
      policy.apply(to: model, epoch: epoch)
      let start = Date()
      var total = 0.0, seen = 0, skipped = 0, batchIndex = 0, emptyShares = 0, loneImages = 0
      let mapSide = model.config.featureMapSide(resolution: spec.resolution)
      var timing = ExchangeTiming()
      /// One optimisation step on this rank's rows of a global batch.
      func step(_ share: StepShare, labels: [Int], input: Tensor, forward: (Tensor) -> Tensor, backward: (Tensor) -> Void) throws {
        if share.someRankEmpty {
          // Every rank skips alike (a rank with no image cannot take part in the step).
          emptyShares += share.globalCount
          return
        }
        if policy != .head && share.globalCount * mapSide * mapSide < 2 {
          // A last batch of one image (or one left by unreadable files) at a 1 x 1 last map:
          // BatchNorm has one value per channel. Left out, as PyTorch's drop_last would.
          loneImages += share.globalCount
          return
        }
        model.zeroGradients()
        model.reseedStochasticLayers(stepSeed(epoch), firstSample: share.firstSample)
        let partial: Double, grad: Tensor
        if let mixing {
          var images = input
          var rng = SeededGenerator(seed: stepSeed(epoch) ^ 0x6D69_7875_7063_7574)  // the step's draw, alike on every rank
          let targets = mixing.mix(&images, labels: labels, draw: mixing.draw(height: input.shape[1], width: input.shape[2], using: &rng))
          (partial, grad) = lossFunction(logits: forward(images), targets: targets, normalizer: Double(share.globalCount))
        } else {
          (partial, grad) = lossFunction(logits: forward(input), labels: labels, normalizer: share.globalWeight)
        }
        backward(grad)
        let l = try sumGradients(params, loss: partial, timing: &timing)
        clipGradientNorm(params, maxNorm: Float(config.gradientClip))
        optimizer.step(params, lr: Float(learningRate(at: steps)), lrScale: lrScale)
        steps += 1
        ema?.update(model, step: steps)
        total += l * Double(share.globalCount)
        seen += share.globalCount
        batchIndex += 1
        progress(Progress(epoch: epoch + 1, epochs: config.epochs, batch: batchIndex, batches: stepsPerEpoch, loss: total / Double(max(seen, 1)),
                          imagesPerSecond: Double(seen) / max(Date().timeIntervalSince(start), 1e-3)))
      }
      if let features {
        for (x, labels) in features.trainBatches(epoch: epoch, batchSize: spec.batchSize, seed: config.seed) {
          if let max = config.maxSteps, steps >= max { break }
          // Every rank holds every cached feature: its part of the batch needs no exchange.
          let part = BatchLoader.part(rank, of: rankCount, in: labels.count)
          let local = Array(labels[part])
          let share = StepShare(globalCount: labels.count, firstSample: part.lowerBound, globalWeight: lossFunction.weightSum(labels),
                                someRankEmpty: labels.count < rankCount)
          try step(share, labels: local, input: features.rows(x, Array(part)), forward: { model.classify(pooled: $0, mode: .training) }) { _ = model.backwardClassify($0) }
        }
      } else {
        for batch in BatchLoader(items: train, spec: spec, training: true, seed: config.seed, epoch: epoch, share: parallel.map { ($0.rank, $0.size) }) {
          let share = try agreeOnStep(localLabels: batch.labels, failures: batch.failures, loss: lossFunction) { failures in
            skipped += failures.count
            report(failures, events)
          }
          if share.globalCount == 0 { continue }
          if let max = config.maxSteps, steps >= max { break }
          try step(share, labels: batch.labels, input: batch.images, forward: { model.forward($0, mode: .training) }) { model.backwardParameters($0) }
        }
      }
      guard seen > 0 || (config.maxSteps.map { steps >= $0 } ?? false) else {
        if loneImages > 0 && skipped == 0 {
          // Every batch was a lone image at a 1 x 1 last map (it was "not one training image could
          // be read (0 failed)" of a readable image).
          throw TaskError.invalid("epoch \(epoch + 1): every batch held one image at a 1 x 1 last map, where BatchNorm cannot train (\(loneImages) left out); give at least 2 training images, a higher resolution, or --policy head")
        }
        throw TaskError.invalid("epoch \(epoch + 1): not one training image could be read (\(skipped) failed); nothing was trained")
      }
      try synchroniseEpochEnd()
      try checkFinite(epoch: epoch)
      let (accuracy, macroF1) = try evaluate(features, progress: { if isRoot { events(.validating(done: $0, total: $1)) } }, failures: { report($0, events) })
      let metric = config.metric == "accuracy" ? accuracy : macroF1
      // Without a validation split the latest epoch is the best one, and nothing stops early.
      let improved = validation.isEmpty || metric > bestMetric
      if improved { bestMetric = metric }
      let averaged = try evaluateEMA(features, failures: { report($0, events) })
      let improvedEMA = averaged.map { validation.isEmpty || $0.metric > bestEMAMetric } ?? false
      if let averaged, improvedEMA { bestEMAMetric = averaged.metric }
      // Patience runs out only when neither the model nor its average improves.
      if improved || improvedEMA { badEpochs = 0 } else { badEpochs += 1 }
      epochsDone += 1
      let seconds = Date().timeIntervalSince(start)
      var log = EpochLog(epoch: epochsDone, steps: steps, trainLoss: total / Double(max(seen, 1)), validationAccuracy: accuracy.isNaN ? nil : accuracy, validationMacroF1: macroF1.isNaN ? nil : macroF1,
                         learningRate: learningRate(at: max(0, steps - 1)), seconds: seconds, imagesPerSecond: Double(seen) / max(seconds, 1e-3), best: improved, skippedFiles: skipped)
      if loneImages > 0 { log.skippedLoneImages = loneImages }
      if epochsDone == 1 { log.recipe = (try? JSONEncoder.sortedKeys.encode(config)).map { String(decoding: $0, as: UTF8.self) } }
      if let averaged {
        log.validationAccuracyEMA = averaged.accuracy.isNaN ? nil : averaged.accuracy
        log.validationMacroF1EMA = averaged.macroF1.isNaN ? nil : averaged.macroF1
        log.bestEMA = improvedEMA
      }
      if let group = parallel {
        log.ranks = group.size
        log.skippedInEmptyShares = emptyShares
        log.allreduceBytesPerStep = timing.steps > 0 ? timing.bytes / timing.steps : 0
        log.allreduceSecondsPerStep = timing.steps > 0 ? timing.seconds / Double(timing.steps) : 0
      }
      logs.append(log)
      try onRoot("save epoch \(epochsDone)") { try save(log: log, best: improved, bestEMA: improvedEMA) }
      if isRoot { events(.epochEnd(log)) }
    }
    return logs
  }

  /// A diverged run (a learning rate too high, an extreme normalization) holds NaN or infinite
  /// weights from then on: it stops before this epoch's files replace the last good ones,
  /// rather than exit 0 with checkpoints `diagnose` refuses. Every rank holds the same weights
  /// here (after `synchroniseEpochEnd`), so every rank stops alike.
  func checkFinite(epoch: Int) throws {
    for (name, p) in model.namedParameters() where !p.value.scalars.allSatisfy(\.isFinite) {
      throw TaskError.invalid("epoch \(epoch + 1): '\(name)' holds NaN or infinite values: the run diverged (a learning rate too high?); \(runDirectory) keeps the files of epoch \(epochsDone)")
    }
    for (name, t) in (ema?.shadow ?? [:]).sorted(by: { $0.key < $1.key }) where !t.scalars.allSatisfy(\.isFinite) {
      throw TaskError.invalid("epoch \(epoch + 1): the moving average's '\(name)' holds NaN or infinite values; \(runDirectory) keeps the files of epoch \(epochsDone)")
    }
  }

  /// The best checkpoint on the held-out test items, written as `diagnose` writes predictions
  /// (same `Predictor`, same columns), so `effdx evaluate` reads it and `diagnose` on the same
  /// files gives the same probabilities.
  /// Returns the rows written and the test images that could not be read.
  /// `averaged`: the best moving average's (`best_ema.safetensors`) into
  /// `test_predictions_ema.csv`.
  public func writeTestPredictions(_ test: [DatasetIndex.Item], batchSize: Int = 16, averaged: Bool = false) throws -> (written: Int, failures: [ImageError]) {
    // This run's best (a best.safetensors left by an earlier run in the folder is not it).
    let checkpoint = try TaskCheckpoint.load(averaged ? bestEMAPath : bestWritten ? bestPath : lastPath)
    let destination = averaged ? testPredictionsEMAPath : testPredictionsPath
    let predictor = Predictor(checkpoint)
    let format = PredictionsFormat(classes: classes)
    var text = CSV.row(format.header)
    var written = 0, failures: [ImageError] = []
    // Prepared as diagnose prepares photos: one prefetcher, one classification path.
    let evaluation = predictor.evaluation
    let paths = test.map(\.path)
    for batch in BatchPrefetcher(count: test.count, batchSize: batchSize, workers: spec.workers, sharing: .nextFree, prepare: { i, _ in try evaluation.prepare(path: paths[i]) }) {
      for (item, outcome) in zip(test[batch.items], predictor.classify(batch, source: { paths[$0] })) {
        switch outcome {
        case .probabilities(let p):
          text += CSV.row(format.row(path: item.path, study: item.study ?? "", label: classes[item.label], probabilities: p))
          written += 1
        case .failed(let e): failures.append(e)
        }
      }
    }
    do { try text.write(toFile: destination, atomically: true, encoding: .utf8) } catch {
      throw TaskError.invalid("\(destination): cannot write (\((error as NSError).localizedDescription))")
    }
    return (written, failures)
  }

  func stepSeed(_ epoch: Int) -> UInt64 { config.seed ^ (UInt64(epoch) << 40) ^ (UInt64(steps) &* 0x9E37_79B9_7F4A_7C15) }

  /// Validation accuracy and macro F1 (scikit-learn's definitions, via DxEval).
  /// Reports files that could not be read, each once per run (not again every epoch).
  func report(_ failures: [ImageError], _ events: (Event) -> Void) {
    let new = failures.filter { reportedFailures.insert("\($0)").inserted }
    if !new.isEmpty { events(.skipped(new)) }
  }

  func evaluate(_ features: FeatureCache?, progress: (Int, Int) -> Void, failures: ([ImageError]) -> Void) throws -> (Double, Double) {
    guard !validation.isEmpty else { return (.nan, .nan) }
    var truth: [Int32] = [], predicted: [Int32] = []
    // Each rank validates its part of the validation list (all of it with cached features).
    let mine = features == nil ? Array(validation[BatchLoader.part(rank, of: rankCount, in: validation.count)]) : validation
    func collect(_ logits: Tensor, _ labels: [Int]) {
      let k = logits.shape[1]
      for (row, label) in labels.enumerated() {
        let r = Array(logits.scalars[(row * k)..<((row + 1) * k)])
        predicted.append(Int32(r.indices.max { r[$0] < r[$1] }!))
        truth.append(Int32(label))
      }
    }
    if let features {
      for (x, labels) in features.validationBatches(batchSize: spec.batchSize) { collect(model.classify(pooled: x, mode: .inference), labels) }
    } else {
      let folded = FoldedEfficientNet(model)  // this epoch's weights
      var done = 0
      var failed: [ImageError] = []
      for batch in BatchLoader(items: mine, spec: spec, training: false, seed: config.seed, evaluation: evaluation) {
        failed += batch.failures
        if !batch.labels.isEmpty { collect(folded.forward(batch.images), batch.labels) }
        done += batch.labels.count + batch.failures.count
        progress(done, mine.count)
      }
      if let group = parallel {
        var count = [Double(failed.count)]
        try group.sum(&count)
        if count[0] > 0, let all = try gatherFailures(failed, group: group) { failures(all) }
      } else {
        failures(failed)
      }
    }
    let m = try summedLabelMetrics(truth: truth, predicted: predicted, acrossRanks: features == nil)
    return (m.accuracy, m.macro.f1)
  }
}
