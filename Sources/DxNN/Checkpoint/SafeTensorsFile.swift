import DxCSV
import DxTensor
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A safetensors file opened for reading: the header is parsed and validated up front, the data
/// is memory-mapped, and each tensor is decoded only when asked for.
///
/// Format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length N,
/// N bytes of JSON `{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
/// {...}}`, then the raw little-endian data, offsets relative to its start. A multi-gigabyte
/// checkpoint costs only the tensors actually read.
public final class SafeTensorsFile {
  /// One tensor's header entry.
  public struct Entry: Equatable, Sendable {
    public var dtype: String
    public var shape: [Int]
    public var begin: Int, end: Int
  }

  /// The path the file was opened from (used in every error).
  public let path: String
  /// Free-form string metadata (`__metadata__`).
  public let metadata: [String: String]
  /// Header entries by tensor name.
  public let entries: [String: Entry]

  private let mapping: UnsafeRawPointer
  private let mappedLength: Int
  private let dataStart: Int

  /// Largest header accepted (the reference implementation's limit), so a hostile length
  /// cannot make us allocate gigabytes.
  public static let maxHeaderBytes = 100_000_000

  /// Bytes per element of every dtype the format defines.
  static let dtypeSizes: [String: Int] = [
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8,
  ]

  /// Opens and validates `path`.
  public init(path: String) throws {
    self.path = path
    // A regular file only, opened without blocking (a FIFO would wait for a writer forever).
    let (fd, size): (Int32, Int)
    switch InputFile.openRegular(path) {
    case .success(let file): (fd, size) = file
    case .failure(let e): throw SafeTensorsError.cannotOpen(path: path, reason: e.reason)
    }
    defer { close(fd) }
    guard size >= 8 else { throw SafeTensorsError.truncated(path: path, reason: "\(size) bytes, shorter than the 8-byte header length") }
    guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
      throw SafeTensorsError.cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
    }
    mapping = UnsafeRawPointer(base)
    mappedLength = size
    do {
      let headerLength = mapping.loadUnaligned(as: UInt64.self).littleEndian
      guard headerLength <= UInt64(SafeTensorsFile.maxHeaderBytes) else {
        throw SafeTensorsError.badHeader(path: path, reason: "header length \(headerLength) exceeds the \(SafeTensorsFile.maxHeaderBytes)-byte limit")
      }
      guard Int(headerLength) <= size - 8 else {
        throw SafeTensorsError.truncated(path: path, reason: "header claims \(headerLength) bytes but only \(size - 8) follow")
      }
      dataStart = 8 + Int(headerLength)
      let json = Data(bytes: mapping + 8, count: Int(headerLength))
      (metadata, entries) = try SafeTensorsFile.parseHeader(json, path: path, dataLength: size - dataStart)
    } catch {
      munmap(base, size)
      throw error
    }
  }

  deinit { munmap(UnsafeMutableRawPointer(mutating: mapping), mappedLength) }

  /// Tensor names in file order (sorted by data offset).
  public var names: [String] { entries.sorted { $0.value.begin < $1.value.begin }.map(\.key) }

  /// Decodes one tensor to Float32 (F16, BF16 and F64 are converted).
  public func tensor(_ name: String) throws -> Tensor {
    guard let e = entries[name] else { throw SafeTensorsError.missingTensor(path: path, tensor: name) }
    let count = e.shape.reduce(1, *)
    let src = mapping + dataStart + e.begin
    // Every element is written below (no zeroing first: a checkpoint's worth of memset).
    let out = try [Float](unsafeUninitializedCapacity: count) { o, initialized in
      switch e.dtype {
      case "F32":
        #if _endian(little)
        if count > 0 { UnsafeMutableRawPointer(o.baseAddress!).copyMemory(from: src, byteCount: 4 * count) }
        #else
        for i in 0..<count { o[i] = Float(bitPattern: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian) }
        #endif
      case "F16":
        for i in 0..<count { o[i] = halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) }
      case "BF16":
        for i in 0..<count { o[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) << 16) }
      case "F64":
        for i in 0..<count { o[i] = Float(Double(bitPattern: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self).littleEndian)) }
      default:
        throw SafeTensorsError.unsupportedDType(path: path, tensor: name, dtype: e.dtype)
      }
      initialized = count
    }
    return Tensor(shape: e.shape, scalars: out)
  }

  /// Decodes every tensor whose dtype is floating point.
  public func allTensors() throws -> [String: Tensor] {
    var all: [String: Tensor] = [:]
    for name in names { all[name] = try tensor(name) }
    return all
  }

  private static func parseHeader(_ json: Data, path: String, dataLength: Int) throws -> ([String: String], [String: Entry]) {
    let object: Any
    do { object = try JSONSerialization.jsonObject(with: json) } catch {
      throw SafeTensorsError.badHeader(path: path, reason: "its \(json.count) bytes are not valid JSON")
    }
    guard let dict = object as? [String: Any] else { throw SafeTensorsError.badHeader(path: path, reason: "header is not a JSON object") }
    // The parser keeps one of two equal keys and drops the other without a word: a tensor (or a
    // metadata field such as effdx.preprocessing) written twice would be read as whichever won.
    if let key = JSONDuplicateKeys.first(in: json) {
      throw SafeTensorsError.badHeader(path: path, reason: "key '\(key)' appears twice in one object (which one a reader keeps is arbitrary)")
    }
    var metadata: [String: String] = [:]
    var entries: [String: Entry] = [:]
    for (name, value) in dict {
      if name == "__metadata__" {
        guard let m = value as? [String: Any], let strings = m as? [String: String] else {
          throw SafeTensorsError.badHeader(path: path, reason: "__metadata__ must map strings to strings")
        }
        metadata = strings
        continue
      }
      guard let v = value as? [String: Any], let dtype = v["dtype"] as? String,
        let shape = intArray(v["shape"]), let offsets = intArray(v["data_offsets"])
      else { throw SafeTensorsError.badHeader(path: path, reason: "entry '\(name)' needs dtype, shape and data_offsets") }
      guard let size = dtypeSizes[dtype] else { throw SafeTensorsError.badHeader(path: path, reason: "entry '\(name)' has unknown dtype '\(dtype)'") }
      guard shape.allSatisfy({ $0 >= 0 }) else { throw SafeTensorsError.badHeader(path: path, reason: "entry '\(name)' has a negative dimension \(shape)") }
      guard offsets.count == 2 else { throw SafeTensorsError.badHeader(path: path, reason: "entry '\(name)' needs two data_offsets") }
      let (begin, end) = (offsets[0], offsets[1])
      guard begin >= 0, begin <= end, end <= dataLength else {
        throw SafeTensorsError.offsetsOutOfRange(path: path, tensor: name, reason: "[\(begin), \(end)) outside the \(dataLength)-byte data section")
      }
      let (count, overflow) = shape.reduce((1, false)) { acc, d in
        let r = acc.0.multipliedReportingOverflow(by: d)
        return (r.partialValue, acc.1 || r.overflow)
      }
      guard !overflow, count.multipliedReportingOverflow(by: size) == (count * size, false), count * size == end - begin else {
        throw SafeTensorsError.offsetsOutOfRange(path: path, tensor: name, reason: "\(end - begin) bytes for shape \(shape) of \(dtype)")
      }
      entries[name] = Entry(dtype: dtype, shape: shape, begin: begin, end: end)
    }
    let sorted = entries.sorted { ($0.value.begin, $0.value.end) < ($1.value.begin, $1.value.end) }
    for (a, b) in zip(sorted, sorted.dropFirst()) where b.value.begin < a.value.end {
      throw SafeTensorsError.overlappingTensors(path: path, first: a.key, second: b.key)
    }
    return (metadata, entries)
  }

  private static func intArray(_ value: Any?) -> [Int]? {
    guard let array = value as? [Any] else { return nil }
    var out: [Int] = []
    for item in array {
      // Whole numbers only: `true` and `1.0` passed as 1 (the reference reader refuses them).
      guard let n = item as? NSNumber, !["c", "C", "d", "f", "B"].contains(String(cString: n.objCType)) else { return nil }
      let d = n.doubleValue
      guard d == d.rounded(), d >= -9.0e15, d <= 9.0e15 else { return nil }
      out.append(Int(d))
    }
    return out
  }
}

/// IEEE 754 half precision to single precision, including subnormals, infinities and NaN.
func halfToFloat(_ h: UInt16) -> Float {
  let sign = UInt32(h >> 15) << 31
  let exponent = Int((h >> 10) & 0x1F)
  let mantissa = UInt32(h & 0x3FF)
  if exponent == 0 {
    let magnitude = Float(mantissa) * 0x1p-24  // subnormal (or zero)
    return sign == 0 ? magnitude : -magnitude
  }
  if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
  return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
}
