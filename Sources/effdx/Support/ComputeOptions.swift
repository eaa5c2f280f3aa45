import ArgumentParser
import DxTensor
import Foundation

/// Options every compute-heavy command shares.
struct ComputeOptions: ParsableArguments {
  @Option(help: "Threads for OpenBLAS and EfficientDx's kernels (default: all cores, or EFFDX_THREADS).")
  var threads: Int?

  /// Called by every command that runs a network. `sharedBy`: processes of one job on this
  /// machine (data-parallel ranks), which divide the cores between them unless told otherwise.
  func apply(sharedBy processes: Int = 1) throws {
    // Networks reallocate the same large activations over and over: keep them in the heap
    // (not for tiling, which would only grow its footprint). EFFDX_RETURN_FREED_MEMORY=1
    // trades that speed for a lower peak (Docs/GettingStarted.md).
    if !RuntimeEnvironment.current.returnFreedMemory { TensorMemory.keepLargeBlocks() }
    if let threads {
      guard (1...1024).contains(threads) else { throw ValidationError("--threads must be in 1...1024, not \(threads)") }
      ThreadPool.threadCount = threads
    } else if processes > 1 && RuntimeEnvironment.current.threads == nil {
      ThreadPool.threadCount = max(1, ProcessInfo.processInfo.activeProcessorCount / processes)
    }
  }
}

