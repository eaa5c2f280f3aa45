import DxCSV
import DxEval
import DxTestSupport
import Foundation
import XCTest

final class PredictionsReaderTests: XCTestCase {
  var dir: URL!

  override func setUpWithError() throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-eval-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

  func write(_ name: String, _ text: String) -> String {
    let p = dir.appendingPathComponent(name).path
    XCTAssertTrue(FileManager.default.createFile(atPath: p, contents: Data(text.utf8)), "cannot create a test file")
    return p
  }

  func testBadRows_areListedByLineAndTheRestIsRead() throws {
    let p = write("pred.csv", """
      path,study,label,predicted,p_healthy,p_rust
      a.png,S1,healthy,healthy,0.9,0.1
      "dir, with comma/b.png",S1,rust,rust,0.2,0.8
      c.png,S2,mildew,rust,0.5,0.5
      d.png,S2,rust,healthy,abc,0.5
      e.png,S2,rust,healthy,0.5
      f.png,S2,rust,healthy,1.5,-0.5
      g.png,S2,rust,blight,0.5,0.5

      h.png,S2,rust,healthy,6e-1,4E-1\r
      """)
    let t = try PredictionsReader.read(predictions: p)
    XCTAssertEqual(t.count, 3)
    XCTAssertEqual(t.paths, ["a.png", "dir, with comma/b.png", "h.png"])
    XCTAssertEqual(t.probabilities[4], 0.6)
    XCTAssertEqual(t.issues.map(\.line), [4, 5, 6, 7, 8])
    XCTAssertTrue(t.issues[0].reason.contains("unknown label 'mildew'"))
    XCTAssertTrue(t.issues[1].reason.contains("p_healthy = 'abc'"))
    XCTAssertTrue(t.issues[2].reason.contains("5 fields"))
    XCTAssertTrue(t.issues[3].reason.contains("not a probability"))
    XCTAssertTrue(t.issues[4].reason.contains("unknown predicted class 'blight'"))
    XCTAssertTrue(t.issues.allSatisfy { $0.file == p })
  }

  func testLabelsManifest_isJoinedOnPathAndUnjoinedRowsAreReported() throws {
    let p = write("pred.csv", "path,predicted,p_a,p_b\nx.png,a,0.7,0.3\ny.png,b,0.4,0.6\nz.png,b,0.1,0.9\n")
    let m = write("labels.csv", "path,label,study\nx.png,a,P1\ny.png,a,P2\nw.png,b,P3\n")
    let t = try PredictionsReader.read(predictions: p, labels: m)
    XCTAssertEqual(t.paths, ["x.png", "y.png"])
    XCTAssertEqual(t.truth, [0, 0])
    XCTAssertEqual(t.studies, ["P1", "P2"])
    XCTAssertEqual(t.issues.map(\.description), ["\(m):4: path 'w.png' has no prediction", "\(p):4: path 'z.png' is not in the labels manifest"])
  }

  /// Ambiguous files are refused, not read one way: a path listed twice in the labels
  /// manifest (its later label silently won), a column named twice (the second `label` was
  /// every row's truth), and more p_ columns than a checkpoint may have classes (a 200,000-column
  /// header trapped allocating its 320 GB confusion matrix).
  func testAmbiguousOrOversizedFiles_areRefusedNamingTheLine() throws {
    let p = write("pred.csv", "path,predicted,p_a,p_b\nx.png,a,0.7,0.3\ny.png,b,0.4,0.6\n")
    let m = write("twice.csv", "path,label\nx.png,a\ny.png,a\nx.png,b\n")
    XCTAssertThrowsError(try PredictionsReader.read(predictions: p, labels: m)) {
      XCTAssertEqual($0 as? PredictionsError, .badLine(path: m, line: 4, reason: "'x.png' is listed again (first on line 2): which label is its truth?"))
    }
    // A study column named on purpose: it must exist, and not be a probability or the path.
    let labelled = write("labelled.csv", "path,label,predicted,p_a,p_b\nx.png,a,a,0.7,0.3\ny.png,b,b,0.4,0.6\n")
    XCTAssertThrowsError(try PredictionsReader.read(predictions: labelled, studyColumn: "nope")) { XCTAssertTrue("\($0)".contains("no column 'nope' for the studies (--study-column)"), "\($0)") }
    XCTAssertThrowsError(try PredictionsReader.read(predictions: labelled, studyColumn: "p_a")) { XCTAssertTrue("\($0)".contains("'p_a' cannot be the study column"), "\($0)") }
    XCTAssertEqual(try PredictionsReader.read(predictions: labelled).count, 2, "the default 'study' may be absent")
    let twoLabels = write("twolabels.csv", "path,label,predicted,p_a,p_b,label\nx.png,a,a,0.7,0.3,b\n")
    XCTAssertThrowsError(try PredictionsReader.read(predictions: twoLabels)) { XCTAssertTrue("\($0)".contains("column 'label' appears twice"), "\($0)") }
    let twoP = write("twop.csv", "path,label,predicted,p_a,p_b,p_a\nx.png,a,a,0.7,0.3,0\n")
    XCTAssertThrowsError(try PredictionsReader.read(predictions: twoP)) { XCTAssertTrue("\($0)".contains("column 'p_a' appears twice"), "\($0)") }
    let columns = (0...PredictionsReader.maxClasses).map { "p_c\($0)" }.joined(separator: ",")
    let wide = write("wide.csv", "path,label,predicted," + columns + "\nx.png,c0,c0,1" + String(repeating: ",0", count: PredictionsReader.maxClasses) + "\n")
    XCTAssertThrowsError(try PredictionsReader.read(predictions: wide)) { XCTAssertTrue("\($0)".contains("100001 p_<class> columns; at most 100000"), "\($0)") }
  }

  func testUnusableFiles_throwTypedErrorsNamingTheFile() {
    for (name, text) in [("empty.csv", ""), ("nolabel.csv", "path,predicted,p_a,p_b\nx,a,1,0\n"), ("oneclass.csv", "path,label,predicted,p_a\nx,a,a,1\n"),
                         ("allbad.csv", "path,label,predicted,p_a,p_b\nx,q,a,1,0\n")] {
      let p = write(name, text)
      XCTAssertThrowsError(try PredictionsReader.read(predictions: p), name) { XCTAssertTrue("\($0)".contains(p), "\($0)") }
    }
    XCTAssertThrowsError(try PredictionsReader.read(predictions: dir.appendingPathComponent("missing.csv").path)) { XCTAssertTrue("\($0)".contains("missing.csv")) }
  }

  /// A FIFO or a device given as predictions or labels is refused by what it is, at once (it
  /// was "You don't have permission"), and a file past the size bound before it is read.
  func testFIFOsDevicesAndOversizedFiles_areRefusedBeforeReading() throws {
    assertRefusesAFIFO("predictions") { _ = try PredictionsReader.read(predictions: $0) }
    let p = write("p.csv", "path,label,p_a,p_b\nx.png,a,0.9,0.1\n")
    assertRefusesAFIFO("labels") { _ = try PredictionsReader.read(predictions: p, labels: $0) }
    XCTAssertThrowsError(try PredictionsReader.read(predictions: "/dev/zero")) {
      XCTAssertEqual("\($0)", "/dev/zero: cannot read: not a regular file (a FIFO, socket or device)")
    }
    XCTAssertNil(InputFile.problem(p, maxBytes: 35))
    XCTAssertEqual(InputFile.problem(p, maxBytes: 34), "35 bytes; files are read up to 34 bytes here")
    XCTAssertEqual(InputFile.problem(dir.path), "is a folder")
  }

  func testTopKTies_goToTheHigherClassIndexAsScikitLearn() throws {
    // probs [0.5, 0.25, 0.25]: numpy's stable argsort reversed ranks class 2 before class 1,
    // so top-2 holds {0, 2}: truth 1 misses, truth 2 hits.
    var t = PredictionTable(classes: ["a", "b", "c"])
    t.append(path: "1", study: "", truth: 1, predicted: 0, probabilities: [0.5, 0.25, 0.25])
    t.append(path: "2", study: "", truth: 2, predicted: 0, probabilities: [0.5, 0.25, 0.25])
    XCTAssertEqual(ScoreMetrics(t).topK[2], 0.5)
    XCTAssertEqual(ScoreMetrics(t).topK[3], 1.0)
  }
}

final class ReportFilesTests: XCTestCase {
  func testReportFiles_holdTheSameNumbersAndTheHTMLEverySection() throws {
    let csv = SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/eval/many_studies.csv").path
    var table = try PredictionsReader.read(predictions: csv)
    table.classes[3] = "<script>alert(1)</script>, & co"  // hostile names must be escaped, not run
    let report = Evaluator(bootstrap: Bootstrap(resamples: 100, seed: 1)).evaluate(table, inputs: .init(predictions: csv, bootstrapResamples: 100))
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-report-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: out) }
    try ReportWriter.write(report, to: out.path)
    XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: out.path)), Set(ReportWriter.fileNames))

    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as! [String: Any]
    XCTAssertEqual(json["schema_version"] as? String, EvaluationReport.currentSchemaVersion)
    for key in ["classes", "overall", "studies", "study_level", "warnings", "inputs", "row_issues"] { XCTAssertNotNil(json[key], key) }
    let overall = json["overall"] as! [String: Any]
    for key in ["n", "accuracy", "balanced_accuracy", "macro", "weighted", "micro", "per_class", "confusion_matrix", "roc_auc_macro", "ece", "ci95"] {
      XCTAssertNotNil(overall[key], "overall.\(key)")
    }
    // The 8 headline metrics, the macro AUC, AP and ECE, and each class's AUC and AP.
    let ci = overall["ci95"] as! [String: Any]
    XCTAssertEqual(ci.count, 8 + 3 + 2 * report.classes.count, "\(ci.keys.sorted())")
    for key in ["accuracy", "roc_auc_macro", "ece", "roc_auc:" + report.classes[0], "average_precision:" + report.classes[1]] { XCTAssertNotNil(ci[key], key) }
    XCTAssertEqual(try JSONDecoder().decode(EvaluationReport.self, from: Data(contentsOf: out.appendingPathComponent("report.json"))), report)

    let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
    for id in ["summary", "per-class", "confusion-matrix", "curves", "reliability", "per-study", "study-level", "warnings", "row-issues"] {
      XCTAssertTrue(html.contains("<section id=\"\(id)\">"), "section \(id)")
    }
    XCTAssertEqual(html.components(separatedBy: "<svg ").count - 1, 5, "five charts: confusion, class bars, ROC, precision-recall, reliability")
    XCTAssertFalse(html.contains("<script>"), "class names are escaped")
    XCTAssertTrue(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;, &amp; co"))
    XCTAssertFalse(html.contains("http://") && html.contains("<link"), "no external resources")
    // Numbers in the page equal report.json's, at full precision.
    func value(_ key: String) -> Double? {
      guard let r = html.range(of: "data-key=\"\(key)\" data-value=\"") else { return nil }
      return Double(html[r.upperBound...].prefix { $0 != "\"" })
    }
    XCTAssertEqual(value("accuracy"), report.overall.accuracy)
    XCTAssertEqual(value("macro_f1"), report.overall.macro.f1)
    XCTAssertEqual(value("cohen_kappa"), report.overall.cohenKappa)
    XCTAssertEqual(value("roc_auc_macro"), report.overall.rocAucMacro)
    XCTAssertEqual(value("ece"), report.overall.ece)
    for s in report.studies.keys.prefix(5) {
      let row = html.components(separatedBy: "<tr data-study=\"\(s)\">")[1].components(separatedBy: "</tr>")[0]
      XCTAssertTrue(row.contains("data-value=\"\(report.studies[s]!.accuracy)\""), s)
    }
    let perClass = try String(contentsOf: out.appendingPathComponent("per_class.csv"), encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(perClass.count, 5)
    XCTAssertTrue(perClass[1].hasPrefix("healthy,\(report.overall.perClass["healthy"]!.precision),"))
    XCTAssertTrue(perClass[4].hasPrefix("\"<script>"), "names with commas or quotes are quoted")
    let perStudy = try String(contentsOf: out.appendingPathComponent("per_study.csv"), encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(perStudy.count, report.studies.count + 1)
    let cm = try String(contentsOf: out.appendingPathComponent("confusion_matrix.csv"), encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(cm[1], Substring("healthy," + report.overall.confusionMatrix![0].map(String.init).joined(separator: ",")))
    let md = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
    XCTAssertTrue(md.contains("| accuracy | \(String(format: "%.4f", report.overall.accuracy)) |"))
  }

  /// Past `EvaluationReport.fullMatrixClassLimit` classes only the overall matrix is classes x
  /// classes: a study's block leaves its matrices out and the pages list the most frequent
  /// confusions instead of a grid. Counted in cells, not seconds: 250 classes over 50 studies
  /// wrote 2 x 250^2 numbers per study (a 90 MB report.json) and a 62,500-cell picture.
  func testManyClasses_onlyTheOverallMatrixGrowsWithClassesSquared() throws {
    let k = EvaluationReport.fullMatrixClassLimit + 36, studies = 10
    var table = PredictionTable(classes: (0..<k).map { "class\($0)" })
    for i in 0..<(3 * k) {
      let truth = i % k
      let predicted = i % 7 == 0 ? (i + 1) % k : truth  // a few confusions, one image each
      var p = [Double](repeating: 0, count: k)
      p[predicted] = 1
      table.append(path: "img\(i).png", study: "S\(i % studies)", truth: truth, predicted: predicted, probabilities: p)
    }
    let report = Evaluator(bootstrap: Bootstrap(resamples: 20, seed: 1)).evaluate(table, inputs: .init(predictions: "wide.csv", bootstrapResamples: 20))
    XCTAssertEqual(report.studies.count, studies)
    XCTAssertEqual(report.overall.confusionMatrix?.count, k)
    XCTAssertTrue(report.studies.values.allSatisfy { $0.confusionMatrix == nil && $0.confusionMatrixNormalized == nil })
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-wide-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: out) }
    try ReportWriter.write(report, to: out.path)

    // report.json: the overall block's two k x k matrices, none in the studies.
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as! [String: Any]
    func cells(_ block: Any?) -> Int {
      let b = block as? [String: Any] ?? [:]
      return ["confusion_matrix", "confusion_matrix_normalized"].reduce(0) { sum, key in sum + ((b[key] as? [[Any]])?.reduce(0) { $0 + $1.count } ?? 0) }
    }
    XCTAssertEqual(cells(json["overall"]), 2 * k * k)
    XCTAssertEqual((json["studies"] as! [String: Any]).values.map { cells($0) }.reduce(0, +), 0, "no study's block is classes x classes")
    XCTAssertEqual(try JSONDecoder().decode(EvaluationReport.self, from: Data(contentsOf: out.appendingPathComponent("report.json"))), report)
    let cm = try String(contentsOf: out.appendingPathComponent("confusion_matrix.csv"), encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(cm.count, k + 1, "the whole matrix stays in confusion_matrix.csv")

    // The pages: no cell per matrix entry; the 20 most frequent confusions.
    let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
    XCTAssertTrue(html.contains("<section id=\"confusion-matrix\">"))
    XCTAssertLessThan(html.components(separatedBy: "<rect ").count - 1, 4 * k, "class bars and legends only, no k x k grid")
    XCTAssertTrue(html.contains("<td>class0</td><td>class1</td>"), "the confusion of class0 with class1 is listed")
    let md = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
    XCTAssertFalse(md.contains("| **class0** |"), "no row of a k x k table")
    XCTAssertEqual(md.components(separatedBy: "## Most frequent confusions").count, 2)
  }

  /// Past 2,048 classes the overall block leaves out its classes^2 matrices too (and evaluates
  /// the rest as usual).
  func testVeryManyClasses_leaveOutTheOverallMatrix() {
    let k = EvaluationReport.overallMatrixClassLimit + 1
    var table = PredictionTable(classes: (0..<k).map { "c\($0)" })
    for i in 0..<4 {
      var p = [Double](repeating: 0, count: k)
      p[i] = 1
      table.append(path: "x\(i).png", study: "", truth: i, predicted: i, probabilities: p)
    }
    let report = Evaluator(bootstrap: Bootstrap(resamples: 0)).evaluate(table, inputs: .init(predictions: "many.csv", bootstrapResamples: 0))
    XCTAssertNil(report.overall.confusionMatrix)
    XCTAssertNil(report.overall.confusionMatrixNormalized)
    XCTAssertEqual(report.overall.accuracy, 1)
    XCTAssertEqual(report.overall.perClass.count, k)
  }

  /// Names from a file are inert in report.md: a class `<script>...`, a study with a bare
  /// carriage return, a path with a backtick (renderers that allow inline HTML ran the first;
  /// the second ended a table row).
  func testReportMarkdown_escapesHostileNames() throws {
    let classes = ["<script>alert(1)</script>", "x\"><img src=x onerror=alert(2)>"]
    var table = PredictionTable(classes: classes)
    table.append(path: "a`b.png", study: "st\rx", truth: 0, predicted: 0, probabilities: [0.9, 0.1])
    table.append(path: "c.png", study: "s2", truth: 1, predicted: 0, probabilities: [0.6, 0.4])
    let report = Evaluator(bootstrap: Bootstrap(resamples: 0)).evaluate(table, inputs: .init(predictions: "evil`name.csv", bootstrapResamples: 0))
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-md-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: out) }
    try ReportWriter.write(report, to: out.path)
    let md = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
    XCTAssertFalse(md.contains("<script>"), md)
    XCTAssertFalse(md.contains("<img"), md)
    XCTAssertTrue(md.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), md)
    XCTAssertFalse(md.contains("\r"), "no bare carriage return")
    XCTAssertTrue(md.contains("Predictions: `evil'name.csv`"), md)
  }
}
