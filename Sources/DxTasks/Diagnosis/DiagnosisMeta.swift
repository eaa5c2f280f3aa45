import DxCSV
import Foundation

/// What produced a predictions CSV, written beside it as `PRED.meta.json`: the checkpoint and
/// its digest, the network, classes, task and evaluation transform, the effdx version, when,
/// from which inputs, which shard of them, and the files this run was given. `evaluate` and
/// `merge` read it; a lab files it with the report.
public struct DiagnosisMeta: Codable, Equatable, Sendable {
  public struct Checkpoint: Codable, Equatable, Sendable {
    public var path: String
    public var sha256: String
    public init(path: String, sha256: String) {
      self.path = path
      self.sha256 = sha256
    }
  }

  /// Which part of the sorted input list a run diagnosed (`--shard I/N`).
  public struct ShardInfo: Codable, Equatable, Sendable {
    public var index: Int
    public var count: Int
    /// Files in the whole list, and the SHA-256 of the list (one path a line): shards of one
    /// job agree on both.
    public var totalFiles: Int
    public var listSHA256: String

    enum CodingKeys: String, CodingKey { case index, count, totalFiles = "total_files", listSHA256 = "list_sha256" }
  }

  public var checkpoint: Checkpoint
  public var arch: String
  public var classes: [String]
  public var task: String?
  /// The evaluation transform, as the checkpoint records it (one line of JSON).
  public var evalTransform: String
  public var effdxVersion: String
  /// ISO 8601 (UTC) start and end of the run that last wrote the file.
  public var started: String
  public var finished: String
  /// The inputs as given (files and folders).
  public var inputs: [String]
  public var shard: ShardInfo?
  /// The files this run was given (after sharding), in order; each ends in the predictions
  /// or in the errors file.
  public var files: [String]
  /// Rows in the predictions file, rows written by the last run, files skipped (already
  /// there) and failures recorded.
  public var rows: Int
  public var written: Int
  public var skipped: Int
  public var failed: Int
  /// What else decides a row besides the checkpoint: test-time augmentation and how slides are
  /// cut (`tta`, `tile_size`, `mpp` or `level`, `overlap`, `min_tissue`, `base_mpp`). Rows made
  /// under other settings are not one diagnosis: a resumed run and `merge` refuse to mix them.
  /// Nil in files written before it was recorded (2026-12-07); such a file cannot be resumed
  /// or merged with one that has them.
  public var settings: [String: String]?
  /// The folder the run ran in: its rows' relative paths are relative to it (nil in older files).
  public var workingDirectory: String?

  enum CodingKeys: String, CodingKey {
    case checkpoint, arch, classes, task, evalTransform = "eval_transform", effdxVersion = "effdx_version", started, finished, inputs, shard, files, rows, written, skipped, failed, settings
    case workingDirectory = "working_directory"
  }

  /// The settings that differ between two runs (`key a -> b`), or nil when they agree or
  /// neither recorded any.
  public static func changedSettings(_ a: DiagnosisMeta, _ b: DiagnosisMeta) -> String? {
    // One without settings cannot be shown to agree (deleting the key let --tta rows in).
    if (a.settings == nil) != (b.settings == nil) {
      return "settings recorded in one run only: a provenance file written by an effdx of before 2026-12-07, or edited"
    }
    guard let x = a.settings, let y = b.settings, x != y else { return nil }
    return Set(x.keys).union(y.keys).sorted().filter { x[$0] != y[$0] }.map { "\($0) \(x[$0] ?? "-") -> \(y[$0] ?? "-")" }.joined(separator: ", ")
  }

  public init(checkpoint: Checkpoint, arch: String, classes: [String], task: String?, evalTransform: String, inputs: [String]) {
    self.checkpoint = checkpoint
    self.arch = arch
    self.classes = classes
    self.task = task
    self.evalTransform = evalTransform
    self.effdxVersion = TaskCheckpoint.effdxVersion
    self.started = Self.now()
    self.finished = started
    self.inputs = inputs
    self.files = []
    (rows, written, skipped, failed) = (0, 0, 0, 0)
  }

  /// `PRED.csv` -> `PRED.meta.json`.
  public static func path(forOutput output: String) -> String { PredictionsFormat.sibling(of: output, suffix: ".meta.json") }

  public static func now() -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: Date())
  }

  /// Pretty-printed JSON with sorted keys and a final newline.
  public func encoded() throws -> String {
    let encoder = JSONEncoder.sortedKeys
    encoder.outputFormatting.insert(.prettyPrinted)
    return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
  }

  /// Written whole (a temporary file renamed over the old), so a reader never sees half of it.
  public func write(to path: String) throws {
    let data = Data(try encoded().utf8)
    let temp = path + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: temp, contents: data), rename(temp, path) == 0 else {
      unlink(temp)
      throw TaskError.invalid("\(path): cannot write the provenance file (\(String(cString: strerror(errno))))")
    }
  }

  /// Whether `path` holds a provenance file of any effdx version (a JSON object naming a
  /// checkpoint and an effdx version), which a run may replace.
  public static func isProvenance(_ path: String) -> Bool {
    // Only a regular file is opened (a FIFO named PRED.meta.json blocked the run).
    guard InputFile.problem(path, maxBytes: .max) == nil, let handle = FileHandle(forReadingAtPath: path) else { return false }
    defer { try? handle.close() }
    guard let data = try? handle.read(upToCount: 1 << 28), data.count < 1 << 28,
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
    return object["checkpoint"] is [String: Any] && object["effdx_version"] is String
  }

  /// Reads a provenance file, at most 256 MiB; errors name the file.
  public static func read(_ path: String) throws -> DiagnosisMeta {
    if FileManager.default.fileExists(atPath: path), let why = InputFile.problem(path, maxBytes: .max) {
      throw TaskError.invalid("\(path): \(why), not a provenance file")
    }
    guard let handle = FileHandle(forReadingAtPath: path) else { throw TaskError.invalid("\(path): no provenance file (diagnose writes it beside its predictions)") }
    defer { try? handle.close() }
    let data: Data = ((try? handle.read(upToCount: 256 << 20)) ?? nil) ?? Data()
    do { return try JSONDecoder().decode(DiagnosisMeta.self, from: data) } catch {
      throw TaskError.invalid("\(path): not a diagnosis provenance file (\(error))")
    }
  }

  /// The SHA-256 of a file, hashed where the kernel maps it (no copy: every diagnosis hashes
  /// its checkpoint before the first image).
  public static func sha256(ofFile path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_NONBLOCK)  // a FIFO must not block: refused below
    guard fd >= 0 else { throw TaskError.invalid("\(path): cannot read it to take its SHA-256 (\(String(cString: strerror(errno))))") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw TaskError.invalid("\(path): cannot take the SHA-256 of what is not a regular file") }
    var hasher = SHA256.Hasher()
    let size = Int(st.st_size)
    if size > 0 {
      guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
        throw TaskError.invalid("\(path): cannot map it to take its SHA-256 (\(String(cString: strerror(errno))))")
      }
      defer { munmap(base, size) }
      _ = madvise(base, size, MADV_SEQUENTIAL)
      hasher.update(UnsafeRawBufferPointer(start: base, count: size))
    }
    return hasher.finalizeHex()
  }
}
