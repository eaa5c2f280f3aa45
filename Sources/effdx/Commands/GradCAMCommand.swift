import ArgumentParser
import DxEfficientNet
import DxImaging
import DxTasks
import DxTensor
import Foundation

/// Where the network looked: a Grad-CAM overlay for any image and any class.
struct GradCAMCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "gradcam", abstract: "Write a Grad-CAM overlay (PNG) showing where a checkpoint looked for a class.")

  @Option(help: "Checkpoint from effdx train.") var checkpoint: String
  @Option(help: "Image file.") var input: String
  @Option(name: .customLong("class"), help: "Class name (default: the predicted class).") var className: String?
  @Option(help: "Output PNG.") var out: String
  @OptionGroup var verbosity: VerbosityOptions

  func validate() throws {
    try OutputFile.check(out, writes: "a PNG", extensions: ["png"], inputs: [input, checkpoint])
  }

  func run() throws {
    try verbosity.apply()
    let ckpt = try TaskCheckpoint.load(checkpoint)
    let evaluation = ckpt.evaluation
    // Grad-CAM runs the network unfused and keeps every map for the backward pass.
    try MemoryCheck.check(ckpt.model.config, batch: 1, resolution: evaluation.resolution, gradients: true,
                          flags: "--checkpoint \(checkpoint) (Grad-CAM at its resolution \(evaluation.resolution))")
    let image = try evaluation.decode(path: input)
    let s = evaluation.resolution
    let x = Tensor(shape: [1, s, s, 3], scalars: try evaluation.prepare(image, source: input))
    let logits = ckpt.model.forward(x, mode: .inference).scalars
    let predicted = logits.argmax
    let target: Int
    if let className {
      guard let i = ckpt.classes.firstIndex(of: className) else { throw ValidationError("unknown class '\(className)'; classes: \(ckpt.classes.joined(separator: ", "))") }
      target = i
    } else {
      target = predicted
    }
    let map = GradCAM.map(ckpt.model, input: x, classIndex: target)
    try PNGCodec.write(GradCAM.overlay(try evaluation.transformed(image, source: input).image(), map: map), to: out)
    print("predicted \(ckpt.classes[predicted]); wrote the Grad-CAM of '\(ckpt.classes[target])' to \(out)")
  }
}
