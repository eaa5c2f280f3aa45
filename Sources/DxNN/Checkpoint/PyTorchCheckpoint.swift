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
  /// Decoding every floating-point tensor would take more than `limit` bytes.
  case tooLarge(path: String, values: Int, limit: Int)

  public var description: String {
    switch self {
    case .cannotOpen(let path, let reason): return "\(path): cannot open: \(reason)"
    case .legacyFormat(let path):
      return "\(path): not a PyTorch checkpoint EfficientDx reads (neither torch.save's ZIP archive nor its pre-1.6 format); never torch.load a file you do not trust"
    case .badArchive(let path, let reason): return "\(path): not a readable PyTorch checkpoint archive: \(reason)"
    case .unsafeOrMalformedPickle(let path, let reason): return "\(path): rejected pickle: \(reason)"
    case .notAStateDict(let path, let reason): return "\(path): no state dict found: \(reason)"
    case .badTensor(let path, let tensor, let reason): return "\(path): tensor '\(tensor)': \(reason)"
    case .tooLarge(let path, let values, let limit):
      return "\(path): its floating-point tensors hold \(values) values, \(ForeignState.gigabytes(values)) GB as Float32, more than the \(ForeignState.gigabytes(limit / 4)) GB this process may use beside the mapped file"
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

  /// - Parameter maxDecodedBytes: refuse, before decoding, a file whose floating-point tensors
  ///   come to more than this as Float32 (views of one storage each count: a small file can
  ///   hold many).
  public init(path: String, maxDecodedBytes: Int = .max) throws {
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
      throw PyTorchCheckpointError.cannotOpen(path: path, reason: error.localizedDescription)
    }
    if data.count >= 2 && data[data.startIndex] == 0x80 && data[data.startIndex + 1] <= 5 {
      // A bare pickle: the pre-1.6 ("legacy") format.
      let legacy = try LegacyCheckpoint(data, path: path)
      try self.init(path: path, root: legacy.root, maxDecodedBytes: maxDecodedBytes) { legacy.storages[$0] }
      return
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
    try self.init(path: path, root: root, maxDecodedBytes: maxDecodedBytes) { archive.contents(prefix + "data/" + $0) }
  }

  /// The state dict of an unpickled checkpoint whose storages `storage(key)` provides.
  init(path: String, root: PickleValue, maxDecodedBytes: Int = .max, storage: (String) -> Data?) throws {
    self.path = path
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
    let floats = stateDict.items.reduce(0) { total, item in
      guard case .tensor(let t) = item.value, Self.floatStorages.contains(t.storageType) else { return total }
      return ForeignState.saturatingSum(total, ForeignState.saturatingProduct(t.size))
    }
    guard ForeignState.saturatingProduct([floats, 4]) <= maxDecodedBytes else { throw PyTorchCheckpointError.tooLarge(path: path, values: floats, limit: maxDecodedBytes) }
    var tensors: [String: Tensor] = [:]
    var skipped: [String] = []
    for (k, v) in stateDict.items {
      guard case .string(let name) = k, case .tensor(let t) = v else { continue }
      if let tensor = try Self.decode(t, name: name, storage: storage, path: path) {
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
  static let floatStorages: Set<String> = ["FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage"]

  static func decode(_ t: PickledTensor, name: String, storage storageFor: (String) -> Data?, path: String) throws -> Tensor? {
    guard let elementSize = elementSizes[t.storageType] else {
      throw PyTorchCheckpointError.badTensor(path: path, tensor: name, reason: "unknown storage type \(t.storageType)")
    }
    guard floatStorages.contains(t.storageType) else { return nil }
    guard let storage = storageFor(t.key) else {
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
      // The last element the view reads, computed without overflow (a stride of 2^62 is refused).
      var last = t.offset, overflow = false
      for (size, stride) in zip(t.size, t.stride) {
        let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
        let (sum, o2) = last.addingReportingOverflow(step)
        overflow = overflow || o1 || o2
        last = sum
      }
      guard !overflow, last < t.storageCount else {
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

/// The pre-1.6 `torch.save` format: a magic number, a protocol version and system information,
/// the pickled object, the list of storage keys, then each storage as an 8-byte element count
/// followed by its raw little-endian bytes. Still how many published checkpoints are stored.
struct LegacyCheckpoint {
  var root: PickleValue
  var storages: [String: Data] = [:]

  init(_ data: Data, path: String) throws {
    let bytes = [UInt8](data)
    var types: [String: String] = [:]
    func pickle(_ at: Int) throws -> (PickleValue, Int) {
      do {
        let (v, end, storages) = try Unpickler.loadWithStorages(bytes, from: at)
        types.merge(storages) { a, _ in a }
        return (v, end)
      } catch let e as PickleError {
        throw PyTorchCheckpointError.unsafeOrMalformedPickle(path: path, reason: e.reason)
      }
    }
    // The magic number is a 10-byte LONG1; read it from the bytes rather than as an Int.
    guard bytes.count > 14, bytes[2] == 0x8A, bytes[3] == 10,
      Array(bytes[4..<14]) == [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
    else { throw PyTorchCheckpointError.legacyFormat(path: path) }
    var at = 15  // PROTO 2, LONG1 10 bytes, STOP
    var version: PickleValue
    (version, at) = try pickle(at)
    guard case .int(1001) = version else { throw PyTorchCheckpointError.badArchive(path: path, reason: "unknown legacy protocol version") }
    (_, at) = try pickle(at)  // system information
    var root: PickleValue
    (root, at) = try pickle(at)
    var keysValue: PickleValue
    (keysValue, at) = try pickle(at)
    guard case .list(let keyList) = keysValue else { throw PyTorchCheckpointError.badArchive(path: path, reason: "missing storage key list") }
    // Element sizes come from the storage types the object pickle referenced (recorded as the
    // unpickler met them: no walk over a structure that may share itself exponentially often).
    for k in keyList.items {
      guard case .string(let key) = k, let type = types[key], let size = PyTorchCheckpoint.elementSizes[type] else {
        throw PyTorchCheckpointError.badArchive(path: path, reason: "storage key list names an unknown storage")
      }
      guard at + 8 <= bytes.count else { throw PyTorchCheckpointError.badArchive(path: path, reason: "truncated before storage '\(key)'") }
      var count = 0
      for i in 0..<8 { count |= Int(bytes[at + i]) << (8 * i) }
      at += 8
      guard count >= 0, count <= (bytes.count - at) / size else { throw PyTorchCheckpointError.badArchive(path: path, reason: "storage '\(key)' runs past the end of the file") }
      storages[key] = data.subdata(in: (data.startIndex + at)..<(data.startIndex + at + count * size))
      at += count * size
    }
    self.root = root
  }
}
