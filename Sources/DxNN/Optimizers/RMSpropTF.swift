import DxTensor

/// RMSprop as TensorFlow implements it, the optimizer of the original EfficientNet recipe
/// (decay 0.9, momentum 0.9, eps 1e-3), following timm's `RMSpropTF`:
///
///     g = grad + decay * p                         (coupled L2 decay)
///     ms = ms + (1 - alpha) * (g² - ms)             (ms starts at 1, not 0)
///     buf = momentum * buf + lr * g / sqrt(ms + eps) (eps inside the root, lr inside momentum)
///     p = p - buf
///
/// PyTorch's own RMSprop puts eps outside the root and starts `ms` at 0, which makes TF
/// hyper-parameters blow up in the first steps.
public final class RMSpropTF: Optimizer {
  public let alpha: Float, momentum: Float, eps: Float
  public let weightDecay: WeightDecay
  private var state: [String: (ms: [Float], buf: [Float])] = [:]

  public init(alpha: Float = 0.9, momentum: Float = 0.9, eps: Float = 1e-3, weightDecay: WeightDecay = WeightDecay()) {
    self.alpha = alpha
    self.momentum = momentum
    self.eps = eps
    self.weightDecay = weightDecay
  }

  public func update(name: String, value p: inout [Float], grad: [Float], lr: Float, decay: Float) {
    var (ms, buf) = state[name] ?? ([Float](repeating: 1, count: p.count), [Float](repeating: 0, count: p.count))
    for i in p.indices {
      let g = grad[i] + decay * p[i]
      ms[i] += (1 - alpha) * (g * g - ms[i])
      let step = g / (ms[i] + eps).squareRoot()
      if momentum > 0 {
        buf[i] = momentum * buf[i] + lr * step
        p[i] -= buf[i]
      } else {
        p[i] -= lr * step
      }
    }
    state[name] = (ms, buf)
  }

  public func stateTensors() -> [String: Tensor] {
    var out: [String: Tensor] = [:]
    for (name, (ms, buf)) in state {
      out["ms." + name] = Tensor(shape: [ms.count], scalars: ms)
      out["buf." + name] = Tensor(shape: [buf.count], scalars: buf)
    }
    return out
  }

  public func loadState(_ tensors: [String: Tensor]) {
    state = [:]
    for (k, ms) in tensors where k.hasPrefix("ms.") {
      let name = String(k.dropFirst(3))
      if let buf = tensors["buf." + name] { state[name] = (ms.scalars, buf.scalars) }
    }
  }
}
