import DxTensor

/// Updates a model's trainable, unfrozen parameters from their gradients.
///
/// Each optimizer is a pure per-tensor rule (`update`) plus per-parameter state keyed by name;
/// `step` walks the parameters, skipping buffers and frozen ones (MLX's `applySingle` split).
public protocol Optimizer: AnyObject {
  /// Weight decay and which parameters it applies to.
  var weightDecay: WeightDecay { get }
  /// Applies one update to `value` from `grad` at learning rate `lr`, with decay rate `decay`.
  func update(name: String, value: inout [Float], grad: [Float], lr: Float, decay: Float)
  /// Per-parameter state (momenta, moment estimates, step counts) as named tensors, for
  /// resuming training exactly where it stopped.
  func stateTensors() -> [String: Tensor]
  /// Restores what `stateTensors` returned.
  func loadState(_ tensors: [String: Tensor])
}

extension Optimizer {
  /// One optimisation step over every parameter `isUpdated` in `parameters`; `lrScale` gives
  /// a per-parameter multiplier (e.g. a smaller rate for a pretrained backbone than for the head).
  public func step(_ parameters: [(name: String, parameter: Parameter)], lr: Float, lrScale: (String) -> Float = { _ in 1 }) {
    for (name, p) in parameters where p.isUpdated {
      let decay = weightDecay.rate(for: name, shape: p.value.shape)
      update(name: name, value: &p.value.scalars, grad: p.grad.scalars, lr: lr * lrScale(name), decay: decay)
    }
  }

  /// One optimisation step over a model's parameters.
  public func step(_ model: any Layer, lr: Float) { step(model.namedParameters(), lr: lr) }
}

/// L2 / decoupled weight decay and the parameters it skips.
///
/// timm's recipe excludes biases and normalisation parameters (every tensor of rank <= 1) from
/// decay: decaying BatchNorm's gamma towards zero fights the normalisation.
public struct WeightDecay: Sendable {
  /// The decay coefficient.
  public var rate: Float
  /// Skip biases and norm parameters (rank <= 1, or a name ending in `.bias`).
  public var excludeBiasAndNorm: Bool

  public init(_ rate: Float = 0, excludeBiasAndNorm: Bool = false) {
    self.rate = rate
    self.excludeBiasAndNorm = excludeBiasAndNorm
  }

  /// The rate that applies to the parameter `name` of `shape`.
  public func rate(for name: String, shape: [Int]) -> Float {
    if excludeBiasAndNorm && (shape.count <= 1 || name.hasSuffix(".bias") || name == "bias") { return 0 }
    return rate
  }
}
