import Foundation
import DxCSV

/// Writes a report as the files a lab keeps: `report.json`, `per_class.csv`, `per_study.csv`,
/// `confusion_matrix.csv`, `report.md` and a self-contained `report.html`. Each file is written
/// to a temporary name and renamed, so an interrupted run never leaves a half-written report.
public enum ReportWriter {
  public static let fileNames = ["report.json", "per_class.csv", "per_study.csv", "confusion_matrix.csv", "report.md", "report.html"]

  /// Why `directory` may not receive a report, or nil: a file there of one of the report's
  /// names that an earlier report did not write (no `report.json` of ours beside it) is the
  /// user's, and is never replaced; nor is one of `inputs` (`--out` the folder of its own
  /// predictions, named `per_study.csv`, replaced them).
  public static func refusal(directory: String, inputs: [String]) -> String? {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else { return nil }
    guard isDirectory.boolValue else { return "\(directory) is a file, not a folder" }
    func resolved(_ path: String) -> String { URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path }
    let targets = fileNames.map { resolved(URL(fileURLWithPath: directory).appendingPathComponent($0).path) }
    for input in inputs where targets.contains(resolved(input)) {
      return "it would replace the input \(input) (a report file's name); choose another folder"
    }
    let present = fileNames.filter { FileManager.default.fileExists(atPath: URL(fileURLWithPath: directory).appendingPathComponent($0).path) }
    guard let first = present.first else { return nil }
    let json = URL(fileURLWithPath: directory).appendingPathComponent("report.json")
    // Mapped only when it is a regular file (a FIFO named report.json blocked here).
    let data = try? InputFile.contents(json.path, maxBytes: .max).get()
    return data.map(isOurReport) == true ? nil : "\(directory) holds \(first), which no earlier report wrote there (no report.json of effdx's beside it): choose another folder"
  }

  /// Whether `data` is a report.json effdx wrote: a JSON object with the report's top-level
  /// keys, a `schema_version` and the `inputs` naming its predictions. (Any JSON holding the
  /// text "schema_version" passed, and another tool's report.md was replaced.) A report past
  /// 256 MB is searched for those keys as effdx writes them rather than parsed.
  static func isOurReport(_ data: Data) -> Bool {
    let keys = ["schema_version", "inputs", "classes", "overall"]
    guard data.count <= 256 << 20 else {
      return data.first == UInt8(ascii: "{") && keys.allSatisfy { data.range(of: Data("\n  \"\($0)\" : ".utf8)) != nil }
    }
    guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          object["schema_version"] is String, let inputs = object["inputs"] as? [String: Any], inputs["predictions"] is String,
          object["classes"] is [Any], object["overall"] is [String: Any] else { return false }
    return true
  }

  public static func write(_ report: EvaluationReport, to directory: String) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let files: [(String, String)] = [
      ("report.json", try json(report)), ("per_class.csv", CSVReports.perClass(report)), ("per_study.csv", CSVReports.perStudy(report)),
      ("confusion_matrix.csv", CSVReports.confusionMatrix(report)), ("report.md", MarkdownReport.render(report)),
      ("report.html", HTMLReport.render(report)),
    ]
    for (name, text) in files {
      let url = URL(fileURLWithPath: directory).appendingPathComponent(name)
      let temp = URL(fileURLWithPath: directory).appendingPathComponent(".\(name).tmp")
      try Data(text.utf8).write(to: temp)
      guard rename(temp.path, url.path) == 0 else {
        throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path, NSLocalizedDescriptionKey: "cannot write \(url.path): \(String(cString: strerror(errno)))"])
      }
    }
  }

  /// `report.json`: keys sorted, so two runs diff cleanly.
  public static func json(_ report: EvaluationReport) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(report), as: UTF8.self) + "\n"
  }
}

/// Number formatting shared by the human-readable reports.
enum Format {
  /// A metric's key as a reader says it (`macro_f1` -> "macro F1").
  static func metricName(_ key: String) -> String {
    let names = ["accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro F1", "weighted_f1": "weighted F1",
                 "macro_precision": "macro precision", "macro_recall": "macro recall", "cohen_kappa": "Cohen's kappa",
                 "matthews_corrcoef": "Matthews correlation", "roc_auc_macro": "ROC-AUC (macro)", "log_loss": "log loss",
                 "ece": "expected calibration error", "average_precision_macro": "average precision (macro)"]
    return names[key] ?? key.replacingOccurrences(of: "_", with: " ")
  }
  /// Intervals resampled from fewer than 10 studies are too few to lean on: said beside them.
  static func fewStudies(_ n: Int) -> String { n < 10 ? " (from only \(n) studies: a rough interval)" : "" }
  /// The caveat under the overall intervals when they resample fewer than 10 studies.
  static func studyCaveat(_ r: EvaluationReport) -> String? {
    guard r.overall.ci95 != nil, (2..<10).contains(r.studies.count) else { return nil }
    return "The intervals resample whole studies, and there are only \(r.studies.count): read them as rough."
  }
  static func metric(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "n/a" }
  static func percent(_ v: Double?) -> String { v.map { String(format: "%.1f%%", 100 * $0) } ?? "n/a" }
  static func interval(_ i: Interval?) -> String { i.map { String(format: "[%.4f, %.4f]", $0.lower, $0.upper) } ?? "" }
  /// Full precision, for machine-readable attributes and CSV (round-trips through Double).
  static func exact(_ v: Double?) -> String { v.map { "\($0)" } ?? "" }
}
