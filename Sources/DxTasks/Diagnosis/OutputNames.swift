import DxCSV
/// The names a diagnosis job gives the files it writes for its inputs (Grad-CAM overlays, slide
/// maps) and the studies of its slides.
///
/// A name must not depend on which part of the job a run sees: shards of one job, and a run
/// resumed with more inputs, each name a file alike, or one file's map replaces another's.
/// So names are made over the whole job plus every file an earlier run of the same output
/// recorded (its rows' paths), and a name that two of them would share is told apart by a hash
/// of the file's own path, never by its rank among the others: a run that added
/// `A/x/img.png` beside an earlier run's `B/x/img.png` gave the new file `x_img`, the earlier
/// one's name, and wrote its overlay over the earlier one.
struct OutputNames {
  /// Distinct files (by `DiagnosisRun.identity`) per `folder_stem` name, and per stem among the files
  /// that could be slides.
  private var filesByName: [String: Set<PathKey>] = [:]
  private var slidesByStem: [String: Set<PathKey>] = [:]
  /// Distinct slides per map name before hashing (a bare stem, or `folder_stem`).
  private var slidesByMapName: [String: Set<PathKey>] = [:]

  /// - Parameters:
  ///   - job: every input of the job (of every shard).
  ///   - earlier: the paths of rows an earlier run wrote to this output.
  init(job: [String], earlier: [String]) {
    for path in job + earlier {
      let key = DiagnosisRun.identity(path)
      filesByName[DiagnosisRun.flatName(path), default: []].insert(key)
      if DiagnosisRun.couldBeSlide(path) { slidesByStem[DiagnosisRun.stem(path), default: []].insert(key) }
    }
    for path in job + earlier where DiagnosisRun.couldBeSlide(path) {
      slidesByMapName[plainSlideMapName(path), default: []].insert(DiagnosisRun.identity(path))
    }
  }

  /// A slide's stem, or `name` when another slide has that stem.
  private func plainSlideMapName(_ path: String) -> String { sharesItsStem(path) ? name(path) : DiagnosisRun.stem(path) }

  /// The name of a slide's maps (`<name>_heatmap.png`, `<name>_tiles.csv`): its stem, or `name`
  /// when another slide has that stem; with a hash of its path when that is still another
  /// slide's (`C/A_s.svs`, a stem of its own, beside `A/s.svs` and `B/s.svs`, named `A_s`).
  func slideMapName(_ path: String) -> String {
    let plain = plainSlideMapName(path)
    if plain.utf8.count > 160 { return Self.shortened(plain, path: path) }
    guard slidesByMapName[plain, default: []].count > 1 else { return plain }
    return plain + "_" + Self.hash(DiagnosisRun.key(path))
  }

  /// `folder_stem`, or `folder_stem_<hash of the path>` when another file of the job, or of an
  /// earlier run, has that name too.
  func name(_ path: String) -> String {
    let base = DiagnosisRun.flatName(path)
    // A name past 160 bytes is cut and hashed: file systems refuse names past 255, and an
    // overlay's suffix comes on top (the overlay was lost with a warning).
    if base.utf8.count > 160 { return Self.shortened(base, path: path) }
    guard filesByName[base, default: []].count > 1 else { return base }
    // A hashed name can be another file's own name (`x_240416e5.png`): then hashed again.
    var hashed = base + "_" + Self.hash(DiagnosisRun.key(path))
    while filesByName[hashed] != nil { hashed += "_" + Self.hash(hashed) }
    return hashed
  }

  /// Whether another file that could be a slide has this one's stem (then its study is named by
  /// its path and its maps by `name`).
  func sharesItsStem(_ path: String) -> Bool { slidesByStem[DiagnosisRun.stem(path), default: []].count > 1 }

  /// The first 100 bytes of `name` (whole characters) and a hash of the path: file systems
  /// refuse names past 255 bytes, and a suffix comes on top (the overlay was lost).
  static func shortened(_ name: String, path: String) -> String {
    var cut = "", bytes = 0
    for c in name {
      bytes += c.utf8.count
      if bytes > 100 { break }
      cut.append(c)
    }
    return cut + "_" + hash(DiagnosisRun.key(path))
  }

  /// FNV-1a over the path's UTF-8, 8 hex digits: the same on every machine and in every run.
  static func hash(_ key: String) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in key.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    let digits = String(h >> 32, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
  }
}
