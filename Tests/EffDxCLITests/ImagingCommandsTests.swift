import DxImaging
import DxTestSupport
import Foundation
import XCTest

extension Image {
  /// A copy where each `block` x `block` square for which `isTissue` holds is taken from `stain`.
  func blockwise(_ block: Int, isTissue: (Int, Int) -> Bool, stain: Image) -> Image {
    guard case .uint8(var px) = samples, case .uint8(let st) = stain.samples else { return self }
    for by in stride(from: 0, to: height, by: block) {
      for bx in stride(from: 0, to: width, by: block) where isTissue(bx, by) {
        for y in by..<min(height, by + block) {
          for x in bx..<min(width, bx + block) { for c in 0..<3 { px[(y * width + x) * 3 + c] = st[(y * stain.width + x) * 3 + c] } }
        }
      }
    }
    return Image(width: width, height: height, channels: 3, samples: .uint8(px))
  }
}

/// `effdx inspect`, `convert` and `tile` as a user runs them, including a slide larger than
/// 20,000 x 20,000 pixels tiled in bounded memory.
final class ImagingCommandsTests: XCTestCase {
  var tmp: URL!
  let corpus = SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/images")

  override func setUpWithError() throws {
    tmp = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-imgcli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { if ProcessInfo.processInfo.environment["EFFDX_KEEP"] == nil { try? FileManager.default.removeItem(at: tmp) } }

  func testInspectAndConvert() throws {
    let inspect = try EffDxRunner.run(["inspect", "--json", corpus.appendingPathComponent("pyramid_subifds.tif").path, corpus.appendingPathComponent("gray16_adam7.png").path])
    XCTAssertEqual(inspect.status, 0, inspect.stderr)
    let infos = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as! [[String: Any]]
    XCTAssertEqual((infos[0]["levels"] as! [[String: Any]]).count, 3)
    XCTAssertEqual(infos[1]["bitDepth"] as? Int, 16)
    let out = tmp.appendingPathComponent("region.png").path
    let convert = try EffDxRunner.run(["convert", corpus.appendingPathComponent("rgb16_tiles_zstd.tif").path, "--region", "3,4,20,10", "--out", out])
    XCTAssertEqual(convert.status, 0, convert.stderr)
    let region = try ImageDecoder.decode(path: out)
    let whole = try ImageDecoder.decode(path: corpus.appendingPathComponent("rgb16_tiles_zstd.tif").path)
    XCTAssertEqual(region.bitDepth, 16, "16-bit sources stay 16-bit")
    XCTAssertEqual(region, whole.cropped(x: 3, y: 4, width: 20, height: 10))
    let garbage = tmp.appendingPathComponent("garbage.tif").path
    XCTAssertTrue(FileManager.default.createFile(atPath: garbage, contents: Data([0x49, 0x49, 0x2A, 0, 9, 9, 9, 9])), "cannot create a test file")
    let bad = try EffDxRunner.run(["convert", garbage, "--out", tmp.appendingPathComponent("x.png").path])
    XCTAssertNotEqual(bad.status, 0)
    XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, "one-line error: \(bad.stderr)")
    XCTAssertTrue(bad.stderr.contains(garbage))
  }

  /// --level, --mpp and --overlap on the corpus pyramid (96 x 64 at 0.5 um/px, then 48 x 32 and
  /// 24 x 16): the right level, the right grid, and tiles holding that level's pixels.
  func testTile_levelTargetResolutionAndOverlap() throws {
    let slide = corpus.appendingPathComponent("pyramid_subifds.tif").path
    let level1 = try TIFFReader(path: slide).read(level: 1)
    func tile(_ args: [String], _ name: String) throws -> [[String: String]] {
      let out = tmp.appendingPathComponent(name).path
      let r = try EffDxRunner.run(["tile", slide, "--tile", "16", "--min-tissue", "0", "--out", out] + args)
      XCTAssertEqual(r.status, 0, r.stderr)
      let lines = try String(contentsOfFile: out + "/tiles.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
      let rows = lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(lines[0], $0)) }
      for row in rows {  // every tile is that level's pixels at its coordinates
        let png = try ImageDecoder.decode(path: out + "/" + row["file"]!)
        XCTAssertEqual(png, level1.cropped(x: Int(row["x"]!)!, y: Int(row["y"]!)!, width: 16, height: 16), "\(name) \(row["file"]!)")
      }
      return rows
    }
    let byLevel = try tile(["--level", "1"], "level1")
    XCTAssertEqual(byLevel.count, 3 * 2, "48 x 32 in 16-pixel tiles")
    XCTAssertEqual(Set(byLevel.map { $0["level"]! }), ["1"])
    XCTAssertEqual(Set(byLevel.map { Int($0["x0"]!)! }), [0, 32, 64], "level-0 coordinates")
    let byMPP = try tile(["--mpp", "1.0"], "mpp1")
    XCTAssertEqual(byMPP.map { [$0["x"]!, $0["y"]!, $0["level"]!] }, byLevel.map { [$0["x"]!, $0["y"]!, $0["level"]!] }, "1.0 um/px is level 1")
    XCTAssertEqual(Set(byMPP.map { $0["mpp"]! }), ["1.0"])
    let overlapping = try tile(["--level", "1", "--overlap", "8"], "overlap")
    XCTAssertEqual(Set(overlapping.map { Int($0["x"]!)! }), [0, 8, 16, 24, 32], "stride 16 - 8")
    XCTAssertEqual(Set(overlapping.map { Int($0["y"]!)! }), [0, 8, 16])
  }

  func testTile_aSlideLargerThan20000SquareInBoundedMemory() throws {
    // 20,480 x 20,480 JPEG pyramid (6 levels) with tissue in a few discs, written tile by tile.
    let side = 20_480, tileSize = 256
    let discs: [(x: Double, y: Double, r: Double)] = [(0.3, 0.35, 0.09), (0.7, 0.6, 0.07)]
    func tissue(_ x: Double, _ y: Double) -> Bool { discs.contains { ($0.x - x) * ($0.x - x) + ($0.y - y) * ($0.y - y) < $0.r * $0.r } }
    let glass = Image(width: tileSize, height: tileSize, channels: 3, samples: .uint8([UInt8](repeating: 240, count: tileSize * tileSize * 3)))
    var stain = [UInt8](repeating: 0, count: tileSize * tileSize * 3)
    for i in 0..<(tileSize * tileSize) { stain[3 * i] = 190; stain[3 * i + 1] = UInt8(90 + (i * 7919) % 60); stain[3 * i + 2] = 160 }
    let tissueTile = Image(width: tileSize, height: tileSize, channels: 3, samples: .uint8(stain))
    let levels = (0..<6).map { k -> TIFFWriter.Level in
      let s = side >> k
      return TIFFWriter.Level(width: s, height: s) { x, y, w, h in
        if k < 3 {  // fine levels: one decision per tile (a tile is at most 1,024 level-0 pixels)
          let t = tissue((Double(x) + Double(w) / 2) / Double(s), (Double(y) + Double(h) / 2) / Double(s)) ? tissueTile : glass
          return w == tileSize && h == tileSize ? t : t.cropped(x: 0, y: 0, width: w, height: h)
        }
        // Coarse levels (what the thumbnail is made from): one decision per 8 x 8 block.
        return glass.cropped(x: 0, y: 0, width: w, height: h).blockwise(8, isTissue: { bx, by in
          tissue((Double(x + bx) + 4) / Double(s), (Double(y + by) + 4) / Double(s))
        }, stain: tissueTile)
      }
    }
    let slide = tmp.appendingPathComponent("big.tif").path
    try TIFFWriter.write(levels: levels, to: slide, tileSize: tileSize, compression: .jpeg(quality: 80), mpp: 0.25)
    let out = tmp.appendingPathComponent("tiles").path
    let r = try EffDxRunner.run(["tile", slide, "--tile", "256", "--min-tissue", "0.5", "--out", out])
    XCTAssertEqual(r.status, 0, r.stderr)
    // The command reports its own peak resident memory (getrusage), so other runs don't count.
    let peak = r.stdout.range(of: #"peak memory (\d+) MB"#, options: .regularExpression).map { String(r.stdout[$0]) }
    let peakMB = Double(peak?.split(separator: " ")[2] ?? "") ?? .infinity
    XCTAssertLessThan(peakMB, 500, "peak memory of effdx tile: \(r.stdout)")
    let rows = try String(contentsOfFile: out + "/tiles.csv", encoding: .utf8).split(separator: "\n").count - 1
    let expectedTiles = discs.reduce(0.0) { $0 + Double.pi * $1.r * $1.r } * Double(side * side) / Double(tileSize * tileSize)
    XCTAssertEqual(Double(rows), expectedTiles, accuracy: expectedTiles * 0.15, "tissue tiles kept")
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out + "/tiles").count, rows)
    XCTAssertTrue(r.stdout.contains("of 6400 tiles kept"), r.stdout)
    print(r.stdout)
    print("tiled \(rows) tissue tiles of 6400 from \(side) x \(side); peak RSS \(Int(peakMB)) MB")
  }
}
