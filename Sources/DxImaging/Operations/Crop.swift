import DxTensor
import Foundation

extension Image {
  /// The pixels of a rectangle (which must lie inside the image).
  public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> Image {
    precondition(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= width && y + h <= height, "crop (\(x), \(y), \(w) x \(h)) outside \(width) x \(height)")
    if x == 0 && y == 0 && w == width && h == height { return self }  // a slide tile already the network's size
    return transformed(width: w, height: h) { xx, yy in (x + xx, y + yy) }
  }

  /// Evaluation transform: resize the short side to `size / cropFraction`, then take the centre
  /// `size` x `size` (timm's `crop_pct`; 0.875 for EfficientNet-B0 at 224).
  public func centerCropped(size: Int, cropFraction: Double = 0.875, filter: ResizeFilter = .bicubic) -> Image {
    let (sw, sh, x, y) = centerCropGeometry(size: size, cropFraction: cropFraction)
    // Only the kept centre is resampled (the same values as resizing all and cropping).
    if sw == width && sh == height { return cropped(x: x, y: y, width: size, height: size) }
    return resized(width: sw, height: sh, filter: filter, window: (x, y, size, size))
  }

  /// `FloatImage(centerCropped(...))`, the same values in one pass less (what the network reads).
  public func centerCroppedFloat(size: Int, cropFraction: Double = 0.875, filter: ResizeFilter = .bicubic) -> FloatImage {
    let (sw, sh, x, y) = centerCropGeometry(size: size, cropFraction: cropFraction)
    if sw == width && sh == height { return FloatImage(cropped(x: x, y: y, width: size, height: size)) }
    return resizedFloat(width: sw, height: sh, filter: filter, window: (x, y, size, size))
  }

  /// The resized size and the crop's corner of `centerCropped`.
  private func centerCropGeometry(size: Int, cropFraction: Double) -> (width: Int, height: Int, x: Int, y: Int) {
    let scaleSize = Int((Double(size) / cropFraction).rounded(.down))
    let (w, h) = width <= height
      ? (scaleSize, Int((Double(scaleSize) * Double(height) / Double(width)).rounded(.down)))
      : (Int((Double(scaleSize) * Double(width) / Double(height)).rounded(.down)), scaleSize)
    let (sw, sh) = (max(w, size), max(h, size))
    return (sw, sh, Int((Double(sw - size) / 2).rounded()), Int((Double(sh - size) / 2).rounded()))
  }

  /// Training transform (Inception / torchvision `RandomResizedCrop`): a random area fraction in
  /// `scale` and aspect ratio (log-uniform) in `ratio`, resized to `size` x `size`; ten tries,
  /// then a centre crop.
  public func randomResizedCrop(size: Int, scale: ClosedRange<Double> = 0.08...1, ratio: ClosedRange<Double> = (3.0 / 4)...(4.0 / 3),
                                filter: ResizeFilter = .bilinear, using rng: inout SeededGenerator) -> Image {
    let box = randomResizedCropBox(scale: scale, ratio: ratio, using: &rng)
    return resized(width: size, height: size, filter: filter, window: (0, 0, size, size), source: box)
  }

  /// `FloatImage(randomResizedCrop(...))`, the same values and the same random draws, read
  /// straight from this image: what training's loader runs first on a decoded photo, so no
  /// Float copy of the whole photo is made (4 bytes a sample: 1.3 GB for 108 megapixels).
  public func randomResizedCropFloat(size: Int, scale: ClosedRange<Double>, ratio: ClosedRange<Double>,
                                     filter: ResizeFilter = .bilinear, using rng: inout SeededGenerator) -> FloatImage {
    let box = randomResizedCropBox(scale: scale, ratio: ratio, using: &rng)
    return resizedFloat(width: size, height: size, filter: filter, window: (0, 0, size, size), source: box)
  }

  /// The box `randomResizedCrop` resizes.
  private func randomResizedCropBox(scale: ClosedRange<Double>, ratio: ClosedRange<Double>, using rng: inout SeededGenerator) -> (x: Int, y: Int, width: Int, height: Int) {
    let area = Double(width * height)
    for _ in 0..<10 {
      let target = area * (scale.lowerBound + (scale.upperBound - scale.lowerBound) * Double(rng.nextUniform()))
      let logRatio = log(ratio.lowerBound) + (log(ratio.upperBound) - log(ratio.lowerBound)) * Double(rng.nextUniform())
      let aspect = exp(logRatio)
      let w = Int((target * aspect).squareRoot().rounded()), h = Int((target / aspect).squareRoot().rounded())
      if w > 0 && h > 0 && w <= width && h <= height {
        return (Int(rng.next() % UInt64(width - w + 1)), Int(rng.next() % UInt64(height - h + 1)), w, h)
      }
    }
    // Fallback: the largest centred crop within the ratio range.
    let inRatio = Double(width) / Double(height)
    var w = width, h = height
    if inRatio < ratio.lowerBound { h = Int((Double(w) / ratio.lowerBound).rounded()) } else if inRatio > ratio.upperBound { w = Int((Double(h) * ratio.upperBound).rounded()) }
    return ((width - w) / 2, (height - h) / 2, max(1, w), max(1, h))
  }
}
