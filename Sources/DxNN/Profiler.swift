import Foundation

/// Wall time per layer kind, collected only while `enabled` (off by default: one branch per
/// call). `effdx bench` turns it on to print where a forward or training step spends its time,
/// and at what rate: arithmetic kinds report their floating-point operations (GFLOP/s), memory-
/// bound ones the bytes their passes read and write (GB/s), so a slow kind can be told from a
/// kind that is merely large.
public enum Profiler {
  public struct Entry: Sendable {
    public var kind: String, seconds = 0.0, calls = 0, flops = 0.0, bytes = 0.0
  }

  nonisolated(unsafe) public static var enabled = false
  /// Charge layers to their shape as well as their kind (`effdx bench infer --by-shape`): a
  /// large variant's time sits in a few shapes, which a per-kind total hides.
  nonisolated(unsafe) public static var byShape = false
  nonisolated(unsafe) private static var totals: [String: Entry] = [:]

  /// Runs `body`, charging its time (and the work `flops` and `bytes` give, evaluated after
  /// `body`, so they may read what it set up) to `kind` when profiling.
  @inline(__always)
  public static func measure<R>(
    _ kind: @autoclosure () -> String, flops: @autoclosure () -> Double = 0, bytes: @autoclosure () -> Double = 0,
    _ body: () -> R
  ) -> R {
    guard enabled else { return body() }
    let start = DispatchTime.now().uptimeNanoseconds
    let result = body()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let k = kind()
    var entry = totals[k] ?? Entry(kind: k)
    entry.seconds += seconds
    entry.calls += 1
    entry.flops += flops()
    entry.bytes += bytes()
    totals[k] = entry
    return result
  }

  public static func reset() { totals = [:] }

  /// Kinds by descending time.
  public static var report: [Entry] { totals.values.sorted { $0.seconds > $1.seconds } }
}
