// Naive twins of the fast kernels: direct loops in Double, written for obviousness, not speed.
// Tests compare every fast kernel against these on seeded random inputs.

/// `C = op(A) x op(B)` by the triple loop. `a` is [m,k] (or [k,m] transposed), `b` is [k,n]
/// (or [n,k] transposed).
package func referenceGemm(
  _ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false
) -> Tensor {
  let m = transA ? a.shape[1] : a.shape[0], k = transA ? a.shape[0] : a.shape[1]
  let n = transB ? b.shape[0] : b.shape[1]
  precondition((transB ? b.shape[1] : b.shape[0]) == k, "inner dimensions differ")
  var c = Tensor.zeros([m, n])
  for i in 0..<m {
    for j in 0..<n {
      var s = 0.0
      for p in 0..<k {
        let av = transA ? a.scalars[p * m + i] : a.scalars[i * k + p]
        let bv = transB ? b.scalars[j * k + p] : b.scalars[p * n + j]
        s += Double(av) * Double(bv)
      }
      c.scalars[i * n + j] = Float(s)
    }
  }
  return c
}

/// Visits every (output pixel, tap) pair that reads a real (non-padding) input pixel.
private func forEachTap(
  _ g: ConvGeometry, _ body: (_ n: Int, _ oh: Int, _ ow: Int, _ kh: Int, _ kw: Int, _ ih: Int, _ iw: Int) -> Void
) {
  for n in 0..<g.batch {
    for oh in 0..<g.outHeight {
      for ow in 0..<g.outWidth {
        for kh in 0..<g.kernel {
          for kw in 0..<g.kernel {
            let ih = oh * g.stride - g.pad.top + kh, iw = ow * g.stride - g.pad.left + kw
            if ih >= 0 && ih < g.inHeight && iw >= 0 && iw < g.inWidth {
              body(n, oh, ow, kh, kw, ih, iw)
            }
          }
        }
      }
    }
  }
}

/// Direct convolution; `weight` [k,k,Cin,Cout] for a full convolution, or [k,k,C] when `depthwise`.
package func referenceConv(
  input: Tensor, weight: Tensor, bias: Tensor?, geometry g: ConvGeometry, depthwise: Bool
) -> Tensor {
  let cin = input.shape[3]
  let cout = depthwise ? cin : weight.shape[3]
  var out = [Double](repeating: 0, count: g.batch * g.outHeight * g.outWidth * cout)
  forEachTap(g) { n, oh, ow, kh, kw, ih, iw in
    let o = ((n * g.outHeight + oh) * g.outWidth + ow) * cout
    let x = ((n * g.inHeight + ih) * g.inWidth + iw) * cin
    if depthwise {
      for c in 0..<cin {
        out[o + c] += Double(input.scalars[x + c]) * Double(weight.scalars[(kh * g.kernel + kw) * cin + c])
      }
    } else {
      for co in 0..<cout {
        for ci in 0..<cin {
          out[o + co] += Double(input.scalars[x + ci]) * Double(weight.scalars[((kh * g.kernel + kw) * cin + ci) * cout + co])
        }
      }
    }
  }
  if let bias { for i in out.indices { out[i] += Double(bias.scalars[i % cout]) } }
  return Tensor(shape: [g.batch, g.outHeight, g.outWidth, cout], scalars: out.map { Float($0) })
}

/// Gradients of `referenceConv` with respect to input, weight and bias, given `dOut`.
package func referenceConvBackward(
  input: Tensor, weight: Tensor, outputGrad dy: Tensor, geometry g: ConvGeometry, depthwise: Bool
) -> (input: Tensor, weight: Tensor, bias: Tensor) {
  let cin = input.shape[3]
  let cout = depthwise ? cin : weight.shape[3]
  var dx = [Double](repeating: 0, count: input.count)
  var dw = [Double](repeating: 0, count: weight.count)
  var db = [Double](repeating: 0, count: cout)
  for i in 0..<dy.count { db[i % cout] += Double(dy.scalars[i]) }
  forEachTap(g) { n, oh, ow, kh, kw, ih, iw in
    let o = ((n * g.outHeight + oh) * g.outWidth + ow) * cout
    let x = ((n * g.inHeight + ih) * g.inWidth + iw) * cin
    if depthwise {
      for c in 0..<cin {
        let widx = (kh * g.kernel + kw) * cin + c
        dx[x + c] += Double(dy.scalars[o + c]) * Double(weight.scalars[widx])
        dw[widx] += Double(dy.scalars[o + c]) * Double(input.scalars[x + c])
      }
    } else {
      for co in 0..<cout {
        let grad = Double(dy.scalars[o + co])
        for ci in 0..<cin {
          let widx = ((kh * g.kernel + kw) * cin + ci) * cout + co
          dx[x + ci] += grad * Double(weight.scalars[widx])
          dw[widx] += grad * Double(input.scalars[x + ci])
        }
      }
    }
  }
  return (
    Tensor(shape: input.shape, scalars: dx.map { Float($0) }),
    Tensor(shape: weight.shape, scalars: dw.map { Float($0) }),
    Tensor(shape: [cout], scalars: db.map { Float($0) })
  )
}

/// Training-mode BatchNorm on [M, C] rows, in Double: output, batch mean and biased variance.
package func referenceBatchNorm(
  _ x: Tensor, gamma: Tensor, beta: Tensor, eps: Float
) -> (output: Tensor, mean: [Double], variance: [Double]) {
  let c = x.shape.last!, m = x.count / c
  var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
  for i in 0..<x.count { mean[i % c] += Double(x.scalars[i]) / Double(m) }
  for i in 0..<x.count {
    let d = Double(x.scalars[i]) - mean[i % c]
    variance[i % c] += d * d / Double(m)
  }
  var y = x
  for i in 0..<x.count {
    let j = i % c
    let xhat = (Double(x.scalars[i]) - mean[j]) / (variance[j] + Double(eps)).squareRoot()
    y.scalars[i] = Float(xhat * Double(gamma.scalars[j]) + Double(beta.scalars[j]))
  }
  return (y, mean, variance)
}
