/// One stage's block description, decoded from timm's block-string notation.
///
/// `ir_r2_k3_s2_e6_c24_se0.25` reads: inverted residual (`ir`; `ds` is depthwise-separable),
/// repeated 2 times, 3x3 depthwise kernel, stride 2 on the first repeat, expansion ratio 6,
/// 24 output channels before width scaling, squeeze-excitation ratio 0.25 of the block's input
/// channels. `noskip` removes the residual connection. See timm `_decode_block_str`.
public struct BlockArgs: Equatable, Sendable, Codable {
  /// The block type.
  public enum Kind: String, Sendable, Codable {
    /// MobileNet's depthwise-separable block: depthwise kxk, SE, pointwise 1x1 (stage 1 of B0).
    case depthwiseSeparable = "ds"
    /// MobileNetV2's inverted residual with SE (MBConv).
    case invertedResidual = "ir"
  }

  public var kind: Kind
  public var repeats: Int
  public var kernel: Int
  public var stride: Int
  public var expandRatio: Double
  public var outChannels: Int
  /// Squeeze-excitation ratio relative to the block's input channels; 0 means no SE.
  public var seRatio: Double
  public var noSkip: Bool

  public init(kind: Kind, repeats: Int, kernel: Int, stride: Int, expandRatio: Double, outChannels: Int, seRatio: Double = 0, noSkip: Bool = false) {
    self.kind = kind
    self.repeats = repeats
    self.kernel = kernel
    self.stride = stride
    self.expandRatio = expandRatio
    self.outChannels = outChannels
    self.seRatio = seRatio
    self.noSkip = noSkip
  }

  /// Decodes a block string; throws `BlockArgsError` naming the string and the problem.
  public init(decoding string: String) throws {
    let ops = string.split(separator: "_").map(String.init)
    guard let first = ops.first, let kind = Kind(rawValue: first) else {
      throw BlockArgsError(string: string, reason: "block type must be 'ds' or 'ir'")
    }
    var values: [String: String] = [:]
    var noSkip = false
    for op in ops.dropFirst() {
      if op == "noskip" { noSkip = true; continue }
      if op == "skip" { continue }
      guard let digit = op.firstIndex(where: { $0.isNumber || $0 == "." }), digit != op.startIndex else {
        throw BlockArgsError(string: string, reason: "cannot read option '\(op)'")
      }
      let key = String(op[..<digit]), value = String(op[digit...])
      guard values[key] == nil else { throw BlockArgsError(string: string, reason: "option '\(key)' given twice") }
      values[key] = value
    }
    func int(_ key: String, default d: Int? = nil) throws -> Int {
      guard let v = values[key] else {
        if let d { return d }
        throw BlockArgsError(string: string, reason: "missing '\(key)'")
      }
      // timm allows a stride per axis ("s22"); EfficientNet's are always square.
      let text = key == "s" && v.count == 2 && v.first == v.last ? String(v.prefix(1)) : v
      guard let n = Int(text), n > 0 else { throw BlockArgsError(string: string, reason: "'\(key)\(v)' is not a positive integer") }
      return n
    }
    func double(_ key: String, default d: Double) throws -> Double {
      guard let v = values[key] else { return d }
      guard let x = Double(v), x >= 0 else { throw BlockArgsError(string: string, reason: "'\(key)\(v)' is not a non-negative number") }
      return x
    }
    let known: Set<String> = ["r", "k", "s", "e", "c", "se"]
    if let unknown = values.keys.sorted().first(where: { !known.contains($0) }) {
      throw BlockArgsError(string: string, reason: "unsupported option '\(unknown)'")
    }
    self.init(
      kind: kind, repeats: try int("r"), kernel: try int("k"), stride: try int("s", default: 1),
      expandRatio: try double("e", default: 1), outChannels: try int("c"), seRatio: try double("se", default: 0),
      noSkip: noSkip)
    if kind == .depthwiseSeparable && expandRatio != 1 {
      throw BlockArgsError(string: string, reason: "a depthwise-separable block has no expansion")
    }
  }
}

/// A block string that could not be decoded.
public struct BlockArgsError: Error, CustomStringConvertible, Equatable {
  public var string: String
  public var reason: String
  public var description: String { "block string '\(string)': \(reason)" }
}
