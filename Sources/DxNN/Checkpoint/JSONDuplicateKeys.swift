import Foundation

/// Finds a key written twice in one object of a JSON text. Foundation's parser, like most,
/// keeps one of two equal keys and drops the other silently, so a header that names a tensor
/// or a metadata field twice would be read as whichever copy won.
enum JSONDuplicateKeys {
  /// The first key that appears twice in the same object (compared after unescaping, so
  /// `"a"` and `"\u0061"` are equal), or nil. `json` must already be known to be valid JSON.
  static func first(in json: Data) -> String? {
    // One frame per open object or array: an object's keys so far, and whether the next string
    // at this level is a key (after `{` or `,`) rather than a value.
    struct Frame {
      var isObject: Bool
      var keys: Set<String> = []
      var expectsKey: Bool
    }
    var stack: [Frame] = []
    var inString = false, escaped = false
    var keyStart: Int? = nil
    return json.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> String? in
      for (i, b) in bytes.enumerated() {
        if inString {
          if escaped {
            escaped = false
          } else if b == UInt8(ascii: "\\") {
            escaped = true
          } else if b == UInt8(ascii: "\"") {
            inString = false
            if let start = keyStart {
              keyStart = nil
              // Only a key with an escape needs the parser (a header of 100,000 plain keys
              // would otherwise make as many parser calls).
              let body = bytes[(start + 1)..<i]
              let key = body.contains(UInt8(ascii: "\\"))
                ? (try? JSONSerialization.jsonObject(with: Data(bytes[start...i]), options: .fragmentsAllowed)) as? String ?? String(decoding: body, as: UTF8.self)
                : String(decoding: body, as: UTF8.self)
              if stack[stack.count - 1].keys.insert(key).inserted == false { return key }
            }
          }
          continue
        }
        switch b {
        case UInt8(ascii: "{"): stack.append(Frame(isObject: true, expectsKey: true))
        case UInt8(ascii: "["): stack.append(Frame(isObject: false, expectsKey: false))
        case UInt8(ascii: "}"), UInt8(ascii: "]"): if !stack.isEmpty { stack.removeLast() }
        case UInt8(ascii: ","): if let top = stack.last, top.isObject { stack[stack.count - 1].expectsKey = true }
        case UInt8(ascii: "\""):
          inString = true
          if let top = stack.last, top.isObject, top.expectsKey {
            keyStart = i
            stack[stack.count - 1].expectsKey = false
          }
        default: break
        }
      }
      return nil
    }
  }
}
