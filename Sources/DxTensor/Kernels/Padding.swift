internal import CDxKernels

/// How a convolution pads its input.
///
/// PyTorch-trained EfficientNets pad symmetrically by `((stride - 1) + (kernel - 1)) / 2`
/// (timm `get_padding`); TensorFlow/Keras-trained ones use SAME padding, which depends on the
/// input size and puts the odd pixel after (bottom/right). Loading TF weights with the wrong
/// mode shifts every feature map by one pixel, so the mode is part of the architecture.
public enum PaddingMode: String, Sendable, Codable {
  /// PyTorch: the same fixed amount on both sides.
  case symmetric
  /// TensorFlow SAME: output size `ceil(in / stride)`, asymmetric when the total pad is odd.
  case same
}

/// Concrete padding of one convolution for one input size.
public struct Padding2D: Equatable, Sendable, CustomStringConvertible {
  public var top: Int
  public var bottom: Int
  public var left: Int
  public var right: Int

  public init(top: Int, bottom: Int, left: Int, right: Int) {
    self.top = top
    self.bottom = bottom
    self.left = left
    self.right = right
  }

  /// Resolves `mode` for a `kernel`x`kernel` convolution with `stride` on an `height`x`width` input.
  public init(_ mode: PaddingMode, kernel: Int, stride: Int, height: Int, width: Int) {
    switch mode {
    case .symmetric:
      let p = ((stride - 1) + (kernel - 1)) / 2
      self.init(top: p, bottom: p, left: p, right: p)
    case .same:
      let ph = Padding2D.sameTotal(size: height, kernel: kernel, stride: stride)
      let pw = Padding2D.sameTotal(size: width, kernel: kernel, stride: stride)
      self.init(top: ph / 2, bottom: ph - ph / 2, left: pw / 2, right: pw - pw / 2)
    }
  }

  /// TF SAME total padding: `max((ceil(x / s) - 1) * s + k - x, 0)` (dilation 1).
  public static func sameTotal(size: Int, kernel: Int, stride: Int) -> Int {
    let out = (size + stride - 1) / stride
    return max((out - 1) * stride + kernel - size, 0)
  }

  /// Output size along one axis.
  public static func outputSize(input: Int, kernel: Int, stride: Int, before: Int, after: Int)
    -> Int
  {
    let size = (input + before + after - kernel) / stride + 1
    precondition(size > 0, "convolution with kernel \(kernel) leaves no output for input \(input)")
    return size
  }

  public var description: String { "(top \(top), bottom \(bottom), left \(left), right \(right))" }
}

/// The geometry of one 2-D convolution: sizes in, sizes out, kernel, stride, padding.
public struct ConvGeometry: Equatable, Sendable {
  public var batch: Int, inHeight: Int, inWidth: Int
  public var outHeight: Int, outWidth: Int
  public var kernel: Int, stride: Int
  public var pad: Padding2D

  public init(batch: Int, inHeight: Int, inWidth: Int, kernel: Int, stride: Int, pad: Padding2D) {
    precondition(kernel >= 1 && stride >= 1, "kernel \(kernel) and stride \(stride) must be >= 1")
    self.batch = batch
    self.inHeight = inHeight
    self.inWidth = inWidth
    self.kernel = kernel
    self.stride = stride
    self.pad = pad
    outHeight = Padding2D.outputSize(
      input: inHeight, kernel: kernel, stride: stride, before: pad.top, after: pad.bottom)
    outWidth = Padding2D.outputSize(
      input: inWidth, kernel: kernel, stride: stride, before: pad.left, after: pad.right)
  }
}

extension ConvGeometry {
  /// The C kernels' shape of this convolution over one NHWC image of `channels` channels.
  func kernelShape(channels: Int) -> dx_conv_shape {
    dx_conv_shape(
      in_height: inHeight, in_width: inWidth, channels: channels, out_width: outWidth,
      kernel: kernel, stride: stride, pad_top: pad.top, pad_left: pad.left)
  }
}
