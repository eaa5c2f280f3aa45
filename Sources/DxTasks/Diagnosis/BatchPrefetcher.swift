import DxImaging
import Foundation
import Synchronization

/// Network inputs (decoded photos, slide tiles) prepared a batch at a time on `workers`
/// threads: between forward passes (`depth` 0), or on a background thread `depth` batches ahead
/// so that preparing overlaps the network. Memory is bounded by `depth + 2` batches (those
/// ready, the one being prepared and the consumer's) whatever the number of items.
///
/// Which is faster depends on the machine: on 2 cores the network's kernels use both, and a
/// third thread preparing beside them slows every layer (a kernel job waits for its preempted
/// worker), so preparing in parallel between passes wins (Docs/benchmarks.md); overlap pays
/// when the network leaves cores idle (batch 1, many cores).
///
/// Items are prepared in order and batches come out in order, so predictions are the same
/// whatever the number of `workers`. An item that fails is reported in its batch and the rest
/// go on. Stopping early (a consumer that throws) cancels the producer when the prefetcher is
/// released.
public final class BatchPrefetcher: Sequence, IteratorProtocol {
  public struct Batch {
    /// The items of this batch (indices into the list given to `init`).
    public var items: Range<Int>
    /// Prepared inputs of the items that succeeded, concatenated in order.
    public var inputs: [Float]
    /// Per item of `items`: nil when prepared, else why not.
    public var errors: [Error?]
    public var preparedCount: Int { errors.count { $0 == nil } }
  }

  /// Prepares item `index` on worker `worker` (0..<workers), returning its input values.
  public typealias Prepare = @Sendable (_ index: Int, _ worker: Int) throws -> [Float]

  /// How a batch's items are shared among the workers.
  public enum Sharing: Sendable {
    /// Each worker a contiguous run of the batch: neighbouring slide tiles share stored
    /// tiles, which a reader keeps decoded.
    case runs
    /// Each worker takes the next item as it becomes free: photos of unequal size (one
    /// progressive, one 4:4:4) keep both cores busy to the end of the batch.
    case nextFree
  }

  private let producer: Producer
  private var nextBatch = 0
  private var started = false
  private let inline: Bool

  /// - Parameters:
  ///   - workers: threads that prepare the items of one batch together.
  ///   - depth: batches prepared ahead on a background thread while the consumer works; 0
  ///     prepares each batch when it is asked for (no background thread).
  ///   - sharing: how the workers split a batch.
  public init(count: Int, batchSize: Int, workers: Int = 1, depth: Int = 0, sharing: Sharing = .runs, prepare: @escaping Prepare) {
    producer = Producer(count: Swift.max(0, count), batchSize: Swift.max(1, batchSize), workers: Swift.max(1, workers), depth: Swift.max(1, depth), sharing: sharing, prepare: prepare)
    inline = depth <= 0
  }

  /// Released by its consumer (done, or stopped by an error): the producer stops too.
  deinit { producer.cancel() }

  public func next() -> Batch? {
    guard nextBatch < producer.batchCount else { return nil }
    if inline {
      nextBatch += 1
      return producer.make(nextBatch - 1)
    }
    if !started {
      started = true
      producer.start()
    }
    nextBatch += 1
    return producer.take()
  }

  /// The background side; the thread holds this, never the prefetcher, so releasing the
  /// prefetcher cancels it.
  private final class Producer: @unchecked Sendable {
    let count: Int, batchSize: Int, workers: Int, batchCount: Int
    let prepare: Prepare
    let depth: Int
    let sharing: Sharing
    // One condition guards the queue (not semaphores: libdispatch traps when a semaphore is
    // released below its initial value, as a cancelled producer's is).
    let condition = NSCondition()
    var queue: [Batch] = []
    var cancelled = false

    init(count: Int, batchSize: Int, workers: Int, depth: Int, sharing: Sharing, prepare: @escaping Prepare) {
      (self.count, self.batchSize, self.workers, self.depth, self.sharing, self.prepare) = (count, batchSize, workers, depth, sharing, prepare)
      batchCount = (count + batchSize - 1) / batchSize
    }

    func cancel() {
      condition.lock()
      cancelled = true
      condition.broadcast()
      condition.unlock()
    }

    func take() -> Batch {
      condition.lock()
      defer { condition.unlock() }
      while queue.isEmpty { condition.wait() }
      condition.broadcast()
      return queue.removeFirst()
    }

    func start() {
      let t = Thread { [self] in
        for b in 0..<batchCount {
          condition.lock()
          while queue.count >= depth && !cancelled { condition.wait() }
          let stop = cancelled
          condition.unlock()
          if stop { return }
          let batch = make(b)
          condition.lock()
          queue.append(batch)
          condition.broadcast()
          condition.unlock()
        }
      }
      t.name = "effdx-prefetch"
      t.stackSize = 4 << 20
      t.start()
    }

    func make(_ b: Int) -> Batch {
      let items = (b * batchSize)..<Swift.min(count, (b + 1) * batchSize)
      var results = [Result<[Float], Error>?](repeating: nil, count: items.count)
      let prepare = self.prepare
      let threads = Swift.min(workers, items.count)
      results.withUnsafeMutableBufferPointer { out in
        let out = UncheckedBuffer(out)
        let claimed = Atomic<Int>(0)
        let body = { [sharing] (w: Int) in
          switch sharing {
          case .runs:
            for j in (items.count * w / threads)..<(items.count * (w + 1) / threads) {
              out.buffer[j] = Result { try prepare(items.lowerBound + j, w) }
            }
          case .nextFree:
            while case let j = claimed.add(1, ordering: .relaxed).oldValue, j < items.count {
              out.buffer[j] = Result { try prepare(items.lowerBound + j, w) }
            }
          }
        }
        if threads == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: threads, execute: body) }
      }
      var inputs: [Float] = []
      var errors: [Error?] = []
      // One allocation for the batch (appending grew it by doubling: 10 MB copied per batch).
      inputs.reserveCapacity(results.reduce(0) { sum, r in if case .success(let v) = r! { sum + v.count } else { sum } })
      for r in results {
        switch r! {
        case .success(let v): inputs += v; errors.append(nil)
        case .failure(let e): errors.append(e)
        }
      }
      return Batch(items: items, inputs: inputs, errors: errors)
    }
  }
}

/// A buffer written by several threads at distinct indices.
private struct UncheckedBuffer<T>: @unchecked Sendable {
  let buffer: UnsafeMutableBufferPointer<T>
  init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
}
