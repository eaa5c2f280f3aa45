import DxTensor
import Foundation

/// Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as `torch.optim.AdamW`:
///
///     p = p * (1 - lr * decay)
///     m = β1 m + (1 - β1) g;   v = β2 v + (1 - β2) g²
///     p = p - lr / (1 - β1^t) * m / (sqrt(v) / sqrt(1 - β2^t) + eps)
public final class AdamW: Optimizer {
  public let beta1: Float, beta2: Float, eps: Float
  public let weightDecay: WeightDecay
  private var moments: [String: (m: [Float], v: [Float], t: Int)] = [:]

  public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: WeightDecay = WeightDecay(0.01)) {
    self.beta1 = beta1
    self.beta2 = beta2
    self.eps = eps
    self.weightDecay = weightDecay
  }

  public func update(name: String, value p: inout [Float], grad g: [Float], lr: Float, decay: Float) {
    var (m, v, t) = moments[name] ?? ([Float](repeating: 0, count: p.count), [Float](repeating: 0, count: p.count), 0)
    t += 1
    let bc1 = 1 - pow(beta1, Float(t)), bc2 = 1 - pow(beta2, Float(t))
    let stepSize = lr / bc1
    let bc2Sqrt = bc2.squareRoot()
    for i in p.indices {
      p[i] *= 1 - lr * decay
      m[i] = beta1 * m[i] + (1 - beta1) * g[i]
      v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
      p[i] -= stepSize * m[i] / (v[i].squareRoot() / bc2Sqrt + eps)
    }
    moments[name] = (m, v, t)
  }

  public func stateTensors() -> [String: Tensor] {
    var out: [String: Tensor] = [:]
    for (name, (m, v, t)) in moments {
      out["m." + name] = Tensor(shape: [m.count], scalars: m)
      out["v." + name] = Tensor(shape: [v.count], scalars: v)
      out["t." + name] = Tensor(shape: [1], scalars: [Float(t)])
    }
    return out
  }

  public func loadState(_ tensors: [String: Tensor]) {
    moments = [:]
    for (k, m) in tensors where k.hasPrefix("m.") {
      let name = String(k.dropFirst(2))
      if let v = tensors["v." + name], let t = tensors["t." + name] { moments[name] = (m.scalars, v.scalars, Int(t.scalars[0])) }
    }
  }
}
