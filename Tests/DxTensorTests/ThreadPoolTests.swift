import DxTensor
import Foundation
import Synchronization
import XCTest

/// `ThreadPool.parallelFor` on its spinning workers: every index runs exactly once, for many
/// back-to-back jobs, jobs started from inside jobs, and jobs from several threads at once; and
/// each thread starts on its own share of a job.
final class ThreadPoolTests: XCTestCase {
  /// Runs `parallelFor(count)` and counts how often each index ran.
  func visits(_ count: Int, nested: Bool = false) -> [Int] {
    let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
    defer { hits.deallocate() }
    hits.initialize(repeating: 0, count: count)
    ThreadPool.parallelFor(count) { range in
      for i in range {
        if nested {
          let inner = Atomic<Int>(0)
          ThreadPool.parallelFor(4) { r in inner.add(r.count, ordering: .relaxed) }
          hits[i] += inner.load(ordering: .relaxed) == 4 ? 1 : 100
        } else {
          hits[i] += 1
        }
      }
    }
    return Array(UnsafeBufferPointer(start: hits, count: count))
  }

  func testManyJobs_everyIndexOnce() {
    for job in 0..<20_000 {
      let count = 1 + job % 7
      XCTAssertEqual(visits(count), [Int](repeating: 1, count: count), "job \(job)")
    }
  }

  func testNestedJobs_runOnTheirCaller() {
    for _ in 0..<500 { XCTAssertEqual(visits(5, nested: true), [1, 1, 1, 1, 1]) }
  }

  func testJobsFromSeveralThreads_everyIndexOnce() {
    let failures = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: 4) { t in
      for job in 0..<2_000 where visits(3 + (job + t) % 5) != [Int](repeating: 1, count: 3 + (job + t) % 5) {
        failures.add(1, ordering: .relaxed)
      }
    }
    XCTAssertEqual(failures.load(ordering: .relaxed), 0)
  }

  /// With two threads and chunks of equal work, the caller runs the first half of the chunks and
  /// the worker the second, job after job: the same core keeps the same part of a map from one
  /// layer to the next. (With one shared counter, which core took which chunk was chance.)
  func testEachThreadStartsOnItsOwnShare() throws {
    guard ThreadPool.threadCount >= 2 else { throw XCTSkip("needs 2 threads, this machine gives \(ThreadPool.threadCount)") }
    let saved = ThreadPool.threadCount
    ThreadPool.threadCount = 2
    defer { ThreadPool.threadCount = saved }
    let chunks = 2 * ThreadPool.chunksPerThread
    var kept = 0
    let jobs = 200
    for _ in 0..<jobs {
      let caller = pthread_self()
      let ranOnCaller = UnsafeMutablePointer<Bool>.allocate(capacity: chunks)
      defer { ranOnCaller.deallocate() }
      ThreadPool.parallelFor(chunks) { range in
        let start = DispatchTime.now().uptimeNanoseconds
        while DispatchTime.now().uptimeNanoseconds - start < 100_000 {}  // 0.1 ms of work
        for i in range { ranOnCaller[i] = pthread_equal(pthread_self(), caller) != 0 }
      }
      let half = chunks / 2
      if (0..<half).allSatisfy({ ranOnCaller[$0] }) && (half..<chunks).allSatisfy({ !ranOnCaller[$0] }) { kept += 1 }
    }
    XCTAssertGreaterThan(kept, jobs / 2, "jobs whose halves ran on their own threads")
  }
}
