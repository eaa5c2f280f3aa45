import DxTensor

/// A named tensor owned by a layer: either learned (`trainable`) or state the forward pass keeps
/// (`buffer`, e.g. BatchNorm running statistics).
///
/// Buffers are saved and loaded with the weights but no optimizer ever updates them. A trainable
/// parameter can be frozen (transfer learning: train the head, keep the backbone) and then is
/// skipped by optimizers too.
public final class Parameter {
  /// What kind of state this is.
  public enum Kind: String, Sendable {
    /// Learned by gradient descent.
    case trainable
    /// Carried along (saved, loaded, averaged by EMA) but never updated by an optimizer.
    case buffer
  }

  /// The current value.
  public var value: Tensor
  /// dLoss/dValue, accumulated by `backward` (empty for buffers). Allocated (as zeros) on
  /// first use: a network loaded for inference never needs it, and skipping it saves a copy of
  /// the model's size and the time to clear it (a third of loading a checkpoint).
  public var grad: Tensor {
    get {
      if storedGrad == nil { storedGrad = zeroGrad() }
      return storedGrad!
    }
    set { storedGrad = newValue }
    _modify {  // in place: a get-then-set would copy the whole gradient on every accumulation
      if storedGrad == nil { storedGrad = zeroGrad() }
      yield &storedGrad!
    }
  }
  private var storedGrad: Tensor?
  private func zeroGrad() -> Tensor { kind == .trainable ? Tensor.zeros(value.shape) : Tensor.zeros([0]) }
  /// Trainable or buffer.
  public let kind: Kind
  /// A frozen trainable parameter keeps its value during optimisation. `zeroGradients` skips
  /// it, so its gradient is cleared when it is unfrozen.
  public var isFrozen = false {
    didSet { if oldValue && !isFrozen { storedGrad?.zero() } }
  }

  /// A parameter holding `value`.
  public init(_ value: Tensor, kind: Kind = .trainable) {
    self.value = value
    self.kind = kind
  }

  /// True when an optimizer should update this parameter.
  public var isUpdated: Bool { kind == .trainable && !isFrozen }

  /// Adds `delta` into the gradient (layers accumulate; `zeroGradients` clears).
  public func accumulateGrad(_ delta: Tensor) {
    precondition(kind == .trainable, "buffers have no gradient")
    grad += delta
  }
}
