import Foundation

/// Inline SVG charts for the HTML report: plain shapes and text, sized to the data.
enum Charts {
  static let blue = (r: 37.0, g: 99.0, b: 235.0)

  /// White-to-blue shade for a share in [0, 1].
  static func shade(_ v: Double) -> String {
    let t = max(0, min(1, v))
    let c = { (x: Double) in Int(255 - (255 - x) * t) }
    return "rgb(\(c(blue.r)),\(c(blue.g)),\(c(blue.b)))"
  }

  static func confusion(_ r: EvaluationReport) -> String {
    let k = r.classes.count
    let cell = max(12.0, min(56.0, 640.0 / Double(k)))
    // Room for the longest class name: beside the rows, and rotated 60 degrees above the columns.
    let longest = Double(r.classes.map(\.count).max() ?? 1)
    let label = min(170, 16 + 6.5 * longest)
    let top = min(150, 16 + 5.7 * longest)
    let size = cell * Double(k)
    var s = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(label + size + 60))\" height=\"\(Int(top + size + 10))\" role=\"img\" aria-label=\"confusion matrix\">"]
    for (i, name) in r.classes.enumerated() {
      let y = top + cell * (Double(i) + 0.5)
      s.append("<text x=\"\(label - 6)\" y=\"\(y + 4)\" text-anchor=\"end\" font-size=\"11\">\(HTMLReport.esc(name))</text>")
      s.append("<text transform=\"translate(\(label + cell * (Double(i) + 0.5) + 4),\(top - 6)) rotate(-60)\" font-size=\"11\">\(HTMLReport.esc(name))</text>")
    }
    let normalized = r.overall.confusionMatrixNormalized ?? []
    for (i, row) in (r.overall.confusionMatrix ?? []).enumerated() {
      for (j, count) in row.enumerated() {
        let share = normalized[i][j]
        let x = label + cell * Double(j), y = top + cell * Double(i)
        s.append("<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell - 1)\" height=\"\(cell - 1)\" fill=\"\(shade(share))\"><title>truth \(HTMLReport.esc(r.classes[i])), predicted \(HTMLReport.esc(r.classes[j])): \(count) (\(Format.percent(share)) of row)</title></rect>")
        if cell >= 26 {
          s.append("<text x=\"\(x + cell / 2)\" y=\"\(y + cell / 2 + 4)\" text-anchor=\"middle\" font-size=\"11\" fill=\"\(share > 0.5 ? "#fff" : "#1d2733")\">\(count)</text>")
        }
      }
    }
    s.append("</svg>")
    return s.joined(separator: "\n")
  }

  /// One off-diagonal cell of the overall confusion matrix.
  struct Confusion {
    var truth: Int, predicted: Int, count: Int
    /// The cell's share of its row (of the truth class's images), as the grid shades it.
    var share: Double
  }

  /// The `limit` largest off-diagonal cells of the overall matrix, most images first (ties in
  /// class order): what report.md and report.html show instead of the grid past
  /// `EvaluationReport.fullMatrixClassLimit` classes, whose k x k cells no page can draw.
  static func topConfusions(_ r: EvaluationReport, limit: Int = 20) -> [Confusion] {
    var cells: [Confusion] = []
    for (i, row) in (r.overall.confusionMatrix ?? []).enumerated() {
      let support = row.reduce(0, +)
      for (j, count) in row.enumerated() where j != i && count > 0 {
        cells.append(Confusion(truth: i, predicted: j, count: count, share: Double(count) / Double(support)))
      }
    }
    cells.sort { a, b in a.count != b.count ? a.count > b.count : (a.truth, a.predicted) < (b.truth, b.predicted) }
    return Array(cells.prefix(limit))
  }

  /// Horizontal grouped bars: precision, recall and F1 per class.
  static func classBars(_ r: EvaluationReport) -> String {
    let colors = [("precision", "#2563eb"), ("recall", "#16a34a"), ("F1", "#f59e0b")]
    // Room for the longest class name beside its bars (as in the confusion matrix).
    let label = min(260, max(80, 16 + 6.5 * Double(r.classes.map(\.count).max() ?? 1)))
    let width = 420.0, bar = 7.0, gap = 10.0
    let group = bar * 3 + gap
    let height = 30 + group * Double(r.classes.count)
    var s = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(label + width + 60))\" height=\"\(Int(height + 10))\" role=\"img\" aria-label=\"per-class precision, recall and F1\">"]
    for (i, (name, color)) in colors.enumerated() {
      s.append("<rect x=\"\(label + Double(i) * 100)\" y=\"4\" width=\"10\" height=\"10\" fill=\"\(color)\"/><text x=\"\(label + Double(i) * 100 + 14)\" y=\"13\" font-size=\"11\">\(name)</text>")
    }
    for tick in [0.0, 0.5, 1.0] {
      let x = label + width * tick
      s.append("<line x1=\"\(x)\" y1=\"22\" x2=\"\(x)\" y2=\"\(height)\" stroke=\"#d8dee6\"/><text x=\"\(x)\" y=\"\(height + 10)\" font-size=\"10\" text-anchor=\"middle\">\(tick)</text>")
    }
    for (i, c) in r.classes.enumerated() {
      let b = r.overall.perClass[c]!
      let y0 = 26 + group * Double(i)
      s.append("<text x=\"\(label - 6)\" y=\"\(y0 + bar * 1.5 + 4)\" text-anchor=\"end\" font-size=\"11\">\(HTMLReport.esc(c))</text>")
      for (j, v) in [b.precision, b.recall, b.f1].enumerated() {
        s.append("<rect x=\"\(label)\" y=\"\(y0 + bar * Double(j))\" width=\"\(max(0.5, width * v))\" height=\"\(bar - 1)\" fill=\"\(colors[j].1)\"><title>\(HTMLReport.esc(c)) \(colors[j].0): \(Format.metric(v))</title></rect>")
      }
    }
    s.append("</svg>")
    return s.joined(separator: "\n")
  }

  /// Reliability diagram: accuracy per confidence bin against the diagonal.
  static func reliability(_ bins: [ScoreMetrics.ReliabilityBin]) -> String {
    let size = 300.0, pad = 40.0
    var s = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(size + 2 * pad))\" height=\"\(Int(size + 2 * pad))\" role=\"img\" aria-label=\"reliability diagram\">"]
    s.append("<rect x=\"\(pad)\" y=\"\(pad)\" width=\"\(size)\" height=\"\(size)\" fill=\"none\" stroke=\"#9aa5b1\"/>")
    s.append("<line x1=\"\(pad)\" y1=\"\(pad + size)\" x2=\"\(pad + size)\" y2=\"\(pad)\" stroke=\"#9aa5b1\" stroke-dasharray=\"4 3\"/>")
    for b in bins {
      guard let acc = b.accuracy, let conf = b.confidence else { continue }
      let x = pad + size * b.lower, w = size * (b.upper - b.lower)
      s.append("<rect x=\"\(x)\" y=\"\(pad + size * (1 - acc))\" width=\"\(w - 1)\" height=\"\(size * acc)\" fill=\"#2563eb\" fill-opacity=\"0.75\"><title>confidence \(Format.metric(b.lower))-\(Format.metric(b.upper)): \(b.count) images, accuracy \(Format.metric(acc)), mean confidence \(Format.metric(conf))</title></rect>")
      s.append("<line x1=\"\(x)\" y1=\"\(pad + size * (1 - conf))\" x2=\"\(x + w - 1)\" y2=\"\(pad + size * (1 - conf))\" stroke=\"#dc2626\" stroke-width=\"2\"/>")
    }
    for tick in [0.0, 0.5, 1.0] {
      s.append("<text x=\"\(pad + size * tick)\" y=\"\(pad + size + 16)\" font-size=\"10\" text-anchor=\"middle\">\(tick)</text>")
      s.append("<text x=\"\(pad - 6)\" y=\"\(pad + size * (1 - tick) + 4)\" font-size=\"10\" text-anchor=\"end\">\(tick)</text>")
    }
    s.append("<text x=\"\(pad + size / 2)\" y=\"\(pad + size + 32)\" font-size=\"11\" text-anchor=\"middle\">confidence (top-class probability)</text>")
    s.append("<text transform=\"translate(12,\(pad + size / 2)) rotate(-90)\" font-size=\"11\" text-anchor=\"middle\">accuracy</text>")
    s.append("<text x=\"\(pad + 8)\" y=\"\(pad + 14)\" font-size=\"10\" fill=\"#dc2626\">red: mean confidence in the bin</text>")
    s.append("</svg>")
    return s.joined(separator: "\n")
  }

  /// ROC (false against true positive rate) or precision-recall curves of every class in one
  /// square, each class a line, its AUC or AP in the legend.
  static func curves(_ r: EvaluationReport, roc: Bool) -> String {
    // The legend is as wide as its longest line (class name and area) at about 6.5 px a character.
    let longest = r.classes.map(\.count).max() ?? 10
    let size = 300.0, pad = 40.0, legend = max(170.0, Double(longest + 14) * 6.5 + 20)
    let palette = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"]
    var s = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(size + 2 * pad + legend))\" height=\"\(Int(size + 2 * pad))\" role=\"img\" aria-label=\"\(roc ? "ROC" : "precision-recall") curves\">"]
    s.append("<rect x=\"\(pad)\" y=\"\(pad)\" width=\"\(size)\" height=\"\(size)\" fill=\"none\" stroke=\"#9aa5b1\"/>")
    if roc { s.append("<line x1=\"\(pad)\" y1=\"\(pad + size)\" x2=\"\(pad + size)\" y2=\"\(pad)\" stroke=\"#9aa5b1\" stroke-dasharray=\"4 3\"/>") }
    s.append("<text x=\"\(pad + size / 2)\" y=\"\(pad + size + 28)\" text-anchor=\"middle\" font-size=\"11\">\(roc ? "false positive rate" : "recall")</text>")
    s.append("<text x=\"12\" y=\"\(pad + size / 2)\" text-anchor=\"middle\" font-size=\"11\" transform=\"rotate(-90 12 \(pad + size / 2))\">\(roc ? "true positive rate" : "precision")</text>")
    for (i, c) in r.classes.prefix(palette.count).enumerated() {
      guard let points = r.curves?[c]?.points, !points.isEmpty else { continue }
      let start = roc ? "\(pad),\(pad + size)" : "\(pad),\(pad + size * (1 - points[0].precision))"
      let xy = points.map { p in roc ? "\(pad + size * p.fpr),\(pad + size * (1 - p.tpr))" : "\(pad + size * p.recall),\(pad + size * (1 - p.precision))" }
      s.append("<polyline fill=\"none\" stroke=\"\(palette[i])\" stroke-width=\"2\" points=\"\(([start] + xy).joined(separator: " "))\"><title>\(HTMLReport.esc(c))</title></polyline>")
      let value = roc ? r.overall.rocAuc[c] ?? nil : r.overall.averagePrecision[c] ?? nil
      let y = pad + 14 + 16 * Double(i)
      s.append("<rect x=\"\(pad * 2 + size)\" y=\"\(y - 9)\" width=\"10\" height=\"10\" fill=\"\(palette[i])\"/><text x=\"\(pad * 2 + size + 14)\" y=\"\(y)\" font-size=\"11\">\(HTMLReport.esc(c)) (\(roc ? "AUC" : "AP") \(Format.metric(value)))</text>")
    }
    if r.classes.count > palette.count { s.append("<text x=\"\(pad * 2 + size)\" y=\"\(pad + 14 + 16 * Double(palette.count))\" font-size=\"11\">\(r.classes.count - palette.count) more classes in report.json</text>") }
    s.append("</svg>")
    return s.joined(separator: "\n")
  }
}

