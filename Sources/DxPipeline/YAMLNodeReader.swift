import DxCSV
import Yams

/// Reads a YAML mapping key by key, remembering which keys were used, so that anything left
/// over (a typo such as `batchsize`) is reported with its line instead of silently ignored.
struct YAMLNodeReader {
  let file: String
  let node: Node
  private(set) var used: Set<String> = []

  init(_ node: Node, file: String) throws {
    self.file = file
    self.node = node
    guard let mapping = node.mapping else { throw PipelineSpecError(file: file, line: YAMLNodeReader.line(node), message: "expected a mapping of keys to values") }
    var seen = Set<String>()
    for (k, _) in mapping where !seen.insert(k.string ?? "?").inserted {
      throw PipelineSpecError(file: file, line: YAMLNodeReader.line(k), message: "key '\(k.string ?? "?")' appears twice in one mapping")
    }
  }

  /// The deepest nesting a pipeline or a recorded transform needs is a handful of levels;
  /// libyaml parses nesting recursively, so a hostile file of 200,000 `[` would overflow the
  /// stack. Text nested deeper than this is refused before it is parsed.
  static let maxNesting = 64

  /// Opening brackets a file may hold at all, quoted or not: libyaml's recursion overflowed an
  /// 8 MB stack at about 6,000 levels, and no pipeline needs a few dozen.
  static let maxOpeningBrackets = 256

  static func scanNesting(_ text: String, file: String) throws {
    func refuse(_ line: Int, _ message: String) -> PipelineSpecError { PipelineSpecError(file: file, line: line, message: message) }
    var flow = 0, line = 1
    var quote: Unicode.Scalar? = nil, escaped = false
    var atLineStart = true, indent = 0, dashes = 0, previous: Unicode.Scalar = " "
    var inComment = false
    for c in text.unicodeScalars {
      if c == "\n" {
        line += 1
        atLineStart = true
        indent = 0
        dashes = 0
        inComment = false
        previous = " "
        if quote == "'" || quote == "\"" { continue }  // quoted scalars may span lines
        continue
      }
      if inComment { continue }
      if let q = quote {
        if q == "\"" && escaped { escaped = false } else if q == "\"" && c == "\\" { escaped = true } else if c == q { quote = nil }
        previous = c
        continue
      }
      if atLineStart {
        // libyaml skips a byte-order mark at the start of any line, as indentation.
        if c == " " || c == "\t" || c == "\u{FEFF}" {
          indent += 1
          if indent > 4 * maxNesting { throw refuse(line, "indented deeper than \(4 * maxNesting) spaces") }
          continue
        }
        if c == "-" { dashes += 1; previous = c; continue }
        if previous == "-" && c == " " {
          if dashes + indent / 2 > maxNesting { throw refuse(line, "nested deeper than \(maxNesting) levels") }
          continue
        }
        atLineStart = false
      }
      let tokenStart = previous == " " || previous == "\t" || previous == "[" || previous == "{" || previous == "," || previous == ":" || previous == "-"
      switch c {
      case "#" where previous == " " || previous == "\t": inComment = true
      case "\"", "'": if tokenStart { quote = c }
      case "&", "*": if tokenStart { throw refuse(line, "anchors and aliases ('\(c)') are not allowed in a pipeline") }
      case "[", "{":
        flow += 1
        if flow > maxNesting { throw refuse(line, "nested deeper than \(maxNesting) levels") }
      case "]", "}": flow = max(0, flow - 1)
      default: break
      }
      previous = c
    }
    try scanWithoutQuotes(text, refuse)
  }

  /// The bounds that hold whatever is quoted. `scanNesting` understands quotes the way a
  /// reader of pipelines writes them, but YAML's are subtler (a `'` inside a plain scalar such
  /// as `it is 'odd` or in a block scalar opens nothing), and a quote it took for an opening one
  /// hid everything after it: so the brackets are also counted and anchors looked for here with
  /// no regard to quoting. A few false refusals (a name with 300 brackets, `*x` in a comment)
  /// are the price of never handing libyaml a file it cannot survive.
  static func scanWithoutQuotes(_ text: String, _ refuse: (Int, String) -> PipelineSpecError) throws {
    func boundary(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\n" || c == "[" || c == "{" || c == "," || c == ":" || c == "-" }
    func nameCharacter(_ c: Unicode.Scalar) -> Bool { c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_" || c == "-" }
    var opening = 0, line = 1
    var previous: Unicode.Scalar = "\n"
    var marker: Unicode.Scalar? = nil  // `&` or `*` just seen after a boundary
    // The line's leading indicators (`- `, `? `, `: ` after the indentation), and the one just
    // seen, which counts once a space follows it.
    var leading = true, indicator: Unicode.Scalar? = nil
    for c in text.unicodeScalars {
      // `&name` or `*name` after a space, a line start or a flow indicator: an anchor or an
      // alias wherever it stands.
      if let m = marker, nameCharacter(c) { throw refuse(line, "anchors and aliases ('\(m)') are not allowed in a pipeline") }
      marker = (c == "&" || c == "*") && boundary(previous) ? c : nil
      // Explicit keys and values (`? key`, `: value`) among a line's leading indicators: each
      // `? ` nests one level, and a 10 KB line of them (`? ? ? x`, `- ? ? x`, `? - - x`)
      // crashed the composer's recursion. A pipeline never needs them; a `?` later on a line
      // (a value, a comment) is left alone.
      if let i = indicator {
        if c == " " || c == "\t" || c == "\n" || c == "\r" {
          if i != "-" { throw refuse(line, "explicit keys and values ('\(i) ') are not allowed in a pipeline") }
        } else {
          leading = false
        }
        indicator = nil
      }
      if c == "\n" {
        leading = true
      } else if leading && c != " " && c != "\t" && c != "\u{FEFF}" {
        if c == "-" || c == "?" || c == ":" { indicator = c } else { leading = false }
      }
      if c == "\n" { line += 1 }
      if c == "[" || c == "{" {
        opening += 1
        if opening > maxOpeningBrackets {
          throw refuse(line, "more than \(maxOpeningBrackets) '[' and '{' in the file (quoted or not): a pipeline needs a few dozen, and they bound how deeply it can nest")
        }
      }
      previous = c
    }
  }

  /// Parses YAML (or JSON) text after a scan that bounds how deeply it can nest: flow brackets
  /// (quotes and comments understood), compact block sequences (`- - - x`), indentation, and no
  /// anchors or aliases (a pipeline never needs them; chains of them nest without limit).
  static func compose(_ text: String, file: String) throws -> Node {
    try scanNesting(text, file: file)
    do {
      guard let n = try Yams.compose(yaml: text) else { throw PipelineSpecError(file: file, line: 1, message: "the file is empty") }
      return n
    } catch let e as PipelineSpecError {
      throw e
    } catch let e as YamlError {
      throw PipelineSpecError(file: file, line: PipelineSpec.line(of: e), message: "not valid YAML: \(e)")
    } catch {
      throw PipelineSpecError(file: file, line: 1, message: "not valid YAML: \(error)")
    }
  }

  static func line(_ node: Node) -> Int { node.mark?.line ?? 1 }  // Yams marks are 1-based

  /// A plain decimal integer. Not Yams' `Node.int`: it also reads YAML 1.1's base-60 and octal
  /// forms, and its base-60 arithmetic traps on overflow (`-444444444444:4444`, found by fuzzing).
  static func integer(_ n: Node) -> Int? {
    guard let s = plain(n) else { return nil }
    return Int(s.hasPrefix("+") ? String(s.dropFirst()) : s)
  }

  /// A decimal number, or YAML's `.inf`, `-.inf`, `.nan` (which every range then refuses).
  /// Not hexadecimal (`0x1p-3`), and not a quoted text that looks like a number. (An explicit
  /// `!!str 0.01` still reads as one: Yams tags plain `1e-3` as a string too.)
  static func number(_ n: Node) -> Double? {
    guard let s = plain(n) else { return nil }
    switch s.lowercased() {
    case ".inf", "+.inf": return .infinity
    case "-.inf": return -.infinity
    case ".nan": return .nan
    default: return DecimalText.parse(s)
    }
  }

  /// A scalar's text when it is written plain (`"0.01"` is a text, as YAML reads it).
  static func plain(_ n: Node) -> String? {
    guard let scalar = n.scalar, scalar.style == .plain || scalar.style == .any else { return nil }
    return scalar.string
  }

  func error(_ node: Node?, _ message: String) -> PipelineSpecError {
    PipelineSpecError(file: file, line: node.map(YAMLNodeReader.line) ?? YAMLNodeReader.line(self.node), message: message)
  }

  mutating func value(_ key: String) -> Node? {
    used.insert(key)
    return node.mapping?[Node(key)]
  }

  mutating func string(_ key: String, default d: String? = nil, allowed: [String]? = nil) throws -> String? {
    guard let n = value(key) else { return d }
    guard let s = n.string else { throw error(n, "'\(key)' must be text") }
    if let allowed, !allowed.contains(s) { throw error(n, "'\(key)' must be one of \(allowed.joined(separator: ", ")), not '\(s)'") }
    return s
  }

  mutating func int(_ key: String, default d: Int? = nil, range: ClosedRange<Int> = Int.min...Int.max) throws -> Int? {
    guard let n = value(key) else { return d }
    guard let v = Self.integer(n) else { throw error(n, "'\(key)' must be a whole number, not '\(n.string ?? "?")'") }
    guard range.contains(v) else { throw error(n, "'\(key)' must be in \(range.lowerBound)...\(range.upperBound), not \(v)") }
    return v
  }

  mutating func double(_ key: String, default d: Double? = nil, range: ClosedRange<Double> = -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude) throws -> Double? {
    guard let n = value(key) else { return d }
    guard let v = Self.number(n) else { throw error(n, "'\(key)' must be a number, not '\(n.string ?? "?")'") }
    guard range.contains(v) else { throw error(n, "'\(key)' must be in \(range.lowerBound)...\(range.upperBound), not \(v)") }
    return v
  }

  mutating func bool(_ key: String, default d: Bool) throws -> Bool {
    guard let n = value(key) else { return d }
    guard let v = n.bool else { throw error(n, "'\(key)' must be true or false") }
    return v
  }

  mutating func doubles(_ key: String, count: Int? = nil) throws -> [Double]? {
    guard let n = value(key) else { return nil }
    guard let seq = n.sequence, let values = Optional(seq.compactMap(Self.number)), values.count == seq.count else { throw error(n, "'\(key)' must be a list of numbers") }
    if let count, values.count != count { throw error(n, "'\(key)' must list \(count) numbers, not \(values.count)") }
    return values
  }

  mutating func strings(_ key: String) throws -> [String]? {
    guard let n = value(key) else { return nil }
    guard let seq = n.sequence else { throw error(n, "'\(key)' must be a list") }
    return try seq.map { item in
      guard let s = item.string else { throw error(item, "'\(key)' must list text values") }
      return s
    }
  }

  mutating func child(_ key: String) throws -> YAMLNodeReader? {
    guard let n = value(key) else { return nil }
    return try YAMLNodeReader(n, file: file)
  }

  /// Fails on the first key nobody asked for.
  func finish(_ context: String) throws {
    for (k, _) in node.mapping! {
      let name = k.string ?? "?"
      if !used.contains(name) {
        throw error(k, "unknown key '\(name)' in \(context) (expected one of: \(used.sorted().joined(separator: ", ")))")
      }
    }
  }
}
