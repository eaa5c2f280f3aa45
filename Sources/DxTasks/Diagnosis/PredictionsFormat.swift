import DxCSV
import Foundation

/// The predictions CSV every diagnosis writes and `effdx evaluate` reads:
/// `path,study,label,predicted,p_<class>...[,top<k>]`, probabilities to 6 decimals. `diagnose`
/// and `train`'s `test_predictions.csv` both write through it, so the two cannot drift apart.
public struct PredictionsFormat: Sendable {
  public var classes: [String]
  /// Extra column listing the k most probable classes (0: none).
  public var topK = 0

  public init(classes: [String], topK: Int = 0) {
    self.classes = classes
    self.topK = topK
  }

  /// A file written beside predictions `output`: `PRED.csv` -> `PRED<suffix>`; any other name
  /// keeps its extension (`a.tsv` -> `a.tsv<suffix>`), so two outputs never share one.
  public static func sibling(of output: String, suffix: String) -> String {
    ((output as NSString).pathExtension.lowercased() == "csv" ? (output as NSString).deletingPathExtension : output) + suffix
  }

  public var header: [String] {
    ["path", "study", "label", "predicted"] + classes.map { "p_\($0)" } + (topK > 0 ? ["top\(topK)"] : [])
  }

  /// What is wrong with a row read back (a resumed run counts its path as done), or nil: its
  /// column count, a predicted class the header does not name, a probability that is not a
  /// number in 0...1.
  public func problem(with fields: [String]) -> String? {
    guard fields.count == header.count else { return "\(fields.count) columns, not the header's \(header.count)" }
    guard !fields[0].isEmpty else { return "no path" }
    guard classes.contains(fields[3]) else { return "predicted class '\(fields[3])' is not one of the header's" }
    for (i, text) in fields[4..<(4 + classes.count)].enumerated() {
      guard let p = Double(text), p.isFinite, (0...1).contains(p) else { return "p_\(classes[i]) is '\(text)', not a probability" }
    }
    return nil
  }

  /// One row; `predicted` defaults to the most probable class.
  public func row(path: String, study: String, label: String, probabilities p: [Float], predicted: Int? = nil) -> [String] {
    let predicted = predicted ?? p.argmax
    var row = [path, study, label, classes[predicted]] + p.map { String(format: "%.6f", $0) }
    if topK > 0 { row.append(p.indices.sorted { p[$0] > p[$1] }.prefix(topK).map { classes[$0] }.joined(separator: ";")) }
    return row
  }
}

extension Array where Element == Float {
  /// The index of the first largest value (numpy's `argmax`); 0 for an empty array.
  public var argmax: Int {
    var best = 0
    for i in indices where self[i] > self[best] { best = i }
    return best
  }
}
