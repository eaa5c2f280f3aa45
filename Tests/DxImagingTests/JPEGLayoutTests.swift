import CDxTestSupport
@testable import DxImaging
import Foundation
import XCTest

/// Every JPEG layout a camera writes decodes to its source: baseline and progressive, with and
/// without restart markers, 4:2:0, 4:2:2 and 4:4:4, also DCT-scaled.
final class CameraJPEGLayoutTests: XCTestCase {
  /// The EXIF orientation of a segment that ends past the first 64 KiB (a JFIF header and a
  /// large APP2 before it, as a big embedded thumbnail does) is read: the marker walk stopped
  /// at 64 KiB and the photo came out on its side.
  func testAnEXIFSegmentEndingPast64KiB_isRead() {
    func segment(_ marker: UInt8, _ body: [UInt8]) -> [UInt8] { [0xFF, marker, UInt8((body.count + 2) >> 8), UInt8((body.count + 2) & 0xFF)] + body }
    // Big-endian TIFF header, IFD0 at 8 with one entry: Orientation (0x0112), SHORT, 1, value 6.
    let tiff: [UInt8] = [0x4D, 0x4D, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]
    let exif = segment(0xE1, [0x45, 0x78, 0x69, 0x66, 0, 0] + tiff + [UInt8](repeating: 0, count: 60_000))
    let jfif = segment(0xE0, [0x4A, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0])
    let icc = segment(0xE2, [UInt8](repeating: 7, count: 30_000))
    let head: [UInt8] = [0xFF, 0xD8]
    XCTAssertEqual(EXIFOrientation.read(Data(head + jfif + exif + [0xFF, 0xDA, 0, 2])), 6, "within 64 KiB, as before")
    let late = head + jfif + icc + exif + [0xFF, 0xDA, 0, 2]
    XCTAssertGreaterThan(late.count, 1 << 16)
    XCTAssertEqual(EXIFOrientation.read(Data(late)), 6)
  }

  func testEveryLayout_decodesCloseToItsSource() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-layouts-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (w, h) = (333, 250)  // not a multiple of any MCU
    var px = [UInt8](repeating: 0, count: w * h * 3)
    for y in 0..<h { for x in 0..<w {
      px[(y * w + x) * 3] = UInt8(128 + 100 * sin(Double(x) / 23))
      px[(y * w + x) * 3 + 1] = UInt8(128 + 90 * cos(Double(y) / 17))
      px[(y * w + x) * 3 + 2] = UInt8((x + y) % 256)
    } }
    let source = Image(width: w, height: h, channels: 3, samples: .uint8(px))
    for (h2, v2) in [(2, 2), (2, 1), (1, 1)] {
      for progressive in [0, 1] {
        for restart in [0, 3] {
          let path = dir + "/s\(h2)\(v2)_p\(progressive)_r\(restart).jpg"
          XCTAssertEqual(dxt_write_jpeg(path, px, Int32(w), Int32(h), 95, Int32(restart), Int32(progressive), Int32(h2), Int32(v2)), 0)
          let image = try ImageDecoder.decode(path: path)
          XCTAssertEqual([image.width, image.height, image.channels], [w, h, 3], path)
          guard case .uint8(let got) = image.samples else { return XCTFail() }
          let mean = Double(zip(got, px).map { abs(Int($0) - Int($1)) }.reduce(0, +)) / Double(px.count)
          XCTAssertLessThan(mean, 3.5, path)
          // DCT-scaled to half: the source area-averaged to the same size, within a few levels.
          let half = try JPEGCodec.decode(Data(contentsOf: URL(fileURLWithPath: path)), path: path, minShortSide: 125)
          XCTAssertEqual([half.width, half.height], [167, 125], path)
          guard case .uint8(let small) = half.samples, case .uint8(let want) = source.resized(width: 167, height: 125, filter: .area).samples else { return XCTFail() }
          XCTAssertLessThan(Double(zip(small, want).map { abs(Int($0) - Int($1)) }.reduce(0, +)) / Double(want.count), 4.5, path)
        }
      }
    }
  }
}
