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
    try SafeTensorsWriter.write(state, metadata: stateMeta, to: statePath)
    crashForTesting("after-state")
    try checkpoint().save(to: lastPath)
    crashForTesting("after-last")
  }

  func crashForTesting(_ point: String) { savePointHook?(epochsDone, point) }

  /// A resumed run must be the interrupted one: the same recipe (only `max_steps` may change)
  /// and the same training data, or its result would match neither.
  func checkSameRun(_ meta: [String: String]) throws {
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
    if let saved = meta["effdx.data_digest"], let now = dataDigest, saved != now {
      throw TaskError.invalid("--resume: \(runDirectory) was trained on other data (the training list's digest differs); resume with the same --data and split, or start a new run")
    }
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
    func count(_ key: String) throws -> Int {
      guard let v = Int(stateFile.metadata[key] ?? "0"), v >= 0 else { throw TaskError.invalid("\(statePath): metadata '\(key)' is not a count") }
      return v
    }
    epochsDone = try count("epochs_done")
    steps = try count("steps")
    badEpochs = try count("bad_epochs")
    bestMetric = Double(stateFile.metadata["best_metric"] ?? "") ?? -Double.infinity
    bestEMAMetric = Double(stateFile.metadata["best_ema_metric"] ?? "") ?? -Double.infinity
    bestEMAWritten = FileManager.default.fileExists(atPath: bestEMAPath)
    // The log keeps only the lines of the epochs the state contains; `last` is that state's model.
    if let text = try? String(contentsOfFile: logPath, encoding: .utf8) {
      let kept = text.split(separator: "\n").prefix(epochsDone).joined(separator: "\n")
      try (kept.isEmpty ? "" : kept + "\n").write(toFile: logPath, atomically: true, encoding: .utf8)
    }
    try checkpoint().save(to: lastPath)
  }
}
