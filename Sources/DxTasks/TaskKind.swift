import DxPipeline
import Foundation

/// A domain EfficientDx knows: its default pipeline, how its data is laid out, and how its
/// images are aggregated into a diagnosis.
public enum TaskKind: String, CaseIterable, Sendable {
  /// Whole leaf photos, a folder per class (PlantVillage `Crop___Disease`), fields as studies.
  case leafDisease = "leaf-disease"
  /// Patches for training; patches or whole-slide TIFFs for diagnosis (tiles aggregated per slide).
  case histopathology

  /// The pipeline file under `Pipelines/` this task starts from.
  public var pipelineFile: String { self == .leafDisease ? "leaf-disease.yaml" : "histopathology-patches.yaml" }

  /// `Pipelines/<file>` beside the working directory or the executable, if there is one.
  static func locate(_ file: String, executable: String) -> String? {
    let exeRoot = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
    for base in [FileManager.default.currentDirectoryPath, exeRoot.path, exeRoot.appendingPathComponent("../..").path, exeRoot.appendingPathComponent("../../..").path] {
      let candidate = (base as NSString).appendingPathComponent("Pipelines/\(file)")
      if FileManager.default.fileExists(atPath: candidate) { return candidate }
    }
    return nil
  }

  /// The pipeline whole slides are diagnosed with (its `tiling`: resolution and tissue
  /// threshold), for tasks that have slides: `Pipelines/histopathology-slides.yaml`.
  public func slidePipeline(executable: String = CommandLine.arguments[0]) throws -> PipelineSpec? {
    guard self == .histopathology, let path = Self.locate("histopathology-slides.yaml", executable: executable) else { return nil }
    return try PipelineSpec.load(path: path)
  }

  /// How a slide's tile probabilities become the slide's: for histopathology with a `tumor`
  /// class, the slide is tumour when its 5 most tumour-like tiles average 0.5 or more (a small
  /// tumour is still a tumour); otherwise (nil) the mean over all tiles.
  public func slideAggregation(classes: [String]) -> (positiveClass: String, k: Int)? {
    self == .histopathology && classes.contains("tumor") ? ("tumor", 5) : nil
  }

  /// The task's pipeline: `Pipelines/<file>` beside the working directory or the executable,
  /// else the same defaults built in.
  public func defaultPipeline(executable: String = CommandLine.arguments[0]) throws -> PipelineSpec {
    if let path = Self.locate(pipelineFile, executable: executable) { return try PipelineSpec.load(path: path) }
    var spec = PipelineSpec(name: rawValue)
    spec.task = rawValue
    spec.trainTransforms = self == .leafDisease
      ? [.randomResizedCrop(scale: 0.5...1, ratio: 0.75...1.333), .horizontalFlip(p: 0.5), .verticalFlip(p: 0.5), .colorJitter(brightness: 0.2, contrast: 0.2, saturation: 0.2, hue: 0.02)]
      : [.rotate90(p: 0.75), .horizontalFlip(p: 0.5), .hedJitter(sigma: 0.05, bias: 0.05), .resize(filter: .area)]
    spec.evalTransforms = self == .leafDisease ? [.centerCrop(cropFraction: 0.875)] : [.resize(filter: .area)]
    return spec
  }

  /// A dataset from a folder per class, a folder holding `manifest.csv`, or a manifest file.
  public static func index(data: String, spec: PipelineSpec) throws -> DatasetIndex {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: data, isDirectory: &isDir) else { throw TaskError.invalid("\(data): no such file or folder") }
    if !isDir.boolValue { return try DatasetIndex.manifest(data, studyColumn: spec.source.studyColumn) }
    let manifest = (data as NSString).appendingPathComponent("manifest.csv")
    if FileManager.default.fileExists(atPath: manifest) { return try DatasetIndex.manifest(manifest, studyColumn: spec.source.studyColumn) }
    return try DatasetIndex.folder(data, extensions: spec.source.extensions)
  }
}
