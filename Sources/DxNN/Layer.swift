import DxTensor

/// Whether a forward pass is part of training.
public enum Mode: Sendable {
  /// Batch statistics in BatchNorm, active dropout and drop-path, caches for `backward`.
  case training
  /// Running statistics, no dropout; `backward` is still allowed (it gives input gradients,
  /// e.g. for Grad-CAM, and gradients for parameters trained on top of frozen BatchNorm).
  case inference
}

/// A network piece with an explicit backward pass.
///
/// There is no autodiff: each layer caches exactly what its backward needs during `forward`,
/// and `backward` must follow the `forward` it differentiates.
public protocol Layer: AnyObject {
  /// Computes the output and caches what `backward` needs.
  func forward(_ x: Tensor, mode: Mode) -> Tensor
  /// Takes dL/dy for the latest `forward`, *adds* dL/dθ into each parameter's `grad` and
  /// returns dL/dx.
  func backward(_ dy: Tensor) -> Tensor
  /// Visits every parameter and buffer under its checkpoint name, in a stable order.
  func visitParameters(_ visit: (String, Parameter) -> Void)
}

extension Layer {
  /// Shorthand for `forward(_:mode:)`.
  public func callAsFunction(_ x: Tensor, mode: Mode) -> Tensor { forward(x, mode: mode) }

  /// All parameters and buffers with their hierarchical names (`blocks.1.0.conv_dw.weight`).
  public func namedParameters() -> [(name: String, parameter: Parameter)] {
    var all: [(String, Parameter)] = []
    visitParameters { all.append(($0, $1)) }
    return all
  }

  /// Sets the gradient of every trainable, unfrozen parameter to zero (frozen ones are zeroed
  /// when they are unfrozen, so a head-only step does not touch the backbone's millions).
  public func zeroGradients() {
    visitParameters { _, p in if p.isUpdated { p.grad.zero() } }
  }

  /// Freezes (or unfreezes) every trainable parameter whose name starts with `prefix`
  /// (`""` means all). Returns how many parameters changed state.
  @discardableResult
  public func setFrozen(_ frozen: Bool, prefix: String = "") -> Int {
    var changed = 0
    visitParameters { name, p in
      guard p.kind == .trainable, name.hasPrefix(prefix), p.isFrozen != frozen else { return }
      p.isFrozen = frozen
      changed += 1
    }
    return changed
  }

  /// Total number of scalars in trainable parameters (buffers excluded), as timm counts.
  public var parameterCount: Int {
    var n = 0
    visitParameters { _, p in if p.kind == .trainable { n += p.value.count } }
    return n
  }
}

/// Children run in order; each child's parameters are named `<child name>.<parameter name>`.
public final class Sequential: Layer {
  /// The children under their checkpoint names.
  public let children: [(name: String, layer: any Layer)]

  /// A chain of named layers.
  public init(_ children: [(String, any Layer)]) {
    self.children = children.map { (name: $0.0, layer: $0.1) }
  }

  public func forward(_ x: Tensor, mode: Mode) -> Tensor {
    children.reduce(x) { $1.layer.forward($0, mode: mode) }
  }

  public func backward(_ dy: Tensor) -> Tensor {
    children.reversed().reduce(dy) { $1.layer.backward($0) }
  }

  public func visitParameters(_ visit: (String, Parameter) -> Void) {
    for (name, layer) in children { layer.visitParameters { visit("\(name).\($0)", $1) } }
  }
}

/// `y = body(x) + x`: a skip connection around `body`.
public final class Residual: Layer {
  /// The branch the skip goes around; its parameters keep their own names (no extra prefix).
  public let body: any Layer

  /// A skip connection around `body`, whose output must have the input's shape.
  public init(_ body: any Layer) { self.body = body }

  public func forward(_ x: Tensor, mode: Mode) -> Tensor {
    let y = body.forward(x, mode: mode)
    precondition(y.shape == x.shape, "residual branch changed shape \(x.shape) -> \(y.shape)")
    return y + x
  }

  public func backward(_ dy: Tensor) -> Tensor { body.backward(dy) + dy }

  public func visitParameters(_ visit: (String, Parameter) -> Void) { body.visitParameters(visit) }
}
