@testable import DxNN
import Foundation
import XCTest

/// The unpickler's and tensor decoder's limits, on bytes built here.
final class PickleLimitsTests: XCTestCase {
  func testAStrideOf2To62_isRefusedWithoutOverflow() {
    let t = PickledTensor(storageType: "FloatStorage", key: "0", storageCount: 4, offset: 0, size: [2, 2], stride: [1 << 62, 1])
    XCTAssertThrowsError(try PyTorchCheckpoint.decode(t, name: "w", storage: { _ in Data(count: 16) }, path: "x.pth")) {
      XCTAssertTrue("\($0)".contains("reaches element"), "\($0)")
    }
  }

  func testAStateDictShapedPickle_loads_andFillingASealedContainerIsRefused() throws {
    // {"a": [1, 2]} the way protocol 2 writes it: the inner list is filled before it is placed.
    let ok: [UInt8] = [0x80, 0x02, 0x7D, 0x71, 0x00, 0x58, 1, 0, 0, 0, 0x61, 0x5D, 0x71, 0x01, 0x28, 0x4B, 1, 0x4B, 2, 0x65, 0x73, 0x2E]
    guard case .dict(let d) = try Unpickler.load(Data(ok)), case .list(let l) = d.items[0].value else { return XCTFail("a dict of a list") }
    XCTAssertEqual(l.items.count, 2)
    // The same list fetched from the memo after it was placed, and appended to: refused.
    let sealed = Array(ok.dropLast()) + [0x68, 0x01, 0x4B, 3, 0x61, 0x2E]
    XCTAssertThrowsError(try Unpickler.load(Data(sealed))) { XCTAssertTrue(($0 as? PickleError)?.reason.contains("after it was put inside another") ?? false, "\($0)") }
  }

  /// ZIP64 fields near 2^63 (a central directory's offset, an entry's size or local header's
  /// offset) made the bounds checks' sums overflow: a trap on a file of under 200 bytes. Each is
  /// now an error naming the field, and an honest archive of the same layout still opens.
  func testZIP64FieldsPastTheFile_areErrors() throws {
    func le(_ v: UInt64, _ bytes: Int) -> [UInt8] { (0..<bytes).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
    // ZIP64 end record, locator and end of central directory, the directory at `offset`.
    func directoryAt(_ offset: UInt64) -> Data {
      var d: [UInt8] = Array("PK".utf8) + [UInt8](repeating: 0, count: 30)
      let record = d.count
      d += le(0x0606_4B50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4) + le(1, 8) + le(1, 8) + le(46, 8) + le(offset, 8)
      d += le(0x0706_4B50, 4) + le(0, 4) + le(UInt64(record), 8) + le(1, 4)
      d += le(0x0605_4B50, 4) + le(0, 2) + le(0, 2) + le(0xFFFF, 2) + le(0xFFFF, 2) + le(46, 4) + le(0xFFFF_FFFF, 4) + le(0, 2)
      return Data(d)
    }
    // One stored entry whose size or local header's offset is given in a ZIP64 extra field.
    func entry(size64: UInt64? = nil, local64: UInt64? = nil) -> Data {
      let name = Array("archive/data.pkl".utf8), content: [UInt8] = [0x80, 0x02, 0x7D, 0x71, 0x00, 0x2E]
      var d = le(0x0403_4B50, 4) + le(45, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4)
      d += le(UInt64(content.count), 4) + le(UInt64(content.count), 4) + le(UInt64(name.count), 2) + le(0, 2) + name + content
      let fields = (size64.map { le($0, 8) } ?? []) + (local64.map { le($0, 8) } ?? [])
      let extra = le(1, 2) + le(UInt64(fields.count), 2) + fields
      let directory = d.count
      var cd = le(0x0201_4B50, 4) + le(45, 2) + le(45, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4)
      cd += le(size64 == nil ? UInt64(content.count) : 0xFFFF_FFFF, 4) + le(UInt64(content.count), 4)
      cd += le(UInt64(name.count), 2) + le(UInt64(extra.count), 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4)
      cd += le(local64 == nil ? 0 : 0xFFFF_FFFF, 4) + name + extra
      d += cd + le(0x0605_4B50, 4) + le(0, 2) + le(0, 2) + le(1, 2) + le(1, 2) + le(UInt64(cd.count), 4) + le(UInt64(directory), 4) + le(0, 2)
      return Data(d)
    }
    let near: UInt64 = 0x7FFF_FFFF_FFFF_FFF0
    for (what, data) in [("directory offset", directoryAt(near + 14)), ("entry size", entry(size64: near)), ("local header offset", entry(local64: near + 14))] {
      XCTAssertThrowsError(try StoredZipArchive(data: data), what) { XCTAssertTrue("\($0)".contains("past the file"), "\(what): \($0)") }
    }
    let honest = try StoredZipArchive(data: entry(size64: 6))
    XCTAssertEqual(honest.contents("archive/data.pkl").map(Array.init), [0x80, 0x02, 0x7D, 0x71, 0x00, 0x2E])
  }
}
