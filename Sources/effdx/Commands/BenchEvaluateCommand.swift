import ArgumentParser
import DxEval
import Foundation

/// Times the evaluator on a large synthetic prediction set: CSV parsing, all metrics with the
/// per-study breakdown, and the bootstrap. Build with `swift build -c release`.
struct BenchEvaluateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "evaluate", abstract: "Time effdx evaluate on synthetic predictions (default 1,000,000 rows, 40 classes, 500 studies).")

  @Option(help: "Rows.") var rows = 1_000_000
  @Option(help: "Classes.") var classes = 40
  @Option(help: "Studies.") var studies = 500
  @Option(help: "Bootstrap resamples for the second timing.") var bootstrap = 1000
  @Flag(help: "Also write the rows as CSV and time reading them back.") var csv = false

  func validate() throws {
    guard (1...100_000_000).contains(rows) else { throw ValidationError("--rows must be in 1...100000000, not \(rows)") }
    guard (2...PredictionsReader.maxClasses).contains(classes) else { throw ValidationError("--classes must be in 2...\(PredictionsReader.maxClasses), not \(classes)") }
    guard (1...rows).contains(studies) else { throw ValidationError("--studies must be in 1...--rows (\(rows)), not \(studies)") }
    guard (0...100_000).contains(bootstrap) else { throw ValidationError("--bootstrap must be in 0...100000 (as evaluate's), not \(bootstrap)") }
  }

  func run() throws {
    #if DEBUG
      Console.warning("debug build; use swift build -c release")
    #endif
    // The probabilities as Doubles (and as CSV text, about 9 bytes each).
    try MemoryCheck.require(Double(rows) * Double(classes) * (csv ? 17 : 8), for: "the synthetic predictions", flags: "--rows \(rows) with --classes \(classes)")
    var table = PredictionTable(classes: (0..<classes).map { "class\($0)" })
    var state: UInt64 = 42
    func uniform() -> Double {
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return Double(state >> 11) / Double(1 << 53)
    }
    var probs = [Double](repeating: 0, count: classes)
    for i in 0..<rows {
      let y = Int(uniform() * Double(classes))
      var sum = 0.0
      for c in 0..<classes {
        probs[c] = uniform() + (c == y ? 2 * uniform() : 0)
        sum += probs[c]
      }
      var best = 0
      for c in 0..<classes {
        probs[c] /= sum
        if probs[c] > probs[best] { best = c }
      }
      table.append(path: "img/\(i).png", study: "S\(i % studies)", truth: y, predicted: best, probabilities: probs)
    }
    let inputs = EvaluationReport.Inputs(predictions: "synthetic")
    print("\(rows) rows, \(classes) classes, \(studies) studies, \(ProcessInfo.processInfo.activeProcessorCount) cores")
    if csv {
      let path = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-bench-\(getpid()).csv").path
      defer { try? FileManager.default.removeItem(atPath: path) }
      var text = "path,study,label,predicted," + table.classes.map { "p_\($0)" }.joined(separator: ",") + "\n"
      text.reserveCapacity(rows * (classes * 9 + 40))
      for i in 0..<rows {
        text += "\(table.paths[i]),\(table.studies[i]),\(table.classes[Int(table.truth[i])]),\(table.classes[Int(table.predicted[i])])"
        for c in 0..<classes { text += "," + String(format: "%.6f", table.probabilities[i * classes + c]) }
        text += "\n"
      }
      try text.write(toFile: path, atomically: false, encoding: .utf8)
      let t0 = Date()
      let parsed = try PredictionsReader.read(predictions: path)
      print(String(format: "read CSV (%.0f MB):               %6.2f s  (%d rows)", Double(text.utf8.count) / 1e6, Date().timeIntervalSince(t0), parsed.count))
    }
    var t0 = Date()
    _ = Evaluator(bootstrap: Bootstrap(resamples: 0)).evaluate(table, inputs: inputs)
    print(String(format: "evaluate, no bootstrap:            %6.2f s", Date().timeIntervalSince(t0)))
    t0 = Date()
    _ = Evaluator(bootstrap: Bootstrap(resamples: bootstrap)).evaluate(table, inputs: inputs)
    print(String(format: "evaluate, %4d bootstrap resamples: %6.2f s", bootstrap, Date().timeIntervalSince(t0)))
  }
}
