import DxNN
import DxTensor

/// BatchNorm followed by an optional activation, one checkpoint entry (timm's
/// `BatchNormAct2d`: `bn1.weight`, `bn1.running_mean`, ...).
final class BatchNormAct: Layer {
  let bn: BatchNorm2D
  let act: Activation?

  init(_ channels: Int, _ config: EfficientNetConfig, activation: ActivationKind?) {
    bn = BatchNorm2D(channels, eps: config.bnEps, momentum: config.bnMomentum)
    act = activation.map(Activation.init)
  }

  /// The activation runs in BatchNorm's own pass (SiLU and ReLU6); backward recomputes the
  /// pre-activation values rather than keeping a second copy of the activation map.
  var fused: FusedActivation {
    switch act?.kind {
    case .silu: return .silu
    case .relu6: return .relu6
    default: return .none
    }
  }

  func forward(_ x: Tensor, mode: Mode) -> Tensor {
    if act == nil || fused != .none { return bn.forward(x, mode: mode, activation: fused) }
    return act!.forward(bn.forward(x, mode: mode), mode: mode)
  }

  func backward(_ dy: Tensor) -> Tensor {
    guard let act else { return bn.backward(dy) }
    guard fused != .none else { return bn.backward(act.backward(dy)) }
    return bn.backward(dy, activation: fused)
  }

  func visitParameters(_ visit: (String, Parameter) -> Void) { bn.visitParameters(visit) }
}

extension BatchNormAct: ReleasableInput, RecomputableOutput {
  var recomputesElementwise: Bool { true }
  func releaseInput() { bn.releaseInput() }
  func restoreInput(_ x: Tensor) { bn.restoreInput(x) }
  func recomputeOutput() -> Tensor {
    guard let act, fused == .none else { return bn.recomputeOutput(activation: fused) }
    // An activation not fused into BatchNorm caches its own input: forward it again.
    return act.forward(bn.recomputeOutput(activation: .none), mode: .training)
  }
}
