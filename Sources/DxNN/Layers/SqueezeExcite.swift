import DxTensor

/// Squeeze-and-excitation (Hu et al., 2018) as in EfficientNet: pool each channel, squeeze
/// through a 1x1 convolution with SiLU, expand with a 1x1 convolution and a sigmoid, and scale
/// the input's channels by the result.
///
/// Children are named `conv_reduce` and `conv_expand`, as in timm's checkpoints.
public final class SqueezeExcite: Layer {
  public let convReduce: Conv2D, convExpand: Conv2D
  private let pool = GlobalAvgPool(keepSpatial: true)
  private let act: Activation, gate = Activation(.sigmoid)
  var input: Tensor?
  private var scale: Tensor?

  /// - Parameters:
  ///   - channels: channels of the feature map being gated.
  ///   - reduced: width of the bottleneck.
  public init(_ channels: Int, reduced: Int, activation: ActivationKind = .silu, rng: inout SeededGenerator) {
    convReduce = Conv2D(channels, reduced, kernel: 1, bias: true, rng: &rng)
    convExpand = Conv2D(reduced, channels, kernel: 1, bias: true, rng: &rng)
    act = Activation(activation)
  }

  public func forward(_ x: Tensor, mode: Mode) -> Tensor {
    _ = forwardGate(x, mode: mode)
    return scaledInput()
  }

  /// Forward up to the gate (`[N, 1, 1, C]`), for a next layer that applies it as it reads
  /// (`Conv2D.forward(_:inputGate:)`); `backward` works as after `forward`.
  public func forwardGate(_ x: Tensor, mode: Mode) -> Tensor {
    input = x
    let s = gate.forward(convExpand.forward(act.forward(convReduce.forward(pool.forward(x, mode: mode), mode: mode), mode: mode), mode: mode), mode: mode)
    scale = s
    return s
  }

  /// The input and the gate of the latest forward (nil before it, or the input once released).
  public var cachedInput: Tensor? { input }
  public var cachedGate: Tensor? { scale }

  /// The latest input scaled by the latest gate.
  func scaledInput() -> Tensor {
    guard let x = input, let s = scale else { preconditionFailure("SqueezeExcite output before forward") }
    let (n, h, w, c) = x.nhwc()
    var y = Tensor.uninitialized(x.shape)
    x.withPointer { xp in
      s.withPointer { sp in
        y.withMutablePointer { yp in Profiler.measure("SE scale forward") { channelScaleForward(xp, scale: sp, yp, batch: n, pixels: h * w, channels: c) } }
      }
    }
    return y
  }

  /// dx = dy * scale + (gradient through the gate) / pixels, in two passes over the map: the
  /// gate's gradient needs all of `Σ dy * x` first, then one pass writes dx with the pooled
  /// path's share added (the pool's broadcast gradient is never materialised).
  public func backward(_ dy: Tensor) -> Tensor {
    guard let x = input, let s = scale else { preconditionFailure("SqueezeExcite.backward before forward") }
    let (n, h, w, c) = x.nhwc()
    var ds = Tensor.uninitialized(s.shape)
    x.withPointer { xp in
      dy.withPointer { dyp in
        ds.withMutablePointer { dsp in Profiler.measure("SE scale backward") { channelScaleGradient(xp, dyp, scaleGrad: dsp, batch: n, pixels: h * w, channels: c) } }
      }
    }
    var dPooled = convReduce.backward(act.backward(convExpand.backward(gate.backward(ds))))
    let perPixel = 1 / Float(h * w)
    dPooled.withMutablePointer { p in for i in 0..<(n * c) { p[i] *= perPixel } }
    var dx = Tensor.uninitialized(x.shape)
    dy.withPointer { dyp in
      s.withPointer { sp in
        dPooled.withPointer { pp in
          dx.withMutablePointer { dxp in
            Profiler.measure("SE scale backward") { channelScaleInputGradient(dyp, scale: sp, adding: pp, inputGrad: dxp, batch: n, pixels: h * w, channels: c) }
          }
        }
      }
    }
    return dx
  }

  public func visitParameters(_ visit: (String, Parameter) -> Void) {
    convReduce.visitParameters { visit("conv_reduce.\($0)", $1) }
    convExpand.visitParameters { visit("conv_expand.\($0)", $1) }
  }
}
