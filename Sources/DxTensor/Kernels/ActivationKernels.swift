import Foundation

// Pointwise activations, forward and backward, over `count` contiguous floats.
// Backward passes take what they need from the forward: SiLU and ReLU6 the input, sigmoid its
// output.

private let pointwiseChunk = 16_384

/// SiLU / Swish: `y = x * sigmoid(x)` (Ramachandran et al., 2017; Elfwing et al., 2017).
public func siluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
  ThreadPool.parallelFor(count, minChunk: pointwiseChunk) { r in
    for i in r { y[i] = x[i] / (1 + expf(-x[i])) }
  }
}

/// `dx = dy * s * (1 + x * (1 - s))` with `s = sigmoid(x)`.
public func siluBackward(
  _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
  count: Int
) {
  ThreadPool.parallelFor(count, minChunk: pointwiseChunk) { r in
    for i in r {
      let s = 1 / (1 + expf(-x[i]))
      dx[i] = dy[i] * s * (1 + x[i] * (1 - s))
    }
  }
}

/// Logistic sigmoid `y = 1 / (1 + exp(-x))`.
public func sigmoidForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int)
{
  ThreadPool.parallelFor(count, minChunk: pointwiseChunk) { r in
    for i in r { y[i] = 1 / (1 + expf(-x[i])) }
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
