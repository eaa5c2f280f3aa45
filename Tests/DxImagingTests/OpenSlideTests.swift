import CDxTestSupport
@testable import DxImaging
import DxTestSupport
import Foundation
import XCTest

/// OpenSlide as the second slide backend: chosen by content, agreeing with the TIFF reader on
/// the real Aperio scan and on JPEG 2000 SVS files, reading a Hamamatsu VMS, and naming what a
/// file is when neither backend reads it.
final class OpenSlideTests: XCTestCase {
  var dir = ""

  override func setUpWithError() throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-openslide-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

  func pixels(_ image: Image) -> [UInt8] {
    guard case .uint8(let px) = image.rgb().eightBit().samples else { return [] }
    return px
  }

  /// Largest and mean absolute difference of two RGB reads.
  func difference(_ a: Image, _ b: Image) -> (max: Int, mean: Double) {
    let d = zip(pixels(a), pixels(b)).map { abs(Int($0) - Int($1)) }
    XCTAssertEqual(pixels(a).count, pixels(b).count)
    return (d.max() ?? 0, Double(d.reduce(0, +)) / Double(max(1, d.count)))
  }

  /// OpenSlide is loaded when a slide needs it, not linked: a photo diagnosis does not pay for
  /// its 31 libraries. The effdx binary does not name it, and the reader finds it installed.
  func testOpenSlide_isLoadedOnUse_notLinked() throws {
    XCTAssertNil(OpenSlideReader.unavailable, "the README's set-up installs libopenslide0")
    XCTAssertNotEqual(OpenSlideReader.version, "?")
    let effdx = EffDxRunner.productsDirectory.appendingPathComponent("effdx").path
    guard FileManager.default.isExecutableFile(atPath: effdx) else { throw XCTSkip("effdx not built at \(effdx)") }
    let libraries = try standardOutput(of: "/usr/bin/ldd", [effdx])
    XCTAssertTrue(libraries.contains("libturbojpeg"), libraries)  // ldd did list the linked ones
    XCTAssertFalse(libraries.contains("libopenslide"), libraries)
  }

  func testTheRealSVS_readsTheSameThroughBothBackends() throws {
    let path = try SharedData.fixtures().appendingPathComponent("slides/cmu_small_region.svs").path
    guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) not found") }
    XCTAssertEqual(OpenSlideReader.vendor(of: path), "aperio")
    XCTAssertEqual(SlideOpener.backend(for: path), .tiff, "Aperio stays with the TIFF reader")
    let native = try TIFFReader(path: path)
    let os = try OpenSlideReader(path: path)
    XCTAssertEqual(os.pyramid.map(\.width), native.pyramid.map(\.width))
    XCTAssertEqual(os.pyramid.map(\.height), native.pyramid.map(\.height))
    XCTAssertEqual(os.pyramid[0].mppX ?? 0, native.pyramid[0].mppX ?? 1, accuracy: 1e-9, "both read MPP = 0.499")
    XCTAssertEqual(Set(os.associated.map(\.name)), Set(native.associated.map(\.name)))
    for name in ["label", "macro", "thumbnail"] {
      XCTAssertEqual(try os.readAssociated(name).width, try native.readAssociated(name).width, name)
    }
    // Regions inside one tile, across tile corners, and at the slide's edge: the same libjpeg
    // decodes the same tiles, so the pixels agree exactly.
    for (x, y, w, h) in [(0, 0, 240, 240), (200, 220, 100, 90), (1000, 1500, 480, 300), (2100, 2900, 120, 67)] {
      let d = difference(try os.readRegion(level: 0, x: x, y: y, width: w, height: h), try native.readRegion(level: 0, x: x, y: y, width: w, height: h))
      XCTAssertEqual(d.max, 0, "region \(x),\(y) \(w) x \(h): mean difference \(d.mean)")
    }
    XCTAssertThrowsError(try os.readRegion(level: 0, x: 2200, y: 0, width: 100, height: 10)) { XCTAssertTrue("\($0)".contains("outside level 0"), "\($0)") }
  }

  func testJPEG2000SVS_decodesAsOpenSlideDecodesIt() throws {
    for (name, compression) in [("rgb", TIFFWriter.Compression.jpeg2000(ycbcr: false, rate: 0)), ("ycbcr", .jpeg2000(ycbcr: true, rate: 0)), ("lossy", .jpeg2000(ycbcr: false, rate: 12))] {
      let path = dir + "/\(name).svs"
      try JPEG2000Tests.writeAperio(path, compression: compression, source: JPEG2000Tests.smooth)
      let native = try TIFFReader(path: path)
      let os = try OpenSlideReader(path: path)
      XCTAssertEqual(os.pyramid.map(\.width), native.pyramid.map(\.width), name)
      for level in 0..<native.pyramid.count {
        let l = native.pyramid[level]
        let d = difference(try os.readRegion(level: level, x: 0, y: 0, width: l.width, height: l.height), try native.readRegion(level: level, x: 0, y: 0, width: l.width, height: l.height))
        // RGB: the same OpenJPEG, exactly. YCbCr: OpenSlide's integer conversion tables
        // against our rounded floating point, within one level.
        XCTAssertLessThanOrEqual(d.max, name == "ycbcr" ? 1 : 0, "\(name) level \(level): mean \(d.mean)")
      }
    }
  }

  func testAHamamatsuVMS_isReadThroughOpenSlide_withItsPhysicalSize() throws {
    let (w, h) = (640, 480)
    var px = [UInt8](repeating: 0, count: w * h * 3)
    for i in 0..<(w * h) { px[3 * i] = UInt8(120 + (i % w) / 8); px[3 * i + 1] = UInt8(60 + (i / w) / 8); px[3 * i + 2] = 170 }
    XCTAssertEqual(dxt_write_vms(dir, "scan", px, Int32(w), Int32(h), 0.46), 0)
    let path = dir + "/scan.vms"
    XCTAssertEqual(SlideOpener.backend(for: path), .openslide)
    let slide = try SlideOpener.open(path)
    XCTAssertEqual(slide.backend, "openslide (hamamatsu)")
    XCTAssertEqual(slide.pyramid[0].width, w)
    XCTAssertEqual(slide.pyramid[0].mppX ?? 0, 0.46, accuracy: 1e-6, "from PhysicalWidth")
    XCTAssertEqual(slide.mppSource, "openslide.mpp-x")
    // The region is the JPEG's own pixels (decoded by the same libjpeg through our JPEG reader).
    let whole = try ImageDecoder.decode(path: dir + "/scan.jpg")
    let region = try slide.readRegion(level: 0, x: 64, y: 32, width: 200, height: 100)
    let cut = whole.cropped(x: 64, y: 32, width: 200, height: 100)
    let d = difference(region, cut)
    XCTAssertLessThanOrEqual(d.max, 2, "mean \(d.mean)")
    let other = try slide.reopened()
    XCTAssertFalse(other === slide, "a handle per reading thread (OpenSlide's errors are sticky)")
    XCTAssertEqual(pixels(try other.readRegion(level: 0, x: 64, y: 32, width: 200, height: 100)), pixels(region))
  }

  func testFilesNeitherBackendReads_areErrorsNamingTheFormat() throws {
    // A truncated NDPI: a TIFF header and nothing else.
    let ndpi = dir + "/cut.ndpi"
    try Data([0x49, 0x49, 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00, 0x05]).write(to: URL(fileURLWithPath: ndpi))
    XCTAssertThrowsError(try SlideOpener.open(ndpi)) {
      XCTAssertTrue("\($0)".contains("Hamamatsu NDPI") && "\($0)".contains("cut.ndpi"), "\($0)")
    }
    let czi = dir + "/scan.czi"
    try Data("ZISRAWFILE".utf8).write(to: URL(fileURLWithPath: czi))
    XCTAssertThrowsError(try SlideOpener.open(czi)) { XCTAssertTrue("\($0)".contains("Zeiss CZI"), "\($0)") }
    let text = dir + "/notes.txt"
    try Data("hello".utf8).write(to: URL(fileURLWithPath: text))
    XCTAssertThrowsError(try SlideOpener.open(text)) { XCTAssertTrue("\($0)".contains("neither"), "\($0)") }
  }

  func testImplausibleResolutions_areNone_andNeverMakeAHugeTile() {
    XCTAssertNil(SlideLayout.vendorMPP(#"<OME><Pixels PhysicalSizeX="1e-300"/></OME>"#))
    XCTAssertNil(SlideLayout.vendorMPP(#"<OME><Pixels PhysicalSizeX="5000000"/></OME>"#))
    XCTAssertNotNil(SlideLayout.vendorMPP(#"<OME><Pixels PhysicalSizeX="0.25"/></OME>"#))
    XCTAssertNil(TileGrid.levelFor(targetMPP: 0.5, levelMPPs: [1e-9], tileSize: 224), "a read size of 10^11 pixels is no level")
    XCTAssertEqual(TileGrid.levelFor(targetMPP: 0.5, levelMPPs: [0.25, 1], tileSize: 224)?.readSize, 448)
    // The tile count is known before the list is built, for any grid.
    for (w, h, t, o, partial) in [(1000, 700, 224, 0, false), (1000, 700, 224, 32, true), (223, 5000, 224, 0, false), (224, 224, 224, 0, true)] {
      let g = TileGrid(levelWidth: w, levelHeight: h, tileSize: t, overlap: o, includePartial: partial)
      XCTAssertEqual(g.count, g.tiles.count, "\(w) x \(h), \(t) px, overlap \(o)")
    }
    XCTAssertGreaterThan(TileGrid(levelWidth: Int(Int32.max), levelHeight: Int(Int32.max), tileSize: 224).count, SlideTiler.maxTiles)
  }

  func testPhilipsPixelSpacing_isInTheMPPChain() {
    let xml = #"<?xml version="1.0" encoding="UTF-8" ?><DataObject ObjectType="DPUfsImport"><Attribute Name="DICOM_PIXEL_SPACING" Group="0x0028" Element="0x0030" PMSVR="IDoubleArray">&quot;0.000243902&quot; &quot;0.000250000&quot;</Attribute></DataObject>"#
    let mpp = SlideLayout.vendorMPP(xml)
    XCTAssertEqual(mpp?.y ?? 0, 0.243902, accuracy: 1e-9, "rows first, millimetres")
    XCTAssertEqual(mpp?.x ?? 0, 0.25, accuracy: 1e-9)
    XCTAssertNil(SlideLayout.vendorMPP(#"<DataObject ObjectType="DPUfsImport"><Attribute Name="DICOM_PIXEL_SPACING">&quot;-1&quot;</Attribute></DataObject>"#))
  }
}
