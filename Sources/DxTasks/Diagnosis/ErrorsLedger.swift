import DxCSV
import Foundation

/// The errors file of a diagnosis (`path,error`): one row per file that could not be
/// diagnosed, however often the run is repeated. A new failure is appended at once (a crash
/// keeps it); at the end, files that have since been diagnosed leave the ledger and changed
/// reasons are updated, in one atomic rewrite.
public struct ErrorsLedger {
  let path: String
  private var file: AppendOnlyCSV?
  /// Rows as they stand, in order: a file's (by its identity: `in/b.png` and its absolute
  /// path are one file, Unicode twins two) or, kept as they were, rows that are not `path,error`.
  private var order: [Entry] = []
  private var listed = Set<PathKey>()
  private var reasons: [PathKey: (item: String, reason: String)] = [:]
  private var changed = false

  private enum Entry {
    case file(PathKey)
    case other([String])
  }

  /// The largest ledger read (300,000 failed files at 200 bytes a row): its rows are held in
  /// memory at about 25 times their bytes (a 200 MB file took 5 GB), so at most about 1.6 GB.
  public static let maxBytes = 64 << 20

  /// The ledger beside predictions `output`: `PRED.csv` -> `PRED.errors.csv`.
  public static func path(forOutput output: String) -> String { PredictionsFormat.sibling(of: output, suffix: ".errors.csv") }

  init(path: String) throws {
    self.path = path
    let file = try AppendOnlyCSV(path: path, header: ["path", "error"], purpose: "diagnosis errors ledger", maxBytes: Self.maxBytes)
    for row in file.existing {
      guard row.fields.count == 2 else {
        order.append(.other(row.fields))  // not ours to drop: written back as it was
        continue
      }
      let key = DiagnosisRun.identity(row.fields[0])
      if reasons[key] == nil { order.append(.file(key)); listed.insert(key) } else { changed = true }
      reasons[key] = (row.fields[0], row.fields[1])
    }
    self.file = file
  }

  mutating func failed(_ item: String, _ reason: String) throws {
    let key = DiagnosisRun.identity(item)
    if let known = reasons[key] {
      if known.reason != reason { reasons[key] = (known.item, reason); changed = true }
      return
    }
    try file?.append(row: [item, reason])
    if !listed.contains(key) { order.append(.file(key)); listed.insert(key) }
    reasons[key] = (item, reason)
  }

  /// Cuts an unfinished last row back off, once the run's checks have passed.
  func settle() throws { try file?.settle() }

  /// Removes the ledger file when this run created it and wrote nothing to it.
  func removeIfUnused() { file?.removeIfUnused() }

  /// A file diagnosed now (by `DiagnosisRun.identity`): its row leaves the ledger at `finish`.
  mutating func succeeded(_ key: PathKey) {
    guard reasons[key] != nil else { return }
    reasons[key] = nil
    changed = true
  }

  mutating func finish() throws {
    guard changed else { return }
    var text = CSV.row(["path", "error"])
    for entry in order {
      switch entry {
      case .file(let key): if let r = reasons[key] { text += CSV.row([r.item, r.reason]) }
      case .other(let fields): text += CSV.row(fields)
      }
    }
    // Replaced while still locked (the lock goes with the old file when it closes).
    do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
      throw TaskError.invalid("\(path): cannot rewrite the errors ledger (\((error as NSError).localizedDescription))")
    }
    file = nil
  }
}
