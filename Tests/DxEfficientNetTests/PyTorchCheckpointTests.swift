import DxEfficientNet
import DxNN
import DxTensor
import DxTestSupport
import Foundation
import XCTest

/// The `.pth` reader on real `torch.save` files (Tests/TestData/pth, made by
/// Scripts/dev/make_pth_fixtures.py with torch 2.15) and on hostile ones.
final class PyTorchCheckpointTests: XCTestCase {
  let dir = SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/pth")
  func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

  func tinyConfig(tf: Bool) -> EfficientNetConfig {
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0.2)
    c.numClasses = 5
    return tf ? c.tensorFlowConventions() : c
  }

  /// What a checkpoint's floating-point tensors come to is checked from its header before any
  /// is decoded, in both archive formats; the budget that holds them reads them whole.
  func testDecodedSize_isCheckedBeforeDecoding() throws {
    for file in ["timm_tiny.pth", "efficientnet_pytorch_tiny_half_legacy.pth", "layouts.pth"] {
      let whole = try PyTorchCheckpoint(path: path(file))
      let bytes = whole.tensors.values.reduce(0) { $0 + 4 * $1.count }
      XCTAssertThrowsError(try PyTorchCheckpoint(path: path(file), maxDecodedBytes: bytes - 1), file) { error in
        XCTAssertTrue("\(error)".contains("its floating-point tensors hold \(bytes / 4) values"), "\(error)")
      }
      XCTAssertEqual(try PyTorchCheckpoint(path: path(file), maxDecodedBytes: bytes).tensors, whole.tensors, file)
    }
  }

  /// Imports a checkpoint and compares the logits PyTorch computed for the same input.
  func assertLogitsMatch(_ file: String, tf: Bool, naming: WeightNaming, reference: String, wrapper: String?) throws {
    let ckpt = try PyTorchCheckpoint(path: path(file))
    XCTAssertEqual(ckpt.wrapperKey, wrapper)
    XCTAssertTrue(ckpt.skipped.allSatisfy { $0.hasSuffix("num_batches_tracked") }, "\(ckpt.skipped)")
    XCTAssertFalse(ckpt.skipped.isEmpty, "integer counters are listed as skipped")
    let model = try EfficientNet(tinyConfig(tf: tf))
    let report = try model.importPyTorchState(ckpt.tensors)
    XCTAssertEqual(report.naming, naming)
    let refs = try SafeTensorsFile(path: path("reference_logits.safetensors"))
    let logits = model.forward(try refs.tensor("input_nhwc"), mode: .inference)
    assertClose(logits, try refs.tensor(reference), atol: 1e-4, rtol: 1e-3, file)
  }

  func testTimmStateDict_importsAndMatchesPyTorchLogits() throws {
    try assertLogitsMatch("timm_tiny.pth", tf: false, naming: .timm, reference: "timm.logits", wrapper: nil)
  }

  func testTorchvisionTrainingCheckpoint_unwrapsModelKeyAndMatches() throws {
    try assertLogitsMatch("torchvision_tiny_wrapped.pth", tf: false, naming: .torchvision, reference: "torchvision.logits", wrapper: "model")
  }

  func testEfficientNetPyTorchHalfPrecision_unwrapsStateDictKeyAndMatches() throws {
    try assertLogitsMatch("efficientnet_pytorch_tiny_half.pth", tf: true, naming: .efficientnetPyTorch, reference: "efficientnet_pytorch.logits", wrapper: "state_dict")
  }

  func testLegacyFormat_theFormatOfManyPublishedCheckpoints_importsAndMatches() throws {
    try assertLogitsMatch("efficientnet_pytorch_tiny_half_legacy.pth", tf: true, naming: .efficientnetPyTorch, reference: "efficientnet_pytorch.logits", wrapper: nil)
    XCTAssertThrowsError(try PyTorchCheckpoint(path: path("legacy_truncated.pth"))) { error in
      guard case .badArchive(let p, let reason) = error as? PyTorchCheckpointError else { return XCTFail("\(error)") }
      XCTAssertEqual(p, path("legacy_truncated.pth"))
      XCTAssertTrue(reason.contains("runs past the end") || reason.contains("truncated"), reason)
    }
  }

  func testStridedSharedAndOtherDtypes_decodeToContiguousFloat() throws {
    let t = try PyTorchCheckpoint(path: path("layouts.pth")).tensors
    XCTAssertEqual(t["transposed"]?.shape, [6, 4])
    XCTAssertEqual(t["transposed"]?.scalars.prefix(8).map { $0 }, [0, 6, 12, 18, 1, 7, 13, 19])  // base.t()
    XCTAssertEqual(t["view_a"]?.scalars, [2, 3, 4])
    XCTAssertEqual(t["view_b"]?.scalars, [5, 6, 7, 8])
    XCTAssertEqual(t["bf16"]?.scalars, [1, -3.5, 0.15625])
    XCTAssertEqual(t["f64"], Tensor(shape: [1, 2], scalars: [0.1, 0.2]))
    XCTAssertEqual(t["param"]?.scalars, [2, 4])
    XCTAssertEqual(t["scalar"], Tensor(shape: [], scalars: [3.25]))
  }

  func testMaliciousPickles_areRejectedAndNothingRuns() {
    let marker = "/tmp/effdx_pickle_pwned"
    try? FileManager.default.removeItem(atPath: marker)
    for file in ["malicious_os_system.pth", "malicious_eval.pth", "malicious_getattr.pth", "malicious_reduce_storage.pth", "malicious_ordereddict_args.pth"] {
      XCTAssertThrowsError(try PyTorchCheckpoint(path: path(file)), file) { error in
        guard case .unsafeOrMalformedPickle(let p, let reason) = error as? PyTorchCheckpointError else { return XCTFail("\(error)") }
        XCTAssertEqual(p, path(file))
        XCTAssertTrue(reason.contains("refusing") || reason.contains("OrderedDict with constructor arguments"), reason)
      }
    }
    XCTAssertThrowsError(try PyTorchCheckpoint(path: path("malicious_os_system.pth"))) { XCTAssertTrue("\($0)".contains("posix.system") || "\($0)".contains("os.system"), "\($0)") }
    XCTAssertThrowsError(try PyTorchCheckpoint(path: path("malicious_reduce_storage.pth"))) { XCTAssertTrue("\($0)".contains("refusing to call 'torch.FloatStorage'"), "\($0)") }
    XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "a payload ran")
  }

  func testLegacyTruncatedAndForeignFiles_giveTypedErrorsNamingTheFile() throws {
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-pth-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: tmp) }
    let whole = try Data(contentsOf: URL(fileURLWithPath: path("timm_tiny.pth")))
    let cases: [(String, Data)] = [("truncated.pth", whole.prefix(whole.count / 2)), ("empty.pth", Data()),
                                   ("text.pth", Data("not a checkpoint at all, just text".utf8)),
                                   ("tail-cut.pth", whole.prefix(whole.count - 10))]
    for (name, bytes) in cases {
      let p = tmp.appendingPathComponent(name).path
      XCTAssertTrue(FileManager.default.createFile(atPath: p, contents: bytes), "cannot create a test file")
      XCTAssertThrowsError(try PyTorchCheckpoint(path: p), name) { XCTAssertTrue("\($0)".contains(p), "\($0)") }
    }
    XCTAssertThrowsError(try PyTorchCheckpoint(path: tmp.appendingPathComponent("absent.pth").path))
  }

  func testMutatedPickles_neverCrash() throws {
    // Flip bytes of a real data.pkl in place (same length, so the archive stays valid) and
    // require a clean result or a typed error every time.
    let original = try Data(contentsOf: URL(fileURLWithPath: path("layouts.pth")))
    let bytes = [UInt8](original)
    guard let start = bytes.firstRange(of: Array("layouts/data.pkl".utf8))?.upperBound else { return XCTFail("no data.pkl") }
    let pickleStart = start + 64  // skip past the local header's extra field (64-byte alignment)
    var rng = SeededGenerator(seed: 99)
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-fuzz-\(UUID().uuidString).pth").path
    defer { try? FileManager.default.removeItem(atPath: tmp) }
    var typedErrors = 0
    for _ in 0..<300 {
      var mutated = bytes
      for _ in 0..<3 {
        let i = pickleStart + Int(rng.next() % 500)
        mutated[i] = UInt8(truncatingIfNeeded: rng.next())
      }
      XCTAssertTrue(FileManager.default.createFile(atPath: tmp, contents: Data(mutated)), "cannot create a test file")
      do { _ = try PyTorchCheckpoint(path: tmp) } catch is PyTorchCheckpointError { typedErrors += 1 }
    }
    XCTAssertGreaterThan(typedErrors, 0)
  }
}
