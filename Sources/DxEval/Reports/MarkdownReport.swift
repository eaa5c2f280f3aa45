/// `report.md`: the report as Markdown tables, for a lab notebook or a pull request.
enum MarkdownReport {
  /// Text from a file (a class, a study, a path, a warning quoting them) as inert Markdown:
  /// `<`, `>` and `&` as entities (renderers that allow inline HTML ran a class named
  /// `<script>...`), `|` escaped for tables, and every control character a space (a bare `\r`
  /// ended a table row for CommonMark).
  static func cell(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for ch in s.unicodeScalars {
      switch ch {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "|": out += "\\|"
      default: out.unicodeScalars.append(ch.properties.generalCategory == .control ? " " : ch)
      }
    }
    return out
  }

  /// A path in a code span: no backtick can close it early, no control character break it.
  static func code(_ s: String) -> String {
    "`" + String(String.UnicodeScalarView(s.unicodeScalars.map { $0 == "`" ? "'" : $0.properties.generalCategory == .control ? " " : $0 })) + "`"
  }

  static func render(_ r: EvaluationReport) -> String {
    let o = r.overall
    var md = ["# Evaluation report", "", "Predictions: \(code(r.inputs.predictions))" + (r.inputs.labels.map { ", labels: \(code($0))" } ?? "") + ". \(o.n) images, \(r.classes.count) classes" + (r.studies.isEmpty ? "." : ", \(r.studies.count) studies."), ""]
    if let p = r.provenance {
      md += ["## Provenance", "", "| | |", "| --- | --- |"] + p.lines.map { "| \($0.0) | \(cell($0.1)) |" } + [""]
    }
    md += ["## Overall", "", "| metric | value | 95% CI |", "| --- | --- | --- |"]
    let ci = o.ci95 ?? [:]
    for (name, key, value) in [("accuracy", "accuracy", o.accuracy), ("balanced accuracy", "balanced_accuracy", o.balancedAccuracy),
                               ("macro F1", "macro_f1", o.macro.f1), ("weighted F1", "weighted_f1", o.weighted.f1),
                               ("macro precision", "macro_precision", o.macro.precision), ("macro recall", "macro_recall", o.macro.recall)] as [(String, String, Double)] {
      md.append("| \(name) | \(Format.metric(value)) | \(Format.interval(ci[key])) |")
    }
    md.append("| Cohen's kappa | \(Format.metric(o.cohenKappa)) | \(Format.interval(ci["cohen_kappa"])) |")
    md.append("| Matthews correlation | \(Format.metric(o.matthewsCorrcoef)) | \(Format.interval(ci["matthews_corrcoef"])) |")
    md.append("| ROC-AUC (macro, one-vs-rest) | \(Format.metric(o.rocAucMacro)) | \(Format.interval(ci["roc_auc_macro"])) |")
    md.append("| average precision (macro) | \(Format.metric(o.averagePrecisionMacro)) | \(Format.interval(ci["average_precision_macro"])) |")
    for k in o.topKAccuracy.keys.sorted() where k != "1" { md.append("| top-\(k) accuracy | \(Format.metric(o.topKAccuracy[k])) | |") }
    md.append("| log loss | \(Format.metric(o.logLoss)) | |")
    md.append("| expected calibration error | \(Format.metric(o.ece)) | \(Format.interval(ci["ece"])) |")
    if let note = Format.studyCaveat(r) { md += ["", note] }
    md += ["", "## Per class", "", "| class | precision | recall | F1 | support | ROC-AUC | AP |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for c in r.classes {
      let b = o.perClass[c]!
      md.append("| \(cell(c)) | \(Format.metric(b.precision)) | \(Format.metric(b.recall)) | \(Format.metric(b.f1)) | \(b.support) | \(Format.metric(o.rocAuc[c] ?? nil)) \(Format.interval(ci["roc_auc:" + c])) | \(Format.metric(o.averagePrecision[c] ?? nil)) \(Format.interval(ci["average_precision:" + c])) |")
    }
    if r.classes.count <= EvaluationReport.fullMatrixClassLimit {
      md += ["", "## Confusion matrix (rows: truth, columns: prediction)", "", "| | " + r.classes.map(cell).joined(separator: " | ") + " |", "| --- |" + String(repeating: " --- |", count: r.classes.count)]
      for (i, row) in (o.confusionMatrix ?? []).enumerated() { md.append("| **\(cell(r.classes[i]))** | " + row.map(String.init).joined(separator: " | ") + " |") }
    } else {
      // k x k cells are no table to read: the most frequent confusions; the matrix is in confusion_matrix.csv.
      let top = Charts.topConfusions(r)
      md += ["", "## Most frequent confusions", "", "\(r.classes.count) classes are too many for a table of the matrix: it is in `confusion_matrix.csv` and `report.json`."]
      if top.isEmpty {
        md += ["", "None: every image was predicted as its truth."]
      } else {
        md += ["", "| truth | predicted | images | share of the truth |", "| --- | --- | --- | --- |"]
        for c in top { md.append("| \(cell(r.classes[c.truth])) | \(cell(r.classes[c.predicted])) | \(c.count) | \(Format.percent(c.share)) |") }
      }
    }
    if !r.studies.isEmpty {
      md += ["", "## Per study", "", "| study | n | accuracy | balanced accuracy | macro F1 | study truth | study diagnosis |", "| --- | --- | --- | --- | --- | --- | --- |"]
      let diagnoses = Dictionary(uniqueKeysWithValues: (r.studyLevel?.diagnoses ?? []).map { ($0.study, $0) })
      for s in r.studies.keys.sorted() {
        let b = r.studies[s]!
        md.append("| \(cell(s)) | \(b.n) | \(Format.metric(b.accuracy)) | \(Format.metric(b.balancedAccuracy)) | \(Format.metric(b.macro.f1)) | \(cell(diagnoses[s]?.truth ?? "")) | \(cell(diagnoses[s]?.predicted ?? "")) |")
      }
    }
    if let level = r.studyLevel {
      let m = level.metrics
      md += ["", "## Study-level diagnosis (\(cell(level.aggregation)))", ""] + (r.studyLevelNote.map { [cell($0), ""] } ?? []) +
            ["\(m.n) studies: accuracy \(Format.metric(m.accuracy)) \(Format.interval(m.ci95?["accuracy"]))\(m.ci95 == nil ? "" : Format.fewStudies(m.n)), balanced accuracy \(Format.metric(m.balancedAccuracy)), macro F1 \(Format.metric(m.macro.f1))."]
    } else if let note = r.studyLevelNote {
      md += ["", "## Study-level diagnosis", "", cell(note)]
    }
    if let op = r.operatingPoints {
      md += ["", "## Operating points: \(cell(op.positiveClass)) against the rest", "", "| rule | threshold | TP | FP | TN | FN | sensitivity | specificity | PPV | NPV |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
      for p in op.points + op.table { md.append(OperatingPoints.row(p).map(cell).joined(separator: " | ").wrappedInPipes) }
      if let target = op.targetSensitivity, !op.points.contains(where: { $0.rule == "target sensitivity" }) { md += ["", "No threshold reaches sensitivity \(Format.metric(target))."] }
    }
    if let sc = r.shortcutCheck {
      md += ["", "## Shortcut check", "", ShortcutCheck.summary(sc), "", "| model | accuracy | features |", "| --- | --- | --- |",
             "| the model | \(Format.metric(sc.modelAccuracy)) | the images |"]
      for b in sc.baselines { md.append("| \(b.name)\(b.flagged ? " (flagged)" : "") | \(Format.metric(b.accuracy)) | \(b.features) |") }
      md.append("| the most common class | \(Format.metric(sc.majorityAccuracy)) | none |")
      if let w = sc.warning { md += ["", "**Warning:** " + w] }
    }
    if let cmp = r.comparison {
      md += ["", "## Comparison with \(code(cmp.other)) (\(cmp.n) shared images; difference = other - this)", "", "| metric | this | other | difference | 95% CI (paired) |", "| --- | --- | --- | --- | --- |"]
      for key in cmp.metrics.keys.sorted() {
        let d = cmp.metrics[key]!
        md.append("| \(Format.metricName(key)) | \(Format.metric(d.a)) | \(Format.metric(d.b)) | \(Format.metric(d.difference)) | \(Format.interval(d.ci95)) |")
      }
    }
    if !r.warnings.isEmpty { md += ["", "## Warnings", ""] + r.warnings.map { "- \(cell($0))" } }
    if !r.rowIssues.isEmpty { md += ["", "## Rows left out", ""] + r.rowIssues.map { "- \(cell($0.description))" } }
    return md.joined(separator: "\n") + "\n"
  }
}
