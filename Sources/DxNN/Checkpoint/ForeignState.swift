import DxCSV
import DxTensor
import Foundation

/// A state dict read from a file another framework wrote: `.safetensors` or a PyTorch
/// `.pth`/`.pt` archive, told apart by content, not by name.
public struct ForeignState {
  /// Floating-point tensors by name, in the writer's layout.
  public var tensors: [String: Tensor]
  /// Tensors left out because they are not floating point (e.g. `num_batches_tracked`).
  public var skipped: [String]
  /// `safetensors` or `pytorch`.
  public var format: String

  /// Reads `path`, whichever of the two formats it is.
  public init(path: String) throws {
    // Opened to sniff its format only when it is a regular file (a FIFO blocked here).
    if let why = InputFile.problem(path, maxBytes: .max) { throw SafeTensorsError.cannotOpen(path: path, reason: why) }
    let handle = FileHandle(forReadingAtPath: path)
    let head = (try? handle?.read(upToCount: 9)) ?? nil
    try? handle?.close()
    let bytes = head.map { [UInt8]($0) } ?? []
    let isZip = bytes.count >= 2 && bytes[0] == 0x50 && bytes[1] == 0x4B  // "PK"
    let isPickle = bytes.count >= 2 && bytes[0] == 0x80 && bytes[1] <= 5  // legacy torch.save
    if isZip || isPickle {
      let ckpt = try PyTorchCheckpoint(path: path)
      self.init(tensors: ckpt.tensors, skipped: ckpt.skipped, format: "pytorch")
    } else {
      let file = try SafeTensorsFile(path: path)
      var tensors: [String: Tensor] = [:]
      var skipped: [String] = []
      for name in file.names {
        if ["F32", "F16", "BF16", "F64"].contains(file.entries[name]!.dtype) { tensors[name] = try file.tensor(name) } else { skipped.append(name) }
      }
      self.init(tensors: tensors, skipped: skipped, format: "safetensors")
    }
  }

  init(tensors: [String: Tensor], skipped: [String], format: String) {
    self.tensors = tensors
    self.skipped = skipped
    self.format = format
  }
}
