internal import CBLAS
import Foundation

/// How many cores EfficientDx computes on, and the one place work is spread over them.
///
/// Two kinds of parallel work share the cores: OpenBLAS's own threads inside a GEMM, and
/// `ThreadPool.parallelFor` for our kernels (depthwise convolution, BatchNorm, activations).
/// Both are synchronous, and a `parallelFor` body calls a GEMM only inside
/// `withSingleThreadedBLAS`, so the two never run at once and never oversubscribe the machine. Set the count once at start-up
/// (`EFFDX_THREADS`, or `effdx --threads`).
public enum ThreadPool {
  nonisolated(unsafe) private static var _threads: Int = {
    let fromEnv = RuntimeEnvironment.current.threads
    let n = max(1, fromEnv ?? ProcessInfo.processInfo.activeProcessorCount)
    openblas_set_num_threads(blasThreads(n))
    return n
  }()

  /// OpenBLAS's threads for `n` of ours: never more than the cores. Past them a thread only
  /// waits its turn, and each reserves its own 128 MB buffer (`--threads 100` on 2 cores, under
  /// an 8 GB address-space limit, hung in OpenBLAS's shutdown at exit).
  private static func blasThreads(_ n: Int) -> Int32 { Int32(min(n, max(1, ProcessInfo.processInfo.activeProcessorCount))) }

  /// Threads used by our kernels and by OpenBLAS.
  public static var threadCount: Int {
    get { _threads }
    set {
      precondition(newValue >= 1, "thread count must be at least 1, got \(newValue)")
      _threads = newValue
      openblas_set_num_threads(blasThreads(newValue))
    }
  }

  /// Runs `body` with OpenBLAS on one thread, for kernels that call GEMMs from inside
  /// `parallelFor` (one small GEMM per core, each followed by work on its still-cached output).
  public static func withSingleThreadedBLAS<R>(_ body: () throws -> R) rethrows -> R {
    let n = threadCount
    if n > 1 { openblas_set_num_threads(1) }
    defer { if n > 1 { openblas_set_num_threads(blasThreads(n)) } }
    return try body()
  }

  /// Chunks per thread of a `parallelFor`: the threads claim them as they become free, so a
  /// core slowed by other load takes fewer (see `SpinningWorkers`).
  public static let chunksPerThread = 4

  /// Runs `body(range)` over `0..<count` split into contiguous chunks, `chunksPerThread` per
  /// thread, and returns when all are done. Chunks smaller than `minChunk` items are not split
  /// further, so tiny loops stay on the calling thread. Which thread runs a chunk varies from
  /// call to call, so a body must not keep state by thread (per-range state is fine).
  public static func parallelFor(
    _ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void
  ) {
    guard count > 0 else { return }
    let chunks = threadCount == 1 ? 1 : min(threadCount * chunksPerThread, max(1, count / max(1, minChunk)))
    if chunks == 1 {
      body(0..<count)
      return
    }
    let chunk = { (chunk: Int) in
      let start = count * chunk / chunks
      let end = count * (chunk + 1) / chunks
      if start < end { body(start..<end) }
    }
    if threadCount <= workers.workers + 1, workers.run(chunks, threads: threadCount, chunk) { return }
    // Nested inside another job, or more threads than workers (threadCount raised later).
    withoutActuallyEscaping(chunk) { chunk in DispatchQueue.concurrentPerform(iterations: chunks, execute: chunk) }
  }

  /// Runs `body` (a forward pass: many short jobs with short serial gaps) with the workers
  /// spinning through the gaps instead of sleeping (see `SpinningWorkers.whileHot`).
  public static func whileHot<R>(_ body: () throws -> R) rethrows -> R {
    threadCount > 1 ? try workers.whileHot(body) : try body()
  }

  /// Started on first use, one per core beyond the caller's (or per thread of `threadCount`),
  /// at most `SpinningWorkers.maxWorkers` (its bit masks): more threads than that (`--threads`
  /// up to 1024, or a machine of 65 cores) run their jobs through Dispatch instead of trapping.
  private static let workers = SpinningWorkers(
    workers: min(SpinningWorkers.maxWorkers, max(1, max(threadCount, ProcessInfo.processInfo.activeProcessorCount) - 1)))
}

/// Process-wide memory settings for large tensors.
public enum TensorMemory {
  /// Keeps freed large blocks in the heap for reuse instead of returning them to the kernel:
  /// a network allocates the same activation sizes layer after layer and batch after batch,
  /// and fresh pages cost a fault and a zero-fill each (seen as a third of inference time).
  public static func keepLargeBlocks() {
    #if canImport(Glibc)
      _ = glibcMallopt(-3, 1 << 30)  // M_MMAP_THRESHOLD
      _ = glibcMallopt(-1, Int32.max)  // M_TRIM_THRESHOLD
    #endif
  }
}

#if canImport(Glibc)
  /// glibc's `mallopt` (declared in <malloc.h>, which the Glibc module does not export).
  @_silgen_name("mallopt")
  func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
