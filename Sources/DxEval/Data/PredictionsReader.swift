import Foundation

/// Reads predictions written by diagnosis (`path,study,label,predicted,p_<class>...`), with
/// the ground truth either in the same file (`label`) or in a manifest joined on `path`.
///
/// Bad rows never stop an evaluation: a row that does not join, names an unknown class or
/// holds a malformed number is left out and listed in `issues` with its line number.
public enum PredictionsReader {
  /// - Parameters:
  ///   - labelsPath: optional manifest (`path,label[,study]...`) holding the ground truth.
  ///   - studyColumn: the column that groups rows (slide, patient, field); missing is allowed.
  public static func read(predictions path: String, labels labelsPath: String? = nil, studyColumn: String = "study") throws -> PredictionTable {
    let csv = CSVRecords(try load(path))
    var header: [String] = []
    var classes: [String] = []
    var col: [String: Int] = [:]
    var probColumns: [Int] = []
    var table = PredictionTable(classes: [])
    var classIndex: [String: Int] = [:]
    var truthByPath: [String: (label: String, study: String?, line: Int)]? = nil
    if let labelsPath { truthByPath = try readManifest(labelsPath, studyColumn: studyColumn) }
    var usedManifestPaths = Set<String>()

    try csv.forEachRecord { line, fields in
      if header.isEmpty {
        header = fields.map { csv.string($0).trimmingCharacters(in: .whitespaces) }
        for (i, h) in header.enumerated() { col[h] = i }
        for (i, h) in header.enumerated() where h.hasPrefix("p_") {
          classes.append(String(h.dropFirst(2)))
          probColumns.append(i)
        }
        guard col["path"] != nil else { throw PredictionsError.badHeader(path: path, reason: "no 'path' column") }
        guard col["predicted"] != nil else { throw PredictionsError.badHeader(path: path, reason: "no 'predicted' column") }
        guard classes.count >= 2 else { throw PredictionsError.badHeader(path: path, reason: "needs a p_<class> column per class (at least two)") }
        guard Set(classes).count == classes.count else { throw PredictionsError.badHeader(path: path, reason: "duplicate p_<class> columns") }
        guard truthByPath != nil || col["label"] != nil else {
          throw PredictionsError.badHeader(path: path, reason: "no 'label' column and no --labels manifest")
        }
        table = PredictionTable(classes: classes)
        for (i, c) in classes.enumerated() { classIndex[c] = i }
        return
      }
      func issue(_ reason: String) { table.issues.append(RowIssue(file: path, line: line, reason: reason)) }
      guard fields.count == header.count else { return issue("\(fields.count) fields, header has \(header.count)") }
      let rowPath = csv.string(fields[col["path"]!])
      var study = col[studyColumn].map { csv.string(fields[$0]) } ?? ""
      let label: String
      if let truthByPath {
        guard let t = truthByPath[rowPath] else { return issue("path '\(rowPath)' is not in the labels manifest") }
        usedManifestPaths.insert(rowPath)
        label = t.label
        if let s = t.study, col[studyColumn] == nil || study.isEmpty { study = s }
      } else {
        label = csv.string(fields[col["label"]!])
      }
      guard let t = classIndex[label] else { return issue("unknown label '\(label)' (classes: \(classes.joined(separator: ", ")))") }
      let predictedName = csv.string(fields[col["predicted"]!])
      guard let p = classIndex[predictedName] else { return issue("unknown predicted class '\(predictedName)'") }
      var probs = [Double](repeating: 0, count: classes.count)
      for (c, column) in probColumns.enumerated() {
        guard let v = csv.double(fields[column]), v.isFinite, v >= 0, v <= 1 else {
          return issue("p_\(classes[c]) = '\(csv.string(fields[column]))' is not a probability in [0, 1]")
        }
        probs[c] = v
      }
      table.append(path: rowPath, study: study, truth: t, predicted: p, probabilities: probs)
    }
    if header.isEmpty { throw PredictionsError.badHeader(path: path, reason: "the file is empty") }
    if let truthByPath, let labelsPath {
      for (p, t) in truthByPath where !usedManifestPaths.contains(p) {
        table.issues.append(RowIssue(file: labelsPath, line: t.line, reason: "path '\(p)' has no prediction"))
      }
    }
    table.issues.sort { ($0.file, $0.line) < ($1.file, $1.line) }
    if table.count == 0 { throw PredictionsError.noRows(path: path) }
    return table
  }

  static func load(_ path: String) throws -> Data {
    do { return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
      throw PredictionsError.cannotRead(path: path, reason: (error as NSError).localizedDescription)
    }
  }

  static func readManifest(_ path: String, studyColumn: String) throws -> [String: (label: String, study: String?, line: Int)] {
    let csv = CSVRecords(try load(path))
    var col: [String: Int] = [:]
    var out: [String: (label: String, study: String?, line: Int)] = [:]
    try csv.forEachRecord { line, fields in
      if col.isEmpty {
        for (i, f) in fields.enumerated() { col[csv.string(f).trimmingCharacters(in: .whitespaces)] = i }
        guard col["path"] != nil, col["label"] != nil else { throw PredictionsError.badHeader(path: path, reason: "a labels manifest needs 'path' and 'label' columns") }
        return
      }
      guard fields.count > max(col["path"]!, col["label"]!) else { return }
      out[csv.string(fields[col["path"]!])] = (csv.string(fields[col["label"]!]), col[studyColumn].flatMap { $0 < fields.count ? csv.string(fields[$0]) : nil }, line)
    }
    return out
  }
}
