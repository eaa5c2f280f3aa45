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
        const float *from = src->a + (ih * g->in_width + left) * g->channels;
        // The stem's 3 x 3 RGB patches (9 floats a row) as inline moves, not a libc call each.
        if (run == 9) memcpy(dst, from, 9 * sizeof(float)); else memcpy(dst, from, (size_t)run * sizeof(float));
        continue;
      }
      for (ptrdiff_t p = 0; p < run; p++) dst[p] = element(src, i0 + r, kh * run + p);
    }
  }
}

// The bias of a tile's `width` columns from `j0`, read whole by the tile: in place, or copied
// into `tail` with zeros past the `cols` that exist (the last tile of a row). NULL: no bias.
static inline const float *bias_block(const float *bias, ptrdiff_t j0, ptrdiff_t cols, int width, float *tail) {
  if (!bias || cols >= width) return bias ? bias + j0 : NULL;
  for (int j = 0; j < width; j++) tail[j] = j < cols ? bias[j0 + j] : 0.0f;
  return tail;
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
      const float *bj = bias_block(bias, j0, cols, NR, tail_bias);
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

// ---- AVX2 + FMA: 6 rows x 16 columns of accumulators (12 of the 16 ymm registers), each
// 32-column panel in two halves. Per step of k: two loads of the panel, six broadcasts of `a`,
// twelve FMAs. ----

enum { MR2 = 6 };

// `mask[j]` for AVX2's masked moves: all ones for the first `cols` lanes of 8 from `from`.
DX_AVX2 static inline __m256i lanes8(ptrdiff_t cols, ptrdiff_t from) {
  __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(cols - from)), index);
}

// `rows` (1...MR2) rows times 16 columns of a packed panel (its first or second half; `panel`
// points at the first of them), with the epilogue, into the `cols` (1...16) of them that
// exist. `narrow` (a constant): only 8 columns.
//
// A product deeper than one block of k (see gemm_avx2) is summed in `c` block by block:
// `from_c` starts the accumulators from `c` instead of the bias, `raw` stores them without the
// epilogue (every block but the last).
DX_AVX2 static inline __attribute__((always_inline)) void tile_avx2(
    int rows, int narrow, const float *a, ptrdiff_t lda, const float *scale, ptrdiff_t k,
    const float *panel, float *c, ptrdiff_t ldc, ptrdiff_t cols, const float *bias, dx_activation act,
    const float *residual, float *sums, int from_c, int raw) {
  __m256 acc[MR2][2];
  int full = cols >= 16 || (narrow && cols >= 8);
  __m256i m0 = lanes8(cols, 0), m1 = lanes8(cols, 8);
  if (from_c) {
    for (int r = 0; r < rows; r++) {
      acc[r][0] = full ? _mm256_loadu_ps(c + r * ldc) : _mm256_maskload_ps(c + r * ldc, m0);
      acc[r][1] = narrow ? _mm256_setzero_ps() : full ? _mm256_loadu_ps(c + r * ldc + 8) : _mm256_maskload_ps(c + r * ldc + 8, m1);
    }
  } else {
    __m256 b0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    __m256 b1 = bias && !narrow ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
    for (int r = 0; r < rows; r++) { acc[r][0] = b0; acc[r][1] = b1; }
  }
  for (ptrdiff_t p = 0; p < k; p++) {
    __m256 w0 = _mm256_loadu_ps(panel + p * NR), w1 = narrow ? w0 : _mm256_loadu_ps(panel + p * NR + 8);
    if (scale) {
      __m256 sp = _mm256_broadcast_ss(scale + p);
      w0 = _mm256_mul_ps(w0, sp);
      w1 = narrow ? w0 : _mm256_mul_ps(w1, sp);
    }
    for (int r = 0; r < rows; r++) {
      __m256 x = _mm256_broadcast_ss(a + r * lda + p);
      acc[r][0] = _mm256_fmadd_ps(x, w0, acc[r][0]);
      if (!narrow) acc[r][1] = _mm256_fmadd_ps(x, w1, acc[r][1]);
    }
  }
  // The epilogue on the registers themselves, every loop over `acc` unrolled by its constant
  // bounds (a loop the compiler kept made it hold `acc` in memory through the k loop).
  if (raw) {
#pragma clang loop unroll(full)
    for (int r = 0; r < MR2; r++) {
      if (r >= rows) break;
      if (full) {
        _mm256_storeu_ps(c + r * ldc, acc[r][0]);
        if (!narrow) _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
      } else {
        _mm256_maskstore_ps(c + r * ldc, m0, acc[r][0]);
        if (!narrow) _mm256_maskstore_ps(c + r * ldc + 8, m1, acc[r][1]);
      }
    }
    return;
  }
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
#pragma clang loop unroll(full)
  for (int r = 0; r < MR2; r++) {
    if (r >= rows) break;
    __m256 v0 = act8(acc[r][0], act), v1 = narrow ? _mm256_setzero_ps() : act8(acc[r][1], act);
    if (full) {
      if (residual) {
        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(residual + r * ldc));
        if (!narrow) v1 = _mm256_add_ps(v1, _mm256_loadu_ps(residual + r * ldc + 8));
      }
      _mm256_storeu_ps(c + r * ldc, v0);
      if (!narrow) _mm256_storeu_ps(c + r * ldc + 8, v1);
    } else {
      if (residual) {
        v0 = _mm256_add_ps(v0, _mm256_maskload_ps(residual + r * ldc, m0));
        if (!narrow) v1 = _mm256_add_ps(v1, _mm256_maskload_ps(residual + r * ldc + 8, m1));
      }
      // Lanes past `cols` are zeroed so the sums below do not count them.
      v0 = _mm256_and_ps(v0, _mm256_castsi256_ps(m0));
      v1 = _mm256_and_ps(v1, _mm256_castsi256_ps(m1));
      _mm256_maskstore_ps(c + r * ldc, m0, v0);
      if (!narrow) _mm256_maskstore_ps(c + r * ldc + 8, m1, v1);
    }
    s0 = _mm256_add_ps(s0, v0);
    s1 = _mm256_add_ps(s1, v1);
  }
  if (sums) {
    if (full) {
      _mm256_storeu_ps(sums, _mm256_add_ps(_mm256_loadu_ps(sums), s0));
      if (!narrow) _mm256_storeu_ps(sums + 8, _mm256_add_ps(_mm256_loadu_ps(sums + 8), s1));
    } else {
      _mm256_maskstore_ps(sums, m0, _mm256_add_ps(_mm256_maskload_ps(sums, m0), s0));
      if (!narrow) _mm256_maskstore_ps(sums + 8, m1, _mm256_add_ps(_mm256_maskload_ps(sums + 8, m1), s1));
    }
  }
}

// As gemm_avx512, with 6-row blocks and each panel in 16-column halves, and blocked in k:
// Zen 3's L2 is 512 KB, and a deep product (B7's 3840 -> 640 at 19 x 19) re-read its 9.8 MB
// of packed weights from L3 for every block of rows. Each block of KC steps of k runs over
// column groups whose packed weights fit in L2, the rows' KC-long pieces staying in L1, and
// the partial sums wait in `c`.
//
// A gated product (SE's scale on the rows of `a`) scales each block's weights once into a
// buffer of this thread's, at most KC2 x NC2 floats (256 KB, in L2), instead of in every tile
// (2 more multiplies per 12 multiply-adds there): the same products w * s, so the same bits.
// Weights of any size (B7's 2304 -> 384 and 3840 -> 640, B5's 3072 -> 512: +16-23% in the
// harness) and no allocation per call.
enum { KC2 = 256, NC2 = 256, SCALED_BLOCK_MIN_ROWS = 24 };

// This thread's buffer for a block of scaled weights (kept: the pool's threads live as long as
// the process), or NULL when there is no memory for it (the tiles scale then).
static float *scaled_block_buffer(void) {
  static _Thread_local float *buffer;
  if (!buffer) buffer = aligned_alloc(64, (size_t)KC2 * NC2 * sizeof(float));
  return buffer;
}

// Rows p0 ..< p0 + depth of the packed panels covering columns g0 ..< g1, each row scaled by
// its `scale`, into `block` (panel after panel, NR floats a row).
DX_AVX2 static void scale_block(const float *packed, ptrdiff_t k, ptrdiff_t p0, ptrdiff_t depth, ptrdiff_t g0, ptrdiff_t g1, const float *scale, float *block) {
  for (ptrdiff_t q = 0; q * NR < g1 - g0; q++) {
    const float *from = packed + (g0 / NR + q) * NR * k + p0 * NR;
    float *to = block + q * NR * depth;
    for (ptrdiff_t p = 0; p < depth; p++)
      for (ptrdiff_t j = 0; j < NR; j++) to[p * NR + j] = from[p * NR + j] * scale[p];
  }
}

DX_AVX2 static int gemm_avx2(const operand *src, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n, const float *packed, float *c, ptrdiff_t ldc, const float *bias, dx_activation act, const float *residual, float *sums) {
  float tail_bias[NR];
  int patches = src->conv != NULL;
  ptrdiff_t lda = patches ? k : src->lda;
  // Patches are copied a block of rows at a time, whole (k is a kxk convolution's taps: small).
  ptrdiff_t kc = patches ? k : KC2;
  float *pa = patches ? aligned_alloc(64, (size_t)(((k * MR2 * sizeof(float)) + 63) / 64 * 64)) : NULL;
  if (patches && pa == NULL) return 0;
  float *block = src->scale && !patches && m >= SCALED_BLOCK_MIN_ROWS ? scaled_block_buffer() : NULL;
  for (ptrdiff_t p0 = 0; p0 < k; p0 += kc) {
    ptrdiff_t depth = k - p0 < kc ? k - p0 : kc;
    int first = p0 == 0, last = p0 + depth == k;
    const float *scale = src->scale && !block ? src->scale + p0 : NULL;
    for (ptrdiff_t g0 = 0; g0 < n; g0 += NC2) {
      ptrdiff_t g1 = n - g0 < NC2 ? n : g0 + NC2;
      if (block) scale_block(packed, k, p0, depth, g0, g1, src->scale + p0, block);
      for (ptrdiff_t i0 = 0; i0 < m; i0 += MR2) {
        int rows = m - i0 < MR2 ? (int)(m - i0) : MR2;
        if (patches) pack_patches_by_row(src, i0, rows, k, pa);
        const float *ai = (patches ? pa : src->a + i0 * src->lda) + p0;
        for (ptrdiff_t j0 = g0; j0 < g1; j0 += 16) {
          ptrdiff_t cols = n - j0 < 16 ? n - j0 : 16;
          const float *bj = bias_block(bias, j0, cols, 16, tail_bias);
          // Column j0 is in panel j0 / NR at offset j0 % NR (0 or 16); row p0 of it (row 0 of
          // the block's copy).
          const float *panel = block ? block + (j0 - g0) / NR * NR * depth + j0 % NR : packed + (j0 / NR) * NR * k + p0 * NR + j0 % NR;
          float *cij = c + i0 * ldc + j0;
          const float *rij = residual ? residual + i0 * ldc + j0 : NULL;
          float *sj = sums ? sums + j0 : NULL;
          int narrow = cols <= 8;
          switch (rows + (narrow ? 100 : 0)) {
#define DX_TILE2(R) \
  case R: tile_avx2(R, 0, ai, lda, scale, depth, panel, cij, ldc, cols, bj, act, rij, sj, !first, !last); break; \
  case 100 + R: tile_avx2(R, 1, ai, lda, scale, depth, panel, cij, ldc, cols, bj, act, rij, sj, !first, !last); break;
            DX_TILE2(6) DX_TILE2(5) DX_TILE2(4) DX_TILE2(3) DX_TILE2(2) DX_TILE2(1)
#undef DX_TILE2
          }
        }
      }
    }
  }
  free(pa);
  return 1;
}

#endif

// A gated product's packed weights with each row p scaled by scale[p]: the products the tiles
// form on the fly (w * s, then the multiply-add), so the results are the same to the bit. NULL
// when there is no memory for it (the tiles scale then).
static float *scaled_panels(const float *packed, ptrdiff_t k, ptrdiff_t n, const float *scale) {
  ptrdiff_t count = dx_gemm_packed_count(k, n);
  float *w = aligned_alloc(64, ((size_t)count * sizeof(float) + 63) / 64 * 64);
  if (w == NULL) return NULL;
  for (ptrdiff_t p0 = 0; p0 < count; p0 += NR * k)
    for (ptrdiff_t i = 0; i < k; i++)
      for (ptrdiff_t j = 0; j < NR; j++) w[p0 + i * NR + j] = packed[p0 + i * NR + j] * scale[i];
  return w;
}

// Rows from which AVX-512's gated products scale a copy of their weights once rather than in
// every tile: the copy costs about k * n, the tiles' extra work m * n * k / 48. Weights past
// 2 MB keep the tiles' scaling (the copy would leave L2). AVX2 scales block by block instead
// (gemm_avx2), for any size.
enum { SCALED_COPY_MIN_ROWS = 128, SCALED_COPY_MAX_FLOATS = 1 << 19 };

static void run(const operand *src, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n, const float *packed, float *c, ptrdiff_t ldc, const float *bias, dx_activation act, const float *residual, float *sums) {
#if defined(__x86_64__)
  // The vector tiles scale the weights (the portable loops scale the rows, another rounding).
  if (src->scale && !src->conv && dx_kernel_isa() == 2 && m >= SCALED_COPY_MIN_ROWS && dx_gemm_packed_count(k, n) <= SCALED_COPY_MAX_FLOATS) {
    float *scaled = scaled_panels(packed, k, n, src->scale);
    if (scaled) {
      operand plain = *src;
      plain.scale = NULL;
      run(&plain, m, k, n, scaled, c, ldc, bias, act, residual, sums);
      free(scaled);
      return;
    }
  }
  switch (dx_kernel_isa()) {
  case 2:
    if (gemm_avx512(src, m, k, n, packed, c, ldc, bias, act, residual, sums)) return;
    break;
  case 1:
    if (gemm_avx2(src, m, k, n, packed, c, ldc, bias, act, residual, sums)) return;
    break;
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
