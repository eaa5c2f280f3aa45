/// Float buffers that start on a 64-byte cache line.
///
/// The kernels load and store 16 floats (one cache line) at a time at channel offsets that are
/// multiples of 16, so a buffer that starts on a line keeps every access inside one line. The
/// allocator only promises 16 bytes, and where a buffer fell varied from process to process:
/// the same B7 run at batch 1 took 475 or 580 ms on 2 threads, by process.
public enum CacheAlignedFloats {
  /// Bytes of a cache line, the alignment of every buffer made here.
  public static let alignment = 64

  /// `count` uninitialised floats on a cache line; free with `deallocate()`.
  public static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Float>.stride, alignment: alignment)
      .bindMemory(to: Float.self, capacity: max(1, count))
  }

  /// Calls `body` with `count` uninitialised floats on a cache line, freed after.
  public static func with<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
    let p = allocate(count)
    defer { p.deallocate() }
    return try body(p)
  }
}
