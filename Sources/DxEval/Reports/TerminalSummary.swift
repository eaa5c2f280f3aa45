/// The few lines `effdx evaluate` prints: the headline numbers, with intervals when computed.
public enum TerminalSummary {
  public static func render(_ r: EvaluationReport) -> String {
    let o = r.overall
    let ci = o.ci95 ?? [:]
    var lines = ["\(o.n) images, \(r.classes.count) classes" + (r.studies.isEmpty ? "" : ", \(r.studies.count) studies")]
    func row(_ name: String, _ v: Double?, _ key: String? = nil) {
      lines.append("  " + name.padding(toLength: 26, withPad: " ", startingAt: 0) + Format.metric(v) + (key.flatMap { ci[$0] }.map { "  95% CI " + Format.interval($0) } ?? ""))
    }
    row("accuracy", o.accuracy, "accuracy")
    row("balanced accuracy", o.balancedAccuracy, "balanced_accuracy")
    row("macro F1", o.macro.f1, "macro_f1")
    row("weighted F1", o.weighted.f1, "weighted_f1")
    row("Cohen's kappa", o.cohenKappa, "cohen_kappa")
    row("ROC-AUC (macro)", o.rocAucMacro, "roc_auc_macro")
    row("log loss", o.logLoss)
    row("ECE", o.ece, "ece")
    // A study-level diagnosis means something only when each study has one label (a slide, a
    // patient); fields or batches that mix classes get no such line (see report.md).
    if let level = r.studyLevel, !r.warnings.contains(where: { $0.contains("more than one label") }) {
      row("study-level accuracy", level.metrics.accuracy, nil)
    }
    if let sc = r.shortcutCheck {
      lines.append("  shortcut check:           " + sc.baselines.map { "\($0.name) \(Format.metric($0.accuracy))\($0.flagged ? " (flagged)" : "")" }.joined(separator: ", "))
    }
    if let cmp = r.comparison, let d = cmp.metrics["macro_f1"] {
      lines.append("  macro F1, other - this:    \(Format.metric(d.difference))  95% CI \(Format.interval(d.ci95))")
    }
    if !r.warnings.isEmpty { lines.append("\(r.warnings.count) warnings (see report.md)") }
    if !r.rowIssues.isEmpty { lines.append("\(r.rowIssues.count) rows left out, e.g. \(r.rowIssues[0])") }
    return lines.joined(separator: "\n")
  }
}
