@testable import DxImaging
import DxTestSupport
import Foundation
import XCTest

/// Pyramid levels apart from associated images, and one chain of microns per pixel, on the
/// layouts vendors write and on a real Aperio scan.
final class SlideLayoutTests: XCTestCase {
  func dir(_ w: Int, _ h: Int, tiled: Bool = true, page: Int, subIFD: Bool = false, subfile: Int = 0, _ description: String = "") -> SlideLayout.Directory {
    SlideLayout.Directory(width: w, height: h, tiled: tiled, isSubIFD: subIFD, page: page, subfileType: subfile, description: description)
  }

  func testAFullSizeAperioLayout_hasThreeLevelsAndThreeAssociatedImages() {
    let base = "Aperio Image Library v12.0.5\r\n46000x32914 [0,100 46000x32914] (256x256) JPEG/RGB Q=70|AppMag = 20|MPP = 0.4990"
    let dirs = [
      dir(46000, 32914, page: 0, base),
      dir(1024, 733, tiled: false, page: 1, "Aperio Image Library v12.0.5\r\n46000x32914 -> 1024x733 - |AppMag = 20|MPP = 0.4990"),
      dir(11500, 8228, page: 2, "Aperio Image Library v12.0.5\r\n46000x32914 -> 11500x8228 - |MPP = 0.4990"),
      dir(2875, 2057, page: 3, "Aperio Image Library v12.0.5\r\n46000x32914 -> 2875x2057 - |MPP = 0.4990"),
      dir(387, 463, tiled: false, page: 4, subfile: 1, "Aperio Image Library v12.0.5\nlabel 387x463"),
      dir(1280, 431, tiled: false, page: 5, subfile: 9, "Aperio Image Library v12.0.5\nmacro 1280x431"),
    ]
    let (pyramid, associated) = SlideLayout.classify(dirs)
    XCTAssertEqual(pyramid, [0, 2, 3], "the thumbnail is not level 1")
    XCTAssertEqual(associated.map(\.name), ["thumbnail", "label", "macro"])
    XCTAssertEqual(associated.map(\.index), [1, 4, 5])
    XCTAssertEqual(SlideLayout.vendorMPP(base)?.x, 0.499)
  }

  func testOMEAndGenericLayouts() {
    let ome = #"<?xml version="1.0"?><OME><Image><Pixels PhysicalSizeX="250" PhysicalSizeXUnit="nm" PhysicalSizeY="0.26" SizeX="4096"/></Image></OME>"#
    let dirs = [dir(4096, 3072, page: 0, ome), dir(2048, 1536, page: 0, subIFD: true, subfile: 1), dir(1024, 768, page: 0, subIFD: true, subfile: 1),
                dir(600, 200, tiled: false, page: 1, "label")]
    let (pyramid, associated) = SlideLayout.classify(dirs)
    XCTAssertEqual(pyramid, [0, 1, 2])
    XCTAssertEqual(associated.map(\.name), ["label"])
    let mpp = SlideLayout.vendorMPP(ome)
    XCTAssertEqual(mpp?.x ?? 0, 0.25, accuracy: 1e-12, "nanometres converted")
    XCTAssertEqual(mpp?.y ?? 0, 0.26, accuracy: 1e-12, "microns by default")
    XCTAssertNil(SlideLayout.vendorMPP(#"<OME><Pixels PhysicalSizeX="-1"/></OME>"#), "a negative size is no size")
    // Round seven of the audit: the first PhysicalSizeX and the first unit anywhere were taken.
    // Level 0's are those of the Image whose TiffData starts at IFD 0, each with its own unit.
    let labelFirst = #"<OME><Image ID="Image:0" Name="label"><ImagingEnvironment/><Pixels PhysicalSizeX="0.125" PhysicalSizeY="0.125"><TiffData IFD="1"/></Pixels></Image>"#
      + #"<Image ID="Image:1"><Pixels PhysicalSizeX="0.25" PhysicalSizeY="0.25"><TiffData IFD="0" PlaneCount="1"/></Pixels></Image></OME>"#
    XCTAssertEqual(SlideLayout.vendorMPP(labelFirst)?.x, 0.25, "the slide's, not the label's")
    let unitElsewhere = #"<OME><Image ID="Image:0"><Pixels PhysicalSizeX="0.25"><TiffData/></Pixels></Image><Image ID="Image:1"><Pixels PhysicalSizeX="2" PhysicalSizeXUnit="mm"/></Image></OME>"#
    XCTAssertEqual(SlideLayout.vendorMPP(unitElsewhere)?.x, 0.25, "microns: the macro image's unit is its own")
    XCTAssertNil(SlideLayout.vendorMPP(#"<OME><Image><Pixels PhysicalSizeX="0.25" PhysicalSizeY="nan"/></Image></OME>"#), "a Y that is no size is no MPP, not X")
    XCTAssertNil(SlideLayout.vendorMPP(#"<OME><Image><Pixels PhysicalSizeX="0x1p-2"/></Image></OME>"#), "hexadecimal is no decimal")
    XCTAssertNil(SlideLayout.vendorMPP("Aperio Image Library v12|AppMag = 20|MPP = 0x1p-2|"), "hexadecimal is no decimal")
    XCTAssertEqual(SlideLayout.vendorMPP("Aperio Image Library v12|AppMag = 20|MPP = 5e-1|")?.x, 0.5)
    // A page of another shape is an associated image, never a level.
    let (p2, a2) = SlideLayout.classify([dir(1000, 1000, page: 0), dir(500, 500, page: 1), dir(300, 100, page: 2)])
    XCTAssertEqual(p2, [0, 1])
    XCTAssertEqual(a2.map(\.name), ["image_2"])
  }

  func testEveryLevelsMPP_isLevelZerosTimesItsDownsample() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-layout-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let levels = [1024, 512, 256].map { side in
      TIFFWriter.Level(width: side, height: side) { _, _, w, h in Image(width: w, height: h, channels: 3, samples: .uint8([UInt8](repeating: 200, count: w * h * 3))) }
    }
    try TIFFWriter.write(levels: levels, to: dir + "/p.tif", tileSize: 256, compression: .deflate, mpp: 0.25)
    let r = try TIFFReader(path: dir + "/p.tif")
    XCTAssertEqual(r.levels.map(\.mppX), [0.25, 0.5, 1.0])
    XCTAssertEqual(r.mppSource, "tiff tags")
    XCTAssertEqual(r.associated, [])
  }

  /// The real Aperio scan: one pyramid level, its thumbnail, label and macro, 0.499 um/px.
  func testTheRealSVS_separatesItsAssociatedImages() throws {
    let path = try SharedData.fixtures().appendingPathComponent("slides/cmu_small_region.svs").path
    guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) not found") }
    let r = try TIFFReader(path: path)
    XCTAssertEqual(r.levels.count, 1)
    XCTAssertEqual(r.levels[0].width, 2220)
    XCTAssertEqual(r.levels[0].height, 2967)
    XCTAssertEqual(r.levels[0].mppX ?? 0, 0.499, accuracy: 1e-9)
    XCTAssertEqual(r.mppSource, "aperio")
    XCTAssertEqual(r.associated, [.init(name: "thumbnail", width: 574, height: 768), .init(name: "label", width: 387, height: 463), .init(name: "macro", width: 1280, height: 431)])
    let label = try r.readAssociated("label")
    XCTAssertEqual(label.width, 387)
    XCTAssertThrowsError(try r.readAssociated("overview")) { XCTAssertTrue("\($0)".contains("thumbnail, label, macro"), "\($0)") }
    // A region across four 240 px tiles equals the four single-tile reads stitched.
    let region = try r.readRegion(level: 0, x: 200, y: 200, width: 80, height: 80).rgb().eightBit()
    guard case .uint8(let px) = region.samples else { return XCTFail() }
    for (tx, ty) in [(200, 200), (240, 200), (200, 240), (240, 240)] {
      let part = try r.readRegion(level: 0, x: tx, y: ty, width: 40, height: 40).rgb().eightBit()
      guard case .uint8(let q) = part.samples else { return XCTFail() }
      for y in 0..<40 { for x in 0..<40 { for c in 0..<3 {
        XCTAssertEqual(px[((ty - 200 + y) * 80 + tx - 200 + x) * 3 + c], q[(y * 40 + x) * 3 + c])
      } } }
    }
  }

  /// Aperio's `MPP = ` field is read whole: scientific notation is its value, anything that is
  /// not a plausible number is no MPP (the slide then asks for --base-mpp), never its digits.
  func testAperiosMPPField_isReadWhole() {
    func mpp(_ field: String) -> Double? { SlideLayout.vendorMPP("Aperio Image Library v12.0.15\n46000x32914 [0,100 46000x32914] (256x256) JPEG/RGB Q=70|AppMag = 20|MPP = \(field)|Left = 25.2")?.x }
    XCTAssertEqual(mpp("0.4990"), 0.499)
    XCTAssertEqual(mpp("5e-1"), 0.5)
    XCTAssertEqual(mpp(" 0.25 "), 0.25)
    for bad in ["0.5abc", "1e-300", "1e308", "nan", "-0.5", "", "0x1p-1 um"] { XCTAssertNil(mpp(bad), bad) }
    XCTAssertEqual(SlideLayout.vendorMPP("Aperio Image Library|MPP = 0.2520")?.x, 0.252, "the last field")
  }

  /// The same rule holds for a whole slide: a second, looser parse of the description while
  /// reading each directory took "0.5abc" as 0.5 and 1e308 as 1, credited to "tiff tags".
  func testASlideWithAnImplausibleAperioMPP_hasNoMPP() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-mpp-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for field in ["0.5abc", "1e308", "1e-300"] {
      let path = dir + "/a.svs"
      try JPEG2000Tests.writeAperio(path, compression: .jpeg(quality: 90), source: JPEG2000Tests.smooth, width: 480, height: 480, mpp: field)
      let r = try TIFFReader(path: path)
      XCTAssertEqual(r.levels.map(\.mppX), [nil, nil, nil], field)
      XCTAssertNil(r.mppSource, field)
    }
    let path = dir + "/good.svs"
    try JPEG2000Tests.writeAperio(path, compression: .jpeg(quality: 90), source: JPEG2000Tests.smooth, width: 480, height: 480, mpp: "5e-1")
    XCTAssertEqual(try TIFFReader(path: path).levels.map(\.mppX), [0.5, 1.0, 2.0])
  }
}

/// The tile thumbnail's outlines: a tile narrower than one thumbnail pixel is that pixel (its
/// range of pixels ran backwards and trapped: `tile --tile-size 16` over an 8 x 8 thumbnail of
/// a 512-pixel slide).
final class TileOverlayTests: XCTestCase {
  func testTilesNarrowerThanAThumbnailPixel_markThatPixel() {
    let thumb = Image(width: 8, height: 8, channels: 3, samples: .uint8([UInt8](repeating: 200, count: 8 * 8 * 3)))
    let mask = TissueDetector.Mask(width: 8, height: 8, values: [Bool](repeating: true, count: 64))
    let tiles = [(0, 0), (16, 0), (496, 496)].map { x, y in
      SlideTiler.Record(file: "t", level: 0, x: x, y: y, width: 16, height: 16, x0: x, y0: y, width0: 16, height0: 16, mpp: nil, tissue: 1)
    }
    let out = SlideTiler.overlay(thumb, mask: mask, tiles: tiles, downsampleX: 64, downsampleY: 64)
    guard case .uint8(let px) = out.samples else { return XCTFail("8-bit") }
    func green(_ x: Int, _ y: Int) -> Bool { px[3 * (y * 8 + x)] == 0 && px[3 * (y * 8 + x) + 1] == 200 }
    XCTAssertTrue(green(0, 0), "the first tiles' pixel")
    XCTAssertTrue(green(7, 7), "the last tile's pixel, inside the thumbnail")
    XCTAssertFalse(green(3, 3), "no tile there")
  }
}
