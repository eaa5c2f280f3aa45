import ArgumentParser
import DxDemo
import DxNN
import DxTensor
import Foundation

/// Trains the demo network on the bundled sample problem and saves a checkpoint.
struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Train a small EfficientNet-style CNN on the bundled sample data (Samples/toy-patterns.safetensors).")

  @Option(help: "Sample file written by `effdx make-toy-samples`.")
  var samples = "Samples/toy-patterns.safetensors"
  @Option(help: "Training epochs.") var epochs = 15
  @Option(help: "Random seed: the same seed gives the same run, bit for bit.") var seed: UInt64 = 0
  @Option(help: "Directory for the trained checkpoint.") var out = "demo-output"
  @OptionGroup var compute: ComputeOptions

  func run() throws {
    try compute.apply()
    let train: ToyPatterns.Split, validation: ToyPatterns.Split
    do {
      train = try ToyPatterns.load(samples, split: "train")
      validation = try ToyPatterns.load(samples, split: "val")
    } catch {
      throw ValidationError("cannot read the sample data: \(error)")
    }
    let model = makeToyNetwork(classes: ToyPatterns.classes.count, seed: seed)
    print("EfficientDx demo: \(train.labels.count) training and \(validation.labels.count) validation images, classes \(ToyPatterns.classes.joined(separator: ", "))")
    print("model: \(model.parameterCount) parameters; \(ThreadPool.threadCount) threads; seed \(seed)")
    let trainer = ToyTrainer(epochs: epochs, seed: seed)
    let start = Date()
    print("before training: validation accuracy \(String(format: "%.1f%%", 100 * trainer.accuracy(model, validation)))")
    let results = trainer.train(model, train: train, validation: validation) { r in
      print(String(format: "epoch %2d/%d  train loss %.4f  validation accuracy %.1f%%", r.epoch, epochs, r.trainLoss, 100 * r.validationAccuracy))
    }
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let checkpoint = (out as NSString).appendingPathComponent("toy-cnn.safetensors")
    try SafeTensorsWriter.write(
      model.stateDict(),
      metadata: ["arch": "toy-cnn", "classes": ToyPatterns.classes.joined(separator: ","), "seed": "\(seed)", "epochs": "\(epochs)"],
      to: checkpoint)
    print(String(format: "done in %.1f s; final validation accuracy %.1f%%; checkpoint %@", Date().timeIntervalSince(start), 100 * (results.last?.validationAccuracy ?? 0), checkpoint))
  }
}

/// Regenerates the bundled sample file.
struct MakeToySamplesCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "make-toy-samples", abstract: "Write the generated sample problem the demo trains on.")

  @Option(help: "Output file.") var out = "Samples/toy-patterns.safetensors"
  @Option(help: "Generator seed.") var seed: UInt64 = 2026

  func run() throws {
    try ToyPatterns.writeSamples(to: out, seed: seed)
    print("wrote \(out)")
  }
}
