/// A small overview of a slide for tissue detection and previews, built from the smallest
/// level; when even that is too big to decode whole (an unpyramided slide), it is read block by
/// block and area-averaged, so memory stays bounded by one block.
public enum SlideThumbnail {
  /// The overview and how many level-0 pixels one thumbnail pixel covers (per axis).
  public static func make(_ reader: any SlideSource, maxSide: Int = 1024) throws -> (image: Image, downsampleX: Double, downsampleY: Double, level: Int) {
    let base = reader.pyramid[0]
    // Levels of the same aspect as level 0 form the pyramid; the smallest is the cheapest start.
    let pyramid = reader.pyramid.filter { abs(Double($0.width) / Double($0.height) - Double(base.width) / Double(base.height)) < 0.02 && $0.width <= base.width }
    let source = pyramid.min { $0.width < $1.width } ?? base
    let factor = max(1, Int((Double(max(source.width, source.height)) / Double(maxSide)).rounded(.up)))
    // A side shorter than the factor (a 1 x 65535 strip) is averaged over what it has.
    let fx = min(factor, source.width), fy = min(factor, source.height)
    let outW = max(1, source.width / fx), outH = max(1, source.height / fy)
    var out = [Float](repeating: 0, count: outW * outH * 3)
    // Blocks whose sides are multiples of the factors map onto whole thumbnail pixels.
    let blockX = max(fx, (2048 / fx) * fx), blockY = max(fy, (2048 / fy) * fy)
    for by in stride(from: 0, to: outH * fy, by: blockY) {
      for bx in stride(from: 0, to: outW * fx, by: blockX) {
        let w = min(blockX, outW * fx - bx), h = min(blockY, outH * fy - by)
        let region = try reader.readRegion(level: source.index, x: bx, y: by, width: w, height: h).rgb()
        let values = region.floatSamples()
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
    let image = Image(width: outW, height: outH, channels: 3, floats: out, bitDepth: 8)
    return (image, Double(base.width) / Double(outW), Double(base.height) / Double(outH), source.index)
  }
}
