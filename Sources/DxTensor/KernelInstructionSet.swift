internal import CDxKernels

/// The vector instruction set the intrinsics kernels (inference epilogues and depthwise
/// convolution) run on. They pick the best the CPU has; `EFFDX_KERNEL_ISA=c|avx2|avx512` caps
/// it for an `effdx` process (`RuntimeEnvironment`), and tests lower it to check every path against the same reference.
public enum KernelInstructionSet: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
  case portableC = 0, avx2 = 1, avx512 = 2

  /// The set in use now.
  public static var current: KernelInstructionSet { KernelInstructionSet(rawValue: Int(dx_kernel_isa())) ?? .portableC }

  /// Every set this CPU can run, lowest first.
  public static var available: [KernelInstructionSet] {
    let saved = dx_kernel_isa()
    let best = dx_set_kernel_isa(Int32(KernelInstructionSet.avx512.rawValue))
    dx_set_kernel_isa(saved)
    return allCases.filter { $0.rawValue <= Int(best) }
  }

  /// Caps the kernels at `set` (or the best below it the CPU has) for the rest of the process.
  public static func cap(_ set: KernelInstructionSet) {
    dx_set_kernel_isa(Int32(min(set, current).rawValue))
  }

  /// Runs `body` with the kernels on `set` (or the best below it the CPU has). Not for use
  /// while other threads run kernels: the choice is process-wide.
  public static func with<R>(_ set: KernelInstructionSet, _ body: () throws -> R) rethrows -> R {
    let saved = dx_kernel_isa()
    dx_set_kernel_isa(Int32(set.rawValue))
    defer { dx_set_kernel_isa(saved) }
    return try body()
  }

  /// Whether CDxKernels' packed GEMM has a micro-kernel for this set (AVX-512: 12 x 32 tiles,
  /// AVX2: 6 x 16), so the fused kernels use it instead of OpenBLAS plus an epilogue pass.
  public var hasPackedGemm: Bool { self >= .avx2 }

  public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

  public var description: String {
    switch self {
    case .portableC: "C"
    case .avx2: "AVX2+FMA"
    case .avx512: "AVX-512"
    }
  }
}
