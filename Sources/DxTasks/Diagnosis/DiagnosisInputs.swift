import DxCSV
import DxImaging
import Foundation

/// What `diagnose` was given, expanded into files: each once (`dir` and `dir/`, or a file named
/// twice, are one input), sorted within a folder, with the label a folder layout implies and a
/// note of every choice made on the user's behalf.
public struct DiagnosisInputs {
  public struct File: Equatable, Sendable {
    public var path: String
    /// The class the layout names (the top folder under the input folder, as `train` reads a
    /// folder per class); nil when the layout names none of the checkpoint's classes.
    public var label: String?
  }

  public var files: [File] = []
  /// Inputs that are not files at all (no such path, a FIFO, a socket): failures to record.
  public var unusable: [(path: String, reason: String)] = []
  /// What was done with folders, for the console.
  public var notes: [String] = []

  /// Extensions `diagnose` picks up in a folder: images, TIFF slides, and every vendor slide
  /// format (read through OpenSlide, or recorded as a failure naming the format, never skipped).
  public static let readable: Set<String> = Set(["png", "jpg", "jpeg", "tif", "tiff", "svs"]).union(SlideOpener.vendorExtensions.keys)

  /// - Parameters:
  ///   - recursive: descend into every subfolder. Without it a folder whose images all sit in
  ///     subfolders (a folder per class) is still read one level of classes deep, and said so.
  ///   - labels: the task's rule for labels from a folder layout.
  public init(_ inputs: [String], recursive: Bool, classes: [String], labels rule: Task.LabelRule = .topFolder) {
    switch rule {
    case .topFolder: break  // the one layout EfficientDx reads: a class folder at the top
    }
    let fm = FileManager.default
    var seen = Set<PathKey>()
    let known = Set(classes)
    func add(_ path: String, label: String?) {
      guard seen.insert(DiagnosisRun.identity(path)).inserted else { return }
      files.append(File(path: path, label: label.flatMap { known.contains($0) ? $0 : nil }))
    }
    func isCandidate(_ name: String) -> Bool {
      let ext = (name as NSString).pathExtension.lowercased()
      return Self.readable.contains(ext)
    }
    for input in inputs {
      var st = stat()
      guard stat(input, &st) == 0 else {
        unusable.append((input, errno == ELOOP ? "a symbolic link loop" : "no such file or folder"))
        continue
      }
      let kind = st.st_mode & S_IFMT
      if kind == S_IFREG {
        add(input, label: ((input as NSString).deletingLastPathComponent as NSString).lastPathComponent)
        continue
      }
      guard kind == S_IFDIR else { unusable.append((input, "not a regular file or folder")); continue }
      let root = input.hasSuffix("/") && input.count > 1 ? String(input.dropLast()) : input
      let entries = ((try? fm.contentsOfDirectory(atPath: root)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
      // Foundation leaves out names that are not UTF-8; such a file was neither diagnosed nor
      // listed as an error.
      for name in Self.namesNotUTF8(root) where isCandidate(name) { unusable.append((root + "/" + name, Self.notUTF8)) }
      let direct = entries.filter { isCandidate($0) && Self.isFileOrSpecial(root + "/" + $0) }
      // An image name that leads nowhere (a link to a missing file, a link loop) is recorded,
      // not dropped from the count without a word.
      for name in entries where isCandidate(name) && !direct.contains(name) {
        if let why = Self.brokenLink(root + "/" + name) { unusable.append((root + "/" + name, why)) }
      }
      let folders = entries.filter { var d: ObjCBool = false; return fm.fileExists(atPath: root + "/" + $0, isDirectory: &d) && d.boolValue }
      for name in direct { add(root + "/" + name, label: (root as NSString).lastPathComponent) }
      guard !folders.isEmpty else { continue }
      if !recursive && !direct.isEmpty {
        notes.append("\(input): \(folders.count) subfolders not searched (--recursive reads them)")
        continue
      }
      var count = 0
      for folder in folders {
        let dir = root + "/" + folder
        for name in Self.namesNotUTF8(dir) where isCandidate(name) { unusable.append((dir + "/" + name, Self.notUTF8)) }
        let nested = (fm.enumerator(atPath: dir)?.compactMap { $0 as? String } ?? []).filter { isCandidate($0) && !$0.split(separator: "/").contains { $0.hasPrefix(".") } }.sorted()
        for name in nested { add(dir + "/" + name, label: folder) }
        count += nested.count
      }
      let labelled = folders.filter(known.contains).count
      if !recursive || labelled > 0 {
        notes.append("\(input): \(count) images in \(folders.count) subfolders\(recursive ? "" : " (a folder per class)"); labels from the folder names (\(labelled) of \(folders.count) are classes of the checkpoint)")
      }
    }
    // A Hamamatsu VMS/VMU slide is a key file and the JPEGs it names: those are the slide's,
    // not photos to diagnose on their own.
    var parts = Set<String>()
    for f in files where ["vms", "vmu"].contains((f.path as NSString).pathExtension.lowercased()) {
      let named = Self.slideParts(f.path)
      parts.formUnion(named.map(DiagnosisRun.key))
      if !named.isEmpty { notes.append("\(f.path): its \(named.count) image files are part of the slide, not inputs of their own") }
    }
    if !parts.isEmpty { files.removeAll { parts.contains(DiagnosisRun.key($0.path)) } }
  }

  static let notUTF8 = "its name is not UTF-8 text (shown with \u{FFFD} for the bytes that are not), which a CSV cannot hold: rename it"

  /// The names in `dir` that are not UTF-8, decoded with replacement characters (hidden ones
  /// aside, as the listing leaves them).
  static func namesNotUTF8(_ dir: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var out: [String] = []
    while let entry = readdir(d) {
      let bytes = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
      guard bytes.first != UInt8(ascii: "."), String(validating: bytes, as: UTF8.self) == nil else { continue }
      out.append(String(decoding: bytes, as: UTF8.self))
    }
    return out.sorted()
  }

  /// The files a VMS/VMU key file names (`ImageFile`, `ImageFile(x,y)`, `MapFile`,
  /// `OptimisationFile`, `MacroImage`), beside it; read within 1 MiB.
  static func slideParts(_ keyFile: String) -> [String] {
    guard InputFile.problem(keyFile, maxBytes: .max) == nil, let handle = FileHandle(forReadingAtPath: keyFile),
      let data = try? handle.read(upToCount: 1 << 20)
    else { return [] }
    try? handle.close()
    let folder = (keyFile as NSString).deletingLastPathComponent
    return String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).compactMap { line in
      let kv = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
      guard kv.count == 2, !kv[1].isEmpty, !kv[1].contains("/"),
            kv[0].hasPrefix("ImageFile") || ["MapFile", "OptimisationFile", "MacroImage"].contains(kv[0]) else { return nil }
      return (folder as NSString).appendingPathComponent(kv[1])
    }
  }

  /// Regular files and anything that is not a folder (a FIFO named `a.png` is listed, and then
  /// recorded as unusable instead of blocking the run).
  static func isFileOrSpecial(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) != S_IFDIR
  }

  /// Why `path` is a symbolic link that leads to no file, or nil when it is none.
  static func brokenLink(_ path: String) -> String? {
    var st = stat()
    guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK else { return nil }
    guard stat(path, &st) != 0 else { return nil }
    if errno == ELOOP { return "a symbolic link loop" }
    let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
    return "a symbolic link to \(target), which does not exist"
  }

  /// Whether a listed path is a regular file that can be opened without blocking.
  static func isRegularFile(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
  }
}
