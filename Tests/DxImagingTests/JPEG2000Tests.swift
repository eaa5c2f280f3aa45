@testable import DxImaging
import DxTestSupport
import Foundation
import XCTest

/// JPEG 2000 slides: Aperio's 33003 (YCbCr) and 33005 (RGB) tiles read raw through libtiff and
/// decoded by OpenJPEG, on Aperio-layout files the tests write (levels, thumbnail, label,
/// macro, per-level MPP), and hostile codestreams refused with the tile named.
final class JPEG2000Tests: XCTestCase {
  var dir = ""

  override func setUpWithError() throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-j2k-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

  /// A smooth, tissue-like pattern (chroma subsampling keeps it within a few levels).
  static func smooth(_ x: Int, _ y: Int, _ w: Int, _ h: Int) -> Image {
    var px = [UInt8](repeating: 0, count: w * h * 3)
    for yy in 0..<h {
      for xx in 0..<w {
        let gx = Double(x + xx), gy = Double(y + yy)
        px[(yy * w + xx) * 3] = UInt8(150 + 60 * sin(gx / 97) * cos(gy / 61))
        px[(yy * w + xx) * 3 + 1] = UInt8(90 + 50 * sin((gx + gy) / 83))
        px[(yy * w + xx) * 3 + 2] = UInt8(170 + 40 * cos(gy / 71))
      }
    }
    return Image(width: w, height: h, channels: 3, samples: .uint8(px))
  }

  /// Noise, which only a lossless codec gives back exactly.
  static func noise(_ x: Int, _ y: Int, _ w: Int, _ h: Int) -> Image {
    var px = [UInt8](repeating: 0, count: w * h * 3)
    for yy in 0..<h { for xx in 0..<w { for c in 0..<3 {
      var v = UInt64(((y + yy) * 100_003 + (x + xx)) * 3 + c) &* 0x9E37_79B9_7F4A_7C15
      v ^= v >> 29
      px[(yy * w + xx) * 3 + c] = UInt8(truncatingIfNeeded: v)
    } } }
    return Image(width: w, height: h, channels: 3, samples: .uint8(px))
  }

  /// An SVS as an Aperio scanner lays it out: level 0, the thumbnail, two reduced levels, the
  /// label and the macro image.
  static func writeAperio(_ path: String, compression: TIFFWriter.Compression, source: @escaping (Int, Int, Int, Int) -> Image, width: Int = 1000, height: Int = 700, mpp: String = "0.5") throws {
    let header = "Aperio Image Library v12.0.15\r\n\(width)x\(height) [0,0 \(width)x\(height)] (240x240) J2K/KDU Q=30"
    func level(_ factor: Int) -> TIFFWriter.Level {
      TIFFWriter.Level(width: width / factor, height: height / factor) { x, y, w, h in
        // Each reduced level is level 0 sampled every `factor` pixels.
        let full = source(x * factor, y * factor, w * factor, h * factor)
        return full.resized(width: w, height: h, filter: .area)
      }
    }
    let thumb = smooth(0, 0, width / 8, height / 8)
    try TIFFWriter.write(pages: [
      .level(level(1), description: header + "|AppMag = 20|MPP = \(mpp)"),
      .stripped(thumb, description: "Aperio Image Library v12.0.15\r\n\(width)x\(height) -> \(width / 8)x\(height / 8) - |MPP = 0.5"),
      .level(level(2), description: "Aperio Image Library v12.0.15\r\n\(width)x\(height) -> \(width / 2)x\(height / 2) - |MPP = 0.5"),
      .level(level(4), description: "Aperio Image Library v12.0.15\r\n\(width)x\(height) -> \(width / 4)x\(height / 4) - |MPP = 0.5"),
      .stripped(noise(0, 0, 120, 90), description: "Aperio Image Library v12.0.15\nlabel 120x90", subfileType: 1),
      .stripped(smooth(0, 0, 300, 100), description: "Aperio Image Library v12.0.15\nmacro 300x100", subfileType: 9),
    ], to: path, tileSize: 240, compression: compression)
  }

  func pixels(_ image: Image) -> [UInt8] {
    guard case .uint8(let px) = image.rgb().eightBit().samples else { return [] }
    return px
  }

  func testLosslessRGB33005_readsBackExactly_withLevelsAssociatedImagesAndMPP() throws {
    let path = dir + "/rgb.svs"
    try Self.writeAperio(path, compression: .jpeg2000(ycbcr: false, rate: 0), source: Self.noise)
    let r = try TIFFReader(path: path)
    XCTAssertEqual(r.levels.map(\.width), [1000, 500, 250], "the thumbnail is not a level")
    XCTAssertEqual(r.levels.map(\.compression), ["jpeg2000", "jpeg2000", "jpeg2000"])
    XCTAssertEqual(r.associated.map(\.name), ["thumbnail", "label", "macro"])
    XCTAssertEqual(r.levels.map(\.mppX), [0.5, 1.0, 2.0], "each level's MPP is the base's times its downsample")
    XCTAssertEqual(r.mppSource, "aperio")
    // A region across four tiles, and the partial tiles at the right and bottom edges.
    for (x, y, w, h) in [(200, 200, 80, 80), (0, 0, 1000, 700), (950, 650, 50, 50)] {
      XCTAssertEqual(pixels(try r.readRegion(level: 0, x: x, y: y, width: w, height: h)), pixels(Self.noise(x, y, w, h)), "region \(x),\(y)")
    }
    XCTAssertEqual(pixels(try r.readAssociated("label")), pixels(Self.noise(0, 0, 120, 90)))
  }

  func testYCbCr33003_withHalvedChroma_isWithinAFewLevelsOfTheSource() throws {
    let path = dir + "/ycbcr.svs"
    try Self.writeAperio(path, compression: .jpeg2000(ycbcr: true, rate: 0), source: Self.smooth)
    let r = try TIFFReader(path: path)
    XCTAssertEqual(r.levels[0].compression, "jpeg2000-ycbcr")
    let got = pixels(try r.readRegion(level: 0, x: 100, y: 100, width: 500, height: 400))
    let want = pixels(Self.smooth(100, 100, 500, 400))
    // Lossless components; the loss is the 8-bit YCbCr round trip and the halved chroma of a
    // smooth image: at most 4 levels, 0.6 on average.
    let diffs = zip(got, want).map { abs(Int($0) - Int($1)) }
    XCTAssertLessThanOrEqual(diffs.max() ?? 99, 4)
    XCTAssertLessThan(Double(diffs.reduce(0, +)) / Double(diffs.count), 0.6)
    // The reduced levels decode too.
    XCTAssertEqual(try r.read(level: 2).width, 250)
  }

  func testLossyCodestreams_decodeCloseToTheSource() throws {
    let image = Self.smooth(0, 0, 240, 240)
    let codestream = try JPEG2000Codec.encode(image, rate: 20)
    XCTAssertLessThan(codestream.count, 240 * 240 * 3 / 10, "compressed about 20 times")
    let back = try JPEG2000Codec.decode(codestream, width: 240, height: 240, ycbcr: false)
    let diffs = zip(pixels(back), pixels(image)).map { abs(Int($0) - Int($1)) }
    XCTAssertLessThan(Double(diffs.reduce(0, +)) / Double(diffs.count), 2.0)
  }

  func testHostileCodestreams_areErrorsNamingTheTile() throws {
    let good = try JPEG2000Codec.encode(Self.noise(0, 0, 64, 64))
    // The header must describe the tile the TIFF says it is.
    XCTAssertThrowsError(try JPEG2000Codec.decode(good, width: 65, height: 64, ycbcr: false)) {
      XCTAssertTrue("\($0)".contains("codestream is 64 x 64, the tile is 65 x 64"), "\($0)")
    }
    // Truncated, garbage, empty, and bytes flipped all through the codestream: errors, never traps.
    // A JP2 file (boxes that could rewrite the components after the checks) is refused.
    XCTAssertThrowsError(try JPEG2000Codec.decode([0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A] + good, width: 64, height: 64, ycbcr: false)) {
      XCTAssertTrue("\($0)".contains("not a bare codestream"), "\($0)")
    }
    var cases: [[UInt8]] = [Array(good.prefix(good.count / 2)), Array(good.prefix(10)), [], [UInt8](repeating: 0xFF, count: 500)]
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<40 {
      var bad = good
      for _ in 0..<4 { bad[Int.random(in: 0..<bad.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
      cases.append(bad)
    }
    var errors = 0
    for bytes in cases {
      do { _ = try JPEG2000Codec.decode(bytes, width: 64, height: 64, ycbcr: false) } catch let e as ImageError {
        errors += 1
        XCTAssertTrue("\(e)".contains("JPEG 2000"), "\(e)")
      }
    }
    XCTAssertGreaterThanOrEqual(errors, 4, "at least the truncated, short, empty and garbage codestreams fail")

    // In a slide: a corrupt tile is an error naming the file and the tile; its neighbours read.
    let path = dir + "/corrupt.svs"
    try Self.writeAperio(path, compression: .jpeg2000(ycbcr: false, rate: 0), source: Self.noise, width: 480, height: 480)
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let first = try XCTUnwrap(firstCodestream(in: bytes))
    for i in first + 2..<first + 200 { bytes[i] = 0xFF }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let r = try TIFFReader(path: path)
    XCTAssertThrowsError(try r.readRegion(level: 0, x: 0, y: 0, width: 10, height: 10)) {
      XCTAssertTrue("\($0)".contains("corrupt.svs tile (0, 0)"), "\($0)")
    }
    XCTAssertEqual(pixels(try r.readRegion(level: 0, x: 240, y: 240, width: 240, height: 240)), pixels(Self.noise(240, 240, 240, 240)))
  }

  /// The offset of the first J2K start-of-codestream marker (FF 4F FF 51) in a file.
  func firstCodestream(in bytes: [UInt8]) -> Int? {
    for i in 0..<(bytes.count - 4) where bytes[i] == 0xFF && bytes[i + 1] == 0x4F && bytes[i + 2] == 0xFF && bytes[i + 3] == 0x51 { return i }
    return nil
  }
}
