import DxTensor

// Trading compute for memory in training: a layer can drop the input it cached for backward
// (`ReleasableInput`) when the layer before it can recompute that input from what *it* cached
// (`RecomputableOutput`). A block that knows its children's order releases after forward and
// restores just before each backward, so only one block's recomputed maps exist at a time.

/// A layer whose cached input can be dropped after forward and handed back before backward.
public protocol ReleasableInput: Layer {
  func releaseInput()
  func restoreInput(_ x: Tensor)
}

/// A layer that can recompute its latest forward output from its own cache, exactly.
public protocol RecomputableOutput: Layer {
  func recomputeOutput() -> Tensor
  /// Recomputing is one elementwise pass (BatchNorm+activation, SE's scaling), not a
  /// convolution: about what reading the kept map back would cost.
  var recomputesElementwise: Bool { get }
}

extension RecomputableOutput {
  public var recomputesElementwise: Bool { false }
}

/// How much of a training step's forward state is recomputed in backward instead of kept.
public enum Recomputation: String, Sendable, CaseIterable {
  /// Keep every map backward reads: the fastest step, the most memory.
  case none
  /// Drop the maps an elementwise pass recomputes (the outputs of BatchNorm+activation and of
  /// SE, which are the next layer's cached input) and keep the convolutions' outputs: about
  /// half the memory for a few percent more time. The default.
  case elementwise
  /// Keep only each block's input and recompute the block's inside (convolutions too) just
  /// before its backward: the least memory, for roughly one more forward pass of the blocks.
  case all
}

extension Conv2D: ReleasableInput, RecomputableOutput {
  public func releaseInput() { input = nil }
  public func restoreInput(_ x: Tensor) { input = x }
  public func recomputeOutput() -> Tensor {
    guard let x = input else { preconditionFailure("Conv2D.recomputeOutput before forward") }
    return forward(x, mode: .inference)  // a convolution does not depend on the mode
  }
}

extension DepthwiseConv2D: ReleasableInput, RecomputableOutput {
  public func releaseInput() { input = nil }
  public func restoreInput(_ x: Tensor) { input = x }
  public func recomputeOutput() -> Tensor {
    guard let x = input else { preconditionFailure("DepthwiseConv2D.recomputeOutput before forward") }
    return forward(x, mode: .inference)
  }
}

extension BatchNorm2D {
  /// Drops the cached input (statistics stay); `restoreInput` must precede `backward`.
  public func releaseInput() { input = nil }
  public func restoreInput(_ x: Tensor) {
    precondition(x.shape.last == channels, "BatchNorm2D.restoreInput got \(x.shape)")
    input = x
  }

  /// The latest forward output (with `activation` fused, as forward had it), from the cached
  /// input and the statistics forward used: the same kernel on the same values, so the same bits.
  public func recomputeOutput(activation: FusedActivation) -> Tensor {
    guard let x = input else { preconditionFailure("BatchNorm2D.recomputeOutput before forward") }
    return Profiler.measure("BatchNorm+activation recompute", bytes: 8 * Double(x.count)) { apply(x, activation: activation) }
  }
}

extension SqueezeExcite: ReleasableInput, RecomputableOutput {
  /// Drops the cached input map (the gate, `[N, C]`, stays).
  public func releaseInput() { input = nil }
  public func restoreInput(_ x: Tensor) { input = x }
  /// `input * scale` from the cache: the same values forward returned.
  public func recomputeOutput() -> Tensor { scaledInput() }
  public var recomputesElementwise: Bool { true }
}
