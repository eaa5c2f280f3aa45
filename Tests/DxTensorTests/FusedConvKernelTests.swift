import CDxKernels
@testable import DxTensor
import DxTestSupport
import XCTest

/// The fused inference kernels against the reference convolution followed by the same steps
/// done one at a time in Double: bias, activation, gate, residual, channel means. Every test
/// runs once per instruction set this CPU has (C, AVX2, AVX-512).
final class FusedConvKernelTests: XCTestCase {
  func silu(_ v: Double) -> Double { v / (1 + exp(-v)) }
  func act(_ v: Double, _ a: FusedActivation) -> Double {
    switch a {
    case .none: return v
    case .silu: return silu(v)
    case .relu6: return min(max(v, 0), 6)
    }
  }

  /// Per-image channel means of `[N, H, W, C]`.
  func means(_ t: Tensor) -> Tensor {
    let (n, h, w, c) = t.nhwc()
    var m = [Float](repeating: 0, count: n * c)
    for i in 0..<n {
      for ch in 0..<c {
        var s = 0.0
        for p in 0..<(h * w) { s += Double(t.scalars[(i * h * w + p) * c + ch]) }
        m[i * c + ch] = Float(s / Double(h * w))
      }
    }
    return Tensor(shape: [n, c], scalars: m)
  }

  func testDepthwise_oddChannelsStridesAndPadding_matchReferenceWithBiasActivationAndMeans() {
    for isa in KernelInstructionSet.available {
      KernelInstructionSet.with(isa) {
        var rng = SeededGenerator(seed: 21)
        // Channel counts exercise the 64/32-wide, 16/8-wide, masked and scalar paths.
        let cases: [(n: Int, h: Int, w: Int, c: Int, k: Int, s: Int, mode: PaddingMode, act: FusedActivation)] = [
          (2, 9, 7, 13, 3, 2, .same, .silu), (1, 8, 8, 40, 5, 2, .same, .relu6), (3, 6, 5, 67, 3, 1, .symmetric, .silu),
          (1, 12, 11, 32, 5, 1, .symmetric, .none), (2, 2, 3, 9, 5, 1, .same, .silu), (1, 5, 6, 80, 3, 1, .same, .silu),
        // Wide rows: AVX-512 runs four interior columns at once for k 3/5, stride 1/2.
        (1, 6, 20, 67, 3, 1, .symmetric, .silu), (2, 7, 23, 80, 5, 2, .same, .relu6), (1, 5, 17, 13, 5, 1, .same, .silu),
        (1, 9, 19, 40, 3, 2, .symmetric, .silu), (1, 4, 30, 32, 7, 1, .symmetric, .silu),
        // Maps 5 to 7 wide, stride 1 ('same' or symmetric): AVX2 takes a whole row at a time
        // (8 channels at a time); 8 wide and 13 channels do not.
        (2, 7, 7, 32, 5, 1, .same, .silu), (1, 9, 7, 16, 3, 1, .symmetric, .relu6), (1, 6, 6, 24, 5, 1, .same, .none),
        (2, 5, 5, 8, 3, 1, .same, .silu), (1, 3, 6, 40, 5, 1, .symmetric, .silu), (1, 7, 8, 16, 5, 1, .same, .silu), (1, 7, 7, 13, 5, 1, .same, .silu),
        ]
        for t in cases {
          let g = ConvGeometry(batch: t.n, inHeight: t.h, inWidth: t.w, kernel: t.k, stride: t.s,
                               pad: Padding2D(t.mode, kernel: t.k, stride: t.s, height: t.h, width: t.w))
          let x = Tensor.randomNormal([t.n, t.h, t.w, t.c], using: &rng)
          let w = Tensor.randomNormal([t.k, t.k, t.c], using: &rng)
          let b = Tensor.randomNormal([t.c], using: &rng)
          var expected = referenceConv(input: x, weight: w, bias: b, geometry: g, depthwise: true)
          expected.scalars = expected.scalars.map { Float(act(Double($0), t.act)) }
          var out = Tensor.uninitialized(expected.shape)
          var m = Tensor.zeros([t.n, t.c])
          out.withMutablePointer { op in
            m.withMutablePointer { mp in
              depthwiseConvInference(input: x.scalars, weight: w.scalars, bias: b.scalars, activation: t.act, output: op,
                                     channelMeans: mp, geometry: g, channels: t.c)
            }
          }
          assertClose(out, expected, atol: 1e-5, rtol: 1e-4, "\(isa): depthwise \(t)")
          assertClose(m, means(expected), atol: 1e-5, rtol: 1e-4, "\(isa): depthwise means \(t)")
        }
      }
    }
  }

  func testPointwise_gateResidualAndMeans_matchStepByStep() {
    for isa in KernelInstructionSet.available {
      KernelInstructionSet.with(isa) {
        var rng = SeededGenerator(seed: 22)
        // 20 and 13 rows against 130 columns (fewer rows than columns) split the columns over
        // the threads, the others their rows. On AVX-512 the packed GEMM runs (130 columns end
        // in a masked 2-wide panel), elsewhere OpenBLAS; 37 and 13 rows end in partial tiles.
        // Gated products of 24-127 rows a call (and, on AVX2, of weights too large to copy
        // whole) scale their weights a block at a time: 300 deep is two blocks of k, 300 wide
        // two groups of columns.
      for (n, p, cin, cout, a) in [(3, 50, 17, 9, FusedActivation.silu), (2, 3000, 24, 40, .none), (1, 7, 5, 3, .relu6), (1, 20, 33, 130, .silu),
                                   (2, 37, 19, 80, .silu), (1, 13, 70, 130, .relu6), (2, 300, 8, 64, .none),
                                   (1, 60, 300, 70, .silu), (1, 50, 40, 300, .none)] {
          let x = Tensor.randomNormal([n, p, 1, cin], using: &rng)
          let w = Tensor.randomNormal([1, 1, cin, cout], using: &rng)
          let b = Tensor.randomNormal([cout], using: &rng)
          let gate = Tensor.randomUniform([n, cin], low: 0, high: 1, using: &rng)
          let residual = Tensor.randomNormal([n, p, 1, cout], using: &rng)
          // Step by step: gate the input, convolve, bias, activation, residual.
          var gated = x
          for i in 0..<n { for q in 0..<p { for c in 0..<cin { gated.scalars[(i * p + q) * cin + c] *= gate.scalars[i * cin + c] } } }
          let g = ConvGeometry(batch: n, inHeight: p, inWidth: 1, kernel: 1, stride: 1, pad: Padding2D(top: 0, bottom: 0, left: 0, right: 0))
          var expected = referenceConv(input: gated, weight: w, bias: b, geometry: g, depthwise: false)
          for i in expected.scalars.indices { expected.scalars[i] = Float(act(Double(expected.scalars[i]), a)) + residual.scalars[i] }
          var out = Tensor.uninitialized(expected.shape)
          var m = Tensor.zeros([n, cout])
          out.withMutablePointer { op in
            m.withMutablePointer { mp in
              pointwiseConvInference(input: x.scalars, weight: w.scalars, bias: b.scalars, activation: a, inputGate: gate.scalars,
                                     residual: residual.scalars, output: op, channelMeans: mp, images: n, pixels: p, inChannels: cin, outChannels: cout)
            }
          }
          assertClose(out, expected, atol: 1e-4, rtol: 1e-4, "\(isa): pointwise \(n)x\(p)x\(cin)->\(cout)")
          assertClose(m, means(expected), atol: 1e-4, rtol: 1e-4, "\(isa): pointwise means")
          // Means only (no output map), as the network's head does.
          var m2 = Tensor.zeros([n, cout])
          m2.withMutablePointer { mp in
            pointwiseConvInference(input: x.scalars, weight: w.scalars, bias: b.scalars, activation: a, inputGate: gate.scalars,
                                   residual: residual.scalars, output: nil, channelMeans: mp, images: n, pixels: p, inChannels: cin, outChannels: cout)
          }
          assertClose(m2, m, atol: 1e-6, rtol: 1e-6, "\(isa): means without an output map")
        }
      }
    }
  }

  /// Expansion and depthwise fused band by band equal the two kernels run one after the other,
  /// for strides, both paddings, odd sizes, a single image (many bands) and several.
  func testExpandDepthwise_equalsExpandThenDepthwise() {
    for isa in KernelInstructionSet.available {
      KernelInstructionSet.with(isa) {
        var rng = SeededGenerator(seed: 23)
        for (n, h, w, cin, m, k, s, mode) in [(2, 17, 13, 5, 24, 3, 2, PaddingMode.same), (1, 40, 9, 8, 40, 5, 1, .symmetric), (3, 7, 7, 3, 16, 5, 2, .symmetric),
                                             (2, 9, 11, 12, 96, 3, 1, .same), (1, 6, 5, 7, 130, 5, 2, .symmetric), (2, 7, 7, 10, 48, 5, 1, .same),
                                             // Rows too wide for the cache budget: the channels are sliced.
                                             (1, 12, 60, 16, 1100, 5, 1, .same), (2, 13, 57, 9, 700, 3, 2, .same)] {
          let g = ConvGeometry(batch: n, inHeight: h, inWidth: w, kernel: k, stride: s, pad: Padding2D(mode, kernel: k, stride: s, height: h, width: w))
          let x = Tensor.randomNormal([n, h, w, cin], using: &rng)
          let we = Tensor.randomNormal([cin, m], using: &rng), be = Tensor.randomNormal([m], using: &rng)
          let wd = Tensor.randomNormal([k, k, m], using: &rng), bd = Tensor.randomNormal([m], using: &rng)
          var expanded = Tensor.uninitialized([n, h, w, m])
          var expected = Tensor.uninitialized([n, g.outHeight, g.outWidth, m]), expectedMeans = Tensor.zeros([n, m])
          expanded.withMutablePointer { ep in
            pointwiseConvInference(input: x.scalars, weight: we.scalars, bias: be.scalars, activation: .silu, output: ep,
                                   images: n, pixels: h * w, inChannels: cin, outChannels: m)
          }
          expected.withMutablePointer { op in
            expectedMeans.withMutablePointer { mp in
              depthwiseConvInference(input: expanded.scalars, weight: wd.scalars, bias: bd.scalars, activation: .relu6, output: op,
                                     channelMeans: mp, geometry: g, channels: m)
            }
          }
          var out = Tensor.uninitialized(expected.shape), means = Tensor.zeros([n, m])
          out.withMutablePointer { op in
            means.withMutablePointer { mp in
              expandDepthwiseInference(input: x.scalars, inChannels: cin, expandWeight: we.scalars, expandBias: be.scalars, expandActivation: .silu,
                                       depthwiseWeight: wd.scalars, depthwiseBias: bd.scalars, depthwiseActivation: .relu6,
                                       output: op, channelMeans: mp, geometry: g, channels: m)
            }
          }
          assertClose(out, expected, atol: 1e-5, rtol: 1e-5, "\(isa): fused \(n)x\(h)x\(w) k\(k) s\(s)")
          assertClose(means, expectedMeans, atol: 1e-5, rtol: 1e-5, "\(isa): fused means")
        }
      }
    }
  }

  /// B0's bands at 224 keep every channel together (its maps are narrow), while B7's at 600
  /// slice the channels so that no expansion is computed much more than once per row.
  func testExpandBandPlan_slicesWideMapsOnly() {
    func plan(_ h: Int, _ w: Int, _ m: Int, _ k: Int, _ s: Int) -> ExpandBandPlan {
      let out = (h + s - 1) / s
      return ExpandBandPlan(outHeight: out, inHeight: h, inWidth: w, channels: m, kernel: k, stride: s, unit: 32)
    }
    func redundancy(_ p: ExpandBandPlan, _ h: Int, _ k: Int, _ s: Int) -> Double {
      Double(min(h, (p.bandRows - 1) * s + k)) / Double(min(h, p.bandRows * s))
    }
    // B0 @ 224: stages 2-7 (expanded map, kernel, stride).
    for (h, m, k, s) in [(112, 96, 3, 2), (56, 144, 5, 2), (28, 240, 3, 2), (14, 480, 5, 1), (14, 672, 5, 2), (7, 1152, 3, 1)] {
      XCTAssertEqual(plan(h, h, m, k, s).channelSlices, 1, "B0 \(h)x\(h)x\(m)")
    }
    // B7 @ 600: the expanded maps of stages 2-7; one slice of all channels fitted 3-6 rows.
    for (h, m, k, s) in [(300, 192, 3, 2), (150, 288, 3, 1), (75, 480, 5, 1), (38, 1344, 5, 1), (19, 2304, 5, 1), (19, 3840, 3, 1)] {
      let p = plan(h, h, m, k, s)
      XCTAssertGreaterThan(p.channelSlices, 1, "B7 \(h)x\(h)x\(m)")
      XCTAssertLessThanOrEqual(redundancy(p, h, k, s), 1.25, "B7 \(h)x\(h)x\(m): \(p)")
      let cols = ((m + 31) / 32 + p.channelSlices - 1) / p.channelSlices * 32
      XCTAssertLessThanOrEqual(min(h, (p.bandRows - 1) * s + k) * h * min(m, cols), max(k * h * min(m, cols), 1 << 18), "within the budget")
    }
    // Channels fewer than one unit cannot be sliced: a very wide map gets bands of one row.
    let narrow = plan(40, 4000, 16, 5, 1)
    XCTAssertEqual([narrow.bandRows, narrow.channelSlices], [1, 1])
  }

  /// SiLU on every path stays within 1e-6 relative (or 1e-30 absolute) of Double, across the
  /// range where e^-x under- and overflows; below -88, where e^-x is clamped, it returns
  /// x / (1 + e^88), within 1e-38 |x| of the true (underflowing) value. ReLU6 is exact.
  func testActivations_everyInstructionSet_matchDouble() {
    var xs: [Float] = [0, -0.0, 1e-30, -1e-30, 87, -87, 88, -88, 89, -89, 100, -100, 1e30, -1e30]
    var rng = SeededGenerator(seed: 24)
    for _ in 0..<997 { xs.append(Float.random(in: -30...30, using: &rng)) }
    for isa in KernelInstructionSet.available {
      KernelInstructionSet.with(isa) {
        for a in [FusedActivation.silu, .relu6] {
          var v = xs
          activateInPlace(&v, count: v.count, a)
          for (x, y) in zip(xs, v) {
            let want = act(Double(x), a)
            XCTAssertLessThanOrEqual(abs(Double(y) - want), max(1e-30, 1e-6 * abs(want), 1e-38 * abs(Double(x))), "\(isa) \(a)(\(x)) = \(y), want \(want)")
          }
        }
      }
    }
  }

  /// The packed GEMM itself (AVX-512 and its plain-C fallback) against a Double product, with
  /// every epilogue input, row strides wider than the rows and a gate on the input's columns.
  /// The tiles read the rows where they lie and the gate scales the weights' rows; widths of one
  /// to five panels, full and masked; products deeper than one block of k (summed block by
  /// block in the output on AVX2) and wider than one group of columns.
  func testPackedGemm_everyPath_matchesDoubleProduct() {
    var rng = SeededGenerator(seed: 25)
    for (m, k, n) in [(1, 1, 1), (13, 7, 33), (25, 64, 100), (12, 3, 16), (40, 150, 70), (14, 9, 150), (3, 20, 129),
                      (13, 700, 70), (7, 513, 300), (2, 256, 9)] {
      let ld = n + 3, lda = k + 2
      let a = Tensor.randomNormal([m, lda], using: &rng), b = Tensor.randomNormal([k, n], using: &rng)
      let bias = Tensor.randomNormal([n], using: &rng), scale = Tensor.randomUniform([k], low: 0, high: 2, using: &rng)
      let residual = Tensor.randomNormal([m, ld], using: &rng)
      var packed = [Float](repeating: .nan, count: dx_gemm_packed_count(k, n))
      dx_gemm_pack(b.scalars, n, k, n, &packed)
      var want = [Double](repeating: 0, count: m * n), wantSums = [Double](repeating: 0, count: n)
      for i in 0..<m {
        for j in 0..<n {
          var v = Double(bias.scalars[j])
          for p in 0..<k { v += Double(a.scalars[i * lda + p]) * Double(b.scalars[p * n + j]) * Double(scale.scalars[p]) }
          v = silu(v) + Double(residual.scalars[i * ld + j])
          want[i * n + j] = v
          wantSums[j] += v
        }
      }
      for isa in KernelInstructionSet.available {
        KernelInstructionSet.with(isa) {
          var c = [Float](repeating: .nan, count: m * ld), sums = [Float](repeating: 1, count: n)
          dx_gemm_packed(a.scalars, lda, m, k, n, packed, scale.scalars, &c, ld, bias.scalars, DX_ACT_SILU, residual.scalars, &sums)
          for i in 0..<m {
            for j in 0..<n { XCTAssertEqual(Double(c[i * ld + j]), want[i * n + j], accuracy: 1e-4 * (1 + abs(want[i * n + j])), "\(isa) \(m)x\(k)x\(n) [\(i), \(j)]") }
            for j in n..<ld { XCTAssertTrue(c[i * ld + j].isNaN, "\(isa): wrote past the \(n) columns at [\(i), \(j)]") }
          }
          for j in 0..<n { XCTAssertEqual(Double(sums[j]), 1 + wantSums[j], accuracy: 1e-3 * (1 + abs(wantSums[j])), "\(isa) sums[\(j)]") }
        }
      }
    }
  }

  /// Chunks cover every row once, stay within their limit, and when few, come in a multiple of
  /// the cores with heights at most one apart (so the cores' static shares are equal).
  func testEvenChunks_coverRowsAndBalanceTheCores() {
    XCTAssertEqual(evenChunkCount(196, maxRows: 68, images: 1, threads: 2), 4)
    for total in 1...300 {
      for maxRows in [1, 7, 12, 68, 500] {
        for (images, threads) in [(1, 2), (1, 3), (2, 2), (32, 2)] {
          let count = evenChunkCount(total, maxRows: maxRows, images: images, threads: threads)
          let what = "\(total) rows, at most \(maxRows), \(images) images, \(threads) threads"
          let chunks = (0..<count).map { evenChunk($0, of: count, total: total) }
          XCTAssertEqual(chunks.first?.lowerBound, 0, what)
          XCTAssertEqual(chunks.last?.upperBound, total, what)
          for (a, b) in zip(chunks, chunks.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound, what) }
          XCTAssertTrue(chunks.allSatisfy { !$0.isEmpty && $0.count <= maxRows }, what)
          XCTAssertLessThanOrEqual(chunks.map(\.count).max()! - chunks.map(\.count).min()!, 1, what)
          let needed = (total + maxRows - 1) / maxRows
          if images * needed < 4 * threads && (needed + threads - 1) / threads * threads <= total {
            XCTAssertEqual(count % threads, 0, what)  // else one chunk per row
          }
        }
      }
    }
  }

  /// Weights packed at load time give the same output as weights packed per call (or not
  /// packed, without AVX-512, where the packed copy must be ignored).
  func testPointwise_prepackedWeights_sameAsUnpacked() {
    var rng = SeededGenerator(seed: 26)
    for cout in [9, 80, 160] {
      let (n, p, cin) = (2, 30, 11)
      let x = Tensor.randomNormal([n, p, 1, cin], using: &rng), w = Tensor.randomNormal([cin, cout], using: &rng)
      let b = Tensor.randomNormal([cout], using: &rng)
      let packed = packForInference(w.scalars, rows: cin, columns: cout)
      for isa in KernelInstructionSet.available {
        KernelInstructionSet.with(isa) {
          var plain = Tensor.uninitialized([n, p, 1, cout]), prepacked = plain
          plain.withMutablePointer { op in
            pointwiseConvInference(input: x.scalars, weight: w.scalars, bias: b.scalars, activation: .silu, output: op,
                                   images: n, pixels: p, inChannels: cin, outChannels: cout)
          }
          prepacked.withMutablePointer { op in
            pointwiseConvInference(input: x.scalars, weight: w.scalars, packedWeight: packed, bias: b.scalars, activation: .silu,
                                   output: op, images: n, pixels: p, inChannels: cin, outChannels: cout)
          }
          assertClose(prepacked, plain, atol: 1e-6, rtol: 1e-6, "\(isa): \(cout) columns")
        }
      }
    }
  }

  /// The stem's kxk convolution (patches gathered from the image by the packed GEMM, copied row
  /// after row, for one to five panels; or im2col + OpenBLAS) against the
  /// reference convolution, with padding on every side.
  func testConv_kxkWithPadding_matchesReference() {
    var rng = SeededGenerator(seed: 27)
    for (n, h, w, cin, cout, k, s, mode) in [(2, 15, 13, 3, 32, 3, 2, PaddingMode.same), (1, 9, 10, 5, 64, 3, 1, .symmetric),
                                             (1, 7, 8, 2, 40, 5, 2, .same), (3, 6, 5, 3, 96, 3, 1, .same),
                                             (1, 8, 7, 3, 160, 3, 2, .symmetric)] {
      let g = ConvGeometry(batch: n, inHeight: h, inWidth: w, kernel: k, stride: s, pad: Padding2D(mode, kernel: k, stride: s, height: h, width: w))
      let x = Tensor.randomNormal([n, h, w, cin], using: &rng)
      let wt = Tensor.randomNormal([k, k, cin, cout], using: &rng), b = Tensor.randomNormal([cout], using: &rng)
      var expected = referenceConv(input: x, weight: wt, bias: b, geometry: g, depthwise: false)
      expected.scalars = expected.scalars.map { Float(silu(Double($0))) }
      let packed = packForInference(wt.scalars, rows: k * k * cin, columns: cout)
      var col = [Float](repeating: 0, count: n * g.outHeight * g.outWidth * k * k * cin)
      for isa in KernelInstructionSet.available {
        KernelInstructionSet.with(isa) {
          for prepacked in [true, false] {
            var out = Tensor.uninitialized(expected.shape)
            out.withMutablePointer { op in
              convInference(input: x.scalars, weight: wt.scalars, packedWeight: prepacked ? packed : nil, bias: b.scalars,
                            activation: .silu, output: op, col: &col, geometry: g, inChannels: cin, outChannels: cout)
            }
            assertClose(out, expected, atol: 1e-4, rtol: 1e-4, "\(isa): \(k)x\(k)/\(s) \(cin)->\(cout) \(mode) prepacked \(prepacked)")
          }
        }
      }
    }
  }
}
