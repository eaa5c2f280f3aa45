import ArgumentParser
import DxEfficientNet
import Foundation

/// Refuses, before anything is allocated, a batch whose maps cannot fit in this machine's memory:
/// a failed allocation traps instead of an error naming the flags. The estimate is a lower bound,
/// so it never refuses a run that could have fitted: two of the network's largest maps for a
/// forward pass, every map for training (which keeps them for its backward pass; B0's measured
/// peak at 224 and batch 16 is twice that sum).
enum MemoryCheck {
  /// Physical memory, or the address-space limit (`ulimit -v`) when it is lower, in bytes.
  static var available: Double {
    let physical = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
    var limit = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return physical }
    return min(physical, Double(limit.rlim_cur))
  }

  /// Throws a usage error naming `flags` when `batch` images at `resolution` cannot fit;
  /// `keepsMaps`: a training step that keeps its maps for the backward pass; `gradients`: a
  /// backward pass to the input as well (Grad-CAM), which holds a gradient beside each map (B3
  /// at 2048 px: maps of 4.4 GB, and Grad-CAM failed to allocate past 7.6 GB).
  static func check(_ config: EfficientNetConfig, batch: Int, resolution: Int, keepsMaps: Bool = false, gradients: Bool = false, flags: String) throws {
    let maps = config.activationBytes(batch: batch, resolution: resolution)
    let need = keepsMaps || gradients ? maps.total * (gradients ? 2 : 1) : 2 * maps.largest
    try require(need, for: "\(config.name)'s maps alone", flags: flags)
  }

  /// Throws a usage error naming `flags` when `bytes` (what `what` needs at least) cannot fit.
  static func require(_ bytes: Double, for what: String, flags: String) throws {
    let have = available
    guard bytes > have else { return }
    func gb(_ bytes: Double) -> String { String(format: "%.1f", bytes / 1e9) }
    throw ValidationError("\(flags): \(what) need at least \(gb(bytes)) GB, more than the \(gb(have)) GB this process may use; use smaller values")
  }
}
