/// What produced the predictions a report scores, as `diagnose` records it in `PRED.meta.json`
/// beside them: a lab files the report with the checkpoint's digest and the rest, so the
/// numbers can be traced to the model that made them.
public struct Provenance: Codable, Equatable, Sendable {
  public var checkpoint: String
  public var checkpointSHA256: String
  public var arch: String
  public var classes: [String]
  public var task: String?
  public var evalTransform: String
  public var effdxVersion: String
  public var started: String
  public var finished: String
  public var inputs: [String]
  /// Files the diagnosis was given, and its predictions rows.
  public var files: Int
  public var rows: Int
  /// The file it was read from.
  public var source: String

  public init(checkpoint: String, checkpointSHA256: String, arch: String, classes: [String], task: String?, evalTransform: String,
              effdxVersion: String, started: String, finished: String, inputs: [String], files: Int, rows: Int, source: String) {
    self.checkpoint = checkpoint
    self.checkpointSHA256 = checkpointSHA256
    self.arch = arch
    self.classes = classes
    self.task = task
    self.evalTransform = evalTransform
    self.effdxVersion = effdxVersion
    self.started = started
    self.finished = finished
    self.inputs = inputs
    self.files = files
    self.rows = rows
    self.source = source
  }

  enum CodingKeys: String, CodingKey {
    case checkpoint, checkpointSHA256 = "checkpoint_sha256", arch, classes, task, evalTransform = "eval_transform", effdxVersion = "effdx_version"
    case started, finished, inputs, files, rows, source
  }

  /// Label and value pairs, in the order the reports show them.
  var lines: [(String, String)] {
    [("checkpoint", checkpoint), ("checkpoint SHA-256", checkpointSHA256), ("architecture", arch), ("task", task ?? "-"),
     ("classes", classes.joined(separator: ", ")), ("evaluation transform", evalTransform), ("effdx version", effdxVersion),
     ("diagnosed", "\(started) to \(finished)"), ("inputs", inputs.joined(separator: ", ")), ("files / rows", "\(files) / \(rows)"), ("recorded in", source)]
  }
}
