// A single-threaded GEMM for convolutions (inference, and training's 1x1 forward and input
// gradient; see DxKernels.h): the right-hand
// side (the weights) is packed once, the epilogue (bias, activation, residual, channel sums)
// runs on the accumulators, and there is no per-call packing of the weights, which is where
// OpenBLAS spends a third of its time on the small-K products of a MobileNet-style network.
//
// AVX-512 micro-kernel: 12 rows x 32 columns of accumulators (24 of the 32 zmm registers).
// Per step of k it loads two vectors of the packed panel and broadcasts 12 values of `a`,
// read where they lie (12 rows of a block stay in L1 while its panels pass), for 24 FMAs:
// fewer loads than FMAs, so it runs at the FMA ports' rate.
#include "activations.h"
#include <stdlib.h>

enum { MR = 12, NR = DX_GEMM_PANEL };

ptrdiff_t dx_gemm_packed_count(ptrdiff_t k, ptrdiff_t n) { return ((n + NR - 1) / NR) * NR * k; }

void dx_gemm_pack(const float *b, ptrdiff_t ldb, ptrdiff_t k, ptrdiff_t n, float *packed) {
  for (ptrdiff_t p0 = 0; p0 < n; p0 += NR) {
    ptrdiff_t cols = n - p0 < NR ? n - p0 : NR;
    float *panel = packed + p0 * k;
    for (ptrdiff_t i = 0; i < k; i++)
      for (ptrdiff_t j = 0; j < NR; j++) panel[i * NR + j] = j < cols ? b[i * ldb + p0 + j] : 0.0f;
  }
}

// Where the rows of the left operand come from: a matrix with an optional column scale (1x1
// convolutions), or the patches of an NHWC image (a kxk convolution without an im2col
// buffer: row i is output pixel `first + i`, column p is tap (kh, kw, ci) = p / C / k, ...).
typedef struct {
  const float *a;
  ptrdiff_t lda;
  const float *scale;
  const dx_conv_shape *conv;
  ptrdiff_t first;
} operand;

static inline float element(const operand *src, ptrdiff_t i, ptrdiff_t p) {
  if (!src->conv) return src->a[i * src->lda + p] * (src->scale ? src->scale[p] : 1.0f);
  const dx_conv_shape *g = src->conv;
  ptrdiff_t pixel = src->first + i, tap = p / g->channels, ci = p % g->channels;
  ptrdiff_t ih = pixel / g->out_width * g->stride - g->pad_top + tap / g->kernel;
  ptrdiff_t iw = pixel % g->out_width * g->stride - g->pad_left + tap % g->kernel;
  if (ih < 0 || ih >= g->in_height || iw < 0 || iw >= g->in_width) return 0.0f;
  return src->a[(ih * g->in_width + iw) * g->channels + ci];
}

// Rows [i0, i0 + rows) of a patch operand row after row (pa[r * k + p]), for the tile: a patch
// is kernel rows of kernel * C contiguous floats, copied whole where they lie inside the image.
static void pack_patches_by_row(const operand *src, ptrdiff_t i0, ptrdiff_t rows, ptrdiff_t k, float *pa) {
  const dx_conv_shape *g = src->conv;
  ptrdiff_t run = g->kernel * g->channels;
  for (ptrdiff_t r = 0; r < rows; r++) {
    ptrdiff_t pixel = src->first + i0 + r;
    ptrdiff_t top = pixel / g->out_width * g->stride - g->pad_top, left = pixel % g->out_width * g->stride - g->pad_left;
    for (ptrdiff_t kh = 0; kh < g->kernel; kh++) {
      float *dst = pa + r * k + kh * run;
      ptrdiff_t ih = top + kh;
      if (ih >= 0 && ih < g->in_height && left >= 0 && left + g->kernel <= g->in_width) {
        memcpy(dst, src->a + (ih * g->in_width + left) * g->channels, (size_t)run * sizeof(float));
        continue;
      }
      for (ptrdiff_t p = 0; p < run; p++) dst[p] = element(src, i0 + r, kh * run + p);
    }
  }
}

static void gemm_scalar(const operand *src, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n, const float *packed, float *c, ptrdiff_t ldc, const float *bias, dx_activation act, const float *residual, float *sums) {
  for (ptrdiff_t i = 0; i < m; i++) {
    for (ptrdiff_t j = 0; j < n; j++) {
      const float *panel = packed + (j / NR) * NR * k + j % NR;
      float acc = bias ? bias[j] : 0.0f;
      for (ptrdiff_t p = 0; p < k; p++) acc += element(src, i, p) * panel[p * NR];
      float v = act_scalar(acc, act);
      if (residual) v += residual[i * ldc + j];
      c[i * ldc + j] = v;
      if (sums) sums[j] += v;
    }
  }
}

#if defined(__x86_64__)

// `rows` (1...MR, a constant after inlining) rows of the left operand (row stride `lda`) times
// one packed panel, with the epilogue, into `cols` (1...NR) columns of `c`. The optional column
// scale (SE's gate on a 1x1 convolution's input) multiplies the panel's row: 2 multiplies per
// step of k instead of 12. A panel of 16 columns or fewer (`narrow`, a constant) needs only one
// vector per row.
DX_AVX512 static inline __attribute__((always_inline)) void tile(
    int rows, int narrow, const float *a, ptrdiff_t lda, const float *scale, ptrdiff_t k,
    const float *panel, float *c, ptrdiff_t ldc, ptrdiff_t cols, const float *bias, dx_activation act,
    const float *residual, float *sums) {
  __m512 acc[MR][2];
  __m512 b0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
  __m512 b1 = bias ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();
  for (int r = 0; r < rows; r++) { acc[r][0] = b0; acc[r][1] = b1; }
  for (ptrdiff_t p = 0; p < k; p++) {
    __m512 w0 = _mm512_loadu_ps(panel + p * NR), w1 = narrow ? w0 : _mm512_loadu_ps(panel + p * NR + 16);
    if (scale) {
      __m512 sp = _mm512_set1_ps(scale[p]);
      w0 = _mm512_mul_ps(w0, sp);
      w1 = narrow ? w0 : _mm512_mul_ps(w1, sp);
    }
    for (int r = 0; r < rows; r++) {
      __m512 x = _mm512_set1_ps(a[r * lda + p]);
      acc[r][0] = _mm512_fmadd_ps(x, w0, acc[r][0]);
      if (!narrow) acc[r][1] = _mm512_fmadd_ps(x, w1, acc[r][1]);
    }
  }
  // The accumulators leave their registers once, here. An epilogue looping over `acc` itself
  // (too long for the compiler to unroll) made clang keep `acc` in memory and store all 24
  // accumulators after every step of k: twice the FMAs' cycles (B0 1.06x faster at batch 1,
  // 1.04-1.07x at 32, 1.025x training, one-process A/B runs).
  __attribute__((aligned(64))) float done[MR][32];
  for (int r = 0; r < rows; r++) {
    _mm512_store_ps(done[r], acc[r][0]);
    if (!narrow) _mm512_store_ps(done[r] + 16, acc[r][1]);
  }
  __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
  __mmask16 m1 = cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  for (int r = 0; r < rows; r++) {
    __m512 v0 = act16(_mm512_load_ps(done[r]), act), v1 = narrow ? _mm512_setzero_ps() : act16(_mm512_load_ps(done[r] + 16), act);
    if (residual) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, residual + r * ldc));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, residual + r * ldc + 16));
    }
    _mm512_mask_storeu_ps(c + r * ldc, m0, v0);
    if (!narrow) _mm512_mask_storeu_ps(c + r * ldc + 16, m1, v1);
    s0 = _mm512_add_ps(s0, v0);
    s1 = _mm512_add_ps(s1, v1);
  }
  if (sums) {
    _mm512_mask_storeu_ps(sums, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, sums), s0));
    if (!narrow) _mm512_mask_storeu_ps(sums + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, sums + 16), s1));
  }
}

// The rows are never packed. Packing a 12-row block into k-major order (one cache line per
// step of k) was scalar work about the size of one panel's FMAs; with the tile no longer
// spilling, reading the rows in place was as fast or faster on every B0 shape, 1-46% (one-
// thread C harness, interleaved: 16-1152 deep, 24-1280 wide, gated or not; level on a
// 1024-cube). A kxk convolution's patches (the stem: 27 deep) are copied row after row into a
// block buffer: a few vector moves per row instead of 27 scalar stores.
DX_AVX512 static int gemm_avx512(const operand *src, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n, const float *packed, float *c, ptrdiff_t ldc, const float *bias, dx_activation act, const float *residual, float *sums) {
  // The bias of the last panel is read 32 wide: copy it into a padded buffer.
  float tail_bias[NR];
  int patches = src->conv != NULL;
  ptrdiff_t lda = patches ? k : src->lda;
  float *pa = patches ? aligned_alloc(64, (size_t)(((k * MR * sizeof(float)) + 63) / 64 * 64)) : NULL;
  if (patches && pa == NULL) return 0;  // the caller falls back to the plain loops
  for (ptrdiff_t i0 = 0; i0 < m; i0 += MR) {
    int rows = m - i0 < MR ? (int)(m - i0) : MR;
    if (patches) pack_patches_by_row(src, i0, rows, k, pa);
    const float *ai = patches ? pa : src->a + i0 * src->lda;
    for (ptrdiff_t j0 = 0; j0 < n; j0 += NR) {
      ptrdiff_t cols = n - j0 < NR ? n - j0 : NR;
      const float *bj = bias ? bias + j0 : NULL;
      if (bias && cols < NR) {
        for (int j = 0; j < NR; j++) tail_bias[j] = j < cols ? bias[j0 + j] : 0.0f;
        bj = tail_bias;
      }
      const float *panel = packed + j0 * k;
      float *cij = c + i0 * ldc + j0;
      const float *rij = residual ? residual + i0 * ldc + j0 : NULL;
      float *sj = sums ? sums + j0 : NULL;
      int narrow = cols <= 16;
      switch (rows + (narrow ? 100 : 0)) {
#define DX_TILE(R) \
  case R: tile(R, 0, ai, lda, src->scale, k, panel, cij, ldc, cols, bj, act, rij, sj); break; \
  case 100 + R: tile(R, 1, ai, lda, src->scale, k, panel, cij, ldc, cols, bj, act, rij, sj); break;
        DX_TILE(12) DX_TILE(11) DX_TILE(10) DX_TILE(9) DX_TILE(8) DX_TILE(7)
        DX_TILE(6) DX_TILE(5) DX_TILE(4) DX_TILE(3) DX_TILE(2) DX_TILE(1)
#undef DX_TILE
      }
    }
  }
  free(pa);
  return 1;
}

#endif

static void run(const operand *src, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n, const float *packed, float *c, ptrdiff_t ldc, const float *bias, dx_activation act, const float *residual, float *sums) {
#if defined(__x86_64__)
  if (dx_kernel_isa() == 2) {
    if (gemm_avx512(src, m, k, n, packed, c, ldc, bias, act, residual, sums)) return;
  }
#endif
  gemm_scalar(src, m, k, n, packed, c, ldc, bias, act, residual, sums);
}

void dx_gemm_packed(const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n, const float *packed, const float *a_scale, float *c, ptrdiff_t ldc, const float *bias, dx_activation act, const float *residual, float *sums) {
  operand src = {a, lda, a_scale, NULL, 0};
  run(&src, m, k, n, packed, c, ldc, bias, act, residual, sums);
}

void dx_conv_packed(const float *image, const dx_conv_shape *shape, ptrdiff_t first, ptrdiff_t pixels, ptrdiff_t n, const float *packed, float *c, ptrdiff_t ldc, const float *bias, dx_activation act, float *sums) {
  operand src = {image, 0, NULL, shape, first};
  run(&src, pixels, shape->kernel * shape->kernel * shape->channels, n, packed, c, ldc, bias, act, NULL, sums);
}

void dx_conv_patch_rows(const float *image, const dx_conv_shape *shape, ptrdiff_t first, ptrdiff_t pixels, float *rows) {
  operand src = {image, 0, NULL, shape, first};
  pack_patches_by_row(&src, 0, pixels, shape->kernel * shape->kernel * shape->channels, rows);
}
