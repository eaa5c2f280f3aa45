import DxNN
import DxTensor
import DxTestSupport
import Foundation
import XCTest

final class SafeTensorsTests: XCTestCase {
  var dir: URL!

  override func setUpWithError() throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-st-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

  func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

  /// Writes a file from a raw JSON header and data bytes.
  func rawFile(_ name: String, header: String, data: [UInt8], claimedLength: UInt64? = nil) -> String {
    var bytes = [UInt8]()
    withUnsafeBytes(of: (claimedLength ?? UInt64(header.utf8.count)).littleEndian) { bytes.append(contentsOf: $0) }
    bytes.append(contentsOf: header.utf8)
    bytes.append(contentsOf: data)
    XCTAssertTrue(FileManager.default.createFile(atPath: path(name), contents: Data(bytes)), "cannot create a test file")
    return path(name)
  }

  func assertThrows(_ path: String, _ check: (SafeTensorsError) -> Bool, file: StaticString = #filePath, line: UInt = #line) {
    do {
      let f = try SafeTensorsFile(path: path)
      _ = try f.allTensors()
      XCTFail("expected an error for \(path)", file: file, line: line)
    } catch let error as SafeTensorsError {
      XCTAssertTrue(check(error), "unexpected error: \(error)", file: file, line: line)
      XCTAssertTrue(error.description.contains(path), "error must name the file: \(error)", file: file, line: line)
    } catch {
      XCTFail("untyped error \(error)", file: file, line: line)
    }
  }

  func testRoundTrip_keepsNamesShapesValuesAndMetadata() throws {
    var rng = SeededGenerator(seed: 8)
    let tensors = ["blocks.0.0.conv_dw.weight": Tensor.randomNormal([3, 3, 32], using: &rng),
                   "classifier.bias": Tensor.randomNormal([10], using: &rng),
                   "scalar": Tensor(shape: [], scalars: [2.5])]
    let p = path("model.safetensors")
    try SafeTensorsWriter.write(tensors, metadata: ["arch": "efficientnet_b0", "classes": "[\"a\",\"b\"]"], to: p)
    let f = try SafeTensorsFile(path: p)
    XCTAssertEqual(f.metadata, ["arch": "efficientnet_b0", "classes": "[\"a\",\"b\"]"])
    XCTAssertEqual(Set(f.names), Set(tensors.keys))
    for (name, t) in tensors { XCTAssertEqual(try f.tensor(name), t, name) }
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: p)).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } % 8, 0, "header padded to 8 bytes")
  }

  func testHalfAndBFloat16_areConvertedToFloat32() throws {
    // F16: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF, smallest subnormal 2^-24 = 0x0001.
    // BF16: 1.0 = 0x3F80, -3.5 = 0xC060. F64: 0.1.
    var data: [UInt8] = []
    for h: UInt16 in [0x3C00, 0xC000, 0x7BFF, 0x0001] { data += [UInt8(h & 0xFF), UInt8(h >> 8)] }
    for h: UInt16 in [0x3F80, 0xC060] { data += [UInt8(h & 0xFF), UInt8(h >> 8)] }
    withUnsafeBytes(of: (0.1 as Double).bitPattern.littleEndian) { data += $0 }
    let header = #"{"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},"d":{"dtype":"F64","shape":[1],"data_offsets":[12,20]}}"#
    let f = try SafeTensorsFile(path: rawFile("half.safetensors", header: header, data: data))
    XCTAssertEqual(try f.tensor("h").scalars, [1, -2, 65504, 0x1p-24])
    XCTAssertEqual(try f.tensor("b").scalars, [1, -3.5])
    XCTAssertEqual(try f.tensor("d").scalars, [0.1])
  }

  func testCorruptFiles_giveTypedErrorsNamingTheFile() {
    let ok = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
    // An empty header is not a JSON object.
    assertThrows(rawFile("empty-header", header: "", data: [1, 2, 3])) { if case .badHeader = $0 { return true }; return false }
    // Fewer than 8 bytes.
    XCTAssertTrue(FileManager.default.createFile(atPath: path("tiny"), contents: Data([1, 2, 3])), "cannot create a test file")
    assertThrows(path("tiny")) { if case .truncated = $0 { return true }; return false }
    // Header length beyond the end of the file.
    assertThrows(rawFile("trunc-header", header: ok, data: [0, 0, 0, 0, 0, 0, 0, 0], claimedLength: 4000)) { if case .truncated = $0 { return true }; return false }
    // Hostile header length.
    assertThrows(rawFile("huge-header", header: ok, data: [], claimedLength: UInt64(1) << 40)) { if case .badHeader = $0 { return true }; return false }
    // Data cut short: offsets point past the end.
    assertThrows(rawFile("trunc-data", header: ok, data: [0, 0, 0, 0])) { if case .offsetsOutOfRange = $0 { return true }; return false }
    // Not JSON, not an object, missing fields.
    assertThrows(rawFile("garbage", header: "{not json", data: [])) { if case .badHeader = $0 { return true }; return false }
    assertThrows(rawFile("array", header: "[1,2]", data: [])) { if case .badHeader = $0 { return true }; return false }
    assertThrows(rawFile("nofields", header: #"{"a":{"dtype":"F32"}}"#, data: [])) { if case .badHeader = $0 { return true }; return false }
    assertThrows(rawFile("baddtype", header: #"{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])) { if case .badHeader = $0 { return true }; return false }
    // Byte count inconsistent with the shape.
    assertThrows(rawFile("shape", header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))) { if case .offsetsOutOfRange = $0 { return true }; return false }
    // A shape or offset that is not a whole number written as one (`true`, `1.0`) is no size.
    for (name, header) in [("bool-shape", #"{"a":{"dtype":"F32","shape":[true,2],"data_offsets":[0,8]}}"#),
                           ("float-shape", #"{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#),
                           ("bool-offset", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[false,4]}}"#)] {
      assertThrows(rawFile(name, header: header, data: [UInt8](repeating: 0, count: 8))) { if case .badHeader = $0 { return true }; return false }
    }
    // Overlapping tensors.
    assertThrows(rawFile("overlap", header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: [UInt8](repeating: 0, count: 12))) { if case .overlappingTensors = $0 { return true }; return false }
    // A dtype the format knows but we do not convert: the file opens, reading that tensor fails.
    assertThrows(rawFile("int", header: #"{"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))) { if case .unsupportedDType(_, "n", "I64") = $0 { return true }; return false }
    // Missing file and directory.
    assertThrows(path("absent")) { if case .cannotOpen = $0 { return true }; return false }
    assertThrows(dir.path) { if case .cannotOpen = $0 { return true }; return false }
  }

  /// A name written twice: the JSON parser would keep one copy silently, so which weights (or
  /// which preprocessing) a checkpoint holds would depend on the parser. Equal after unescaping
  /// counts; the same key in two different objects does not.
  func testAKeyWrittenTwice_isRefusedNamingIt() throws {
    let twice = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
    assertThrows(rawFile("dup-tensor", header: twice, data: [UInt8](repeating: 0, count: 8))) { if case .badHeader(_, let r) = $0 { return r.contains("'a' appears twice") }; return false }
    let escaped = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
    assertThrows(rawFile("dup-escaped", header: escaped, data: [UInt8](repeating: 0, count: 8))) { if case .badHeader(_, let r) = $0 { return r.contains("'w' appears twice") }; return false }
    let meta = #"{"__metadata__":{"effdx.preprocessing":"{}","k":"v","effdx.preprocessing":"{\"x\":1}"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
    assertThrows(rawFile("dup-meta", header: meta, data: [0, 0, 0, 0])) { if case .badHeader(_, let r) = $0 { return r.contains("'effdx.preprocessing' appears twice") }; return false }
    // Equal keys in different objects, and a value equal to a key, are fine.
    let fine = #"{"__metadata__":{"dtype":"shape"},"dtype":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
    let f = try SafeTensorsFile(path: rawFile("fine", header: fine, data: [UInt8](repeating: 0, count: 8)))
    XCTAssertEqual(f.names, ["dtype", "b"])
    XCTAssertEqual(f.metadata, ["dtype": "shape"])
  }

  func testAtomicWrite_replacesWholeFileAndLeavesNoTemporaries() throws {
    let p = path("ckpt.safetensors")
    try SafeTensorsWriter.write(["w": Tensor(shape: [1], scalars: [1])], to: p)
    try SafeTensorsWriter.write(["w": Tensor(shape: [2], scalars: [2, 3])], to: p)
    XCTAssertEqual(try SafeTensorsFile(path: p).tensor("w").scalars, [2, 3])
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["ckpt.safetensors"])
    // A failed write (missing directory) is a typed error and leaves the good file alone.
    XCTAssertThrowsError(try SafeTensorsWriter.write(["w": Tensor(shape: [1], scalars: [9])], to: path("missing/dir/x.safetensors"))) {
      XCTAssertTrue("\($0)".contains("missing/dir/x.safetensors"))
    }
    XCTAssertEqual(try SafeTensorsFile(path: p).tensor("w").scalars, [2, 3])
  }

  func testReadsPyTorchWrittenFixture_whenSharedIsPresent() throws {
    let url = try SharedData.fixtures().appendingPathComponent("timm_efficientnet_b0.weights.safetensors")
    let f = try SafeTensorsFile(path: url.path)
    XCTAssertEqual(f.entries.count, 311)
    XCTAssertEqual(f.entries["conv_stem.weight"]?.shape, [32, 3, 3, 3])  // PyTorch OIHW
    XCTAssertTrue(try f.tensor("bn1.running_var").scalars.allSatisfy { $0 > 0 })
    let total = try f.names.reduce(0) { $0 + (try f.tensor($1)).count }
    XCTAssertEqual(total, f.entries.values.reduce(0) { $0 + ($1.end - $1.begin) / 4 })
  }

  /// A FIFO named like a checkpoint is refused at once (opening it to read would wait for a
  /// writer forever).
  func testAFIFO_isRefusedWithoutBlocking() {
    assertRefusesAFIFO("SafeTensorsFile") { _ = try SafeTensorsFile(path: $0) }
  }
}
