import Foundation

/// A minimal RFC 4180 CSV reader over raw bytes: commas, double-quoted fields with `""`
/// escapes and embedded newlines, `\n` or `\r\n` line ends. Fields are handed out as byte
/// ranges so numbers can be parsed without building strings.
public struct CSVRecords {
  public typealias Bytes = UnsafeBufferPointer<UInt8>

  /// Calls `body(lineNumber, fields, bytes)` for every record in `bytes[start..<end]`;
  /// `lineNumber` is 1-based and counts physical lines from `firstLine`, so it matches what an
  /// editor shows. Returns the offset just past the last record read (with `limit`, after
  /// that many records).
  @discardableResult
  public static func forEachRecord(
    _ bytes: Bytes, from start: Int = 0, to end: Int? = nil, firstLine: Int = 1, limit: Int = .max,
    _ body: (Int, [Field], Bytes) throws -> Void
  ) rethrows -> Int {
    var fields: [Field] = []
    let n = end ?? bytes.count
    var i = start, line = firstLine, records = 0
    if i == 0 && n >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { i = 3 }  // UTF-8 BOM
    while i < n && records < limit {
      let recordLine = line
      fields.removeAll(keepingCapacity: true)
      var endOfRecord = false
      while !endOfRecord {
        if i < n && bytes[i] == 0x22 {  // quoted field
          var value: [UInt8] = []
          i += 1
          while i < n {
            if bytes[i] == 0x22 {
              if i + 1 < n && bytes[i + 1] == 0x22 { value.append(0x22); i += 2; continue }
              i += 1
              break
            }
            if bytes[i] == 0x0A { line += 1 }
            value.append(bytes[i])
            i += 1
          }
          fields.append(Field(range: 0..<0, unquoted: value))
          while i < n && bytes[i] != 0x2C && bytes[i] != 0x0A { i += 1 }  // ignore junk after the quote
        } else {
          let fieldStart = i
          while i < n && bytes[i] != 0x2C && bytes[i] != 0x0A { i += 1 }
          var fieldEnd = i
          if fieldEnd > fieldStart && bytes[fieldEnd - 1] == 0x0D { fieldEnd -= 1 }
          fields.append(Field(range: fieldStart..<fieldEnd, unquoted: nil))
        }
        if i >= n { endOfRecord = true } else if bytes[i] == 0x2C { i += 1 } else {
          i += 1
          line += 1
          endOfRecord = true
        }
      }
      if fields.count == 1 && fields[0].unquoted == nil && fields[0].range.isEmpty { continue }  // blank line
      records += 1
      try body(recordLine, fields, bytes)
    }
    return i
  }

  /// One field: a byte range, or its unescaped bytes when it was quoted.
  public struct Field {
    public var range: Range<Int>
    public var unquoted: [UInt8]?

    public func string(_ bytes: Bytes) -> String {
      if let u = unquoted { return String(decoding: u, as: UTF8.self) }
      return String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    public func double(_ bytes: Bytes) -> Double? {
      if let u = unquoted { return u.withUnsafeBufferPointer { parseDouble($0[...]) } }
      return parseDouble(bytes[range])
    }
  }
}

/// Parses a decimal number. Plain decimals of up to 15 significant digits take Clinger's exact
/// fast path (integer mantissa times or over an exact power of ten: correctly rounded, no
/// allocation); anything else falls back to `strtod`. Nil for text that is not a number.
public func parseDouble(_ s: Slice<UnsafeBufferPointer<UInt8>>) -> Double? {
  var i = s.startIndex
  let end = s.endIndex
  while i < end && s[i] == 0x20 { i += 1 }
  var last = end
  while last > i && s[last - 1] == 0x20 { last -= 1 }
  guard i < last else { return nil }
  var negative = false
  if s[i] == 0x2D || s[i] == 0x2B { negative = s[i] == 0x2D; i += 1 }
  var mantissa: UInt64 = 0, digits = 0, scale = 0
  var sawDigit = false, sawDot = false, truncated = false
  var j = i
  while j < last {
    let c = s[j]
    if c >= 0x30 && c <= 0x39 {
      sawDigit = true
      let d = UInt64(c - 0x30)
      if mantissa == 0 && d == 0 {
        if sawDot { scale -= 1 }  // a leading zero after the point: 0.00x
      } else if digits < 19 {
        mantissa = mantissa * 10 + d
        digits += 1
        if sawDot { scale -= 1 }
      } else {
        truncated = true
        if !sawDot { scale += 1 }
      }
      j += 1
    } else if c == 0x2E && !sawDot {
      sawDot = true
      j += 1
    } else {
      break
    }
  }
  if j == last && sawDigit && !truncated && digits <= 15 {
    let powers: [Double] = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22]
    if scale >= -22 && scale <= 22 {
      let m = Double(mantissa)
      let v = scale < 0 ? m / powers[-scale] : m * powers[scale]
      return negative ? -v : v
    }
  }
  // General path: exponents, long mantissas, inf/nan spelled out.
  var text = [CChar](repeating: 0, count: last - s.startIndex + 1)
  var k = 0
  for p in s.startIndex..<last { text[k] = CChar(bitPattern: s[p]); k += 1 }
  var endPtr: UnsafeMutablePointer<CChar>? = nil
  let v = text.withUnsafeMutableBufferPointer { buf -> Double in
    let r = strtod(buf.baseAddress!, &endPtr)
    if endPtr != buf.baseAddress! + k { endPtr = nil }
    return r
  }
  return endPtr == nil ? nil : v
}
