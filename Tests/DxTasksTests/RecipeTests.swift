@testable import DxEfficientNet
import DxImaging
import DxNN
import DxPipeline
@testable import DxTasks
import DxTensor
import Foundation
import XCTest

/// Each recipe option changes what it should, through the trainer: a hand-computed SGD step,
/// the moving average's formula, the learning-rate schedules, mixing's targets, drop-path.
final class RecipeTests: XCTestCase {
  var dir: String!

  override func setUpWithError() throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("effdx-recipe-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

  var spec: PipelineSpec {
    var s = PipelineSpec(name: "t")
    s.resolution = 32
    s.batchSize = 4
    return s
  }

  func tinyModel() throws -> EfficientNet {
    var c = EfficientNetConfig(name: "tiny", stages: Variants.b0Stages, widthMultiplier: 0.25, depthMultiplier: 0.25, resolution: 32, dropRate: 0)
    c.numClasses = 2
    return try EfficientNet(c, seed: 4)
  }

  /// Four photos, one global batch of them: three of class a, so the gradient of the mean loss
  /// is not a small residue of cancelling terms (which Float rounding would dominate).
  func items() throws -> [DatasetIndex.Item] {
    try (0..<4).map { i in
      var px = [UInt8](repeating: 0, count: 40 * 36 * 3)
      for j in px.indices { px[j] = UInt8(truncatingIfNeeded: j &* (3 + i) &+ j / 7 &+ i * 40) }
      let path = dir + "/img\(i).png"
      try PNGCodec.write(Image(width: 40, height: 36, channels: 3, samples: .uint8(px)), to: path)
      return DatasetIndex.Item(path: path, label: i == 3 ? 1 : 0)
    }
  }

  /// Head-only SGD at a constant rate, no smoothing, decay or clipping: the classifier's
  /// update is a formula of the cached features.
  func headConfig(steps: Int) -> TrainingConfig {
    var c = TrainingConfig()
    c.policy = "head"
    c.optimizer = .sgd
    c.momentum = 0.9
    c.nesterov = false
    c.weightDecay = 0
    c.learningRate = 10  // the tiny network's pooled features are small
    c.warmupEpochs = 0
    c.schedule = .constant
    c.labelSmoothing = 0
    c.gradientClip = 1e9
    c.epochs = steps
    c.patience = 100
    return c
  }

  func train(_ config: TrainingConfig, _ items: [DatasetIndex.Item], run: String) throws -> Trainer {
    let trainer = try Trainer(model: try tinyModel(), spec: spec, config: config, classes: ["a", "b"], train: items, validation: [], runDirectory: dir + "/" + run)
    try trainer.run()
    return trainer
  }

  /// A run whose weights become NaN or infinite stops naming the parameter, before the epoch's
  /// checkpoints are written (it exited 0 with checkpoints `diagnose` refuses).
  func testADivergedRun_stopsBeforeWritingItsCheckpoints() throws {
    let items = try items()
    let model = try tinyModel()
    let (name, weight) = try XCTUnwrap(model.namedParameters().last { $0.name.hasPrefix("classifier.weight") })
    var scalars = weight.value.scalars
    scalars[0] = .nan
    weight.value = Tensor(shape: weight.value.shape, scalars: scalars)
    let trainer = try Trainer(model: model, spec: spec, config: headConfig(steps: 1), classes: ["a", "b"], train: items, validation: [], runDirectory: dir + "/nan")
    XCTAssertThrowsError(try trainer.run()) { XCTAssertTrue("\($0)".contains("epoch 1: '\(name)' holds NaN or infinite values: the run diverged"), "\($0)") }
    for file in ["best.safetensors", "last.safetensors", "last.state.safetensors", "log.jsonl"] {
      XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/nan/" + file), file)
    }
  }

  func testSGDWithMomentumThroughTheTrainer_matchesTwoHandComputedSteps() throws {
    let items = try items()
    let stepsTaken = 2
    _ = try train(headConfig(steps: stepsTaken), items, run: "sgd")
    // By hand: the features the cache holds, softmax cross-entropy's gradient, two momentum steps.
    let model = try tinyModel()
    let evaluation = try EvaluationTransform(spec: spec)
    let x = Tensor(shape: [4, 32, 32, 3], scalars: try items.flatMap { try evaluation.prepare(path: $0.path) })
    let f = FoldedEfficientNet(model).pooledFeatures(x)
    let d = f.shape[1]
    var w = model.namedParameters().first { $0.name == "classifier.weight" }!.parameter.value.scalars.map(Double.init)
    var b = model.namedParameters().first { $0.name == "classifier.bias" }!.parameter.value.scalars.map(Double.init)
    let features = f.scalars.map(Double.init)
    var bufW = [Double](repeating: 0, count: w.count), bufB = [Double](repeating: 0, count: 2)
    for step in 0..<stepsTaken {
      var gW = [Double](repeating: 0, count: w.count), gB = [Double](repeating: 0, count: 2)
      for n in 0..<4 {
        let z = (0..<2).map { k in b[k] + (0..<d).reduce(0.0) { $0 + w[$1 * 2 + k] * features[n * d + $1] } }  // Linear's weight is [in, out]
        let m = z.max()!
        let e = z.map { exp($0 - m) }
        for k in 0..<2 {
          let g = (e[k] / (e[0] + e[1]) - (items[n].label == k ? 1 : 0)) / 4
          gB[k] += g
          for j in 0..<d { gW[j * 2 + k] += g * features[n * d + j] }
        }
      }
      for i in w.indices { bufW[i] = step == 0 ? gW[i] : 0.9 * bufW[i] + gW[i]; w[i] -= 10 * bufW[i] }
      for i in b.indices { bufB[i] = step == 0 ? gB[i] : 0.9 * bufB[i] + gB[i]; b[i] -= 10 * bufB[i] }
    }
    let saved = try SafeTensorsFile(path: dir + "/sgd/last.safetensors")
    let w0 = model.namedParameters().first { $0.name == "classifier.weight" }!.parameter.value.scalars
    assertSameSteps(try saved.tensor("classifier.weight").scalars, w.map(Float.init), from: w0, "classifier.weight")
    let b0 = model.namedParameters().first { $0.name == "classifier.bias" }!.parameter.value.scalars
    assertSameSteps(try saved.tensor("classifier.bias").scalars, b.map(Float.init), from: b0, "classifier.bias")
  }

  /// One full fine-tuning step of plain SGD (no momentum, decay, smoothing or clipping), the
  /// backbone at the head's rate: each parameter moves by its rate times the same gradient.
  func plainSGDStep() -> TrainingConfig {
    var config = headConfig(steps: 1)
    config.policy = "full"
    config.momentum = 0
    config.learningRate = 0.05
    config.backboneLRScale = 1
    return config
  }

  /// The plain SGD step trained once as run "plain": its items, its config (for a variant) and
  /// the weights both runs start from.
  func plainRun() throws -> (items: [DatasetIndex.Item], config: TrainingConfig, start: [(name: String, value: Tensor)]) {
    let items = try items()
    let config = plainSGDStep()
    let start = try tinyModel().namedParameters().map { (name: $0.name, value: $0.parameter.value) }
    _ = try train(config, items, run: "plain")
    return (items, config, start)
  }

  /// Parameter `name`'s first step (from `start`) in the plain run and in `other`, at the
  /// element the plain run moved most.
  func firstSteps(_ name: String, from start: [Float], plain: SafeTensorsFile, other: SafeTensorsFile) throws -> (plain: Double, other: Double) {
    let a = zip(try plain.tensor(name).scalars, start).map { Double($0 - $1) }, b = zip(try other.tensor(name).scalars, start).map { Double($0 - $1) }
    let i = a.indices.max { abs(a[$0]) < abs(a[$1]) }!
    return (a[i], b[i])
  }

  /// timm's layer-wise decay: with plain SGD the first step moves each parameter by the same
  /// gradient times its scale, so a run with `--layer-decay 0.8` moves the stem by 0.8^top of
  /// the plain run's step, each block by its own power, and the head and classifier alike.
  func testLayerDecay_scalesEachLayersStep_byItsDepthBelowTheTop() throws {
    let (items, plainConfig, start) = try plainRun()
    var config = plainConfig
    config.layerDecay = 0.8
    let decayed = try train(config, items, run: "decayed")
    let plain = try SafeTensorsFile(path: dir + "/plain/last.safetensors"), layered = try SafeTensorsFile(path: dir + "/decayed/last.safetensors")
    let rule = LayerDecay(decay: 0.8, parameterNames: start.map(\.name))
    XCTAssertEqual(rule.layer("conv_stem.weight"), 0)
    XCTAssertEqual(rule.layer("blocks.0.0.conv_dw.weight"), 1)
    XCTAssertEqual(rule.top, rule.layers.count + 1)
    XCTAssertEqual(rule.layer("conv_head.weight"), rule.top)
    XCTAssertEqual(rule.layer("classifier.weight"), rule.top)
    XCTAssertEqual(decayed.lrScale("classifier.weight"), 1)
    let lastBlock = rule.layers.max { $0.value < $1.value }!.key
    var checked = 0
    for (name, value) in start where ["conv_stem.weight", "blocks.0.0.conv_dw.weight", lastBlock + "conv_pwl.weight", "conv_head.weight", "classifier.weight"].contains(name) {
      let step = try firstSteps(name, from: value.scalars, plain: plain, other: layered)
      XCTAssertGreaterThan(abs(step.plain), 1e-6, name)
      let want = name.hasPrefix("classifier.") ? 1 : pow(0.8, Double(rule.top - rule.layer(name)))
      XCTAssertEqual(step.other / step.plain, want, accuracy: 2e-3 * max(want, 1e-3) + 1e-4, "\(name): layer \(rule.layer(name)) of \(rule.top)")
      checked += 1
    }
    XCTAssertEqual(checked, 5)
  }

  /// The backbone scale multiplies the layer decay (timm's recipe is the decay at scale 1), the
  /// classifier keeps the full rate, and label smoothing reaches the trainer's loss.
  func testBackboneScale_multipliesTheLayerDecay_andSmoothingReachesTheLoss() throws {
    let (items, plainConfig, start) = try plainRun()
    var config = plainConfig
    config.backboneLRScale = 0.5
    config.layerDecay = 0.8
    config.labelSmoothing = 0.3
    XCTAssertEqual(try Trainer(model: try tinyModel(), spec: spec, config: config, classes: ["a", "b"], train: items, validation: [], runDirectory: dir + "/s").loss().labelSmoothing, 0.3)
    config.labelSmoothing = 0
    let scaled = try train(config, items, run: "scaled")
    let plain = try SafeTensorsFile(path: dir + "/plain/last.safetensors"), both = try SafeTensorsFile(path: dir + "/scaled/last.safetensors")
    let rule = LayerDecay(decay: 0.8, parameterNames: start.map(\.name))
    for (name, value) in start where ["conv_stem.weight", "conv_head.weight", "classifier.bias"].contains(name) {
      let step = try firstSteps(name, from: value.scalars, plain: plain, other: both)
      let want = name.hasPrefix("classifier.") ? 1 : 0.5 * pow(0.8, Double(rule.top - rule.layer(name)))
      XCTAssertEqual(step.other / step.plain, want, accuracy: 2e-3 * want + 1e-4, name)
      XCTAssertEqual(Double(scaled.lrScale(name)), want, accuracy: 1e-6, name)
    }
  }

  /// `actual - start` equals `expected - start` to 1% of the largest step, which is not 0.
  func assertSameSteps(_ actual: [Float], _ expected: [Float], from start: [Float], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    let moved = zip(expected, start).map { abs($0 - $1) }.max()!
    XCTAssertGreaterThan(moved, 0, label, file: file, line: line)
    let worst = zip(actual, expected).map { abs($0 - $1) }.max()!
    // Float weights near 0.6 hold steps to about 6e-8: 1% of the largest step.
    XCTAssertLessThanOrEqual(worst, 1e-2 * moved, "\(label): off by \(worst) for steps up to \(moved)", file: file, line: line)
  }

  func testTheMovingAverage_equalsTheFormulaAfterThreeSteps() throws {
    let items = try items()
    var weights: [[Float]] = [try tinyModel().namedParameters().first { $0.name == "classifier.weight" }!.parameter.value.scalars]
    for steps in 1...3 {
      _ = try train(headConfig(steps: steps), items, run: "raw\(steps)")
      weights.append(try SafeTensorsFile(path: dir + "/raw\(steps)/last.safetensors").tensor("classifier.weight").scalars)
    }
    var config = headConfig(steps: 3)
    config.ema = 0.6
    _ = try train(config, items, run: "ema")
    // timm's ModelEmaV3 warmup: decay_t = min(0.6, 1 - (1 + t)^(-2/3)), t = 1, 2, 3.
    var average = weights[0]
    for t in 1...3 {
      let decay = min(0.6, Float(1 - pow(1 + Double(t), -2.0 / 3)))
      for i in average.indices { average[i] = decay * average[i] + (1 - decay) * weights[t][i] }
    }
    XCTAssertEqual(ExponentialMovingAverage.warmedUp(0.6, step: 1), Float(1 - pow(2.0, -2.0 / 3)), accuracy: 1e-7)
    XCTAssertEqual(ExponentialMovingAverage.warmedUp(0.6, step: 1000), 0.6)
    let ema = try SafeTensorsFile(path: dir + "/ema/best_ema.safetensors").tensor("classifier.weight").scalars
    assertSameSteps(ema, average, from: weights[0], "the average")
    // The raw model is unchanged by keeping an average.
    XCTAssertEqual(try SafeTensorsFile(path: dir + "/ema/last.safetensors").tensor("classifier.weight").scalars, weights[3])
    let lag = zip(ema, weights[3]).map { abs($0 - $1) }.max()!, travel = zip(weights[0], weights[3]).map { abs($0 - $1) }.max()!
    XCTAssertGreaterThan(lag, 0.05 * travel, "the average lags the weights")
  }

  func testSchedules_followTheirFormulas() throws {
    func trainer(_ edit: (inout TrainingConfig) -> Void) throws -> Trainer {
      var c = TrainingConfig()
      c.epochs = 10
      c.warmupEpochs = 1
      c.learningRate = 0.1
      edit(&c)
      let items = (0..<8).map { DatasetIndex.Item(path: "x\($0).png", label: $0 % 2) }
      var s = spec
      s.batchSize = 4  // 2 steps per epoch
      return try Trainer(model: try tinyModel(), spec: s, config: c, classes: ["a", "b"], train: items, validation: [], runDirectory: dir + "/s\(UUID().uuidString)")
    }
    let cosine = try trainer { $0.minLearningRate = 0.001 }
    XCTAssertEqual(cosine.learningRate(at: 0), 0.01, accuracy: 1e-12, "warmup starts at a tenth")
    XCTAssertEqual(cosine.learningRate(at: 1), 0.055, accuracy: 1e-12)
    XCTAssertEqual(cosine.learningRate(at: 2), 0.1, accuracy: 1e-12)
    XCTAssertEqual(cosine.learningRate(at: 2 + 9), 0.001 + 0.5 * 0.099 * (1 + cos(Double.pi * 9 / 18)), accuracy: 1e-12)
    XCTAssertEqual(cosine.learningRate(at: 20), 0.001, accuracy: 1e-12)
    let step = try trainer {
      $0.schedule = .step
      $0.decayEpochs = 3
      $0.decayRate = 0.5
    }
    XCTAssertEqual(step.learningRate(at: 2 + 5), 0.1, accuracy: 1e-12)
    XCTAssertEqual(step.learningRate(at: 2 + 6), 0.05, accuracy: 1e-12)
    XCTAssertEqual(step.learningRate(at: 2 + 12), 0.025, accuracy: 1e-12)
    let constant = try trainer {
      $0.schedule = .constant
      $0.warmupEpochs = 0
    }
    XCTAssertEqual(constant.learningRate(at: 0), 0.1)
    XCTAssertEqual(constant.learningRate(at: 19), 0.1)
    XCTAssertThrowsError(try trainer { $0.minLearningRate = 0.5 }, "min_lr above lr")
    XCTAssertThrowsError(try trainer { $0.ema = 1.5 })
    XCTAssertThrowsError(try trainer { $0.mixup = .nan })
    XCTAssertThrowsError(try trainer {
      $0.mixup = 0.2
      $0.balancedClassWeights = true
    })
  }

  func testMixing_targetsSumToOne_areSeeded_andCutMixCorrectsLambda() throws {
    var config = TrainingConfig()
    config.mixup = 0.4
    config.cutmix = 1.0
    config.labelSmoothing = 0.1
    let mixing = BatchMixing(config, classes: 3)
    var rng = SeededGenerator(seed: 11), again = SeededGenerator(seed: 11)
    var draws: [BatchMixing.Draw] = []
    for _ in 0..<200 {
      let d = mixing.draw(height: 20, width: 16, using: &rng)
      XCTAssertEqual(d, mixing.draw(height: 20, width: 16, using: &again), "a draw is a function of the seed")
      XCTAssert((0...1).contains(d.lambda))
      if let box = d.box { XCTAssertEqual(d.lambda, 1 - Double((box.y1 - box.y0) * (box.x1 - box.x0)) / 320, accuracy: 1e-12) }
      draws.append(d)
    }
    let cut = draws.filter { $0.box != nil }.count
    XCTAssert((60...140).contains(cut), "CutMix about half the time (switch probability 0.5): \(cut)")
    // Mixup: images and targets are the same mixture of a sample and its mirror in the batch.
    var images = Tensor(shape: [3, 2, 2, 3], scalars: (0..<36).map { Float($0) })
    let original = images
    let targets = mixing.mix(&images, labels: [0, 2, 1], draw: .init(lambda: 0.7, box: nil))
    for i in 0..<3 { XCTAssertEqual(targets[(3 * i)..<(3 * i + 3)].reduce(0, +), 1, accuracy: 1e-6) }
    XCTAssertEqual(targets[0], Float(0.7 * (0.9 + 0.1 / 3) + 0.3 * 0.1 / 3), accuracy: 1e-6, "sample 0 (class 0) with sample 2 (class 1)")
    XCTAssertEqual(targets[1], Float(0.7 * 0.1 / 3 + 0.3 * (0.9 + 0.1 / 3)), accuracy: 1e-6)
    XCTAssertEqual(images.scalars[0], 0.7 * original.scalars[0] + 0.3 * original.scalars[24], accuracy: 1e-5)
    // CutMix pastes the mirror's box and nothing else.
    var pasted = original
    _ = mixing.mix(&pasted, labels: [0, 2, 1], draw: .init(lambda: 0.75, box: (0, 1, 0, 1)))
    XCTAssertEqual(Array(pasted.scalars[0..<3]), Array(original.scalars[24..<27]))
    XCTAssertEqual(Array(pasted.scalars[3..<12]), Array(original.scalars[3..<12]))
    // The switch probability picks CutMix's share: 0.9 of the draws, or none at 0.
    for (p, range) in [(0.9, 160...200), (0.0, 0...0)] {
      var other = config
      other.mixSwitchProbability = p
      let mixer = BatchMixing(other, classes: 3)
      var g = SeededGenerator(seed: 12)
      let boxes = (0..<200).filter { _ in mixer.draw(height: 20, width: 16, using: &g).box != nil }.count
      XCTAssert(range.contains(boxes), "switch probability \(p): \(boxes) of 200 CutMix")
    }
    // No mixing at probability 0.
    config.mixProbability = 0
    XCTAssertEqual(BatchMixing(config, classes: 3).draw(height: 4, width: 4, using: &rng).lambda, 1)
    // Beta(α, α) has mean 1/2 and variance 1 / (4 (2α + 1)).
    var b = SeededGenerator(seed: 5)
    let samples = (0..<4000).map { _ in BatchMixing.beta(0.4, using: &b) }
    let mean = samples.reduce(0, +) / 4000, variance = samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 4000
    XCTAssertEqual(mean, 0.5, accuracy: 0.02)
    XCTAssertEqual(variance, 1 / (4 * 1.8), accuracy: 0.01)
  }

  func testDropPathAndDropout_areSetAsTimmScalesThem() throws {
    let model = try tinyModel()
    model.setDropPathRate(0.2)
    model.setDropRate(0.3)
    let blocks = model.blocks.flatMap { $0 }
    for (i, block) in blocks.enumerated() {
      if block.hasSkip && i > 0 { XCTAssertEqual(block.dropPath?.rate ?? -1, 0.2 * Float(i) / Float(blocks.count), accuracy: 1e-7) } else { XCTAssertNil(block.dropPath) }
    }
    XCTAssertEqual(model.config.dropPathRate, 0.2)
    XCTAssertEqual(model.config.dropRate, 0.3)
    // In training the masks change the output; in inference they do nothing.
    var rng = SeededGenerator(seed: 1)
    let x = Tensor.randomNormal([2, 32, 32, 3], using: &rng)
    let plain = try tinyModel()
    XCTAssertEqual(model.forward(x, mode: .inference).scalars, plain.forward(x, mode: .inference).scalars)
    model.reseedStochasticLayers(3)
    plain.reseedStochasticLayers(3)
    XCTAssertNotEqual(model.forward(x, mode: .training).scalars, plain.forward(x, mode: .training).scalars)
  }
}
