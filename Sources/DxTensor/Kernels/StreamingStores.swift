import Foundation

/// When an elementwise pass's output is stored around the caches (AVX-512's streaming stores;
/// see `CDxKernels/flat_walk.h`). A map far larger than the caches goes to memory anyway, and a
/// normal store first reads each line it writes: streaming stores wrote 154 MB at twice the
/// speed on this machine, and the next pass read the map back as fast. Maps that fit the caches
/// are better left in them for the next pass (no gain at 16 MB, a slower read after it).
public enum StreamingStores {
  /// Outputs of at least this many bytes stream: 32 MB, where two threads' streaming writes
  /// first measured faster (24 vs 16 GB/s). `EFFDX_STREAMING_MIN_MB` overrides it for A/B runs;
  /// tests set 0 to run the streaming path on small maps.
  nonisolated(unsafe) public static var minimumBytes: Int = {
    if let mb = RuntimeEnvironment.current.streamingMinimumMB { return mb << 20 }
    return 32 << 20
  }()

  /// The kernels' `stream` flag for an output of `count` floats.
  @inline(__always)
  static func flag(forFloats count: Int) -> Int32 { count * MemoryLayout<Float>.size >= minimumBytes ? 1 : 0 }
}

extension StreamingStores {
  /// Runs `body` with another threshold (tests: 0 streams every output), then restores it.
  public static func with<R>(minimumBytes bytes: Int, _ body: () throws -> R) rethrows -> R {
    let saved = minimumBytes
    minimumBytes = bytes
    defer { minimumBytes = saved }
    return try body()
  }
}
