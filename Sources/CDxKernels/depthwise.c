// One output row of a depthwise convolution with bias, activation and channel sums fused in
// (see DxKernels.h). Channels are innermost, so each tap is a vector FMA over a block of
// channels; four accumulators share each tap's address arithmetic. The activation is applied
// to the accumulators, so each output is stored once.
#include "activations.h"

// The taps of output column `ow` that fall inside the image, as offsets into `image` and
// `weight` for channel 0, and the tap-window size.
typedef struct {
  ptrdiff_t x, w, rows, cols;
} window;

static inline window taps(ptrdiff_t oh, ptrdiff_t ow, const dx_depthwise_shape *g) {
  ptrdiff_t k = g->kernel, s = g->stride, ps = g->pixel_stride;
  ptrdiff_t top = oh * s - g->pad_top, left = ow * s - g->pad_left;
  ptrdiff_t kh0 = top < 0 ? -top : 0, kh1 = g->in_height - top < k ? g->in_height - top : k;
  ptrdiff_t kw0 = left < 0 ? -left : 0, kw1 = g->in_width - left < k ? g->in_width - left : k;
  window t = {((top + kh0) * g->in_width + left + kw0) * ps, (kh0 * k + kw0) * ps, kh1 - kh0, kw1 - kw0};
  return t;
}

// Output columns [*inner0, *inner1) have their whole window inside the image horizontally
// (the four-column kernels run there).
static inline void interior_columns(const dx_depthwise_shape *g, ptrdiff_t *inner0, ptrdiff_t *inner1) {
  ptrdiff_t k = g->kernel, s = g->stride;
  *inner0 = (g->pad_left + s - 1) / s;
  *inner1 = g->in_width + g->pad_left >= k ? (g->in_width + g->pad_left - k) / s + 1 : 0;
  if (*inner1 > g->out_width) *inner1 = g->out_width;
}

static void row_scalar(const float *image, ptrdiff_t oh, float *out, const float *weight, const float *bias, dx_activation a, float *sums, const dx_depthwise_shape *g) {
  ptrdiff_t c = g->channels, ps = g->pixel_stride, xs = g->in_width * ps, ws = g->kernel * ps;
  for (ptrdiff_t ow = 0; ow < g->out_width; ow++) {
    window t = taps(oh, ow, g);
    float *o = out + ow * ps;
    for (ptrdiff_t ch = 0; ch < c; ch++) {
      float acc = bias[ch];
      for (ptrdiff_t i = 0; i < t.rows; i++)
        for (ptrdiff_t j = 0; j < t.cols; j++) acc += image[t.x + i * xs + j * ps + ch] * weight[t.w + i * ws + j * ps + ch];
      o[ch] = act_scalar(acc, a);
      if (sums) sums[ch] += o[ch];
    }
  }
}

#if defined(__x86_64__)

// ---- AVX-512: 64 channels at a time, then 32, then 16, the last block masked ----

// `nv` (1, 2 or 4; a constant after inlining) vectors of 16 channels from `ch`; the last
// vector's lanes are limited by `last`.
DX_AVX512 static inline __attribute__((always_inline)) void block_avx512(
    int nv, __mmask16 last, const float *image, const float *weight, const float *bias, window t,
    ptrdiff_t xs, ptrdiff_t ws, ptrdiff_t ps, ptrdiff_t ch, float *o, float *sums, dx_activation a) {
  __m512 acc[4];
  for (int v = 0; v < nv; v++) acc[v] = _mm512_maskz_loadu_ps(v == nv - 1 ? last : 0xFFFF, bias + ch + 16 * v);
  for (ptrdiff_t i = 0; i < t.rows; i++) {
    const float *x = image + t.x + i * xs + ch, *w = weight + t.w + i * ws + ch;
    for (ptrdiff_t j = 0; j < t.cols; j++, x += ps, w += ps)
      for (int v = 0; v < nv; v++) {
        __mmask16 m = v == nv - 1 ? last : 0xFFFF;
        acc[v] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + 16 * v), _mm512_maskz_loadu_ps(m, w + 16 * v), acc[v]);
      }
  }
  for (int v = 0; v < nv; v++) {
    __mmask16 m = v == nv - 1 ? last : 0xFFFF;
    __m512 y = act16(acc[v], a);
    _mm512_mask_storeu_ps(o + ch + 16 * v, m, y);
    if (sums) _mm512_mask_storeu_ps(sums + ch + 16 * v, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, sums + ch + 16 * v), y));
  }
}

// Four neighbouring output columns whose windows lie inside the image horizontally, for `nv`
// (1 or 2) vectors of channels: each weight vector is loaded once for the four, and with
// `K` and `S` constants after inlining, the input columns the four windows share are loaded
// once (stride 1, 3x3: 6 loads of x and 3 of w per 12 FMAs instead of 24 loads).
DX_AVX512 static inline __attribute__((always_inline)) void quad_avx512(
    int K, int S, int nv, __mmask16 last, const float *x0, const float *w0, const float *bias, ptrdiff_t rows,
    ptrdiff_t xs, ptrdiff_t ps, float *o, float *sums, dx_activation a) {
  __m512 acc[4][2];
  for (int v = 0; v < nv; v++) {
    __m512 b = _mm512_maskz_loadu_ps(v == nv - 1 ? last : 0xFFFF, bias + 16 * v);
    for (int q = 0; q < 4; q++) acc[q][v] = b;
  }
  for (ptrdiff_t i = 0; i < rows; i++) {
    const float *x = x0 + i * xs, *w = w0 + i * K * ps;
    for (int kw = 0; kw < K; kw++)
      for (int v = 0; v < nv; v++) {
        __mmask16 m = v == nv - 1 ? last : 0xFFFF;
        __m512 wv = _mm512_maskz_loadu_ps(m, w + kw * ps + 16 * v);
        for (int q = 0; q < 4; q++)
          acc[q][v] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + (q * S + kw) * ps + 16 * v), wv, acc[q][v]);
      }
  }
  // The four columns' outputs are added together before they go into the channel sums: one
  // load and store of the sums per four pixels instead of a chain of four through memory.
  for (int v = 0; v < nv; v++) {
    __mmask16 m = v == nv - 1 ? last : 0xFFFF;
    __m512 y[4];
    for (int q = 0; q < 4; q++) {
      y[q] = act16(acc[q][v], a);
      _mm512_mask_storeu_ps(o + q * ps + 16 * v, m, y[q]);
    }
    if (sums) {
      __m512 four = _mm512_add_ps(_mm512_add_ps(y[0], y[1]), _mm512_add_ps(y[2], y[3]));
      _mm512_mask_storeu_ps(sums + 16 * v, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, sums + 16 * v), four));
    }
  }
}

// Every channel of four interior output columns from `ow`.
DX_AVX512 static inline __attribute__((always_inline)) void quad_columns_avx512(
    int K, int S, const float *image, const float *weight, const float *bias, window t, ptrdiff_t xs, ptrdiff_t c,
    ptrdiff_t ps, float *o, float *sums, dx_activation a) {
  ptrdiff_t ch = 0;
  const float *x = image + t.x, *w = weight + t.w;
  for (; ch + 32 <= c; ch += 32) quad_avx512(K, S, 2, 0xFFFF, x + ch, w + ch, bias + ch, t.rows, xs, ps, o + ch, sums ? sums + ch : NULL, a);
  for (; ch < c; ch += 16) {
    __mmask16 m = c - ch >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (c - ch)) - 1);
    quad_avx512(K, S, 1, m, x + ch, w + ch, bias + ch, t.rows, xs, ps, o + ch, sums ? sums + ch : NULL, a);
  }
}

DX_AVX512 static void row_avx512(const float *image, ptrdiff_t oh, float *out, const float *weight, const float *bias, dx_activation a, float *sums, const dx_depthwise_shape *g) {
  ptrdiff_t c = g->channels, ps = g->pixel_stride, xs = g->in_width * ps, ws = g->kernel * ps, k = g->kernel, s = g->stride;
  ptrdiff_t inner0, inner1;
  interior_columns(g, &inner0, &inner1);
  int quads = (k == 3 || k == 5) && (s == 1 || s == 2);
  for (ptrdiff_t ow = 0; ow < g->out_width;) {
    window t = taps(oh, ow, g);
    float *o = out + ow * ps;
    if (quads && ow >= inner0 && ow + 4 <= inner1) {
      switch (k * 10 + s) {
      case 31: quad_columns_avx512(3, 1, image, weight, bias, t, xs, c, ps, o, sums, a); break;
      case 32: quad_columns_avx512(3, 2, image, weight, bias, t, xs, c, ps, o, sums, a); break;
      case 51: quad_columns_avx512(5, 1, image, weight, bias, t, xs, c, ps, o, sums, a); break;
      case 52: quad_columns_avx512(5, 2, image, weight, bias, t, xs, c, ps, o, sums, a); break;
      }
      ow += 4;
      continue;
    }
    ptrdiff_t ch = 0;
    for (; ch + 64 <= c; ch += 64) block_avx512(4, 0xFFFF, image, weight, bias, t, xs, ws, ps, ch, o, sums, a);
    if (ch + 32 <= c) { block_avx512(2, 0xFFFF, image, weight, bias, t, xs, ws, ps, ch, o, sums, a); ch += 32; }
    if (ch + 16 <= c) { block_avx512(1, 0xFFFF, image, weight, bias, t, xs, ws, ps, ch, o, sums, a); ch += 16; }
    if (ch < c) block_avx512(1, (__mmask16)((1u << (c - ch)) - 1), image, weight, bias, t, xs, ws, ps, ch, o, sums, a);
    ow++;
  }
}

// ---- AVX2 + FMA: 32 channels at a time, then 8, then one ----

DX_AVX2 static inline void finish8(__m256 acc, float *o, float *sums, ptrdiff_t ch, dx_activation a) {
  __m256 v = act8(acc, a);
  _mm256_storeu_ps(o + ch, v);
  if (sums) _mm256_storeu_ps(sums + ch, _mm256_add_ps(_mm256_loadu_ps(sums + ch), v));
}

// Every channel of one output column (any window).
DX_AVX2 static inline void column_avx2(const float *image, const float *weight, const float *bias, window t, ptrdiff_t xs,
                                       ptrdiff_t ws, ptrdiff_t ps, ptrdiff_t c, float *o, float *sums, dx_activation a) {
  ptrdiff_t ch = 0;
  for (; ch + 32 <= c; ch += 32) {
    __m256 a0 = _mm256_loadu_ps(bias + ch), a1 = _mm256_loadu_ps(bias + ch + 8);
    __m256 a2 = _mm256_loadu_ps(bias + ch + 16), a3 = _mm256_loadu_ps(bias + ch + 24);
    for (ptrdiff_t i = 0; i < t.rows; i++) {
      const float *x = image + t.x + i * xs + ch, *w = weight + t.w + i * ws + ch;
      for (ptrdiff_t j = 0; j < t.cols; j++, x += ps, w += ps) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(w), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 8), _mm256_loadu_ps(w + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 16), _mm256_loadu_ps(w + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 24), _mm256_loadu_ps(w + 24), a3);
      }
    }
    finish8(a0, o, sums, ch, a);
    finish8(a1, o, sums, ch + 8, a);
    finish8(a2, o, sums, ch + 16, a);
    finish8(a3, o, sums, ch + 24, a);
  }
  for (; ch + 8 <= c; ch += 8) {
    __m256 acc = _mm256_loadu_ps(bias + ch);
    for (ptrdiff_t i = 0; i < t.rows; i++) {
      const float *x = image + t.x + i * xs + ch, *w = weight + t.w + i * ws + ch;
      for (ptrdiff_t j = 0; j < t.cols; j++, x += ps, w += ps) acc = _mm256_fmadd_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(w), acc);
    }
    finish8(acc, o, sums, ch, a);
  }
  for (; ch < c; ch++) {
    float acc = bias[ch];
    for (ptrdiff_t i = 0; i < t.rows; i++)
      for (ptrdiff_t j = 0; j < t.cols; j++) acc += image[t.x + i * xs + j * ps + ch] * weight[t.w + i * ws + j * ps + ch];
    o[ch] = act_scalar(acc, a);
    if (sums) sums[ch] += o[ch];
  }
}

// Four neighbouring interior output columns for `nv` (1 or 2) vectors of 8 channels: each
// weight vector is loaded once for the four (as quad_avx512; the per-column path loads a
// weight for every multiply-add, which made AVX2's depthwise rows load-bound).
DX_AVX2 static inline __attribute__((always_inline)) void quad_avx2(
    int K, int S, int nv, const float *x0, const float *w0, const float *bias, ptrdiff_t rows, ptrdiff_t xs, ptrdiff_t ps,
    float *o, float *sums, dx_activation a) {
  __m256 acc[4][2];
  for (int v = 0; v < nv; v++) {
    __m256 b = _mm256_loadu_ps(bias + 8 * v);
    for (int q = 0; q < 4; q++) acc[q][v] = b;
  }
  for (ptrdiff_t i = 0; i < rows; i++) {
    const float *x = x0 + i * xs, *w = w0 + i * K * ps;
    for (int kw = 0; kw < K; kw++)
      for (int v = 0; v < nv; v++) {
        __m256 wv = _mm256_loadu_ps(w + kw * ps + 8 * v);
        for (int q = 0; q < 4; q++) acc[q][v] = _mm256_fmadd_ps(_mm256_loadu_ps(x + (q * S + kw) * ps + 8 * v), wv, acc[q][v]);
      }
  }
  // The four columns' outputs are added together before they go into the channel sums (as
  // quad_avx512).
  for (int v = 0; v < nv; v++) {
    __m256 y[4];
    for (int q = 0; q < 4; q++) {
      y[q] = act8(acc[q][v], a);
      _mm256_storeu_ps(o + q * ps + 8 * v, y[q]);
    }
    if (sums) {
      __m256 four = _mm256_add_ps(_mm256_add_ps(y[0], y[1]), _mm256_add_ps(y[2], y[3]));
      _mm256_storeu_ps(sums + 8 * v, _mm256_add_ps(_mm256_loadu_ps(sums + 8 * v), four));
    }
  }
}

// Every channel (a multiple of 8) of four interior output columns from `ow`.
DX_AVX2 static inline __attribute__((always_inline)) void quad_columns_avx2(
    int K, int S, const float *image, const float *weight, const float *bias, window t, ptrdiff_t xs, ptrdiff_t c,
    ptrdiff_t ps, float *o, float *sums, dx_activation a) {
  const float *x = image + t.x, *w = weight + t.w;
  ptrdiff_t ch = 0;
  for (; ch + 16 <= c; ch += 16) quad_avx2(K, S, 2, x + ch, w + ch, bias + ch, t.rows, xs, ps, o + ch, sums ? sums + ch : NULL, a);
  for (; ch < c; ch += 8) quad_avx2(K, S, 1, x + ch, w + ch, bias + ch, t.rows, xs, ps, o + ch, sums ? sums + ch : NULL, a);
}

// A whole output row of a map at most 7 wide (stride 1, 'same' padding), 8 channels at a
// time: per kernel row, each input column and each weight vector is loaded once and kept in
// registers (7 accumulators, 7 columns, 1 weight). On such a map nearly every window is cut by
// an edge, so the four-column kernel never ran, and the per-column path loaded a weight for
// every multiply-add (B0's and Lite0's last stages at 224: 7 x 7 with 5 x 5 taps, the largest
// single layer of Lite0 at batch 16). Taps are summed in the same order as the other paths.
DX_AVX2 static inline __attribute__((always_inline)) void narrow_row_avx2(
    int K, int W, const float *image, ptrdiff_t oh, float *out, const float *weight, const float *bias, dx_activation a,
    float *sums, const dx_depthwise_shape *g) {
  ptrdiff_t ps = g->pixel_stride, xs = g->in_width * ps, c = g->channels, top = oh - g->pad_top;
  ptrdiff_t kh0 = top < 0 ? -top : 0, kh1 = g->in_height - top < K ? g->in_height - top : K;
  for (ptrdiff_t ch = 0; ch < c; ch += 8) {
    __m256 acc[7], x[7];
    __m256 b = _mm256_loadu_ps(bias + ch);
    for (int q = 0; q < W; q++) acc[q] = b;
    for (ptrdiff_t kh = kh0; kh < kh1; kh++) {
      const float *row = image + (top + kh) * xs + ch, *w = weight + kh * K * ps + ch;
      for (int col = 0; col < W; col++) x[col] = _mm256_loadu_ps(row + col * ps);
      for (int kw = 0; kw < K; kw++) {
        __m256 wv = _mm256_loadu_ps(w + kw * ps);
        for (int q = 0; q < W; q++) {
          int col = q - K / 2 + kw;
          if (col >= 0 && col < W) acc[q] = _mm256_fmadd_ps(x[col], wv, acc[q]);
        }
      }
    }
    for (int q = 0; q < W; q++) finish8(acc[q], out + q * ps, sums, ch, a);
  }
}

DX_AVX2 static void row_avx2(const float *image, ptrdiff_t oh, float *out, const float *weight, const float *bias, dx_activation a, float *sums, const dx_depthwise_shape *g) {
  ptrdiff_t c = g->channels, ps = g->pixel_stride, xs = g->in_width * ps, ws = g->kernel * ps, k = g->kernel, s = g->stride;
  ptrdiff_t inner0, inner1;
  interior_columns(g, &inner0, &inner1);
  int quads = (k == 3 || k == 5) && (s == 1 || s == 2) && c % 8 == 0;
  if (quads && s == 1 && g->pad_left == k / 2 && g->in_width == g->out_width && g->out_width >= 5 && g->out_width <= 7) {
    switch (k * 10 + g->out_width) {
    case 35: narrow_row_avx2(3, 5, image, oh, out, weight, bias, a, sums, g); return;
    case 36: narrow_row_avx2(3, 6, image, oh, out, weight, bias, a, sums, g); return;
    case 37: narrow_row_avx2(3, 7, image, oh, out, weight, bias, a, sums, g); return;
    case 55: narrow_row_avx2(5, 5, image, oh, out, weight, bias, a, sums, g); return;
    case 56: narrow_row_avx2(5, 6, image, oh, out, weight, bias, a, sums, g); return;
    case 57: narrow_row_avx2(5, 7, image, oh, out, weight, bias, a, sums, g); return;
    }
  }
  for (ptrdiff_t ow = 0; ow < g->out_width;) {
    window t = taps(oh, ow, g);
    float *o = out + ow * ps;
    if (quads && ow >= inner0 && ow + 4 <= inner1) {
      switch (k * 10 + s) {
      case 31: quad_columns_avx2(3, 1, image, weight, bias, t, xs, c, ps, o, sums, a); break;
      case 32: quad_columns_avx2(3, 2, image, weight, bias, t, xs, c, ps, o, sums, a); break;
      case 51: quad_columns_avx2(5, 1, image, weight, bias, t, xs, c, ps, o, sums, a); break;
      case 52: quad_columns_avx2(5, 2, image, weight, bias, t, xs, c, ps, o, sums, a); break;
      }
      ow += 4;
      continue;
    }
    column_avx2(image, weight, bias, t, xs, ws, ps, c, o, sums, a);
    ow++;
  }
}

#endif

void dx_depthwise_row(const float *image, ptrdiff_t oh, float *out, const float *weight, const float *bias, dx_activation a, float *sums, const dx_depthwise_shape *g) {
#if defined(__x86_64__)
  switch (dx_kernel_isa()) {
  case 2: row_avx512(image, oh, out, weight, bias, a, sums, g); return;
  case 1: row_avx2(image, oh, out, weight, bias, a, sums, g); return;
  }
#endif
  row_scalar(image, oh, out, weight, bias, a, sums, g);
}

// ---- Weight gradient: for each tap, a dot product over the row's output columns per channel ----

// Output columns [*ow0, *ow1) whose tap `kw` lands inside the image row.
static inline void tap_columns(ptrdiff_t kw, const dx_depthwise_shape *g, ptrdiff_t *ow0, ptrdiff_t *ow1) {
  ptrdiff_t s = g->stride;
  ptrdiff_t lo = g->pad_left - kw > 0 ? (g->pad_left - kw + s - 1) / s : 0;
  ptrdiff_t hi = (g->in_width + g->pad_left - kw + s - 1) / s;
  *ow0 = lo;
  *ow1 = hi < g->out_width ? hi : g->out_width;
}

// One tap's share: w[ch] += sum_i x[i * xstep + ch] * dy[i * ps + ch] for ch in [0, c).
typedef void (*tap_sum)(const float *x, const float *dy, ptrdiff_t n, ptrdiff_t xstep, ptrdiff_t ps, ptrdiff_t c, float *w);

static void tap_scalar(const float *x, const float *dy, ptrdiff_t n, ptrdiff_t xstep, ptrdiff_t ps, ptrdiff_t c, float *w) {
  for (ptrdiff_t ch = 0; ch < c; ch++) {
    float sum = 0;
    for (ptrdiff_t i = 0; i < n; i++) sum += x[i * xstep + ch] * dy[i * ps + ch];
    w[ch] += sum;
  }
}

#if defined(__x86_64__)

// `nv` (1 or 4) vectors of 16 channels, the last one's lanes limited by `last`.
DX_AVX512 static inline __attribute__((always_inline)) void tap_block_avx512(
    int nv, __mmask16 last, const float *x, const float *dy, ptrdiff_t n, ptrdiff_t xstep, ptrdiff_t ps, float *w) {
  __m512 acc[4];
  for (int v = 0; v < nv; v++) acc[v] = _mm512_setzero_ps();
  for (ptrdiff_t i = 0; i < n; i++, x += xstep, dy += ps)
    for (int v = 0; v < nv; v++) {
      __mmask16 m = v == nv - 1 ? last : 0xFFFF;
      acc[v] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + 16 * v), _mm512_maskz_loadu_ps(m, dy + 16 * v), acc[v]);
    }
  for (int v = 0; v < nv; v++) {
    __mmask16 m = v == nv - 1 ? last : 0xFFFF;
    _mm512_mask_storeu_ps(w + 16 * v, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, w + 16 * v), acc[v]));
  }
}

DX_AVX512 static void tap_avx512(const float *x, const float *dy, ptrdiff_t n, ptrdiff_t xstep, ptrdiff_t ps, ptrdiff_t c, float *w) {
  ptrdiff_t ch = 0;
  for (; ch + 64 <= c; ch += 64) tap_block_avx512(4, 0xFFFF, x + ch, dy + ch, n, xstep, ps, w + ch);
  for (; ch + 16 <= c; ch += 16) tap_block_avx512(1, 0xFFFF, x + ch, dy + ch, n, xstep, ps, w + ch);
  if (ch < c) tap_block_avx512(1, (__mmask16)((1u << (c - ch)) - 1), x + ch, dy + ch, n, xstep, ps, w + ch);
}

// `nv` (1 or 4) vectors of 8 channels.
DX_AVX2 static inline __attribute__((always_inline)) void tap_block_avx2(
    int nv, const float *x, const float *dy, ptrdiff_t n, ptrdiff_t xstep, ptrdiff_t ps, float *w) {
  __m256 acc[4];
  for (int v = 0; v < nv; v++) acc[v] = _mm256_setzero_ps();
  for (ptrdiff_t i = 0; i < n; i++, x += xstep, dy += ps)
    for (int v = 0; v < nv; v++) acc[v] = _mm256_fmadd_ps(_mm256_loadu_ps(x + 8 * v), _mm256_loadu_ps(dy + 8 * v), acc[v]);
  for (int v = 0; v < nv; v++) _mm256_storeu_ps(w + 8 * v, _mm256_add_ps(_mm256_loadu_ps(w + 8 * v), acc[v]));
}

DX_AVX2 static void tap_avx2(const float *x, const float *dy, ptrdiff_t n, ptrdiff_t xstep, ptrdiff_t ps, ptrdiff_t c, float *w) {
  ptrdiff_t ch = 0;
  for (; ch + 32 <= c; ch += 32) tap_block_avx2(4, x + ch, dy + ch, n, xstep, ps, w + ch);
  for (; ch + 8 <= c; ch += 8) tap_block_avx2(1, x + ch, dy + ch, n, xstep, ps, w + ch);
  tap_scalar(x + ch, dy + ch, n, xstep, ps, c - ch, w + ch);
}

#endif

// For each tap inside the image, the output columns it reaches, summed over by `tap`.
void dx_depthwise_weight_grad_row(const float *image, ptrdiff_t oh, const float *dy, float *wg, const dx_depthwise_shape *g) {
  tap_sum tap = tap_scalar;
#if defined(__x86_64__)
  switch (dx_kernel_isa()) {
  case 2: tap = tap_avx512; break;
  case 1: tap = tap_avx2; break;
  }
#endif
  ptrdiff_t k = g->kernel, ps = g->pixel_stride, s = g->stride;
  for (ptrdiff_t kh = 0; kh < k; kh++) {
    ptrdiff_t ih = oh * s - g->pad_top + kh;
    if (ih < 0 || ih >= g->in_height) continue;
    for (ptrdiff_t kw = 0; kw < k; kw++) {
      ptrdiff_t ow0, ow1;
      tap_columns(kw, g, &ow0, &ow1);
      if (ow0 >= ow1) continue;
      tap(image + (ih * g->in_width + ow0 * s - g->pad_left + kw) * ps, dy + ow0 * ps, ow1 - ow0, s * ps, ps,
          g->channels, wg + (kh * k + kw) * ps);
    }
  }
}
