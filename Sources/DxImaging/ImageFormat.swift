import DxCSV
import Foundation

/// Image formats EfficientDx reads, recognised by their first bytes, never by the file name:
/// a `.png` that is really a JPEG decodes as the JPEG it is.
public enum ImageFormat: String, Sendable, Codable {
  case png, jpeg, tiff

  /// The format of `bytes` (the first 8 are enough), or nil.
  public static func detect(_ bytes: some Collection<UInt8>) -> ImageFormat? {
    let b = Array(bytes.prefix(8))
    if b.count >= 8 && b == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
    if b.count >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF { return .jpeg }
    if b.count >= 4 && ((b[0] == 0x49 && b[1] == 0x49 && (b[2] == 0x2A || b[2] == 0x2B) && b[3] == 0)
      || (b[0] == 0x4D && b[1] == 0x4D && b[2] == 0 && (b[3] == 0x2A || b[3] == 0x2B))) { return .tiff }
    return nil
  }

  /// Reads the first bytes of `path` and detects its format.
  public static func detect(path: String) throws -> ImageFormat {
    let fd = try openRegularFile(path)
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 8)
    let n = read(fd, &buffer, 8)
    let head = Data(buffer.prefix(max(0, n)))
    if head.isEmpty { throw ImageError.unknownFormat(path: path, reason: "empty file") }
    guard let format = detect(head) else {
      throw ImageError.unknownFormat(path: path, reason: "content is not PNG, JPEG or TIFF (first bytes \(head.map { String(format: "%02x", $0) }.joined(separator: " ")))")
    }
    return format
  }

  /// Throws unless `path` is a regular file that can be opened.
  public static func checkRegularFile(_ path: String) throws {
    close(try openRegularFile(path))
  }

  /// Opened without blocking and checked to be a regular file (`InputFile.openRegular`): a FIFO
  /// named `a.png` would otherwise block its reader forever.
  static func openRegularFile(_ path: String) throws -> Int32 {
    switch InputFile.openRegular(path) {
    case .success(let file): return file.fd
    case .failure(let e): throw ImageError.cannotOpen(path: path, reason: e.isFolder ? "is a directory" : e.reason)
    }
  }
}
