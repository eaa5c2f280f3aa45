import ArgumentParser
import DxEfficientNet
import DxNN
import DxTensor
import Foundation

/// Runs a checkpoint on a tensor from a safetensors file: for interop and debugging against
/// other frameworks (feed the same input to both, compare `logits` and `pooled`).
struct ForwardCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "forward", abstract: "Run a checkpoint on an NHWC tensor and write `logits` and `pooled` to a safetensors file.")

  @Option(help: "EfficientDx checkpoint (from import-weights or training).") var checkpoint: String
  @Option(help: "Safetensors file holding the input.") var input: String
  @Option(help: "Name of the [N, H, W, 3] input tensor in --input.") var tensor: String
  @Option(help: "Output safetensors file.") var out: String
  @OptionGroup var compute: ComputeOptions

  func validate() throws {
    try OutputFile.check(out, writes: "a safetensors file", extensions: ["safetensors"], inputs: [checkpoint, input])
  }

  func run() throws {
    try compute.apply()
    let (model, _, _) = try EfficientNet.load(from: checkpoint)
    let file = try SafeTensorsFile(path: input)
    // The shape from the header, checked (and the network's maps for it counted) before the
    // tensor is decoded or a map allocated: a batch of 64 at 512 x 512 died allocating.
    guard let shape = file.entries[tensor]?.shape else { throw ValidationError("no tensor '\(tensor)' in \(input) (it has: \(file.names.prefix(10).joined(separator: ", ")))") }
    guard shape.count == 4, shape[3] == 3, shape[0] >= 1, shape[1] >= 1, shape[2] >= 1 else {
      throw ValidationError("tensor '\(tensor)' in \(input) has shape \(shape); expected [N, H, W, 3] (NHWC)")
    }
    // forwardFeatures runs the layers unfused: count every map.
    try MemoryCheck.check(model.config, batch: shape[0], resolution: max(shape[1], shape[2]), keepsMaps: true, flags: "--input \(input) tensor '\(tensor)' \(shape)")
    let x = try file.tensor(tensor)
    if let bad = x.scalars.firstIndex(where: { !$0.isFinite }) {
      throw ValidationError("tensor '\(tensor)' in \(input) holds \(x.scalars[bad]) at index \(bad): the logits of a non-finite input mean nothing")
    }
    let features = model.forwardFeatures(x, mode: .inference)
    let pooled = model.forwardHead(features, mode: .inference, preLogits: true)
    let logits = model.forwardHead(features, mode: .inference)
    try SafeTensorsWriter.write(["logits": logits, "pooled": pooled], metadata: ["checkpoint": checkpoint, "input": "\(input):\(tensor)"], to: out)
    print("wrote \(out): logits \(logits.shape), pooled \(pooled.shape)")
  }
}
