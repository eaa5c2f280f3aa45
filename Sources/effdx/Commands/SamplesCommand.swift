import ArgumentParser
import DxTasks
import Foundation

/// Generates labelled synthetic datasets so every workflow can be tried offline.
struct SamplesCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "samples", abstract: "Generate a synthetic labelled dataset: leaf photos, or H&E-like patches and small whole-slide TIFFs.")

  @Option(help: "The task whose kind of data to generate.") var task: TaskKind
  @Option(help: "Output directory.") var out: String
  @Option(help: "Training images (a further quarter as much is written as the held-out set).") var count = 400
  @Option(help: "Random seed.") var seed: UInt64 = 0
  @OptionGroup var verbosity: VerbosityOptions

  func validate() throws {
    guard (4...100_000).contains(count) else { throw ValidationError("--count must be in 4...100000, not \(count)") }
    guard !out.isEmpty else { throw ValidationError("--out must name a folder") }
  }

  /// Written first into `--out`: what made the folder, so that a later `samples` may replace it
  /// (also after a run stopped half-way) and nothing else.
  static let marker = "samples.json"

  /// `--out` is new, empty, or an earlier sample set (its marker), whose generated folders are
  /// removed first (new files beside stale ones made 8 images under a 4-row manifest); a folder
  /// of anything else is the user's and is refused (a dataset's manifest was replaced).
  func prepareOutput() throws {
    guard let contents = try OutputFolder.contents(out) else { return }
    guard contents.contains(Self.marker) else {
      throw ValidationError("--out \(out) holds files and no sample set of effdx's (no \(Self.marker)): samples writes a new or empty folder, or replaces one it wrote")
    }
    for folder in ["train", "holdout", "patches", "slides"] where contents.contains(folder) {
      try FileManager.default.removeItem(atPath: (out as NSString).appendingPathComponent(folder))
    }
  }

  func run() throws {
    try verbosity.apply()
    try prepareOutput()
    // The marker goes first: a run stopped half-way leaves a folder the next run may replace.
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let marker = "{\"task\": \"\(task.rawValue)\", \"count\": \(count), \"seed\": \(seed)}\n"
    try marker.write(toFile: (out as NSString).appendingPathComponent(Self.marker), atomically: true, encoding: .utf8)
    let start = Date()
    if task == .leafDisease {
      try SampleDatasets.leafDisease(to: out, count: count, holdout: max(4, count / 4), seed: seed)
      print("wrote \(count) training and \(max(4, count / 4)) held-out leaf photos (4 classes, fields as studies) to \(out)/train and \(out)/holdout")
    } else {
      try SampleDatasets.histopathology(to: out, count: count, holdout: max(5, count / 4), seed: seed)
      print("wrote \(count) training and \(max(5, count / 4)) held-out patches (5 tissue classes, patients as studies) to \(out)/patches, and 2 slides to \(out)/slides")
    }
    print(String(format: "in %.1f s", Date().timeIntervalSince(start)))
  }
}
