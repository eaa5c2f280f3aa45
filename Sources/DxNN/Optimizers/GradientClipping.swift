import DxTensor

/// Scales all gradients so that their global L2 norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_` (coefficient `maxNorm / (norm + 1e-6)`, capped at 1).
/// Only parameters an optimizer would update count. Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [(name: String, parameter: Parameter)], maxNorm: Float) -> Float {
  let updated = parameters.filter { $0.parameter.isUpdated }
  let norm = updated.reduce(0.0) { $0 + $1.parameter.grad.sumOfSquares() }.squareRoot()
  let coef = Double(maxNorm) / (norm + 1e-6)
  if coef < 1 {
    for (_, p) in updated { p.grad = p.grad * Float(coef) }
  }
  return Float(norm)
}
