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

  func forward(_ x: Tensor, mode: Mode) -> Tensor {
    let y = bn.forward(x, mode: mode)
    return act?.forward(y, mode: mode) ?? y
  }

  func backward(_ dy: Tensor) -> Tensor { bn.backward(act?.backward(dy) ?? dy) }

  func visitParameters(_ visit: (String, Parameter) -> Void) { bn.visitParameters(visit) }
}
