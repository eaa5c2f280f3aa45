import DxTensor
import DxTestSupport
import XCTest

/// A block without SE projected band by band (`BandProjection`) against the three kernels run
/// one after the other: expansion, depthwise, then the 1x1 projection over the stored map.
final class BandProjectionTests: XCTestCase {
  func testProjectionInBands_equalsProjectionOfTheStoredMap() {
    for isa in KernelInstructionSet.available {
      KernelInstructionSet.with(isa) {
        var rng = SeededGenerator(seed: 41)
        // (images, height, width, in, expanded, out, kernel, stride, padding, skip)
        for (n, h, w, cin, m, cout, k, s, mode, skip) in [
          (2, 17, 13, 6, 24, 6, 3, 1, PaddingMode.same, true),  // residual, rows in several chunks
          (1, 40, 9, 8, 40, 16, 5, 2, .symmetric, false),  // strided, one image: thin bands
          (3, 7, 7, 10, 48, 10, 5, 1, .same, true),  // a 7 x 7 map, several images
          (1, 6, 5, 7, 130, 19, 5, 2, .symmetric, false),  // odd channel counts: partial panels
          // Rows too wide for the cache budget: the channels are sliced and the map is stored
          // and projected after the bands.
          (1, 12, 60, 16, 1100, 16, 5, 1, .same, true),
        ] {
          let g = ConvGeometry(batch: n, inHeight: h, inWidth: w, kernel: k, stride: s, pad: Padding2D(mode, kernel: k, stride: s, height: h, width: w))
          let x = Tensor.randomNormal([n, h, w, cin], using: &rng)
          let we = Tensor.randomNormal([cin, m], using: &rng), be = Tensor.randomNormal([m], using: &rng)
          let wd = Tensor.randomNormal([k, k, m], using: &rng), bd = Tensor.randomNormal([m], using: &rng)
          let wp = Tensor.randomNormal([m, cout], using: &rng), bp = Tensor.randomNormal([cout], using: &rng)
          let pixels = g.outHeight * g.outWidth
          let residual: [Float]? = skip ? x.scalars : nil

          var map = Tensor.uninitialized([n, g.outHeight, g.outWidth, m])
          map.withMutablePointer { mp in
            expandDepthwiseInference(
              input: x.scalars, inChannels: cin, expandWeight: we.scalars, expandBias: be.scalars, expandActivation: .relu6,
              depthwiseWeight: wd.scalars, depthwiseBias: bd.scalars, depthwiseActivation: .relu6, output: mp, geometry: g, channels: m)
          }
          var expected = Tensor.uninitialized([n, g.outHeight, g.outWidth, cout])
          expected.withMutablePointer { op in
            pointwiseConvInference(
              input: map.scalars, weight: wp.scalars, bias: bp.scalars, activation: .none, residual: residual, output: op,
              images: n, pixels: pixels, inChannels: m, outChannels: cout)
          }

          var out = Tensor.uninitialized(expected.shape), scratch = Tensor.uninitialized(map.shape)
          out.withMutablePointer { op in
            scratch.withMutablePointer { sp in
              wp.scalars.withUnsafeBufferPointer { wpp in
                bp.scalars.withUnsafeBufferPointer { bpp in
                  x.withPointer { xp in
                    expandDepthwiseInference(
                      input: xp, inChannels: cin, expandWeight: we.scalars, expandBias: be.scalars, expandActivation: .relu6,
                      depthwiseWeight: wd.scalars, depthwiseBias: bd.scalars, depthwiseActivation: .relu6, output: sp,
                      projection: BandProjection(
                        weight: wpp.baseAddress!, packed: nil, bias: bpp.baseAddress!, activation: .none,
                        residual: skip ? xp : nil, output: op, outChannels: cout),
                      geometry: g, channels: m)
                  }
                }
              }
            }
          }
          let label = "\(isa): \(n)x\(h)x\(w) \(cin)->\(m)->\(cout) k\(k) s\(s)\(skip ? " skip" : "")"
          assertClose(out, expected, atol: 1e-5, rtol: 1e-5, label)
          // The projection changes the output: a band that skipped it would leave garbage or
          // the residual alone, not values within 1e-5 of the product.
          XCTAssertGreaterThan(expected.scalars.map(abs).max() ?? 0, 1, label)
        }
      }
    }
  }
}
