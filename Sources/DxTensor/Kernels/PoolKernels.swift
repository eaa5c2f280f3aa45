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
  ThreadPool.parallelFor(batch * pixels, minChunk: max(1, 16_384 / max(c, 1))) { rows in
    for r in rows {
      let sr = s + (r / pixels) * c, xr = x + r * c, yr = y + r * c
      for j in 0..<c { yr[j] = xr[j] * sr[j] }
    }
  }
}

/// `ds[n, c] = Σ_p dy[n, p, c] * x[n, p, c]`: the gradient of a per-image channel scale, needed
/// in full before squeeze-excitation can finish its input gradient (`channelScaleInputGradient`).
public func channelScaleGradient(
  _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, scaleGrad ds: UnsafeMutablePointer<Float>,
  batch: Int, pixels: Int, channels c: Int
) {
  ThreadPool.parallelFor(batch) { images in
    for n in images {
      let dsr = ds + n * c
      dsr.update(repeating: 0, count: c)
      for p in 0..<pixels {
        let r = n * pixels + p
        let xr = x + r * c, dyr = dy + r * c
        for j in 0..<c { dsr[j] += dyr[j] * xr[j] }
      }
    }
  }
}

/// `dx[n, p, c] = dy[n, p, c] * s[n, c] + add[n, c]`: the input gradient of a channel scale plus
/// a per-image, per-channel term broadcast over pixels (e.g. a global pool's gradient).
public func channelScaleInputGradient(
  _ dy: UnsafePointer<Float>, scale s: UnsafePointer<Float>, adding add: UnsafePointer<Float>,
  inputGrad dx: UnsafeMutablePointer<Float>, batch: Int, pixels: Int, channels c: Int
) {
  ThreadPool.parallelFor(batch * pixels, minChunk: max(1, 16_384 / max(c, 1))) { rows in
    for r in rows {
      let n = r / pixels
      let sr = s + n * c, ar = add + n * c, dyr = dy + r * c, dxr = dx + r * c
      for j in 0..<c { dxr[j] = dyr[j] * sr[j] + ar[j] }
    }
  }
}

