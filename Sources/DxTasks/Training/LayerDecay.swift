import Foundation

/// Layer-wise learning-rate decay as timm's `--layer-decay` applies it to an EfficientNet: the
/// stem is layer 0, each block the next layer in order, and the head convolution (`conv_head`,
/// `bn2`) with the classifier the top layer; a parameter of layer `i` learns at
/// `decay^(top - i)` times the rate of the top. Early layers hold generic features (edges,
/// textures) that a small dataset should barely move; later ones are task-specific.
///
/// In effdx the backbone's `backbone_lr_scale` multiplies this (the classifier keeps 1), so
/// timm's recipe is `--layer-decay D --backbone-lr-scale 1`.
struct LayerDecay: Equatable {
  let decay: Double
  /// Layer of each block, by its name prefix (`blocks.S.B.`).
  let layers: [String: Int]
  let top: Int
  /// Each parameter's factor, worked out once (`scale` is asked for every parameter at every step).
  private var scales: [String: Double] = [:]

  /// - Parameter parameterNames: the network's, in order (blocks in forward order).
  init(decay: Double, parameterNames: [String]) {
    var layers: [String: Int] = [:]
    for name in parameterNames {
      guard let prefix = Self.blockPrefix(name), layers[prefix] == nil else { continue }
      layers[prefix] = layers.count + 1
    }
    self.decay = decay
    self.layers = layers
    top = layers.count + 1
    for name in parameterNames { scales[name] = factor(name) }
  }

  /// `blocks.S.B.` of a block parameter's name, else nil.
  static func blockPrefix(_ name: String) -> String? {
    let parts = name.split(separator: ".", maxSplits: 3)
    guard parts.count == 4, parts[0] == "blocks", Int(parts[1]) != nil, Int(parts[2]) != nil else { return nil }
    return "blocks.\(parts[1]).\(parts[2])."
  }

  /// The layer of a parameter: 0 for the stem, its block's, or the top (head and classifier).
  func layer(_ name: String) -> Int {
    if name.hasPrefix("conv_stem.") || name.hasPrefix("bn1.") { return 0 }
    return Self.blockPrefix(name).flatMap { layers[$0] } ?? top
  }

  /// The factor of a parameter's learning rate.
  func scale(_ name: String) -> Double { scales[name] ?? factor(name) }

  private func factor(_ name: String) -> Double { Foundation.pow(decay, Double(top - layer(name))) }
}
