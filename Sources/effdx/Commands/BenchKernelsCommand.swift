import ArgumentParser
import DxTensor
import Foundation

/// Measures the convolution kernels on EfficientNet-B0's layer shapes next to the machine's
/// SGEMM rate. Build with `swift build -c release`; debug builds are 10-50x slower.
struct BenchKernelsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "kernels",
    abstract: "GFLOP/s of the convolution kernels on EfficientNet-B0 shapes, forward and backward, next to SGEMM.")

  @Option(help: "Batch size.") var batch = 32
  @Option(help: "Input resolution the B0 shapes are derived from.") var res = 224
  @Option(help: "Timed repetitions per kernel (the median is reported).") var repeats = 3
  @OptionGroup var compute: ComputeOptions

  /// One convolution of B0: (what, kind, input side at 224, Cin, Cout, kernel, stride).
  struct Shape {
    var name: String, depthwise: Bool, side: Int, cin: Int, cout: Int, k: Int, s: Int
  }

  /// Representative B0 layers, from the stem to the head (sides at 224; scaled with --res).
  static let b0Shapes: [Shape] = [
    Shape(name: "stem 3x3/2 3->32", depthwise: false, side: 224, cin: 3, cout: 32, k: 3, s: 2),
    Shape(name: "s0 dw 3x3 32", depthwise: true, side: 112, cin: 32, cout: 32, k: 3, s: 1),
    Shape(name: "s0 pw 32->16", depthwise: false, side: 112, cin: 32, cout: 16, k: 1, s: 1),
    Shape(name: "s1 pw 16->96", depthwise: false, side: 112, cin: 16, cout: 96, k: 1, s: 1),
    Shape(name: "s1 dw 3x3/2 96", depthwise: true, side: 112, cin: 96, cout: 96, k: 3, s: 2),
    Shape(name: "s1 dw 3x3 144", depthwise: true, side: 56, cin: 144, cout: 144, k: 3, s: 1),
    Shape(name: "s1 pw 144->24", depthwise: false, side: 56, cin: 144, cout: 24, k: 1, s: 1),
    Shape(name: "s2 dw 5x5/2 144", depthwise: true, side: 56, cin: 144, cout: 144, k: 5, s: 2),
    Shape(name: "s2 dw 5x5 240", depthwise: true, side: 28, cin: 240, cout: 240, k: 5, s: 1),
    Shape(name: "s2 pw 40->240", depthwise: false, side: 28, cin: 40, cout: 240, k: 1, s: 1),
    Shape(name: "s2 pw 240->40", depthwise: false, side: 28, cin: 240, cout: 40, k: 1, s: 1),
    Shape(name: "s3 pw 80->480", depthwise: false, side: 14, cin: 80, cout: 480, k: 1, s: 1),
    Shape(name: "s3 pw 480->80", depthwise: false, side: 14, cin: 480, cout: 80, k: 1, s: 1),
    Shape(name: "s4 pw 672->112", depthwise: false, side: 14, cin: 672, cout: 112, k: 1, s: 1),
    Shape(name: "s4 dw 5x5 672", depthwise: true, side: 14, cin: 672, cout: 672, k: 5, s: 1),
    Shape(name: "s5 pw 192->1152", depthwise: false, side: 7, cin: 192, cout: 1152, k: 1, s: 1),
    Shape(name: "s5 pw 1152->192", depthwise: false, side: 7, cin: 1152, cout: 192, k: 1, s: 1),
    Shape(name: "s6 dw 3x3 1152", depthwise: true, side: 7, cin: 1152, cout: 1152, k: 3, s: 1),
    Shape(name: "head pw 320->1280", depthwise: false, side: 7, cin: 320, cout: 1280, k: 1, s: 1),
  ]

  func validate() throws {
    guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1...4096, not \(batch)") }
    guard (16...2048).contains(res) else { throw ValidationError("--res must be in 16...2048, not \(res)") }
    guard (1...1000).contains(repeats) else { throw ValidationError("--repeats must be in 1...1000, not \(repeats)") }
  }

  func run() throws {
    try compute.apply()
    // The largest layer's input, output and their gradients, before any is allocated.
    let largest = Self.b0Shapes.map { s -> Double in
      let side = Double(max(1, s.side * res / 224))
      return side * side * Double(max(s.cin, s.cout))
    }.max() ?? 0
    try MemoryCheck.require(4 * Double(batch) * largest * 4, for: "the largest layer's tensors", flags: "--batch \(batch) at --res \(res)")
    #if DEBUG
      Console.warning("debug build; numbers are meaningless. Use: swift build -c release && .build/release/effdx bench kernels")
    #endif
    print("EfficientDx kernel benchmark: batch \(batch), resolution \(res), \(ThreadPool.threadCount) threads, median of \(repeats)")
    let gemm = measureSgemm()
    print(String(format: "SGEMM 2048x2048x2048: %.1f GFLOP/s (the machine's BLAS rate, OpenBLAS %@ kernels)\n", gemm, BLASRuntime.coreName))
    print("layer".padding(toLength: 22, withPad: " ", startingAt: 0) + "  out      fwd GFLOP/s  bwd GFLOP/s  fwd ms   bwd ms   fwd %SGEMM")
    var rng = SeededGenerator(seed: 1)
    for shape in Self.b0Shapes {
      let side = max(1, shape.side * res / 224)
      let g = ConvGeometry(batch: batch, inHeight: side, inWidth: side, kernel: shape.k, stride: shape.s,
                           pad: Padding2D(.symmetric, kernel: shape.k, stride: shape.s, height: side, width: side))
      let x = Tensor.randomNormal([batch, side, side, shape.cin], using: &rng)
      let (fwd, bwd) = shape.depthwise ? timeDepthwise(x, g, shape, &rng) : timeConv(x, g, shape, &rng)
      let flops = 2.0 * Double(batch * g.outHeight * g.outWidth * shape.k * shape.k * shape.cin) * Double(shape.depthwise ? 1 : shape.cout)
      // Backward computes both the input and the weight gradient: twice the forward's work.
      print(shape.name.padding(toLength: 22, withPad: " ", startingAt: 0)
        + String(format: "  %3dx%-3d  %11.1f  %11.1f  %6.2f  %7.2f  %8.0f%%", g.outHeight, g.outWidth,
                 flops / fwd / 1e9, 2 * flops / bwd / 1e9, fwd * 1e3, bwd * 1e3, 100 * flops / fwd / 1e9 / gemm))
    }
    benchFusedInference(&rng)
  }

  /// The fused inference kernels (folded BatchNorm, SiLU in the output pass) on each
  /// instruction set the CPU has, interleaved in one process so that the ratios hold on a
  /// machine whose speed drifts: AVX2 is OpenBLAS plus the vector epilogue, AVX-512 the packed
  /// GEMM with the epilogue on its accumulators.
  private func benchFusedInference(_ rng: inout SeededGenerator) {
    let sets = KernelInstructionSet.available.filter { $0 >= .avx2 }
    guard !sets.isEmpty else { return }
    print("\nfused inference (SiLU epilogue), GFLOP/s by instruction set: " + sets.map(\.description).joined(separator: " / "))
    for shape in Self.b0Shapes {
      let side = max(1, shape.side * res / 224)
      let g = ConvGeometry(batch: batch, inHeight: side, inWidth: side, kernel: shape.k, stride: shape.s,
                           pad: Padding2D(.symmetric, kernel: shape.k, stride: shape.s, height: side, width: side))
      let pointwise = shape.k == 1 && !shape.depthwise
      guard pointwise || shape.depthwise else { continue }
      let x = Tensor.randomNormal([batch, side, side, shape.cin], using: &rng)
      let w = Tensor.randomNormal(shape.depthwise ? [shape.k, shape.k, shape.cin] : [shape.cin, shape.cout], using: &rng)
      let b = Tensor.randomNormal([shape.cout], using: &rng)
      let packed = w.withPointer { packForInference($0, rows: shape.cin, columns: shape.cout) }
      var y = Tensor.zeros([batch, g.outHeight, g.outWidth, shape.cout])
      let flops = 2.0 * Double(batch * g.outHeight * g.outWidth * shape.k * shape.k * shape.cin) * Double(shape.depthwise ? 1 : shape.cout)
      let run = {
        x.withPointer { xp in w.withPointer { wp in y.withMutablePointer { yp in
          if shape.depthwise {
            depthwiseConvInference(input: xp, weight: wp, bias: b.scalars, activation: .silu, output: yp, geometry: g, channels: shape.cin)
          } else {
            pointwiseConvInference(input: xp, weight: wp, packedWeight: packed, bias: b.scalars, activation: .silu, output: yp,
                                   images: batch, pixels: side * side, inChannels: shape.cin, outChannels: shape.cout)
          } } } }
      }
      // Alternate the sets round by round; keep each one's best time.
      var best = [Double](repeating: .infinity, count: sets.count)
      for _ in 0..<max(3, repeats) {
        for (i, set) in sets.enumerated() { best[i] = min(best[i], KernelInstructionSet.with(set) { median(run) }) }
      }
      print(shape.name.padding(toLength: 22, withPad: " ", startingAt: 0) + best.map { String(format: "  %8.1f", flops / $0 / 1e9) }.joined())
    }
  }

  private func median(_ body: () -> Void) -> Double {
    body()  // warm-up: page in buffers, spin up threads
    var times: [Double] = []
    for _ in 0..<max(1, repeats) {
      let t0 = DispatchTime.now().uptimeNanoseconds
      body()
      times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    return times.sorted()[times.count / 2]
  }

  private func measureSgemm() -> Double {
    let n = 2048
    var rng = SeededGenerator(seed: 0)
    let a = Tensor.randomNormal([n, n], using: &rng), b = Tensor.randomNormal([n, n], using: &rng)
    var c = Tensor.zeros([n, n])
    let t = median {
      a.withPointer { ap in b.withPointer { bp in c.withMutablePointer { cp in
        sgemm(m: n, n: n, k: n, a: ap, lda: n, b: bp, ldb: n, c: cp, ldc: n) } } }
    }
    return 2 * Double(n * n * n) / t / 1e9
  }

  private func timeConv(_ x: Tensor, _ g: ConvGeometry, _ s: Shape, _ rng: inout SeededGenerator) -> (Double, Double) {
    let w = Tensor.randomNormal([s.k, s.k, s.cin, s.cout], using: &rng)
    var y = Tensor.zeros([g.batch, g.outHeight, g.outWidth, s.cout])
    let dy = Tensor.randomNormal(y.shape, using: &rng)
    var dx = Tensor.zeros(x.shape), dw = Tensor.zeros(w.shape)
    let colCount = convIsPointwise(g) ? 0 : g.batch * g.outHeight * g.outWidth * s.k * s.k * s.cin
    var col = [Float](repeating: 0, count: colCount), colGrad = col
    let fwd = median {
      x.withPointer { xp in w.withPointer { wp in y.withMutablePointer { yp in col.withUnsafeMutableBufferPointer { cp in
        conv2DForward(input: xp, weight: wp, bias: nil, output: yp, col: cp.baseAddress, geometry: g, inChannels: s.cin, outChannels: s.cout) } } } }
    }
    let bwd = median {
      x.withPointer { xp in w.withPointer { wp in dy.withPointer { dyp in dx.withMutablePointer { dxp in dw.withMutablePointer { dwp in
        col.withUnsafeBufferPointer { cp in colGrad.withUnsafeMutableBufferPointer { cgp in
          conv2DBackward(input: xp, col: cp.baseAddress, weight: wp, outputGrad: dyp, inputGrad: dxp, weightGrad: dwp, biasGrad: nil,
                         colGrad: cgp.baseAddress, geometry: g, inChannels: s.cin, outChannels: s.cout) } } } } } } }
    }
    return (fwd, bwd)
  }

  private func timeDepthwise(_ x: Tensor, _ g: ConvGeometry, _ s: Shape, _ rng: inout SeededGenerator) -> (Double, Double) {
    let w = Tensor.randomNormal([s.k, s.k, s.cin], using: &rng)
    var y = Tensor.zeros([g.batch, g.outHeight, g.outWidth, s.cin])
    let dy = Tensor.randomNormal(y.shape, using: &rng)
    var dx = Tensor.zeros(x.shape), dw = Tensor.zeros(w.shape)
    let fwd = median {
      x.withPointer { xp in w.withPointer { wp in y.withMutablePointer { yp in
        depthwiseConvForward(input: xp, weight: wp, bias: nil, output: yp, geometry: g, channels: s.cin) } } }
    }
    let bwd = median {
      x.withPointer { xp in w.withPointer { wp in dy.withPointer { dyp in dx.withMutablePointer { dxp in dw.withMutablePointer { dwp in
        depthwiseConvBackward(input: xp, weight: wp, outputGrad: dyp, inputGrad: dxp, weightGrad: dwp, biasGrad: nil, geometry: g, channels: s.cin) } } } } }
    }
    return (fwd, bwd)
  }
}
