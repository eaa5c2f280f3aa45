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

  /// An open descriptor of `path` (read-only, close-on-exec) when it is a regular file, or why
  /// it is not one: opened without blocking (a FIFO would wait for a writer forever), then
  /// checked with `fstat`. The one place every reader of a user's file opens it.
  public static func openRegular(_ path: String) -> Result<(fd: Int32, size: Int), InputFileError> {
    func failure(_ reason: String) -> Result<(fd: Int32, size: Int), InputFileError> { .failure(InputFileError(path: path, reason: reason)) }
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else {
      switch errno {
      case ENOENT: return failure("no such file")
      case EACCES: return failure("permission denied")
      case ELOOP: return failure("a symbolic link loop")
      case ENOTDIR: return failure("a folder on its path is a file")
      default: return failure(String(cString: strerror(errno)))
      }
    }
    var st = stat()
    guard fstat(fd, &st) == 0 else {
      let reason = String(cString: strerror(errno))
      close(fd)
      return failure(reason)
    }
    switch st.st_mode & S_IFMT {
    case S_IFREG: return .success((fd, Int(st.st_size)))
    case S_IFDIR:
      close(fd)
      return .failure(InputFileError(path: path, reason: "is a folder", isFolder: true))
    default: close(fd); return failure("not a regular file (a FIFO, socket or device)")
    }
  }

  /// Why `path` cannot be read, or nil when it can: not there, not a regular file, unreadable,
  /// or larger than `maxBytes`.
  public static func problem(_ path: String, maxBytes: Int = maxBytes) -> String? {
    switch openRegular(path) {
    case .failure(let e): return e.reason
    case .success(let file):
      close(file.fd)
      return file.size <= maxBytes ? nil : "\(file.size) bytes; files are read up to \(maxBytes) bytes here"
    }
  }

  /// The file's bytes, mapped rather than copied, after `problem` found none; the reason
  /// otherwise.
  public static func contents(_ path: String, maxBytes: Int = maxBytes) -> Result<Data, InputFileError> {
    if let reason = problem(path, maxBytes: maxBytes) { return .failure(InputFileError(path: path, reason: reason)) }
    do { return .success(try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)) } catch {
      // Foundation says only "The operation could not be completed" when the mapping fails
      // (a file larger than the address space `ulimit -v` leaves).
      let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
      return .failure(InputFileError(path: path, reason: size.map { "its \($0) bytes could not be mapped into memory (an address-space limit, ulimit -v?)" } ?? (error as NSError).localizedDescription))
    }
  }
}

/// A file that could not be read, and why.
public struct InputFileError: Error, CustomStringConvertible, Equatable, Sendable {
  public var path: String
  public var reason: String
  /// The path is a folder (callers word that their own way).
  public var isFolder = false
  public var description: String { "\(path): cannot read: \(reason)" }
}
