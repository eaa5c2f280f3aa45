import DxNN
import Foundation

/// Replicas as threads of one test process: the collectives a data-parallel layer calls,
/// without MPI. `run(members:)` starts one thread per member and waits for all of them.
///
/// Every collective is a rendezvous: each member deposits its part, the last one to arrive
/// combines them in rank order, and all leave with the result.
public final class ThreadReplicaGroup: ReplicaGroup {
  public let rank: Int
  public var size: Int { shared.size }
  private let shared: Shared

  final class Shared: @unchecked Sendable {
    let size: Int
    let condition = NSCondition()
    var parts: [[UInt8]?]
    var result: [[UInt8]] = []
    var generation = 0
    init(size: Int) {
      self.size = size
      parts = Array(repeating: nil, count: size)
    }

    /// Deposits `bytes`, waits for every member, and returns every member's bytes in rank order.
    func exchange(_ rank: Int, _ bytes: [UInt8]) -> [[UInt8]] {
      condition.lock()
      defer { condition.unlock() }
      let myGeneration = generation
      parts[rank] = bytes
      if parts.allSatisfy({ $0 != nil }) {
        result = parts.map { $0! }
        parts = Array(repeating: nil, count: size)
        generation += 1
        condition.broadcast()
      } else {
        while generation == myGeneration { condition.wait() }
      }
      return result
    }
  }

  init(rank: Int, shared: Shared) {
    self.rank = rank
    self.shared = shared
  }

  /// Runs `body` on `members` threads, each with its own member of one group.
  public static func run(members: Int, _ body: @escaping @Sendable (ThreadReplicaGroup) -> Void) {
    let shared = Shared(size: members)
    let done = DispatchGroup()
    for r in 0..<members {
      done.enter()
      let t = Thread {
        body(ThreadReplicaGroup(rank: r, shared: shared))
        done.leave()
      }
      t.stackSize = 8 << 20
      t.start()
    }
    done.wait()
  }

  private func sumBytes<T: FloatingPoint>(_ values: UnsafeMutableBufferPointer<T>) {
    let mine = Array(UnsafeRawBufferPointer(values))
    let all = shared.exchange(rank, mine)
    for i in values.indices { values[i] = 0 }
    for part in all {
      part.withUnsafeBytes { raw in
        let v = raw.bindMemory(to: T.self)
        for i in values.indices { values[i] += v[i] }
      }
    }
  }

  public func sum(_ values: UnsafeMutableBufferPointer<Float>) throws { sumBytes(values) }
  public func sum(_ values: UnsafeMutableBufferPointer<Double>) throws { sumBytes(values) }

  public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) throws {
    let all = shared.exchange(rank, Array(bytes))
    all[root].withUnsafeBytes { bytes.copyMemory(from: $0) }
  }

  public func gather(_ bytes: [UInt8], to root: Int) throws -> [[UInt8]]? {
    let all = shared.exchange(rank, bytes)
    return rank == root ? all : nil
  }

  public func abort(_ message: String) -> Never { fatalError("replica \(rank): \(message)") }
}
