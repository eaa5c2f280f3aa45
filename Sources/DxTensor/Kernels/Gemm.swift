internal import CBLAS

/// Row-major single-precision GEMM through OpenBLAS:
/// `C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C[m,n]`.
///
/// `lda`, `ldb`, `ldc` are the row strides of the matrices as stored (before `op`).
/// This is the only call into BLAS in the project; everything GEMM-shaped goes through it.
public func sgemm(
  transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
  b: UnsafePointer<Float>, ldb: Int,
  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  if m == 0 || n == 0 { return }
  cblas_sgemm(
    CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
