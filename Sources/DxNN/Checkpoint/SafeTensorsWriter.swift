import DxTensor
import Foundation

/// Writes tensors as a safetensors file, atomically: everything goes to a temporary file in the
/// same directory, which is renamed over the destination only once complete. A crash mid-write
/// never leaves a half-written checkpoint where a good one was.
public enum SafeTensorsWriter {
  /// Writes `tensors` (as F32) with string `metadata` to `path`.
  public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
    var header = "{"
    if !metadata.isEmpty {
      header += "\"__metadata__\":{" + metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }.joined(separator: ",") + "},"
    }
    var offset = 0
    let names = tensors.keys.sorted()
    var parts: [String] = []
    for name in names {
      let t = tensors[name]!
      let bytes = t.count * 4
      parts.append("\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
      offset += bytes
    }
    header += parts.joined(separator: ",")
    if header.hasSuffix(",") { header.removeLast() }
    header += "}"
    var headerBytes = Array(header.utf8)
    while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }  // pad so data is 8-byte aligned

    var data = Data(capacity: 8 + headerBytes.count + offset)
    withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(contentsOf: headerBytes)
    for name in names {
      tensors[name]!.scalars.withUnsafeBufferPointer { buf in
        buf.withMemoryRebound(to: UInt32.self) { words in
          if UInt32(1).littleEndian == 1 {
            data.append(UnsafeBufferPointer(start: UnsafeRawPointer(words.baseAddress!).assumingMemoryBound(to: UInt8.self), count: words.count * 4))
          } else {
            for w in words { withUnsafeBytes(of: w.littleEndian) { data.append(contentsOf: $0) } }
          }
        }
      }
    }
    try writeAtomically(data, to: path)
  }

  /// Writes `data` to a temporary sibling of `path`, flushes it, and renames it into place.
  public static func writeAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
    do {
      try data.write(to: temp)
      let handle = try FileHandle(forWritingTo: temp)
      try handle.synchronize()
      try handle.close()
      if rename(temp.path, url.path) != 0 {
        throw SafeTensorsError.writeFailed(path: path, reason: String(cString: strerror(errno)))
      }
    } catch let error as SafeTensorsError {
      try? FileManager.default.removeItem(at: temp)
      throw error
    } catch {
      try? FileManager.default.removeItem(at: temp)
      throw SafeTensorsError.writeFailed(path: path, reason: error.localizedDescription)
    }
  }

  private static func jsonString(_ s: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
    return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
  }
}
