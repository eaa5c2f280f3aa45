import Dispatch
import Foundation
import Synchronization
internal import CDxKernels

/// The worker threads behind `ThreadPool.parallelFor`: they spin for a few tens of
/// microseconds after each job before sleeping, so the next job of a network's forward pass
/// (one every 50-200 microseconds at batch 1) starts without a thread wake-up. libdispatch's
/// `concurrentPerform` costs 7-20 microseconds per call here, a tenth of batch-1 latency.
///
/// Each thread of a job first takes the chunks of its own share, in order (the caller the
/// first `chunks / threads`, worker 0 the next, ...), then claims what is left of the other
/// shares one chunk at a time. Its own share keeps a core on the same part of the map from one
/// layer to the next, so it reads rows it wrote itself (with one shared counter, which core took
/// which chunk was chance, half of every activation crossed between the cores, and B7 at batch 1
/// on 2 threads ran at 475 or 550 ms by the second, as the host placed the two vCPUs nearer or
/// further apart). Claiming the rest lets a core slowed by another process (on a shared machine
/// one vCPU ran at half the other's speed for seconds) take fewer chunks instead of holding
/// everyone up: with a static split the caller waited for the slower core through 8% of a
/// training step. A job started from inside
/// a job (or while another thread's job runs) finds the workers busy (`run` returns false),
/// and `ThreadPool.parallelFor` hands it to libdispatch instead.
final class SpinningWorkers: @unchecked Sendable {
  let workers: Int
  private let generation = Atomic<Int>(0)
  private let pending = Atomic<Int>(0)
  private let sleepers = Atomic<Int>(0)  // bit i: worker i is (about to be) asleep
  private let busy = Atomic<Bool>(false)
  private let hot = Atomic<Int>(0)  // > 0: workers spin without limit (`whileHot`)
  // Per thread of the current job, on its own cache line: the next unclaimed chunk of its
  // share, then the share's end.
  private let shares: UnsafeMutablePointer<Int>
  private static let shareStride = 16
  private let wake: [DispatchSemaphore]
  // Written by the caller before `generation` is published, read by workers after.
  private var job: ((Int) -> Void)?
  private var chunks = 0, threads = 0

  /// Spins (CPU pause hints, about 25 microseconds on the Zen 4) before a worker sleeps.
  private static let spinLimit = 1_000

  /// Runs `body` with the workers spinning between jobs however long the gap, then lets them
  /// sleep again. For a network's forward pass: its jobs come every 50-200 microseconds, but
  /// the serial work between some of them (SE's gate, a reduction) outlasts the spin limit, and
  /// each wake-up then costs the next job a semaphore and a scheduling (B0 at batch 1 on 2
  /// threads: 21 wake-ups a pass, the worker idle 12% of the time). Outside such a stretch,
  /// the limit keeps idle workers from taking cores from other threads (a diagnosis's decoders).
  func whileHot<R>(_ body: () throws -> R) rethrows -> R {
    hot.add(1, ordering: .relaxed)
    defer { hot.subtract(1, ordering: .relaxed) }
    return try body()
  }

  /// The most workers one set holds (a bit each in a machine word's masks).
  static let maxWorkers = Int.bitWidth - 1

  init(workers: Int) {
    precondition(workers >= 1 && workers <= Self.maxWorkers, "SpinningWorkers needs 1...\(Self.maxWorkers) workers")
    self.workers = workers
    shares = UnsafeMutableRawPointer.allocate(byteCount: (workers + 1) * Self.shareStride * MemoryLayout<Int>.stride, alignment: 64)
      .bindMemory(to: Int.self, capacity: (workers + 1) * Self.shareStride)
    shares.initialize(repeating: 0, count: (workers + 1) * Self.shareStride)
    wake = (0..<workers).map { _ in DispatchSemaphore(value: 0) }
    for i in 0..<workers {
      let thread = Thread { [unowned self] in self.loop(i) }
      thread.name = "effdx-worker-\(i)"
      thread.stackSize = 1 << 20
      thread.start()
    }
  }

  /// Runs `body(chunk)` for every chunk in `0..<chunks`, each exactly once, on the caller and
  /// the first `threads - 1` workers, returning when all are done. Returns false, having run
  /// nothing, when the workers are busy.
  func run(_ chunks: Int, threads: Int, _ body: (Int) -> Void) -> Bool {
    // Shares exist for the caller and the workers only (more threads go through Dispatch).
    guard threads <= workers + 1, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
    defer { busy.store(false, ordering: .releasing) }
    withoutActuallyEscaping(body) { body in
      job = body
      self.chunks = chunks
      self.threads = threads
      for t in 0..<threads {
        shares[t * Self.shareStride] = chunks * t / threads
        shares[t * Self.shareStride + 1] = chunks * (t + 1) / threads
      }
      pending.store(workers, ordering: .relaxed)
      generation.add(1, ordering: .sequentiallyConsistent)
      let asleep = sleepers.load(ordering: .sequentiallyConsistent)
      if asleep != 0 { for i in 0..<workers where asleep & (1 << i) != 0 { wake[i].signal() } }
      claimChunks(body, thread: 0)
      // Every worker checks in (even one that found no chunk left) before `body` may go.
      while pending.load(ordering: .acquiring) > 0 { dx_cpu_relax() }
      job = nil
    }
    return true
  }

  /// A worker's share of the current job. Its reference to the job ends with this call, before
  /// the worker checks in: `run` may return (and its closure must not have escaped) right after.
  private func claimChunksOfCurrentJob(thread: Int) {
    guard let job else { return }
    claimChunks(job, thread: thread)
  }

  /// Thread `thread`'s own share, then the rest of the others'.
  private func claimChunks(_ body: (Int) -> Void, thread: Int) {
    for k in 0..<threads {
      let share = shares + (thread + k) % threads * Self.shareStride
      let end = share[1]
      while true {
        let chunk = dx_claim_next(share)
        guard chunk < end else { break }
        body(chunk)
      }
    }
  }

  private func loop(_ i: Int) {
    var seen = 0
    while true {
      var spins = 0
      while generation.load(ordering: .acquiring) == seen {
        spins += 1
        // Only a worker that takes part in the jobs (the last job's `threads`) spins through a
        // hot stretch: the others (a process given fewer threads than the machine's cores)
        // would burn cores the other processes compute on.
        if spins < Self.spinLimit || (i + 1 < threads && hot.load(ordering: .relaxed) > 0) {
          dx_cpu_relax()
          continue
        }
        sleepers.bitwiseOr(1 << i, ordering: .sequentiallyConsistent)
        if generation.load(ordering: .sequentiallyConsistent) == seen { wake[i].wait() }
        sleepers.bitwiseAnd(~(1 << i), ordering: .sequentiallyConsistent)
        spins = 0
      }
      seen = generation.load(ordering: .acquiring)
      if i + 1 < threads { claimChunksOfCurrentJob(thread: i + 1) }
      pending.subtract(1, ordering: .releasing)
    }
  }
}
