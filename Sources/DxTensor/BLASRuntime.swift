internal import CBLAS
import Foundation

/// What OpenBLAS chose at load time, and what it should have chosen.
///
/// OpenBLAS picks its GEMM kernels from the CPU's family and model numbers. A CPU newer than the
/// library (Debian 12's 0.3.21 does not know Sapphire or Emerald Rapids, model 143/207) falls
/// back to the SSE3 "Prescott" kernels: 6x slower (32 instead of 192 GFLOP/s measured here).
/// The CPU's feature flags say which kernels it can run; OpenBLAS reads `OPENBLAS_CORETYPE`
/// only when it loads, so a program that wants the right kernels sets it and restarts.
public enum BLASRuntime {
  /// The kernel set OpenBLAS is using (`"Prescott"`, `"Haswell"`, `"SkylakeX"`, `"Zen"`, ...).
  public static var coreName: String {
    guard let name = openblas_get_corename() else { return "unknown" }
    return String(cString: name)
  }

  /// The core type to force with `OPENBLAS_CORETYPE`, or nil when OpenBLAS already uses vector
  /// kernels as wide as the CPU allows (or the user chose one). `cpuFlags` as in /proc/cpuinfo.
  public static func recommendedCoreType(
    coreName: String = coreName, cpuFlags: Set<String>,
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) -> String? {
    guard environment["OPENBLAS_CORETYPE"] == nil else { return nil }
    let legacy: Set<String> = ["prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai", "coppermine", "northwood", "banias", "sandybridge", "unknown"]
    guard legacy.contains(coreName.lowercased()) else { return nil }
    if cpuFlags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]) { return "SkylakeX" }
    if cpuFlags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
    return nil
  }
}
