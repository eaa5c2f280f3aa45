import DxTensor

/// A fully connected layer `y = x W + b` on `[N, in]` input.
///
/// `weight` is `[in, out]` so the forward pass is one plain GEMM (PyTorch's `[out, in]` is
/// transposed at load).
public final class Linear: Layer {
  public let inFeatures: Int, outFeatures: Int
  public let weight: Parameter
  public let bias: Parameter?
  private var input: Tensor?

  /// Uniform initialisation in `±1/sqrt(out)`, as timm's `_init_weight_goog` for classifiers.
  public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout SeededGenerator) {
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    let r = 1 / Float(outFeatures).squareRoot()
    weight = Parameter(.randomUniform([inFeatures, outFeatures], low: -r, high: r, using: &rng))
    self.bias = bias ? Parameter(.zeros([outFeatures])) : nil
  }

  public func forward(_ x: Tensor, mode: Mode) -> Tensor {
    Profiler.measure("Linear forward") { _forward(x, mode: mode) }
  }

  private func _forward(_ x: Tensor, mode: Mode) -> Tensor {
    precondition(x.rank == 2 && x.shape[1] == inFeatures, "Linear expects [N, \(inFeatures)], got \(x.shape)")
    let n = x.shape[0]
    var y = Tensor.zeros([n, outFeatures])
    x.withPointer { xp in
      weight.value.withPointer { wp in
        y.withMutablePointer { yp in
          sgemm(m: n, n: outFeatures, k: inFeatures, a: xp, lda: inFeatures, b: wp, ldb: outFeatures, c: yp, ldc: outFeatures)
          if let bias { bias.value.withPointer { addChannelBias(yp, bias: $0, rows: n, channels: outFeatures) } }
        }
      }
    }
    input = x
    return y
  }

  public func backward(_ dy: Tensor) -> Tensor {
    Profiler.measure("Linear backward") { _backward(dy) }
  }

  private func _backward(_ dy: Tensor) -> Tensor {
    guard let x = input else { preconditionFailure("Linear.backward before forward") }
    let n = x.shape[0]
    precondition(dy.shape == [n, outFeatures], "Linear.backward got \(dy.shape)")
    var dx = Tensor.zeros(x.shape)
    x.withPointer { xp in
      dy.withPointer { dyp in
        weight.grad.withMutablePointer { dwp in
          sgemm(transA: true, m: inFeatures, n: outFeatures, k: n, a: xp, lda: inFeatures, b: dyp, ldb: outFeatures, beta: 1, c: dwp, ldc: outFeatures)
        }
        weight.value.withPointer { wp in
          dx.withMutablePointer { dxp in
            sgemm(transB: true, m: n, n: inFeatures, k: outFeatures, a: dyp, lda: outFeatures, b: wp, ldb: outFeatures, c: dxp, ldc: inFeatures)
          }
        }
        if let bias { bias.grad.withMutablePointer { accumulateChannelSums(dyp, into: $0, rows: n, channels: outFeatures) } }
      }
    }
    return dx
  }

  public func visitParameters(_ visit: (String, Parameter) -> Void) {
    visit("weight", weight)
    if let bias { visit("bias", bias) }
  }
}
