/// Channel sums kept per work share of a parallel kernel (SE's channel means), added in share
/// order at the end so the result has the same bits whichever core ran which share.
///
/// Each share's sums start on their own 64-byte cache line. The kernels add every output pixel
/// into their share's sums, and two shares running on two cores at once with a line in common
/// made each core's stores evict the other's copy: B7's depthwise layers at 300 x 300 and
/// batch 1 ran slower on 2 threads than on 1.
struct WorkerSums {
  /// Floats per cache line, the unit shares are rounded up to.
  private static let lineFloats = 16
  private let base: UnsafeMutablePointer<Float>?
  /// Floats from one share's sums to the next (`count` rounded up to whole lines).
  private let stride: Int
  /// Sums per share.
  let count: Int
  let workers: Int

  /// Calls `body` with zeroed sums for `workers` shares of `count` floats each (none when
  /// `count` is 0), freed after.
  static func with<R>(workers: Int, count: Int, _ body: (WorkerSums) throws -> R) rethrows -> R {
    let stride = (count + lineFloats - 1) / lineFloats * lineFloats
    guard stride > 0, workers > 0 else { return try body(WorkerSums(base: nil, stride: 0, count: 0, workers: workers)) }
    let raw = UnsafeMutableRawPointer.allocate(byteCount: workers * stride * 4, alignment: lineFloats * 4)
    defer { raw.deallocate() }
    let base = raw.initializeMemory(as: Float.self, repeating: 0, count: workers * stride)
    return try body(WorkerSums(base: base, stride: stride, count: count, workers: workers))
  }

  private init(base: UnsafeMutablePointer<Float>?, stride: Int, count: Int, workers: Int) {
    (self.base, self.stride, self.count, self.workers) = (base, stride, count, workers)
  }

  /// Share `worker`'s sums, or nil when there are none.
  func share(_ worker: Int) -> UnsafeMutablePointer<Float>? { base.map { $0 + worker * stride } }

  /// `out[i] = Σ_shares sums[i] / divisor`, in share order.
  func reduce(into out: UnsafeMutablePointer<Float>, divisor: Int) {
    guard let base else { return }
    let scale = 1 / Float(divisor)
    for i in 0..<count {
      var total: Float = 0
      for worker in 0..<workers { total += base[worker * stride + i] }
      out[i] = total * scale
    }
  }
}
