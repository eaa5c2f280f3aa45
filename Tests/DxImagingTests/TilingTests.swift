import DxImaging
import DxTensor
import DxTestSupport
import Foundation
import XCTest

final class TilingTests: XCTestCase {
  func testTileGrid_coordinatesOverlapAndPartialTiles() {
    let g = TileGrid(levelWidth: 1000, levelHeight: 600, tileSize: 256)
    XCTAssertEqual(g.tiles.count, 3 * 2)
    XCTAssertEqual(g.tiles.last, TileGrid.Tile(column: 2, row: 1, x: 512, y: 256, width: 256, height: 256))
    let overlapping = TileGrid(levelWidth: 1000, levelHeight: 600, tileSize: 256, overlap: 56)
    XCTAssertEqual(overlapping.tiles.map(\.x).prefix(4), [0, 200, 400, 600])
    XCTAssertEqual(overlapping.tiles.count, 4 * 2)  // x: 0..600 (+256 <= 1000), y: 0, 200
    let partial = TileGrid(levelWidth: 1000, levelHeight: 600, tileSize: 256, includePartial: true)
    XCTAssertEqual(partial.tiles.count, 4 * 3)
    XCTAssertEqual(partial.tiles.last?.width, 1000 - 768)
    XCTAssertEqual(TileGrid(levelWidth: 100, levelHeight: 100, tileSize: 256).tiles, [])
  }

  func testLevelForTargetMPP_neverUpsamples() {
    let mpps = [0.25, 0.5, 1.0, 4.0]
    XCTAssertEqual(TileGrid.levelFor(targetMPP: 0.5, levelMPPs: mpps, tileSize: 256)?.level, 1)
    XCTAssertEqual(TileGrid.levelFor(targetMPP: 0.5, levelMPPs: mpps, tileSize: 256)?.readSize, 256)
    XCTAssertEqual(TileGrid.levelFor(targetMPP: 2.0, levelMPPs: mpps, tileSize: 256)?.level, 2)
    XCTAssertEqual(TileGrid.levelFor(targetMPP: 2.0, levelMPPs: mpps, tileSize: 256)?.readSize, 512)  // 1.0 um/px read, halved
    XCTAssertNil(TileGrid.levelFor(targetMPP: 0.1, levelMPPs: mpps, tileSize: 256))
  }

  func testOtsu_separatesTwoModes() {
    let values = [UInt8](repeating: 30, count: 500) + [UInt8](repeating: 200, count: 300) + [40, 190, 35]
    let t = TissueDetector.otsu(values)
    XCTAssertGreaterThanOrEqual(t, 40)
    XCTAssertLessThan(t, 190)
  }

  /// White glass with a pink disc that has a small hole, and a pink speck elsewhere.
  static func syntheticSlide(size: Int = 200) -> Image {
    var px = [UInt8](repeating: 0, count: size * size * 3)
    for y in 0..<size {
      for x in 0..<size {
        let dx = Double(x - 80), dy = Double(y - 90)
        let inDisc = dx * dx + dy * dy < 50 * 50
        let inHole = abs(x - 80) < 3 && abs(y - 90) < 3
        let inSpeck = x == 180 && y == 20
        let tissue = (inDisc && !inHole) || inSpeck
        let v: [UInt8] = tissue ? [200, 110 + UInt8((x * 7 + y * 3) % 40), 170] : [242, 242, 240]
        for c in 0..<3 { px[(y * size + x) * 3 + c] = v[c] }
      }
    }
    return Image(width: size, height: size, channels: 3, samples: .uint8(px))
  }

  func testTissueDetector_findsTheDiscFillsItsHoleAndDropsSpecks() {
    let mask = TissueDetector().detect(Self.syntheticSlide())
    XCTAssertTrue(mask.values[90 * 200 + 80], "hole filled")
    XCTAssertFalse(mask.values[20 * 200 + 180], "speck removed")
    XCTAssertFalse(mask.values[5 * 200 + 5], "glass")
    XCTAssertEqual(mask.tissueFraction, Double.pi * 50 * 50 / 40_000, accuracy: 0.01)
    XCTAssertEqual(mask.fraction(x: 60, y: 70, width: 40, height: 40), 1, accuracy: 1e-9)
    XCTAssertEqual(mask.fraction(x: 150, y: 150, width: 40, height: 40), 0)
  }

  func testSlideTiler_onAMultiLevelSlide_keepsTissueTilesWritesCSVAndThumbnail() throws {
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-tile-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: tmp) }
    let base = Self.syntheticSlide(size: 256)  // scaled up 4x at level 0 (1024 x 1024)
    let levels = [1024, 512, 256].map { side in
      TIFFWriter.Level(width: side, height: side) { x, y, w, h in
        let f = 1024 / side
        return base.transformed(width: w, height: h) { xx, yy in (min(255, (x + xx) * f / 4), min(255, (y + yy) * f / 4)) }
      }
    }
    let slide = tmp.appendingPathComponent("slide.tif").path
    try TIFFWriter.write(levels: levels, to: slide, tileSize: 64, compression: .jpeg(quality: 90), mpp: 0.25)
    let reader = try TIFFReader(path: slide)
    XCTAssertEqual(reader.levels.map(\.width), [1024, 512, 256])
    XCTAssertEqual(reader.levels[1].mppX ?? 0, 0.5, accuracy: 1e-4)
    let out = tmp.appendingPathComponent("tiles").path
    let summary = try SlideTiler(tileSize: 64, targetMPP: 0.5, minTissue: 0.5).run(slide: slide, to: out)
    XCTAssertEqual(summary.level, 1)
    XCTAssertEqual(summary.candidates, 64)
    // The disc (radius 200 px at level 0, 100 at level 1) covers about 8 whole 64-px tiles at level 1.
    XCTAssertGreaterThan(summary.records.count, 4)
    XCTAssertLessThan(summary.records.count, 16)
    let csv = try String(contentsOfFile: out + "/tiles.csv", encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(csv.count, summary.records.count + 1)
    XCTAssertTrue(csv[0].hasPrefix("file,level,x,y,width,height,x0,y0,mpp,tissue_fraction"))
    let first = try ImageDecoder.decode(path: out + "/" + summary.records[0].file)
    XCTAssertEqual([first.width, first.height], [64, 64])
    XCTAssertTrue(FileManager.default.fileExists(atPath: summary.thumbnail))
    for r in summary.records { XCTAssertGreaterThanOrEqual(r.tissue, 0.5) }

    // A resolution no level serves says which of the two ways it fails: finer than every level,
    // or a tile so large in level pixels that the slide's or the flag's resolution must be off
    // (it used to say "no level is as fine as" for both).
    func refusal(_ tiler: SlideTiler) -> String {
      do { _ = try tiler.plan(slide: slide); return "planned" } catch { return "\(error)" }
    }
    XCTAssertTrue(refusal(SlideTiler(tileSize: 64, targetMPP: 0.1)).contains("no level is as fine as 0.1 um/px (the finest is 0.25"))
    let farTooCoarse = refusal(SlideTiler(tileSize: 64, targetMPP: 100_000))
    XCTAssertTrue(farTooCoarse.contains("would read 6400000.0 x 6400000.0 pixels of a 1.0 um/px level, more than the 1048576-pixel limit"), farTooCoarse)
    var wrongBase = SlideTiler(tileSize: 224, targetMPP: 100)
    wrongBase.baseMPP = 0.001
    XCTAssertTrue(refusal(wrongBase).contains("--base-mpp or its metadata) or --mpp is off"))

    // Non-square pixels (an OME description of 0.25 um across, 2.5 down): a level chosen by
    // X alone was cut at the wrong scale along Y in silence. Refused; a level by number reads.
    let anisotropic = URL(fileURLWithPath: slide).deletingLastPathComponent().appendingPathComponent("aniso.tif").path
    let level = TIFFWriter.Level(width: 512, height: 512) { _, _, w, h in Image(width: w, height: h, channels: 3, samples: .uint8([UInt8](repeating: 120, count: w * h * 3))) }
    let ome = #"<?xml version="1.0"?><OME><Image ID="Image:0"><Pixels PhysicalSizeX="0.25" PhysicalSizeY="2.5"><TiffData IFD="0"/></Pixels></Image></OME>"#
    try TIFFWriter.write(pages: [.level(level, description: ome)], to: anisotropic, tileSize: 256, compression: .deflate)
    let aniso = { (tiler: SlideTiler) -> String in do { _ = try tiler.plan(slide: anisotropic); return "planned" } catch { return "\(error)" } }
    XCTAssertTrue(aniso(SlideTiler(tileSize: 64, targetMPP: 0.5)).contains("its pixels are not square (0.2500 um/px across, 2.5000 down)"), aniso(SlideTiler(tileSize: 64, targetMPP: 0.5)))
    XCTAssertEqual(aniso(SlideTiler(tileSize: 64, level: 0)), "planned")
    // An overlap that reads each pixel hundreds of times is refused before the thumbnail; 7/8
    // of a tile (64 reads a pixel) still plans.
    XCTAssertTrue(aniso(SlideTiler(tileSize: 16, overlap: 15, level: 0)).contains("an overlap of 15 on 16-pixel tiles reads each pixel about 241 times (247009 tiles), more than 64"),
                  aniso(SlideTiler(tileSize: 16, overlap: 15, level: 0)))
    XCTAssertEqual(aniso(SlideTiler(tileSize: 64, overlap: 56, level: 0)), "planned")
  }

  /// A pyramid whose last level is 1 x 1 pixel: the thumbnail was made from it, one pixel of
  /// the whole slide, and a slide half tissue was "no tissue found". The smallest level of at
  /// least 64 pixels a side is read instead.
  func testATinyLastLevel_isNotTheTissueThumbnail() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-tiny-\(UUID().uuidString).tif").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    func level(_ size: Int) -> TIFFWriter.Level {
      TIFFWriter.Level(width: size, height: size) { x, _, w, h in
        var px = [UInt8](repeating: 240, count: w * h * 3)
        for i in 0..<(w * h) where x + i % w < size / 2 { px[3 * i] = 150; px[3 * i + 1] = 60; px[3 * i + 2] = 160 }
        return Image(width: w, height: h, channels: 3, samples: .uint8(px))
      }
    }
    try TIFFWriter.write(levels: [level(512), level(128), level(1)], to: path, tileSize: 16, compression: .deflate)
    let plan = try SlideTiler(tileSize: 64, level: 0, minTissue: 0.5).plan(slide: path)
    XCTAssertEqual(plan.thumbnail.level, 1, "the 128-pixel level")
    XCTAssertEqual(plan.records.count, 32, "the left half's 4 x 8 tiles of 64 pixels")
  }

  /// A one-level TIFF of 40,000 x 40,000 pixels whose 24,649 tiles all point at one stored
  /// tile (200 KB on disk): the tissue thumbnail would read 1.6 billion pixels. It is refused
  /// before anything is read, and a grid of too many tiles before the thumbnail.
  func testAHugeOneLevelSlide_isRefusedBeforeItsPixelsAreRead() throws {
    let side = 40_000, tile = 256, across = (side + tile - 1) / tile, count = across * across
    var bytes: [UInt8] = []
    func u16(_ v: Int) { bytes += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    func u32(_ v: Int) { u16(v & 0xFFFF); u16(v >> 16 & 0xFFFF) }
    let entries = 11, ifd = 8, bitsAt = ifd + 2 + entries * 12 + 4
    let offsetsAt = bitsAt + 6, countsAt = offsetsAt + 4 * count, tileAt = countsAt + 4 * count
    bytes += [0x49, 0x49]; u16(42); u32(ifd)
    u16(entries)
    func entry(_ tag: Int, _ type: Int, _ n: Int, _ value: Int) { u16(tag); u16(type); u32(n); if type == 3 && n == 1 { u16(value); u16(0) } else { u32(value) } }
    entry(256, 4, 1, side); entry(257, 4, 1, side); entry(258, 3, 3, bitsAt); entry(259, 3, 1, 1); entry(262, 3, 1, 2)
    entry(277, 3, 1, 3); entry(284, 3, 1, 1); entry(322, 4, 1, tile); entry(323, 4, 1, tile); entry(324, 4, count, offsetsAt); entry(325, 4, count, countsAt)
    u32(0)
    u16(8); u16(8); u16(8)
    for _ in 0..<count { u32(tileAt) }
    for _ in 0..<count { u32(tile * tile * 3) }
    bytes += [UInt8](repeating: 200, count: tile * tile * 3)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-huge-\(UUID().uuidString).tif").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
    XCTAssertEqual(try TIFFReader(path: path).levels.map(\.width), [side])
    XCTAssertThrowsError(try SlideTiler(tileSize: 224, minTissue: 0.5).plan(slide: path)) {
      XCTAssertTrue("\($0)".contains("smallest level is 40000 x 40000 pixels, more than the 1073741824 a tissue thumbnail reads"), "\($0)")
    }
    XCTAssertThrowsError(try SlideTiler(tileSize: 16, minTissue: 0.5).plan(slide: path)) {
      XCTAssertTrue("\($0)".contains("makes 6250000 tiles, more than 4000000"), "\($0)")
    }
  }
}
