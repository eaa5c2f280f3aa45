import DxCSV
import DxPipeline
import Foundation

extension Task {
  /// A dataset from a folder per class, a folder holding `manifest.csv`, or a manifest file.
  /// - Parameter source: where `data` came from, for the error (`--data`, or the pipeline's
  ///   `source.path`).
  public static func dataset(at data: String, spec: PipelineSpec, source: String = "--data") throws -> DatasetIndex {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: data, isDirectory: &isDir) else { throw TaskError.invalid("\(source) \(data): no such file or folder") }
    if !isDir.boolValue { return try DatasetIndex.manifest(data, studyColumn: spec.source.studyColumn) }
    let manifest = (data as NSString).appendingPathComponent("manifest.csv")
    if FileManager.default.fileExists(atPath: manifest) { return try DatasetIndex.manifest(manifest, studyColumn: spec.source.studyColumn) }
    return try DatasetIndex.folder(data, extensions: spec.source.extensions)
  }

  /// SHA-256 of the training list (path and class per line, sorted): which data a checkpoint
  /// was trained on, without copying it.
  public static func digest(_ items: [DatasetIndex.Item], classes: [String]) -> String {
    SHA256.hex(Data(items.map { CSV.row([$0.path, classes[$0.label]]) }.sorted().joined().utf8))
  }

  /// Refuses a split that leaves validation empty although the pipeline asks for one: training
  /// would report 0% every epoch and stop early. Names the studies so the user can see why.
  public static func checkValidationSplit(_ split: DatasetSplit, index: DatasetIndex, validationFraction: Double, byStudy: Bool) throws {
    guard validationFraction > 0, split.validation.isEmpty else { return }
    let studies = Set(index.items.compactMap { $0.study.flatMap { $0.isEmpty ? nil : $0 } })
    var perClass: [String: Set<String>] = [:]
    for item in index.items { if let s = item.study, !s.isEmpty { perClass[index.classes[item.label], default: []].insert(s) } }
    let detail = byStudy && !studies.isEmpty
      ? "the split keeps whole studies together and \(studies.count) studies are too few for \(Int(validationFraction * 100))% of each class to be one (" +
        perClass.keys.sorted().map { "\($0): \(perClass[$0]!.sorted().prefix(5).joined(separator: ", "))\(perClass[$0]!.count > 5 ? ", ..." : "")" }.joined(separator: "; ") + ")"
      : "\(index.items.count) images are too few for \(Int(validationFraction * 100))% of each class to be one"
    throw TaskError.invalid("the validation split is empty: \(detail). Add more studies, give the manifest a 'split' column (train, val, test), or set split.by_study: false in a pipeline copy")
  }
}

extension Task {
  /// An explicit validation set (`train --val-data`), its labels mapped to the training
  /// classes by name; a class the training data lacks is an error naming it.
  public static func validationSet(at path: String, classes: [String], spec: PipelineSpec) throws -> [DatasetIndex.Item] {
    let index = try dataset(at: path, spec: spec, source: "--val-data")
    let unknown = index.classes.filter { !classes.contains($0) }
    guard unknown.isEmpty else {
      throw TaskError.invalid("--val-data \(path): class\(unknown.count == 1 ? "" : "es") \(unknown.prefix(5).joined(separator: ", ")) not in the training data (\(classes.joined(separator: ", ")))")
    }
    guard !index.items.isEmpty else { throw TaskError.invalid("--val-data \(path): no images") }
    return index.items.map { item in
      var mapped = item
      mapped.label = classes.firstIndex(of: index.classes[item.label])!
      return mapped
    }
  }
}
