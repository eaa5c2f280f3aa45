import ArgumentParser
import DxTasks
import Foundation

/// Joins the shards of a diagnosis job (`diagnose --shard I/N`, a Slurm job array).
struct MergeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "merge",
    abstract: "Join the predictions, errors and provenance of a diagnosis job's shards, checking that every file of the list is in exactly one of them.")

  @Argument(help: "The shards' predictions CSVs (each with its PRED.meta.json and PRED.errors.csv beside it).") var predictions: [String]
  @Option(help: "Merged predictions CSV (must not exist; its .errors.csv and .meta.json are written beside it).") var out: String
  @Flag(help: "Print a JSON summary on standard output instead of text.") var json = false

  func run() throws {
    let summary: PredictionsMerge.Summary
    do { summary = try PredictionsMerge.merge(predictions, into: out) } catch let e as TaskError { throw CommandFailure("\(e)") }
    if json {
      let object: [String: Any] = ["out": out, "rows": summary.rows, "errors": summary.errors, "parts": summary.parts]
      print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    } else {
      print("merged \(summary.parts) parts into \(out): \(summary.rows) predictions, \(summary.errors) errors")
    }
  }
}
