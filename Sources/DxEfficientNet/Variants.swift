import DxNN

/// The published EfficientNet variants as data: one stage table per family plus each
/// variant's (width, depth, resolution, dropout). Names are timm's model names.
public enum Variants {
  /// EfficientNet-B0's stages in timm notation; every B variant is this table plus scaling.
  public static let b0Stages = [
    "ds_r1_k3_s1_e1_c16_se0.25", "ir_r2_k3_s2_e6_c24_se0.25", "ir_r2_k5_s2_e6_c40_se0.25",
    "ir_r3_k3_s2_e6_c80_se0.25", "ir_r3_k5_s1_e6_c112_se0.25", "ir_r4_k5_s2_e6_c192_se0.25",
    "ir_r1_k3_s1_e6_c320_se0.25",
  ]

  /// EfficientNet-Lite's stages: B0's without squeeze-excitation.
  public static let liteStages = [
    "ds_r1_k3_s1_e1_c16", "ir_r2_k3_s2_e6_c24", "ir_r2_k5_s2_e6_c40", "ir_r3_k3_s2_e6_c80",
    "ir_r3_k5_s1_e6_c112", "ir_r4_k5_s2_e6_c192", "ir_r1_k3_s1_e6_c320",
  ]

  /// (width, depth, resolution, dropout) from the paper and timm's `_gen_efficientnet`.
  static let bScaling: [(String, Double, Double, Int, Float)] = [
    ("b0", 1.0, 1.0, 224, 0.2), ("b1", 1.0, 1.1, 240, 0.2), ("b2", 1.1, 1.2, 260, 0.3),
    ("b3", 1.2, 1.4, 300, 0.3), ("b4", 1.4, 1.8, 380, 0.4), ("b5", 1.6, 2.2, 456, 0.4),
    ("b6", 1.8, 2.6, 528, 0.5), ("b7", 2.0, 3.1, 600, 0.5),
  ]

  /// (width, depth, resolution, dropout) from timm's `_gen_efficientnet_lite`.
  static let liteScaling: [(String, Double, Double, Int, Float)] = [
    ("lite0", 1.0, 1.0, 224, 0.2), ("lite1", 1.0, 1.1, 240, 0.2), ("lite2", 1.1, 1.2, 260, 0.3),
    ("lite3", 1.2, 1.4, 280, 0.3), ("lite4", 1.4, 1.8, 300, 0.3),
  ]

  /// Every named variant, in display order.
  public static let all: [EfficientNetConfig] = {
    var list: [EfficientNetConfig] = []
    for (tf, prefix) in [(false, "efficientnet_"), (true, "tf_efficientnet_")] {
      for (suffix, w, d, r, drop) in bScaling {
        let c = EfficientNetConfig(name: prefix + suffix, stages: b0Stages, widthMultiplier: w, depthMultiplier: d, resolution: r, dropRate: drop)
        list.append(tf ? c.tensorFlowConventions() : c)
      }
      for (suffix, w, d, r, drop) in liteScaling {
        let c = EfficientNetConfig(
          name: prefix + suffix, stages: liteStages, widthMultiplier: w, depthMultiplier: d, resolution: r, dropRate: drop,
          activation: .relu6, fixStemHeadAndEndStages: true)
        list.append(tf ? c.tensorFlowConventions() : c)
      }
    }
    return list
  }()

  /// The variant called `name`, or nil: timm's model names, plus two spellings for a network
  /// scaled to one's own budget: `efficientnet_phi<phi>` (compound scaling, `compound(phi:)`)
  /// and `efficientnet_w<width>_d<depth>_r<resolution>` (`custom(width:depth:resolution:)`).
  public static func named(_ name: String) -> EfficientNetConfig? {
    if let variant = all.first(where: { $0.name == name }) { return variant }
    if name.hasPrefix("efficientnet_phi"), let phi = Double(name.dropFirst("efficientnet_phi".count)), (0...8).contains(phi) {
      return compound(phi: phi)
    }
    let parts = name.split(separator: "_")
    if parts.count == 4, parts[0] == "efficientnet", parts[1].hasPrefix("w"), parts[2].hasPrefix("d"), parts[3].hasPrefix("r"),
      let w = Double(parts[1].dropFirst()), let d = Double(parts[2].dropFirst()), let r = Int(parts[3].dropFirst()),
      (0.1...8).contains(w), (0.1...8).contains(d), (32...2048).contains(r)
    {
      return custom(width: w, depth: d, resolution: r)
    }
    return nil
  }

  /// A B0-based network with the given width and depth multipliers and input resolution.
  public static func custom(width: Double, depth: Double, resolution: Int, dropRate: Float = 0.2) -> EfficientNetConfig {
    EfficientNetConfig(
      name: "efficientnet_w\(width)_d\(depth)_r\(resolution)", stages: b0Stages, widthMultiplier: width, depthMultiplier: depth,
      resolution: resolution, dropRate: dropRate)
  }

  /// A B0-based network scaled by compound coefficient `phi` (alpha 1.2, beta 1.1, gamma 1.15),
  /// for users who want their own accuracy/cost point.
  public static func compound(phi: Double, dropRate: Float = 0.2) -> EfficientNetConfig {
    let s = Scaling.compound(phi: phi)
    return EfficientNetConfig(name: "efficientnet_phi\(phi)", stages: b0Stages, widthMultiplier: s.width, depthMultiplier: s.depth, resolution: s.resolution, dropRate: dropRate)
  }
}
