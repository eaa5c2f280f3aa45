import DxTensor
import Foundation

/// Why a PyTorch checkpoint could not be read. Every case names the file.
public enum PyTorchCheckpointError: Error, CustomStringConvertible, Equatable {
  case cannotOpen(path: String, reason: String)
  case legacyFormat(path: String)
  case badArchive(path: String, reason: String)
  case unsafeOrMalformedPickle(path: String, reason: String)
  case notAStateDict(path: String, reason: String)
  case badTensor(path: String, tensor: String, reason: String)

  public var description: String {
    switch self {
    case .cannotOpen(let path, let reason): return "\(path): cannot open: \(reason)"
    case .legacyFormat(let path):
      return "\(path): legacy (pre-1.6, non-zip) PyTorch format; re-save it with a current torch: torch.save(torch.load(f), f)"
    case .badArchive(let path, let reason): return "\(path): not a readable PyTorch checkpoint archive: \(reason)"
    case .unsafeOrMalformedPickle(let path, let reason): return "\(path): rejected pickle: \(reason)"
    case .notAStateDict(let path, let reason): return "\(path): no state dict found: \(reason)"
    case .badTensor(let path, let tensor, let reason): return "\(path): tensor '\(tensor)': \(reason)"
    }
  }
}

/// A PyTorch `.pth` / `.pt` checkpoint read without Python: the ZIP archive `torch.save` writes,
/// a pickled `state_dict` read by a restricted reader that executes nothing, and raw storages.
///
/// Accepts a bare state dict or one wrapped as `{"state_dict": ...}`, `{"model": ...}` or
/// `{"model_state_dict": ...}` (training checkpoints), and F32, F16, BF16 and F64 tensors of
/// any stride (converted to contiguous Float32). Integer tensors (`num_batches_tracked`) are
/// listed in `skipped`.
public struct PyTorchCheckpoint {
  public let path: String
  /// Floating-point tensors by state-dict name, PyTorch layout, Float32.
  public let tensors: [String: Tensor]
  /// Names of tensors that were not floating point.
  public let skipped: [String]
  /// The wrapper key the state dict was found under, if any.
  public let wrapperKey: String?

  static let wrapperKeys = ["state_dict", "model", "model_state_dict"]

  public init(path: String) throws {
    self.path = path
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
      throw PyTorchCheckpointError.cannotOpen(path: path, reason: error.localizedDescription)
    }
    if data.count >= 2 && data[data.startIndex] == 0x80 && data[data.startIndex + 1] <= 5 {
      throw PyTorchCheckpointError.legacyFormat(path: path)  // a bare pickle: the pre-1.6 format
    }
    let archive: StoredZipArchive
    do { archive = try StoredZipArchive(data: data) } catch let e as StoredZipArchive.Failure {
      throw PyTorchCheckpointError.badArchive(path: path, reason: e.reason)
    }
    guard let pickleName = archive.entries.keys.filter({ $0.hasSuffix("data.pkl") }).min(by: { $0.count < $1.count }),
      let pickle = archive.contents(pickleName)
    else { throw PyTorchCheckpointError.badArchive(path: path, reason: "no data.pkl entry") }
    let prefix = String(pickleName.dropLast("data.pkl".count))
    if let order = archive.contents(prefix + "byteorder"), String(decoding: order, as: UTF8.self) != "little" {
      throw PyTorchCheckpointError.badArchive(path: path, reason: "big-endian checkpoints are not supported")
    }
    let root: PickleValue
    do { root = try Unpickler.load(pickle) } catch let e as PickleError {
      throw PyTorchCheckpointError.unsafeOrMalformedPickle(path: path, reason: e.reason)
    }
    guard case .dict(let top) = root else { throw PyTorchCheckpointError.notAStateDict(path: path, reason: "the pickle is not a dict") }
    var stateDict = top
    var wrapper: String? = nil
    if !Self.isStateDict(top) {
      for key in Self.wrapperKeys {
        if let inner = top.items.first(where: { if case .string(key) = $0.key { return true }; return false }),
          case .dict(let d) = inner.value, Self.isStateDict(d)
        {
          stateDict = d
          wrapper = key
          break
        }
      }
      guard wrapper != nil else {
        let keys = top.items.compactMap { if case .string(let s) = $0.key { return s }; return nil }.prefix(8)
        throw PyTorchCheckpointError.notAStateDict(path: path, reason: "top-level keys \(Array(keys)) hold no tensors and none of \(Self.wrapperKeys)")
      }
    }
    wrapperKey = wrapper
    var tensors: [String: Tensor] = [:]
    var skipped: [String] = []
    for (k, v) in stateDict.items {
      guard case .string(let name) = k, case .tensor(let t) = v else { continue }
      if let tensor = try Self.decode(t, name: name, prefix: prefix, archive: archive, path: path) {
        tensors[name] = tensor
      } else {
        skipped.append(name)
      }
    }
    self.tensors = tensors
    self.skipped = skipped.sorted()
  }

  /// A dict whose values are all tensors (and at least one).
  static func isStateDict(_ d: PickleDict) -> Bool {
    !d.items.isEmpty && d.items.allSatisfy { if case .tensor = $0.value { return true }; return false }
  }

  static let elementSizes = ["FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8,
                             "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1]

  /// Gathers a (possibly strided) view out of its storage; nil for non-floating tensors.
  static func decode(_ t: PickledTensor, name: String, prefix: String, archive: StoredZipArchive, path: String) throws -> Tensor? {
    guard let elementSize = elementSizes[t.storageType] else {
      throw PyTorchCheckpointError.badTensor(path: path, tensor: name, reason: "unknown storage type \(t.storageType)")
    }
    guard ["FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage"].contains(t.storageType) else { return nil }
    guard let storage = archive.contents(prefix + "data/" + t.key) else {
      throw PyTorchCheckpointError.badTensor(path: path, tensor: name, reason: "storage '\(t.key)' is missing from the archive")
    }
    let available = storage.count / elementSize
    guard t.storageCount <= available else {
      throw PyTorchCheckpointError.badTensor(path: path, tensor: name, reason: "storage holds \(available) elements, header says \(t.storageCount)")
    }
    var count = 1
    for d in t.size {
      let (product, overflow) = count.multipliedReportingOverflow(by: d)
      guard !overflow, product <= max(t.storageCount, 1) else {
        throw PyTorchCheckpointError.badTensor(path: path, tensor: name, reason: "shape \(t.size) has more elements than its \(t.storageCount)-element storage")
      }
      count = product
    }
    if count > 0 {
      let last = t.offset + zip(t.size, t.stride).reduce(0) { $0 + ($1.0 - 1) * $1.1 }
      guard last < t.storageCount else {
        throw PyTorchCheckpointError.badTensor(path: path, tensor: name, reason: "view of shape \(t.size) reaches element \(last) of a \(t.storageCount)-element storage")
      }
    }
    var out = [Float](repeating: 0, count: count)
    storage.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
      func element(_ i: Int) -> Float {
        switch t.storageType {
        case "FloatStorage": return Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian)
        case "HalfStorage": return halfToFloat(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian)
        case "BFloat16Storage": return Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) << 16)
        default: return Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self).littleEndian))
        }
      }
      var index = [Int](repeating: 0, count: t.size.count)
      for o in 0..<count {
        var src = t.offset
        for d in 0..<index.count { src += index[d] * t.stride[d] }
        out[o] = element(src)
        var d = index.count - 1
        while d >= 0 {
          index[d] += 1
          if index[d] < t.size[d] { break }
          index[d] = 0
          d -= 1
        }
      }
    }
    return Tensor(shape: t.size, scalars: out)
  }
}
