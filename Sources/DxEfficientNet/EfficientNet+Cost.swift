/// Multiply-accumulate count of one forward pass, from the architecture alone.
extension EfficientNetConfig {
  /// MACs of one image at `resolution` (default: the native one), counting convolutions and the
  /// classifier (the convention of fvcore / thop that timm's tables use).
  public func macs(resolution: Int? = nil) throws -> Int {
    var side = ((resolution ?? self.resolution) + 1) / 2  // stem stride 2: ceil(r / 2)
    var total = side * side * 9 * 3 * scaledStemChannels
    var channels = scaledStemChannels
    for stage in try scaledStages() {
      for r in 0..<stage.repeats {
        let stride = r == 0 ? stage.stride : 1
        let outSide = (side + stride - 1) / stride
        let k2 = stage.kernel * stage.kernel
        let mid = stage.kind == .invertedResidual ? Scaling.makeDivisible(Double(channels) * stage.expandRatio) : channels
        if stage.kind == .invertedResidual { total += side * side * channels * mid }
        total += outSide * outSide * k2 * mid
        if stage.seRatio > 0 {
          let reduced = stage.kind == .invertedResidual
            ? Int((Double(mid) * stage.seRatio / stage.expandRatio).rounded(.toNearestOrEven))
            : Int((Double(channels) * stage.seRatio).rounded(.toNearestOrEven))
          total += 2 * mid * max(1, reduced)
        }
        total += outSide * outSide * mid * stage.outChannels
        channels = stage.outChannels
        side = outSide
      }
    }
    total += side * side * channels * scaledHeadChannels
    total += scaledHeadChannels * numClasses
    return total
  }
}

extension EfficientNetConfig {
  /// Trainable parameters, computed from the architecture without building the network
  /// (tests check it against the built network's count).
  public func parameterCount() throws -> Int {
    func bn(_ c: Int) -> Int { 2 * c }
    var total = 27 * scaledStemChannels + bn(scaledStemChannels)
    var channels = scaledStemChannels
    for stage in try scaledStages() {
      for _ in 0..<stage.repeats {
        let k2 = stage.kernel * stage.kernel
        let ir = stage.kind == .invertedResidual
        let mid = ir ? Scaling.makeDivisible(Double(channels) * stage.expandRatio) : channels
        if ir { total += channels * mid + bn(mid) }
        total += k2 * mid + bn(mid)
        if stage.seRatio > 0 {
          let reduced = max(1, ir
            ? Int((Double(mid) * stage.seRatio / stage.expandRatio).rounded(.toNearestOrEven))
            : Int((Double(channels) * stage.seRatio).rounded(.toNearestOrEven)))
          total += mid * reduced + reduced + reduced * mid + mid
        }
        total += mid * stage.outChannels + bn(stage.outChannels)
        channels = stage.outChannels
      }
    }
    total += channels * scaledHeadChannels + bn(scaledHeadChannels)
    return total + scaledHeadChannels * numClasses + numClasses
  }
}

extension EfficientNetConfig {
  /// Bytes of the maps a forward pass makes for `batch` images of `resolution` pixels, known
  /// before anything is allocated (`train --batch-size 4096 --resolution 2048` would ask for
  /// hundreds of GB, and a failed allocation traps): the largest single map (inference holds at
  /// least two at once) and every map together (about what training keeps for its backward
  /// pass), the input image included.
  public func activationBytes(batch: Int, resolution: Int) -> (largest: Double, total: Double) {
    var side = (resolution + 1) / 2  // after the stem
    var channels = scaledStemChannels
    var maps = [Double(resolution * resolution * 3), Double(side * side * channels)]
    for stage in (try? scaledStages()) ?? [] {
      for r in 0..<stage.repeats {
        let outSide = (side + (r == 0 ? stage.stride : 1) - 1) / (r == 0 ? stage.stride : 1)
        let mid = stage.kind == .invertedResidual ? Scaling.makeDivisible(Double(channels) * stage.expandRatio) : channels
        if stage.kind == .invertedResidual { maps.append(Double(side * side * mid)) }
        maps += [Double(outSide * outSide * mid), Double(outSide * outSide * stage.outChannels)]
        (side, channels) = (outSide, stage.outChannels)
      }
    }
    maps.append(Double(side * side * scaledHeadChannels))
    let bytes = Double(batch) * 4
    return (maps.max()! * bytes, maps.reduce(0, +) * bytes)
  }
}

extension EfficientNetConfig {
  /// The side of the last feature map for `resolution`-pixel inputs: the stem and each
  /// downsampling stage halve it, rounding up (both paddings). At 32 pixels it is 1: a batch of
  /// one image then gives the last BatchNorm one value per channel, which training cannot use.
  public func featureMapSide(resolution: Int) -> Int {
    let halvings = 1 + ((try? scaledStages()) ?? []).filter { $0.stride > 1 }.count
    var side = resolution
    for _ in 0..<halvings { side = (side + 1) / 2 }
    return side
  }
}
