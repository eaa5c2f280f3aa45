import DxImaging
import DxTensor
import Foundation
import XCTest

/// RandAugment's and TrivialAugment's operations do what PIL's do, magnitude 0 leaves an
/// image alone, and the policies are functions of their generator.
final class AutoAugmentTests: XCTestCase {
  func random(_ w: Int, _ h: Int, seed: UInt64) -> FloatImage {
    var rng = SeededGenerator(seed: seed)
    return FloatImage(width: w, height: h, values: (0..<(w * h * 3)).map { _ in Float(Int(rng.nextUniform() * 255)) / 255 })
  }

  func testMagnitudeZero_leavesTheSignedOperationsAndIdentityAlone() {
    let img = random(9, 7, seed: 2)
    for op in AugmentOperation.allCases where ![.posterize, .solarize, .autoContrast, .equalize].contains(op) {
      for wide in [false, true] {
        let out = op.apply(img, bin: 0, wide: wide, negative: true)
        XCTAssertEqual(out.values.count, img.values.count)
        XCTAssertLessThanOrEqual(zip(out.values, img.values).map { abs($0 - $1) }.max()!, 1e-6, "\(op) at 0")
      }
    }
    XCTAssertEqual(AugmentOperation.posterize.apply(img, bin: 0, wide: false, negative: false), img, "8 bits of 8-bit samples")
    XCTAssertEqual(AugmentOperation.solarize.apply(img, bin: 0, wide: false, negative: false).values.filter { $0 < 1 }, img.values.filter { $0 < 1 }, "threshold 1 inverts only white")
  }

  func testEachOperation_doesWhatItsNameSays() {
    let img = random(12, 10, seed: 3)
    // Solarize at threshold 0.5 inverts the bright half only.
    let solar = img.solarized(threshold: 0.5)
    for (a, b) in zip(img.values, solar.values) { XCTAssertEqual(b, a >= 0.5 ? 1 - a : a) }
    // Posterize to 2 bits leaves four levels.
    XCTAssertLessThanOrEqual(Set(img.posterized(bits: 2).values).count, 4)
    // Auto-contrast stretches each channel to 0...1.
    let dull = FloatImage(width: 12, height: 10, values: img.values.map { 0.3 + 0.2 * $0 })
    let stretched = dull.autoContrasted()
    for c in 0..<3 {
      let channel = stride(from: c, to: stretched.values.count, by: 3).map { stretched.values[$0] }
      XCTAssertEqual(channel.min()!, 0, accuracy: 1e-6)
      XCTAssertEqual(channel.max()!, 1, accuracy: 1e-6)
    }
    // Equalize spreads a narrow histogram over the whole range, keeping the order of levels
    // (PIL leaves images of fewer than 256 pixels a channel alone, and so does this).
    let big = random(64, 64, seed: 5)
    let narrow = FloatImage(width: 64, height: 64, values: big.values.map { (0.3 + 0.2 * $0 * 255).rounded() / 255 })
    let equal = narrow.equalized()
    XCTAssertGreaterThan(equal.values.max()! - equal.values.min()!, 0.9)
    for i in 0..<(narrow.values.count - 3) where narrow.values[i] < narrow.values[i + 3] { XCTAssertLessThanOrEqual(equal.values[i], equal.values[i + 3]) }
    XCTAssertEqual(dull.equalized(), dull, "120 pixels a channel: PIL's step is 0")
    // Translate moves pixels by whole columns and fills with gray.
    let moved = AugmentOperation.translateX.apply(img, bin: 30, wide: true, negative: false)  // 32 px: all gray
    XCTAssertEqual(Set(moved.values), [0.5])
    let small = AugmentOperation.translateY.apply(img, bin: 1, wide: true, negative: false)  // about 1 row
    XCTAssertEqual(Array(small.values[(12 * 3)..<(24 * 3)]), Array(img.values[0..<(12 * 3)]))
    // Sharpness 1 is identity; 0 is the smoothed image, which keeps the border.
    XCTAssertEqual(img.sharpened(1), img)
    let smooth = img.sharpened(0)
    XCTAssertEqual(Array(smooth.values[0..<36]), Array(img.values[0..<36]), "the first row is border")
    XCTAssertNotEqual(smooth, img)
  }

  func testPolicies_areFunctionsOfTheirGenerator() {
    let img = random(16, 16, seed: 4)
    var a = SeededGenerator(seed: 9), b = SeededGenerator(seed: 9)
    var changed = 0
    for _ in 0..<20 {
      let x = AutoAugment.randAugment(img, n: 2, m: 9, using: &a), y = AutoAugment.randAugment(img, n: 2, m: 9, using: &b)
      XCTAssertEqual(x, y)
      let t = AutoAugment.trivialAugment(img, using: &a), u = AutoAugment.trivialAugment(img, using: &b)
      XCTAssertEqual(t, u)
      if x != img { changed += 1 }
    }
    XCTAssertGreaterThan(changed, 15, "two operations at magnitude 9 rarely leave an image as it was")
  }
}
