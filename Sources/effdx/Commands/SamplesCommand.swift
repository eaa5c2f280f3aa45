import ArgumentParser
import DxTasks
import Foundation

/// Generates labelled synthetic datasets so every workflow can be tried offline.
struct SamplesCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "samples", abstract: "Generate a synthetic labelled dataset: leaf photos, or H&E-like patches and small whole-slide TIFFs.")

  @Option(help: "leaf-disease or histopathology.") var task: String
  @Option(help: "Output directory.") var out: String
  @Option(help: "Training images (a further quarter as much is written as the held-out set).") var count = 400
  @Option(help: "Random seed.") var seed: UInt64 = 0

  func validate() throws {
    guard ["leaf-disease", "histopathology"].contains(task) else { throw ValidationError("--task must be leaf-disease or histopathology") }
    guard count >= 4 else { throw ValidationError("--count must be at least 4") }
  }

  func run() throws {
    let start = Date()
    if task == "leaf-disease" {
      try SampleDatasets.leafDisease(to: out, count: count, holdout: max(4, count / 4), seed: seed)
      print("wrote \(count) training and \(max(4, count / 4)) held-out leaf photos (4 classes, fields as studies) to \(out)/train and \(out)/holdout")
    } else {
      try SampleDatasets.histopathology(to: out, count: count, holdout: max(5, count / 4), seed: seed)
      print("wrote \(count) training and \(max(5, count / 4)) held-out patches (5 tissue classes, patients as studies) to \(out)/patches, and 2 slides to \(out)/slides")
    }
    print(String(format: "in %.1f s", Date().timeIntervalSince(start)))
  }
}
