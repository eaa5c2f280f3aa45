import DxTensor

/// A pointwise activation function.
public enum ActivationKind: String, Sendable, Codable {
  /// `x * sigmoid(x)`: EfficientNet's Swish.
  case silu
  /// `1 / (1 + exp(-x))`: the squeeze-excitation gate.
  case sigmoid
  /// `min(max(x, 0), 6)`: EfficientNet-Lite (quantisation friendly).
  case relu6
}

/// Applies an activation elementwise; any shape.
public final class Activation: Layer {
  public let kind: ActivationKind
  private var cached: Tensor?  // input (SiLU, ReLU6) or output (sigmoid)

  public init(_ kind: ActivationKind) { self.kind = kind }

  public func forward(_ x: Tensor, mode: Mode) -> Tensor {
    Profiler.measure("\(kind.rawValue) forward") { _forward(x, mode: mode) }
  }

  private func _forward(_ x: Tensor, mode: Mode) -> Tensor {
    var y = Tensor.uninitialized(x.shape)
    let n = x.count
    x.withPointer { xp in
      y.withMutablePointer { yp in
        switch kind {
        case .silu: siluForward(xp, yp, count: n)
        case .sigmoid: sigmoidForward(xp, yp, count: n)
        case .relu6: relu6Forward(xp, yp, count: n)
        }
      }
    }
    cached = kind == .sigmoid ? y : x
    return y
  }

  public func backward(_ dy: Tensor) -> Tensor {
    Profiler.measure("\(kind.rawValue) backward") { _backward(dy) }
  }

  private func _backward(_ dy: Tensor) -> Tensor {
    guard let c = cached else { preconditionFailure("Activation.backward before forward") }
    precondition(dy.shape == c.shape, "Activation.backward got \(dy.shape), expected \(c.shape)")
    var dx = Tensor.uninitialized(c.shape)
    let n = c.count
    c.withPointer { cp in
      dy.withPointer { dyp in
        dx.withMutablePointer { dxp in
          switch kind {
          case .silu: siluBackward(cp, dyp, dxp, count: n)
          case .sigmoid: sigmoidBackward(output: cp, dyp, dxp, count: n)
          case .relu6: relu6Backward(cp, dyp, dxp, count: n)
          }
        }
      }
    }
    return dx
  }

  public func visitParameters(_ visit: (String, Parameter) -> Void) {}
}
