/// Whole-tensor arithmetic used by layers, losses and optimizers.
extension Tensor {
  /// Elementwise sum of two tensors of the same shape (residual connections).
  public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
    precondition(lhs.shape == rhs.shape, "cannot add shapes \(lhs.shape) and \(rhs.shape)")
    var out = lhs
    out += rhs
    return out
  }

  /// In-place elementwise sum (gradient accumulation).
  public static func += (lhs: inout Tensor, rhs: Tensor) {
    precondition(lhs.shape == rhs.shape, "cannot add shapes \(lhs.shape) and \(rhs.shape)")
    let n = lhs.count
    rhs.withPointer { r in lhs.withMutablePointer { l in for i in 0..<n { l[i] += r[i] } } }
  }

  /// Elementwise product of two tensors of the same shape.
  public static func * (lhs: Tensor, rhs: Tensor) -> Tensor {
    precondition(lhs.shape == rhs.shape, "cannot multiply shapes \(lhs.shape) and \(rhs.shape)")
    var out = lhs
    let n = out.count
    rhs.withPointer { r in out.withMutablePointer { o in for i in 0..<n { o[i] *= r[i] } } }
    return out
  }

  /// Every element times `scale`.
  public static func * (lhs: Tensor, scale: Float) -> Tensor {
    var out = lhs
    out.withMutablePointer { o in for i in 0..<lhs.count { o[i] *= scale } }
    return out
  }

  /// Sets every element to zero, keeping the shape.
  public mutating func zero() {
    let n = count
    withMutablePointer { p in p.update(repeating: 0, count: n) }
  }

  /// Sum of all elements, accumulated in Double.
  public func sum() -> Double {
    var s = 0.0
    for v in scalars { s += Double(v) }
    return s
  }

  /// Sum of squares, accumulated in Double (gradient norms).
  public func sumOfSquares() -> Double {
    var s = 0.0
    for v in scalars { s += Double(v) * Double(v) }
    return s
  }

  /// Largest absolute element.
  public func maxAbs() -> Float { scalars.reduce(0) { max($0, abs($1)) } }
}
