import DxCSV
import Foundation

/// Reads predictions written by diagnosis (`path,study,label,predicted,p_<class>...`), with
/// the ground truth either in the same file (`label`) or in a manifest joined on `path`.
///
/// Bad rows never stop an evaluation: a row that does not join, names an unknown class or
/// holds a malformed number is left out and listed in `issues` with its line number. Files
/// without quoted fields are parsed on every core (a million rows is a few hundred MB).
public enum PredictionsReader {
  /// A labels manifest's rows by path, as listed and made absolute (by bytes: `PathKey`).
  typealias Truth = [PathKey: (label: String, study: String?, line: Int, listed: String)]

  /// The most classes a predictions file may have (a checkpoint's limit): a header of a million
  /// `p_` columns is refused before anything is sized by it.
  public static let maxClasses = 100_000

  /// - Parameters:
  ///   - labelsPath: optional manifest (`path,label[,study]...`) holding the ground truth.
  ///   - studyColumn: the column that groups rows (slide, patient, field); missing is allowed.
  public static func read(predictions path: String, labels labelsPath: String? = nil, studyColumn: String = "study") throws -> PredictionTable {
    let data = try load(path)
    let truthByPath = try labelsPath.map { try readManifest($0, studyColumn: studyColumn) }
    var table = try data.withUnsafeBytes { raw -> PredictionTable in
      let bytes = raw.bindMemory(to: UInt8.self)
      try refuseBinary(bytes, path: path)
      var header: [String] = []
      let bodyStart = CSVRecords.forEachRecord(bytes, limit: 1) { _, fields, b in header = fields.map { $0.string(b).trimmingCharacters(in: .whitespaces) } }
      guard !header.isEmpty else { throw PredictionsError.badHeader(path: path, reason: "the file is empty") }
      let layout = try Layout(header: header, path: path, hasManifest: truthByPath != nil, studyColumn: studyColumn)
      let firstLine = 2 + bytes[..<bodyStart].dropLast().filter { $0 == 0x0A }.count  // header may span lines
      let chunks = chunkBoundaries(bytes, from: bodyStart, count: bytes[bodyStart...].contains(0x22) ? 1 : ProcessInfo.processInfo.activeProcessorCount)
      var parts = [PredictionTable](repeating: PredictionTable(classes: layout.classes), count: chunks.count)
      parts.withUnsafeMutableBufferPointer { out in
        DispatchQueue.concurrentPerform(iterations: chunks.count) { c in
          var part = PredictionTable(classes: layout.classes)
          CSVRecords.forEachRecord(bytes, from: chunks[c].start, to: chunks[c].end, firstLine: firstLine + chunks[c].lineOffset) { line, fields, b in
            layout.parse(line: line, fields: fields, bytes: b, truth: truthByPath, path: path, into: &part)
          }
          out[c] = part
        }
      }
      var table = parts[0]
      for part in parts.dropFirst() {
        table.paths += part.paths
        table.studies += part.studies
        table.truth += part.truth
        table.predicted += part.predicted
        table.lines += part.lines
        table.probabilities += part.probabilities
        table.issues += part.issues
      }
      return table
    }
    if let truthByPath, let labelsPath {
      // Each manifest line is listed under its own name and its absolute path: a line is unused
      // when neither joined.
      let cwd = FileManager.default.currentDirectoryPath
      let used = Set(table.paths.map(PathKey.init)).union(table.paths.map { PathKey(PredictionsReader.absolute($0, base: cwd)) })
      var lines: [Int: (listed: String, used: Bool)] = [:]
      for (p, t) in truthByPath { lines[t.line] = (t.listed, (lines[t.line]?.used ?? false) || used.contains(p)) }
      for (line, entry) in lines.sorted(by: { $0.key < $1.key }) where !entry.used {
        table.issues.append(RowIssue(file: labelsPath, line: line, reason: "path '\(entry.listed)' has no prediction"))
      }
    }
    table = dropDuplicates(table, path: path)
    table.issues.sort { ($0.file, $0.line) < ($1.file, $1.line) }
    if table.count == 0 { throw PredictionsError.noRows(path: path, issues: table.issues) }
    return table
  }

  /// A CSV is text: a NUL byte is refused at the first one, naming its line, before the file
  /// is scanned (a 16 GB sparse file of NULs after a good row was read four times over, for a
  /// minute, and passed).
  static func refuseBinary(_ bytes: CSVRecords.Bytes, path: String) throws {
    guard let base = bytes.baseAddress, let hit = memchr(base, 0, bytes.count) else { return }
    let offset = UnsafeRawPointer(hit) - UnsafeRawPointer(base)
    let line = bytes[..<offset].reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
    throw PredictionsError.badLine(path: path, line: line, reason: "a NUL byte at byte \(offset): not a text file")
  }

  /// Splits `bytes[start...]` into `count` pieces at line ends, with each piece's line offset.
  static func chunkBoundaries(_ bytes: CSVRecords.Bytes, from start: Int, count: Int) -> [(start: Int, end: Int, lineOffset: Int)] {
    var cuts = [start]
    for c in 1..<max(1, count) {
      var i = max(cuts.last!, start + (bytes.count - start) * c / count)
      while i < bytes.count && bytes[i - 1] != 0x0A { i += 1 }
      cuts.append(i)
    }
    cuts.append(bytes.count)
    var out: [(Int, Int, Int)] = []
    var lines = 0
    for c in 0..<(cuts.count - 1) {
      out.append((cuts[c], cuts[c + 1], lines))
      if c < cuts.count - 2 { lines += bytes[cuts[c]..<cuts[c + 1]].filter { $0 == 0x0A }.count }
    }
    return out
  }

  /// Where each column is, decided once from the header.
  struct Layout {
    var classes: [String] = []
    var probColumns: [Int] = []
    var pathColumn: Int, predictedColumn: Int, labelColumn: Int?, studyColumn: Int?
    var fieldCount: Int
    var classIndex: [String: Int] = [:]

    init(header: [String], path: String, hasManifest: Bool, studyColumn name: String) throws {
      var col: [String: Int] = [:]
      for (i, h) in header.enumerated() {
        // Two columns of one name: which one a reader takes is arbitrary (two `label`s made
        // every row's truth the second's without a word).
        guard col.updateValue(i, forKey: h) == nil else { throw PredictionsError.badHeader(path: path, reason: "column '\(h)' appears twice") }
      }
      for (i, h) in header.enumerated() where h.hasPrefix("p_") {
        classes.append(String(h.dropFirst(2)))
        probColumns.append(i)
      }
      guard let p = col["path"] else { throw PredictionsError.badHeader(path: path, reason: "no 'path' column") }
      guard let pr = col["predicted"] else { throw PredictionsError.badHeader(path: path, reason: "no 'predicted' column") }
      guard classes.count >= 2 else { throw PredictionsError.badHeader(path: path, reason: "needs a p_<class> column per class (at least two)") }
      guard classes.count <= PredictionsReader.maxClasses else {
        throw PredictionsError.badHeader(path: path, reason: "\(classes.count) p_<class> columns; at most \(PredictionsReader.maxClasses) classes (a checkpoint's limit)")
      }
      guard hasManifest || col["label"] != nil else { throw PredictionsError.badHeader(path: path, reason: "no 'label' column and no --labels manifest") }
      // A study column named on purpose must exist, and be no other column's: a missing one
      // left the report without studies, a probability column made each value a "study".
      if name == "path" || name == "label" || name == "predicted" || name.hasPrefix("p_") || name.isEmpty {
        throw PredictionsError.badHeader(path: path, reason: "'\(name)' cannot be the study column (--study-column): it is the file's \(name.isEmpty ? "nothing" : "own \(name) column")")
      }
      if name != "study" && col[name] == nil {
        throw PredictionsError.badHeader(path: path, reason: "no column '\(name)' for the studies (--study-column); it has \(header.joined(separator: ", "))")
      }
      pathColumn = p
      predictedColumn = pr
      labelColumn = col["label"]
      studyColumn = col[name]
      fieldCount = header.count
      for (i, c) in classes.enumerated() { classIndex[c] = i }
    }

    func parse(line: Int, fields: [CSVRecords.Field], bytes: CSVRecords.Bytes, truth: Truth?, path: String, into table: inout PredictionTable) {
      func issue(_ reason: String) { table.issues.append(RowIssue(file: path, line: line, reason: reason)) }
      guard fields.count == fieldCount else { return issue("\(fields.count) fields, header has \(fieldCount)") }
      let rowPath = fields[pathColumn].string(bytes)
      var study = studyColumn.map { fields[$0].string(bytes) } ?? ""
      let label: String
      if let truth {
        // The manifest line naming this very file first, then one listing the same text (a
        // manifest of `class/x.png` for predictions of `/data/holdout/class/x.png`).
        guard let t = truth[fileKey(rowPath)] ?? truth[PathKey(rowPath)] else {
          return issue("path '\(rowPath)' is not in the labels manifest")
        }
        label = t.label
        if let s = t.study, studyColumn == nil || study.isEmpty { study = s }
      } else {
        label = fields[labelColumn!].string(bytes)
      }
      guard let y = classIndex[label] else { return issue("unknown label '\(label)' (classes: \(classes.joined(separator: ", ")))") }
      let predictedName = fields[predictedColumn].string(bytes)
      guard let p = classIndex[predictedName] else { return issue("unknown predicted class '\(predictedName)'") }
      let start = table.probabilities.count
      for (c, column) in probColumns.enumerated() {
        guard let v = fields[column].double(bytes), v.isFinite, v >= 0, v <= 1 else {
          table.probabilities.removeSubrange(start...)
          return issue("p_\(classes[c]) = '\(fields[column].string(bytes))' is not a probability in [0, 1]")
        }
        table.probabilities.append(v)
      }
      // Probabilities of one row sum to one (to the 6 decimals diagnosis writes); all zeros, or
      // a row of another model's columns, would score as nonsense.
      let sum = table.probabilities[start...].reduce(0, +)
      // 0.01, or half a unit in the third decimal per class for files written with few decimals.
      guard abs(sum - 1) <= max(0.01, Double(probColumns.count) * 0.0005) else {
        table.probabilities.removeSubrange(start...)
        return issue("probabilities sum to \(sum), not 1")
      }
      table.paths.append(rowPath)
      table.studies.append(study)
      table.truth.append(Int32(y))
      table.predicted.append(Int32(p))
      table.lines.append(line)
    }
  }

  /// A path listed twice would count twice: the first row stays, later ones are issues.
  static func dropDuplicates(_ t: PredictionTable, path: String) -> PredictionTable {
    // By bytes: two files whose names differ only in Unicode normalisation are two files.
    var first: [PathKey: Int] = [:], keep: [Int] = [], issues = t.issues
    func line(_ i: Int) -> Int { t.lines.count == t.count ? t.lines[i] : 0 }
    for (i, p) in t.paths.enumerated() {
      let key = fileKey(p)
      if let earlier = first[key] {
        issues.append(RowIssue(file: path, line: line(i), reason: "path '\(p)' is listed again (first on line \(line(earlier)) as '\(t.paths[earlier])'; the first row is used)"))
      } else {
        first[key] = i
        keep.append(i)
      }
    }
    guard keep.count < t.count else { return t }
    var out = t.subset(keep)
    out.issues = issues
    return out
  }

  static func load(_ path: String) throws -> Data {
    // Any size: the file is mapped, not copied (a predictions file of 1,000 classes passes
    // 1 GiB at about 120,000 images).
    switch InputFile.contents(path, maxBytes: .max) {
    case .success(let data): return data
    case .failure(let e): throw PredictionsError.cannotRead(path: path, reason: e.reason)
    }
  }

  /// A path's file, by bytes: made absolute against the working folder and standardised, so
  /// `x.png`, `./x.png` and its absolute path are one file (symbolic links are not followed).
  public static func fileKey(_ path: String) -> PathKey { PathKey(absolute(path, base: FileManager.default.currentDirectoryPath)) }

  /// `path` made absolute against `base` and standardised, for joining files named differently
  /// (a manifest lists `class/x.png`, a prediction `/data/holdout/class/x.png`).
  static func absolute(_ path: String, base: String) -> String {
    let full = path.hasPrefix("/") ? path : (base as NSString).appendingPathComponent(path)
    return (full as NSString).standardizingPath
  }

  static func readManifest(_ path: String, studyColumn: String) throws -> Truth {
    let base = (PredictionsReader.absolute(path, base: FileManager.default.currentDirectoryPath) as NSString).deletingLastPathComponent
    var out: Truth = [:]
    // As train's manifests: at most 1 GiB, a header without a column twice, every row as
    // wide as it, labels trimmed, each file once however it is spelled (`x.png`, `./x.png`).
    let data: Data
    switch InputFile.contents(path) {
    case .success(let d): data = d
    case .failure(let e): throw PredictionsError.cannotRead(path: path, reason: e.reason)
    }
    try data.withUnsafeBytes { raw in
      try refuseBinary(raw.bindMemory(to: UInt8.self), path: path)
      var col: [String: Int] = [:], width = 0
      try CSVRecords.forEachRecord(raw.bindMemory(to: UInt8.self)) { line, fields, b in
        if width == 0 {
          for (i, f) in fields.enumerated() {
            let name = f.string(b).trimmingCharacters(in: .whitespaces)
            guard col.updateValue(i, forKey: name) == nil else { throw PredictionsError.badHeader(path: path, reason: "column '\(name)' appears twice") }
          }
          guard col["path"] != nil, col["label"] != nil else { throw PredictionsError.badHeader(path: path, reason: "a labels manifest needs 'path' and 'label' columns") }
          width = fields.count
          return
        }
        guard fields.count == width else { throw PredictionsError.badLine(path: path, line: line, reason: "\(fields.count) fields, the header has \(width)") }
        let listed = fields[col["path"]!].string(b)
        let label = fields[col["label"]!].string(b).trimmingCharacters(in: .whitespaces)
        guard !listed.isEmpty, !label.isEmpty else { throw PredictionsError.badLine(path: path, line: line, reason: "an empty path or label") }
        let entry = (label, col[studyColumn].map { fields[$0].string(b) }, line, listed)
        // A path listed twice has two truths; the later one silently won (train and diagnose
        // refuse the same in their manifests).
        let keys = [PathKey(listed), PathKey(PredictionsReader.absolute(listed, base: base))]
        if let earlier = keys.lazy.compactMap({ out[$0] }).first {
          let spelled = earlier.listed.utf8.elementsEqual(listed.utf8) ? "" : " as '\(earlier.listed)'"
          throw PredictionsError.badLine(path: path, line: line, reason: "'\(listed)' is listed again (first on line \(earlier.line)\(spelled)): which label is its truth?")
        }
        for key in keys { out[key] = entry }
      }
      // An empty file (or a byte-order mark alone) has no header at all.
      guard width > 0 else { throw PredictionsError.badHeader(path: path, reason: "a labels manifest needs a header with 'path' and 'label' columns") }
    }
    return out
  }

}
