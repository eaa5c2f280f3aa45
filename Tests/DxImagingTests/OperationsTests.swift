import DxImaging
import DxNN
import DxTensor
import DxTestSupport
import Foundation
import XCTest

final class OperationsTests: XCTestCase {
  let corpus = SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/images")

  func image(_ t: Tensor) -> Image {
    Image(width: t.shape[1], height: t.shape[0], channels: t.shape[2], samples: .uint8(t.scalars.map { UInt8($0) }))
  }

  func testResize_matchesPillowWithinOneLevel() throws {
    let e = try SafeTensorsFile(path: corpus.appendingPathComponent("expected.safetensors").path)
    let source = image(try e.tensor("resize:source"))
    for name in e.names where name.hasPrefix("resize:") && name != "resize:source" {
      let parts = name.split(separator: ":")
      let size = parts[2].split(separator: "x").map { Int($0)! }
      let filter = ResizeFilter(rawValue: String(parts[1]))!
      let out = source.resized(width: size[0], height: size[1], filter: filter)
      let reference = try e.tensor(name)
      var worst = 0
      for i in 0..<reference.count {
        let got: Int
        if case .uint8(let s) = out.samples { got = Int(s[i]) } else { got = -1 }
        worst = max(worst, abs(got - Int(reference.scalars[i])))
      }
      XCTAssertLessThanOrEqual(worst, 1, name)
    }
  }

  func testAreaResize_averagesExactlyOnIntegerFactors() {
    let img = Image(width: 4, height: 2, channels: 1, samples: .uint8([0, 10, 20, 30, 40, 50, 60, 70]))
    let half = img.resized(width: 2, height: 1, filter: .area)
    XCTAssertEqual(half.samples, .uint8([25, 45]))  // (0+10+40+50)/4, (20+30+60+70)/4
  }

  func testCrops_andTensorNormalisation() {
    var rng = SeededGenerator(seed: 3)
    let pixels = (0..<(40 * 30 * 3)).map { UInt8($0 % 251) }
    let img = Image(width: 40, height: 30, channels: 3, samples: .uint8(pixels))
    XCTAssertEqual(img.cropped(x: 5, y: 6, width: 3, height: 2)[0, 0, 0], img[5, 6, 0])
    let center = img.centerCropped(size: 16)
    XCTAssertEqual([center.width, center.height], [16, 16])
    let a = img.randomResizedCrop(size: 12, using: &rng)
    var rng2 = SeededGenerator(seed: 3)
    XCTAssertEqual(a, img.randomResizedCrop(size: 12, using: &rng2), "seeded, reproducible")
    XCTAssertEqual([a.width, a.height], [12, 12])
    let t = img.tensor(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
    XCTAssertEqual(t.shape, [1, 30, 40, 3])
    XCTAssertEqual(t.scalars[1], (Float(pixels[1]) / 255 - 0.5) / 0.25, accuracy: 1e-6)
    let gray = Image(width: 2, height: 1, channels: 1, samples: .uint16([0, 65535]))
    XCTAssertEqual(gray.tensor().scalars, [0, 0, 0, 1, 1, 1])
  }

  /// A box of the source resized (what the random resized crop reads, with no cropped copy) is
  /// the crop resized, bit for bit, in every layout; and the Float crop training's loader starts
  /// with is the integer crop's values with the same random draws.
  func testResizingABoxOfTheSource_isCroppingThenResizing() {
    let rgb = Image(width: 41, height: 29, channels: 3, samples: .uint8((0..<(41 * 29 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 / 7) }))
    let gray16 = Image(width: 41, height: 29, channels: 1, samples: .uint16((0..<(41 * 29)).map { UInt16(truncatingIfNeeded: $0 &* 2_654_435) }))
    for image in [rgb, gray16] {
      for (box, filter) in [((0, 0, 41, 29), ResizeFilter.bilinear), ((3, 5, 17, 20), .bilinear), ((40, 28, 1, 1), .bicubic), ((10, 0, 31, 9), .area), ((1, 2, 7, 26), .bicubic)] {
        let (x, y, w, h) = box
        for size in [5, 12, 33] {
          let expected = image.cropped(x: x, y: y, width: w, height: h).resized(width: size, height: size, filter: filter)
          let boxed = image.resized(width: size, height: size, filter: filter, window: (0, 0, size, size), source: box)
          XCTAssertEqual(boxed, expected, "\(image.channels) channels, box \(box), \(filter), \(size)")
        }
      }
    }
    // The draws, written out here as torchvision's RandomResizedCrop makes them (an area
    // fraction, a log-uniform ratio, up to ten tries, then x and y): the crop is that box
    // resized, and the Float crop has the same values.
    func expectedBox(_ w: Int, _ h: Int, using g: inout SeededGenerator) -> (Int, Int, Int, Int) {
      for _ in 0..<10 {
        let target = Double(w * h) * (0.1 + 0.9 * Double(g.nextUniform()))
        let aspect = exp(log(0.5) + (log(2.0) - log(0.5)) * Double(g.nextUniform()))
        let cw = Int((target * aspect).squareRoot().rounded()), ch = Int((target / aspect).squareRoot().rounded())
        if cw > 0 && ch > 0 && cw <= w && ch <= h { return (Int(g.next() % UInt64(w - cw + 1)), Int(g.next() % UInt64(h - ch + 1)), cw, ch) }
      }
      return (0, 0, w, h)
    }
    for seed: UInt64 in 0..<20 {
      var a = SeededGenerator(seed: seed), b = SeededGenerator(seed: seed), c = SeededGenerator(seed: seed)
      let (x, y, w, h) = expectedBox(rgb.width, rgb.height, using: &c)
      let crop = rgb.randomResizedCrop(size: 12, scale: 0.1...1, ratio: 0.5...2, using: &b)
      XCTAssertEqual(crop, rgb.cropped(x: x, y: y, width: w, height: h).resized(width: 12, height: 12, filter: .bilinear), "seed \(seed)")
      XCTAssertEqual(rgb.randomResizedCropFloat(size: 12, scale: 0.1...1, ratio: 0.5...2, using: &a), FloatImage(crop), "seed \(seed)")
      XCTAssertEqual(a.next(), c.next(), "as many draws")
    }
  }
}

/// The windowed resampler that serves every integer resize and the centre crop: bit for bit
/// what the Float reference (`Resampler.resize` over the whole image, then a crop) gives.
final class WindowResamplerTests: XCTestCase {
  func reference(_ image: Image, _ w: Int, _ h: Int, _ filter: ResizeFilter) -> Image {
    let values = Resampler.resize(image.floatSamples(), width: image.width, height: image.height, channels: image.channels, toWidth: w, toHeight: h, filter: filter, intermediateLevels: image.maxValue)
    return Image(width: w, height: h, channels: image.channels, floats: values, bitDepth: image.bitDepth)
  }

  func testWindows_equalTheFullResizeCropped_forEveryFilterDepthAndScale() {
    var rng = SystemRandomNumberGenerator()
    for (bitDepth, channels) in [(8, 3), (16, 3), (8, 1), (16, 4)] {
      let (sw, sh) = (57, 43)
      let n = sw * sh * channels
      let image = bitDepth == 8
        ? Image(width: sw, height: sh, channels: channels, samples: .uint8((0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }))
        : Image(width: sw, height: sh, channels: channels, samples: .uint16((0..<n).map { _ in UInt16.random(in: 0...65535, using: &rng) }))
      for filter in ResizeFilter.allCases {
        for (w, h) in [(20, 16), (57, 30), (90, 70), (13, 60)] {
          let full = reference(image, w, h, filter)
          XCTAssertEqual(image.resized(width: w, height: h, filter: filter), full, "\(bitDepth)-bit \(filter) \(w) x \(h)")
          let window = (x: w / 4, y: h / 3, width: w / 2, height: h / 2)
          XCTAssertEqual(image.resized(width: w, height: h, filter: filter, window: window), full.cropped(x: window.x, y: window.y, width: window.width, height: window.height),
                         "\(bitDepth)-bit \(filter) \(w) x \(h) window")
        }
      }
    }
  }

  func testTheCentreCrop_isTheCentreOfTheFullResize() {
    let image = Image(width: 400, height: 300, channels: 3, samples: .uint8((0..<(400 * 300 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 / 1200) }))
    let crop = image.centerCropped(size: 224, cropFraction: 0.875, filter: .bicubic)
    let full = reference(image, 341, 256, .bicubic)
    XCTAssertEqual(crop, full.cropped(x: 59, y: 16, width: 224, height: 224))
  }

  /// The Float centre crop (what the evaluation transform hands the network) is the integer
  /// crop's Floats, bit for bit: 8 and 16 bits, RGB and not, resized or already the size.
  func testTheFloatCentreCrop_equalsTheIntegerCropsFloats() {
    var rng = SystemRandomNumberGenerator()
    for (bitDepth, channels, sw, sh) in [(8, 3, 97, 61), (16, 3, 61, 97), (8, 1, 70, 50), (16, 4, 50, 70), (8, 3, 64, 64)] {
      let n = sw * sh * channels
      let image = bitDepth == 8
        ? Image(width: sw, height: sh, channels: channels, samples: .uint8((0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }))
        : Image(width: sw, height: sh, channels: channels, samples: .uint16((0..<n).map { _ in UInt16.random(in: 0...65535, using: &rng) }))
      for filter in ResizeFilter.allCases {
        for (size, fraction) in [(32, 0.875), (48, 1.0), (64, 1.0)] {
          let float = image.centerCroppedFloat(size: size, cropFraction: fraction, filter: filter)
          let expected = FloatImage(image.centerCropped(size: size, cropFraction: fraction, filter: filter))
          XCTAssertEqual(float, expected, "\(bitDepth)-bit \(channels) channels \(sw) x \(sh) \(filter) to \(size) at \(fraction)")
        }
      }
    }
  }
}
