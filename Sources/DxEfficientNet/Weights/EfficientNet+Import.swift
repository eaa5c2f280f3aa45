import DxNN
import DxTensor

/// What an import did: the naming it used, and what it left out (non-strict mode).
public struct ImportReport: Equatable, Sendable, CustomStringConvertible {
  public var naming: WeightNaming
  /// Model parameters with no tensor in the source (kept at their initial values).
  public var missing: [String] = []
  /// Source tensors that belong to no parameter (ignored).
  public var unexpected: [String] = []
  /// Tensors whose shape fits no layout of the parameter (ignored), as "name: source vs model".
  public var shapeMismatches: [String] = []
  /// True when the classifier was replaced by a fresh one for a new number of classes.
  public var classifierReplaced = false

  public var isClean: Bool { missing.isEmpty && unexpected.isEmpty && shapeMismatches.isEmpty }

  public var description: String {
    var lines = ["naming: \(naming.rawValue)"]
    if classifierReplaced { lines.append("classifier: replaced for the new number of classes") }
    if !missing.isEmpty { lines.append("missing (\(missing.count)): " + missing.joined(separator: ", ")) }
    if !unexpected.isEmpty { lines.append("unexpected (\(unexpected.count)): " + unexpected.joined(separator: ", ")) }
    if !shapeMismatches.isEmpty { lines.append("wrong shape (\(shapeMismatches.count)): " + shapeMismatches.joined(separator: "; ")) }
    return lines.joined(separator: "\n")
  }
}

/// Why weights could not be imported.
public enum WeightImportError: Error, CustomStringConvertible, Equatable {
  case unknownNaming(sampleKeys: [String])
  case mismatch(ImportReport)

  public var description: String {
    switch self {
    case .unknownNaming(let keys):
      return "cannot tell which naming these weights use (timm, torchvision or efficientnet_pytorch); first keys: \(keys.joined(separator: ", "))"
    case .mismatch(let report):
      return "weights do not match the architecture (use non-strict mode to load what fits):\n\(report)"
    }
  }
}

extension EfficientNet {
  /// Loads a PyTorch `state_dict` (PyTorch layouts) into this network.
  ///
  /// - Parameters:
  ///   - state: tensors under timm, torchvision or efficientnet_pytorch names; a `module.`
  ///     prefix (DataParallel) is dropped, and so are `num_batches_tracked` counters.
  ///   - naming: the scheme, or nil to detect it from the keys.
  ///   - strict: refuse (and change nothing) when anything is missing, unexpected or mis-shaped;
  ///     non-strict loads what fits and lists the rest in the report.
  ///   - replaceClassifier: when the source's classifier has another number of classes than this
  ///     network, keep this network's fresh classifier instead of failing (transfer learning).
  @discardableResult
  public func importPyTorchState(
    _ state: [String: Tensor], naming: WeightNaming? = nil, strict: Bool = true, replaceClassifier: Bool = false
  ) throws -> ImportReport {
    var source: [String: Tensor] = [:]
    let stripModule = !state.isEmpty && state.keys.allSatisfy { $0.hasPrefix("module.") }
    for (key, value) in state where !key.hasSuffix("num_batches_tracked") {
      source[stripModule ? String(key.dropFirst("module.".count)) : key] = value
    }
    guard let scheme = naming ?? WeightNaming.detect(source.keys) else {
      throw WeightImportError.unknownNaming(sampleKeys: Array(source.keys.sorted().prefix(5)))
    }
    var report = ImportReport(naming: scheme)
    let params = Dictionary(uniqueKeysWithValues: namedParameters().map { ($0.name, $0.parameter) })
    var converted: [String: Tensor] = [:]
    var used = Set<String>()
    for (timmName, sourceName) in sourceNames(for: scheme) {
      guard let t = source[sourceName] else {
        report.missing.append(timmName)
        continue
      }
      used.insert(sourceName)
      let target = params[timmName]!.value.shape
      if let c = fromPyTorchLayout(t, toShape: target) {
        converted[timmName] = c
      } else if timmName.hasPrefix("classifier.") && replaceClassifier {
        report.classifierReplaced = true
      } else {
        // Both shapes in PyTorch's layout, as the source file holds them (the model's own
        // channels-last shape beside a transposed source read as the same shape twice).
        let expected = pyTorchShape(of: target)
        let transposed = t.shape.count == expected.count && t.shape == expected.reversed() && t.shape != expected
        report.shapeMismatches.append("\(timmName) (\(sourceName)): source \(t.shape), expected \(expected)\(transposed ? " (transposed?)" : "")")
      }
    }
    if report.classifierReplaced { report.missing.removeAll { $0.hasPrefix("classifier.") } }
    report.unexpected = source.keys.filter { !used.contains($0) }.sorted()
    if strict && !report.isClean { throw WeightImportError.mismatch(report) }
    for (name, t) in converted { params[name]!.value = t }
    return report
  }

  /// This network's state in PyTorch layouts under timm's names (what `timm` would load).
  public func exportPyTorchState() -> [String: Tensor] {
    stateDict().mapValues(toPyTorchLayout)
  }
}
