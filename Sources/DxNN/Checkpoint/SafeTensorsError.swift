/// Why a safetensors file could not be read or written. Every case names the file.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
  case cannotOpen(path: String, reason: String)
  case truncated(path: String, reason: String)
  case badHeader(path: String, reason: String)
  case offsetsOutOfRange(path: String, tensor: String, reason: String)
  case overlappingTensors(path: String, first: String, second: String)
  case unsupportedDType(path: String, tensor: String, dtype: String)
  case missingTensor(path: String, tensor: String)
  case writeFailed(path: String, reason: String)

  public var description: String {
    switch self {
    case .cannotOpen(let path, let reason): return "\(path): cannot open: \(reason)"
    case .truncated(let path, let reason): return "\(path): truncated safetensors file: \(reason)"
    case .badHeader(let path, let reason): return "\(path): bad safetensors header: \(reason)"
    case .offsetsOutOfRange(let path, let tensor, let reason):
      return "\(path): tensor '\(tensor)' has invalid data offsets: \(reason)"
    case .overlappingTensors(let path, let first, let second):
      return "\(path): tensors '\(first)' and '\(second)' overlap in the data section"
    case .unsupportedDType(let path, let tensor, let dtype):
      return "\(path): tensor '\(tensor)' has dtype \(dtype); EfficientDx reads F32, F16, BF16 and F64"
    case .missingTensor(let path, let tensor): return "\(path): no tensor named '\(tensor)'"
    case .writeFailed(let path, let reason): return "\(path): cannot write: \(reason)"
    }
  }
}
