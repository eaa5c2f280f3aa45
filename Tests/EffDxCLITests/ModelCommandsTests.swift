import DxNN
import DxTensor
import DxTestSupport
import Foundation
import XCTest

/// `effdx models`, `import-weights` and `forward`, end to end on real files.
final class ModelCommandsTests: XCTestCase {
  var tmp: URL!

  override func setUpWithError() throws {
    tmp = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

  func testModelsJSON_listsEveryVariantWithTimmParameterCounts() throws {
    let r = try EffDxRunner.run(["models", "--json"])
    XCTAssertEqual(r.status, 0, r.stderr)
    let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
    XCTAssertEqual(rows.count, 26)
    let byName = Dictionary(uniqueKeysWithValues: rows.map { ($0["name"] as! String, $0) })
    XCTAssertEqual(byName["efficientnet_b7"]?["params"] as? Int, 66_347_960)
    XCTAssertEqual(byName["tf_efficientnet_lite4"]?["params"] as? Int, 13_006_568)
    XCTAssertEqual(byName["efficientnet_b4"]?["resolution"] as? Int, 380)
    XCTAssertEqual(byName["efficientnet_b5"]?["dropout"] as? Double, 0.4)
    for row in rows { XCTAssertEqual(Set(row.keys), ["name", "params", "macs", "resolution", "dropout"]) }
    let table = try EffDxRunner.run(["models"])
    XCTAssertTrue(table.stdout.contains("tf_efficientnet_b3"))
  }

  func testImportThenForward_reproducesPyTorchLogits() throws {
    let fixtures = try SharedData.fixtures()
    let ckpt = tmp.appendingPathComponent("b0.safetensors").path
    let imported = try EffDxRunner.run([
      "import-weights", fixtures.appendingPathComponent("torchvision_efficientnet_b0.weights.safetensors").path,
      "--arch", "efficientnet_b0", "--out", ckpt,
    ])
    XCTAssertEqual(imported.status, 0, imported.stderr)
    XCTAssertTrue(imported.stdout.contains("naming: torchvision"), imported.stdout)
    XCTAssertTrue(imported.stdout.contains("10 classes"), imported.stdout)
    let meta = try SafeTensorsFile(path: ckpt).metadata
    XCTAssertTrue(meta["effdx.config"]?.contains("\"resolution\":224") ?? false)
    XCTAssertTrue(meta["effdx.preprocessing"]?.contains("\"cropPct\":0.875") ?? false)

    let io = fixtures.appendingPathComponent("torchvision_efficientnet_b0.io.safetensors").path
    let out = tmp.appendingPathComponent("out.safetensors").path
    let forward = try EffDxRunner.run(["forward", "--checkpoint", ckpt, "--input", io, "--tensor", "input_nhwc", "--out", out])
    XCTAssertEqual(forward.status, 0, forward.stderr)
    let result = try SafeTensorsFile(path: out), reference = try SafeTensorsFile(path: io)
    assertClose(try result.tensor("logits"), try reference.tensor("logits"), atol: 1e-3, rtol: 1e-3, "logits")
    assertClose(try result.tensor("pooled"), try reference.tensor("pooled"), atol: 1e-3, rtol: 1e-3, "pooled")
    // A non-finite input is refused by name, not run to meaningless logits.
    var nan = Tensor.zeros([1, 32, 32, 3])
    nan.scalars[5] = .nan
    let nanPath = tmp.appendingPathComponent("nan.safetensors").path
    try SafeTensorsWriter.write(["x": nan], metadata: [:], to: nanPath)
    let refused = try EffDxRunner.run(["forward", "--checkpoint", ckpt, "--input", nanPath, "--tensor", "x", "--out", tmp.appendingPathComponent("n.safetensors").path])
    XCTAssertEqual(refused.status, 64, refused.stderr)
    XCTAssertTrue(refused.stderr.contains("tensor 'x'") && refused.stderr.contains("at index 5"), refused.stderr)
  }

  func testImport_newClassCountReplacesClassifierAndStrictMismatchListsNames() throws {
    let pth = SharedData.repositoryRoot().appendingPathComponent("Tests/TestData/pth/timm_tiny.pth").path
    // The tiny network is not a named variant: importing it as B0 must fail strictly, by name.
    let strict = try EffDxRunner.run(["import-weights", pth, "--arch", "efficientnet_b0", "--out", tmp.appendingPathComponent("x.safetensors").path])
    XCTAssertNotEqual(strict.status, 0)
    XCTAssertTrue(strict.stderr.contains("conv_stem.weight"), strict.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("x.safetensors").path), "nothing written on failure")
    let loose = try EffDxRunner.run(["import-weights", pth, "--arch", "efficientnet_b0", "--non-strict", "--num-classes", "3", "--out", tmp.appendingPathComponent("y.safetensors").path])
    XCTAssertEqual(loose.status, 0, loose.stderr)
    XCTAssertTrue(loose.stdout.contains("classifier: replaced"), loose.stdout)
    XCTAssertTrue(loose.stdout.contains("wrong shape"), loose.stdout)
    XCTAssertTrue(loose.stdout.contains("3 classes"), loose.stdout)
    // Bad input: a typed, readable error and a non-zero exit, never a crash.
    let garbage = tmp.appendingPathComponent("garbage.pth").path
    XCTAssertTrue(FileManager.default.createFile(atPath: garbage, contents: Data(repeating: 7, count: 100)), "cannot create a test file")
    let bad = try EffDxRunner.run(["import-weights", garbage, "--arch", "efficientnet_b0", "--out", tmp.appendingPathComponent("z.safetensors").path])
    XCTAssertNotEqual(bad.status, 0)
    XCTAssertTrue(bad.stderr.contains(garbage), bad.stderr)
    let unknown = try EffDxRunner.run(["import-weights", pth, "--arch", "efficientnet_b9", "--out", "z"])
    XCTAssertTrue(unknown.stderr.contains("unknown --arch"), unknown.stderr)
  }
}
