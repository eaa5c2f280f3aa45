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
  /// - Parameter maxDecodedBytes: what its floating-point tensors may come to as Float32,
  ///   checked from the header before any is decoded (a 4 KB sparse safetensors file holding
  ///   one 2 GB tensor the model never uses failed to allocate).
  public init(path: String, maxDecodedBytes: Int = .max) throws {
    // Opened to sniff its format only when it is a regular file (a FIFO blocked here).
    if let why = InputFile.problem(path, maxBytes: .max) { throw SafeTensorsError.cannotOpen(path: path, reason: why) }
    let handle = FileHandle(forReadingAtPath: path)
    let head = (try? handle?.read(upToCount: 9)) ?? nil
    try? handle?.close()
    let bytes = head.map { [UInt8]($0) } ?? []
    let isZip = bytes.count >= 2 && bytes[0] == 0x50 && bytes[1] == 0x4B  // "PK"
    let isPickle = bytes.count >= 2 && bytes[0] == 0x80 && bytes[1] <= 5  // legacy torch.save
    if isZip || isPickle {
      let ckpt = try PyTorchCheckpoint(path: path, maxDecodedBytes: maxDecodedBytes)
      self.init(tensors: ckpt.tensors, skipped: ckpt.skipped, format: "pytorch")
    } else {
      let file = try SafeTensorsFile(path: path)
      var tensors: [String: Tensor] = [:]
      var skipped: [String] = []
      let floats = file.names.reduce(0) { total, name in
        Self.floatTypes.contains(file.entries[name]!.dtype) ? Self.saturatingSum(total, Self.saturatingProduct(file.entries[name]!.shape)) : total
      }
      guard Self.saturatingProduct([floats, 4]) <= maxDecodedBytes else { throw PyTorchCheckpointError.tooLarge(path: path, values: floats, limit: maxDecodedBytes) }
      for name in file.names {
        if Self.floatTypes.contains(file.entries[name]!.dtype) { tensors[name] = try file.tensor(name) } else { skipped.append(name) }
      }
      self.init(tensors: tensors, skipped: skipped, format: "safetensors")
    }
  }

  static let floatTypes: Set<String> = ["F32", "F16", "BF16", "F64"]

  static func saturatingProduct(_ values: [Int]) -> Int {
    values.reduce(1) { a, b in
      let (p, overflow) = a.multipliedReportingOverflow(by: Swift.max(0, b))
      return overflow ? .max : p
    }
  }

  static func saturatingSum(_ a: Int, _ b: Int) -> Int {
    let (s, overflow) = a.addingReportingOverflow(b)
    return overflow ? .max : s
  }

  static func gigabytes(_ values: Int) -> String { String(format: "%.1f", Double(values) * 4 / 1e9) }

  init(tensors: [String: Tensor], skipped: [String], format: String) {
    self.tensors = tensors
    self.skipped = skipped
    self.format = format
  }
}
