import CDxTestSupport
import DxCSV
import DxEfficientNet
import DxImaging
import DxTestSupport
import Foundation
import XCTest

/// Slides as labs send them: a real Aperio scan, a slide without microns per pixel, a slide with
/// a corrupt tile, a Hamamatsu VMS read through OpenSlide, and vendor files nothing can read.
final class VendorSlideTests: XCTestCase {
  var dir: String!

  override func setUpWithError() throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-vendor-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 2
    try EfficientNet(c, seed: 1).save(to: dir + "/m.safetensors", preprocessing: Preprocessing(resolution: 32),
                                      metadata: ["classes": "[\"stroma\",\"tumor\"]", "task": "histopathology"])
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

  /// A two-level pyramid of textured tissue on white, `mpp` nil for a slide that records none.
  func slide(_ name: String, mpp: Double?, compression: TIFFWriter.Compression = .deflate, sides: [Int] = [512, 256]) throws -> String {
    let levels = sides.map { side in
      TIFFWriter.Level(width: side, height: side) { x0, y0, w, h in
        var px = [UInt8](repeating: 245, count: w * h * 3)
        for y in 0..<h {
          for x in 0..<w {
            let gx: Int = (x0 + x) * 512 / side, gy: Int = (y0 + y) * 512 / side
            guard gx > 100, gy > 100 else { continue }
            let mix: Int = ((x0 + x) * 7) ^ ((y0 + y) * 13)
            let v = UInt8(mix % 60)
            let i = (y * w + x) * 3
            px[i] = 150 + v
            px[i + 1] = 60 + v
            px[i + 2] = 140 + v
          }
        }
        return Image(width: w, height: h, channels: 3, samples: .uint8(px))
      }
    }
    let path = dir + "/\(name).tif"
    // One level: an Aperio scan of one level (its description names the MPP), which diagnose
    // tiles as a slide rather than decoding whole like a photo.
    let description = sides.count == 1 ? mpp.map { "Aperio Image Library v12.0.15\n\(sides[0])x\(sides[0]) (64x64) JPEG/RGB Q=70|AppMag = 20|MPP = \($0)" } : nil
    try TIFFWriter.write(pages: levels.map { .level($0, description: description) }, to: path, tileSize: 64, compression: compression, mpp: mpp)
    return path
  }

  func diagnose(_ inputs: [String], out: String, _ extra: [String] = [], environment: [String: String] = [:]) throws -> EffDxRunner.Result {
    var args: [String] = ["diagnose", "--checkpoint", dir + "/m.safetensors", "--input"]
    args += inputs
    args += ["--out", dir + "/" + out]
    args += extra
    return try EffDxRunner.run(args, environment: environment)
  }

  func testTheRealAperioScan_isDiagnosedAsASlide_andItsAssociatedImagesListed() throws {
    let svs = try SharedData.fixtures().appendingPathComponent("slides/cmu_small_region.svs").path
    guard FileManager.default.fileExists(atPath: svs) else { throw XCTSkip("\(svs) not found") }
    let inspect = try EffDxRunner.run(["inspect", "--json", svs])
    XCTAssertEqual(inspect.status, 0, inspect.stderr)
    let info = (try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [[String: Any]])?.first
    XCTAssertEqual((info?["levels"] as? [Any])?.count, 1)
    XCTAssertEqual((info?["associated"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["thumbnail", "label", "macro"])
    let label = try EffDxRunner.run(["convert", svs, "--associated", "label", "--out", dir + "/label.png"])
    XCTAssertEqual(label.status, 0, label.stderr)
    XCTAssertEqual(try ImageDecoder.decode(path: dir + "/label.png").width, 387)
    let r = try diagnose([svs], out: "svs.csv", ["--heatmaps", dir + "/maps", "--tile-size", "64"])
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertTrue(r.stdout.contains("1 diagnosed"), r.stdout)
    XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/maps/cmu_small_region_heatmap.png"))
  }

  func testASlideWithoutMPP_isAnErrorNamingTheWaysOut_thenDiagnosedWithEither() throws {
    let bare = try slide("bare", mpp: nil)
    let refused = try diagnose([bare], out: "a.csv")
    XCTAssertEqual(refused.status, 3, refused.stderr)
    let errors = try String(contentsOfFile: dir + "/a.errors.csv", encoding: .utf8)
    XCTAssertTrue(errors.contains("no microns per pixel") && errors.contains("--base-mpp") && errors.contains("--level"), errors)
    let withBase = try diagnose([bare], out: "b.csv", ["--base-mpp", "0.25"])
    XCTAssertEqual(withBase.status, 0, withBase.stderr)
    let atLevel = try diagnose([bare], out: "c.csv", ["--level", "1"])
    XCTAssertEqual(atLevel.status, 0, atLevel.stderr)
    XCTAssertNotEqual(try diagnose([bare], out: "d.csv", ["--base-mpp", "-1"]).status, 0, "--base-mpp is checked")
  }

  /// On a pyramid and on a one-level slide (whose overview for tissue detection is level 0
  /// itself, corrupt tile included).
  func testACorruptTile_isListed_andTheSlideIsDiagnosedFromTheOthers() throws {
    for sides in [[512, 256], [512]] {
      try corruptTileCase(sides: sides)
    }
  }

  func corruptTileCase(sides: [Int]) throws {
    let name = "cut\(sides.count)"
    let path = try slide(name, mpp: 0.5, sides: sides)
    // Overwrite one tile of level 0 (found through its TileOffsets and TileByteCounts) with bytes
    // that are no deflate stream.
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
    func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
    XCTAssertEqual(bytes[0], 0x49, "a little-endian classic TIFF")
    let ifd = u32(4)
    var offsets = 0, counts = 0, n = 0
    for e in 0..<u16(ifd) {
      let entry = ifd + 2 + 12 * e
      if u16(entry) == 324 { n = u32(entry + 4); offsets = u32(entry + 8) }
      if u16(entry) == 325 { counts = u32(entry + 8) }
    }
    XCTAssertGreaterThan(n, 20)
    let victim = 27  // inside the tissue (8 x 8 tiles of 64 px; tissue from x, y > 100)
    let start = u32(offsets + 4 * victim), length = u32(counts + 4 * victim)
    for i in start..<(start + length) { bytes[i] = 0xFF }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let r = try diagnose([path], out: "\(name).csv", ["--mpp", "0.5", "--tile-size", "64", "--min-tissue", "0", "--heatmaps", dir + "/maps\(name)"])
    XCTAssertEqual(r.status, 3, "a tile failed: \(r.stderr)")
    XCTAssertTrue(r.stderr.contains("1 of 64 tissue tiles could not be read"), r.stderr)
    // The slide's tiles CSV lists the failed tile with its error, the others with probabilities.
    let tileRows = CSV.records(try String(contentsOfFile: dir + "/maps\(name)/\(name)_tiles.csv", encoding: .utf8))
    XCTAssertEqual(tileRows.first?.fields.last, "error")
    let failedRows = tileRows.dropFirst().filter { !($0.fields.last ?? "").isEmpty }
    XCTAssertEqual(failedRows.count, 1)
    XCTAssertEqual(failedRows.first?.fields[4], "", "no prediction for it")
    XCTAssertEqual(tileRows.count, 65)
    // `effdx tile` writes the other tiles, warns, and exits 3.
    let cut = try EffDxRunner.run(["tile", path, "--tile-size", "64", "--level", "0", "--min-tissue", "0", "--out", dir + "/tiles\(name)"])
    XCTAssertEqual(cut.status, 3, cut.stderr)
    XCTAssertTrue(cut.stderr.contains("left out"), cut.stderr)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/tiles\(name)/tiles").count, 63)
    let rows = CSV.records(try String(contentsOfFile: dir + "/\(name).csv", encoding: .utf8))
    XCTAssertEqual(rows.count, 2, "the slide is diagnosed")
    let errors = CSV.records(try String(contentsOfFile: dir + "/\(name).errors.csv", encoding: .utf8)).dropFirst()
    XCTAssertFalse(errors.isEmpty)
    XCTAssertTrue(errors.allSatisfy { $0.fields[0].contains(" tile x=") }, "\(errors.map(\.fields))")
  }

  func testAFolderOfVendorSlides_diagnosesWhatOpenSlideReads_andNamesWhatNothingReads() throws {
    let folder = dir + "/scans"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let (w, h) = (384, 256)
    var px = [UInt8](repeating: 0, count: w * h * 3)
    for i in 0..<(w * h) { px[3 * i] = UInt8(150 + (i % 37)); px[3 * i + 1] = UInt8(70 + (i / w) % 29); px[3 * i + 2] = 160 }
    XCTAssertEqual(dxt_write_vms(folder, "field", px, Int32(w), Int32(h), 0.5), 0)
    // A truncated NDPI (a TIFF header and nothing more) and a CZI, which OpenSlide does not read.
    try Data([0x49, 0x49, 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00]).write(to: URL(fileURLWithPath: folder + "/cut.ndpi"))
    try Data("ZISRAWFILE".utf8).write(to: URL(fileURLWithPath: folder + "/zeiss.czi"))
    let inspect = try EffDxRunner.run(["inspect", folder + "/field.vms"])
    XCTAssertEqual(inspect.status, 0, inspect.stderr)
    XCTAssertTrue(inspect.stdout.contains("openslide (hamamatsu)") && inspect.stdout.contains("0.5000 um/px"), inspect.stdout)
    let r = try diagnose([folder], out: "v.csv", ["--level", "0", "--tile-size", "64", "--min-tissue", "0"])
    XCTAssertEqual(r.status, 3, "two inputs failed: \(r.stderr)")
    let rows = CSV.records(try String(contentsOfFile: dir + "/v.csv", encoding: .utf8)).dropFirst()
    XCTAssertEqual(rows.map { ($0.fields[0] as NSString).lastPathComponent }, ["field.vms"], "the VMS slide is diagnosed, its JPEG is not an input of its own")
    let errors = CSV.records(try String(contentsOfFile: dir + "/v.errors.csv", encoding: .utf8)).dropFirst()
    let byFile = Dictionary(errors.map { (($0.fields[0] as NSString).lastPathComponent, $0.fields.joined(separator: " ")) }, uniquingKeysWith: { a, _ in a })
    XCTAssertTrue(byFile["cut.ndpi"]?.contains("Hamamatsu NDPI") == true, "\(byFile)")
    XCTAssertTrue(byFile["zeiss.czi"]?.contains("Zeiss CZI") == true, "\(byFile)")
  }

  /// `EFFDX_OPENSLIDE_LIBRARY` names the OpenSlide library to load. One that cannot be loaded
  /// (OpenSlide "not installed") or is not OpenSlide is named in every vendor slide's error
  /// while the TIFF slide beside it is diagnosed; the real library named there reads the slide.
  func testTheOpenSlideLibrary_canBeNamed_andOneThatCannotLoadIsAnErrorRow() throws {
    let folder = dir + "/scans"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let (w, h) = (128, 128)
    let px = [UInt8]((0..<(w * h * 3)).map { UInt8(truncatingIfNeeded: 120 + $0 % 41) })
    XCTAssertEqual(dxt_write_vms(folder, "field", px, Int32(w), Int32(h), 0.5), 0)
    let tiff = try slide("tissue", mpp: 0.5)
    try FileManager.default.moveItem(atPath: tiff, toPath: folder + "/tissue.tif")
    let missing = dir + "/nowhere/libopenslide.so.1"
    let env = ["EFFDX_OPENSLIDE_LIBRARY": missing]
    let inspect = try EffDxRunner.run(["inspect", folder + "/field.vms"], environment: env)
    XCTAssertNotEqual(inspect.status, 0)
    XCTAssertTrue(inspect.stdout.contains("a Hamamatsu VMS slide by its name, and OpenSlide could not be loaded from EFFDX_OPENSLIDE_LIBRARY=\(missing)"), inspect.stdout)
    let r = try diagnose([folder], out: "o.csv", ["--level", "0", "--tile-size", "64", "--min-tissue", "0"], environment: env)
    XCTAssertEqual(r.status, 3, "one input failed: \(r.stderr)")
    let rows = CSV.records(try String(contentsOfFile: dir + "/o.csv", encoding: .utf8)).dropFirst()
    XCTAssertEqual(rows.map { ($0.fields[0] as NSString).lastPathComponent }, ["tissue.tif"], "the TIFF slide needs no OpenSlide")
    let errors = CSV.records(try String(contentsOfFile: dir + "/o.errors.csv", encoding: .utf8)).dropFirst()
    XCTAssertEqual(errors.map { ($0.fields[0] as NSString).lastPathComponent }, ["field.vms"])
    XCTAssertTrue(errors.first?.fields.joined().contains("EFFDX_OPENSLIDE_LIBRARY=\(missing)") == true, "\(errors.map(\.fields))")
    // A library that loads but is not OpenSlide, then the real one named explicitly.
    let libraries = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"]
    func library(_ names: [String]) -> String? {
      libraries.flatMap { d in names.map { d + "/" + $0 } }.first { FileManager.default.fileExists(atPath: $0) }
    }
    if let zlib = library(["libz.so.1"]) {
      let notOpenSlide = try EffDxRunner.run(["inspect", folder + "/field.vms"], environment: ["EFFDX_OPENSLIDE_LIBRARY": zlib])
      XCTAssertNotEqual(notOpenSlide.status, 0)
      XCTAssertTrue(notOpenSlide.stdout.contains("\(zlib) has no openslide_"), notOpenSlide.stdout)
    }
    let real = try XCTUnwrap(library(["libopenslide.so.0", "libopenslide.so.1"]), "the README's set-up installs libopenslide0")
    let named = try EffDxRunner.run(["inspect", folder + "/field.vms"], environment: ["EFFDX_OPENSLIDE_LIBRARY": real])
    XCTAssertEqual(named.status, 0, named.stderr)
    XCTAssertTrue(named.stdout.contains("openslide (hamamatsu)"), named.stdout)
  }
}
