import DxTensor

/// Mean over height and width: `[N, H, W, C] -> [N, C]` (or `[N, 1, 1, C]` with `keepSpatial`).
public final class GlobalAvgPool: Layer {
  /// Keep the 1x1 spatial dims, for squeeze-excitation's 1x1 convolutions.
  public let keepSpatial: Bool
  private var inputShape: [Int] = []

  public init(keepSpatial: Bool = false) { self.keepSpatial = keepSpatial }

  public func forward(_ x: Tensor, mode: Mode) -> Tensor {
    Profiler.measure("GlobalAvgPool forward") { _forward(x, mode: mode) }
  }

  private func _forward(_ x: Tensor, mode: Mode) -> Tensor {
    let (n, h, w, c) = x.nhwc()
    var y = Tensor.zeros(keepSpatial ? [n, 1, 1, c] : [n, c])
    x.withPointer { xp in
      y.withMutablePointer { globalAvgPoolForward(xp, $0, batch: n, pixels: h * w, channels: c) }
    }
    inputShape = x.shape
    return y
  }

  public func backward(_ dy: Tensor) -> Tensor {
    Profiler.measure("GlobalAvgPool backward") { _backward(dy) }
  }

  private func _backward(_ dy: Tensor) -> Tensor {
    precondition(inputShape.count == 4, "GlobalAvgPool.backward before forward")
    let (n, h, w, c) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
    precondition(dy.count == n * c, "GlobalAvgPool.backward got \(dy.shape)")
    var dx = Tensor.zeros(inputShape)
    dy.withPointer { dyp in
      dx.withMutablePointer { globalAvgPoolBackward(dyp, $0, batch: n, pixels: h * w, channels: c) }
    }
    return dx
  }

  public func visitParameters(_ visit: (String, Parameter) -> Void) {}
}
