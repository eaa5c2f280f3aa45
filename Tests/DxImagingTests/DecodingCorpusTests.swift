import DxImaging
import DxNN
import DxTensor
import DxTestSupport
import Foundation
import XCTest

/// Every TIFF, PNG and JPEG variant in Tests/TestData/images (written by tifffile, pypng and
/// Pillow: Scripts/dev/make_image_corpus.py) decodes to the pixels that were written.
final class DecodingCorpusTests: XCTestCase {
  let dir = SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/images")

  func expected() throws -> SafeTensorsFile { try SafeTensorsFile(path: dir.appendingPathComponent("expected.safetensors").path) }

  /// Compares an image with an expected `[H, W]` or `[H, W, C]` array of sample values.
  func assertPixels(_ image: Image, _ e: Tensor, maxError: Int = 0, meanError: Double = 0, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
    let channels = e.rank == 2 ? 1 : e.shape[2]
    XCTAssertEqual([image.height, image.width, image.channels], [e.shape[0], e.shape[1], channels], "\(name) geometry", file: file, line: line)
    guard image.height == e.shape[0], image.width == e.shape[1], image.channels == channels else { return }
    var worst = 0, total = 0
    for y in 0..<image.height {
      for x in 0..<image.width {
        for c in 0..<channels {
          let d = abs(image[x, y, c] - Int(e.scalars[(y * image.width + x) * channels + c]))
          worst = max(worst, d)
          total += d
        }
      }
    }
    XCTAssertLessThanOrEqual(worst, maxError, "\(name): largest sample error", file: file, line: line)
    XCTAssertLessThanOrEqual(Double(total) / Double(e.count), max(meanError, Double(maxError)), "\(name): mean sample error", file: file, line: line)
  }

  func testEveryVariant_decodesToThePixelsWritten() throws {
    let e = try expected()
    for name in e.names where !name.contains("#") && !name.hasPrefix("resize:") {
      let image: Image
      do { image = try ImageDecoder.decode(path: dir.appendingPathComponent(name).path) } catch {
        XCTFail("\(name): \(error)")
        continue
      }
      let lossyTIFF = name.contains("jpeg")
      let bitDepth16 = name.contains("16")
      XCTAssertEqual(image.bitDepth, bitDepth16 ? 16 : 8, name)
      if lossyTIFF {
        assertPixels(image, try e.tensor(name), maxError: 40, meanError: 4, name)  // JPEG quality 95 against the original
      } else {
        assertPixels(image, try e.tensor(name), maxError: name.hasSuffix(".jpg") ? 1 : 0, name)
      }
    }
  }

  func testMultiPageAndSubIFDPyramid_listLevelsWithSizesTilesAndMPP() throws {
    let e = try expected()
    let pages = try TIFFReader(path: dir.appendingPathComponent("multipage.tif").path)
    // Pages that are no smaller copy of page 0 are not pyramid levels: a stack of pages is one
    // level and associated images, each read whole.
    XCTAssertEqual(pages.levels.map { [$0.width, $0.height] }, [[37, 29]])
    XCTAssertEqual(pages.associated, [TIFFReader.AssociatedImage(name: "image_1", width: 37, height: 29), TIFFReader.AssociatedImage(name: "image_2", width: 96, height: 64)])
    assertPixels(try pages.read(level: 0), try e.tensor("multipage.tif#0"), "page 0")
    for i in 1..<3 { assertPixels(try pages.readAssociated("image_\(i)"), try e.tensor("multipage.tif#\(i)"), "page \(i)") }

    let pyramid = try TIFFReader(path: dir.appendingPathComponent("pyramid_subifds.tif").path)
    XCTAssertEqual(pyramid.levels.map { [$0.width, $0.height] }, [[96, 64], [48, 32], [24, 16]])
    XCTAssertEqual(pyramid.levels.map(\.isSubIFD), [false, true, true])
    XCTAssertEqual(pyramid.levels[0].tileWidth, 16)
    XCTAssertEqual(pyramid.levels[0].compression, "deflate")
    XCTAssertEqual(pyramid.levels[0].mppX ?? 0, 0.5, accuracy: 1e-6)
    XCTAssertEqual(pyramid.levels[2].mppX ?? 0, 2.0, accuracy: 1e-6)
    for i in 0..<3 { assertPixels(try pyramid.read(level: i), try e.tensor("pyramid_subifds.tif#\(i)"), "pyramid level \(i)") }

    // The same file with its first SubIFD offset pointing back at page 0's own directory: that
    // entry is page 0 again, dropped (it was listed as an associated image), and the other
    // SubIFD is still a level.
    var bytes = [UInt8](try Data(contentsOf: dir.appendingPathComponent("pyramid_subifds.tif")))
    func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
    func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
    XCTAssertEqual(Array(bytes[0..<4]), [0x49, 0x49, 42, 0], "a little-endian classic TIFF")
    let ifd0 = u32(4)
    let entry = try XCTUnwrap((0..<u16(ifd0)).map { ifd0 + 2 + 12 * $0 }.first { u16($0) == 330 }, "page 0 has a SubIFD tag")
    XCTAssertEqual(u32(entry + 4), 2, "two SubIFDs")
    let array = u32(entry + 8)
    for k in 0..<4 { bytes[array + k] = UInt8(truncatingIfNeeded: ifd0 >> (8 * k)) }
    let patched = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-selfsubifd-\(UUID().uuidString).tif")
    try Data(bytes).write(to: patched)
    defer { try? FileManager.default.removeItem(at: patched) }
    let looped = try TIFFReader(path: patched.path)
    XCTAssertEqual(looped.levels.map { [$0.width, $0.height] }, [[96, 64], [24, 16]])
    XCTAssertEqual(looped.associated, [])
  }

  func testRegionReads_equalTheSameWindowOfTheWholeImage() throws {
    for name in ["rgb8_tiles_deflate.tif", "gray16_strips_lzw.tif", "rgb16_planar_tiles_deflate_predictor.tif", "rgb8_planar_lzw_predictor.tif", "palette8.tif", "bilevel1.tif", "rgba8_strips_packbits.tif"] {
      let reader = try TIFFReader(path: dir.appendingPathComponent(name).path)
      let whole = try reader.read()
      for (x, y, w, h) in [(0, 0, 1, 1), (5, 3, 17, 11), (15, 15, 2, 2), (36, 28, 1, 1), (0, 0, 37, 29), (20, 9, 17, 20)] {
        let region = try reader.readRegion(level: 0, x: x, y: y, width: w, height: h)
        XCTAssertEqual([region.width, region.height, region.channels], [w, h, whole.channels], name)
        var same = true
        for yy in 0..<h { for xx in 0..<w { for c in 0..<whole.channels where region[xx, yy, c] != whole[x + xx, y + yy, c] { same = false } } }
        XCTAssertTrue(same, "\(name) region (\(x), \(y), \(w), \(h))")
      }
      XCTAssertThrowsError(try reader.readRegion(level: 0, x: 30, y: 0, width: 10, height: 1)) { XCTAssertTrue("\($0)".contains(name)) }
      XCTAssertThrowsError(try reader.readRegion(level: 3, x: 0, y: 0, width: 1, height: 1))
    }
  }

  func testFormatIsDetectedByContentNotName() throws {
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-img-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: tmp) }
    let misnamed = tmp.appendingPathComponent("actually_png.jpg")
    try FileManager.default.copyItem(at: dir.appendingPathComponent("rgb8.png"), to: misnamed)
    XCTAssertEqual(try ImageFormat.detect(path: misnamed.path), .png)
    XCTAssertEqual(try ImageDecoder.decode(path: misnamed.path), try ImageDecoder.decode(path: dir.appendingPathComponent("rgb8.png").path))
  }
}
