// A single-threaded GEMM for convolutions (inference, and training's 1x1 forward and input
// gradient; see DxKernels.h): the right-hand
// side (the weights) is packed once, the epilogue (bias, activation, residual, channel sums)
// runs on the accumulators, and there is no per-call packing of the weights, which is where
// OpenBLAS spends a third of its time on the small-K products of a MobileNet-style network.
//
// AVX-512 micro-kernel: 12 rows x 32 columns of accumulators (24 of the 32 zmm registers).
// Per step of k it loads two vectors of the packed panel and broadcasts 12 values of `a`
// (packed to k-major order per 12-row block first, so the broadcasts read one cache line per
// step; or, with few panels, read where they lie: see DIRECT_MAX_PANELS), for 24 FMAs: fewer
// loads than FMAs, so it runs at the FMA ports' rate.
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

// Rows [i0, i0 + rows) of the operand, k-major with MR values per step (zeros past `rows`).
static void pack_rows(const operand *src, ptrdiff_t i0, int rows, ptrdiff_t k, float *pa) {
  if (!src->conv) {
    for (ptrdiff_t p = 0; p < k; p++) {
      float s = src->scale ? src->scale[p] : 1.0f;
      for (int r = 0; r < MR; r++) pa[p * MR + r] = r < rows ? src->a[(i0 + r) * src->lda + p] * s : 0.0f;
    }
    return;
  }
  // One output pixel's patch is kernel rows of kernel * C contiguous floats (or padding).
  const dx_conv_shape *g = src->conv;
  for (int r = 0; r < MR; r++) {
    if (r >= rows) {
      for (ptrdiff_t p = 0; p < k; p++) pa[p * MR + r] = 0.0f;
      continue;
    }
    ptrdiff_t pixel = src->first + i0 + r;
    ptrdiff_t top = pixel / g->out_width * g->stride - g->pad_top, left = pixel % g->out_width * g->stride - g->pad_left;
    float *dst = pa + r;
    for (ptrdiff_t kh = 0; kh < g->kernel; kh++) {
      ptrdiff_t ih = top + kh;
      const float *row = src->a + (ih * g->in_width + left) * g->channels;
      for (ptrdiff_t kw = 0; kw < g->kernel; kw++) {
        ptrdiff_t iw = left + kw;
        int inside = ih >= 0 && ih < g->in_height && iw >= 0 && iw < g->in_width;
        for (ptrdiff_t ci = 0; ci < g->channels; ci++, dst += MR) *dst = inside ? row[kw * g->channels + ci] : 0.0f;
      }
    }
  }
}

// Rows [i0, i0 + rows) of a patch operand row after row (pa[r * k + p]), for the direct tile:
// a patch is kernel rows of kernel * C contiguous floats, copied whole where they lie inside
// the image (a few vector moves per row instead of k scalar stores into the k-major layout).
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

// `rows` (1...MR, a constant after inlining) rows of the left operand times one packed panel,
// with the epilogue, into `cols` (1...NR) columns of `c`. The rows come from `pa` (k-major, MR
// per step) or, when `direct` (a constant), straight from the matrix `a` (row stride `lda`)
// with the optional column scale applied to the panel's row instead (see gemm_avx512). A panel
// of 16 columns or fewer (`narrow`, a constant) needs only one vector per row.
DX_AVX512 static inline __attribute__((always_inline)) void tile(
    int rows, int narrow, int direct, const float *pa, const float *a, ptrdiff_t lda, const float *scale, ptrdiff_t k,
    const float *panel, float *c, ptrdiff_t ldc, ptrdiff_t cols, const float *bias, dx_activation act,
    const float *residual, float *sums) {
  __m512 acc[MR][2];
  __m512 b0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
  __m512 b1 = bias ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();
  for (int r = 0; r < rows; r++) { acc[r][0] = b0; acc[r][1] = b1; }
  for (ptrdiff_t p = 0; p < k; p++) {
    __m512 w0 = _mm512_loadu_ps(panel + p * NR), w1 = narrow ? w0 : _mm512_loadu_ps(panel + p * NR + 16);
    if (direct && scale) {
      __m512 sp = _mm512_set1_ps(scale[p]);
      w0 = _mm512_mul_ps(w0, sp);
      w1 = narrow ? w0 : _mm512_mul_ps(w1, sp);
    }
    for (int r = 0; r < rows; r++) {
      __m512 x = _mm512_set1_ps(direct ? a[r * lda + p] : pa[p * MR + r]);
      acc[r][0] = _mm512_fmadd_ps(x, w0, acc[r][0]);
      if (!narrow) acc[r][1] = _mm512_fmadd_ps(x, w1, acc[r][1]);
    }
  }
  __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
  __mmask16 m1 = cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  for (int r = 0; r < rows; r++) {
    __m512 v0 = act16(acc[r][0], act), v1 = narrow ? _mm512_setzero_ps() : act16(acc[r][1], act);
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

// Packing a 12-row block of the left operand is scalar work about the size of one panel's
// FMAs, so it pays only when several panels reuse the block. With up to two panels (the narrow
// projections of an inverted-residual block: 16-64 output channels from hundreds of inputs)
// the tile broadcasts straight from the rows instead, and SE's per-channel gate, which packing
// applied to the rows, scales the panel's row (2 multiplies per step of k, not 12). Up to four
// panels (80-128 channels) was measured too: packing them is 5-8% faster for B0 at batch 1,
// about 2% for training and batch 32 (one-process A/B runs; one panel is level with two). A kxk
// convolution's patches (the stem: 27 deep, one panel) are copied row after row for the same
// tile: a few vector moves per row instead of 27 scalar stores (the stem 1.4x faster, one-thread
// C harness, same bits).
enum { DIRECT_MAX_PANELS = 2 };

DX_AVX512 static int gemm_avx512(const operand *src, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n, const float *packed, float *c, ptrdiff_t ldc, const float *bias, dx_activation act, const float *residual, float *sums) {
  // The bias of the last panel is read 32 wide: copy it into a padded buffer.
  float tail_bias[NR];
  // Few panels: the tile reads rows in place (a matrix), or from patches copied row after row.
  int direct = n <= DIRECT_MAX_PANELS * NR, patches = src->conv != NULL;
  ptrdiff_t lda = patches ? k : src->lda;
  float *pa = direct && !patches ? NULL : aligned_alloc(64, (size_t)(((k * MR * sizeof(float)) + 63) / 64 * 64));
  if ((!direct || patches) && pa == NULL) return 0;  // the caller falls back to the plain loops
  for (ptrdiff_t i0 = 0; i0 < m; i0 += MR) {
    int rows = m - i0 < MR ? (int)(m - i0) : MR;
    if (!direct) pack_rows(src, i0, rows, k, pa);
    else if (patches) pack_patches_by_row(src, i0, rows, k, pa);
    const float *ai = !direct ? NULL : patches ? pa : src->a + i0 * src->lda;
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
      switch (rows + (narrow ? 100 : 0) + (direct ? 1000 : 0)) {
#define DX_TILE(R) \
  case R: tile(R, 0, 0, pa, ai, lda, src->scale, k, panel, cij, ldc, cols, bj, act, rij, sj); break; \
  case 100 + R: tile(R, 1, 0, pa, ai, lda, src->scale, k, panel, cij, ldc, cols, bj, act, rij, sj); break; \
  case 1000 + R: tile(R, 0, 1, pa, ai, lda, src->scale, k, panel, cij, ldc, cols, bj, act, rij, sj); break; \
  case 1100 + R: tile(R, 1, 1, pa, ai, lda, src->scale, k, panel, cij, ldc, cols, bj, act, rij, sj); break;
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
