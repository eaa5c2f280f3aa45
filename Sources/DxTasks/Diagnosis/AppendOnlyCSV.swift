import DxCSV
import Foundation

/// A CSV file a run appends rows to, safely: the existing file is checked (header, encoding)
/// before a byte of it changes, the file is locked (`flock`) against a second writer for as
/// long as it is open, and a row that cannot be written whole (a full disk) is cut back so the
/// file is exactly as it was before the row began.
final class AppendOnlyCSV {
  let path: String
  private let fd: Int32
  /// The rows already there (header excluded), each with its line number.
  let existing: [(line: Int, fields: [String])]

  private init(path: String, fd: Int32, existing: [(line: Int, fields: [String])]) {
    self.path = path
    self.fd = fd
    self.existing = existing
  }

  /// Opens or creates `path` with `header`. An existing file must start with exactly that
  /// header; a last line without its line end (a crash mid-row) is dropped.
  convenience init(path: String, header: [String], purpose: String, maxBytes: Int = .max) throws {
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0o644)
    guard fd >= 0 else { throw TaskError.invalid("\(path): cannot open for writing (\(String(cString: strerror(errno))))") }
    var ok = false
    defer { if !ok { close(fd) } }
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw TaskError.invalid("\(path): not a regular file") }
    guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
      throw TaskError.invalid("\(path) is being written by another process (locked); wait for it or choose another --out")
    }
    let size = Int(st.st_size)
    guard size <= maxBytes else { throw TaskError.invalid("\(path): \(size) bytes, more than the \(maxBytes) a \(purpose) may hold here; it was left as it is: move it, or choose another --out") }
    var data = Data(count: size)
    let got = data.withUnsafeMutableBytes { pread(fd, $0.baseAddress, size, 0) }
    guard got == size else { throw TaskError.invalid("\(path): cannot read (\(String(cString: strerror(errno))))") }
    var records: [(line: Int, fields: [String])] = []
    var writeHeader = size == 0
    var cut: off_t? = nil
    if size > 0 {
      guard String(data: data, encoding: .utf8) != nil else {
        throw TaskError.invalid("\(path) exists and is not a \(purpose) (not UTF-8 text); it was left as it is: choose another --out")
      }
      records = CSV.records(data)
      guard let first = records.first, first.fields == header else {
        let found = records.first.map { $0.fields.prefix(8).joined(separator: ",") } ?? "nothing"
        throw TaskError.invalid("\(path) exists and is not a \(purpose) with these columns (its first line is '\(found)'); it was left as it is: choose another --out")
      }
      records.removeFirst()
      let complete = Self.endOfLastRecord(data)
      if complete < data.count {
        // A crash mid-row leaves a last record without its line end (perhaps inside a quoted
        // field): the record is dropped, and its file diagnosed again. The file is cut only
        // when the first row is appended, after the caller has checked the rest (a refused
        // run cut it all the same).
        cut = off_t(complete)
        if complete == 0 { writeHeader = true } else if !records.isEmpty { records.removeLast() }
      }
    }
    ok = true
    self.init(path: path, fd: fd, existing: records)
    createdNow = size == 0
    pendingCut = cut
    if writeHeader { if size == 0 { try append(row: header) } else { pendingHeader = header } }
  }

  /// Where the file is to be cut back, and a header to write after the cut, on the first append.
  private var pendingCut: off_t?
  private var pendingHeader: [String]?

  /// Whether this open created the file (it was empty): a run that stops before any row may
  /// remove it again.
  private(set) var createdNow = false

  /// The offset just past the last line end that is outside quotes: where the last complete
  /// record ends.
  static func endOfLastRecord(_ data: Data) -> Int {
    var quoted = false, end = 0
    for (i, b) in data.enumerated() {
      if b == 0x22 { quoted.toggle() } else if b == 0x0A && !quoted { end = i + 1 }
    }
    return end
  }

  /// Removes a file this open created and nothing was written to but the header.
  func removeIfUnused() {
    if createdNow && existing.isEmpty { unlink(path) }
  }

  deinit { close(fd) }

  /// Appends one row with a single write; on failure the file is cut back to where it was.
  func append(row fields: [String]) throws { try append(CSV.row(fields)) }

  /// Cuts an unfinished last row back off (and writes the header if nothing else was whole):
  /// called once the caller has checked everything else, or by the first append.
  func settle() throws {
    guard let cut = pendingCut else { return }
    guard ftruncate(fd, cut) == 0 else { throw TaskError.invalid("\(path): cannot cut back an unfinished last row (\(String(cString: strerror(errno)))); the file is unchanged") }
    pendingCut = nil
    if let header = pendingHeader {
      pendingHeader = nil
      try append(CSV.row(header))
    }
  }

  private func append(_ text: String) throws {
    try settle()
    let start = lseek(fd, 0, SEEK_END)
    let bytes = Array(text.utf8)
    var written = 0
    while written < bytes.count {
      let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 {
        let reason = String(cString: strerror(errno))
        _ = ftruncate(fd, start)
        throw TaskError.invalid("\(path): cannot write (\(reason)); the file is kept as it was before this row")
      }
      written += n
    }
  }
}
