import DxImaging
import DxTensor
import Foundation
import XCTest

final class AugmentationTests: XCTestCase {
  func random(_ w: Int, _ h: Int, seed: UInt64) -> FloatImage {
    var rng = SeededGenerator(seed: seed)
    return FloatImage(width: w, height: h, values: (0..<(w * h * 3)).map { _ in rng.nextUniform() })
  }

  /// An H&E-like image with known stain vectors (Macenko's optical-density model).
  func stained(h: [Float], e: [Float], size: Int = 48, seed: UInt64 = 1) -> FloatImage {
    var rng = SeededGenerator(seed: seed)
    var v: [Float] = []
    for _ in 0..<(size * size) {
      let c1 = 1.5 * rng.nextUniform(), c2 = 1.0 * rng.nextUniform()
      for i in 0..<3 { v.append(240.0 / 255 * exp(-(c1 * h[i] + c2 * e[i]))) }
    }
    return FloatImage(width: size, height: size, values: v)
  }

  func maxDifference(_ a: FloatImage, _ b: FloatImage) -> Float { zip(a.values, b.values).map { abs($0 - $1) }.max() ?? 0 }

  func testGeometry_flipsAndQuarterTurnsAreExactAndInvertible() {
    let img = random(7, 5, seed: 1)
    XCTAssertEqual(img.flippedHorizontally().flippedHorizontally(), img)
    XCTAssertEqual(img.flippedVertically().flippedVertically(), img)
    XCTAssertEqual(img.rotated90(1).rotated90(3), img)
    XCTAssertEqual(img.rotated90(1).width, 5)
    XCTAssertEqual(img.rotated90(2), img.flippedHorizontally().flippedVertically())
    // 90 degrees counter-clockwise: the top-right pixel goes to the top-left.
    XCTAssertEqual(Array(img.rotated90(1).values[0..<3]), Array(img.values[(6 * 3)..<(6 * 3 + 3)]))
    XCTAssertLessThan(maxDifference(img.rotated(degrees: 0), img), 1e-6)
    // An arbitrary rotation of a constant image stays constant (the fill matches).
    let flat = FloatImage(width: 9, height: 9, values: [Float](repeating: 1, count: 243))
    XCTAssertLessThan(maxDifference(flat.rotated(degrees: 33), flat), 1e-6)
  }

  func testColourAdjustments_identityAtNeutralFactorsAndSeededJitter() {
    let img = random(8, 8, seed: 2)
    XCTAssertLessThan(maxDifference(img.adjustingBrightness(1), img), 1e-6)
    XCTAssertLessThan(maxDifference(img.adjustingContrast(1), img), 1e-6)
    XCTAssertLessThan(maxDifference(img.adjustingSaturation(1), img), 1e-6)
    XCTAssertLessThan(maxDifference(img.adjustingHue(0), img), 1e-5)
    XCTAssertLessThan(maxDifference(img.adjustingHue(1.0 / 3).adjustingHue(-1.0 / 3), img), 1e-4)
    let gray = img.adjustingSaturation(0)
    for p in 0..<64 { XCTAssertEqual(gray.values[3 * p], gray.values[3 * p + 2], accuracy: 1e-6) }
    var a = SeededGenerator(seed: 5), b = SeededGenerator(seed: 5)
    XCTAssertEqual(img.colorJittered(brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, using: &a),
                   img.colorJittered(brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, using: &b))
  }

  func testBlurNoiseCutout() {
    let img = random(16, 16, seed: 3)
    let blurred = img.blurred(sigma: 1.5)
    let variance = { (x: FloatImage) -> Float in
      let m = x.values.reduce(0, +) / Float(x.values.count)
      return x.values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Float(x.values.count)
    }
    XCTAssertLessThan(variance(blurred), variance(img) / 4)
    XCTAssertEqual(blurred.values.reduce(0, +) / 768, img.values.reduce(0, +) / 768, accuracy: 0.02, "blur keeps the mean")
    var rng = SeededGenerator(seed: 4)
    XCTAssertGreaterThan(maxDifference(img.withNoise(sigma: 0.1, using: &rng), img), 0.05)
    let cut = img.cutout(size: 6, fill: [0, 0, 0], using: &rng)
    XCTAssertEqual(cut.values.filter { $0 == 0 }.count % 3, 0)
    XCTAssertGreaterThanOrEqual(cut.values.filter { $0 == 0 }.count, 3 * 9)
  }

  func testHED_roundTripsAndAugmentationPerturbsStains() {
    var rng0 = SeededGenerator(seed: 9)
    let stains = (0..<(32 * 32)).flatMap { _ in [0.05 * rng0.nextUniform(), 0.05 * rng0.nextUniform(), Float(0)] }
    let img = HED.image(stains: stains, width: 32, height: 32)
    XCTAssertLessThan(zip(HED.stains(img), stains).map { abs($0 - $1) }.max()!, 1e-4)
    let back = HED.image(stains: HED.stains(img), width: img.width, height: img.height)
    XCTAssertLessThan(maxDifference(back, img), 2e-3)
    var rng = SeededGenerator(seed: 6)
    let none = img.hedAugmented(sigma: 0, bias: 0, using: &rng)
    XCTAssertLessThan(maxDifference(none, img), 2e-3)
    let strong = img.hedAugmented(sigma: 0.3, bias: 0.1, using: &rng)
    XCTAssertGreaterThan(maxDifference(strong, img), 0.02)
  }

  func testReinhard_matchesTargetStatistics() {
    let source = stained(h: [0.65, 0.70, 0.29], e: [0.07, 0.99, 0.11], seed: 7)
    let target = random(32, 32, seed: 8).adjustingSaturation(0.5)
    let normalizer = ReinhardNormalizer(target: target)
    let out = normalizer.normalize(source)
    let check = ReinhardNormalizer(target: out)
    for c in 0..<3 {
      XCTAssertEqual(check.mean[c], normalizer.mean[c], accuracy: 0.03)
      XCTAssertEqual(check.std[c], normalizer.std[c], accuracy: 0.03)
    }
    XCTAssertLessThan(maxDifference(ReinhardNormalizer(target: source).normalize(source), source), 2e-3, "normalising to itself is the identity")
  }

  func testMacenko_recoversStainVectorsAndNormalisesToTheReference() throws {
    func unit(_ v: [Float]) -> [Float] { let n = (v.reduce(0) { $0 + $1 * $1 }).squareRoot(); return v.map { $0 / n } }
    let h = unit([0.65, 0.70, 0.29]), e = unit([0.07, 0.99, 0.11])
    let img = stained(h: h, e: e, size: 64)
    let est = try XCTUnwrap(MacenkoNormalizer().estimate(img))
    func cosine(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
    XCTAssertGreaterThan(cosine(est.stains[0], h), 0.99, "haematoxylin")
    XCTAssertGreaterThan(cosine(est.stains[1], e), 0.99, "eosin")
    // Normalising a differently stained copy towards the first image brings it closer.
    let other = stained(h: unit([0.55, 0.75, 0.35]), e: unit([0.15, 0.95, 0.2]), size: 64)
    let normalized = MacenkoNormalizer(target: img).normalize(other)
    let reEstimated = try XCTUnwrap(MacenkoNormalizer().estimate(normalized))
    XCTAssertGreaterThan(cosine(reEstimated.stains[0], h), 0.99)
    let blank = FloatImage(width: 4, height: 4, values: [Float](repeating: 0.95, count: 48))
    XCTAssertEqual(MacenkoNormalizer().normalize(blank), blank, "a blank tile is returned unchanged")
  }
}
