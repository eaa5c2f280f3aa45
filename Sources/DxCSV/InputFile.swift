import Foundation

/// A file a user hands us (a manifest, a predictions file, an earlier report), read the one
/// checked way.
///
/// Foundation's readers called a FIFO and a device "You don't have permission", would block on
/// a FIFO with a writer, and read `/dev/zero` until memory ran out. Here the file is opened
/// without blocking, must be a regular file, and is measured before a byte is read.
public enum InputFile {
  /// The largest file read unless a caller says otherwise: 1 GiB, about ten million rows of a
  /// manifest or a predictions file of a few classes.
  public static let maxBytes = 1 << 30

  /// Why `path` cannot be read, or nil when it can: not there, not a regular
  /// file, unreadable, or larger than `maxBytes`.
  public static func problem(_ path: String, maxBytes: Int = maxBytes) -> String? {
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else {
      switch errno {
      case ENOENT: return "no such file"
      case EACCES: return "permission denied"
      case ENOTDIR: return "a folder on its path is a file"
      default: return String(cString: strerror(errno))
      }
    }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { return String(cString: strerror(errno)) }
    switch st.st_mode & S_IFMT {
    case S_IFREG: break
    case S_IFDIR: return "is a folder"
    default: return "not a regular file (a FIFO, socket or device)"
    }
    guard Int(st.st_size) <= maxBytes else { return "\(st.st_size) bytes; files are read up to \(maxBytes) bytes here" }
    return nil
  }

  /// The file's bytes, mapped rather than copied, after `problem` found none; the reason
  /// otherwise.
  public static func contents(_ path: String, maxBytes: Int = maxBytes) -> Result<Data, InputFileError> {
    if let reason = problem(path, maxBytes: maxBytes) { return .failure(InputFileError(path: path, reason: reason)) }
    do { return .success(try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)) } catch {
      return .failure(InputFileError(path: path, reason: (error as NSError).localizedDescription))
    }
  }
}

/// A file that could not be read, and why.
public struct InputFileError: Error, CustomStringConvertible, Equatable, Sendable {
  public var path: String
  public var reason: String
  public var description: String { "\(path): cannot read: \(reason)" }
}
