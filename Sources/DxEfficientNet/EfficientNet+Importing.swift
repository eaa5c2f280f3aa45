import DxNN
import DxTensor

extension EfficientNet {
  /// Builds `config`'s network and imports foreign weights from `path` (`.safetensors` or
  /// PyTorch `.pth`), the way `effdx import-weights` does.
  ///
  /// - Parameters:
  ///   - numClasses: classes of the new network; nil keeps the source's. When it differs from
  ///     the source's classifier, the classifier starts fresh (transfer learning).
  ///   - maxDecodedBytes: what the source's floating-point tensors may come to as Float32.
  public static func importing(
    from path: String, config: EfficientNetConfig, naming: WeightNaming? = nil, numClasses: Int? = nil, strict: Bool = true, seed: UInt64 = 0,
    maxDecodedBytes: Int = .max
  ) throws -> (model: EfficientNet, report: ImportReport, skipped: [String]) {
    let source = try ForeignState(path: path, maxDecodedBytes: maxDecodedBytes)
    var c = config
    let scheme = naming ?? WeightNaming.detect(source.tensors.keys.map { $0.hasPrefix("module.") ? String($0.dropFirst(7)) : $0 })
    let sourceClasses = scheme.flatMap { s -> Int? in
      let key = ["timm": "classifier.bias", "torchvision": "classifier.1.bias", "efficientnet_pytorch": "_fc.bias"][s.rawValue]!
      return (source.tensors[key] ?? source.tensors["module." + key])?.count
    }
    c.numClasses = numClasses ?? sourceClasses ?? c.numClasses
    // A class count read from the source's classifier is checked naming the tensor it came from
    // (it was only "config 'numClasses': 200000 is outside 1...100000").
    if numClasses == nil, let n = sourceClasses, !(1...EfficientNetConfig.maxClasses).contains(n) {
      throw EfficientNetConfigError(field: "numClasses", reason: "\(path): its classifier's bias has \(n) values, so \(n) classes, outside 1...\(EfficientNetConfig.maxClasses); give --num-classes")
    }
    let model = try EfficientNet(c, seed: seed)
    let report = try model.importPyTorchState(source.tensors, naming: scheme, strict: strict, replaceClassifier: sourceClasses != c.numClasses)
    return (model, report, source.skipped)
  }
}
