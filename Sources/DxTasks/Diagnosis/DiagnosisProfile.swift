import Foundation
import Synchronization

/// Where a diagnosis run's time goes, stage by stage (`diagnose --profile`): decoding and the
/// evaluation transform (summed over the threads that do them), and on the run's own thread the
/// wait for prepared batches, the network and writing rows. Thread-safe: preparing threads add
/// to it concurrently.
public final class DiagnosisProfile: Sendable {
  private let nanos = Mutex<[Stage: UInt64]>([:])
  private let start = DispatchTime.now().uptimeNanoseconds

  public enum Stage: String, CaseIterable, Sendable {
    /// Reading and decoding files or slide regions (CPU time over all preparing threads).
    case decode
    /// Resize, crop and normalise (CPU time over all preparing threads).
    case transform
    /// The run's thread waiting for a batch (0 when batches are prepared between passes).
    case wait = "wait for batch"
    case network
    case write
  }

  public init() {}

  /// Runs `body`, adding its duration to `stage`.
  public func measure<T>(_ stage: Stage, _ body: () throws -> T) rethrows -> T {
    let t0 = DispatchTime.now().uptimeNanoseconds
    defer {
      let dt = DispatchTime.now().uptimeNanoseconds - t0
      nanos.withLock { $0[stage, default: 0] += dt }
    }
    return try body()
  }

  public func seconds(_ stage: Stage) -> Double { Double(nanos.withLock { $0[stage] ?? 0 }) / 1e9 }

  /// A table of the stages: seconds and share of the run's wall time.
  public func report(items: Int) -> String {
    let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    var lines = [String(format: "profile: %d items in %.2f s wall (%.1f items/s)", items, wall, Double(items) / max(wall, 1e-9))]
    for stage in Stage.allCases {
      let s = seconds(stage)
      let note = stage == .decode || stage == .transform ? " (CPU over the preparing threads)" : ""
      let name = stage.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)
      lines.append("  " + name + String(format: " %8.2f s  %5.1f%% of wall", s, 100 * s / max(wall, 1e-9)) + note)
    }
    return lines.joined(separator: "\n")
  }
}
