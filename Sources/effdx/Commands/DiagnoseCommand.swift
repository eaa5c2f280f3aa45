import ArgumentParser
import DxEfficientNet
import DxPipeline
import DxTasks
import Foundation

/// Batch diagnosis of image files, folders and whole slides into a predictions CSV.
struct DiagnoseCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "diagnose", abstract: "Classify images and slides into a predictions CSV (resumable; bad files listed, never fatal).",
    discussion: "Exit status: 0 when every file was diagnosed, 3 when some could not be read (listed in PRED.errors.csv).")

  @Option(help: "Checkpoint from effdx train.") var checkpoint: String
  @Option(parsing: .upToNextOption, help: "Files and folders to diagnose.") var input: [String]
  @Flag(help: "Descend into subfolders.") var recursive = false
  @Option(help: "Predictions CSV (appended to when it exists: rows already there are skipped).") var out: String
  @Option(help: "Also list the K most probable classes.") var topk = 0
  @Flag(help: "Test-time augmentation: average with flipped copies.") var tta = false
  @Option(help: "Write Grad-CAM overlays (images) and tile heatmaps (slides) here.") var heatmaps: String?
  @Option(help: "Images per forward pass.") var batchSize = 16
  @Option(help: "Slide pipeline YAML whose tiling (mpp, min_tissue) slides are diagnosed with (default: the task's, Pipelines/histopathology-slides.yaml).")
  var pipeline: String?
  @Option(help: "Slide tiling resolution in microns per pixel (default: the slide pipeline's, else 0.5).") var slideMPP: Double?
  @Option(help: "Minimum tissue fraction of a slide tile (default: the slide pipeline's, else 0.5).") var minTissue: Double?
  @Option(help: "Manifest CSV (path,label[,study]) whose study and label columns fill the predictions' (paths relative to the manifest).")
  var labels: String?
  @OptionGroup var compute: ComputeOptions

  func run() throws {
    try compute.apply()
    let (model, preprocessing, metadata) = try EfficientNet.load(from: checkpoint)
    guard let classesJSON = metadata["classes"], let classes = try? JSONDecoder().decode([String].self, from: Data(classesJSON.utf8)) else {
      throw ValidationError("\(checkpoint) has no class names (train it with effdx train)")
    }
    var d = Diagnoser(model: model, classes: classes, preprocessing: preprocessing)
    d.batchSize = batchSize
    d.tta = tta
    d.topK = topk
    d.heatmaps = heatmaps
    let task = TaskKind(rawValue: metadata["task"] ?? "")
    let slideSpec = try pipeline.map { try PipelineSpec.load(path: $0) } ?? task?.slidePipeline()
    d.slideMPP = slideMPP ?? slideSpec?.tiling?.mpp ?? 0.5
    d.minTissue = minTissue ?? slideSpec?.tiling?.minTissue ?? 0.5
    if let labels {
      let manifest = try DatasetIndex.manifest(labels)
      d.known = Dictionary(manifest.items.map { (Diagnoser.key($0.path), (manifest.classes[$0.label], $0.study ?? "")) }, uniquingKeysWith: { a, _ in a })
    }
    d.slidePositive = task?.slideAggregation(classes: classes)
    let files = Diagnoser.expand(input, recursive: recursive)
    let bar = ProgressBar()
    let summary = try d.run(files: files, output: out) { done, total in bar.update(done: done, total: total, label: "diagnose") }
    bar.finish()
    print("\(summary.written) diagnosed, \(summary.skipped) already in \(out), \(summary.failed) failed\(summary.failed > 0 ? " (see \(summary.errorsPath))" : "")")
    if summary.failed > 0 { throw ExitCode(3) }
  }
}
