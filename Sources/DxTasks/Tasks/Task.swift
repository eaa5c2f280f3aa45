import DxEval
import DxPipeline
import Foundation

/// A domain EfficientDx knows, as a value: the pipeline it trains and validates with, the
/// pipeline whole slides are tiled with, how labels come from a dataset's layout, and how a
/// study's images become one diagnosis. Nothing about a task lives in code paths: diagnosis
/// and the CLI ask the task value.
public struct Task: Sendable {
  public var kind: TaskKind
  /// File name under `Pipelines/` of the training pipeline (built in: `BuiltinPipelines`).
  public var pipelineFile: String
  /// File name of the slide pipeline (its `tiling`), for tasks that diagnose whole slides.
  public var slidePipelineFile: String?
  /// How an image in a folder-per-class dataset gets its label.
  public var labels: LabelRule
  /// How the tiles of a slide become the slide's probabilities, given the checkpoint's classes.
  public var slideAggregation: @Sendable ([String]) -> StudyAggregation

  /// Labels from the layout of a folder: `root/<class>/**/<image>` (the top folder names the
  /// class, deeper folders are the user's own grouping), as `train` and `diagnose` both read it.
  public enum LabelRule: Sendable { case topFolder }

  /// The task's pipeline, parsed from the copy built into the binary (so an installed `effdx`
  /// behaves the same from any folder). `--pipeline FILE` is how a user runs an edited copy.
  public func pipeline() throws -> PipelineSpec {
    try Self.builtin(pipelineFile)
  }

  /// The slide pipeline, or nil for tasks without slides.
  public func slidePipeline() throws -> PipelineSpec? {
    try slidePipelineFile.map(Self.builtin)
  }

  static func builtin(_ file: String) throws -> PipelineSpec {
    guard let text = BuiltinPipelines.files[file] else { throw TaskError.invalid("no built-in pipeline \(file)") }
    return try PipelineSpec.parse(text + "\n", file: "built-in Pipelines/\(file)")
  }
}

/// The tasks by name, as `--task` takes them and checkpoints record them.
public enum TaskKind: String, CaseIterable, Sendable {
  case leafDisease = "leaf-disease"
  case histopathology

  public var task: Task {
    switch self {
    case .leafDisease: return .leafDisease
    case .histopathology: return .histopathology
    }
  }
}
