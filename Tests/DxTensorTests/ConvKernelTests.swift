@testable import DxTensor
import DxTestSupport
import XCTest

/// Fast convolution kernels against the naive direct-loop twins, forward and backward.
final class ConvKernelTests: XCTestCase {
  struct Case { var n, h, w, cin, cout, k, s: Int; var mode: PaddingMode }

  let fullCases: [Case] = [
    Case(n: 2, h: 9, w: 7, cin: 3, cout: 5, k: 3, s: 2, mode: .symmetric),
    Case(n: 1, h: 8, w: 8, cin: 3, cout: 16, k: 3, s: 2, mode: .same),
    Case(n: 2, h: 5, w: 6, cin: 17, cout: 9, k: 1, s: 1, mode: .symmetric),  // pointwise GEMM path
    Case(n: 1, h: 7, w: 7, cin: 4, cout: 3, k: 1, s: 2, mode: .symmetric),  // 1x1 strided: im2col
    Case(n: 1, h: 11, w: 6, cin: 5, cout: 7, k: 5, s: 1, mode: .same),
    Case(n: 3, h: 4, w: 4, cin: 2, cout: 2, k: 3, s: 1, mode: .symmetric),
    // Without an im2col buffer the weight gradient gathers patches in chunks of rows that here
    // cross images (4 chunks of 1,200 rows over images of 1,600).
    Case(n: 3, h: 40, w: 40, cin: 3, cout: 8, k: 3, s: 1, mode: .symmetric),
  ]

  func geometry(_ c: Case) -> ConvGeometry {
    ConvGeometry(batch: c.n, inHeight: c.h, inWidth: c.w, kernel: c.k, stride: c.s,
                 pad: Padding2D(c.mode, kernel: c.k, stride: c.s, height: c.h, width: c.w))
  }

  /// With an im2col buffer, and (where the packed GEMM runs) without one: forward reads the
  /// patches from the image, backward gathers them again for the weight gradient.
  func testConv2D_forwardAndBackwardMatchReference() {
    var rng = SeededGenerator(seed: 11)
    for c in fullCases {
      let g = geometry(c)
      for keepColumns in convNeedsColumns(g) || c.k == 1 ? [true] : [true, false] {
      let x = Tensor.randomNormal([c.n, c.h, c.w, c.cin], using: &rng)
      let w = Tensor.randomNormal([c.k, c.k, c.cin, c.cout], using: &rng)
      let b = Tensor.randomNormal([c.cout], using: &rng)
      let dy = Tensor.randomNormal([c.n, g.outHeight, g.outWidth, c.cout], using: &rng)
      var y = Tensor.zeros(dy.shape)
      var col = [Float](repeating: 0, count: c.n * g.outHeight * g.outWidth * c.k * c.k * c.cin)
      var colGrad = col
      var dx = Tensor.zeros(x.shape)
      var dw = Tensor(shape: w.shape, repeating: 0.5)  // gradients accumulate onto what is there
      var db = Tensor(shape: [c.cout], repeating: 0.5)
      x.withPointer { xp in
        w.withPointer { wp in
          b.withPointer { bp in
            y.withMutablePointer { yp in
              col.withUnsafeMutableBufferPointer { colp in
                conv2DForward(input: xp, weight: wp, bias: bp, output: yp, col: keepColumns ? colp.baseAddress : nil,
                              geometry: g, inChannels: c.cin, outChannels: c.cout)
              }
            }
          }
          dy.withPointer { dyp in
            dx.withMutablePointer { dxp in
              dw.withMutablePointer { dwp in
                db.withMutablePointer { dbp in
                  col.withUnsafeBufferPointer { colp in
                    colGrad.withUnsafeMutableBufferPointer { cgp in
                      conv2DBackward(input: xp, col: keepColumns ? colp.baseAddress : nil, weight: wp, outputGrad: dyp,
                                     inputGrad: dxp, weightGrad: dwp, biasGrad: dbp,
                                     colGrad: cgp.baseAddress, geometry: g, inChannels: c.cin,
                                     outChannels: c.cout)
                    }
                  }
                }
              }
            }
          }
        }
      }
      let ref = referenceConv(input: x, weight: w, bias: b, geometry: g, depthwise: false)
      let refGrad = referenceConvBackward(input: x, weight: w, outputGrad: dy, geometry: g, depthwise: false)
      assertClose(y, ref, atol: 1e-4, rtol: 1e-4, "conv forward \(c) keeping columns \(keepColumns)")
      assertClose(dx, refGrad.input, atol: 1e-4, rtol: 1e-4, "conv dx \(c) keeping columns \(keepColumns)")
      assertClose(dw, refGrad.weight + Tensor(shape: w.shape, repeating: 0.5), atol: 1e-4, rtol: 1e-4, "conv dw \(c) keeping columns \(keepColumns)")
      assertClose(db, refGrad.bias + Tensor(shape: [c.cout], repeating: 0.5), atol: 1e-4, rtol: 1e-4, "conv db \(c) keeping columns \(keepColumns)")
      }
    }
  }

  /// A 1x1 convolution of SE's input with the gate applied as it multiplies, against the gated
  /// map multiplied in Double, on every instruction set: 40 and 112 output channels (the packed
  /// GEMM's one- and two-panel tiles), 192 (six panels), rows not a multiple of its 12-row tile.
  func testGatedPointwiseConv_matchesGatedMapTimesWeight() {
    var rng = SeededGenerator(seed: 13)
    for (images, pixels, cin, cout) in [(3, 49, 24, 40), (2, 30, 96, 112), (2, 17, 40, 192)] {
      let x = Tensor.randomNormal([images, pixels, cin], using: &rng), w = Tensor.randomNormal([cin, cout], using: &rng)
      let gate = Tensor.randomUniform([images, cin], low: 0, high: 1, using: &rng)
      var expected = [Float](repeating: 0, count: images * pixels * cout)
      for i in 0..<(images * pixels) {
        let image = i / pixels
        for j in 0..<cout {
          var sum = 0.0
          for k in 0..<cin { sum += Double(x.scalars[i * cin + k]) * Double(gate.scalars[image * cin + k]) * Double(w.scalars[k * cout + j]) }
          expected[i * cout + j] = Float(sum)
        }
      }
      for isa in KernelInstructionSet.available {
        KernelInstructionSet.with(isa) {
          var out = [Float](repeating: .nan, count: expected.count)
          gatedPointwiseConvForward(
            input: x.scalars, gate: gate.scalars, weight: w.scalars, output: &out, images: images, pixels: pixels,
            inChannels: cin, outChannels: cout)
          assertClose(out, expected, atol: 1e-4, rtol: 1e-4, "\(isa) \(cin)->\(cout)")
        }
      }
    }
  }

  func testDepthwiseConv_forwardAndBackwardMatchReference() {
    var rng = SeededGenerator(seed: 12)
    var cases: [Case] = []
    for k in [3, 5] {
      for s in [1, 2] {
        for mode in [PaddingMode.symmetric, .same] {
          cases.append(Case(n: 2, h: 9, w: 8, cin: 13, cout: 13, k: k, s: s, mode: mode))
        }
      }
    }
    cases.append(Case(n: 1, h: 15, w: 15, cin: 33, cout: 33, k: 5, s: 2, mode: .same))
    cases.append(Case(n: 3, h: 4, w: 5, cin: 1, cout: 1, k: 3, s: 1, mode: .symmetric))
    // Wide rows and whole vectors: stride 1's input gradient runs on the forward's blocked rows.
    cases.append(Case(n: 1, h: 6, w: 20, cin: 40, cout: 40, k: 5, s: 1, mode: .same))
    cases.append(Case(n: 2, h: 5, w: 17, cin: 70, cout: 70, k: 3, s: 1, mode: .symmetric))
    // Every instruction set this CPU has: AVX-512 runs the CDxKernels rows, the others Swift's.
    for isa in KernelInstructionSet.available {
      KernelInstructionSet.with(isa) {
        for c in cases {
          let g = geometry(c)
          let x = Tensor.randomNormal([c.n, c.h, c.w, c.cin], using: &rng)
          let w = Tensor.randomNormal([c.k, c.k, c.cin], using: &rng)
          let b = Tensor.randomNormal([c.cin], using: &rng)
          let dy = Tensor.randomNormal([c.n, g.outHeight, g.outWidth, c.cin], using: &rng)
          var y = Tensor.zeros(dy.shape)
          var dx = Tensor.zeros(x.shape)
          var dw = Tensor.zeros(w.shape)
          var db = Tensor.zeros([c.cin])
          x.withPointer { xp in
            w.withPointer { wp in
              b.withPointer { bp in
                y.withMutablePointer { depthwiseConvForward(input: xp, weight: wp, bias: bp, output: $0, geometry: g, channels: c.cin) }
              }
              dy.withPointer { dyp in
                dx.withMutablePointer { dxp in
                  dw.withMutablePointer { dwp in
                    db.withMutablePointer { dbp in
                      depthwiseConvBackward(input: xp, weight: wp, outputGrad: dyp, inputGrad: dxp, weightGrad: dwp,
                                            biasGrad: dbp, geometry: g, channels: c.cin)
                    }
                  }
                }
              }
            }
          }
          let ref = referenceConv(input: x, weight: w, bias: b, geometry: g, depthwise: true)
          let refGrad = referenceConvBackward(input: x, weight: w, outputGrad: dy, geometry: g, depthwise: true)
          assertClose(y, ref, atol: 1e-4, rtol: 1e-4, "\(isa) depthwise forward \(c)")
          assertClose(dx, refGrad.input, atol: 1e-4, rtol: 1e-4, "\(isa) depthwise dx \(c)")
          assertClose(dw, refGrad.weight, atol: 1e-4, rtol: 1e-4, "\(isa) depthwise dw \(c)")
          assertClose(db, refGrad.bias, atol: 1e-4, rtol: 1e-4, "\(isa) depthwise db \(c)")
        }
      }
    }
  }

  func testDepthwiseConv_sameResultOnOneAndTwoThreads() {
    var rng = SeededGenerator(seed: 13)
    let c = Case(n: 4, h: 17, w: 17, cin: 24, cout: 24, k: 5, s: 2, mode: .same)
    let g = geometry(c)
    let x = Tensor.randomNormal([c.n, c.h, c.w, c.cin], using: &rng)
    let w = Tensor.randomNormal([c.k, c.k, c.cin], using: &rng)
    func run(threads: Int) -> Tensor {
      let saved = ThreadPool.threadCount
      ThreadPool.threadCount = threads
      defer { ThreadPool.threadCount = saved }
      var y = Tensor.zeros([c.n, g.outHeight, g.outWidth, c.cin])
      x.withPointer { xp in w.withPointer { wp in y.withMutablePointer { depthwiseConvForward(input: xp, weight: wp, bias: nil, output: $0, geometry: g, channels: c.cin) } } }
      return y
    }
    XCTAssertEqual(run(threads: 1), run(threads: 2))
  }
}
