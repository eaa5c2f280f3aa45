import DxEfficientNet
import DxNN
import Foundation

/// The run directory's files: an epoch saved so that a kill between any two writes resumes
/// correctly, and `--resume` reading it back (the same run only).
extension Trainer {
  /// The checkpoint of the model as it is now.
  func checkpoint() -> TaskCheckpoint {
    TaskCheckpoint(model: model, classes: classes, task: task, evaluation: evaluation, training: config, pipelineName: spec.name, dataDigest: dataDigest)
  }

  /// Saves an epoch so that a kill between any two writes resumes correctly: best (when
  /// improved), then the log line, then the resume state (model + optimizer + progress, one
  /// atomic file: the commit point), then last. `restore` trusts only the state file, cuts the
  /// log back to its epochs and rewrites `last`; a replayed epoch recomputes the same values.
  func save(log: EpochLog, best: Bool, bestEMA: Bool = false) throws {
    if best {
      try checkpoint().save(to: bestPath)
      bestWritten = true
    }
    if bestEMA, let ema {
      try withWeights(ema.shadow) { try checkpoint().save(to: bestEMAPath) }
      bestEMAWritten = true
    }
    crashForTesting("after-best")
    let line = String(decoding: try JSONEncoder().encode(log), as: UTF8.self) + "\n"
    if let handle = FileHandle(forWritingAtPath: logPath) {
      defer { try? handle.close() }
      let start = try handle.seekToEnd()
      do { try handle.write(contentsOf: Data(line.utf8)) } catch {
        // A full disk: cut the half line back off, so the log holds whole epochs only.
        try? handle.truncate(atOffset: start)
        throw TaskError.invalid("\(logPath): cannot write (\((error as NSError).localizedDescription)); the log is kept as it was before this epoch")
      }
    } else {
      try line.write(toFile: logPath, atomically: true, encoding: .utf8)
    }
    crashForTesting("after-log")
    let state = trainingState()
    var stateMeta = ["best_metric": "\(bestMetric)", "epochs_done": "\(epochsDone)", "steps": "\(steps)", "bad_epochs": "\(badEpochs)", "best_ema_metric": "\(bestEMAMetric)"]
    stateMeta["effdx.training"] = try String(decoding: JSONEncoder.sortedKeys.encode(config), as: UTF8.self)
    stateMeta["effdx.data_digest"] = dataDigest
    for (key, value) in pipelineSettings { stateMeta["effdx.run." + key] = value }
    try SafeTensorsWriter.write(state, metadata: stateMeta, to: statePath)
    crashForTesting("after-state")
    try checkpoint().save(to: lastPath)
    crashForTesting("after-last")
  }

  func crashForTesting(_ point: String) { savePointHook?(epochsDone, point) }

  /// Refuses a checkpoint in the run folder that this run did not write: other classes,
  /// another network or other data, read from its metadata alone (no network is built).
  func checkOwnCheckpoint(_ path: String) throws {
    let meta: [String: String]
    do { meta = try SafeTensorsFile(path: path).metadata } catch { throw TaskError.invalid("--resume: \(path) cannot be read (\(error)); remove it to resume without it") }
    let theirClasses = meta["classes"].flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }
    let theirNetwork = meta["effdx.config"].flatMap { try? JSONDecoder().decode(EfficientNetConfig.self, from: Data($0.utf8)) }
    let differs = theirClasses != classes ? "classes \(theirClasses.map { "\($0)" } ?? "unreadable") against \(classes)"
      : theirNetwork != model.config ? "another network (\(theirNetwork?.name ?? "unreadable"))"
      : meta["effdx.data_digest"] != dataDigest ? "other training data" : nil
    if let differs { throw TaskError.invalid("--resume: \(path) is not this run's (\(differs)); remove it, or start a new run in another folder") }
  }

  /// A resumed run must be the interrupted one: the same recipe (only `max_steps` may change)
  /// and the same training data, or its result would match neither.
  func checkSameRun(_ meta: [String: String]) throws {
    // Every key the state is written with: one deleted skipped its check (another recipe or
    // other data resumed without a word).
    let required = ["effdx.training"] + (dataDigest == nil ? [] : ["effdx.data_digest"]) + pipelineSettings.keys.sorted().map { "effdx.run." + $0 }
    if let missing = required.first(where: { meta[$0] == nil }) {
      throw TaskError.invalid("\(statePath): metadata '\(missing)' is missing: the file is damaged (or written by an effdx of before 2026-12-07), and --resume cannot check that it continues the same run; start the run again")
    }
    if let json = meta["effdx.training"] {
      guard let saved = try? JSONDecoder().decode(TrainingConfig.self, from: Data(json.utf8)) else {
        throw TaskError.invalid("\(statePath): metadata 'effdx.training' is unreadable: cannot check that --resume continues the same run")
      }
      var was = saved, now = config
      was.maxSteps = nil
      now.maxSteps = nil
      if was != now {
        let a = (try? JSONSerialization.jsonObject(with: JSONEncoder.sortedKeys.encode(was))) as? [String: AnyHashable] ?? [:]
        let b = (try? JSONSerialization.jsonObject(with: JSONEncoder.sortedKeys.encode(now))) as? [String: AnyHashable] ?? [:]
        let changed = Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted().map { "\($0) \(a[$0].map { "\($0)" } ?? "-") -> \(b[$0].map { "\($0)" } ?? "-")" }
        throw TaskError.invalid("--resume: \(runDirectory) was trained with another recipe (\(changed.joined(separator: ", "))); resume with the same flags, or start a new run in another folder")
      }
    }
    // The pipeline too: a resume under another one trained its last epochs with other
    // transforms, and its best and last checkpoints recorded two evaluation transforms.
    let changedPipeline = pipelineSettings.sorted { $0.key < $1.key }.filter { key, now in meta["effdx.run." + key].map { $0 != now } ?? false }
    if !changedPipeline.isEmpty {
      let list = changedPipeline.map { key, now in "\(key) \(meta["effdx.run." + key]!) -> \(now)" }.joined(separator: "; ")
      throw TaskError.invalid("--resume: \(runDirectory) was trained with another pipeline (\(list)); resume with the same --pipeline, or start a new run in another folder")
    }
    if let saved = meta["effdx.data_digest"], let now = dataDigest, saved != now {
      throw TaskError.invalid("--resume: \(runDirectory) was trained on other data (the training list's digest differs); resume with the same --data and split, or start a new run")
    }
  }

  /// What of the pipeline decides the run besides the recipe, recorded in the resume state.
  var pipelineSettings: [String: String] {
    ["resolution": "\(spec.resolution)", "batch_size": "\(spec.batchSize)", "eval_transform": evaluation.json,
     "train_transforms": "[" + spec.trainTransforms.map(\.json).joined(separator: ", ") + "]"]
  }

  /// Loads the last complete epoch's model, optimizer state and progress.
  func restore() throws {
    guard FileManager.default.fileExists(atPath: statePath) else {
      throw TaskError.invalid("--resume: \(runDirectory) holds no run to resume (no last.state.safetensors); leave out --resume to start one")
    }
    let stateFile = try SafeTensorsFile(path: statePath)
    try checkSameRun(stateFile.metadata)
    let tensors = try stateFile.allTensors()
    guard tensors.keys.contains(where: { $0.hasPrefix(Self.modelPrefix) }) else { throw TaskError.invalid("\(statePath) holds no model weights (written by an older version?): cannot resume") }
    try loadTrainingState(tensors, source: statePath)
    bestWritten = FileManager.default.fileExists(atPath: bestPath)  // the same run (checkSameRun)
    // Its bests are what the test predictions come from: another run's (other classes, another
    // network, other data) made a test_predictions.csv of the wrong width, with exit 0.
    if bestWritten { try checkOwnCheckpoint(bestPath) }
    if FileManager.default.fileExists(atPath: bestEMAPath) {
      guard config.ema != nil else { throw TaskError.invalid("--resume: \(bestEMAPath) is in the folder of a run without --ema: another run's; remove it") }
      try checkOwnCheckpoint(bestEMAPath)
    }
    // Progress as the run could have made it: at most the recipe's epochs, as many steps as
    // those epochs hold, no more bad epochs than epochs; a best metric in 0...1, or none yet.
    // (A step count of 2^63 - 1 trapped on the next step; 10^11 trained at the schedule's end.)
    func count(_ key: String, _ range: ClosedRange<Int>) throws -> Int {
      guard let v = Int(stateFile.metadata[key] ?? "0"), range.contains(v) else {
        throw TaskError.invalid("\(statePath): metadata '\(key)' is '\(stateFile.metadata[key] ?? "")', not a count in \(range.lowerBound)...\(range.upperBound): the file is damaged; start the run again")
      }
      return v
    }
    func metric(_ key: String) throws -> Double {
      let v = Double(stateFile.metadata[key] ?? "") ?? -Double.infinity
      guard v == -Double.infinity || (0...1).contains(v) else {
        throw TaskError.invalid("\(statePath): metadata '\(key)' is '\(stateFile.metadata[key] ?? "")', not a metric in 0...1: the file is damaged; start the run again")
      }
      return v
    }
    epochsDone = try count("epochs_done", 0...config.epochs)
    let batchesPerEpoch = (train.count + max(1, spec.batchSize) - 1) / max(1, spec.batchSize)
    steps = try count("steps", 0...(epochsDone * batchesPerEpoch))
    badEpochs = try count("bad_epochs", 0...epochsDone)
    bestMetric = try metric("best_metric")
    bestEMAMetric = try metric("best_ema_metric")
    bestEMAWritten = FileManager.default.fileExists(atPath: bestEMAPath)
    // The log keeps only the lines of the epochs the state contains, cut by bytes (a line that
    // is not UTF-8 made the text read fail and the cut be skipped, so stale epochs stayed);
    // `last` is that state's model.
    if let log = try? Data(contentsOf: URL(fileURLWithPath: logPath), options: .alwaysMapped) {
      var end = 0, lines = 0
      while lines < epochsDone, let newline = log[end...].firstIndex(of: UInt8(ascii: "\n")) {
        end = newline + 1
        lines += 1
      }
      let tail = log[end...]
      let lastEpoch = (try? JSONSerialization.jsonObject(with: Data(tail)) as? [String: Any])?["epoch"] as? Int
      if lines == epochsDone - 1 && !tail.isEmpty && lastEpoch == epochsDone {
        // The state's last epoch's line, whole but without its line end: kept, and ended (it
        // was cut off with the stale ones). A partial line is still cut.
        try (log + Data([UInt8(ascii: "\n")])).write(to: URL(fileURLWithPath: logPath), options: .atomic)
      } else if end < log.count {
        try log.prefix(end).write(to: URL(fileURLWithPath: logPath), options: .atomic)
      }
    }
    try checkpoint().save(to: lastPath)
  }
}
