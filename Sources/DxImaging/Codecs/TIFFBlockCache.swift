/// Decoded blocks (tiles or strips) of one `TIFFReader`, the most recently used kept within a
/// byte budget. Neighbouring windows of a slide share stored tiles: a 224-pixel tile on a grid
/// of 256-pixel JPEG tiles touches 3.5 of them on average, and each was decoded again for
/// every window that touched it. Not thread-safe, like its reader (one per thread).
final class TIFFBlockCache {
  struct Key: Hashable {
    var level: Int, bx: Int, by: Int, plane: Int
  }

  private struct Entry {
    var bytes: UnsafeMutableRawBufferPointer
    var used: Int
  }

  private var entries: [Key: Entry] = [:]
  private var clock = 0
  private var held = 0
  /// For blocks larger than the budget (a whole-image strip): decoded each time, never kept.
  private var scratch = UnsafeMutableRawBufferPointer(start: nil, count: 0)
  let budget: Int
  /// The most blocks kept whatever their size: finding the least recently used scans them all,
  /// and a budget of 16 MB held 21,800 tiles of 16 x 16 pixels, so an 8192-pixel-square image
  /// of such tiles took minutes to read.
  static let maxEntries = 1024

  init(budget: Int) { self.budget = max(0, budget) }

  deinit {
    for e in entries.values { e.bytes.deallocate() }
    scratch.deallocate()
  }

  /// Block `key`'s `byteCount` decoded bytes, from the cache or decoded by `decode` into fresh
  /// memory (and kept, evicting the least recently used). Valid until the next call. A block
  /// that fails to decode is not kept.
  func block(_ key: Key, byteCount: Int, decode: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> UnsafeRawBufferPointer {
    clock += 1
    if let e = entries[key], e.bytes.count == byteCount {
      entries[key]?.used = clock
      return UnsafeRawBufferPointer(e.bytes)
    }
    guard byteCount <= budget / 4 else {
      if scratch.count != byteCount {
        scratch.deallocate()
        scratch = .allocate(byteCount: byteCount, alignment: 16)
      }
      try decode(scratch)
      return UnsafeRawBufferPointer(scratch)
    }
    if let stale = entries.removeValue(forKey: key) {
      held -= stale.bytes.count
      stale.bytes.deallocate()
    }
    while held + byteCount > budget || entries.count >= Self.maxEntries, let oldest = entries.min(by: { $0.value.used < $1.value.used }) {
      entries.removeValue(forKey: oldest.key)
      held -= oldest.value.bytes.count
      oldest.value.bytes.deallocate()
    }
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: byteCount, alignment: 16)
    do { try decode(bytes) } catch {
      bytes.deallocate()
      throw error
    }
    entries[key] = Entry(bytes: bytes, used: clock)
    held += byteCount
    return UnsafeRawBufferPointer(bytes)
  }
}
