import CDxKernels
@testable import DxTasks
import DxTestSupport
import Foundation
import XCTest

/// SHA-256 against FIPS 180-4's vectors and coreutils' `sha256sum`, through both compression
/// paths (the CPU's SHA extensions and the plain C rounds) and any way of feeding the bytes.
final class SHA256Tests: XCTestCase {
  private func digest(_ data: Data, extensions: Bool, pieces: [Int] = []) -> String {
    var hasher = SHA256.Hasher(allowExtensions: extensions)
    var at = 0
    for n in pieces where at < data.count {
      let end = min(data.count, at + n)
      hasher.update(data[at..<end])
      at = end
    }
    hasher.update(data[at...])
    return hasher.finalizeHex()
  }

  func testStandardVectors_onBothPaths() {
    let vectors: [(String, String)] = [
      ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
      ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
      ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
      (String(repeating: "a", count: 1000), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"),
      (String(repeating: "a", count: 1_000_000), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
    ]
    for (text, expected) in vectors {
      for extensions in [true, false] {
        XCTAssertEqual(digest(Data(text.utf8), extensions: extensions), expected, "\(text.prefix(10))... (\(text.count) bytes), extensions \(extensions)")
      }
    }
    XCTAssertEqual(SHA256.hex(Data("abc".utf8)), vectors[0].1)
    if dx_sha256_has_extensions() == 0 { print("note: this CPU has no SHA extensions; both runs took the plain C rounds") }
  }

  /// Pieces that split blocks anywhere (1 byte, 63, 64, 65, ...) give the whole file's digest,
  /// and that digest is coreutils' for the same file on disk.
  func testPiecesAndCoreutils_agreeOnRandomBytes() throws {
    var rng = SystemRandomNumberGenerator()
    let data = Data((0..<300_001).map { _ in UInt8.random(in: 0...255, using: &rng) })
    let whole = digest(data, extensions: true)
    XCTAssertEqual(digest(data, extensions: false), whole)
    for pieces in [[1, 63, 64, 65, 127, 128, 129], [4096, 1, 4095], [55, 56, 57, 200_000]] {
      XCTAssertEqual(digest(data, extensions: true, pieces: pieces), whole, "pieces \(pieces)")
      XCTAssertEqual(digest(data, extensions: false, pieces: pieces), whole, "pieces \(pieces), plain C")
    }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("bytes.bin").path
    try data.write(to: URL(fileURLWithPath: file))
    XCTAssertEqual(try DiagnosisMeta.sha256(ofFile: file), whole)
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/sha256sum") else { return print("note: no /usr/bin/sha256sum; coreutils comparison skipped") }
    let text = try standardOutput(of: "/usr/bin/sha256sum", [file])
    XCTAssertEqual(text.split(separator: " ").first.map(String.init), whole)
  }

  /// A file's digest refuses a FIFO at once instead of waiting for a writer.
  func testTheDigestOfAFIFO_isRefusedWithoutBlocking() {
    assertRefusesAFIFO("sha256(ofFile:)") { _ = try DiagnosisMeta.sha256(ofFile: $0) }
  }
}
