/// How `expandDepthwiseInference` cuts a block's expanded map into pieces that fit in cache:
/// bands of output rows, each computed from the `(rows - 1) * stride + kernel` expanded input
/// rows its taps read, and slices of the expanded channels (a channel of the expanded map needs
/// only its own column of the expansion weights, so slices are independent).
///
/// The rows that neighbouring bands share are expanded once per band. With whole rows of every
/// channel in a fixed cache budget, a wide map leaves room for very few rows: B7's stage 5 at
/// 600 px (38 x 38 x 1344 expanded, 5 x 5 taps) fitted 5 input rows, one output row per band,
/// so each expansion was computed 5 times. Slicing the channels first keeps the bands tall
/// enough that at most `maxRedundancy` times the expansion's arithmetic is done, at the price of
/// reading the (6x narrower) input rows once per slice.
public struct ExpandBandPlan: Equatable, Sendable {
  /// Output rows per band (the tallest; bands are then evened out by the caller).
  public var bandRows: Int
  /// Channel slices, each a whole number of `unit`s.
  public var channelSlices: Int

  /// - Parameters:
  ///   - budgetFloats: the floats of expanded rows one band may hold (about 1 MB, in L2).
  ///   - maxRedundancy: the most expansion arithmetic per stored output, as a multiple of one
  ///     expansion per input row, before channels are sliced.
  public init(
    outHeight: Int, inHeight: Int, inWidth: Int, channels m: Int, kernel k: Int, stride s: Int, unit: Int,
    budgetFloats: Int = 1 << 18, maxRedundancy: Double = 1.25
  ) {
    let units = max(1, (m + unit - 1) / unit)
    // Expanded input rows per expanded row actually needed, for bands of `rows` output rows.
    func redundancy(_ rows: Int) -> Double {
      let read = min(inHeight, (rows - 1) * s + k)
      let needed = min(inHeight, rows * s)
      return Double(read) / Double(max(1, needed))
    }
    func rows(slices: Int) -> Int {
      let cols = (units + slices - 1) / slices * unit
      let inRows = max(k, budgetFloats / max(1, inWidth * min(m, cols)))
      return max(1, min(outHeight, (inRows - k) / s + 1))
    }
    var slices = 1
    while slices < units && redundancy(rows(slices: slices)) > maxRedundancy { slices += 1 }
    bandRows = rows(slices: slices)
    channelSlices = slices
  }
}
