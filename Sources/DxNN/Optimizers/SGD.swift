import DxTensor

/// Stochastic gradient descent with momentum and optional Nesterov, as `torch.optim.SGD`:
///
///     g = grad + decay * p                   (coupled L2 decay)
///     buf = g on the first step, else momentum * buf + (1 - dampening) * g
///     g = g + momentum * buf  (Nesterov)  or  g = buf
///     p = p - lr * g
public final class SGD: Optimizer {
  public let momentum: Float, dampening: Float, nesterov: Bool
  public let weightDecay: WeightDecay
  private var buffers: [String: [Float]] = [:]

  public init(momentum: Float = 0, dampening: Float = 0, nesterov: Bool = false, weightDecay: WeightDecay = WeightDecay()) {
    precondition(!nesterov || (momentum > 0 && dampening == 0), "Nesterov needs momentum > 0 and no dampening")
    self.momentum = momentum
    self.dampening = dampening
    self.nesterov = nesterov
    self.weightDecay = weightDecay
  }

  public func update(name: String, value p: inout [Float], grad: [Float], lr: Float, decay: Float) {
    var g = grad
    if decay != 0 { for i in g.indices { g[i] += decay * p[i] } }
    if momentum != 0 {
      if var buf = buffers[name] {
        for i in buf.indices { buf[i] = momentum * buf[i] + (1 - dampening) * g[i] }
        buffers[name] = buf
      } else {
        buffers[name] = g
      }
      let buf = buffers[name]!
      if nesterov { for i in g.indices { g[i] += momentum * buf[i] } } else { g = buf }
    }
    for i in p.indices { p[i] -= lr * g[i] }
  }

  public func stateTensors() -> [String: Tensor] {
    buffers.mapValues { Tensor(shape: [$0.count], scalars: $0) }.reduce(into: [:]) { $0["momentum." + $1.key] = $1.value }
  }

  public func loadState(_ tensors: [String: Tensor]) {
    buffers = [:]
    for (k, t) in tensors where k.hasPrefix("momentum.") { buffers[String(k.dropFirst("momentum.".count))] = t.scalars }
  }
}
