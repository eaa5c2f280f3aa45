/// Where tiles go on a slide level: a pure function of sizes, so it can be tested (and
/// reasoned about) apart from any pixels (TIAToolbox's `get_coordinates`).
public struct TileGrid: Equatable, Sendable {
  /// One tile: its rectangle at the level read.
  public struct Tile: Equatable, Sendable, Hashable {
    public var column: Int, row: Int
    public var x: Int, y: Int, width: Int, height: Int

    public init(column: Int, row: Int, x: Int, y: Int, width: Int, height: Int) {
      self.column = column
      self.row = row
      self.x = x
      self.y = y
      self.width = width
      self.height = height
    }
  }

  public var levelWidth: Int, levelHeight: Int
  /// Tile size at the level read (it may differ from the output size when resampling to a
  /// target resolution).
  public var tileSize: Int
  /// Distance between tile origins; `tileSize - overlap`.
  public var stride: Int
  /// Keep the partial tiles at the right and bottom edges (they are read and padded by the
  /// caller); by default only whole tiles are produced.
  public var includePartial: Bool

  public init(levelWidth: Int, levelHeight: Int, tileSize: Int, overlap: Int = 0, includePartial: Bool = false) {
    precondition(tileSize > 0 && overlap >= 0 && overlap < tileSize, "tile \(tileSize) with overlap \(overlap)")
    self.levelWidth = levelWidth
    self.levelHeight = levelHeight
    self.tileSize = tileSize
    self.stride = tileSize - overlap
    self.includePartial = includePartial
  }

  /// How many tiles `tiles` lists, without listing them (saturating).
  public var count: Int {
    func n(_ size: Int) -> Int { includePartial ? (size + stride - 1) / stride : (size >= tileSize ? (size - tileSize) / stride + 1 : 0) }
    return saturatingProduct(n(levelWidth), n(levelHeight))
  }

  /// Tiles in row-major order.
  public var tiles: [Tile] {
    func starts(_ size: Int) -> [Int] {
      var s: [Int] = []
      var p = 0
      while p + tileSize <= size || (includePartial && p < size) {
        s.append(p)
        p += stride
      }
      return s
    }
    let xs = starts(levelWidth), ys = starts(levelHeight)
    var out: [Tile] = []
    out.reserveCapacity(xs.count * ys.count)
    for (r, y) in ys.enumerated() {
      for (c, x) in xs.enumerated() {
        out.append(Tile(column: c, row: r, x: x, y: y, width: min(tileSize, levelWidth - x), height: min(tileSize, levelHeight - y)))
      }
    }
    return out
  }

  /// The largest side read for one tile (2^20 pixels): more is a broken resolution.
  public static let maxReadSize = 1 << 20

  /// The level to read for a target resolution: the lowest-resolution level that is still at
  /// least as fine as `targetMPP` (so tiles are downsampled, never upsampled), and the tile size
  /// to read there so that it covers `tileSize` pixels at the target.
  public static func levelFor(targetMPP: Double, levelMPPs: [Double], tileSize: Int) -> (level: Int, readSize: Int)? {
    guard targetMPP > 0 else { return nil }
    var best: Int? = nil
    for (i, mpp) in levelMPPs.enumerated() where mpp <= targetMPP * 1.0001 {
      if best == nil || mpp > levelMPPs[best!] { best = i }
    }
    guard let level = best else { return nil }
    // A read size past 1 << 20 pixels (a broken resolution) is no level to read.
    let readSize = (Double(tileSize) * targetMPP / levelMPPs[level]).rounded()
    guard readSize.isFinite, readSize >= 1, readSize <= Double(maxReadSize) else { return nil }
    return (level, Int(readSize))
  }
}
