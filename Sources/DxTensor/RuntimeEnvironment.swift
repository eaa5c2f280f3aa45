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

  /// Values that were set but could not be used (and so were ignored), for a warning.
  public var problems: [String] = []

  public init(_ environment: [String: String]) {
    var problems: [String] = []
    func int(_ name: String, _ range: ClosedRange<Int>) -> Int? {
      guard let text = environment[name], !text.isEmpty else { return nil }
      guard let v = Int(text), range.contains(v) else { problems.append("\(name)=\(text) ignored: not a whole number in \(range.lowerBound)...\(range.upperBound)"); return nil }
      return v
    }
    func flag(_ name: String, default d: Bool) -> Bool {
      guard let text = environment[name], !text.isEmpty else { return d }
      switch text.lowercased() {
      case "1", "true", "yes", "on": return true
      case "0", "false", "no", "off": return false
      default: problems.append("\(name)=\(text) ignored: use 1 or 0"); return d
      }
    }
    threads = int("EFFDX_THREADS", 1...4096)
    streamingMinimumMB = int("EFFDX_STREAMING_MIN_MB", 0...(1 << 20))
    gatesAsRead = flag("EFFDX_GATE_AS_READ", default: true)
    returnFreedMemory = flag("EFFDX_RETURN_FREED_MEMORY", default: false)
    testKillAt = environment["EFFDX_TEST_KILL_AT"]
    switch environment["EFFDX_KERNEL_ISA"] {
    case nil, "": kernelISA = nil
    case "c": kernelISA = .portableC
    case "avx2": kernelISA = .avx2
    case "avx512": kernelISA = .avx512
    case let other?:
      // Capping to the portable kernels is the safe reading of a value meant to cap.
      kernelISA = .portableC
      problems.append("EFFDX_KERNEL_ISA=\(other) is not c, avx2 or avx512: the kernels are capped to c")
    }
    self.problems = problems
  }

  /// Puts the settings that live in C in force (the kernels' instruction set).
  public func apply() {
    if let kernelISA { KernelInstructionSet.cap(kernelISA) }
  }

  /// This process's, read at first use.
  public static let current = RuntimeEnvironment(ProcessInfo.processInfo.environment)
}
