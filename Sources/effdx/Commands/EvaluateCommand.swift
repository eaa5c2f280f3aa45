import ArgumentParser
import DxEval
import DxTasks
import Foundation

/// Scores predictions against ground truth and writes the report files.
struct EvaluateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "evaluate",
    abstract: "Accuracy, precision, recall and F1 per class, per study and overall, with intervals; writes report.json, CSVs, report.md and report.html.",
    discussion: """
      PRED.csv has columns path,study,label,predicted,p_<class>... (as diagnosis writes it). The
      ground truth comes from its label column or from --labels MANIFEST.csv joined on path.
      Rows that do not join, unknown labels and malformed numbers are listed by line number and
      left out; the evaluation goes on. Definitions follow scikit-learn (Docs/EvaluationReport.md).
      """)

  @Option(help: "Predictions CSV.") var predictions: String
  @Option(help: "Ground-truth manifest (path,label[,study]) joined on path; default: the predictions' label column.") var labels: String?
  @Option(help: "Column grouping images into studies (slide, patient, field).") var studyColumn = "study"
  @Option(help: "Study-level diagnosis: mean (probability), vote (majority), or topk (slides: mean of the top-k probabilities of --positive-class).") var aggregate: AggregateChoice = .mean
  @Option(help: "The class that matters (tumour, a disease): positive class for --aggregate topk, and the class whose sensitivity, specificity, PPV and NPV the report gives (default: tumor for a histopathology model's predictions).") var positiveClass: String?
  @Option(help: "Also report the highest threshold on --positive-class's probability whose sensitivity reaches this (0...1).") var targetSensitivity: Double?
  @Option(help: "k for --aggregate topk.") var topK = 10
  @Option(help: "Threshold on --positive-class's probability: for --aggregate topk, and an operating point of the report.") var threshold = 0.5
  @Option(help: "Bootstrap resamples for 95% intervals (0: none).") var bootstrap = 1000
  @Option(help: "Bootstrap seed.") var seed: UInt64 = 0
  @Option(help: "A second predictions CSV on the same images: per-metric differences with paired intervals.") var compare: String?
  @Flag(help: "Read the images the predictions name: the shortcut check (colour and background baselines fitted by study-grouped cross-validation, beside the model's accuracy) and example thumbnails in the HTML.") var images = false
  @Option(help: "With --images: the checkpoint that made the predictions, for a Grad-CAM of each example.") var checkpoint: String?
  @Option(help: "The folder diagnose --heatmaps wrote: each slide's heatmap and tile counts go into the report.") var heatmaps: String?
  @Option(help: "Output directory.") var out: String
  @OptionGroup var verbosity: VerbosityOptions
  @Flag(help: "Print a JSON summary on standard output (n, accuracy, macro F1, the report's path) instead of text.") var json = false

  func validate() throws {
    if aggregate == .topk && positiveClass == nil { throw ValidationError("--aggregate topk needs --positive-class") }
    guard (0...100_000).contains(bootstrap) else { throw ValidationError("--bootstrap must be in 0...100000, not \(bootstrap)") }
    guard (1...100_000).contains(topK) else { throw ValidationError("--top-k must be in 1...100000, not \(topK)") }
    guard threshold.isFinite, (0...1).contains(threshold) else { throw ValidationError("--threshold must be in 0...1, not \(threshold)") }
    if let targetSensitivity, !(targetSensitivity.isFinite && (0...1).contains(targetSensitivity)) { throw ValidationError("--target-sensitivity must be in 0...1, not \(targetSensitivity)") }
  }

  func run() throws {
    try verbosity.apply()
    if let refusal = ReportWriter.refusal(directory: out, inputs: [predictions, labels, compare].compactMap { $0 }) {
      throw ValidationError("--out \(out): \(refusal)")
    }
    let table = try PredictionsReader.read(predictions: predictions, labels: labels, studyColumn: studyColumn)
    if let positiveClass, !table.classes.contains(positiveClass) {
      throw ValidationError("--positive-class '\(positiveClass)' is not a class of \(predictions) (\(table.classes.joined(separator: ", ")))")
    }
    let aggregation: StudyAggregation
    switch aggregate {
    case .vote: aggregation = .majorityVote
    case .topk: aggregation = .topKMean(positiveClass: positiveClass!, k: topK, threshold: threshold)
    case .mean: aggregation = .meanProbability
    }
    var other: (path: String, table: PredictionTable)? = nil
    if let compare {
      let read = try PredictionsReader.read(predictions: compare, labels: labels, studyColumn: studyColumn)
      // Its class indices must mean the first file's: the same classes in another column order
      // are put in this one; other classes cannot be compared (their predictions were scored
      // against the first file's classes by position).
      guard let second = read.reordered(to: table.classes) else {
        throw ValidationError("--compare \(compare) has classes \(read.classes.joined(separator: ", ")), not the predictions' \(table.classes.joined(separator: ", ")): there is nothing to compare")
      }
      guard !Set(second.paths.map(PredictionsReader.fileKey)).isDisjoint(with: table.paths.map(PredictionsReader.fileKey)) else {
        throw CommandFailure("--compare \(compare) shares no image with \(predictions): there is nothing to compare")
      }
      other = (compare, second)
    }
    let evaluator = Evaluator(aggregation: aggregation, bootstrap: Bootstrap(resamples: bootstrap, seed: seed))
    let inputs = EvaluationReport.Inputs(predictions: predictions, labels: labels, studyColumn: studyColumn, bootstrapResamples: bootstrap, seed: seed)
    var report = evaluator.evaluate(table, inputs: inputs, compareWith: other)
    if let other { report.rowIssues += other.table.issues }
    // The provenance diagnose wrote beside the predictions, when there is one.
    let metaPath = DiagnosisMeta.path(forOutput: predictions)
    if FileManager.default.fileExists(atPath: metaPath) {
      do {
        let m = try DiagnosisMeta.read(metaPath)
        report.provenance = Provenance(checkpoint: m.checkpoint.path, checkpointSHA256: m.checkpoint.sha256, arch: m.arch, classes: m.classes, task: m.task,
                                       evalTransform: m.evalTransform, effdxVersion: m.effdxVersion, started: m.started, finished: m.finished,
                                       inputs: m.inputs, files: m.files.count, rows: m.rows, source: metaPath)
        if m.classes.sorted() != report.classes.sorted() { report.warnings.append("\(metaPath) records classes \(m.classes.joined(separator: ", ")), the predictions have \(report.classes.joined(separator: ", "))") }
      } catch { report.warnings.append("\(error); the report has no provenance") }
    }
    // Operating points of the class that matters: the one named, else a histopathology model's tumour.
    let histopathology = report.provenance?.task == "histopathology"
    if let positive = positiveClass ?? (histopathology && table.classes.contains("tumor") ? "tumor" : nil), let c = table.classes.firstIndex(of: positive) {
      var points = OperatingPoints(table, positive: c, threshold: threshold, targetSensitivity: targetSensitivity)
      points.addIntervals(table, bootstrap: evaluator.bootstrap)
      report.operatingPoints = points
    } else if targetSensitivity != nil {
      throw ValidationError("--target-sensitivity needs --positive-class (the class whose sensitivity it is)")
    }
    if images {
      // Histology tiles' background is their glass, photos' their border.
      let tissue = report.provenance?.task == "histopathology"
      let (statistics, failures) = ShortcutStatistics.statistics(paths: table.paths, workers: ProcessInfo.processInfo.activeProcessorCount, tissue: tissue)
      // The images that could not be read, by name (the count alone said nothing of which).
      for (_, reason) in failures.sorted(by: { $0.key < $1.key }).prefix(5) { report.warnings.append("--images: \(reason)") }
      if failures.count > 5 { report.warnings.append("--images: \(failures.count - 5) more images could not be read") }
      let check = ShortcutCheck(statistics: statistics, truth: table.truth.map(Int.init), classes: table.classes.count, groups: table.studies,
                                modelAccuracy: report.overall.accuracy, tissue: tissue)
      if check.images < 10 {
        report.warnings.append("--images: only \(check.images) of \(table.count) images could be read (\(check.unreadable) could not): too few for the shortcut check")
      } else {
        report.shortcutCheck = check
        if let w = check.warning { report.warnings.append("shortcut check: " + w) }
      }
      report.examples = EvaluationReport.pickExamples(table)
      ReportPictures.addExamples(to: &report, checkpoint: try checkpoint.map { path in
        do { return try TaskCheckpoint.load(path) } catch { throw CommandFailure("--checkpoint \(path): \(error)") }
      })
    } else if checkpoint != nil {
      throw ValidationError("--checkpoint gives the examples of --images their Grad-CAM: add --images")
    }
    if let heatmaps { try ReportPictures.addSlideMaps(to: &report, folder: heatmaps) }
    do { try ReportWriter.write(report, to: out) } catch {
      throw CommandFailure("--out \(out): cannot write the report (\((error as NSError).localizedDescription))")
    }
    if json {
      let object: [String: Any] = ["out": out, "report": (out as NSString).appendingPathComponent("report.json"), "n": report.overall.n,
                                   "accuracy": report.overall.accuracy, "macro_f1": report.overall.macro.f1, "row_issues": report.rowIssues.count]
      print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
      return
    }
    print(TerminalSummary.render(report))
    print("wrote \(ReportWriter.fileNames.joined(separator: ", ")) to \(out)")
  }
}

/// `--aggregate`.
enum AggregateChoice: String, ExpressibleByArgument, CaseIterable {
  case mean, vote, topk
}
