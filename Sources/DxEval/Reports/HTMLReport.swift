import Foundation

/// `report.html`: one self-contained page (inline CSS and SVG; no scripts, fonts or links to
/// fetch), readable offline on a lab workstation and printable. Every number also sits in a
/// `data-value` attribute at full precision, so tests and scripts can read it back.
enum HTMLReport {
  static func esc(_ s: String) -> String {
    var out = ""
    for ch in s {
      switch ch {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      default: out.append(ch)
      }
    }
    return out
  }

  /// A table cell holding a metric: shown rounded, kept exact.
  static func num(_ v: Double?, key: String? = nil) -> String {
    let attr = key.map { " data-key=\"\(esc($0))\"" } ?? ""
    return "<td class=\"num\"\(attr) data-value=\"\(Format.exact(v))\">\(Format.metric(v))</td>"
  }

  static let style = """
    body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d2733;margin:24px auto;max-width:1100px;padding:0 16px}
    h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #d8dee6;padding-bottom:4px}
    .sub{color:#5a6675;margin-top:0}table{border-collapse:collapse;margin:8px 0}th,td{padding:4px 10px;border-bottom:1px solid #e6eaef;text-align:left}
    th{background:#f3f6f9;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
    .cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #d8dee6;border-radius:6px;padding:10px 14px;min-width:150px}
    .card .v{font-size:22px;font-weight:600}.card .l{color:#5a6675;font-size:12px}.card .ci{color:#5a6675;font-size:12px}
    .warn li{color:#8a5300}svg text{font-family:inherit}.note{color:#8a5300}tr.flag td{background:#fff4e0}
    .examples{display:flex;flex-wrap:wrap;gap:10px}.examples figure{margin:0;width:150px;font-size:12px;color:#5a6675}.examples img{width:150px;height:auto;display:block;border:1px solid #d8dee6}.examples code{word-break:break-all}
    """

  static func render(_ r: EvaluationReport) -> String {
    let o = r.overall
    var h = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\"><title>EfficientDx evaluation report</title>", "<style>\(style)</style></head><body>"]
    h.append("<h1>Evaluation report</h1>")
    h.append("<p class=\"sub\">\(esc(r.inputs.predictions))\(r.inputs.labels.map { " with labels from " + esc($0) } ?? "") &middot; \(o.n) images &middot; \(r.classes.count) classes\(r.studies.isEmpty ? "" : " &middot; \(r.studies.count) studies") &middot; schema \(r.schemaVersion)</p>")
    if let p = r.provenance {
      h.append("<section id=\"provenance\"><h2>Provenance</h2><table>" + p.lines.map { "<tr><th>\(esc($0.0))</th><td><code>\(esc($0.1))</code></td></tr>" }.joined() + "</table></section>")
    }
    // Summary cards.
    h.append("<section id=\"summary\"><h2>Overall</h2><div class=\"cards\">")
    let ci = o.ci95 ?? [:]
    for (label, key, v) in [("Accuracy", "accuracy", o.accuracy), ("Balanced accuracy", "balanced_accuracy", o.balancedAccuracy), ("Macro F1", "macro_f1", o.macro.f1), ("Weighted F1", "weighted_f1", o.weighted.f1)] as [(String, String, Double)] {
      h.append("<div class=\"card\"><div class=\"v\" data-key=\"\(key)\" data-value=\"\(Format.exact(v))\">\(Format.percent(v))</div><div class=\"l\">\(label)</div><div class=\"ci\">95% CI \(esc(Format.interval(ci[key])))</div></div>")
    }
    h.append("</div>")
    if let note = Format.studyCaveat(r) { h.append("<p class=\"sub\">\(esc(note))</p>") }
    h.append("<table><tr><th>metric</th><th>value</th><th>95% CI</th></tr>")
    let rows: [(String, String, Double?)] = [
      ("macro precision", "macro_precision", o.macro.precision), ("macro recall", "macro_recall", o.macro.recall),
      ("Cohen's kappa", "cohen_kappa", o.cohenKappa), ("Matthews correlation", "matthews_corrcoef", o.matthewsCorrcoef),
      ("ROC-AUC, macro one-vs-rest", "roc_auc_macro", o.rocAucMacro), ("average precision, macro", "average_precision_macro", o.averagePrecisionMacro),
      ("log loss", "log_loss", o.logLoss), ("expected calibration error", "ece", o.ece),
    ] + o.topKAccuracy.keys.sorted().map { ("top-\($0) accuracy", "top_\($0)_accuracy", o.topKAccuracy[$0]) }
    for (label, key, v) in rows { h.append("<tr><td>\(label)</td>\(num(v, key: key))<td>\(esc(Format.interval(ci[key])))</td></tr>") }
    h.append("</table></section>")
    // Per class.
    h.append("<section id=\"per-class\"><h2>Per class</h2><table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th><th>ROC-AUC</th><th>95% CI</th><th>AP</th><th>95% CI</th></tr>")
    for c in r.classes {
      let b = o.perClass[c]!
      h.append("<tr data-class=\"\(esc(c))\"><td>\(esc(c))</td>\(num(b.precision, key: "precision"))\(num(b.recall, key: "recall"))\(num(b.f1, key: "f1"))<td class=\"num\" data-key=\"support\" data-value=\"\(b.support)\">\(b.support)</td>\(num(o.rocAuc[c] ?? nil, key: "roc_auc"))<td>\(esc(Format.interval(ci["roc_auc:" + c])))</td>\(num(o.averagePrecision[c] ?? nil, key: "average_precision"))<td>\(esc(Format.interval(ci["average_precision:" + c])))</td></tr>")
    }
    h.append("</table>\(Charts.classBars(r))</section>")
    if r.classes.count <= EvaluationReport.fullMatrixClassLimit {
      h.append("<section id=\"confusion-matrix\"><h2>Confusion matrix</h2><p class=\"sub\">Rows: truth; columns: prediction; shade: share of the row.</p>\(Charts.confusion(r))</section>")
    } else {
      // A grid of k x k cells is too large to draw or read: the most frequent confusions instead.
      let top = Charts.topConfusions(r)
      var list = "<p>None: every image was predicted as its truth.</p>"
      if !top.isEmpty {
        let items: [String] = top.map { c in
          "<tr><td>\(esc(r.classes[c.truth]))</td><td>\(esc(r.classes[c.predicted]))</td><td class=\"num\" data-value=\"\(c.count)\">\(c.count)</td><td class=\"num\" data-value=\"\(Format.exact(c.share))\">\(Format.percent(c.share))</td></tr>"
        }
        list = "<table><tr><th>truth</th><th>predicted</th><th>images</th><th>share of the truth</th></tr>" + items.joined() + "</table>"
      }
      h.append("<section id=\"confusion-matrix\"><h2>Confusion matrix</h2><p class=\"sub\">\(r.classes.count) classes are too many for a grid: the whole matrix is in confusion_matrix.csv and report.json. The \(top.count) most frequent confusions:</p>\(list)</section>")
    }
    if let curves = r.curves, curves.values.contains(where: { !$0.points.isEmpty }) {
      h.append("<section id=\"curves\"><h2>ROC and precision-recall curves</h2><p class=\"sub\">Each class against the rest, over all images; the points are in report.json (<code>curves</code>).</p>\(Charts.curves(r, roc: true))\(Charts.curves(r, roc: false))</section>")
    }
    h.append("<section id=\"reliability\"><h2>Calibration</h2><p class=\"sub\">Accuracy against confidence in \(o.reliability.count) bins; the diagonal is perfect calibration. ECE \(Format.metric(o.ece)).</p>\(Charts.reliability(o.reliability))</section>")
    if !r.studies.isEmpty {
      let diagnoses = Dictionary(uniqueKeysWithValues: (r.studyLevel?.diagnoses ?? []).map { ($0.study, $0) })
      h.append("<section id=\"per-study\"><h2>Per study</h2><table><tr><th>study</th><th>images</th><th>accuracy</th><th>balanced accuracy</th><th>macro F1</th><th>truth</th><th>diagnosis</th><th>confidence</th></tr>")
      for s in r.studies.keys.sorted() {
        let b = r.studies[s]!
        let d = diagnoses[s]
        h.append("<tr data-study=\"\(esc(s))\"><td>\(esc(s))</td><td class=\"num\" data-key=\"n\" data-value=\"\(b.n)\">\(b.n)</td>\(num(b.accuracy, key: "accuracy"))\(num(b.balancedAccuracy, key: "balanced_accuracy"))\(num(b.macro.f1, key: "macro_f1"))<td>\(esc(d?.truth ?? ""))</td><td>\(esc(d?.predicted ?? ""))</td>\(num(d?.confidence, key: "confidence"))</tr>")
      }
      h.append("</table></section>")
    }
    if let level = r.studyLevel {
      let m = level.metrics
      h.append("<section id=\"study-level\"><h2>Study-level diagnosis</h2><p class=\"sub\">Aggregation: \(esc(level.aggregation)); \(m.n) studies.</p>" + (r.studyLevelNote.map { "<p class=\"note\">\(esc($0))</p>" } ?? "") + "<table><tr><th>metric</th><th>value</th><th>95% CI</th></tr>")
      for (label, key, v) in [("accuracy", "accuracy", m.accuracy), ("balanced accuracy", "balanced_accuracy", m.balancedAccuracy), ("macro F1", "macro_f1", m.macro.f1)] as [(String, String, Double)] {
        h.append("<tr><td>\(label)</td>\(num(v, key: key))<td>\(esc(Format.interval(m.ci95?[key])))\(m.ci95?[key] == nil ? "" : esc(Format.fewStudies(m.n)))</td></tr>")
      }
      h.append("</table></section>")
    } else if let note = r.studyLevelNote {
      h.append("<section id=\"study-level\"><h2>Study-level diagnosis</h2><p class=\"note\">\(esc(note))</p></section>")
    }
    if let op = r.operatingPoints {
      h.append("<section id=\"operating-points\"><h2>Operating points: \(esc(op.positiveClass)) against the rest</h2><p class=\"sub\">Calling \(esc(op.positiveClass)) by the argmax rule, at a threshold on its probability, and at the highest threshold reaching the target sensitivity; then a table of thresholds.</p><table><tr><th>rule</th><th>threshold</th><th>TP</th><th>FP</th><th>TN</th><th>FN</th><th>sensitivity</th><th>specificity</th><th>PPV</th><th>NPV</th></tr>")
      for p in op.points + op.table { h.append("<tr>" + OperatingPoints.row(p).map { "<td>\(esc($0))</td>" }.joined() + "</tr>") }
      h.append("</table></section>")
    }
    if let sc = r.shortcutCheck {
      h.append("<section id=\"shortcut-check\"><h2>Shortcut check</h2><p class=\"sub\">\(esc(ShortcutCheck.summary(sc)))</p><table><tr><th>model</th><th>accuracy</th><th>features</th></tr>")
      h.append("<tr><td>the model</td>\(num(sc.modelAccuracy, key: "model_accuracy"))<td>the images</td></tr>")
      for b in sc.baselines { h.append("<tr\(b.flagged ? " class=\"flag\"" : "")><td>\(esc(b.name))\(b.flagged ? " (flagged)" : "")</td>\(num(b.accuracy, key: "baseline_accuracy"))<td>\(esc(b.features))</td></tr>") }
      h.append("<tr><td>the most common class</td>\(num(sc.majorityAccuracy, key: "majority_accuracy"))<td>none</td></tr></table>")
      if let w = sc.warning { h.append("<p class=\"note\"><strong>Warning:</strong> \(esc(w))</p>") }
      h.append("</section>")
    }
    if let examples = r.examples, !examples.isEmpty {
      h.append("<section id=\"examples\"><h2>Examples</h2><p class=\"sub\">Per class, the most confident errors and the least confident correct predictions\(examples.contains(where: \.gradCAM) ? ", each with its Grad-CAM of the predicted class (where the model looked)" : "").</p>")
      for c in r.classes {
        let own = examples.filter { $0.className == c }
        guard !own.isEmpty else { continue }
        h.append("<h3>\(esc(c))</h3><div class=\"examples\">")
        for e in own {
          let pictures = [r.embedded[e.path], r.embedded["gradcam:" + e.path]].compactMap { $0 }.map { "<img src=\"\($0)\" alt=\"\(esc((e.path as NSString).lastPathComponent))\">" }.joined()
          h.append("<figure data-kind=\"\(esc(e.kind))\">\(pictures)<figcaption>\(esc(e.kind)): predicted \(esc(e.predicted)) (\(Format.percent(e.confidence)))<br><code>\(esc((e.path as NSString).lastPathComponent))</code></figcaption></figure>")
        }
        h.append("</div>")
      }
      h.append("</section>")
    }
    if let maps = r.slideMaps, !maps.isEmpty {
      h.append("<section id=\"slide-maps\"><h2>Slide heatmaps</h2><p class=\"sub\">Each classified tile tinted by the probability shown in its legend, from diagnose --heatmaps.</p>")
      for m in maps {
        let counts = r.classes.compactMap { c in m.tilesByClass[c].map { "\(esc(c)) \($0)" } }.joined(separator: ", ")
        h.append("<figure class=\"slide-map\">\(r.embedded[m.heatmap].map { "<img src=\"\($0)\" alt=\"heatmap of \(esc(m.slide))\" style=\"max-width:100%\">" } ?? "")<figcaption><strong>\(esc(m.slide))</strong>: \(m.tiles) tiles (\(counts))\(m.failedTiles > 0 ? ", \(m.failedTiles) unreadable" : "")</figcaption></figure>")
      }
      h.append("</section>")
    }
    if let cmp = r.comparison {
      h.append("<section id=\"comparison\"><h2>Comparison</h2><p class=\"sub\">Other: \(esc(cmp.other)); \(cmp.n) shared images; difference = other &minus; this, with a paired bootstrap interval.</p><table><tr><th>metric</th><th>this</th><th>other</th><th>difference</th><th>95% CI</th></tr>")
      for key in cmp.metrics.keys.sorted() {
        let d = cmp.metrics[key]!
        h.append("<tr data-metric=\"\(key)\"><td>\(esc(Format.metricName(key)))</td>\(num(d.a, key: "a"))\(num(d.b, key: "b"))\(num(d.difference, key: "difference"))<td>\(esc(Format.interval(d.ci95)))</td></tr>")
      }
      h.append("</table></section>")
    }
    h.append("<section id=\"warnings\"><h2>Warnings</h2>" + (r.warnings.isEmpty ? "<p>None.</p>" : "<ul class=\"warn\">" + r.warnings.map { "<li>\(esc($0))</li>" }.joined() + "</ul>") + "</section>")
    h.append("<section id=\"row-issues\"><h2>Rows left out</h2>" + (r.rowIssues.isEmpty ? "<p>None.</p>" : "<ul class=\"warn\">" + r.rowIssues.map { "<li>\(esc($0.description))</li>" }.joined() + "</ul>") + "</section>")
    h.append("</body></html>")
    return h.joined(separator: "\n") + "\n"
  }
}
