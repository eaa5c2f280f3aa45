import DxCSV

/// The CSV files of a report: full-precision numbers, one header line, RFC 4180 quoting.
enum CSVReports {
  static func field(_ s: String) -> String { CSV.field(s) }

  static func perClass(_ r: EvaluationReport) -> String {
    var lines = ["class,precision,recall,f1,support,roc_auc,average_precision"]
    for c in r.classes {
      let b = r.overall.perClass[c]!
      lines.append([field(c), Format.exact(b.precision), Format.exact(b.recall), Format.exact(b.f1), "\(b.support)",
                    Format.exact(r.overall.rocAuc[c] ?? nil), Format.exact(r.overall.averagePrecision[c] ?? nil)].joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  static let studyColumns = "study,n,accuracy,balanced_accuracy,macro_precision,macro_recall,macro_f1,weighted_f1,cohen_kappa,matthews_corrcoef,roc_auc_macro,log_loss,ece,study_truth,study_predicted,study_confidence"

  static func perStudy(_ r: EvaluationReport) -> String {
    var lines = [studyColumns]
    let diagnoses = Dictionary(uniqueKeysWithValues: (r.studyLevel?.diagnoses ?? []).map { ($0.study, $0) })
    for s in r.studies.keys.sorted() {
      let b = r.studies[s]!
      let d = diagnoses[s]
      lines.append([field(s), "\(b.n)", Format.exact(b.accuracy), Format.exact(b.balancedAccuracy), Format.exact(b.macro.precision),
                    Format.exact(b.macro.recall), Format.exact(b.macro.f1), Format.exact(b.weighted.f1), Format.exact(b.cohenKappa),
                    Format.exact(b.matthewsCorrcoef), Format.exact(b.rocAucMacro), Format.exact(b.logLoss), Format.exact(b.ece),
                    field(d?.truth ?? ""), field(d?.predicted ?? ""), Format.exact(d?.confidence)].joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// Rows = truth, columns = prediction; the corner cell says so.
  static func confusionMatrix(_ r: EvaluationReport) -> String {
    var lines = [(["truth\\predicted"] + r.classes).map(field).joined(separator: ",")]
    for (i, row) in (r.overall.confusionMatrix ?? []).enumerated() {
      lines.append(([field(r.classes[i])] + row.map(String.init)).joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
  }
}
