import Foundation

/// A problem with one input row, reported by line number (the row is left out).
public struct RowIssue: Codable, Equatable, Sendable, CustomStringConvertible {
  public var file: String
  public var line: Int
  public var reason: String
  public var description: String { "\(file):\(line): \(reason)" }
}

/// Why predictions could not be read at all.
public enum PredictionsError: Error, CustomStringConvertible, Equatable {
  case cannotRead(path: String, reason: String)
  case badHeader(path: String, reason: String)
  case noRows(path: String, issues: [RowIssue])
  /// A line that makes the whole file ambiguous (a manifest path listed twice).
  case badLine(path: String, line: Int, reason: String)

  public var description: String {
    switch self {
    case .cannotRead(let path, let reason): return "\(path): cannot read: \(reason)"
    case .badHeader(let path, let reason): return "\(path): bad header: \(reason)"
    case .badLine(let path, let line, let reason): return "\(path):\(line): \(reason)"
    case .noRows(let path, let issues):
      let shown = issues.prefix(5).map { "  \($0)" }.joined(separator: "\n")
      return "\(path): no usable rows" + (issues.isEmpty ? " (the file has a header and nothing else)" : ":\n" + shown + (issues.count > 5 ? "\n  ... and \(issues.count - 5) more" : ""))
    }
  }
}

/// Scored predictions with their ground truth: what every metric is computed from.
///
/// Columns are stored flat (`probabilities[row * classes.count + class]`), so a million rows
/// over 40 classes are three arrays, not a million objects.
public struct PredictionTable: Sendable {
  /// Class names, in report order (the order of the `p_<class>` columns).
  public var classes: [String]
  public var paths: [String] = []
  /// Study of each row (empty string when there is no study column).
  public var studies: [String] = []
  /// Ground-truth and predicted class indices.
  public var truth: [Int32] = []
  public var predicted: [Int32] = []
  /// Row-major `[n, classes.count]` probabilities.
  public var probabilities: [Double] = []
  /// Rows left out, with the reason.
  public var issues: [RowIssue] = []
  /// The file line of each row, when the table was read from a file (empty otherwise): an
  /// issue found after reading (a path listed again) names its line.
  public var lines: [Int] = []

  public init(classes: [String]) { self.classes = classes }

  public var count: Int { truth.count }
  public var hasStudies: Bool { studies.contains { !$0.isEmpty } }

  /// Appends one row (used by readers and by tests building tables in code).
  public mutating func append(path: String, study: String, truth t: Int, predicted p: Int, probabilities probs: [Double]) {
    precondition(probs.count == classes.count, "\(probs.count) probabilities for \(classes.count) classes")
    paths.append(path)
    studies.append(study)
    truth.append(Int32(t))
    predicted.append(Int32(p))
    probabilities.append(contentsOf: probs)
  }

  /// The same rows with the classes in `order` (a file whose `p_` columns come in another
  /// order holds the same predictions), or nil when `order` is not the same set of classes.
  public func reordered(to order: [String]) -> PredictionTable? {
    guard order != classes else { return self }
    guard Set(order) == Set(classes), order.count == classes.count else { return nil }
    let k = classes.count
    let newIndex = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, Int32($0)) })
    let map = classes.map { newIndex[$0]! }  // old index -> new index
    var t = self
    t.classes = order
    t.truth = truth.map { map[Int($0)] }
    t.predicted = predicted.map { map[Int($0)] }
    for row in 0..<count {
      for c in 0..<k { t.probabilities[row * k + Int(map[c])] = probabilities[row * k + c] }
    }
    return t
  }

  /// The rows `indices`, in that order (per-study blocks, bootstrap samples).
  public func subset(_ indices: [Int]) -> PredictionTable {
    var t = PredictionTable(classes: classes)
    let k = classes.count
    t.paths = indices.map { paths[$0] }
    t.studies = indices.map { studies[$0] }
    t.truth = indices.map { truth[$0] }
    t.predicted = indices.map { predicted[$0] }
    if lines.count == count { t.lines = indices.map { lines[$0] } }
    t.probabilities.reserveCapacity(indices.count * k)
    for i in indices { t.probabilities.append(contentsOf: probabilities[(i * k)..<((i + 1) * k)]) }
    return t
  }

  /// Row indices grouped by study, studies sorted by name.
  public func rowsByStudy() -> [(study: String, rows: [Int])] {
    var groups: [String: [Int]] = [:]
    for (i, s) in studies.enumerated() { groups[s, default: []].append(i) }
    return groups.keys.sorted().map { ($0, groups[$0]!) }
  }
}
