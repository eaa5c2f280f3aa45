import Foundation

/// Every `EFFDX_*` environment variable the Swift libraries honour, read once and in one place,
/// so no library code reads the environment on its own and a test or tool can see the whole
/// set. (The C kernels' dispatcher reads `EFFDX_KERNEL_ISA` itself, at its first call, since a
/// kernel can run before any Swift value is touched.)
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

  public init(_ environment: [String: String]) {
    threads = environment["EFFDX_THREADS"].flatMap { Int($0) }.flatMap { (1...4096).contains($0) ? $0 : nil }
    streamingMinimumMB = environment["EFFDX_STREAMING_MIN_MB"].flatMap { Int($0) }.flatMap { (0...(1 << 20)).contains($0) ? $0 : nil }
    gatesAsRead = environment["EFFDX_GATE_AS_READ"] != "0"
    returnFreedMemory = environment["EFFDX_RETURN_FREED_MEMORY"] != nil
    testKillAt = environment["EFFDX_TEST_KILL_AT"]
  }

  /// This process's, read at first use.
  public static let current = RuntimeEnvironment(ProcessInfo.processInfo.environment)
}
