import Foundation

// Pointwise activations, forward and backward, over `count` contiguous floats.
// Backward passes take what they need from the forward: SiLU and ReLU6 the input, sigmoid its
// output.

private let pointwiseChunk = 16_384

/// `exp(x)` for Float without a libm call or a trapping conversion, so loops over it
/// vectorise: x = k ln2 + r with |r| <= ln2 / 2, e^r by a degree-6 Taylor polynomial, and 2^k
/// built in the exponent bits (k found by the 1.5 * 2^23 rounding trick). Relative error below
/// 3e-7 on [-87, 88]; inputs beyond are clamped (e^-87 ~ 0, e^88 ~ Float's largest).
@inline(__always)
public func fastExp(_ x: Float) -> Float {
  let c = min(max(x, -87), 88)
  let t = c * 1.442_695_04 + 12_582_912  // round(x / ln 2) lands in t's low mantissa bits
  let k = t - 12_582_912
  let r = c - k * 0.693_145_75 - k * 1.428_606_8e-6  // ln 2 split in two for accuracy
  let p = 1 + r * (1 + r * (0.5 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 + r * (1.0 / 720))))))
  return p * Float(bitPattern: ((t.bitPattern &- 0x4B40_0000) &+ 127) << 23)
}

/// SiLU / Swish: `y = x * sigmoid(x)` (Ramachandran et al., 2017; Elfwing et al., 2017).
public func siluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
  ThreadPool.parallelFor(count, minChunk: pointwiseChunk) { r in
    for i in r { y[i] = x[i] / (1 + fastExp(-x[i])) }
  }
}

/// `dx = dy * s * (1 + x * (1 - s))` with `s = sigmoid(x)`.
public func siluBackward(
  _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
  count: Int
) {
  ThreadPool.parallelFor(count, minChunk: pointwiseChunk) { r in
    for i in r {
      let s = 1 / (1 + fastExp(-x[i]))
      dx[i] = dy[i] * s * (1 + x[i] * (1 - s))
    }
  }
}

/// Logistic sigmoid `y = 1 / (1 + exp(-x))`.
public func sigmoidForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int)
{
  ThreadPool.parallelFor(count, minChunk: pointwiseChunk) { r in
    for i in r { y[i] = 1 / (1 + fastExp(-x[i])) }
  }
}

/// `dx = dy * y * (1 - y)`, from the forward's output `y`.
public func sigmoidBackward(
  output y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
  count: Int
) {
  ThreadPool.parallelFor(count, minChunk: pointwiseChunk) { r in
    for i in r { dx[i] = dy[i] * y[i] * (1 - y[i]) }
  }
}

/// ReLU6 `y = min(max(x, 0), 6)` (MobileNetV2, EfficientNet-Lite).
public func relu6Forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
  ThreadPool.parallelFor(count, minChunk: pointwiseChunk) { r in
    for i in r { y[i] = min(max(x[i], 0), 6) }
  }
}

/// Gradient passes where `0 < x < 6` (PyTorch's hardtanh_backward convention at the kinks).
public func relu6Backward(
  _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
  count: Int
) {
  ThreadPool.parallelFor(count, minChunk: pointwiseChunk) { r in
    for i in r { dx[i] = (x[i] > 0 && x[i] < 6) ? dy[i] : 0 }
  }
}
