import Foundation

/// The CPU's feature flags, read before any kernel runs.
///
/// This file is compiled for any x86-64 (only DxTensor is built for AVX2), so on an older CPU
/// the tool can explain itself instead of dying on an illegal instruction.
enum CPUFeatures {
  /// The flags of the first CPU in `/proc/cpuinfo` (empty where there is none).
  static let flags: Set<String> = {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
      let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
      let colon = line.firstIndex(of: ":")
    else { return [] }
    return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
  }()

  static func exitUnlessKernelsCanRun() {
    #if EFFDX_AVX2_KERNELS
      guard !flags.isEmpty, !flags.isSuperset(of: ["avx2", "fma"]) else { return }
      FileHandle.standardError.write(Data("""
        effdx: this build's kernels need a CPU with AVX2 and FMA, which this CPU lacks.
        Rebuild for any x86-64 CPU: EFFDX_PORTABLE=1 swift build -c release --product effdx

        """.utf8))
      exit(70)
    #endif
  }
}
