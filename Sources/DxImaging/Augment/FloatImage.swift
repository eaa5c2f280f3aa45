import DxTensor

/// An RGB image as Float samples in [0, 1] (interleaved, row-major): what augmentations and
/// stain operations work on, so a chain of them rounds only once, at the end.
public struct FloatImage: Equatable, Sendable {
  public var width: Int, height: Int
  public var values: [Float]

  public init(width: Int, height: Int, values: [Float]) {
    precondition(values.count == width * height * 3, "\(values.count) values for \(width) x \(height) RGB")
    self.width = width
    self.height = height
    self.values = values
  }

  /// From any image: gray is replicated, alpha dropped.
  public init(_ image: Image) {
    self.init(width: image.width, height: image.height, values: image.rgb().floatSamples())
  }

  /// Back to an integer image (rounded, clamped).
  public func image(bitDepth: Int = 8) -> Image {
    Image(width: width, height: height, channels: 3, floats: values.map { max(0, min(1, $0)) }, bitDepth: bitDepth)
  }

  /// `[1, H, W, 3]`, normalised as `(x - mean) / std` when given.
  public func tensor(mean: [Float]? = nil, std: [Float]? = nil) -> Tensor {
    var v = values
    if let mean, let std { for i in v.indices { v[i] = (v[i] - mean[i % 3]) / std[i % 3] } }
    return Tensor(shape: [1, height, width, 3], scalars: v)
  }

  public func resized(width w: Int, height h: Int, filter: ResizeFilter = .bilinear) -> FloatImage {
    if w == width && h == height { return self }
    return FloatImage(width: w, height: h, values: Resampler.resize(values, width: width, height: height, channels: 3, toWidth: w, toHeight: h, filter: filter))
  }

  /// A new image whose pixel (x, y) is `source(x, y)` of this one (nil: `fill`).
  func remapped(width w: Int, height h: Int, fill: [Float] = [0, 0, 0], _ source: (Int, Int) -> (Int, Int)?) -> FloatImage {
    var out = [Float](repeating: 0, count: w * h * 3)
    for y in 0..<h {
      for x in 0..<w {
        let o = (y * w + x) * 3
        if let (sx, sy) = source(x, y), sx >= 0, sy >= 0, sx < width, sy < height {
          let s = (sy * width + sx) * 3
          out[o] = values[s]; out[o + 1] = values[s + 1]; out[o + 2] = values[s + 2]
        } else {
          out[o] = fill[0]; out[o + 1] = fill[1]; out[o + 2] = fill[2]
        }
      }
    }
    return FloatImage(width: w, height: h, values: out)
  }
}
