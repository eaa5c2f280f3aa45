import DxEfficientNet
import DxNN
import DxTensor
import DxTestSupport
import Foundation
import XCTest

final class WeightsTests: XCTestCase {
  func tiny(classes: Int = 5, tf: Bool = false) -> EfficientNetConfig {
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = classes
    return tf ? c.tensorFlowConventions() : c
  }

  func testAnalyticParameterCount_equalsBuiltNetwork() throws {
    for config in [tiny(), tiny(tf: true), Variants.named("efficientnet_lite0")!, Variants.named("efficientnet_b2")!, Variants.compound(phi: 0.5)] {
      XCTAssertEqual(try config.parameterCount(), try EfficientNet(config).parameterCount, config.name)
    }
  }

  func testExportThenImport_roundTripsUnderEveryNaming() throws {
    let a = try EfficientNet(tiny(), seed: 1)
    let exported = a.exportPyTorchState()  // timm names, PyTorch layouts
    XCTAssertEqual(exported["conv_stem.weight"]?.shape, [8, 3, 3, 3])
    XCTAssertEqual(exported["blocks.1.0.conv_dw.weight"]?.shape, [48, 1, 3, 3])
    XCTAssertEqual(exported["classifier.weight"]?.shape, [5, 320])
    for naming in WeightNaming.allCases {
      var renamed: [String: Tensor] = [:]
      for (timmName, source) in a.sourceNames(for: naming) { renamed[source] = exported[timmName] }
      XCTAssertEqual(WeightNaming.detect(renamed.keys), naming)
      let b = try EfficientNet(tiny(), seed: 2)
      let report = try b.importPyTorchState(renamed)
      XCTAssertEqual(report.naming, naming)
      XCTAssertEqual(b.stateDict(), a.stateDict(), "\(naming)")
    }
    // DataParallel's `module.` prefix and int counters are tolerated.
    var wrapped = Dictionary(uniqueKeysWithValues: exported.map { ("module." + $0.key, $0.value) })
    wrapped["module.bn1.num_batches_tracked"] = Tensor(shape: [], scalars: [3])
    XCTAssertTrue(try EfficientNet(tiny(), seed: 3).importPyTorchState(wrapped).isClean)
  }

  func testImport_strictListsEveryProblemAndChangesNothing_nonStrictLoadsWhatFits() throws {
    let source = try EfficientNet(tiny(), seed: 1).exportPyTorchState()
    var broken = source
    broken["bn2.running_var"] = nil
    broken["extra.weight"] = Tensor.zeros([1])
    broken["conv_head.weight"] = Tensor.zeros([3, 3])
    let model = try EfficientNet(tiny(), seed: 2)
    let before = model.stateDict()
    XCTAssertThrowsError(try model.importPyTorchState(broken)) { error in
      guard case .mismatch(let r) = error as? WeightImportError else { return XCTFail("\(error)") }
      XCTAssertEqual(r.missing, ["bn2.running_var"])
      XCTAssertEqual(r.unexpected, ["extra.weight"])
      XCTAssertEqual(r.shapeMismatches.count, 1)
      XCTAssertTrue("\(error)".contains("conv_head.weight"))
    }
    XCTAssertEqual(model.stateDict(), before)
    let report = try model.importPyTorchState(broken, strict: false)
    XCTAssertFalse(report.isClean)
    XCTAssertEqual(model.stateDict()["conv_stem.weight"], try EfficientNet(tiny(), seed: 1).stateDict()["conv_stem.weight"])
    XCTAssertEqual(model.stateDict()["conv_head.weight"], before["conv_head.weight"])
    XCTAssertThrowsError(try model.importPyTorchState(["weird.key": Tensor.zeros([1])])) { XCTAssertTrue("\($0)".contains("weird.key")) }
  }

  func testImport_newClassCountKeepsBackboneAndFreshClassifier() throws {
    let source = try EfficientNet(tiny(classes: 5), seed: 1)
    let target = try EfficientNet(tiny(classes: 3), seed: 2)
    let freshClassifier = target.stateDict()["classifier.weight"]
    XCTAssertThrowsError(try target.importPyTorchState(source.exportPyTorchState()))
    let report = try target.importPyTorchState(source.exportPyTorchState(), replaceClassifier: true)
    XCTAssertTrue(report.classifierReplaced && report.isClean, "\(report)")
    XCTAssertEqual(target.stateDict()["classifier.weight"], freshClassifier)
    XCTAssertEqual(target.stateDict()["blocks.5.0.conv_dw.weight"], source.stateDict()["blocks.5.0.conv_dw.weight"])
  }

  func testCheckpoint_saveLoadRoundTripsArchitectureWeightsAndMetadata() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-\(UUID().uuidString).safetensors").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let model = try EfficientNet(tiny(tf: true), seed: 4)
    try model.save(to: path, metadata: ["classes": "a,b,c,d,e"])
    let (loaded, pre, meta) = try EfficientNet.load(from: path)
    XCTAssertEqual(loaded.config, model.config)
    XCTAssertEqual(loaded.stateDict(), model.stateDict())
    XCTAssertEqual(pre.resolution, 32)
    XCTAssertEqual(meta["classes"], "a,b,c,d,e")
    var rng = SeededGenerator(seed: 1)
    let x = Tensor.randomNormal([1, 32, 32, 3], using: &rng)
    XCTAssertEqual(loaded.forward(x, mode: .inference), model.forward(x, mode: .inference))
    // A plain safetensors file is not an EfficientDx checkpoint: say so.
    try SafeTensorsWriter.write(["w": Tensor.zeros([1])], to: path)
    XCTAssertThrowsError(try EfficientNet.load(from: path)) { XCTAssertTrue("\($0)".contains("import-weights"), "\($0)") }
  }

  func testWholeNetworkBackward_matchesFiniteDifferences() throws {
    var c = tiny()
    c.stages = ["ds_r1_k3_s1_e1_c16_se0.25", "ir_r1_k5_s2_e3_c24_se0.25", "ir_r2_k3_s1_e2_c24_se0.25"]
    c.headChannels = 32
    let model = try EfficientNet(c, seed: 9)
    var rng = SeededGenerator(seed: 10)
    for (_, p) in model.namedParameters() where p.kind == .trainable && p.value.rank == 1 {
      p.value = p.value + Tensor.randomNormal(p.value.shape, std: 0.2, using: &rng)  // non-trivial BN affine
    }
    GradientChecker(atol: 3e-3, samples: 6).check(model, input: Tensor.randomNormal([2, 11, 11, 3], using: &rng))
  }

}
