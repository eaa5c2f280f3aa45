import DxEfficientNet
import DxImaging
import DxPipeline
import Foundation

/// A trained task model and what it takes to use it exactly as it was validated: one reader and
/// one writer of the metadata, so no command reads checkpoint keys by hand.
///
/// Keys (safetensors `__metadata__`, beside the network's own `effdx.config`):
/// `classes` (JSON array), `task`, `arch`, `effdx.eval_transform` (the evaluation transform as
/// JSON), `effdx.training` (the recipe), `effdx.pipeline`, `effdx.data_digest` (SHA-256 of the
/// sorted training list), `effdx.version`.
public struct TaskCheckpoint {
  public var model: EfficientNet
  public var classes: [String]
  /// Nil for a checkpoint that names no task (ImageNet weights from `import-weights`).
  public var task: TaskKind?
  public var evaluation: EvaluationTransform
  public var training: TrainingConfig?
  public var pipelineName: String?
  public var dataDigest: String?
  public var effdxVersion: String?

  /// The version written into checkpoints and prediction provenance.
  public static let effdxVersion = "0.9.0"

  public init(model: EfficientNet, classes: [String], task: TaskKind?, evaluation: EvaluationTransform, training: TrainingConfig? = nil,
              pipelineName: String? = nil, dataDigest: String? = nil) {
    self.model = model
    self.classes = classes
    self.task = task
    self.evaluation = evaluation
    self.training = training
    self.pipelineName = pipelineName
    self.dataDigest = dataDigest
    self.effdxVersion = Self.effdxVersion
  }

  /// Reads a checkpoint and checks its metadata against itself: one class name per output, no
  /// duplicates, a known task, a readable evaluation transform. Errors name the file and key.
  public static func load(_ path: String) throws -> TaskCheckpoint {
    let (model, preprocessing, meta) = try EfficientNet.load(from: path)
    func bad(_ key: String, _ why: String) -> TaskError { .invalid("\(path): metadata '\(key)': \(why)") }
    guard let classesJSON = meta["classes"] else { throw bad("classes", "missing (a checkpoint from effdx train names its classes)") }
    guard let classes = try? JSONDecoder().decode([String].self, from: Data(classesJSON.utf8)) else { throw bad("classes", "not a JSON array of names") }
    guard !classes.isEmpty else { throw bad("classes", "empty") }
    guard classes.count == model.config.numClasses else {
      throw bad("classes", "\(classes.count) names for a classifier with \(model.config.numClasses) outputs")
    }
    if let problem = ClassNames.problem(classes, new: false) { throw bad("classes", problem) }
    var task: TaskKind? = nil
    if let name = meta["task"] {
      guard let t = TaskKind(rawValue: name) else { throw bad("task", "'\(name)' is not one of \(TaskKind.allCases.map(\.rawValue).joined(separator: ", "))") }
      task = t
    }
    let evaluation: EvaluationTransform
    if let json = meta[EvaluationTransform.metadataKey] {
      evaluation = try EvaluationTransform.decode(json: json, source: "\(path): metadata '\(EvaluationTransform.metadataKey)'")
    } else {
      if let problem = NormalizationRange.problem(mean: preprocessing.mean, std: preprocessing.std) { throw bad("effdx.preprocessing", problem) }
      guard preprocessing.cropPct > 0, preprocessing.cropPct <= 1, (16...2048).contains(preprocessing.resolution) else {
        throw bad("effdx.preprocessing", "needs crop_pct in (0, 1] and a resolution in 16...2048")
      }
      guard ResizeFilter(rawValue: preprocessing.interpolation) != nil else {
        throw bad("effdx.preprocessing", "interpolation '\(preprocessing.interpolation)' is not one of \(ResizeFilter.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      evaluation = EvaluationTransform(resolution: preprocessing.resolution, cropFraction: preprocessing.cropPct, interpolation: preprocessing.interpolation,
                                       mean: preprocessing.mean, std: preprocessing.std)
    }
    var checkpoint = TaskCheckpoint(model: model, classes: classes, task: task, evaluation: evaluation)
    checkpoint.training = meta["effdx.training"].flatMap { try? JSONDecoder().decode(TrainingConfig.self, from: Data($0.utf8)) }
    checkpoint.pipelineName = meta["effdx.pipeline"]
    checkpoint.dataDigest = meta["effdx.data_digest"]
    checkpoint.effdxVersion = meta["effdx.version"]
    return checkpoint
  }

  /// The metadata `save` writes.
  public var metadata: [String: String] {
    let encoder = JSONEncoder.sortedKeys
    var meta: [String: String] = [:]
    meta["classes"] = (try? encoder.encode(classes)).map { String(decoding: $0, as: UTF8.self) }
    meta["task"] = task?.rawValue
    meta["arch"] = model.config.name
    meta[EvaluationTransform.metadataKey] = evaluation.json
    meta["effdx.training"] = training.flatMap { try? encoder.encode($0) }.map { String(decoding: $0, as: UTF8.self) }
    meta["effdx.pipeline"] = pipelineName
    meta["effdx.data_digest"] = dataDigest
    meta["effdx.version"] = effdxVersion
    return meta
  }

  /// Writes the checkpoint atomically. The network's own preprocessing record keeps the
  /// evaluation's resolution and normalisation for tools that read only that.
  public func save(to path: String) throws {
    let pre = Preprocessing(resolution: evaluation.resolution, mean: evaluation.mean, std: evaluation.std)
    try model.save(to: path, preprocessing: pre, metadata: metadata)
  }
}
