import DxCSV
import DxTensor
import Foundation

/// The labelled images of a dataset: from a folder per class, or a CSV manifest
/// `path,label[,study][,split]` (paths relative to the manifest's folder).
public struct DatasetIndex: Equatable, Sendable {
  public struct Item: Equatable, Sendable, Hashable {
    public var path: String
    public var label: Int
    /// The group it belongs to (patient, slide, field); nil when unknown.
    public var study: String?
    /// A split fixed by the manifest (`train`, `val`, `test`), if any.
    public var split: String?

    public init(path: String, label: Int, study: String? = nil, split: String? = nil) {
      self.path = path
      self.label = label
      self.study = study
      self.split = split
    }
  }

  public var classes: [String]
  public var items: [Item]

  public init(classes: [String], items: [Item]) {
    self.classes = classes
    self.items = items
  }

  /// Folder per class: `root/<class>/**/<image>`; classes sorted by name, files by path.
  public static func folder(_ root: String, extensions: [String]) throws -> DatasetIndex {
    let fm = FileManager.default
    var isDir: ObjCBool = false
    guard fm.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else { throw DatasetError(path: root, message: "not a folder") }
    let classes = try fm.contentsOfDirectory(atPath: root).filter { c in
      var d: ObjCBool = false
      return !c.hasPrefix(".") && fm.fileExists(atPath: (root as NSString).appendingPathComponent(c), isDirectory: &d) && d.boolValue
    }.sorted()
    guard !classes.isEmpty else { throw DatasetError(path: root, message: "no class folders inside") }
    if let problem = ClassNames.problem(classes) { throw DatasetError(path: root, message: "\(problem) (class folders are class names): rename the folder") }
    var items: [Item] = []
    let allowed = Set(extensions.map { $0.lowercased() })
    for (label, c) in classes.enumerated() {
      let dir = (root as NSString).appendingPathComponent(c)
      let files = (fm.enumerator(atPath: dir)?.compactMap { $0 as? String } ?? []).filter { allowed.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
      items += files.map { Item(path: (dir as NSString).appendingPathComponent($0), label: label) }
    }
    guard !items.isEmpty else { throw DatasetError(path: root, message: "no images with extensions \(extensions.joined(separator: ", "))") }
    return DatasetIndex(classes: classes, items: items)
  }

  /// A CSV manifest with a header naming at least `path` and `label`.
  public static func manifest(_ path: String, studyColumn: String = "study", classes fixed: [String]? = nil) throws -> DatasetIndex {
    let data: Data
    switch InputFile.contents(path) {
    case .success(let d): data = d
    case .failure(let e): throw DatasetError(path: path, message: "cannot read: \(e.reason)")
    }
    guard String(validating: data, as: UTF8.self) != nil else { throw DatasetError(path: path, message: "not UTF-8 text") }
    let rows = CSV.records(data)
    guard let header = rows.first?.fields.map({ $0.trimmingCharacters(in: .whitespaces) }), let pc = header.firstIndex(of: "path"), let lc = header.firstIndex(of: "label") else {
      throw DatasetError(path: path, message: "needs a header with 'path' and 'label'")
    }
    let sc = header.firstIndex(of: studyColumn), spc = header.firstIndex(of: "split")
    let base = (path as NSString).deletingLastPathComponent
    var raw: [(String, String, String?, String?, Int)] = []
    var lineOf: [PathKey: Int] = [:]  // by bytes: Unicode twins are two files
    for (line, row) in rows.dropFirst() {
      guard row.count == header.count else { throw DatasetError(path: path, message: "line \(line): \(row.count) fields, header has \(header.count)") }
      // A label is a class name: spaces around it ("rust ", after a comma and a space) would
      // make another class of the same name, and an empty one a class called "".
      let label = row[lc].trimmingCharacters(in: .whitespaces)
      guard !row[pc].trimmingCharacters(in: .whitespaces).isEmpty else { throw DatasetError(path: path, message: "line \(line): the path is empty") }
      guard !label.isEmpty else { throw DatasetError(path: path, message: "line \(line): the label of '\(row[pc])' is empty") }
      let p = row[pc].hasPrefix("/") ? row[pc] : (base as NSString).appendingPathComponent(row[pc])
      // The same image twice would be trained on twice, or land in training and test at once.
      // As one file however it is spelled: absolute against the working folder (a manifest's
      // own folder may be relative), then standardised (`sub/../x.jpg` is `x.jpg`).
      let absolute = p.hasPrefix("/") ? p : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(p)
      let key = PathKey((absolute as NSString).standardizingPath)
      if let first = lineOf[key] { throw DatasetError(path: path, message: "line \(line): '\(row[pc])' is already listed on line \(first)") }
      lineOf[key] = line
      if let spc, !["", "train", "val", "test"].contains(row[spc]) { throw DatasetError(path: path, message: "line \(line): split must be train, val or test, not '\(row[spc])'") }
      raw.append((p, label, sc.map { row[$0] }, spc.map { row[$0] }.flatMap { $0.isEmpty ? nil : $0 }, line))
    }
    let classes = fixed ?? Array(Set(raw.map(\.1))).sorted()
    if fixed == nil, let problem = ClassNames.problem(classes) {
      let line = raw.first { ClassNames.problem([$0.1]) != nil }?.4
      throw DatasetError(path: path, message: (line.map { "line \($0): " } ?? "") + problem)
    }
    let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
    let items = try raw.map { r -> Item in
      guard let label = index[r.1] else { throw DatasetError(path: path, message: "line \(r.4): unknown label '\(r.1)'") }
      return Item(path: r.0, label: label, study: r.2, split: r.3)
    }
    guard !items.isEmpty else { throw DatasetError(path: path, message: "no rows") }
    return DatasetIndex(classes: classes, items: items)
  }
}

/// A dataset that cannot be indexed.
public struct DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
  public var path: String
  public var message: String
  public var description: String { "\(path): \(message)" }
}
