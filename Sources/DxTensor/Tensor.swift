/// A dense Float32 tensor in row-major order; images are NHWC (`[N, H, W, C]`).
///
/// Channels-last keeps the channel loop innermost, which is what depthwise convolution,
/// BatchNorm and squeeze-excitation vectorise over, and makes a 1x1 convolution a plain
/// GEMM over `N*H*W` rows. Storage is a Swift array, so copies are cheap until written.
public struct Tensor: Equatable, Sendable {
  /// Dimensions, outermost first.
  public private(set) var shape: [Int]
  /// The elements in row-major order.
  public var scalars: [Float]

  /// A tensor holding `scalars` laid out as `shape`.
  public init(shape: [Int], scalars: [Float]) {
    precondition(shape.allSatisfy { $0 >= 0 }, "Tensor shape \(shape) has a negative dimension")
    precondition(
      shape.reduce(1, *) == scalars.count,
      "Tensor shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
    self.shape = shape
    self.scalars = scalars
  }

  /// A tensor of `shape` filled with `value`.
  public init(shape: [Int], repeating value: Float = 0) {
    self.init(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)))
  }

  /// A tensor of zeros.
  public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape) }

  /// Number of elements.
  public var count: Int { scalars.count }
  /// Number of dimensions.
  public var rank: Int { shape.count }

  /// The same elements under another shape of equal size.
  public func reshaped(_ newShape: [Int]) -> Tensor {
    Tensor(shape: newShape, scalars: scalars)
  }

  /// Reads `[N, H, W, C]` of a rank-4 tensor; programmer errors stop with a message.
  public func nhwc(_ file: StaticString = #file, _ line: UInt = #line) -> (
    n: Int, h: Int, w: Int, c: Int
  ) {
    precondition(rank == 4, "expected an NHWC tensor, got shape \(shape)", file: file, line: line)
    return (shape[0], shape[1], shape[2], shape[3])
  }

  /// Element access by full index (slow; for tests and small tools).
  public subscript(_ index: Int...) -> Float {
    get { scalars[flatIndex(index)] }
    set { scalars[flatIndex(index)] = newValue }
  }

  private func flatIndex(_ index: [Int]) -> Int {
    precondition(index.count == rank, "index \(index) does not match shape \(shape)")
    var flat = 0
    for (i, dim) in zip(index, shape) {
      precondition(i >= 0 && i < dim, "index \(index) out of range for shape \(shape)")
      flat = flat * dim + i
    }
    return flat
  }

  /// Calls `body` with a pointer to the elements.
  @inlinable
  public func withPointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
    try scalars.withUnsafeBufferPointer { try body($0.baseAddress!) }
  }

  /// Calls `body` with a mutable pointer to the elements.
  @inlinable
  public mutating func withMutablePointer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R)
    rethrows -> R
  {
    try scalars.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
  }
}

extension Tensor: CustomStringConvertible {
  public var description: String {
    let head = scalars.prefix(8).map { String(format: "%.4g", Double($0)) }.joined(separator: ", ")
    return "Tensor(\(shape): [\(head)\(count > 8 ? ", ..." : "")])"
  }
}

/// Calls `body` with a pointer to `tensor`'s elements, or nil when there is no tensor
/// (optional biases).
@inlinable
public func withOptionalPointer<R>(_ tensor: Tensor?, _ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
  guard let tensor else { return try body(nil) }
  return try tensor.withPointer { try body($0) }
}

extension Tensor {
  /// A tensor whose elements are not initialised: for outputs a kernel overwrites entirely
  /// (saves a zero-fill pass over every activation).
  public static func uninitialized(_ shape: [Int]) -> Tensor {
    let n = shape.reduce(1, *)
    return Tensor(shape: shape, scalars: [Float](unsafeUninitializedCapacity: n) { _, count in count = n })
  }
}
