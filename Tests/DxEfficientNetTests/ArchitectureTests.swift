import DxEfficientNet
import DxNN
import DxTensor
import XCTest

final class ScalingTests: XCTestCase {
  func testMakeDivisible_matchesTimmIncludingTheTenPercentRule() {
    // timm make_divisible(v, 8): max(8, int(v + 4) // 8 * 8), + 8 if below 0.9 * v.
    let cases: [(Double, Int)] = [(32, 32), (8, 8), (4, 8), (12, 16), (20, 24), (28, 32), (36, 40), (100, 104), (11.2, 16), (17.6, 16), (35.2, 32), (1408, 1408), (0.5, 8)]
    for (v, expected) in cases { XCTAssertEqual(Scaling.makeDivisible(v), expected, "make_divisible(\(v))") }
  }

  func testRoundChannels_forWidths025_05_11_20() {
    // (channels, multiplier) -> timm round_channels; 1280 at 0.25 is 320 (swift-models gets 328).
    let cases: [(Int, Double, Int)] = [
      (32, 0.25, 8), (16, 0.25, 8), (24, 0.25, 8), (40, 0.25, 16), (80, 0.25, 24), (112, 0.25, 32), (192, 0.25, 48), (320, 0.25, 80), (1280, 0.25, 320),
      (32, 0.5, 16), (24, 0.5, 16), (40, 0.5, 24), (112, 0.5, 56), (1280, 0.5, 640),
      (32, 1.1, 32), (16, 1.1, 16), (24, 1.1, 24), (40, 1.1, 48), (80, 1.1, 88), (112, 1.1, 120), (192, 1.1, 208), (320, 1.1, 352), (1280, 1.1, 1408),
      (32, 2.0, 64), (24, 2.0, 48), (1280, 2.0, 2560),
    ]
    for (c, m, expected) in cases { XCTAssertEqual(Scaling.roundChannels(c, multiplier: m), expected, "round_channels(\(c), \(m))") }
  }

  func testDepthScaling_isCeil() {
    XCTAssertEqual(Scaling.scaledRepeats(2, multiplier: 1.1), 3)
    XCTAssertEqual(Scaling.scaledRepeats(4, multiplier: 3.1), 13)
    XCTAssertEqual(Scaling.scaledRepeats(3, multiplier: 0.25), 1)
    XCTAssertEqual(Scaling.scaledRepeats(1, multiplier: 1.0), 1)
  }

  func testCompoundCoefficient() {
    let s = Scaling.compound(phi: 1)
    XCTAssertEqual(s.width, 1.1, accuracy: 1e-12)
    XCTAssertEqual(s.depth, 1.2, accuracy: 1e-12)
    XCTAssertEqual(s.resolution, 258)  // 224 * 1.15 = 257.6
    XCTAssertEqual(Scaling.compound(phi: 0).resolution, 224)
  }
}

final class BlockArgsTests: XCTestCase {
  func testDecode_everyB0StageString() throws {
    let decoded = try Variants.b0Stages.map { try BlockArgs(decoding: $0) }
    XCTAssertEqual(decoded.map(\.kind), [.depthwiseSeparable] + Array(repeating: .invertedResidual, count: 6))
    XCTAssertEqual(decoded.map(\.repeats), [1, 2, 2, 3, 3, 4, 1])
    XCTAssertEqual(decoded.map(\.kernel), [3, 3, 5, 3, 5, 5, 3])
    XCTAssertEqual(decoded.map(\.stride), [1, 2, 2, 2, 1, 2, 1])
    XCTAssertEqual(decoded.map(\.expandRatio), [1, 6, 6, 6, 6, 6, 6])
    XCTAssertEqual(decoded.map(\.outChannels), [16, 24, 40, 80, 112, 192, 320])
    XCTAssertEqual(decoded.map(\.seRatio), Array(repeating: 0.25, count: 7))
    XCTAssertEqual(try BlockArgs(decoding: "ir_r1_k3_s22_e4_c8_noskip"), BlockArgs(kind: .invertedResidual, repeats: 1, kernel: 3, stride: 2, expandRatio: 4, outChannels: 8, noSkip: true))
  }

  func testDecode_rejectsMalformedStringsWithTheReason() {
    for bad in ["xx_r1_k3_c16", "ir_k3_s1_e6_c16", "ir_r1_k3_s1_e6", "ir_r0_k3_c16", "ir_r1_k3_c16_z9", "ir_r1_kx_c16", "ds_r1_k3_e6_c16", "ir_r1_r2_k3_c16"] {
      XCTAssertThrowsError(try BlockArgs(decoding: bad), bad) { XCTAssertTrue("\($0)".contains(bad)) }
    }
  }
}

final class VariantTests: XCTestCase {
  /// Round nine of the audit: values inside the old ranges that the layers cannot build
  /// trapped in train, forward and diagnose (a dropout of 1, an even kernel with symmetric
  /// padding, a stride of 4 the BatchNorm checks took for 2). Each names its field.
  func testConfigsTheLayersCannotBuild_areRefusedNamingTheField() throws {
    var base = try XCTUnwrap(Variants.named("efficientnet_lite0"))
    base.numClasses = 3
    func refused(_ edit: (inout EfficientNetConfig) -> Void, _ field: String) {
      var c = base
      edit(&c)
      XCTAssertThrowsError(try c.validate(), field) { XCTAssertEqual(($0 as? EfficientNetConfigError)?.field, field, "\($0)") }
    }
    refused({ $0.dropRate = 1 }, "dropRate")
    refused({ $0.dropPathRate = 1 }, "dropPathRate")
    refused({ $0.stages[6] = "ir_r1_k2_s1_e6_c320" }, "stages[6] kernel")
    refused({ $0.stages[1] = "ir_r2_k3_s4_e6_c24" }, "stages[1] stride")
    var same = base
    same.padding = .same
    same.stages[6] = "ir_r1_k2_s1_e6_c320"
    XCTAssertNoThrow(try same.validate(), "SAME padding places any kernel")
    let logits = try EfficientNet(same, seed: 1).forward(Tensor(shape: [1, 32, 32, 3], scalars: [Float](repeating: 0.5, count: 32 * 32 * 3)), mode: .inference)
    XCTAssertEqual(logits.shape, [1, 3])
    XCTAssertNoThrow(try base.validate())
  }

  func testParameterCounts_equalTimmsWith1000Classes() throws {
    let expected: [String: Int] = [
      "efficientnet_b0": 5_288_548, "efficientnet_b1": 7_794_184, "efficientnet_b2": 9_109_994,
      "efficientnet_b3": 12_233_232, "efficientnet_b4": 19_341_616, "efficientnet_b5": 30_389_784,
      "efficientnet_b6": 43_040_704, "efficientnet_b7": 66_347_960,
      "efficientnet_lite0": 4_652_008, "efficientnet_lite1": 5_416_680, "efficientnet_lite2": 6_092_072,
      "efficientnet_lite3": 8_197_096, "efficientnet_lite4": 13_006_568,
    ]
    for (name, count) in expected {
      let config = try XCTUnwrap(Variants.named(name))
      XCTAssertEqual(try EfficientNet(config).parameterCount, count, name)
      XCTAssertEqual(try EfficientNet(XCTUnwrap(Variants.named("tf_" + name))).parameterCount, count, "tf_" + name)
    }
  }

  func testLiteVariants_useReLU6NoSEAndUnscaledStemAndHead() throws {
    let lite4 = try XCTUnwrap(Variants.named("efficientnet_lite4"))
    XCTAssertEqual(lite4.activation, .relu6)
    XCTAssertEqual(lite4.scaledStemChannels, 32)
    XCTAssertEqual(lite4.scaledHeadChannels, 1280)
    let stages = try lite4.scaledStages()
    XCTAssertEqual(stages.first?.repeats, 1)  // first and last stage depth not scaled
    XCTAssertEqual(stages.last?.repeats, 1)
    XCTAssertTrue(stages.allSatisfy { $0.seRatio == 0 })
    let names = try EfficientNet(lite4).namedParameters().map(\.name)
    XCTAssertFalse(names.contains { $0.contains(".se.") })
  }

  func testTensorFlowVariants_useSamePaddingAndTFBatchNorm() throws {
    let tf = try XCTUnwrap(Variants.named("tf_efficientnet_b3"))
    XCTAssertEqual(tf.padding, .same)
    XCTAssertEqual(tf.bnEps, 1e-3)
    XCTAssertEqual(tf.bnMomentum, 0.01, accuracy: 1e-9)
    XCTAssertEqual(Variants.named("efficientnet_b3")?.padding, .symmetric)
  }

  func testMACs_ofB0AtNativeResolution() throws {
    // 0.39 GMACs is the paper's and timm's figure for B0 at 224.
    let macs = try XCTUnwrap(Variants.named("efficientnet_b0")).macs()
    XCTAssertEqual(Double(macs) / 1e9, 0.39, accuracy: 0.01)
  }

  /// A user's own scaling: by compound coefficient or by explicit multipliers, by name, so a
  /// checkpoint or a command line can ask for it.
  func testCustomScaling_byNameAndByPhi() throws {
    // B1 is B0 with depth x1.1 at 240 px: the same network spelled as a custom scaling.
    let b1Like = try XCTUnwrap(Variants.named("efficientnet_w1.0_d1.1_r240"))
    XCTAssertEqual(try EfficientNet(b1Like).parameterCount, 7_794_184)
    XCTAssertEqual(b1Like.resolution, 240)
    // phi = 0 is B0; phi = 1 is width 1.1, depth 1.2, resolution 224 * 1.15.
    XCTAssertEqual(try EfficientNet(try XCTUnwrap(Variants.named("efficientnet_phi0.0"))).parameterCount, 5_288_548)
    let phi1 = try XCTUnwrap(Variants.named("efficientnet_phi1.0"))
    let explicit = Variants.custom(width: 1.1, depth: 1.2, resolution: phi1.resolution)
    XCTAssertEqual(phi1.resolution, 258)
    XCTAssertEqual(try EfficientNet(phi1).parameterCount, try EfficientNet(explicit).parameterCount)
    XCTAssertGreaterThan(try EfficientNet(phi1).parameterCount, 5_288_548)
    // Names round-trip, nonsense is refused.
    XCTAssertEqual(Variants.named(explicit.name)?.widthMultiplier, 1.1)
    for bad in ["efficientnet_phi", "efficientnet_phi99", "efficientnet_w0_d1_r224", "efficientnet_w1_d1_r8", "efficientnet_b9"] {
      XCTAssertNil(Variants.named(bad), bad)
    }
  }
}
