import DxTensor

/// A decoded raster: `height` rows of `width` pixels of `channels` interleaved samples
/// (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA), 8 or 16 bits per sample.
///
/// Samples keep the file's precision (16-bit histology stays 16-bit) until `tensor` converts
/// them to Float32 in [0, 1] for the network.
public struct Image: Equatable, Sendable {
  /// Samples in row-major, interleaved order, at the image's bit depth.
  public enum Samples: Equatable, Sendable {
    case uint8([UInt8])
    case uint16([UInt16])
  }

  public var width: Int
  public var height: Int
  public var channels: Int
  public var samples: Samples

  public init(width: Int, height: Int, channels: Int, samples: Samples) {
    precondition(width >= 0 && height >= 0 && (1...4).contains(channels), "bad image geometry \(width)x\(height)x\(channels)")
    let count: Int
    switch samples {
    case .uint8(let s): count = s.count
    case .uint16(let s): count = s.count
    }
    precondition(count == width * height * channels, "\(count) samples for \(width)x\(height)x\(channels)")
    self.width = width
    self.height = height
    self.channels = channels
    self.samples = samples
  }

  /// A black 8-bit image.
  public init(width: Int, height: Int, channels: Int) {
    self.init(width: width, height: height, channels: channels, samples: .uint8([UInt8](repeating: 0, count: width * height * channels)))
  }

  /// 8 or 16.
  public var bitDepth: Int {
    if case .uint16 = samples { return 16 }
    return 8
  }

  /// Largest sample value (255 or 65535).
  public var maxValue: Float { bitDepth == 16 ? 65535 : 255 }

  /// Sample `c` of pixel (`x`, `y`) as a value in [0, maxValue] (slow; for tests and tools).
  public subscript(x: Int, y: Int, c: Int) -> Int {
    let i = (y * width + x) * channels + c
    switch samples {
    case .uint8(let s): return Int(s[i])
    case .uint16(let s): return Int(s[i])
    }
  }

  /// Samples as Float in [0, 1], interleaved.
  public func floatSamples() -> [Float] {
    switch samples {
    case .uint8(let s): return s.map { Float($0) * (1 / 255) }
    case .uint16(let s): return s.map { Float($0) * (1 / 65535) }
    }
  }

  /// The image as RGB: gray is replicated, alpha dropped (composited on nothing).
  public func rgb() -> Image {
    if channels == 3 { return self }
    func convert<T>(_ s: [T]) -> [T] {
      var out: [T] = []
      out.reserveCapacity(width * height * 3)
      for p in 0..<(width * height) {
        let base = p * channels
        if channels <= 2 {
          out.append(s[base]); out.append(s[base]); out.append(s[base])
        } else {
          out.append(s[base]); out.append(s[base + 1]); out.append(s[base + 2])
        }
      }
      return out
    }
    switch samples {
    case .uint8(let s): return Image(width: width, height: height, channels: 3, samples: .uint8(convert(s)))
    case .uint16(let s): return Image(width: width, height: height, channels: 3, samples: .uint16(convert(s)))
    }
  }

  /// An 8-bit copy (16-bit samples rounded to the nearest 8-bit value).
  public func eightBit() -> Image {
    guard case .uint16(let s) = samples else { return self }
    return Image(width: width, height: height, channels: channels, samples: .uint8(s.map { UInt8((UInt32($0) * 255 + 32767) / 65535) }))
  }

  /// `[1, H, W, 3]` Float32 in [0, 1], normalised per channel as `(x - mean) / std` when given.
  public func tensor(mean: [Float]? = nil, std: [Float]? = nil) -> Tensor {
    let rgb = self.rgb()
    var values = rgb.floatSamples()
    if let mean, let std {
      precondition(mean.count == 3 && std.count == 3, "mean and std need 3 values")
      for i in values.indices { values[i] = (values[i] - mean[i % 3]) / std[i % 3] }
    }
    return Tensor(shape: [1, height, width, 3], scalars: values)
  }
}
