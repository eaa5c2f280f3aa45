import DxTensor

/// A full 2-D convolution (groups = 1) on NHWC input.
///
/// `weight` is `[k, k, Cin, Cout]` (channels-last; PyTorch's OIHW is converted at load), `bias`
/// optional `[Cout]`. Padding is resolved per input size, so TF SAME stays correct on odd maps.
public final class Conv2D: Layer {
  public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int
  public let padding: PaddingMode
  public let weight: Parameter
  public let bias: Parameter?

  var input: Tensor?
  private var col: [Float] = []
  private var geometry: ConvGeometry?
  /// Multiply-adds of the latest forward (for the profiler's rates).
  private var multiplyAdds: Double {
    geometry.map { Double($0.batch * $0.outHeight * $0.outWidth * kernel * kernel * inChannels * outChannels) } ?? 0
  }

  /// He-normal initialised weights (fan-out, as timm's `_init_weight_goog`), zero bias.
  public init(
    _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1,
    padding: PaddingMode = .symmetric, bias: Bool = false, rng: inout SeededGenerator
  ) {
    precondition(inChannels > 0 && outChannels > 0, "Conv2D needs positive channel counts")
    self.inChannels = inChannels
    self.outChannels = outChannels
    self.kernel = kernel
    self.stride = stride
    self.padding = padding
    let fanOut = Float(kernel * kernel * outChannels)
    weight = Parameter(
      .randomNormal(
        [kernel, kernel, inChannels, outChannels], std: (2 / fanOut).squareRoot(), using: &rng))
    self.bias = bias ? Parameter(.zeros([outChannels])) : nil
  }

  /// Floats of an im2col matrix (and of its gradient) for `g`: one row of k*k*Cin per output pixel.
  private func columnCount(_ g: ConvGeometry) -> Int { g.batch * g.outHeight * g.outWidth * kernel * kernel * inChannels }

  /// The geometry this layer uses on an `[N, H, W, Cin]` input.
  public func geometry(for shape: [Int]) -> ConvGeometry {
    ConvGeometry(
      batch: shape[0], inHeight: shape[1], inWidth: shape[2], kernel: kernel, stride: stride,
      pad: Padding2D(padding, kernel: kernel, stride: stride, height: shape[1], width: shape[2]))
  }

  public func forward(_ x: Tensor, mode: Mode) -> Tensor {
    Profiler.measure((kernel == 1 ? "Conv2D 1x1" : "Conv2D \(kernel)x\(kernel)") + " forward", flops: 2 * multiplyAdds) { _forward(x, mode: mode) }
  }

  private func _forward(_ x: Tensor, mode: Mode) -> Tensor {
    let (_, _, _, c) = x.nhwc()
    precondition(c == inChannels, "Conv2D expects \(inChannels) channels, got shape \(x.shape)")
    let g = geometry(for: x.shape)
    var out = Tensor.uninitialized([g.batch, g.outHeight, g.outWidth, outChannels])
    let colCount = convNeedsColumns(g) ? columnCount(g) : 0
    if col.count != colCount { col = [Float](unsafeUninitializedCapacity: colCount) { _, n in n = colCount } }  // im2col writes every element
    x.withPointer { xp in
      weight.value.withPointer { wp in
        col.withUnsafeMutableBufferPointer { colp in
          out.withMutablePointer { op in
            withOptionalPointer(bias?.value) { bp in
              conv2DForward(
                input: xp, weight: wp, bias: bp, output: op, col: colCount == 0 ? nil : colp.baseAddress, geometry: g,
                inChannels: inChannels, outChannels: outChannels)
            }
          }
        }
      }
    }
    input = x
    geometry = g
    return out
  }

  /// Training forward of a 1x1, stride-1 convolution of `x * gate` (`gate` `[N, 1, 1, Cin]`,
  /// squeeze-excitation's), without writing the gated map. The cached input is left as it is:
  /// the caller hands the gated map over with `restoreInput` before `backward` (see
  /// `MBConvBlock`), and recomputes this output with this call, not `recomputeOutput`.
  public func forward(_ x: Tensor, inputGate gate: Tensor) -> Tensor {
    Profiler.measure("Conv2D 1x1 forward", flops: 2 * multiplyAdds) {
      let (n, h, w, c) = x.nhwc()
      precondition(kernel == 1 && stride == 1 && bias == nil && c == inChannels, "Conv2D.forward(inputGate:) is for bias-free 1x1 convolutions")
      precondition(gate.count == n * c, "Conv2D.forward(inputGate:) got a gate of shape \(gate.shape)")
      let g = geometry(for: x.shape)
      var out = Tensor.uninitialized([n, h, w, outChannels])
      x.withPointer { xp in
        gate.withPointer { gp in
          weight.value.withPointer { wp in
            out.withMutablePointer { op in
              gatedPointwiseConvForward(
                input: xp, gate: gp, weight: wp, output: op, images: n, pixels: h * w, inChannels: c, outChannels: outChannels)
            }
          }
        }
      }
      geometry = g
      return out
    }
  }

  public func backward(_ dy: Tensor) -> Tensor {
    // Input and weight gradients: twice the forward's arithmetic.
    Profiler.measure((kernel == 1 ? "Conv2D 1x1" : "Conv2D \(kernel)x\(kernel)") + " backward", flops: 4 * multiplyAdds) {
      _backward(dy, inputGradient: true)!
    }
  }

  /// Backward for a layer that reads the network's input (a stem): the weight and bias
  /// gradients only, half the arithmetic and no col2im.
  public func backwardParameters(_ dy: Tensor) {
    Profiler.measure((kernel == 1 ? "Conv2D 1x1" : "Conv2D \(kernel)x\(kernel)") + " backward", flops: 2 * multiplyAdds) {
      _ = _backward(dy, inputGradient: false)
    }
  }

  private func _backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
    guard let x = input, let g = geometry else { preconditionFailure("Conv2D.backward before forward") }
    precondition(dy.shape == [g.batch, g.outHeight, g.outWidth, outChannels], "Conv2D.backward got \(dy.shape)")
    // Both are written in full (a GEMM with beta 0; col2im clears dx first), never added to.
    var dx = Tensor.uninitialized(inputGradient ? x.shape : [1])  // [1]: a pointer, never written
    let colGradCount = inputGradient && !convIsPointwise(g) ? columnCount(g) : 0
    var colGrad = [Float](unsafeUninitializedCapacity: colGradCount) { _, n in n = colGradCount }
    var biasGrad = Tensor.zeros([outChannels])
    x.withPointer { xp in
      weight.value.withPointer { wp in
        dy.withPointer { dyp in
          dx.withMutablePointer { dxp in
            weight.grad.withMutablePointer { dwp in
              biasGrad.withMutablePointer { dbp in
                col.withUnsafeBufferPointer { colp in
                  colGrad.withUnsafeMutableBufferPointer { cgp in
                    conv2DBackward(
                      input: xp, col: col.isEmpty ? nil : colp.baseAddress, weight: wp, outputGrad: dyp,
                      inputGrad: inputGradient ? dxp : nil, weightGrad: dwp, biasGrad: bias == nil ? nil : dbp,
                      colGrad: colGradCount == 0 ? nil : cgp.baseAddress,
                      geometry: g, inChannels: inChannels, outChannels: outChannels)
                  }
                }
              }
            }
          }
        }
      }
    }
    bias?.accumulateGrad(biasGrad)
    return inputGradient ? dx : nil
  }

  public func visitParameters(_ visit: (String, Parameter) -> Void) {
    visit("weight", weight)
    if let bias { visit("bias", bias) }
  }
}
