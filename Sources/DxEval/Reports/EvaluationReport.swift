/// The evaluation report: what `report.json` holds (schema documented in
/// Docs/EvaluationReport.md; bump `schemaVersion` on any incompatible change).
public struct EvaluationReport: Codable, Equatable, Sendable {
  public static let currentSchemaVersion = "1.0"
  /// Past this many classes a study's block leaves out its confusion matrices (every study's
  /// would be classes x classes numbers: 50 studies of 250 classes made a 90 MB report.json),
  /// and report.md and report.html list the most frequent confusions instead of the full grid.
  /// The overall matrix stays whole in report.json and confusion_matrix.csv up to
  /// `overallMatrixClassLimit`.
  public static let fullMatrixClassLimit = 64
  /// Classes past which even the overall confusion matrix (and the list of most frequent
  /// confusions drawn from it) is left out of the report: classes^2 cells, 4 million at 2,048,
  /// 10 billion at the 100,000 classes a file may have.
  public static let overallMatrixClassLimit = 2048

  public var schemaVersion = EvaluationReport.currentSchemaVersion
  public var inputs: Inputs
  /// Class names in report order; every matrix and per-class table follows it.
  public var classes: [String]
  public var overall: Block
  /// The same block for every study, by study name (empty without a study column).
  public var studies: [String: Block]
  /// Diagnoses aggregated per study and scored against the studies' labels (nil without studies).
  public var studyLevel: StudyLevel?
  /// Two models on the same ground truth (`--compare`).
  public var comparison: Comparison?
  /// Every ill-defined value and data problem, in plain sentences.
  public var warnings: [String]
  /// Input rows left out, by file and line.
  public var rowIssues: [RowIssue]
  /// What produced the predictions (`PRED.meta.json` beside them), when recorded.
  public var provenance: Provenance?
  /// Why study-level diagnosis is off or covers only some studies (studies that mix labels).
  public var studyLevelNote: String?
  /// One-vs-rest ROC and precision-recall points of every class, over all rows.
  public var curves: [String: Curves]?
  /// Sensitivity, specificity, PPV and NPV of the class that matters, when one is named.
  public var operatingPoints: OperatingPoints?
  /// Colour and background baselines beside the model (`evaluate --images`).
  public var shortcutCheck: ShortcutCheck?
  /// Example images (`evaluate --images`) and slide heatmaps (`evaluate --heatmaps`).
  public var examples: [Example]?
  public var slideMaps: [SlideMap]?
  /// Their pictures as data URIs by key (an example's path, `gradcam:` and its path, a slide
  /// map's heatmap path): the HTML embeds them; report.json leaves them out.
  public var embedded: [String: String] = [:]

  public struct Inputs: Codable, Equatable, Sendable {
    public var predictions: String
    public var labels: String?
    public var studyColumn: String
    public var bootstrapResamples: Int
    public var seed: UInt64

    public init(predictions: String, labels: String? = nil, studyColumn: String = "study", bootstrapResamples: Int = 0, seed: UInt64 = 0) {
      self.predictions = predictions
      self.labels = labels
      self.studyColumn = studyColumn
      self.bootstrapResamples = bootstrapResamples
      self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
      case predictions, labels, studyColumn = "study_column", bootstrapResamples = "bootstrap_resamples", seed
    }
  }

  /// All metrics of one set of rows.
  public struct Block: Codable, Equatable, Sendable {
    public var n: Int
    public var accuracy: Double
    public var balancedAccuracy: Double
    public var macro: Scores, weighted: Scores, micro: Scores
    public var perClass: [String: ClassBlock]
    /// Rows = truth, columns = prediction, in `classes` order; nil in a study's block past
    /// `fullMatrixClassLimit` classes.
    public var confusionMatrix: [[Int]]?
    public var confusionMatrixNormalized: [[Double]]?
    public var cohenKappa: Double?
    public var matthewsCorrcoef: Double
    public var topKAccuracy: [String: Double]
    public var logLoss: Double
    public var rocAuc: [String: Double?]
    public var rocAucMacro: Double?
    public var averagePrecision: [String: Double?]
    public var averagePrecisionMacro: Double?
    public var ece: Double
    public var reliability: [ScoreMetrics.ReliabilityBin]
    /// Bootstrap intervals of the headline metrics (overall and study level only).
    public var ci95: [String: Interval]?

    enum CodingKeys: String, CodingKey {
      case n, accuracy, balancedAccuracy = "balanced_accuracy", macro, weighted, micro, perClass = "per_class"
      case confusionMatrix = "confusion_matrix", confusionMatrixNormalized = "confusion_matrix_normalized"
      case cohenKappa = "cohen_kappa", matthewsCorrcoef = "matthews_corrcoef", topKAccuracy = "top_k_accuracy"
      case logLoss = "log_loss", rocAuc = "roc_auc", rocAucMacro = "roc_auc_macro", averagePrecision = "average_precision"
      case averagePrecisionMacro = "average_precision_macro", ece, reliability, ci95
    }
  }

  public struct ClassBlock: Codable, Equatable, Sendable {
    public var precision: Double, recall: Double, f1: Double
    public var support: Int
  }

  public struct StudyLevel: Codable, Equatable, Sendable {
    public var aggregation: String
    public var metrics: Block
    public var diagnoses: [Diagnosis]
  }

  public struct Diagnosis: Codable, Equatable, Sendable {
    public var study: String
    public var images: Int
    public var truth: String
    public var predicted: String
    public var confidence: Double
  }

  public struct Comparison: Codable, Equatable, Sendable {
    public var other: String
    public var n: Int
    /// metric -> values for this file (a), the other (b), b - a, and a paired interval of b - a.
    public var metrics: [String: Difference]
  }

  public struct Difference: Codable, Equatable, Sendable {
    public var a: Double?, b: Double?, difference: Double?
    public var ci95: Interval?
  }

  enum CodingKeys: String, CodingKey {
    case schemaVersion = "schema_version", inputs, classes, overall, studies, studyLevel = "study_level", comparison, warnings
    case rowIssues = "row_issues", provenance, studyLevelNote = "study_level_note", curves, operatingPoints = "operating_points"
    case shortcutCheck = "shortcut_check", examples, slideMaps = "slide_maps"
  }
}
