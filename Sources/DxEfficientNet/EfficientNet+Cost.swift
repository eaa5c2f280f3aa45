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
