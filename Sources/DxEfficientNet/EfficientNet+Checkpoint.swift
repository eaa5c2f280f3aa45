import DxNN
import DxTensor
import Foundation

/// Why an EfficientDx checkpoint could not be used.
public enum EfficientNetCheckpointError: Error, CustomStringConvertible {
  case notAnEfficientDxCheckpoint(path: String)
  /// `reason`: what is wrong in it (which field, and why), from its decoder.
  case badMetadata(path: String, key: String, reason: String)
  case state(path: String, StateLoadError)
  case badConfig(path: String, EfficientNetConfigError)
  case nonFinite(path: String, tensor: String)
  case negativeVariance(path: String, tensor: String)

  public var description: String {
    switch self {
    case .notAnEfficientDxCheckpoint(let path):
      return "\(path): not an EfficientDx checkpoint (no 'effdx.config' metadata); import foreign weights with `effdx import-weights`"
    case .badMetadata(let path, let key, let reason): return "\(path): metadata '\(key)' is unreadable: \(reason)"
    case .state(let path, let error): return "\(path): \(error)"
    case .badConfig(let path, let error): return "\(path): metadata 'effdx.config': \(error)"
    case .nonFinite(let path, let tensor): return "\(path): tensor '\(tensor)' holds NaN or infinite values (a diverged training run?)"
    case .negativeVariance(let path, let tensor):
      return "\(path): tensor '\(tensor)' holds a negative variance (no batch of images has one: a damaged or edited file)"
    }
  }
}

/// Checkpoint = one safetensors file: every parameter and buffer under timm's names in
/// EfficientDx's channels-last layout, with the architecture (`effdx.config`), preprocessing
/// (`effdx.preprocessing`) and any caller metadata (class names, task) in `__metadata__`.
extension EfficientNet {
  /// The checkpoint layout this build writes and reads (`effdx.format`).
  static let formatVersion = "1"
  static let layoutTag = "channels-last: conv [k,k,in,out], depthwise [k,k,C], linear [in,out]"

  /// Writes the network atomically to `path`.
  public func save(to path: String, preprocessing: Preprocessing? = nil, metadata: [String: String] = [:]) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    var meta = metadata
    meta["effdx.format"] = Self.formatVersion
    meta["effdx.layout"] = Self.layoutTag
    meta["effdx.config"] = String(decoding: try encoder.encode(config), as: UTF8.self)
    meta["effdx.preprocessing"] = String(decoding: try encoder.encode(preprocessing ?? .defaults(for: config)), as: UTF8.self)
    try SafeTensorsWriter.write(stateDict(), metadata: meta, to: path)
  }

  /// Opens a checkpoint written by `save`: builds the architecture from its metadata and loads
  /// the weights strictly. Returns the network, its preprocessing and the file's metadata.
  public static func load(from path: String) throws -> (model: EfficientNet, preprocessing: Preprocessing, metadata: [String: String]) {
    let file = try SafeTensorsFile(path: path)
    guard let configJSON = file.metadata["effdx.config"] else { throw EfficientNetCheckpointError.notAnEfficientDxCheckpoint(path: path) }
    // A layout this build does not know (a newer effdx's) is refused rather than guessed at.
    if let format = file.metadata["effdx.format"], format != Self.formatVersion {
      throw EfficientNetCheckpointError.badMetadata(
        path: path, key: "effdx.format", reason: "format '\(format)' is not the one this effdx reads ('\(Self.formatVersion)'): written by another version of effdx?")
    }
    let config = try decodeMetadata(EfficientNetConfig.self, configJSON, key: "effdx.config", path: path)
    // Absent (foreign weights saved without it): the variant's defaults. Present but unreadable:
    // an error, never the defaults in its place (they would silently change every prediction).
    let pre = try file.metadata["effdx.preprocessing"].map { try decodeMetadata(Preprocessing.self, $0, key: "effdx.preprocessing", path: path) }
      ?? .defaults(for: config)
    do { try config.validate() } catch let e as EfficientNetConfigError {
      throw EfficientNetCheckpointError.badConfig(path: path, e)
    }
    // Every weight is loaded strictly below: no need to draw random ones first.
    let model = try EfficientNet(config, placeholderWeights: true)
    let tensors = try file.allTensors()
    // A NaN or infinite weight makes every prediction NaN, and so does a negative running
    // variance (its square root; under ReLU6 every image then gets the same probabilities):
    // refuse them by name instead.
    if let bad = Self.implausibleTensor(tensors) {
      throw bad.negativeVariance
        ? EfficientNetCheckpointError.negativeVariance(path: path, tensor: bad.name) : EfficientNetCheckpointError.nonFinite(path: path, tensor: bad.name)
    }
    do { try model.loadState(tensors) } catch let e as StateLoadError {
      throw EfficientNetCheckpointError.state(path: path, e)
    }
    return (model, pre, file.metadata)
  }
}

extension EfficientNet {
  /// The first tensor, by name, that no trained network holds: one with NaN or infinite
  /// values, or a BatchNorm `running_var` below 0.
  public static func implausibleTensor(_ tensors: [String: Tensor]) -> (name: String, negativeVariance: Bool)? {
    for (name, t) in tensors.sorted(by: { $0.key < $1.key }) {
      if !t.scalars.allSatisfy({ $0.isFinite }) { return (name, false) }
      if name.hasSuffix("running_var") && t.scalars.contains(where: { $0 < 0 }) { return (name, true) }
    }
    return nil
  }
}

/// `json`, the value of metadata `key`, decoded; its decoder's complaint (the field and why) in
/// the error.
func decodeMetadata<T: Decodable>(_ type: T.Type, _ json: String, key: String, path: String) throws -> T {
  do { return try JSONDecoder().decode(T.self, from: Data(json.utf8)) } catch let error as DecodingError {
    func at(_ context: DecodingError.Context) -> String {
      let field = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
      return (field.isEmpty ? "" : "'\(field)': ") + context.debugDescription
    }
    let reason: String
    switch error {
    case .dataCorrupted(let c), .typeMismatch(_, let c), .valueNotFound(_, let c): reason = at(c)
    case .keyNotFound(let k, let c): reason = at(c).isEmpty ? "'\(k.stringValue)' is missing" : "'\(k.stringValue)' is missing (\(at(c)))"
    @unknown default: reason = "\(error)"
    }
    throw EfficientNetCheckpointError.badMetadata(path: path, key: key, reason: reason)
  } catch {
    throw EfficientNetCheckpointError.badMetadata(path: path, key: key, reason: "\(error)")
  }
}
