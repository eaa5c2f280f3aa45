import DxTensor
import DxTestSupport
import XCTest

final class GemmTests: XCTestCase {
  func testSgemm_allTransposesMatchTripleLoop() {
    var rng = SeededGenerator(seed: 1)
    for (m, n, k) in [(1, 1, 1), (7, 5, 3), (33, 17, 65), (64, 1, 9)] {
      for transA in [false, true] {
        for transB in [false, true] {
          let a = Tensor.randomNormal(transA ? [k, m] : [m, k], using: &rng)
          let b = Tensor.randomNormal(transB ? [n, k] : [k, n], using: &rng)
          var c = Tensor.randomNormal([m, n], using: &rng)
          let c0 = c
          a.withPointer { ap in
            b.withPointer { bp in
              c.withMutablePointer { cp in
                sgemm(
                  transA: transA, transB: transB, m: m, n: n, k: k, alpha: 2, a: ap,
                  lda: transA ? m : k, b: bp, ldb: transB ? k : n, beta: 0.5, c: cp, ldc: n)
              }
            }
          }
          let expected = referenceGemm(a, b, transA: transA, transB: transB) * 2 + c0 * 0.5
          assertClose(c, expected, atol: 1e-4, rtol: 1e-4, "gemm \(m)x\(n)x\(k) tA=\(transA) tB=\(transB)")
        }
      }
    }
  }
}
