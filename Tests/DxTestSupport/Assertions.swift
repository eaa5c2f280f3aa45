import Foundation
import DxTensor
import XCTest

/// Asserts equal shapes, then `|a - e| <= atol + rtol * |e|` everywhere; on failure reports the
/// worst element, its index and the maximum absolute error (llm.c's `check_tensor`).
public func assertClose(
  _ actual: Tensor, _ expected: Tensor, atol: Float = 1e-5, rtol: Float = 1e-4,
  _ label: String = "", file: StaticString = #filePath, line: UInt = #line
) {
  guard actual.shape == expected.shape else {
    XCTFail("\(label): shape \(actual.shape) != expected \(expected.shape)", file: file, line: line)
    return
  }
  var worst = -1, worstExcess: Float = 0, maxAbs: Float = 0
  for i in 0..<actual.count {
    let a = actual.scalars[i], e = expected.scalars[i]
    let err = abs(a - e)
    maxAbs = max(maxAbs, err)
    let excess = err - (atol + rtol * abs(e))
    if !(excess <= 0) && (worst < 0 || excess > worstExcess || excess.isNaN) {
      worst = i
      worstExcess = excess
    }
  }
  if worst >= 0 {
    XCTFail(
      "\(label): mismatch at flat index \(worst): got \(actual.scalars[worst]), expected \(expected.scalars[worst]); max abs error \(maxAbs) (atol \(atol), rtol \(rtol))",
      file: file, line: line)
  }
}

/// Asserts two Float arrays are close elementwise.
public func assertClose(
  _ actual: [Float], _ expected: [Float], atol: Float = 1e-5, rtol: Float = 1e-4,
  _ label: String = "", file: StaticString = #filePath, line: UInt = #line
) {
  assertClose(
    Tensor(shape: [actual.count], scalars: actual), Tensor(shape: [expected.count], scalars: expected),
    atol: atol, rtol: rtol, label, file: file, line: line)
}

/// Runs `body` on another thread and fails if it has not returned within `seconds`: for code
/// that must never hang (opening a FIFO). A stuck thread is left behind; the test goes on.
public func assertReturns(within seconds: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line, _ body: @escaping @Sendable () -> Void) {
  let done = DispatchSemaphore(value: 0)
  Thread {
    body()
    done.signal()
  }.start()
  if done.wait(timeout: .now() + seconds) == .timedOut { XCTFail("\(what) did not return within \(seconds) s", file: file, line: line) }
}

/// Makes a FIFO and checks that `open` (given its path) refuses it at once, naming it "not a
/// regular file": opening a FIFO to read would wait for a writer forever.
public func assertRefusesAFIFO(_ what: String, file: StaticString = #filePath, line: UInt = #line, _ open: @escaping @Sendable (String) throws -> Void) {
  let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-fifo-\(UUID().uuidString)").path
  XCTAssertEqual(mkfifo(fifo, 0o644), 0, file: file, line: line)
  defer { unlink(fifo) }
  assertReturns(within: 10, "\(what) on a FIFO", file: file, line: line) {
    do {
      try open(fifo)
      XCTFail("\(what) accepted a FIFO", file: file, line: line)
    } catch {
      XCTAssertTrue("\(error)".contains("not a regular file"), "\(error)", file: file, line: line)
    }
  }
}
