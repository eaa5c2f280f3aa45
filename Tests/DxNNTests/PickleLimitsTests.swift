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
}
