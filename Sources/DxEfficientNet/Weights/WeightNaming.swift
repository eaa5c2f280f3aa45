/// The naming schemes EfficientNet checkpoints come in. timm's names are the project's
/// canonical names; the others map onto them through the rule tables below.
public enum WeightNaming: String, CaseIterable, Sendable, Codable {
  /// timm (`conv_stem`, `blocks.{s}.{b}.conv_dw`, `classifier`): canonical.
  case timm
  /// torchvision (`features.{s+1}.{b}.block.{i}.{0|1}`, `classifier.1`).
  case torchvision
  /// lukemelas/efficientnet_pytorch (`_conv_stem`, `_blocks.{flat}._depthwise_conv`, `_fc`).
  case efficientnetPyTorch = "efficientnet_pytorch"

  /// Recognises the scheme from one characteristic key, or nil.
  public static func detect(_ keys: some Collection<String>) -> WeightNaming? {
    let set = Set(keys)
    if set.contains("conv_stem.weight") { return .timm }
    if set.contains("features.0.0.weight") { return .torchvision }
    if set.contains("_conv_stem.weight") { return .efficientnetPyTorch }
    return nil
  }

  /// Module renames for the stem, head and classifier: timm name -> this scheme's name.
  /// `{head}` is torchvision's index of the head (number of stages + 1).
  var topLevel: [String: String] {
    switch self {
    case .timm: return [:]
    case .torchvision:
      return ["conv_stem": "features.0.0", "bn1": "features.0.1", "conv_head": "features.{head}.0", "bn2": "features.{head}.1", "classifier": "classifier.1"]
    case .efficientnetPyTorch:
      return ["conv_stem": "_conv_stem", "bn1": "_bn0", "conv_head": "_conv_head", "bn2": "_bn1", "classifier": "_fc"]
    }
  }

  /// Where block `{s}.{b}` lives (`{flat}` is its index counting every block in order).
  var blockPrefix: String {
    switch self {
    case .timm: return "blocks.{s}.{b}"
    case .torchvision: return "features.{s+1}.{b}"
    case .efficientnetPyTorch: return "_blocks.{flat}"
    }
  }

  /// Module renames inside a block: timm name -> this scheme's name, per block type.
  func blockModules(_ kind: BlockArgs.Kind) -> [String: String] {
    switch (self, kind) {
    case (.timm, _): return [:]
    case (.torchvision, .depthwiseSeparable):
      return ["conv_dw": "block.0.0", "bn1": "block.0.1", "se.conv_reduce": "block.1.fc1", "se.conv_expand": "block.1.fc2",
              "conv_pw": "block.2.0", "bn2": "block.2.1"]
    case (.torchvision, .invertedResidual):
      return ["conv_pw": "block.0.0", "bn1": "block.0.1", "conv_dw": "block.1.0", "bn2": "block.1.1",
              "se.conv_reduce": "block.2.fc1", "se.conv_expand": "block.2.fc2", "conv_pwl": "block.3.0", "bn3": "block.3.1"]
    case (.efficientnetPyTorch, .depthwiseSeparable):
      return ["conv_dw": "_depthwise_conv", "bn1": "_bn1", "se.conv_reduce": "_se_reduce", "se.conv_expand": "_se_expand",
              "conv_pw": "_project_conv", "bn2": "_bn2"]
    case (.efficientnetPyTorch, .invertedResidual):
      return ["conv_pw": "_expand_conv", "bn1": "_bn0", "conv_dw": "_depthwise_conv", "bn2": "_bn1",
              "se.conv_reduce": "_se_reduce", "se.conv_expand": "_se_expand", "conv_pwl": "_project_conv", "bn3": "_bn2"]
    }
  }
}

extension EfficientNet {
  /// For every parameter of this network: its timm name and its name under `naming`.
  public func sourceNames(for naming: WeightNaming) -> [(timm: String, source: String)] {
    let headIndex = blocks.count + 1
    var flatIndex: [String: Int] = [:]
    var kinds: [String: BlockArgs.Kind] = [:]
    var flat = 0
    for (s, stage) in blocks.enumerated() {
      for (b, block) in stage.enumerated() {
        flatIndex["\(s).\(b)"] = flat
        kinds["\(s).\(b)"] = block.args.kind
        flat += 1
      }
    }
    return namedParameters().map { (name, _) in
      let parts = name.split(separator: ".").map(String.init)
      let leaf = parts.last!
      if parts[0] == "blocks" {
        let s = Int(parts[1])!, b = Int(parts[2])!
        let module = parts[3..<(parts.count - 1)].joined(separator: ".")
        let prefix = naming.blockPrefix.replacingOccurrences(of: "{s}", with: "\(s)")
          .replacingOccurrences(of: "{s+1}", with: "\(s + 1)").replacingOccurrences(of: "{b}", with: "\(b)")
          .replacingOccurrences(of: "{flat}", with: "\(flatIndex["\(s).\(b)"]!)")
        let renamed = naming.blockModules(kinds["\(s).\(b)"]!)[module] ?? module
        return (name, "\(prefix).\(renamed).\(leaf)")
      }
      let module = parts.dropLast().joined(separator: ".")
      let renamed = (naming.topLevel[module] ?? module).replacingOccurrences(of: "{head}", with: "\(headIndex)")
      return (name, "\(renamed).\(leaf)")
    }
  }
}
