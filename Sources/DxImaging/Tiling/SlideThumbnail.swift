/// A small overview of a slide for tissue detection and previews, built from the smallest
/// level; when even that is too big to decode whole (an unpyramided slide), it is read block by
/// block and area-averaged, so memory stays bounded by one block.
///
/// A block that cannot be read (a corrupt tile of a one-level slide, whose overview is level 0
/// itself) is read again in 256-pixel pieces, and the pieces that still fail are painted
/// magenta: saturated, so tissue detection keeps them, their tiles are read, fail again and are
/// listed as failed tiles while the slide goes on, as on a pyramid. Only a slide none of whose
/// pieces can be read is an error.
public enum SlideThumbnail {
  /// The overview and how many level-0 pixels one thumbnail pixel covers (per axis).
  /// The most pixels a thumbnail reads from a slide's smallest level (2^30).
  public static let maxSourcePixels = 1 << 30

  /// The short side of the smallest level a thumbnail is made from, when the slide has one.
  static let minSide = 64

  public static func make(_ reader: any SlideSource, maxSide: Int = 1024) throws -> (image: Image, downsampleX: Double, downsampleY: Double, level: Int) {
    let base = reader.pyramid[0]
    // Levels of the same aspect as level 0 form the pyramid; the smallest is the cheapest start.
    let pyramid = reader.pyramid.filter { abs(Double($0.width) / Double($0.height) - Double(base.width) / Double(base.height)) < 0.02 && $0.width <= base.width }
    // The smallest level with at least `minSide` pixels on its short side: a 1 x 1 last level
    // made one thumbnail pixel of the whole slide, and "no tissue found".
    let source = pyramid.filter { min($0.width, $0.height) >= Self.minSide }.min { $0.width < $1.width } ?? pyramid.max { $0.width < $1.width } ?? base
    // The tissue mask reads every pixel of the smallest level: a one-level slide past 2^30 pixels
    // (a 200,000-pixel-square header over a few kilobytes of repeated tiles) would be read for
    // minutes to hours. Scanners write pyramids; such a file is refused, not waited on.
    guard Double(source.width) * Double(source.height) <= Double(Self.maxSourcePixels) else {
      throw ImageError.unsupported(path: reader.path, reason: "its smallest level is \(source.width) x \(source.height) pixels, more than the \(Self.maxSourcePixels) a tissue thumbnail reads (a slide without a pyramid, or a broken header)")
    }
    let factor = max(1, Int((Double(max(source.width, source.height)) / Double(maxSide)).rounded(.up)))
    // A side shorter than the factor (a 1 x 65535 strip) is averaged over what it has.
    let fx = min(factor, source.width), fy = min(factor, source.height)
    let outW = max(1, source.width / fx), outH = max(1, source.height / fy)
    var out = [Float](repeating: 0, count: outW * outH * 3)
    // Blocks whose sides are multiples of the factors map onto whole thumbnail pixels.
    let blockX = max(fx, (2048 / fx) * fx), blockY = max(fy, (2048 / fy) * fy)
    var readAny = false, firstError: Error? = nil
    /// The block's RGB samples in 0...1, unreadable pieces magenta.
    func samples(x: Int, y: Int, width w: Int, height h: Int) -> [Float] {
      do {
        let values = try reader.readRegion(level: source.index, x: x, y: y, width: w, height: h).rgb().floatSamples()
        readAny = true
        return values
      } catch {
        firstError = firstError ?? error
      }
      var values = [Float](repeating: 0, count: w * h * 3)
      for i in 0..<(w * h) { (values[3 * i], values[3 * i + 2]) = (1, 1) }
      let pieceX = max(fx, (256 / fx) * fx), pieceY = max(fy, (256 / fy) * fy)
      guard pieceX < w || pieceY < h else { return values }
      for py in stride(from: 0, to: h, by: pieceY) {
        for px in stride(from: 0, to: w, by: pieceX) {
          let pw = min(pieceX, w - px), ph = min(pieceY, h - py)
          guard let piece = try? reader.readRegion(level: source.index, x: x + px, y: y + py, width: pw, height: ph).rgb().floatSamples() else { continue }
          readAny = true
          for r in 0..<ph { for i in 0..<(pw * 3) { values[((py + r) * w + px) * 3 + i] = piece[r * pw * 3 + i] } }
        }
      }
      return values
    }
    for by in stride(from: 0, to: outH * fy, by: blockY) {
      for bx in stride(from: 0, to: outW * fx, by: blockX) {
        let w = min(blockX, outW * fx - bx), h = min(blockY, outH * fy - by)
        let values = samples(x: bx, y: by, width: w, height: h)
        let inv = 1 / Float(fx * fy)
        for ty in 0..<(h / fy) {
          for tx in 0..<(w / fx) {
            for c in 0..<3 {
              var s: Float = 0
              for yy in 0..<fy { for xx in 0..<fx { s += values[((ty * fy + yy) * w + tx * fx + xx) * 3 + c] } }
              out[((by / fy + ty) * outW + bx / fx + tx) * 3 + c] = s * inv
            }
          }
        }
      }
    }
    if !readAny, let firstError { throw firstError }
    let image = Image(width: outW, height: outH, channels: 3, floats: out, bitDepth: 8)
    return (image, Double(base.width) / Double(outW), Double(base.height) / Double(outH), source.index)
  }
}
