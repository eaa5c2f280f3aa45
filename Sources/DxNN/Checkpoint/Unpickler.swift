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

/// Lists and dicts are filled after they are made, but never after they have been put inside
/// another container (`sealed`): so a pickle cannot make a cycle (a list holding itself) or
/// deepen a structure behind the reader's back, and `depth` is final once sealed.
final class PickleList {
  var items: [PickleValue] = []
  var depth = 1
  var sealed = false
}
final class PickleDict {
  var items: [(key: PickleValue, value: PickleValue)] = []
  var depth = 1
  var sealed = false
}

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
  /// How deeply containers may nest (a state dict needs fewer than 10 levels): bounds every
  /// walk over the result and its deallocation, which recurse.
  static let maxNesting = 1_000

  private let bytes: [UInt8]
  private var pos = 0
  private var stack: [PickleValue] = []
  /// The nesting depth of each stack entry (0 for scalars).
  private var depths: [Int] = []
  private var marks: [Int] = []
  private var memo: [Int: (value: PickleValue, depth: Int)] = [:]
  /// Storage key -> storage type, as the persistent ids name them (the legacy format needs it).
  private(set) var storageTypes: [String: String] = [:]

  init(_ data: Data) { bytes = [UInt8](data) }

  /// Runs the pickle and returns its result.
  static func load(_ data: Data) throws -> PickleValue {
    var u = Unpickler(data)
    return try u.run()
  }

  /// Runs the pickle that starts at `offset` of `bytes`; returns its result and the offset just
  /// past its STOP (the legacy torch format is several pickles back to back).
  static func load(_ bytes: [UInt8], from offset: Int) throws -> (PickleValue, Int) {
    let (v, end, _) = try loadWithStorages(bytes, from: offset)
    return (v, end)
  }

  /// As `load(_:from:)`, with the storage types its persistent ids named.
  static func loadWithStorages(_ bytes: [UInt8], from offset: Int) throws -> (PickleValue, Int, [String: String]) {
    var u = Unpickler(bytes: bytes, offset: offset)
    let v = try u.run()
    return (v, u.pos, u.storageTypes)
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
    try popWithDepth().value
  }

  private mutating func popWithDepth() throws -> (value: PickleValue, depth: Int) {
    guard let v = stack.popLast(), let d = depths.popLast() else { throw PickleError(reason: "stack underflow at byte \(pos)") }
    return (v, Self.depth(of: v, recorded: d))
  }

  /// A list's or dict's depth as it is now (it may have been filled since it was recorded);
  /// anything else keeps the depth recorded when it was made (tuples hold only sealed members).
  static func depth(of v: PickleValue, recorded: Int) -> Int {
    switch v {
    case .list(let l): return l.depth
    case .dict(let d): return d.depth
    default: return recorded
    }
  }

  private mutating func popToMark() throws -> [PickleValue] {
    try popToMarkWithDepth().values
  }

  /// The values above the last MARK and their greatest depth.
  private mutating func popToMarkWithDepth() throws -> (values: [PickleValue], depth: Int) {
    guard let m = marks.popLast(), m <= stack.count else { throw PickleError(reason: "missing MARK at byte \(pos)") }
    defer { stack.removeSubrange(m...); depths.removeSubrange(m...) }
    let live = zip(stack[m...], depths[m...]).map { Self.depth(of: $0, recorded: $1) }
    return (Array(stack[m...]), live.max() ?? 0)
  }

  private mutating func push(_ v: PickleValue, depth: Int = 0) throws {
    guard stack.count < Unpickler.maxDepth else { throw PickleError(reason: "pickle stack too deep") }
    guard depth <= Unpickler.maxNesting else { throw PickleError(reason: "containers nested deeper than \(Unpickler.maxNesting) levels at byte \(pos)") }
    stack.append(v)
    depths.append(depth)
  }

  /// Seals the containers among `values` (they are being put inside another).
  private func seal(_ values: [PickleValue]) {
    for v in values {
      switch v {
      case .list(let l): l.sealed = true
      case .dict(let d): d.sealed = true
      default: break
      }
    }
  }

  /// A tuple of `values` whose deepest member is `depth` deep.
  private mutating func pushTuple(_ values: [PickleValue], depth: Int) throws {
    seal(values)
    try push(.tuple(values), depth: depth + 1)
  }

  /// Adds `values` (the deepest `depth` deep) to the list or dict on top of the stack.
  private mutating func fillTop(_ values: [PickleValue], depth: Int, dict: Bool) throws {
    let target = stack.last
    let (sealed, current): (Bool, Int)
    switch (target, dict) {
    case (.list(let l)?, false): (sealed, current) = (l.sealed, l.depth)
    case (.dict(let d)?, true): (sealed, current) = (d.sealed, d.depth)
    default: throw PickleError(reason: dict ? "SETITEM on a non-dict" : "APPEND to a non-list")
    }
    guard !sealed else { throw PickleError(reason: "a container is filled after it was put inside another (byte \(pos)); a state dict never does that") }
    for v in values {
      switch (v, target) {
      case (.list(let a), .list(let b)?) where a === b: throw PickleError(reason: "a list that contains itself")
      case (.dict(let a), .dict(let b)?) where a === b: throw PickleError(reason: "a dict that contains itself")
      default: break
      }
    }
    seal(values)
    let newDepth = max(current, depth + 1)
    guard newDepth <= Unpickler.maxNesting else { throw PickleError(reason: "containers nested deeper than \(Unpickler.maxNesting) levels at byte \(pos)") }
    switch target {
    case .list(let l)?: l.items += values; l.depth = newDepth
    case .dict(let d)?: try setItems(d, values); d.depth = newDepth
    default: break
    }
    depths[depths.count - 1] = newDepth
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
      case 0x28:  // MARK
        guard marks.count < Unpickler.maxDepth else { throw PickleError(reason: "too many MARKs at byte \(pos)") }
        marks.append(stack.count)
      case 0x7D: try push(.dict(PickleDict()), depth: 1)  // EMPTY_DICT
      case 0x5D: try push(.list(PickleList()), depth: 1)  // EMPTY_LIST
      case 0x29: try push(.tuple([]), depth: 1)  // EMPTY_TUPLE
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
      case 0x74:  // TUPLE
        let (values, depth) = try popToMarkWithDepth()
        try pushTuple(values, depth: depth)
      case 0x85:  // TUPLE1
        let a = try popWithDepth()
        try pushTuple([a.value], depth: a.depth)
      case 0x86:  // TUPLE2
        let b = try popWithDepth(), a = try popWithDepth()
        try pushTuple([a.value, b.value], depth: max(a.depth, b.depth))
      case 0x87:  // TUPLE3
        let c = try popWithDepth(), b = try popWithDepth(), a = try popWithDepth()
        try pushTuple([a.value, b.value, c.value], depth: max(a.depth, b.depth, c.depth))
      case 0x6C:  // LIST
        let (values, depth) = try popToMarkWithDepth()
        seal(values)
        let l = PickleList()
        l.items = values
        l.depth = depth + 1
        try push(.list(l), depth: l.depth)
      case 0x64:  // DICT
        let (values, depth) = try popToMarkWithDepth()
        seal(values)
        let d = PickleDict()
        try setItems(d, values)
        d.depth = depth + 1
        try push(.dict(d), depth: d.depth)
      case 0x61:  // APPEND
        let v = try popWithDepth()
        try fillTop([v.value], depth: v.depth, dict: false)
      case 0x65:  // APPENDS
        let (values, depth) = try popToMarkWithDepth()
        try fillTop(values, depth: depth, dict: false)
      case 0x73:  // SETITEM
        let v = try popWithDepth(), k = try popWithDepth()
        try fillTop([k.value, v.value], depth: max(k.depth, v.depth), dict: true)
      case 0x75:  // SETITEMS
        let (values, depth) = try popToMarkWithDepth()
        try fillTop(values, depth: depth, dict: true)
      case 0x71, 0x72, 0x94:  // BINPUT, LONG_BINPUT, MEMOIZE
        let index = op == 0x71 ? try uint(1) : op == 0x72 ? try uint(4) : memo.count
        guard let v = stack.last, let d = depths.last else { throw PickleError(reason: "memo store with an empty stack at byte \(pos)") }
        memo[index] = (v, d)
      case 0x68, 0x6A:  // BINGET, LONG_BINGET
        let i = try uint(op == 0x68 ? 1 : 4)
        guard let entry = memo[i] else { throw PickleError(reason: "memo entry \(i) used before it was stored") }
        try push(entry.value, depth: Self.depth(of: entry.value, recorded: entry.depth))
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
        let args = try popWithDepth(), callable = try pop()
        let result = try reduce(callable, args.value)
        try push(result, depth: { if case .dict = result { return 1 } else { return args.depth } }())
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

  private mutating func persistent(_ pid: PickleValue) throws -> PickleValue {
    // Zip format: ('storage', type, key, location, numel); legacy: the same plus view metadata.
    guard case .tuple(let t) = pid, t.count == 5 || t.count == 6, case .string("storage") = t[0], case .global(let type) = t[1],
      case .string(let key) = t[2], case .int(let count) = t[4], count >= 0
    else { throw PickleError(reason: "unsupported persistent id (expected a PyTorch storage)") }
    if t.count == 6, case .none = t[5] {} else if t.count == 6 { throw PickleError(reason: "storage views (pre-1.0 checkpoints) are not supported") }
    let storageType = String(type.dropFirst("torch.".count))
    storageTypes[key] = storageType
    return .storage(type: storageType, key: key, count: count)
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
