import Foundation

/// A value produced by `Unpickler`. Dicts and lists are references, because a pickle fills a
/// container after storing it in the memo.
indirect enum PickleValue {
  case none
  case bool(Bool)
  case int(Int)
  case float(Double)
  case string(String)
  case bytes(Data)
  case tuple([PickleValue])
  case list(PickleList)
  case dict(PickleDict)
  /// An allowed global, named `module.name`.
  case global(String)
  /// A PyTorch storage reference: storage type (`FloatStorage`...), archive key, element count.
  case storage(type: String, key: String, count: Int)
  case tensor(PickledTensor)
}

final class PickleList { var items: [PickleValue] = [] }
final class PickleDict { var items: [(key: PickleValue, value: PickleValue)] = [] }

/// A tensor as `_rebuild_tensor_v2` describes it: a view into a storage.
struct PickledTensor {
  var storageType: String, key: String, storageCount: Int
  var offset: Int, size: [Int], stride: [Int]
}

/// A pickle that is malformed or asks for something a state dict never needs.
struct PickleError: Error { var reason: String }

/// A deliberately small pickle reader for PyTorch state dicts.
///
/// Python's `pickle` can call any importable function, so loading an untrusted `.pth` with it
/// runs arbitrary code. This reader never calls anything: it knows the handful of opcodes a
/// state dict uses, accepts only the globals that build dicts, storages and tensors
/// (`collections.OrderedDict`, `torch.*Storage`, `torch._utils._rebuild_tensor_v2`,
/// `_rebuild_parameter`), interprets those itself, and rejects every other global or opcode
/// with the reason.
struct Unpickler {
  static let allowedGlobals: Set<String> = [
    "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
  ]
  static let storageTypes: Set<String> = [
    "FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage", "LongStorage", "IntStorage",
    "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage",
  ]
  static let maxDepth = 100_000

  private let bytes: [UInt8]
  private var pos = 0
  private var stack: [PickleValue] = []
  private var marks: [Int] = []
  private var memo: [Int: PickleValue] = [:]

  init(_ data: Data) { bytes = [UInt8](data) }

  /// Runs the pickle and returns its result.
  static func load(_ data: Data) throws -> PickleValue {
    var u = Unpickler(data)
    return try u.run()
  }

  /// Runs the pickle that starts at `offset` of `bytes`; returns its result and the offset just
  /// past its STOP (the legacy torch format is several pickles back to back).
  static func load(_ bytes: [UInt8], from offset: Int) throws -> (PickleValue, Int) {
    var u = Unpickler(bytes: bytes, offset: offset)
    let v = try u.run()
    return (v, u.pos)
  }

  private init(bytes: [UInt8], offset: Int) {
    self.bytes = bytes
    pos = offset
  }

  private mutating func byte() throws -> UInt8 {
    guard pos < bytes.count else { throw PickleError(reason: "pickle ends unexpectedly at byte \(pos)") }
    defer { pos += 1 }
    return bytes[pos]
  }

  private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
    guard n >= 0, n <= bytes.count - pos else { throw PickleError(reason: "a \(n)-byte field at byte \(pos) runs past the end") }
    defer { pos += n }
    return bytes[pos..<(pos + n)]
  }

  private mutating func uint(_ n: Int) throws -> Int {
    var v = 0
    for (i, b) in try take(n).enumerated() { v |= Int(b) << (8 * i) }
    return v
  }

  private mutating func line() throws -> String {
    guard let end = bytes[pos...].firstIndex(of: 0x0A) else { throw PickleError(reason: "unterminated GLOBAL name") }
    defer { pos = end + 1 }
    return String(decoding: bytes[pos..<end], as: UTF8.self)
  }

  private mutating func pop() throws -> PickleValue {
    guard let v = stack.popLast() else { throw PickleError(reason: "stack underflow at byte \(pos)") }
    return v
  }

  private mutating func popToMark() throws -> [PickleValue] {
    guard let m = marks.popLast(), m <= stack.count else { throw PickleError(reason: "missing MARK at byte \(pos)") }
    defer { stack.removeSubrange(m...) }
    return Array(stack[m...])
  }

  private mutating func push(_ v: PickleValue) throws {
    guard stack.count < Unpickler.maxDepth else { throw PickleError(reason: "pickle stack too deep") }
    stack.append(v)
  }

  private mutating func string(_ n: Int) throws -> PickleValue {
    let raw = try take(n)
    guard let s = String(bytes: raw, encoding: .utf8) else { throw PickleError(reason: "invalid UTF-8 string at byte \(pos)") }
    return .string(s)
  }

  private mutating func run() throws -> PickleValue {
    while true {
      let op = try byte()
      switch op {
      case 0x80: _ = try byte()  // PROTO
      case 0x95: _ = try take(8)  // FRAME
      case 0x2E: return try pop()  // STOP
      case 0x28: marks.append(stack.count)  // MARK
      case 0x7D: try push(.dict(PickleDict()))  // EMPTY_DICT
      case 0x5D: try push(.list(PickleList()))  // EMPTY_LIST
      case 0x29: try push(.tuple([]))  // EMPTY_TUPLE
      case 0x4E: try push(.none)
      case 0x88: try push(.bool(true))
      case 0x89: try push(.bool(false))
      case 0x4B: try push(.int(try uint(1)))  // BININT1
      case 0x4D: try push(.int(try uint(2)))  // BININT2
      case 0x4A: try push(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
      case 0x8A:  // LONG1
        let n = Int(try byte())
        guard n <= 8 else { throw PickleError(reason: "integer of \(n) bytes is too large") }
        var v = try uint(n)
        if n > 0 && n < 8 && v >> (8 * n - 1) & 1 == 1 { v -= 1 << (8 * n) }
        try push(.int(v))
      case 0x47:  // BINFLOAT (big-endian)
        var bits: UInt64 = 0
        for b in try take(8) { bits = bits << 8 | UInt64(b) }
        try push(.float(Double(bitPattern: bits)))
      case 0x58: try push(try string(try uint(4)))  // BINUNICODE
      case 0x8C: try push(try string(Int(try byte())))  // SHORT_BINUNICODE
      case 0x8D: try push(try string(try uint(8)))  // BINUNICODE8
      case 0x42: try push(.bytes(Data(try take(try uint(4)))))  // BINBYTES
      case 0x43: try push(.bytes(Data(try take(Int(try byte())))))  // SHORT_BINBYTES
      case 0x74: try push(.tuple(try popToMark()))  // TUPLE
      case 0x85: try push(.tuple([try pop()]))  // TUPLE1
      case 0x86:  // TUPLE2
        let b = try pop(), a = try pop()
        try push(.tuple([a, b]))
      case 0x87:  // TUPLE3
        let c = try pop(), b = try pop(), a = try pop()
        try push(.tuple([a, b, c]))
      case 0x6C:  // LIST
        let l = PickleList()
        l.items = try popToMark()
        try push(.list(l))
      case 0x64:  // DICT
        let d = PickleDict()
        try setItems(d, try popToMark())
        try push(.dict(d))
      case 0x61:  // APPEND
        let v = try pop()
        guard case .list(let l) = stack.last else { throw PickleError(reason: "APPEND to a non-list") }
        l.items.append(v)
      case 0x65:  // APPENDS
        let items = try popToMark()
        guard case .list(let l) = stack.last else { throw PickleError(reason: "APPENDS to a non-list") }
        l.items += items
      case 0x73:  // SETITEM
        let v = try pop(), k = try pop()
        guard case .dict(let d) = stack.last else { throw PickleError(reason: "SETITEM on a non-dict") }
        d.items.append((k, v))
      case 0x75:  // SETITEMS
        let items = try popToMark()
        guard case .dict(let d) = stack.last else { throw PickleError(reason: "SETITEMS on a non-dict") }
        try setItems(d, items)
      case 0x71: memo[try uint(1)] = stack.last  // BINPUT
      case 0x72: memo[try uint(4)] = stack.last  // LONG_BINPUT
      case 0x94: memo[memo.count] = stack.last  // MEMOIZE
      case 0x68, 0x6A:  // BINGET, LONG_BINGET
        let i = try uint(op == 0x68 ? 1 : 4)
        guard let v = memo[i] else { throw PickleError(reason: "memo entry \(i) used before it was stored") }
        try push(v)
      case 0x63:  // GLOBAL
        let module = try line(), name = try line()
        try push(try global(module, name))
      case 0x93:  // STACK_GLOBAL
        let n = try pop(), m = try pop()
        guard case .string(let module) = m, case .string(let name) = n else { throw PickleError(reason: "STACK_GLOBAL needs two strings") }
        try push(try global(module, name))
      case 0x51:  // BINPERSID
        try push(try persistent(try pop()))
      case 0x52:  // REDUCE
        let args = try pop(), callable = try pop()
        try push(try reduce(callable, args))
      case 0x62:  // BUILD: only an OrderedDict's attribute state (state_dict `_metadata`), ignored.
        _ = try pop()
        guard case .dict = stack.last else { throw PickleError(reason: "BUILD is only allowed on a dict (object state would run __setstate__)") }
      default:
        throw PickleError(reason: String(format: "unsupported pickle opcode 0x%02x at byte %d; a state dict never needs it", op, pos - 1))
      }
    }
  }

  private func setItems(_ d: PickleDict, _ items: [PickleValue]) throws {
    guard items.count % 2 == 0 else { throw PickleError(reason: "odd number of dict items") }
    for i in stride(from: 0, to: items.count, by: 2) { d.items.append((items[i], items[i + 1])) }
  }

  private func global(_ module: String, _ name: String) throws -> PickleValue {
    let full = "\(module).\(name)"
    if Unpickler.allowedGlobals.contains(full) || (module == "torch" && Unpickler.storageTypes.contains(name)) {
      return .global(full)
    }
    throw PickleError(reason: "refusing global '\(full)': only state-dict building blocks are allowed (nothing is ever executed)")
  }

  private func persistent(_ pid: PickleValue) throws -> PickleValue {
    // Zip format: ('storage', type, key, location, numel); legacy: the same plus view metadata.
    guard case .tuple(let t) = pid, t.count == 5 || t.count == 6, case .string("storage") = t[0], case .global(let type) = t[1],
      case .string(let key) = t[2], case .int(let count) = t[4], count >= 0
    else { throw PickleError(reason: "unsupported persistent id (expected a PyTorch storage)") }
    if t.count == 6, case .none = t[5] {} else if t.count == 6 { throw PickleError(reason: "storage views (pre-1.0 checkpoints) are not supported") }
    return .storage(type: String(type.dropFirst("torch.".count)), key: key, count: count)
  }

  private func reduce(_ callable: PickleValue, _ args: PickleValue) throws -> PickleValue {
    guard case .global(let name) = callable, case .tuple(let a) = args else {
      throw PickleError(reason: "REDUCE of something that is not an allowed function")
    }
    switch name {
    case "collections.OrderedDict":
      guard a.isEmpty else { throw PickleError(reason: "OrderedDict with constructor arguments") }
      return .dict(PickleDict())
    case "torch._utils._rebuild_tensor_v2":
      guard a.count >= 4, case .storage(let type, let key, let count) = a[0], case .int(let offset) = a[1],
        case .tuple(let sizeValues) = a[2], case .tuple(let strideValues) = a[3]
      else { throw PickleError(reason: "malformed _rebuild_tensor_v2 arguments") }
      let size = try sizeValues.map { v -> Int in
        guard case .int(let i) = v, i >= 0 else { throw PickleError(reason: "bad tensor size") }
        return i
      }
      let stride = try strideValues.map { v -> Int in
        guard case .int(let i) = v, i >= 0 else { throw PickleError(reason: "bad tensor stride") }
        return i
      }
      guard size.count == stride.count, offset >= 0 else { throw PickleError(reason: "tensor size and stride disagree") }
      return .tensor(PickledTensor(storageType: type, key: key, storageCount: count, offset: offset, size: size, stride: stride))
    case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
      guard let first = a.first, case .tensor = first else { throw PickleError(reason: "malformed _rebuild_parameter arguments") }
      return first
    default:
      throw PickleError(reason: "refusing to call '\(name)'")
    }
  }
}
