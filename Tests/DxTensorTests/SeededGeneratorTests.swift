import DxTensor
import XCTest

final class SeededGeneratorTests: XCTestCase {
  func testSameSeed_sameSequence_differentSeed_differentSequence() {
    var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 43)
    let sa = (0..<100).map { _ in a.next() }
    XCTAssertEqual(sa, (0..<100).map { _ in b.next() })
    XCTAssertNotEqual(sa, (0..<100).map { _ in c.next() })
  }

  func testNormalSamples_haveUnitMomentsAndUniformIsInRange() {
    var rng = SeededGenerator(seed: 3)
    let t = Tensor.randomNormal([20_000], using: &rng)
    let mean = t.sum() / 20_000
    let variance = t.sumOfSquares() / 20_000 - mean * mean
    XCTAssertEqual(mean, 0, accuracy: 0.03)
    XCTAssertEqual(variance, 1, accuracy: 0.05)
    let u = Tensor.randomUniform([10_000], low: 2, high: 3, using: &rng)
    XCTAssertTrue(u.scalars.allSatisfy { $0 >= 2 && $0 < 3 })
    XCTAssertEqual(u.sum() / 10_000, 2.5, accuracy: 0.02)
  }

  func testFork_isIndependentOfLaterParentDraws() {
    var parent = SeededGenerator(seed: 9)
    var child = parent.fork()
    let first = (0..<10).map { _ in child.next() }
    var parent2 = SeededGenerator(seed: 9)
    var child2 = parent2.fork()
    _ = (0..<50).map { _ in parent2.next() }
    XCTAssertEqual(first, (0..<10).map { _ in child2.next() })
    XCTAssertNotEqual(first, (0..<10).map { _ in parent.next() })
  }

  func testPlaceholders_areZeros_andLeaveTheSequenceAlone() {
    var placeholder = SeededGenerator.placeholders(seed: 4), plain = SeededGenerator(seed: 4)
    XCTAssertEqual(Tensor.randomNormal([3, 5], using: &placeholder).scalars, [Float](repeating: 0, count: 15))
    XCTAssertEqual(Tensor.randomUniform([7], using: &placeholder).scalars, [Float](repeating: 0, count: 7))
    XCTAssertEqual(placeholder.next(), plain.next(), "no draws were spent on the zeros")
    XCTAssertNotEqual(Tensor.randomNormal([4], using: &plain).scalars, [0, 0, 0, 0])
  }
}
