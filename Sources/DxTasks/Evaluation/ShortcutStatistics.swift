import DxEval
import DxImaging
import Foundation

/// The image statistics `evaluate --images` gives the shortcut check: the colour of each image
/// and of its border, read from the files the predictions name.
public enum ShortcutStatistics {
  /// At most this many images are read (evenly spaced over the rows).
  public static let maxImages = 20_000

  /// Mean and standard deviation of R, G, B over the whole image and over its background, from
  /// at most about 256 x 256 sampled pixels. The background is the border (the outer eighth on
  /// each side) of a photo; of a tissue tile (`tissue`), the pixels outside the tissue mask
  /// (`TissueDetector`: the glass), or the border when the tile is all tissue.
  public static func statistics(of image: Image, tissue: Bool = false) -> ShortcutCheck.Statistics {
    let rgb = image.rgb()
    let mask = tissue ? TissueDetector().detect(rgb) : nil
    let glass = mask.map { $0.values.contains(false) && $0.width == rgb.width && $0.height == rgb.height } ?? false
    let samples = rgb.floatSamples()
    let w = rgb.width, h = rgb.height
    let step = max(1, max(w, h) / 256)
    let bw = max(1, w / 8), bh = max(1, h / 8)
    var all = Moments(), border = Moments()
    for y in stride(from: 0, to: h, by: step) {
      for x in stride(from: 0, to: w, by: step) {
        let o = (y * w + x) * 3
        let px = (Double(samples[o]), Double(samples[o + 1]), Double(samples[o + 2]))
        all.add(px)
        let background = glass ? !mask!.values[y * w + x] : (x < bw || x >= w - bw || y < bh || y >= h - bh)
        if background { border.add(px) }
      }
    }
    return ShortcutCheck.Statistics(colour: all.features, border: border.features)
  }

  /// Statistics of the rows' files (nil where a file cannot be read, with its reason in
  /// `failures`), on `workers` threads, within the report pictures' pixel budget. Rows beyond
  /// `maxImages` are left out (nil) evenly.
  public static func statistics(paths: [String], workers: Int, tissue: Bool = false) -> (statistics: [ShortcutCheck.Statistics?], failures: [String: String]) {
    let keep = paths.count <= maxImages ? Set(paths.indices) : Set((0..<maxImages).map { $0 * paths.count / maxImages })
    var out = [ShortcutCheck.Statistics?](repeating: nil, count: paths.count)
    var reasons = [String?](repeating: nil, count: paths.count)
    out.withUnsafeMutableBufferPointer { res in
      reasons.withUnsafeMutableBufferPointer { why in
        DispatchQueue.concurrentPerform(iterations: max(1, workers)) { worker in
          for i in stride(from: worker, to: paths.count, by: max(1, workers)) where keep.contains(i) {
            do { res[i] = statistics(of: try ImageDecoder.decode(path: paths[i], limits: ReportPictures.pictureLimits), tissue: tissue) } catch { why[i] = "\(error)" }
          }
        }
      }
    }
    var failures: [String: String] = [:]
    for (i, r) in reasons.enumerated() { if let r { failures[paths[i]] = r } }
    return (out, failures)
  }

  struct Moments {
    var n = 0.0, sum = [0.0, 0.0, 0.0], squares = [0.0, 0.0, 0.0]
    mutating func add(_ p: (Double, Double, Double)) {
      n += 1
      for (c, v) in [p.0, p.1, p.2].enumerated() {
        sum[c] += v
        squares[c] += v * v
      }
    }
    /// Means, then standard deviations.
    var features: [Double] {
      guard n > 0 else { return [0, 0, 0, 0, 0, 0] }
      let mean = sum.map { $0 / n }
      return mean + (0..<3).map { (max(0, squares[$0] / n - mean[$0] * mean[$0])).squareRoot() }
    }
  }
}
