import DxNN
import XCTest

/// The profiler charges time, calls and work to each kind, reads the work after the body ran,
/// and records nothing while disabled.
final class ProfilerTests: XCTestCase {
  override func tearDown() {
    Profiler.enabled = false
    Profiler.reset()
  }

  func testWorkIsSummedPerKindAndReadAfterTheBody() {
    Profiler.reset()
    Profiler.enabled = true
    var size = 0
    for n in [3, 5] { Profiler.measure("conv", flops: Double(2 * size)) { size = n } }
    Profiler.measure("bn", bytes: 40) {}
    Profiler.enabled = false
    Profiler.measure("conv", flops: 1000) {}
    let report = Dictionary(uniqueKeysWithValues: Profiler.report.map { ($0.kind, $0) })
    XCTAssertEqual(report["conv"]?.calls, 2)
    XCTAssertEqual(report["conv"]?.flops, 16)  // 2 * 3 + 2 * 5: each read after its body
    XCTAssertEqual(report["conv"]?.bytes, 0)
    XCTAssertEqual(report["bn"]?.bytes, 40)
    XCTAssertEqual(report.count, 2)
  }
}
