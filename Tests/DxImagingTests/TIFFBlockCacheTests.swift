@testable import DxImaging
import DxTensor
import DxTestSupport
import Foundation
import XCTest

/// The decoded-block cache behind TIFF region reads: bounded, least recently used out first,
/// failures never kept, and reads through a warm cache equal reads from a fresh reader.
final class TIFFBlockCacheTests: XCTestCase {
  func fill(_ value: UInt8) -> (UnsafeMutableRawBufferPointer) throws -> Void { { $0.initializeMemory(as: UInt8.self, repeating: value) } }

  func testBudgetEvictionAndFailures() throws {
    let cache = TIFFBlockCache(budget: 4_000)
    var decodes = 0
    func get(_ bx: Int, _ value: UInt8, bytes: Int = 1_000) throws -> [UInt8] {
      let b = try cache.block(.init(level: 0, bx: bx, by: 0, plane: 0), byteCount: bytes) { decodes += 1; try fill(value)($0) }
      return Array(b)
    }
    for i in 0..<4 { XCTAssertEqual(try get(i, UInt8(i)), [UInt8](repeating: UInt8(i), count: 1_000)) }
    XCTAssertEqual(decodes, 4)
    XCTAssertEqual(try get(0, 99), [UInt8](repeating: 0, count: 1_000), "a kept block is not decoded again")
    XCTAssertEqual(decodes, 4)
    _ = try get(4, 4)  // over the budget: block 1, the least recently used, goes
    XCTAssertEqual(decodes, 5)
    _ = try get(0, 99)
    _ = try get(2, 99)
    XCTAssertEqual(decodes, 5, "blocks 0 and 2 stayed")
    XCTAssertEqual(try get(1, 11), [UInt8](repeating: 11, count: 1_000), "block 1 was evicted and is decoded again")
    XCTAssertEqual(decodes, 6)
    // A failed decode throws and is not kept: the next call decodes again.
    XCTAssertThrowsError(try cache.block(.init(level: 0, bx: 9, by: 0, plane: 0), byteCount: 1_000) { _ in throw ImageError.corrupt(path: "x", reason: "bad tile") })
    XCTAssertEqual(try get(9, 9), [UInt8](repeating: 9, count: 1_000))
    XCTAssertEqual(decodes, 7)
    // Blocks larger than a quarter of the budget are decoded every time, never kept.
    _ = try get(20, 1, bytes: 3_000)
    _ = try get(20, 2, bytes: 3_000)
    XCTAssertEqual(decodes, 9)
    XCTAssertEqual(try get(0, 99).first, 0, "the large blocks evicted nothing")
    // The same key at another size (a level re-read with other geometry) is decoded afresh.
    XCTAssertEqual(try get(0, 7, bytes: 500), [UInt8](repeating: 7, count: 500))
  }

  /// Windows read in any order through one reader (its cache warm, three pyramid levels
  /// interleaved) equal the same windows from a reader opened for each.
  func testWarmReads_equalColdReads_acrossLevels() throws {
    let path = SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/images/pyramid_subifds.tif").path
    let warm = try TIFFReader(path: path)
    var rng = SeededGenerator(seed: 5)
    func pick(_ bound: Int) -> Int { Int(rng.next() % UInt64(bound)) }
    for _ in 0..<60 {
      let level = pick(3)
      let l = warm.levels[level]
      let w = 1 + pick(l.width), h = 1 + pick(l.height)
      let x = pick(l.width - w + 1), y = pick(l.height - h + 1)
      XCTAssertEqual(try warm.readRegion(level: level, x: x, y: y, width: w, height: h),
                     try TIFFReader(path: path).readRegion(level: level, x: x, y: y, width: w, height: h), "level \(level) (\(x), \(y), \(w) x \(h))")
    }
  }
}
