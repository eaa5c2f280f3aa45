import Foundation

/// Every `EFFDX_*` environment variable EfficientDx honours, read once and in one place, so no
/// library code (Swift or C) reads the environment on its own and a test or tool can see the
/// whole set. `effdx` applies it at start-up (`apply()`).
public struct RuntimeEnvironment: Sendable, Equatable {
  /// `EFFDX_THREADS`: compute threads (default: every core).
  public var threads: Int?
  /// `EFFDX_STREAMING_MIN_MB`: outputs from this size up use streaming stores (A/B runs, tests).
  public var streamingMinimumMB: Int?
  /// `EFFDX_GATE_AS_READ=0`: SE's gate applied as a separate pass (A/B runs).
  public var gatesAsRead: Bool
  /// `EFFDX_RETURN_FREED_MEMORY=1`: return freed blocks to the system (lower peak, slower).
  public var returnFreedMemory: Bool
  /// `EFFDX_TEST_KILL_AT=<epoch>:<point>`: crash tests kill `effdx train` at a save point.
  public var testKillAt: String?
  /// `EFFDX_KERNEL_ISA=c|avx2|avx512`: cap the instruction set of EfficientDx's own kernels.
  public var kernelISA: KernelInstructionSet?

  public init(_ environment: [String: String]) {
    threads = environment["EFFDX_THREADS"].flatMap { Int($0) }.flatMap { (1...4096).contains($0) ? $0 : nil }
    streamingMinimumMB = environment["EFFDX_STREAMING_MIN_MB"].flatMap { Int($0) }.flatMap { (0...(1 << 20)).contains($0) ? $0 : nil }
    gatesAsRead = environment["EFFDX_GATE_AS_READ"] != "0"
    returnFreedMemory = environment["EFFDX_RETURN_FREED_MEMORY"] != nil
    testKillAt = environment["EFFDX_TEST_KILL_AT"]
    switch environment["EFFDX_KERNEL_ISA"] {
    case "c": kernelISA = .portableC
    case "avx2": kernelISA = .avx2
    case "avx512": kernelISA = .avx512
    default: kernelISA = nil
    }
  }

  /// Puts the settings that live in C in force (the kernels' instruction set).
  public func apply() {
    if let kernelISA { KernelInstructionSet.cap(kernelISA) }
  }

  /// This process's, read at first use.
  public static let current = RuntimeEnvironment(ProcessInfo.processInfo.environment)
}
