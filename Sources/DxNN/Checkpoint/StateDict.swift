import DxTensor

/// Why a state could not be loaded into a model. Lists every problem by name.
public struct StateLoadError: Error, CustomStringConvertible, Equatable {
  public var missing: [String]
  public var unexpected: [String]
  public var shapeMismatches: [String]

  public var description: String {
    var lines = ["state does not match the model:"]
    if !missing.isEmpty { lines.append("  missing: " + missing.joined(separator: ", ")) }
    if !unexpected.isEmpty { lines.append("  unexpected: " + unexpected.joined(separator: ", ")) }
    if !shapeMismatches.isEmpty { lines.append("  wrong shape: " + shapeMismatches.joined(separator: "; ")) }
    return lines.joined(separator: "\n")
  }
}

extension Layer {
  /// Every parameter and buffer by hierarchical name (what a checkpoint stores).
  public func stateDict() -> [String: Tensor] {
    Dictionary(uniqueKeysWithValues: namedParameters().map { ($0.name, $0.parameter.value) })
  }

  /// Copies tensors into the parameters of the same name.
  ///
  /// Strict (the default) refuses any missing key, unexpected key or wrong shape and changes
  /// nothing; non-strict loads what matches and returns the problems it skipped.
  @discardableResult
  public func loadState(_ state: [String: Tensor], strict: Bool = true) throws -> StateLoadError {
    let params = namedParameters()
    var report = StateLoadError(missing: [], unexpected: [], shapeMismatches: [])
    let known = Set(params.map(\.name))
    report.unexpected = state.keys.filter { !known.contains($0) }.sorted()
    for (name, p) in params {
      guard let t = state[name] else {
        report.missing.append(name)
        continue
      }
      if t.shape != p.value.shape { report.shapeMismatches.append("\(name): model \(p.value.shape), state \(t.shape)") }
    }
    let clean = report.missing.isEmpty && report.unexpected.isEmpty && report.shapeMismatches.isEmpty
    if strict && !clean { throw report }
    for (name, p) in params { if let t = state[name], t.shape == p.value.shape { p.value = t } }
    return report
  }
}
