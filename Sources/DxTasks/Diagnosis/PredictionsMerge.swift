import DxCSV
import Foundation

/// Joins the predictions of a diagnosis job's shards (`effdx merge`) into one predictions CSV,
/// its errors file and its provenance, after checking that they belong together: the same
/// checkpoint (by digest) and columns, every shard of the same file list exactly once, and
/// every file of the list in exactly one shard's predictions or errors. Anything else is an
/// error naming the files or shards; nothing is written until every check has passed.
public enum PredictionsMerge {
  public struct Summary: Sendable {
    public var rows = 0, errors = 0, parts = 0
  }

  struct Part {
    var path: String
    var meta: DiagnosisMeta
    var header: [String]
    var rows: [[String]]
    var errors: [[String]]
  }

  public static func merge(_ paths: [String], into output: String) throws -> Summary {
    guard !paths.isEmpty else { throw TaskError.invalid("merge: give the predictions CSVs of the shards") }
    let targets = [output, ErrorsLedger.path(forOutput: output), DiagnosisMeta.path(forOutput: output)]
    for t in targets where FileManager.default.fileExists(atPath: t) {
      throw TaskError.invalid("--out \(output): \(t) exists; merge writes new files (remove it or choose another name)")
    }
    var seenParts = Set<String>()
    let parts = try paths.map { path -> Part in
      guard seenParts.insert(DiagnosisRun.key(path)).inserted else { throw TaskError.invalid("\(path) is given twice") }
      return try read(path)
    }
    try checkTogether(parts)
    // Coverage: each listed file in exactly one part's predictions or errors. Paths are told
    // apart by their bytes (`PathKey`): Unicode twins are two files.
    let all = Set(parts.flatMap(\.meta.files).map(PathKey.init))
    var owner: [PathKey: String] = [:]
    var duplicates: [String] = [], unexpected: [String] = []
    var inputErrors: [[String]] = [], inputErrorKeys = Set<PathKey>()
    for part in parts {
      let listed = Set(part.meta.files.map(PathKey.init))
      for row in part.errors where !listed.contains(PathKey(row[0])) {
        // An input that never became a file of the list (a link loop, a link to nothing):
        // every shard expands the same inputs, so each may record it; kept once. A file of
        // another shard's list is another run's row.
        if all.contains(PathKey(row[0])) {
          unexpected.append("\(row[0]) (in \(part.path)'s errors)")
        } else if inputErrorKeys.insert(PathKey(row[0])).inserted {
          inputErrors.append(row)
        }
      }
      let done = part.rows.map { $0[0] } + part.errors.map { $0[0] }.filter { listed.contains(PathKey($0)) }
      for file in done {
        if let other = owner[PathKey(file)] { duplicates.append("\(file) (in \(other) and \(part.path))"); continue }
        owner[PathKey(file)] = part.path
        if !listed.contains(PathKey(file)) { unexpected.append("\(file) (in \(part.path))") }
      }
    }
    try checkList(parts, all: all)
    let missing = all.subtracting(owner.keys).map { String(decoding: $0.bytes, as: UTF8.self) }.sorted(by: byBytes)
    func few(_ list: [String]) -> String { list.prefix(10).joined(separator: "; ") + (list.count > 10 ? "; and \(list.count - 10) more" : "") }
    if !duplicates.isEmpty { throw TaskError.invalid("merge: \(duplicates.count) files appear twice: \(few(duplicates))") }
    if !unexpected.isEmpty { throw TaskError.invalid("merge: \(unexpected.count) rows are for files not in their shard's list (another run's rows?): \(few(unexpected))") }
    if !missing.isEmpty { throw TaskError.invalid("merge: \(missing.count) files of the list are in no predictions or errors file (a shard not finished?): \(few(missing))") }

    // Written in the list's order (sorted by path), each file whole before its name is taken.
    let rows = parts.flatMap(\.rows).sorted { byBytes($0[0], $1[0]) }
    let errors = (parts.flatMap { part in part.errors.filter { owner[PathKey($0[0])] == part.path } } + inputErrors).sorted { byBytes($0[0], $1[0]) }
    var meta = parts[0].meta
    meta.shard = nil
    meta.files = parts.flatMap(\.meta.files).sorted(by: byBytes)
    meta.inputs = parts.flatMap(\.meta.inputs).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    meta.rows = rows.count
    // Each count was checked to be at most 10^12, so the sums cannot overflow.
    meta.written = parts.map(\.meta.written).reduce(0, +)
    meta.skipped = parts.map(\.meta.skipped).reduce(0, +)
    meta.failed = parts.map(\.meta.failed).reduce(0, +)
    meta.started = parts.map(\.meta.started).min() ?? meta.started
    meta.finished = parts.map(\.meta.finished).max() ?? meta.finished
    try publish([([parts[0].header] + rows).map(CSV.row).joined(), ([["path", "error"]] + errors).map(CSV.row).joined(), try meta.encoded()], to: targets)
    return Summary(rows: rows.count, errors: errors.count, parts: parts.count)
  }

  static func read(_ path: String) throws -> Part {
    let metaPath = DiagnosisMeta.path(forOutput: path)
    let meta = try DiagnosisMeta.read(metaPath)
    // Numbers from a file are checked before they are used (a sum, a range).
    for (name, value) in [("rows", meta.rows), ("written", meta.written), ("skipped", meta.skipped), ("failed", meta.failed)] where !(0...1_000_000_000_000).contains(value) {
      throw TaskError.invalid("\(metaPath): \(name) is \(value), not a count")
    }
    if let s = meta.shard {
      guard (try? Shard(index: s.index, count: s.count)) != nil, s.totalFiles >= 0, s.totalFiles <= 1_000_000_000_000 else {
        throw TaskError.invalid("\(metaPath): shard \(s.index)/\(s.count) of \(s.totalFiles) files is not a shard")
      }
    }
    guard let data = FileManager.default.contents(atPath: path) else { throw TaskError.invalid("\(path): cannot read it") }
    let records = CSV.records(data).map(\.fields)
    guard let header = records.first, header.first == "path" else { throw TaskError.invalid("\(path): not a predictions CSV (its first column is not path)") }
    let rows = Array(records.dropFirst())
    if let bad = rows.firstIndex(where: { $0.count != header.count }) { throw TaskError.invalid("\(path):\(bad + 2): \(rows[bad].count) fields, the header has \(header.count)") }
    // A shard cut short ends inside its last row ("0.234" of "0.234239"): diagnose writes
    // whole lines only, so a missing line end is damage, never a row to keep.
    if !rows.isEmpty && data.last != UInt8(ascii: "\n") {
      throw TaskError.invalid("\(path):\(rows.count + 1): the last line has no line end (the file was cut short?)")
    }
    // Every row as a resumed diagnose checks it: a damaged probability or class is no prediction.
    let classes = header.filter { $0.hasPrefix("p_") }.map { String($0.dropFirst(2)) }
    let topK = header.last.flatMap { $0.hasPrefix("top") ? Int($0.dropFirst(3)) : nil } ?? 0
    let format = PredictionsFormat(classes: classes, topK: topK)
    guard format.header == header else { throw TaskError.invalid("\(path): its columns are not a predictions file's (path, study, label, predicted, p_<class>...)") }
    for (i, row) in rows.enumerated() {
      if let why = format.problem(with: row) { throw TaskError.invalid("\(path):\(i + 2): \(why)") }
    }
    guard meta.classes == classes else {
      throw TaskError.invalid("\(metaPath): its classes \(meta.classes) are not the columns of \(path) (\(classes)): an edited provenance file?")
    }
    var errors: [[String]] = []
    let errorsFile = ErrorsLedger.path(forOutput: path)
    if FileManager.default.fileExists(atPath: errorsFile) || (try? FileManager.default.destinationOfSymbolicLink(atPath: errorsFile)) != nil {
      // Checked as a ledger diagnose wrote: a regular text file of bounded size (a FIFO was read
      // as empty, binary bytes were copied into the merged ledger).
      let text: Data
      switch InputFile.contents(errorsFile, maxBytes: ErrorsLedger.maxBytes) {
      case .success(let data): text = data
      case .failure(let e): throw TaskError.invalid("\(e)")
      }
      guard String(data: text, encoding: .utf8) != nil else { throw TaskError.invalid("\(errorsFile): not UTF-8 text (an errors ledger diagnose wrote is)") }
      guard !text.contains(0) else { throw TaskError.invalid("\(errorsFile): holds a NUL byte (an errors ledger diagnose wrote does not)") }
      let records = CSV.records(text).map(\.fields)
      guard records.first == ["path", "error"] else { throw TaskError.invalid("\(errorsFile): its first line is not path,error") }
      errors = records.dropFirst().filter { !$0.isEmpty }.map { $0.count >= 2 ? Array($0.prefix(2)) : [$0[0], ""] }
    }
    return Part(path: path, meta: meta, header: header, rows: rows, errors: errors)
  }

  /// One checkpoint, one set of columns, and the shards of one list, each once.
  static func checkTogether(_ parts: [Part]) throws {
    let first = parts[0]
    for p in parts.dropFirst() {
      if p.meta.checkpoint.sha256 != first.meta.checkpoint.sha256 {
        throw TaskError.invalid("merge: \(first.path) and \(p.path) come from different checkpoints (\(first.meta.checkpoint.path) sha256 \(first.meta.checkpoint.sha256.prefix(12)), \(p.meta.checkpoint.path) sha256 \(p.meta.checkpoint.sha256.prefix(12)))")
      }
      if p.header != first.header { throw TaskError.invalid("merge: \(p.path) has other columns than \(first.path)") }
      if let changed = DiagnosisMeta.changedSettings(first.meta, p.meta) {
        throw TaskError.invalid("merge: \(first.path) and \(p.path) were diagnosed with other settings (\(changed))")
      }
    }
    // Relative paths name files of the folder their shard ran in: shards run in two folders
    // list the same names for other files.
    if parts.contains(where: { $0.meta.files.contains { !$0.hasPrefix("/") } }),
      let other = parts.first(where: { p in p.meta.workingDirectory.map(DiagnosisRun.identity) != first.meta.workingDirectory.map(DiagnosisRun.identity) })
    {
      throw TaskError.invalid("merge: \(first.path) and \(other.path) hold relative paths but ran in different folders (\(first.meta.workingDirectory ?? "unrecorded") and \(other.meta.workingDirectory ?? "unrecorded"))")
    }
    let sharded = parts.filter { $0.meta.shard != nil }
    guard !sharded.isEmpty else { return }
    guard sharded.count == parts.count else {
      throw TaskError.invalid("merge: \(parts.first { $0.meta.shard == nil }!.path) is not a shard, \(sharded[0].path) is: merge the shards of one job")
    }
    let s0 = first.meta.shard!
    var byIndex: [Int: String] = [:]
    for p in parts {
      let s = p.meta.shard!
      guard s.count == s0.count, s.listSHA256 == s0.listSHA256, s.totalFiles == s0.totalFiles else {
        throw TaskError.invalid("merge: \(p.path) is shard \(s.index)/\(s.count) of another file list than \(first.path) (\(s.totalFiles) files against \(s0.totalFiles), or other paths)")
      }
      if let other = byIndex[s.index] { throw TaskError.invalid("merge: shard \(s.index)/\(s.count) is given twice: \(other) and \(p.path)") }
      byIndex[s.index] = p.path
    }
    let absent = (0..<s0.count).filter { byIndex[$0] == nil }
    if !absent.isEmpty {
      throw TaskError.invalid("merge: shards \(absent.prefix(10).map { "\($0)/\(s0.count)" }.joined(separator: ", "))\(absent.count > 10 ? " and \(absent.count - 10) more" : "") are missing")
    }
  }

  /// The shards' files are the whole list the shards agreed on (its size and digest), and
  /// each shard's are exactly its every-N-th: an edited `files` array cannot hide a file.
  static func checkList(_ parts: [Part], all: Set<PathKey>) throws {
    guard let s0 = parts[0].meta.shard else { return }
    let sorted = all.map { String(decoding: $0.bytes, as: UTF8.self) }.sorted(by: byBytes)
    guard sorted.count == s0.totalFiles, SHA256.hex(Data(sorted.joined(separator: "\n").utf8)) == s0.listSHA256 else {
      throw TaskError.invalid("merge: the shards list \(sorted.count) files between them, not the \(s0.totalFiles) of the list they were cut from (an edited or truncated PRED.meta.json?)")
    }
    // Every shard's files in one walk of the list (a walk per shard made 2,000 shards of
    // 200,000 files take a minute).
    var expectedByShard = [[String]](repeating: [], count: s0.count)
    for (offset, file) in sorted.enumerated() { expectedByShard[offset % s0.count].append(file) }
    for p in parts {
      let s = p.meta.shard!
      let expected = expectedByShard[s.index]
      guard p.meta.files.sorted(by: byBytes) == expected else {
        throw TaskError.invalid("merge: \(p.path) lists other files than shard \(s.index)/\(s.count) of the list")
      }
    }
  }

  /// Paths in the order of their bytes, as `Shard` sorts the list (String's order holds
  /// Unicode twins equal, and left their order to the sort).
  static func byBytes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

  /// Writes each text to a temporary file, then gives them their names without replacing
  /// anything (a link fails when the name exists: two merges racing cannot overwrite each
  /// other); on a failure, the names already given are taken back.
  static func publish(_ texts: [String], to paths: [String]) throws {
    var temps: [String] = []
    defer { temps.forEach { unlink($0) } }
    for (text, path) in zip(texts, paths) {
      let temp = path + ".tmp-\(getpid())"
      guard FileManager.default.createFile(atPath: temp, contents: Data(text.utf8)) else {
        throw TaskError.invalid("\(path): cannot write it (\(String(cString: strerror(errno))))")
      }
      temps.append(temp)
    }
    var published: [String] = []
    for (temp, path) in zip(temps, paths) {
      guard link(temp, path) == 0 else {
        let reason = errno == EEXIST ? "it exists (another merge?)" : String(cString: strerror(errno))
        published.forEach { unlink($0) }
        throw TaskError.invalid("\(path): cannot write it: \(reason)")
      }
      published.append(path)
    }
  }
}
