import DxEfficientNet
import DxNN
import DxTensor

/// Which part of a pretrained network learns. A frozen BatchNorm also keeps its running
/// statistics (see `BatchNorm2D.isFrozen`), the usual practice when fine-tuning on small data.
public enum FineTunePolicy: Equatable, Sendable, CustomStringConvertible {
  /// Only the classifier (the backbone is a fixed feature extractor; features can be cached).
  case head
  /// The classifier, the head convolution and the last `n` stages.
  case lastStages(Int)
  /// Everything.
  case full
  /// Head first, then one more stage (from the top) every epoch.
  case gradual

  /// Parses `head`, `last-N`, `full`, `gradual`.
  public init?(_ text: String) {
    switch text {
    case "head": self = .head
    case "full": self = .full
    case "gradual": self = .gradual
    default:
      // Digits only, no sign or leading zero (`last-+2`, `last-01` are no policy's names).
      let digits = text.dropFirst(5)
      guard text.hasPrefix("last-"), digits.allSatisfy(\.isASCII), digits.first != "0", digits.allSatisfy(\.isNumber), let n = Int(digits), n >= 1 else { return nil }
      self = .lastStages(n)
    }
  }

  public var description: String {
    switch self {
    case .head: return "head"
    case .lastStages(let n): return "last-\(n)"
    case .full: return "full"
    case .gradual: return "gradual"
    }
  }

  /// Freezes and unfreezes `model`'s parameters for `epoch` (0-based).
  public func apply(to model: EfficientNet, epoch: Int) {
    let stages = model.blocks.count
    let trainableStages: Int
    switch self {
    case .head: trainableStages = -1
    case .lastStages(let n): trainableStages = min(n, stages)
    case .full: trainableStages = stages + 1
    case .gradual: trainableStages = epoch - 1  // epoch 0: head; 1: + head conv; 2: + last stage...
    }
    model.setFrozen(true)
    model.setFrozen(false, prefix: "classifier.")
    if trainableStages >= 0 {
      model.setFrozen(false, prefix: "conv_head.")
      model.setFrozen(false, prefix: "bn2.")
      for s in max(0, stages - trainableStages)..<stages where trainableStages > 0 { model.setFrozen(false, prefix: "blocks.\(s).") }
      if trainableStages > stages { model.setFrozen(false, prefix: "conv_stem."); model.setFrozen(false, prefix: "bn1.") }
    }
  }
}

