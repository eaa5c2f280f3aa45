internal import CDxKernels

// Global average pooling and channel-broadcast products on NHWC data.

/// `out[n, c] = mean over (h, w) of x[n, h, w, c]`; `x` is [N, HW, C].
public func globalAvgPoolForward(
  _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, batch: Int, pixels: Int,
  channels c: Int
) {
  ThreadPool.parallelFor(batch) { images in
    for n in images {
      let o = out + n * c
      o.update(repeating: 0, count: c)
      for p in 0..<pixels {
        let row = x + (n * pixels + p) * c
        for j in 0..<c { o[j] += row[j] }
      }
      let inv = 1 / Float(pixels)
      for j in 0..<c { o[j] *= inv }
    }
  }
}

/// `dx[n, p, c] = dOut[n, c] / pixels`.
public func globalAvgPoolBackward(
  _ dOut: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, batch: Int, pixels: Int,
  channels c: Int
) {
  let inv = 1 / Float(pixels)
  ThreadPool.parallelFor(batch * pixels, minChunk: max(1, 16_384 / max(c, 1))) { rows in
    for r in rows {
      let g = dOut + (r / pixels) * c, d = dx + r * c
      for j in 0..<c { d[j] = g[j] * inv }
    }
  }
}

/// Squeeze-excitation gating: `y[n, p, c] = x[n, p, c] * s[n, c]`.
public func channelScaleForward(
  _ x: UnsafePointer<Float>, scale s: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
  batch: Int, pixels: Int, channels c: Int
) {
  let stream = StreamingStores.flag(forFloats: batch * pixels * c)
  ThreadPool.parallelFor(batch * pixels, minChunk: max(1, 16_384 / max(c, 1))) { rows in
    forEachImage(in: rows, pixels: pixels) { n, r, count in
      dx_channel_scale(x + r * c, s + n * c, y + r * c, count, c, stream)
    }
  }
}

/// `ds[n, c] = Σ_p dy[n, p, c] * x[n, p, c]`: the gradient of a per-image channel scale, needed
/// in full before squeeze-excitation can finish its input gradient (`channelScaleInputGradient`).
/// Sums are kept in Float over blocks of 64 pixels and in Double across blocks.
public func channelScaleGradient(
  _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, scaleGrad ds: UnsafeMutablePointer<Float>,
  batch: Int, pixels: Int, channels c: Int
) {
  ThreadPool.parallelFor(batch) { images in
    var block = [Float](repeating: 0, count: c), total = [Double](repeating: 0, count: c)
    for n in images {
      for j in 0..<c { total[j] = 0 }
      var p = 0
      while p < pixels {
        let rows = min(64, pixels - p), r = n * pixels + p
        for j in 0..<c { block[j] = 0 }
        dx_channel_products(x + r * c, dy + r * c, &block, rows, c)
        for j in 0..<c { total[j] += Double(block[j]) }
        p += rows
      }
      for j in 0..<c { ds[n * c + j] = Float(total[j]) }
    }
  }
}

/// `dx[n, p, c] = dy[n, p, c] * s[n, c] + add[n, c]`: the input gradient of a channel scale plus
/// a per-image, per-channel term broadcast over pixels (e.g. a global pool's gradient).
public func channelScaleInputGradient(
  _ dy: UnsafePointer<Float>, scale s: UnsafePointer<Float>, adding add: UnsafePointer<Float>,
  inputGrad dx: UnsafeMutablePointer<Float>, batch: Int, pixels: Int, channels c: Int
) {
  let stream = StreamingStores.flag(forFloats: batch * pixels * c)
  ThreadPool.parallelFor(batch * pixels, minChunk: max(1, 16_384 / max(c, 1))) { rows in
    forEachImage(in: rows, pixels: pixels) { n, r, count in
      dx_channel_scale_input_grad(dy + r * c, s + n * c, add + n * c, dx + r * c, count, c, stream)
    }
  }
}

/// Calls `body(image, firstRow, rowCount)` for the part of `rows` in each image of `pixels` rows.
@inline(__always)
private func forEachImage(in rows: Range<Int>, pixels: Int, _ body: (Int, Int, Int) -> Void) {
  var r = rows.lowerBound
  while r < rows.upperBound {
    let n = r / pixels, end = min(rows.upperBound, (n + 1) * pixels)
    body(n, r, end - r)
    r = end
  }
}

