import Foundation

/// Wall time per layer kind, collected only while `enabled` (off by default: one branch per
/// call). `effdx bench` turns it on to print where a forward or training step spends its time.
public enum Profiler {
  nonisolated(unsafe) public static var enabled = false
  nonisolated(unsafe) private static var totals: [String: (seconds: Double, calls: Int)] = [:]

  /// Runs `body`, charging its time to `kind` when profiling.
  @inline(__always)
  public static func measure<R>(_ kind: @autoclosure () -> String, _ body: () -> R) -> R {
    guard enabled else { return body() }
    let start = DispatchTime.now().uptimeNanoseconds
    let result = body()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let k = kind()
    totals[k, default: (0, 0)].seconds += seconds
    totals[k, default: (0, 0)].calls += 1
    return result
  }

  public static func reset() { totals = [:] }

  /// Kinds by descending time.
  public static var report: [(kind: String, seconds: Double, calls: Int)] {
    totals.map { ($0.key, $0.value.seconds, $0.value.calls) }.sorted { $0.seconds > $1.seconds }
  }
}
