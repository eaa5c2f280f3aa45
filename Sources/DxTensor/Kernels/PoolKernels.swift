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

/// Backward of `channelScaleForward`: `dx = dy * s` and `ds[n, c] = Σ_p dy * x`.
public func channelScaleBackward(
  _ x: UnsafePointer<Float>, scale s: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
  inputGrad dx: UnsafeMutablePointer<Float>, scaleGrad ds: UnsafeMutablePointer<Float>,
  batch: Int, pixels: Int, channels c: Int
) {
  ThreadPool.parallelFor(batch) { images in
    for n in images {
      let sr = s + n * c, dsr = ds + n * c
      dsr.update(repeating: 0, count: c)
      for p in 0..<pixels {
        let r = n * pixels + p
        let xr = x + r * c, dyr = dy + r * c, dxr = dx + r * c
        for j in 0..<c {
          dxr[j] = dyr[j] * sr[j]
          dsr[j] += dyr[j] * xr[j]
        }
      }
    }
  }
}
