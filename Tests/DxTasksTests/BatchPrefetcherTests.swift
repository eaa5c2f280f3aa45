import DxEval
import DxImaging
@testable import DxTasks
import Foundation
import Synchronization
import XCTest

/// The prefetcher that overlaps reading and decoding with the network: batches in order,
/// failures where they happened, the same values for any number of workers, bounded look-ahead,
/// and a consumer that stops early stops the producer.
final class BatchPrefetcherTests: XCTestCase {
  struct Bad: Error, Equatable { var index: Int }

  func collect(workers: Int, depth: Int = 2, sharing: BatchPrefetcher.Sharing = .runs) -> [BatchPrefetcher.Batch] {
    Array(BatchPrefetcher(count: 37, batchSize: 8, workers: workers, depth: depth, sharing: sharing) { i, _ in
      if i == 5 || i == 20 { throw Bad(index: i) }
      return [Float(i), Float(i) / 2]
    })
  }

  func testBatchesComeInOrder_withFailuresInPlace_forAnyNumberOfWorkers() {
    let one = collect(workers: 1)
    XCTAssertEqual(one.map(\.items), [0..<8, 8..<16, 16..<24, 24..<32, 32..<37])
    XCTAssertEqual(one[0].errors.enumerated().filter { $0.element != nil }.map(\.offset), [5])
    XCTAssertEqual((one[2].errors[4] as? Bad)?.index, 20)
    XCTAssertEqual(one[0].preparedCount, 7)
    XCTAssertEqual(one[0].inputs, [0, 1, 2, 3, 4, 6, 7].flatMap { [Float($0), Float($0) / 2] })
    for (workers, depth) in [(1, 0), (2, 0), (2, 2), (3, 1)] {
      for sharing in [BatchPrefetcher.Sharing.runs, .nextFree] {
        let many = collect(workers: workers, depth: depth, sharing: sharing)
        XCTAssertEqual(many.map(\.inputs), one.map(\.inputs), "\(workers) workers, \(depth) ahead, \(sharing)")
        XCTAssertEqual(many.map { $0.errors.map { ($0 as? Bad)?.index } }, one.map { $0.errors.map { ($0 as? Bad)?.index } })
      }
    }
    XCTAssertTrue(Array(BatchPrefetcher(count: 0, batchSize: 4) { _, _ in [] }).isEmpty)
  }

  func testLookAheadIsBounded_andAConsumerThatStopsStopsTheProducer() {
    let prepared = Atomic<Int>(0)
    do {
      let prefetcher = BatchPrefetcher(count: 10_000, batchSize: 10, depth: 2) { i, _ in
        prepared.add(1, ordering: .relaxed)
        return [Float(i)]
      }
      XCTAssertEqual(prefetcher.next()?.items, 0..<10)
      Thread.sleep(forTimeInterval: 0.3)
      // The batch taken, two ahead, and at most one being made.
      XCTAssertLessThanOrEqual(prepared.load(ordering: .relaxed), 40)
    }
    Thread.sleep(forTimeInterval: 0.3)
    let after = prepared.load(ordering: .relaxed)
    Thread.sleep(forTimeInterval: 0.3)
    XCTAssertEqual(prepared.load(ordering: .relaxed), after, "released: the producer stopped")
    XCTAssertLessThanOrEqual(after, 50)
  }

  /// A slide read on one and two threads (each with its own handle), between forward passes
  /// and ahead of them: the same tiles, in the same order, with the same probabilities.
  func testSlideDiagnosis_isTheSameWithOneAndTwoReadingThreads() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-prefetch-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try SampleDatasets.histopathology(to: dir, count: 2, holdout: 2, size: 32, slideSize: 512, seed: 4)
    let p = try DiagnosisRunTests.tinyPredictor(classes: ["stroma", "tumor"])
    var slides = SlideDiagnoser(predictor: p, tiling: .init(tileSize: 32, mpp: 0.5), aggregation: .meanProbability)
    slides.batchSize = 7
    slides.readers = 1
    let one = try slides.diagnose(dir + "/slides/slide_1.tif")
    slides.readers = 2
    let two = try slides.diagnose(dir + "/slides/slide_1.tif")
    slides.readAhead = 2
    let ahead = try slides.diagnose(dir + "/slides/slide_1.tif")
    XCTAssertEqual(one.tiles.map(\.probabilities), ahead.tiles.map(\.probabilities), "read ahead of the network")
    XCTAssertGreaterThan(one.tiles.count, 20)
    XCTAssertEqual(one.tiles.map(\.record), two.tiles.map(\.record))
    XCTAssertEqual(one.tiles.map(\.probabilities), two.tiles.map(\.probabilities))
    XCTAssertEqual(one.probabilities, two.probabilities)
  }
}
