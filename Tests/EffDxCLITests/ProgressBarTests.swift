@testable import effdx
import Foundation
import XCTest

final class ProgressBarTests: XCTestCase {
  /// Epoch 2's ETA comes from epoch 2's own pace, not from the time since the run began.
  func testEachPhaseHasItsOwnClock() {
    let bar = ProgressBar(interactive: true)
    let t0 = Date(timeIntervalSince1970: 1_000_000)
    XCTAssertNotNil(bar.render(done: 0, total: 3, label: "epoch 1/2", extra: "", now: t0))
    XCTAssertNotNil(bar.render(done: 3, total: 3, label: "epoch 1/2", extra: "", now: t0 + 30))
    XCTAssertNotNil(bar.render(done: 0, total: 3, label: "epoch 2/2", extra: "", now: t0 + 30))
    let line = bar.render(done: 1, total: 3, label: "epoch 2/2", extra: "", now: t0 + 33)
    XCTAssertTrue(line?.hasSuffix("ETA 6 s") ?? false, line ?? "nil")
    // A finished phase shows no ETA; an unchanged line inside 0.2 s is not redrawn.
    XCTAssertNil(bar.render(done: 1, total: 3, label: "epoch 2/2", extra: "", now: t0 + 33.1))
    XCTAssertFalse(bar.render(done: 3, total: 3, label: "epoch 2/2", extra: "", now: t0 + 33.2)!.contains("ETA"))
  }
}
