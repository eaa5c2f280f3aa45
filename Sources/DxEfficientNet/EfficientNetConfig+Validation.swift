/// A configuration outside what EfficientDx builds: names the field, its value and the range.
public struct EfficientNetConfigError: Error, CustomStringConvertible, Equatable {
  public var field: String
  public var reason: String
  public var description: String { "config '\(field)': \(reason)" }
}

extension EfficientNetConfig {
  /// The largest network EfficientDx builds (B7 has 66 million): bounds what a hostile or
  /// corrupt configuration can make it allocate.
  public static let maxParameters = 500_000_000

  /// Checks every field against its range, and the network it describes against
  /// `maxParameters`, before anything is allocated. `EfficientNet.init` calls it, so a
  /// configuration from checkpoint metadata, a flag or code is checked the same way.
  public func validate() throws {
    func check(_ ok: Bool, _ field: String, _ value: Any, _ range: String) throws {
      if !ok { throw EfficientNetConfigError(field: field, reason: "\(value) is outside \(range)") }
    }
    try check((1...32).contains(stages.count), "stages", stages.count, "1...32 stages")
    try check(widthMultiplier.isFinite && (0.05...8).contains(widthMultiplier), "widthMultiplier", widthMultiplier, "0.05...8")
    try check(depthMultiplier.isFinite && (0.05...8).contains(depthMultiplier), "depthMultiplier", depthMultiplier, "0.05...8")
    try check((16...2048).contains(resolution), "resolution", resolution, "16...2048")
    // Below 1: a rate of 1 keeps nothing (Dropout's scale 1 / (1 - rate) is infinite).
    try check(dropRate >= 0 && dropRate < 1, "dropRate", dropRate, "[0, 1)")
    try check(dropPathRate >= 0 && dropPathRate < 1, "dropPathRate", dropPathRate, "[0, 1)")
    try check(bnEps.isFinite && bnEps > 0 && bnEps <= 1, "bnEps", bnEps, "(0, 1]")
    try check((0...1).contains(bnMomentum), "bnMomentum", bnMomentum, "0...1")
    try check((1...1024).contains(stemChannels), "stemChannels", stemChannels, "1...1024")
    try check((1...16384).contains(headChannels), "headChannels", headChannels, "1...16384")
    try check((1...Self.maxClasses).contains(numClasses), "numClasses", numClasses, "1...\(Self.maxClasses)")
    if let h = classifierHidden { try check((1...65536).contains(h), "classifierHidden", h, "1...65536") }
    var blocks = 0, parameters = 0, channels = scaledStemChannels
    parameters += 27 * channels
    for (i, s) in stages.enumerated() {
      let raw: BlockArgs
      do { raw = try BlockArgs(decoding: s) } catch { throw EfficientNetConfigError(field: "stages[\(i)]", reason: "\(error)") }
      try check((1...64).contains(raw.repeats), "stages[\(i)] repeats", raw.repeats, "1...64")
      try check((1...15).contains(raw.kernel), "stages[\(i)] kernel", raw.kernel, "1...15")
      // Symmetric padding centres an odd kernel only: an even one shrank each block's map by
      // a pixel, and the residual's shapes no longer matched (a trap).
      try check(padding != .symmetric || raw.kernel % 2 == 1, "stages[\(i)] kernel", raw.kernel, "odd kernels (symmetric padding)")
      // EfficientNet halves a map or keeps it; `featureMapSide`, which the BatchNorm checks
      // read, counts on it (a stride of 4 made a 1 x 1 map it took for 2 x 2).
      try check((1...2).contains(raw.stride), "stages[\(i)] stride", raw.stride, "1...2")
      try check(raw.expandRatio.isFinite && (0.1...16).contains(raw.expandRatio), "stages[\(i)] expansion", raw.expandRatio, "0.1...16")
      try check((1...4096).contains(raw.outChannels), "stages[\(i)] channels", raw.outChannels, "1...4096")
      try check(raw.seRatio.isFinite && (0...1).contains(raw.seRatio), "stages[\(i)] se ratio", raw.seRatio, "0...1")
    }
    for args in try scaledStages() {
      blocks += args.repeats
      for _ in 0..<args.repeats {
        let mid = Scaling.makeDivisible(Double(channels) * args.expandRatio)
        // SE's width as the blocks build it (`squeezeWidth`), from the block's input.
        let se = args.seRatio > 0 ? MBConvBlock.squeezeWidth(Double(mid) * args.seRatio / args.expandRatio) : 0
        parameters += channels * mid + mid * args.kernel * args.kernel + mid * args.outChannels + 2 * mid * se
        channels = args.outChannels
        try check(parameters <= Self.maxParameters, "widthMultiplier/depthMultiplier", "\(widthMultiplier)/\(depthMultiplier)", "a network of at most \(Self.maxParameters) parameters")
      }
    }
    try check(blocks <= 512, "depthMultiplier", depthMultiplier, "at most 512 blocks in all")
    // The linear classifier is built first even when an MLP head then replaces it: count both.
    parameters += channels * scaledHeadChannels + scaledHeadChannels * numClasses + (classifierHidden.map { scaledHeadChannels * $0 + $0 * numClasses } ?? 0)
    try check(parameters <= Self.maxParameters, "numClasses/headChannels", "\(numClasses)/\(headChannels)", "a network of at most \(Self.maxParameters) parameters")
  }
}

extension EfficientNetConfig {
  /// The most classes a classifier has.
  public static let maxClasses = 100_000
}
