import DxTensor

/// A depthwise convolution: one `k x k` filter per channel (groups = channels), NHWC.
///
/// `weight` is `[k, k, C]` (PyTorch's `[C, 1, k, k]` is converted at load), `bias` optional `[C]`.
public final class DepthwiseConv2D: Layer {
  public let channels: Int, kernel: Int, stride: Int
  public let padding: PaddingMode
  public let weight: Parameter
  public let bias: Parameter?

  var input: Tensor?
  private var geometry: ConvGeometry?
  /// Multiply-adds of the latest forward (for the profiler's rates).
  private var multiplyAdds: Double {
    geometry.map { Double($0.batch * $0.outHeight * $0.outWidth * kernel * kernel * channels) } ?? 0
  }

  /// He-normal initialised weights (fan-out = k*k for depthwise, as timm), zero bias.
  public init(
    _ channels: Int, kernel: Int, stride: Int = 1, padding: PaddingMode = .symmetric,
    bias: Bool = false, rng: inout SeededGenerator
  ) {
    precondition(channels > 0, "DepthwiseConv2D needs a positive channel count")
    self.channels = channels
    self.kernel = kernel
    self.stride = stride
    self.padding = padding
    weight = Parameter(
      .randomNormal([kernel, kernel, channels], std: (2 / Float(kernel * kernel)).squareRoot(), using: &rng))
    self.bias = bias ? Parameter(.zeros([channels])) : nil
  }

  public func forward(_ x: Tensor, mode: Mode) -> Tensor {
    Profiler.measure("DepthwiseConv2D forward", flops: 2 * multiplyAdds) { _forward(x, mode: mode) }
  }

  private func _forward(_ x: Tensor, mode: Mode) -> Tensor {
    let (n, h, w, c) = x.nhwc()
    precondition(c == channels, "DepthwiseConv2D expects \(channels) channels, got shape \(x.shape)")
    let g = ConvGeometry(
      batch: n, inHeight: h, inWidth: w, kernel: kernel, stride: stride,
      pad: Padding2D(padding, kernel: kernel, stride: stride, height: h, width: w))
    var out = Tensor.uninitialized([n, g.outHeight, g.outWidth, c])
    x.withPointer { xp in
      weight.value.withPointer { wp in
        out.withMutablePointer { op in
          withOptionalPointer(bias?.value) { bp in
            depthwiseConvForward(input: xp, weight: wp, bias: bp, output: op, geometry: g, channels: c)
          }
        }
      }
    }
    input = x
    geometry = g
    return out
  }

  public func backward(_ dy: Tensor) -> Tensor {
    Profiler.measure("DepthwiseConv2D backward", flops: 4 * multiplyAdds) { _backward(dy) }
  }

  private func _backward(_ dy: Tensor) -> Tensor {
    guard let x = input, let g = geometry else { preconditionFailure("DepthwiseConv2D.backward before forward") }
    precondition(dy.shape == [g.batch, g.outHeight, g.outWidth, channels], "DepthwiseConv2D.backward got \(dy.shape)")
    var dx = Tensor.uninitialized(x.shape)  // every element is written
    var biasGrad = Tensor.zeros([channels])
    x.withPointer { xp in
      weight.value.withPointer { wp in
        dy.withPointer { dyp in
          dx.withMutablePointer { dxp in
            weight.grad.withMutablePointer { dwp in
              biasGrad.withMutablePointer { dbp in
                depthwiseConvBackward(
                  input: xp, weight: wp, outputGrad: dyp, inputGrad: dxp, weightGrad: dwp,
                  biasGrad: bias == nil ? nil : dbp, geometry: g, channels: channels)
              }
            }
          }
        }
      }
    }
    bias?.accumulateGrad(biasGrad)
    return dx
  }

  public func visitParameters(_ visit: (String, Parameter) -> Void) {
    visit("weight", weight)
    if let bias { visit("bias", bias) }
  }
}
