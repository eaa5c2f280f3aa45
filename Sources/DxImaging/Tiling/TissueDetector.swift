/// Finds tissue on a low-resolution slide image, so background glass is never tiled.
///
/// Tissue is saturated (stained) and, for dark stains, darker than glass: pixels above an Otsu
/// threshold on saturation (and, with `useDarkness`, on darkness) are tissue. Holes in tissue
/// smaller than `maxHoleFraction` of the image are filled and specks smaller than
/// `minObjectFraction` removed (connected components, 4-neighbourhood).
public struct TissueDetector: Sendable {
  public var useDarkness: Bool
  public var maxHoleFraction: Double
  public var minObjectFraction: Double

  public init(useDarkness: Bool = true, maxHoleFraction: Double = 0.001, minObjectFraction: Double = 0.0002) {
    self.useDarkness = useDarkness
    self.maxHoleFraction = maxHoleFraction
    self.minObjectFraction = minObjectFraction
  }

  /// A binary mask of the image's size: true where there is tissue.
  public struct Mask: Equatable, Sendable {
    public var width: Int, height: Int
    public var values: [Bool]

    /// Fraction of tissue in a rectangle of the mask (clamped to it).
    public func fraction(x: Int, y: Int, width w: Int, height h: Int) -> Double {
      let x0 = max(0, x), y0 = max(0, y), x1 = min(width, x + w), y1 = min(height, y + h)
      guard x1 > x0, y1 > y0 else { return 0 }
      var n = 0
      for yy in y0..<y1 { for xx in x0..<x1 where values[yy * width + xx] { n += 1 } }
      return Double(n) / Double((x1 - x0) * (y1 - y0))
    }

    public var tissueFraction: Double { Double(values.filter { $0 }.count) / Double(max(1, values.count)) }
  }

  public func detect(_ image: Image) -> Mask {
    let rgb = image.rgb().eightBit()
    guard case .uint8(let px) = rgb.samples else { fatalError("eightBit() returns 8-bit samples") }
    let n = rgb.width * rgb.height
    var saturation = [UInt8](repeating: 0, count: n), darkness = [UInt8](repeating: 0, count: n)
    for i in 0..<n {
      let r = Int(px[3 * i]), g = Int(px[3 * i + 1]), b = Int(px[3 * i + 2])
      let mx = max(r, g, b), mn = min(r, g, b)
      saturation[i] = mx == 0 ? 0 : UInt8((mx - mn) * 255 / mx)
      darkness[i] = UInt8(255 - (r * 299 + g * 587 + b * 114) / 1000)
    }
    let ts = TissueDetector.otsu(saturation), td = TissueDetector.otsu(darkness)
    var mask = (0..<n).map { saturation[$0] > ts || (useDarkness && darkness[$0] > td && saturation[$0] > ts / 2) }
    // Fill small holes (background components that do not touch the border), remove specks.
    TissueDetector.relabelSmallComponents(&mask, width: rgb.width, height: rgb.height, of: false, maxSize: Int(maxHoleFraction * Double(n)), touchingBorderKept: true)
    TissueDetector.relabelSmallComponents(&mask, width: rgb.width, height: rgb.height, of: true, maxSize: Int(minObjectFraction * Double(n)), touchingBorderKept: false)
    return Mask(width: rgb.width, height: rgb.height, values: mask)
  }

  /// Otsu's threshold of 8-bit values: the level maximising between-class variance.
  public static func otsu(_ values: [UInt8]) -> UInt8 {
    var histogram = [Double](repeating: 0, count: 256)
    for v in values { histogram[Int(v)] += 1 }
    let total = Double(values.count)
    let sumAll = (0..<256).reduce(0.0) { $0 + Double($1) * histogram[$1] }
    var weightBelow = 0.0, sumBelow = 0.0, best = 0.0, threshold = 0
    for t in 0..<256 {
      weightBelow += histogram[t]
      if weightBelow == 0 { continue }
      let weightAbove = total - weightBelow
      if weightAbove == 0 { break }
      sumBelow += Double(t) * histogram[t]
      let meanBelow = sumBelow / weightBelow, meanAbove = (sumAll - sumBelow) / weightAbove
      let between = weightBelow * weightAbove * (meanBelow - meanAbove) * (meanBelow - meanAbove)
      if between > best { best = between; threshold = t }
    }
    return UInt8(threshold)
  }

  /// Flips components of `value` with at most `maxSize` pixels (optionally sparing those that
  /// touch the border, i.e. the background around the tissue).
  static func relabelSmallComponents(_ mask: inout [Bool], width: Int, height: Int, of value: Bool, maxSize: Int, touchingBorderKept: Bool) {
    guard maxSize > 0 else { return }
    var seen = [Bool](repeating: false, count: mask.count)
    var queue: [Int] = []
    for start in mask.indices where mask[start] == value && !seen[start] {
      queue.removeAll(keepingCapacity: true)
      queue.append(start)
      seen[start] = true
      var head = 0, touchesBorder = false
      while head < queue.count {
        let p = queue[head]
        head += 1
        let x = p % width, y = p / width
        if x == 0 || y == 0 || x == width - 1 || y == height - 1 { touchesBorder = true }
        for q in [x > 0 ? p - 1 : -1, x < width - 1 ? p + 1 : -1, y > 0 ? p - width : -1, y < height - 1 ? p + width : -1] where q >= 0 && !seen[q] && mask[q] == value {
          seen[q] = true
          queue.append(q)
        }
      }
      if queue.count <= maxSize && !(touchingBorderKept && touchesBorder) { for p in queue { mask[p] = !value } }
    }
  }
}
