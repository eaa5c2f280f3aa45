import Foundation

/// A read-only view of a ZIP archive whose entries are stored uncompressed, as PyTorch's
/// `torch.save` writes them. Entries are byte ranges into one memory-mapped `Data`; nothing is
/// copied until a tensor is decoded. Handles ZIP64 (checkpoints over 4 GiB).
struct StoredZipArchive {
  let data: Data
  /// Entry name -> byte range of its contents.
  let entries: [String: Range<Int>]

  struct Failure: Error { var reason: String }

  init(data: Data) throws {
    self.data = data
    let n = data.count
    guard n >= 22 else { throw Failure(reason: "too short to be a ZIP archive") }
    func u16(_ o: Int) throws -> Int {
      guard o >= 0, o <= n - 2 else { throw Failure(reason: "record at byte \(o) runs past the end") }
      return Int(data[data.startIndex + o]) | Int(data[data.startIndex + o + 1]) << 8
    }
    func u32(_ o: Int) throws -> Int {
      let lo = try u16(o), hi = try u16(o + 2)
      return lo | hi << 16
    }
    func u64(_ o: Int) throws -> Int {
      let lo = try u32(o), hi = try u32(o + 4)
      let v = UInt64(lo) | UInt64(hi) << 32
      // Every 64-bit field is an offset, a size or a count within the file: near 2^63, the
      // sums below overflowed (a trap).
      guard v <= UInt64(n) else { throw Failure(reason: "a 64-bit field (\(v)) past the file's \(n) bytes") }
      return Int(v)
    }
    // End of central directory: within the last 64 KiB + 22 bytes.
    var eocd = -1
    var o = n - 22
    while o >= max(0, n - 22 - 65_535) {
      if try u32(o) == 0x0605_4B50 { eocd = o; break }
      o -= 1
    }
    guard eocd >= 0 else { throw Failure(reason: "no end-of-central-directory record (not a ZIP archive, or truncated)") }
    var count = try u16(eocd + 10)
    var cdOffset = try u32(eocd + 16)
    if count == 0xFFFF || cdOffset == 0xFFFF_FFFF {
      let locator = eocd - 20
      guard locator >= 0, try u32(locator) == 0x0706_4B50 else { throw Failure(reason: "ZIP64 locator missing") }
      let record = try u64(locator + 8)
      guard try u32(record) == 0x0606_4B50 else { throw Failure(reason: "ZIP64 end record missing") }
      count = try u64(record + 32)
      cdOffset = try u64(record + 48)
    }
    var entries: [String: Range<Int>] = [:]
    var p = cdOffset
    for _ in 0..<count {
      guard try u32(p) == 0x0201_4B50 else { throw Failure(reason: "corrupt central directory at byte \(p)") }
      let method = try u16(p + 10)
      var size = try u32(p + 20)
      let uncompressed = try u32(p + 24)
      let nameLength = try u16(p + 28), extraLength = try u16(p + 30), commentLength = try u16(p + 32)
      var local = try u32(p + 42)
      guard p + 46 + nameLength <= n else { throw Failure(reason: "entry name runs past the end") }
      let name = String(decoding: data[(data.startIndex + p + 46)..<(data.startIndex + p + 46 + nameLength)], as: UTF8.self)
      // ZIP64 extra field: 8-byte values for whichever 32-bit fields are saturated, in order.
      var e = p + 46 + nameLength
      let extraEnd = e + extraLength
      while e + 4 <= extraEnd {
        let id = try u16(e), len = try u16(e + 2)
        if id == 0x0001 {
          var q = e + 4
          if uncompressed == 0xFFFF_FFFF { q += 8 }
          if size == 0xFFFF_FFFF { size = try u64(q); q += 8 }
          if local == 0xFFFF_FFFF { local = try u64(q) }
        }
        e += 4 + len
      }
      guard method == 0 else { throw Failure(reason: "entry '\(name)' is compressed (method \(method)); PyTorch stores entries uncompressed") }
      guard try u32(local) == 0x0403_4B50 else { throw Failure(reason: "entry '\(name)' has no local header") }
      let localName = try u16(local + 26), localExtra = try u16(local + 28)
      let start = local + 30 + localName + localExtra
      guard start >= 0, size >= 0, start <= n, size <= n - start else { throw Failure(reason: "entry '\(name)' runs past the end of the file (truncated?)") }
      entries[name] = start..<(start + size)
      p += 46 + nameLength + extraLength + commentLength
    }
    self.entries = entries
  }

  /// The contents of `name`, or nil.
  func contents(_ name: String) -> Data? {
    entries[name].map { data[(data.startIndex + $0.lowerBound)..<(data.startIndex + $0.upperBound)] }
  }
}
