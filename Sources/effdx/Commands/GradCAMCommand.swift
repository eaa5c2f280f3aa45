import ArgumentParser
import DxEfficientNet
import DxImaging
import DxTasks
import Foundation

/// Where the network looked: a Grad-CAM overlay for any image and any class.
struct GradCAMCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "gradcam", abstract: "Write a Grad-CAM overlay (PNG) showing where a checkpoint looked for a class.")

  @Option(help: "Checkpoint from effdx train.") var checkpoint: String
  @Option(help: "Image file.") var input: String
  @Option(name: .customLong("class"), help: "Class name (default: the predicted class).") var className: String?
  @Option(help: "Output PNG.") var out: String

  func run() throws {
    let (model, pre, metadata) = try EfficientNet.load(from: checkpoint)
    guard let json = metadata["classes"], let classes = try? JSONDecoder().decode([String].self, from: Data(json.utf8)) else {
      throw ValidationError("\(checkpoint) has no class names (train it with effdx train)")
    }
    let image = try ImageDecoder.decode(path: input).centerCropped(size: pre.resolution, cropFraction: pre.cropPct)
    let x = FloatImage(image).tensor(mean: pre.mean.map(Float.init), std: pre.std.map(Float.init))
    let logits = model.forward(x, mode: .inference).scalars
    let predicted = logits.indices.max { logits[$0] < logits[$1] }!
    let target: Int
    if let className {
      guard let i = classes.firstIndex(of: className) else { throw ValidationError("unknown class '\(className)'; classes: \(classes.joined(separator: ", "))") }
      target = i
    } else {
      target = predicted
    }
    let map = GradCAM.map(model, input: x, classIndex: target)
    try PNGCodec.write(GradCAM.overlay(image, map: map), to: out)
    print("predicted \(classes[predicted]); wrote the Grad-CAM of '\(classes[target])' to \(out)")
  }
}
