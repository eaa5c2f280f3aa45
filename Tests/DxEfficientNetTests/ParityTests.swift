import DxEfficientNet
import DxNN
import DxTensor
import DxTestSupport
import Foundation
import XCTest

/// EfficientNet against PyTorch reference outputs in `../shared/fixtures` (made by
/// `shared/tools/make_parity_fixtures.py` with torch 2.15, timm 1.0.31, torchvision 0.29).
/// Stages are compared first, so the first failure says where a mismatch starts. Tolerances
/// come from the fixtures' manifest.
final class ParityTests: XCTestCase {
  struct Fixture {
    var weights: [String: Tensor]
    var io: SafeTensorsFile
    var atol: Float, rtol: Float
    var numClasses: Int
  }

  func fixture(_ name: String) throws -> Fixture {
    let dir = try SharedData.fixtures()
    let manifestURL = dir.appendingPathComponent("manifest.json")
    guard FileManager.default.fileExists(atPath: manifestURL.path) else { throw XCTSkip("no manifest.json in \(dir.path)") }
    let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as! [String: Any]
    let entry = try XCTUnwrap(manifest[name] as? [String: Any], "\(name) missing from manifest")
    let tol = try XCTUnwrap(entry["tolerance"] as? [String: Double])
    return Fixture(
      weights: try SafeTensorsFile(path: dir.appendingPathComponent("\(name).weights.safetensors").path).allTensors(),
      io: try SafeTensorsFile(path: dir.appendingPathComponent("\(name).io.safetensors").path),
      atol: Float(tol["abs"]!), rtol: Float(tol["rel"]!), numClasses: entry["num_classes"] as! Int)
  }

  func checkInference(_ fixtureName: String, variant: String, naming: WeightNaming, stages: Bool) throws {
    let f = try fixture(fixtureName)
    var config = try XCTUnwrap(Variants.named(variant))
    config.numClasses = f.numClasses
    let model = try EfficientNet(config)
    let report = try model.importPyTorchState(f.weights, naming: naming)
    XCTAssertTrue(report.isClean, "\(report)")
    let x = try f.io.tensor("input_nhwc")
    if stages {
      let first = Tensor(shape: [1] + Array(x.shape.dropFirst()), scalars: Array(x.scalars.prefix(x.count / x.shape[0])))
      let outputs = model.stageOutputs(first)
      for name in ["stem"] + (0..<7).map({ "stage\($0)" }) {
        assertClose(try XCTUnwrap(outputs[name]), try f.io.tensor(name), atol: f.atol, rtol: f.rtol, "\(fixtureName) \(name)")
      }
    }
    let features = model.forwardFeatures(x, mode: .inference)
    assertClose(model.forwardHead(features, mode: .inference, preLogits: true), try f.io.tensor("pooled"), atol: f.atol, rtol: f.rtol, "\(fixtureName) pooled")
    assertClose(model.forwardHead(features, mode: .inference), try f.io.tensor("logits"), atol: f.atol, rtol: f.rtol, "\(fixtureName) logits")
    // The folded, fused inference network (what diagnosis runs) against PyTorch as well.
    let folded = FoldedEfficientNet(model)
    assertClose(folded.pooledFeatures(x), try f.io.tensor("pooled"), atol: f.atol, rtol: f.rtol, "\(fixtureName) folded pooled")
    assertClose(folded.forward(x), try f.io.tensor("logits"), atol: f.atol, rtol: f.rtol, "\(fixtureName) folded logits")
    // One image alone takes batch 1's paths (columns split over the cores, SE's gate split).
    let logits = try f.io.tensor("logits")
    let one = Tensor(shape: [1] + Array(x.shape.dropFirst()), scalars: Array(x.scalars.prefix(x.count / x.shape[0])))
    let firstLogits = Tensor(shape: [1, logits.shape[1]], scalars: Array(logits.scalars.prefix(logits.shape[1])))
    assertClose(folded.forward(one), firstLogits, atol: f.atol, rtol: f.rtol, "\(fixtureName) folded logits, one image")
  }

  func testTimmEfficientNetB0_matchesPyTorch() throws {
    try checkInference("timm_efficientnet_b0", variant: "efficientnet_b0", naming: .timm, stages: true)
  }

  func testTimmTFEfficientNetB1_samePaddingMatchesPyTorch() throws {
    try checkInference("timm_tf_efficientnet_b1", variant: "tf_efficientnet_b1", naming: .timm, stages: true)
  }

  func testTorchvisionEfficientNetB0_matchesPyTorch() throws {
    try checkInference("torchvision_efficientnet_b0", variant: "efficientnet_b0", naming: .torchvision, stages: false)
  }

  func testTimmTinyTraining_twoSGDStepsMatchLossGradientsAndState() throws {
    let f = try fixture("timm_tiny_train")
    let config = EfficientNetConfig(
      name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 64, dropRate: 0)
    var c = config
    c.numClasses = f.numClasses
    let model = try EfficientNet(c)
    try model.importPyTorchState(f.weights, naming: .timm)
    let x = try f.io.tensor("input_nhwc")
    let labels = try f.io.tensor("labels").scalars.map { Int($0) }
    let loss = SoftmaxCrossEntropy(labelSmoothing: 0.1)
    let sgd = SGD(momentum: 0.9, weightDecay: WeightDecay(1e-4))
    let params = model.namedParameters()
    for step in 0..<2 {
      model.zeroGradients()
      let logits = model.forward(x, mode: .training)
      assertClose(logits, try f.io.tensor("step\(step).logits"), atol: f.atol, rtol: f.rtol, "step\(step).logits")
      let (l, grad) = loss(logits: logits, labels: labels)
      XCTAssertEqual(Float(l), try f.io.tensor("step\(step).loss").scalars[0], accuracy: f.atol, "step\(step).loss")
      _ = model.backward(grad)
      for (name, p) in params where p.kind == .trainable {
        let reference = try f.io.tensor("step\(step).grad.\(name)")
        let expected = try XCTUnwrap(fromPyTorchLayout(reference, toShape: p.grad.shape), name)
        assertClose(p.grad, expected, atol: f.atol, rtol: f.rtol, "step\(step).grad.\(name)")
      }
      sgd.step(params, lr: 0.1)
    }
    for (name, p) in params {
      let expected = try XCTUnwrap(fromPyTorchLayout(try f.io.tensor("after.\(name)"), toShape: p.value.shape), name)
      assertClose(p.value, expected, atol: f.atol, rtol: f.rtol, "after.\(name)")
    }
  }
}
