import ArgumentParser
import DxCSV
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
    // An existing file is replaced only when it holds what the command writes: a text file
    // named notes.png was replaced, against this check's own promise.
    if FileManager.default.fileExists(atPath: out) {
      if let why = InputFile.problem(out, maxBytes: .max) { throw ValidationError("\(flag) \(out): \(why); name a regular file") }
      let head = [UInt8]((try? FileHandle(forReadingFrom: URL(fileURLWithPath: out)).read(upToCount: 9)).flatMap { $0 } ?? Data())
      if !head.isEmpty && !holdsFormat(head, extension: ext) {
        throw ValidationError("\(flag) \(out) exists and does not hold \(format) (its first bytes): it would be replaced; move it or choose another name")
      }
    }
  }

  /// Whether a file's first bytes are those of the format its extension names (PNG's
  /// signature; a safetensors header's length then `{`); true for extensions not known here.
  static func holdsFormat(_ head: [UInt8], extension ext: String) -> Bool {
    switch ext {
    case "png": return head.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    case "safetensors": return head.count == 9 && head[8] == UInt8(ascii: "{")
    default: return true
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
