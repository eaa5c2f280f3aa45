import ArgumentParser
import Foundation

/// The file a command writes with `--out`, checked before any work: it must carry the format's
/// extension (so `convert x.tif --out notes.txt` cannot replace notes with a PNG) and must not
/// be one of the command's own inputs (`convert same.tif --out same.tif` replaced the scan).
enum OutputFile {
  static func check(_ out: String, flag: String = "--out", writes format: String, extensions: [String], inputs: [String]) throws {
    let ext = (out as NSString).pathExtension.lowercased()
    guard extensions.contains(ext) else {
      throw ValidationError("\(flag) \(out): this command writes \(format); name the file .\(extensions[0]) (an existing file of another kind is never replaced)")
    }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory), isDirectory.boolValue {
      throw ValidationError("\(flag) \(out) is a folder; name a file")
    }
    // Its folder must exist before the work whose result it will hold.
    let folder = URL(fileURLWithPath: out).deletingLastPathComponent().path
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw ValidationError("\(flag) \(out): the folder \(folder) does not exist; create it first")
    }
    let target = URL(fileURLWithPath: out).resolvingSymlinksInPath().standardizedFileURL.path
    for input in inputs where URL(fileURLWithPath: input).resolvingSymlinksInPath().standardizedFileURL.path == target {
      throw ValidationError("\(flag) \(out) is the command's own input \(input): it would be replaced; choose another name")
    }
  }
}

/// A folder a command fills with files of its own (`samples`, `tile`): new, empty, or one it
/// wrote before, which it then replaces; a folder of anything else is the user's.
enum OutputFolder {
  /// The names in `out` when it is a folder holding something (nil: absent or empty, write
  /// freely); a file there is refused.
  static func contents(_ out: String, flag: String = "--out") throws -> [String]? {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) else { return nil }
    guard isDirectory.boolValue else { throw ValidationError("\(flag) \(out) is a file; name a folder") }
    let names = try FileManager.default.contentsOfDirectory(atPath: out)
    return names.isEmpty ? nil : names
  }
}
