import DxToy
import DxNN
import DxTensor
import DxTestSupport
import Foundation
import XCTest

/// The whole core together: a small EfficientNet-style network must learn the bundled sample
/// problem, and the same seed must give a bit-identical run.
final class EndToEndLearningTests: XCTestCase {
  func samplesPath() -> String {
    SharedData.repositoryRoot().appendingPathComponent("Samples/toy-patterns.safetensors").path
  }

  func testBundledSamples_areExactlyWhatTheGeneratorWrites() throws {
    let regenerated = FileManager.default.temporaryDirectory.appendingPathComponent("toy-\(UUID().uuidString).safetensors").path
    defer { try? FileManager.default.removeItem(atPath: regenerated) }
    try ToyPatterns.writeSamples(to: regenerated)
    XCTAssertEqual(
      try Data(contentsOf: URL(fileURLWithPath: regenerated)), try Data(contentsOf: URL(fileURLWithPath: samplesPath())),
      "Samples/toy-patterns.safetensors is stale: regenerate it with ToyPatterns.writeSamples(to:) (Tests/DxToy)")
  }

  func testToyNetwork_learnsTheSampleProblemReproducibly() throws {
    let train = try ToyPatterns.load(samplesPath(), split: "train")
    let validation = try ToyPatterns.load(samplesPath(), split: "val")
    func run() -> (results: [ToyTrainer.EpochResult], state: [String: Tensor], before: Double) {
      let model = makeToyNetwork(classes: 4, seed: 7)
      let trainer = ToyTrainer(epochs: 10, seed: 7)
      let before = trainer.accuracy(model, validation)
      return (trainer.train(model, train: train, validation: validation), model.stateDict(), before)
    }
    let first = run()
    XCTAssertLessThan(first.before, 0.5, "an untrained network should be near chance (25%)")
    XCTAssertLessThan(first.results.last!.trainLoss, first.results.first!.trainLoss * 0.6, "loss must fall")
    XCTAssertGreaterThan(first.results.last!.validationAccuracy, 0.8, "validation accuracy after 10 epochs")
    let second = run()
    XCTAssertEqual(first.results, second.results, "same seed, same losses and accuracies, bit for bit")
    XCTAssertEqual(first.state, second.state, "same seed, same weights, bit for bit")
  }
}
