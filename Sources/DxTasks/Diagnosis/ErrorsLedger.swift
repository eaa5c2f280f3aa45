import DxCSV
import Foundation

/// The errors file of a diagnosis (`path,error`): one row per file that could not be
/// diagnosed, however often the run is repeated. A new failure is appended at once (a crash
/// keeps it); at the end, files that have since been diagnosed leave the ledger and changed
/// reasons are updated, in one atomic rewrite.
public struct ErrorsLedger {
  let path: String
  private var file: AppendOnlyCSV?
  private var order: [String] = []
  private var listed = Set<String>()
  private var reasons: [String: String] = [:]
  private var changed = false

  /// The ledger beside predictions `output`: `PRED.csv` -> `PRED.errors.csv`.
  public static func path(forOutput output: String) -> String { PredictionsFormat.sibling(of: output, suffix: ".errors.csv") }

  init(path: String) throws {
    self.path = path
    let file = try AppendOnlyCSV(path: path, header: ["path", "error"], purpose: "diagnosis errors ledger")
    for row in file.existing where row.fields.count == 2 {
      if reasons[row.fields[0]] == nil { order.append(row.fields[0]); listed.insert(row.fields[0]) } else { changed = true }
      reasons[row.fields[0]] = row.fields[1]
    }
    self.file = file
  }

  mutating func failed(_ item: String, _ reason: String) throws {
    if let known = reasons[item] {
      if known != reason { reasons[item] = reason; changed = true }
      return
    }
    try file?.append(row: [item, reason])
    if !listed.contains(item) { order.append(item); listed.insert(item) }
    reasons[item] = reason
  }

  /// A file diagnosed now: its row (and its tiles' rows) leave the ledger at `finish`.
  mutating func succeeded(_ item: String) {
    guard reasons[item] != nil else { return }
    reasons[item] = nil
    changed = true
  }

  mutating func finish() throws {
    guard changed else { return }
    var text = CSV.row(["path", "error"])
    for item in order { if let r = reasons[item] { text += CSV.row([item, r]) } }
    // Replaced while still locked (the lock goes with the old file when it closes).
    do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
      throw TaskError.invalid("\(path): cannot rewrite the errors ledger (\((error as NSError).localizedDescription))")
    }
    file = nil
  }
}
