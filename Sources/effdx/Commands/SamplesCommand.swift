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
  }

  func run() throws {
    try verbosity.apply()
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
