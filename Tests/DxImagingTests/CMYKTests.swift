import CJPEG
@testable import DxImaging
import DxTestSupport
import Foundation
import XCTest

/// CMYK and YCCK JPEGs (Adobe's, prepress, some scanners) decode to RGB as Pillow shows them,
/// instead of failing.
final class CMYKTests: XCTestCase {
  func pixels(_ image: Image) -> [UInt8] {
    guard case .uint8(let px) = image.samples else { return [] }
    return px
  }

  /// A CMYK JPEG Pillow wrote (Adobe marker, inverted inks) against Pillow's own RGB of it.
  func testPillowsCMYKJPEG_decodesToPillowsRGB() throws {
    let images = SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/images")
    let ours = try ImageDecoder.decode(path: images.appendingPathComponent("cmyk.jpg").path)
    let pillow = try ImageDecoder.decode(path: images.appendingPathComponent("cmyk_pillow_rgb.png").path)
    XCTAssertEqual(ours.channels, 3)
    XCTAssertEqual(ours.width, pillow.width)
    let d = zip(pixels(ours), pixels(pillow)).map { abs(Int($0) - Int($1)) }
    XCTAssertLessThanOrEqual(d.max() ?? 99, 2, "mean \(Double(d.reduce(0, +)) / Double(d.count))")
  }

  /// A YCCK JPEG written by libjpeg-turbo's own encoder from flat CMYK patches: each patch
  /// decodes to (1 - ink) x (1 - black), the inks read inverted as the Adobe marker libjpeg
  /// writes says.
  func testTurboJPEGsYCCK_decodesToTheRightColours() throws {
    // Inks (fractions of 255) of four patches, 16 x 16 each: cyan, magenta with black, yellow, grey.
    let inks: [[Int]] = [[255, 0, 0, 0], [0, 200, 0, 60], [0, 0, 255, 0], [0, 0, 0, 128]]
    let w = 64, h = 16
    var cmyk = [UInt8](repeating: 0, count: w * h * 4)
    for y in 0..<h { for x in 0..<w { for c in 0..<4 { cmyk[(y * w + x) * 4 + c] = UInt8(255 - inks[x / 16][c]) } } }
    let handle = try XCTUnwrap(tjInitCompress())
    defer { tjDestroy(handle) }
    var out: UnsafeMutablePointer<UInt8>? = nil
    var size: UInt = 0
    let rc = cmyk.withUnsafeBufferPointer { tjCompress2(handle, $0.baseAddress, Int32(w), 0, Int32(h), TJPF_CMYK.rawValue, &out, &size, Int32(TJSAMP_444.rawValue), 100, 0) }
    XCTAssertEqual(rc, 0, String(cString: tjGetErrorStr2(handle)))
    let data = Data(bytes: try XCTUnwrap(out), count: Int(size))
    tjFree(out)
    let image = try JPEGCodec.decode(data, path: "ycck.jpg")
    let px = pixels(image)
    XCTAssertEqual(image.channels, 3)
    for (i, ink) in inks.enumerated() {
      let at = (8 * w + i * 16 + 8) * 3  // the middle of the patch
      let want = (0..<3).map { c in (255 - ink[c]) * (255 - ink[3]) / 255 }
      for c in 0..<3 { XCTAssertEqual(Double(px[at + c]), Double(want[c]), accuracy: 3, "patch \(i) channel \(c)") }
    }
  }

  /// Pillow's CMYK file with its APP14 Adobe segment taken out: still Pillow's RGB (Pillow reads
  /// every CMYK JPEG's inks inverted; reading them as stored only without the marker gave
  /// colours inverted against it).
  func testACMYKJPEGWithoutTheAdobeMarker_decodesAsPillowDoes() throws {
    let images = SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/images")
    var bytes = [UInt8](try Data(contentsOf: images.appendingPathComponent("cmyk.jpg")))
    var i = 2
    while i + 4 <= bytes.count, bytes[i] == 0xFF, bytes[i + 1] != 0xDA {
      let length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
      if bytes[i + 1] == 0xEE { bytes.removeSubrange(i..<(i + 2 + length)); continue }
      i += 2 + length
    }
    XCTAssertFalse(Data(bytes).range(of: Data("Adobe".utf8)) != nil, "the marker is gone")
    let ours = try JPEGCodec.decode(Data(bytes), path: "cmyk-no-adobe.jpg")
    let pillow = try ImageDecoder.decode(path: images.appendingPathComponent("cmyk_pillow_rgb.png").path)
    let d = zip(pixels(ours), pixels(pillow)).map { abs(Int($0) - Int($1)) }
    XCTAssertLessThanOrEqual(d.max() ?? 99, 2, "mean \(Double(d.reduce(0, +)) / Double(d.count))")
    XCTAssertEqual(CMYK.rgb([0, 0, 0, 0, 255, 255, 255, 255], inverted: false), [255, 255, 255, 0, 0, 0])
    XCTAssertEqual(CMYK.rgb([255, 255, 255, 255], inverted: true), [255, 255, 255])
  }
}
