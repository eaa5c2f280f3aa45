import DxImaging
import DxTestSupport
import Foundation
import XCTest

/// Truncated, corrupt, hostile, huge and mislabelled files: each gives a typed error naming
/// the file, and a batch over all of them finishes.
final class BadFileTests: XCTestCase {
  let corpus = SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/images")
  var dir: URL!

  override func setUpWithError() throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-bad-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

  func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: corpus.appendingPathComponent(name))) }

  func write(_ name: String, _ b: [UInt8]) -> String {
    let p = dir.appendingPathComponent(name).path
    XCTAssertTrue(FileManager.default.createFile(atPath: p, contents: Data(b)), "cannot create a test file")
    return p
  }

  static func crc32(_ data: ArraySlice<UInt8>) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in data {
      c ^= UInt32(b)
      for _ in 0..<8 { c = (c >> 1) ^ (0xEDB8_8320 & (0 &- (c & 1))) }
    }
    return ~c
  }

  /// A PNG whose IHDR claims `width` x `height` (CRC fixed, so only the size is hostile).
  func pngClaiming(width: UInt32, height: UInt32) throws -> [UInt8] {
    var b = try bytes("rgb8.png")
    for (i, v) in [width, height].enumerated() { for k in 0..<4 { b[16 + 4 * i + k] = UInt8((v >> (24 - 8 * UInt32(k))) & 0xFF) } }
    let crc = Self.crc32(b[12..<29])
    for k in 0..<4 { b[29 + k] = UInt8((crc >> (24 - 8 * UInt32(k))) & 0xFF) }
    return b
  }

  /// A little-endian TIFF with one tag's value (SHORT or LONG, inline) replaced.
  func tiff(_ name: String, setting tags: [UInt16: UInt32]) throws -> [UInt8] {
    var b = try bytes(name)
    let ifd = Int(b[4]) | Int(b[5]) << 8 | Int(b[6]) << 16 | Int(b[7]) << 24
    let count = Int(b[ifd]) | Int(b[ifd + 1]) << 8
    for e in 0..<count {
      let o = ifd + 2 + 12 * e
      if let value = tags[UInt16(b[o]) | UInt16(b[o + 1]) << 8] {
        let type = Int(b[o + 2]) | Int(b[o + 3]) << 8
        if type == 3 { b[o + 8] = UInt8(value & 0xFF); b[o + 9] = UInt8((value >> 8) & 0xFF) } else { for k in 0..<4 { b[o + 8 + k] = UInt8((value >> (8 * UInt32(k))) & 0xFF) } }
      }
    }
    return b
  }

  func testEveryBadFile_givesATypedErrorNamingItAndTheBatchFinishes() throws {
    let rgbPNG = try bytes("rgb8.png"), tiled = try bytes("rgb8_tiles_deflate.tif"), jpeg = try bytes("rgb.jpg")
    var badOffset = try bytes("gray8_strips_none.tif")
    badOffset[4] = 0xF0; badOffset[5] = 0xFF; badOffset[6] = 0xFF; badOffset[7] = 0x00  // first IFD past the end
    let cases: [(String, [UInt8])] = [
      ("empty.png", []),
      ("truncated.png", Array(rgbPNG.prefix(rgbPNG.count / 2))),
      ("header-only.png", Array(rgbPNG.prefix(40))),
      ("truncated.tif", Array(tiled.prefix(tiled.count * 2 / 3))),
      ("bad-ifd-offset.tif", badOffset),
      ("truncated.jpg", Array(jpeg.prefix(jpeg.count / 2))),
      ("header-only.jpg", Array(jpeg.prefix(20))),
      ("zero-width.png", try pngClaiming(width: 0, height: 29)),
      ("million-squared.png", try pngClaiming(width: 1_000_000, height: 1_000_000)),
      ("million-squared.tif", try tiff("gray8_strips_none.tif", setting: [256: 1_000_000, 257: 1_000_000])),
      ("zero-height.tif", try tiff("gray8_strips_none.tif", setting: [257: 0])),
      ("text-named.png", Array("this is not an image".utf8)),
      ("random.tif", (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }),
      ("tiff-magic-only.tif", [0x49, 0x49, 0x2A, 0x00]),
    ]
    var failures: [ImageError] = []
    var decoded = 0
    for (name, content) in cases {
      let p = write(name, content)
      do {
        _ = try ImageDecoder.decode(path: p)
        decoded += 1
        XCTFail("\(name) decoded")
      } catch let e as ImageError {
        XCTAssertEqual(e.path, p, name)
        XCTAssertTrue(e.description.hasPrefix(p), e.description)
        failures.append(e)
      } catch {
        XCTFail("\(name): untyped error \(error)")
      }
    }
    XCTAssertEqual(failures.count, cases.count)
    XCTAssertEqual(decoded, 0)
    // The hostile sizes are refused before allocation, as too large.
    for e in failures where e.path.contains("million") {
      guard case .tooLarge = e else { return XCTFail("\(e)") }
    }
    XCTAssertThrowsError(try ImageDecoder.decode(path: dir.path)) { XCTAssertTrue("\($0)".contains("directory"), "\($0)") }
    XCTAssertThrowsError(try ImageDecoder.decode(path: dir.appendingPathComponent("absent.png").path)) { XCTAssertTrue("\($0)".contains("no such file"), "\($0)") }
  }

  /// A 341-byte PNG whose tEXt chunk claims 2^31 - 1 bytes: libpng allocated that much before
  /// finding the file short (2 GB and seconds). Text and other unused chunks are skipped now.
  func testAPNGChunkClaimingTwoGigabytes_isNotAllocated() throws {
    func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
      let tb = Array(type.utf8) + body
      let crc = tb.reduce(UInt32(0xFFFF_FFFF)) { c, b in (0..<8).reduce(c ^ UInt32(b)) { c, _ in c & 1 == 1 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 } } ^ 0xFFFF_FFFF
      func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
      return be(UInt32(body.count)) + tb + be(crc)
    }
    let ihdr = chunk("IHDR", [0, 0, 0, 4, 0, 0, 0, 4, 8, 2, 0, 0, 0])
    let bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + ihdr + [0x7F, 0xFF, 0xFF, 0xFF] + Array("tEXt".utf8) + [UInt8](repeating: 0x78, count: 300)
    let path = dir.appendingPathComponent("bigtext.png").path
    XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
    func peakKB() -> Int { var u = rusage(); getrusage(RUSAGE_SELF.rawValue, &u); return u.ru_maxrss }
    let before = peakKB()
    XCTAssertThrowsError(try ImageDecoder.decode(path: path)) { XCTAssertTrue("\($0)".contains(path), "\($0)") }
    XCTAssertLessThan(peakKB() - before, 100_000, "the chunk's claimed length was allocated")
  }

  func testFuzzerFindings_areTypedErrors() throws {
    // Found by Scripts/fuzz (TIFF): a header claiming a huge tile made the reader allocate 5.6 GB;
    // an RGB header with one sample per pixel made it read past a tile buffer; a 4-billion-square
    // size overflowed the pixel count.
    let dir = corpus.appendingPathComponent("fuzz")
    for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
      let p = dir.appendingPathComponent(name).path
      XCTAssertThrowsError(try ImageDecoder.decode(path: p, limits: ImageLimits(maxPixels: 4_000_000, maxTiffAllocation: 64 << 20)), name) {
        XCTAssertTrue($0 is ImageError, "\($0)")
      }
    }
  }

  func testLimits_areConfigurableAndRegionsOfLargeImagesStayReadable() throws {
    let small = ImageLimits(maxPixels: 500)
    let p = corpus.appendingPathComponent("rgb8_tiles_deflate.tif").path
    XCTAssertThrowsError(try ImageDecoder.decode(path: p, limits: small)) { guard case ImageError.tooLarge = $0 else { return XCTFail("\($0)") } }
    XCTAssertThrowsError(try ImageDecoder.decode(path: corpus.appendingPathComponent("rgb8.png").path, limits: small))
    XCTAssertThrowsError(try ImageDecoder.decode(path: corpus.appendingPathComponent("rgb.jpg").path, limits: small))
    let region = try TIFFReader(path: p, limits: small).readRegion(level: 0, x: 3, y: 4, width: 20, height: 20)
    XCTAssertEqual(region.width, 20)
    // A block larger than the allocation limit is named as a block, even for a 1-pixel region
    // (it was the whole-image limit's "read a region").
    let big = dir.appendingPathComponent("tiles256.tif").path
    let level = TIFFWriter.Level(width: 256, height: 256) { _, _, w, h in Image(width: w, height: h, channels: 3, samples: .uint8([UInt8](repeating: 9, count: w * h * 3))) }
    try TIFFWriter.write(levels: [level], to: big, tileSize: 256, compression: .deflate)
    XCTAssertThrowsError(try TIFFReader(path: big, limits: ImageLimits(maxTiffAllocation: 100_000)).readRegion(level: 0, x: 0, y: 0, width: 1, height: 1)) {
      XCTAssertTrue("\($0)".contains("level 0 is stored in tiles of 256 x 256 pixels") && "\($0)".contains("limit for one block"), "\($0)")
    }
  }

  /// A JPEG whose frame header claims 16 times its size in each direction: decoded scaled down
  /// (as diagnose decodes), the missing data was a grey fill and got a prediction. It is an
  /// error, scaled or not.
  func testAJPEGClaimingMorePixelsThanItHolds_isAnError() throws {
    var b = try bytes("rgb.jpg")
    guard let sof = (0..<(b.count - 9)).first(where: { b[$0] == 0xFF && (b[$0 + 1] == 0xC0 || b[$0 + 1] == 0xC2) }) else { return XCTFail("no SOF marker") }
    for at in [sof + 5, sof + 7] {  // height, then width, big-endian
      let v = (Int(b[at]) << 8 | Int(b[at + 1])) * 16
      (b[at], b[at + 1]) = (UInt8(v >> 8), UInt8(v & 0xFF))
    }
    for minShortSide in [nil, 32] as [Int?] {
      XCTAssertThrowsError(try JPEGCodec.decode(Data(b), path: "claims.jpg", minShortSide: minShortSide), "\(String(describing: minShortSide))") { error in
        XCTAssertTrue("\(error)".contains("truncated"), "\(error)")
      }
    }
    XCTAssertNoThrow(try JPEGCodec.decode(Data(try bytes("rgb.jpg")), path: "rgb.jpg", minShortSide: 32))
  }

  /// A progressive JPEG of thousands of empty scans (100 KB) is refused past libjpeg-turbo's
  /// 500 scans: decoding 10,000 of them over an 8192-pixel square took minutes.
  func testAJPEGOfThousandsOfScans_isRefused() throws {
    func segment(_ marker: UInt8, _ payload: [UInt8]) -> [UInt8] { [0xFF, marker, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)] + payload }
    var jpeg: [UInt8] = [0xFF, 0xD8]
    jpeg += segment(0xDB, [0] + [UInt8](repeating: 1, count: 64))
    jpeg += segment(0xC2, [8, 0x20, 0x00, 0x20, 0x00, 1, 1, 0x11, 0])  // 8192 x 8192, one component
    jpeg += segment(0xC4, [0x10, 1] + [UInt8](repeating: 0, count: 15) + [0])  // one 1-bit code: end of band
    let scan = segment(0xDA, [1, 1, 0, 1, 63, 0])
    for _ in 0..<600 { jpeg += scan }
    jpeg += [0xFF, 0xD9]
    let path = write("scans.jpg", jpeg)
    XCTAssertThrowsError(try ImageDecoder.decode(path: path)) { XCTAssertTrue("\($0)".contains("more than 500 scans") && "\($0)".contains(path), "\($0)") }
  }
}

/// `inspect` reads PNG and JPEG headers only: for every decodable file of the corpus, the
/// header's size, channels and depth are the decoded image's (palettes as RGB, transparency as
/// alpha, EXIF-rotated photos with their sides swapped).
final class HeaderTests: XCTestCase {
  func testHeaders_describeTheDecodedImage() throws {
    let corpus = SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/images")
    var checked = 0
    for name in try FileManager.default.contentsOfDirectory(atPath: corpus.path).sorted() {
      let path = corpus.appendingPathComponent(name).path
      guard let format = try? ImageFormat.detect(path: path), format == .png || format == .jpeg, let image = try? ImageDecoder.decode(path: path) else { continue }
      let data = try ImageDecoder.contents(path)
      if format == .png {
        let h = try PNGCodec.header(data, path: path)
        XCTAssertEqual([h.width, h.height, h.channels, h.bitDepth], [image.width, image.height, image.channels, image.bitDepth], name)
      } else {
        let h = try JPEGCodec.header(data, path: path)
        XCTAssertEqual([h.width, h.height, h.channels, 8], [image.width, image.height, image.channels, image.bitDepth], name)
      }
      checked += 1
    }
    XCTAssertGreaterThan(checked, 5, "PNGs and JPEGs of the corpus")
  }
}
