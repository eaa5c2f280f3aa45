import ArgumentParser
import DxEfficientNet
import DxPipeline
import DxTasks
import DxTensor
import Foundation

/// Batch diagnosis of image files, folders and whole slides into a predictions CSV.
struct DiagnoseCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "diagnose", abstract: "Classify images and slides into a predictions CSV (resumable; bad files listed, never fatal).",
    discussion: """
      Images are prepared exactly as the checkpoint was validated (its recorded evaluation transform). A folder whose \
      images sit in subfolders is read as a folder per class (labels from the folder names, as train reads it).
      Exit status: 0 when every file was diagnosed, 3 when some could not be read (listed in PRED.errors.csv), 1 on an error \
      (no inputs, an output that is not a predictions CSV or is locked by another run).
      """)

  @Option(help: "Checkpoint from effdx train.") var checkpoint: String
  @Option(parsing: .upToNextOption, help: "Files and folders to diagnose.") var input: [String]
  @Flag(help: "Descend into every subfolder.") var recursive = false
  @Option(help: "Predictions CSV (appended to when it exists: rows already there are skipped).") var out: String
  @Option(help: "Also list the K most probable classes (0 up to the number of classes).") var topk = 0
  @Flag(help: "Test-time augmentation: average with flipped copies.") var tta = false
  @Option(help: "Write Grad-CAM overlays (images) and tile heatmaps (slides) here.") var heatmaps: String?
  @Option(help: "Images per forward pass (1...1024).") var batchSize = 16
  @Option(help: "Threads decoding photos and reading slide tiles (1...64; default: --threads).") var readThreads: Int?
  @Option(help: "Diagnose part I of N of the sorted file list (0 <= I < N), for job arrays; default: Slurm's SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT when set. effdx merge joins the parts.")
  var shard: String?
  @Flag(help: "Print where the time went: decoding, resizing, waiting, network, writing.") var profile = false
  @Option(help: "Batches prepared ahead on a background thread while the network runs (0...8; 0: between forward passes, fastest when the network uses every core).") var readAhead = 0
  @Option(help: "Slide pipeline YAML whose tiling block slides are cut with (default: the task's, Pipelines/histopathology-slides.yaml).")
  var pipeline: String?
  @OptionGroup var tilingOptions: TilingOptions
  @Option(help: "Manifest CSV (path,label[,study]) whose study and label columns fill the predictions' (paths relative to the manifest).")
  var labels: String?
  @Flag(help: "Print a JSON summary on standard output instead of text.") var json = false
  @OptionGroup var verbosity: VerbosityOptions
  @OptionGroup var compute: ComputeOptions

  func validate() throws {
    guard (1...1024).contains(batchSize) else { throw ValidationError("--batch-size must be in 1...1024, not \(batchSize)") }
    if let readThreads, !(1...64).contains(readThreads) { throw ValidationError("--read-threads must be in 1...64, not \(readThreads)") }
    guard (0...8).contains(readAhead) else { throw ValidationError("--read-ahead must be in 0...8, not \(readAhead)") }
    guard topk >= 0 else { throw ValidationError("--topk must be 0 or more, not \(topk)") }
    if let shard { do { _ = try Shard(parsing: shard) } catch { throw ValidationError("\(error)") } }
    // A file where the maps' folder should be was found only after the outputs were made.
    if let heatmaps { _ = try OutputFolder.contents(heatmaps, flag: "--heatmaps") }
  }

  func run() throws {
    try verbosity.apply()
    try compute.apply()
    // The checkpoint's digest (for the provenance file) on the second core while it loads.
    let checkpoint = self.checkpoint
    let digest = SideTask { try DiagnosisMeta.sha256(ofFile: checkpoint) }
    let ckpt = try TaskCheckpoint.load(checkpoint)
    guard topk <= ckpt.classes.count else { throw ValidationError("--topk \(topk) is more than the checkpoint's \(ckpt.classes.count) classes") }
    try MemoryCheck.check(ckpt.model.config, batch: batchSize, resolution: ckpt.evaluation.resolution,
                          flags: "--batch-size \(batchSize) at the checkpoint's resolution \(ckpt.evaluation.resolution)")
    var predictor = Predictor(ckpt)
    predictor.tta = tta
    let task = ckpt.task?.task
    let slideSpec = try pipeline.map { try PipelineSpec.load(path: $0) } ?? task?.slidePipeline()
    if let pipeline, let spec = slideSpec {
      if let other = spec.task, let mine = ckpt.task, other != mine.rawValue {
        throw CommandFailure("--pipeline \(pipeline) is a \(other) pipeline (its 'task' key), the checkpoint a \(mine.rawValue) one")
      }
      if spec.tiling == nil { Console.warning("--pipeline \(pipeline) has no tiling block: slides are cut with the defaults (diagnose reads only a pipeline's tiling; the checkpoint brings its evaluation transform)") }
    }
    let tiling = try tilingOptions.tiling(slideSpec?.tiling ?? PipelineSpec.Tiling(mpp: 0.5), defaultTileSize: ckpt.evaluation.resolution, defaultSource: "the checkpoint's resolution")
    let aggregation = task?.slideAggregation(ckpt.classes) ?? .meanProbability
    var slides = SlideDiagnoser(predictor: predictor, tiling: tiling, aggregation: aggregation)
    slides.baseMPP = tilingOptions.baseMPP
    var run = DiagnosisRun(predictor: predictor, slides: slides)
    run.batchSize = batchSize
    run.workers = readThreads ?? ThreadPool.threadCount
    run.readAhead = readAhead
    let profiler = profile ? DiagnosisProfile() : nil
    run.profile = profiler
    run.topK = topk
    run.heatmaps = heatmaps
    if let labels {
      let manifest = try DatasetIndex.manifest(labels)
      run.known = Dictionary(manifest.items.map { (DiagnosisRun.key($0.path), (manifest.classes[$0.label], $0.study ?? "")) }, uniquingKeysWith: { a, _ in a })
    }
    var inputs = DiagnosisInputs(input, recursive: recursive, classes: ckpt.classes, labels: task?.labels ?? .topFolder)
    // Nothing at all to diagnose is an error; a shard that gets no file of a short list is not.
    guard !inputs.files.isEmpty else {
      for n in inputs.notes { Console.note(n) }
      let why = inputs.unusable.map { "\($0.path): \($0.reason)" }
      throw CommandFailure(why.isEmpty
        ? "no images found in \(input.joined(separator: ", ")) (extensions: \(DiagnosisInputs.readable.sorted().joined(separator: ", ")))"
        : "nothing to diagnose: \(why.joined(separator: "; "))")
    }
    var provenance = DiagnosisMeta(checkpoint: .init(path: checkpoint, sha256: try digest.value()), arch: ckpt.model.config.name,
                                   classes: ckpt.classes, task: ckpt.task?.rawValue, evalTransform: ckpt.evaluation.json, inputs: input)
    let slurm = RuntimeEnvironment.current.slurmArrayTask
    if shard == nil, slurm == nil, let problem = RuntimeEnvironment.current.slurmArrayProblem {
      throw ValidationError("\(problem): every task of the array would diagnose the whole list; give --shard I/N, or unset the variables")
    }
    run.jobFiles = inputs.files.map(\.path)
    var settings = ["tta": "\(tta)", "tile_size": tiling.tileSize.map { "\($0)" } ?? "checkpoint", "overlap": "\(tiling.overlap)", "min_tissue": "\(tiling.minTissue)"]
    settings[tiling.mpp == nil ? "level" : "mpp"] = tiling.mpp.map { "\($0)" } ?? "\(tiling.level)"
    if let baseMPP = tilingOptions.baseMPP { settings["base_mpp"] = "\(baseMPP)" }
    provenance.settings = settings
    if let part = try shard.map(Shard.init(parsing:)) ?? slurm.map({ try Shard(index: $0.index, count: $0.count) }) {
      (inputs, provenance.shard) = part.select(inputs)
    }
    run.provenance = provenance
    for n in inputs.notes { Console.note(n) }
    // A photo's Grad-CAM overlay runs the network unfused and keeps every map and its gradient:
    // checked before a row is written (it ended the run with an allocation failure after the
    // first row). Slides get tile maps, which need none of it.
    if heatmaps != nil, inputs.files.contains(where: { ["jpg", "jpeg", "png"].contains(($0.path as NSString).pathExtension.lowercased()) }) {
      try MemoryCheck.check(ckpt.model.config, batch: 1, resolution: ckpt.evaluation.resolution, gradients: true,
                            flags: "--heatmaps (Grad-CAM at the checkpoint's resolution \(ckpt.evaluation.resolution))")
    }
    Console.detail("evaluation transform: \(ckpt.evaluation.json)")
    let bar = ProgressBar()
    let summary = try run.run(inputs: inputs, output: out) { done, total in bar.update(done: done, total: total, label: "diagnose") }
    bar.finish()
    if let profiler { FileHandle.standardError.write(Data((profiler.report(items: summary.written + summary.failed) + "\n").utf8)) }
    for n in summary.notes.dropFirst(inputs.notes.count) { Console.warning(n) }
    if json {
      print(String(decoding: try JSONEncoder.sortedKeys.encode(summary), as: UTF8.self))
    } else {
      print("\(summary.written) diagnosed, \(summary.skipped) already in \(out), \(summary.failed) failed\(summary.failed > 0 ? " (see \(summary.errorsPath))" : "")")
    }
    if summary.failed > 0 { throw ExitCode(3) }
  }
}
