// BatchNorm's elementwise passes in training, with the activation after it (see DxKernels.h):
// the affine map + activation forward, and the first backward pass (act' times dy and the two
// channel sums). SiLU's exponential and reciprocal make these compute-bound on AVX2; AVX-512
// and the reciprocal estimate bring them near the memory's speed.
#include "flat_walk.h"

// Channels [j0, c) one value at a time: the portable path, and the vector paths' tails.
static void apply_scalar(const float *x, float *y, ptrdiff_t rows, ptrdiff_t c, ptrdiff_t j0, const float *scale, const float *shift, dx_activation a) {
  for (ptrdiff_t r = 0; r < rows; r++)
    for (ptrdiff_t j = j0; j < c; j++) y[r * c + j] = act_scalar(x[r * c + j] * scale[j] + shift[j], a);
}

static void sums_scalar(const float *x, const float *dy, float *g_out, ptrdiff_t rows, ptrdiff_t c, ptrdiff_t j0, const float *mean, const float *inv_std, const float *gamma, const float *beta, dx_activation a, float *sum_g, float *sum_gx) {
  for (ptrdiff_t r = 0; r < rows; r++) {
    for (ptrdiff_t j = j0; j < c; j++) {
      ptrdiff_t i = r * c + j;
      float xhat = (x[i] - mean[j]) * inv_std[j];
      float g = act_grad_scalar(xhat * gamma[j] + beta[j], dy[i], a);
      if (a != DX_ACT_NONE) g_out[i] = g;
      sum_g[j] += g;
      sum_gx[j] += g * xhat;
    }
  }
}

static void moments_scalar(const float *x, ptrdiff_t rows, ptrdiff_t c, ptrdiff_t j0, const float *shift, float *s1, float *s2) {
  for (ptrdiff_t r = 0; r < rows; r++)
    for (ptrdiff_t j = j0; j < c; j++) {
      float d = x[r * c + j] - shift[j];
      s1[j] += d;
      s2[j] += d * d;
    }
}

static void input_grad_scalar(const float *x, const float *g, float *dx, ptrdiff_t rows, ptrdiff_t c, ptrdiff_t j0, const float *mean, const float *inv_std, const float *k1, const float *k2, const float *k3) {
  for (ptrdiff_t r = 0; r < rows; r++)
    for (ptrdiff_t j = j0; j < c; j++) {
      ptrdiff_t i = r * c + j;
      float xhat = (x[i] - mean[j]) * inv_std[j];
      dx[i] = k1[j] * (g[i] - k2[j] - xhat * k3[j]);
    }
}

#if defined(__x86_64__)

// Rows outer (each row's constants come from L1): g and dx may be the same buffer.
DX_AVX512 static void input_grad_avx512(const float *x, const float *g, float *dx, ptrdiff_t rows, ptrdiff_t c, const float *mean, const float *inv_std, const float *k1, const float *k2, const float *k3) {
  for (ptrdiff_t r = 0; r < rows; r++)
    for (ptrdiff_t j = 0; j < c; j += 16) {
      __mmask16 m = c - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (c - j)) - 1);
      ptrdiff_t i = r * c + j;
      __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, mean + j)), _mm512_maskz_loadu_ps(m, inv_std + j));
      __m512 t = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, k2 + j));
      t = _mm512_fnmadd_ps(xhat, _mm512_maskz_loadu_ps(m, k3 + j), t);
      _mm512_mask_storeu_ps(dx + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, k1 + j), t));
    }
}

// Flat (see flat_walk.h): the constants periodic; g and dx may be the same buffer.
DX_AVX512 static void input_grad_flat_avx512(const float *x, const float *g, float *dx, ptrdiff_t n, ptrdiff_t c, const float *mean, const float *inv_std, const float *k1, const float *k2, const float *k3, int stream) {
  ptrdiff_t j = 0;
  for (ptrdiff_t i = 0, len; i < n; i += len) {
    len = flat_step_length(dx, i, n);
    __mmask16 m = flat_mask(len);
    __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_loadu_ps(mean + j)), _mm512_loadu_ps(inv_std + j));
    __m512 t = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, g + i), _mm512_loadu_ps(k2 + j));
    t = _mm512_fnmadd_ps(xhat, _mm512_loadu_ps(k3 + j), t);
    flat_store(dx + i, m, len, _mm512_mul_ps(_mm512_loadu_ps(k1 + j), t), stream);
    j += len;
    if (j >= c) j -= c;
  }
  if (stream) _mm_sfence();
}

DX_AVX2 static void input_grad_avx2(const float *x, const float *g, float *dx, ptrdiff_t rows, ptrdiff_t c, const float *mean, const float *inv_std, const float *k1, const float *k2, const float *k3) {
  ptrdiff_t c8 = c / 8 * 8;
  for (ptrdiff_t r = 0; r < rows; r++)
    for (ptrdiff_t j = 0; j < c8; j += 8) {
      ptrdiff_t i = r * c + j;
      __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(mean + j)), _mm256_loadu_ps(inv_std + j));
      __m256 t = _mm256_sub_ps(_mm256_loadu_ps(g + i), _mm256_loadu_ps(k2 + j));
      t = _mm256_fnmadd_ps(xhat, _mm256_loadu_ps(k3 + j), t);
      _mm256_storeu_ps(dx + i, _mm256_mul_ps(_mm256_loadu_ps(k1 + j), t));
    }
  input_grad_scalar(x, g, dx, rows, c, c8, mean, inv_std, k1, k2, k3);
}

DX_AVX512 static void moments_avx512(const float *x, ptrdiff_t rows, ptrdiff_t c, const float *shift, float *s1, float *s2) {
  for (ptrdiff_t j = 0; j < c; j += 16) {
    __mmask16 m = c - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (c - j)) - 1);
    __m512 k = _mm512_maskz_loadu_ps(m, shift + j), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps();
    for (ptrdiff_t r = 0; r < rows; r++) {
      __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + r * c + j), k);
      a1 = _mm512_add_ps(a1, d);
      a2 = _mm512_fmadd_ps(d, d, a2);
    }
    _mm512_mask_storeu_ps(s1 + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, s1 + j), a1));
    _mm512_mask_storeu_ps(s2 + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, s2 + j), a2));
  }
}

DX_AVX2 static void moments_avx2(const float *x, ptrdiff_t rows, ptrdiff_t c, const float *shift, float *s1, float *s2) {
  ptrdiff_t j = 0;
  for (; j + 8 <= c; j += 8) {
    __m256 k = _mm256_loadu_ps(shift + j), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps();
    for (ptrdiff_t r = 0; r < rows; r++) {
      __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + r * c + j), k);
      a1 = _mm256_add_ps(a1, d);
      a2 = _mm256_fmadd_ps(d, d, a2);
    }
    _mm256_storeu_ps(s1 + j, _mm256_add_ps(_mm256_loadu_ps(s1 + j), a1));
    _mm256_storeu_ps(s2 + j, _mm256_add_ps(_mm256_loadu_ps(s2 + j), a2));
  }
  moments_scalar(x, rows, c, j, shift, s1, s2);
}

DX_AVX512 static void apply_avx512(const float *x, float *y, ptrdiff_t rows, ptrdiff_t c, const float *scale, const float *shift, dx_activation a) {
  for (ptrdiff_t r = 0; r < rows; r++)
    for (ptrdiff_t j = 0; j < c; j += 16) {
      __mmask16 m = c - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (c - j)) - 1);
      __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + r * c + j), _mm512_maskz_loadu_ps(m, scale + j), _mm512_maskz_loadu_ps(m, shift + j));
      _mm512_mask_storeu_ps(y + r * c + j, m, act16(v, a));
    }
}

DX_AVX512 static void sums_by_channel_avx512(const float *x, const float *dy, float *g_out, ptrdiff_t rows, ptrdiff_t c, const float *mean, const float *inv_std, const float *gamma, const float *beta, dx_activation a, float *sum_g, float *sum_gx) {
  // Channel block outer, rows inner: the per-channel constants and sums stay in registers.
  for (ptrdiff_t j = 0; j < c; j += 16) {
    __mmask16 m = c - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (c - j)) - 1);
    __m512 mu = _mm512_maskz_loadu_ps(m, mean + j), is = _mm512_maskz_loadu_ps(m, inv_std + j);
    __m512 ga = _mm512_maskz_loadu_ps(m, gamma + j), be = _mm512_maskz_loadu_ps(m, beta + j);
    __m512 sg = _mm512_setzero_ps(), sgx = _mm512_setzero_ps();
    for (ptrdiff_t r = 0; r < rows; r++) {
      ptrdiff_t i = r * c + j;
      __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mu), is);
      __m512 g = act_grad16(_mm512_fmadd_ps(xhat, ga, be), _mm512_maskz_loadu_ps(m, dy + i), a);
      if (a != DX_ACT_NONE) _mm512_mask_storeu_ps(g_out + i, m, g);
      sg = _mm512_add_ps(sg, g);
      sgx = _mm512_fmadd_ps(g, xhat, sgx);
    }
    _mm512_mask_storeu_ps(sum_g + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, sum_g + j), sg));
    _mm512_mask_storeu_ps(sum_gx + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, sum_gx + j), sgx));
  }
}

DX_AVX512 static void sums_by_row_avx512(const float *x, const float *dy, float *g_out, ptrdiff_t rows, ptrdiff_t c, const float *mean, const float *inv_std, const float *gamma, const float *beta, dx_activation a, float *sum_g, float *sum_gx) {
  for (ptrdiff_t r = 0; r < rows; r++)
    for (ptrdiff_t j = 0; j < c; j += 16) {
      __mmask16 m = c - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (c - j)) - 1);
      ptrdiff_t i = r * c + j;
      __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, mean + j)), _mm512_maskz_loadu_ps(m, inv_std + j));
      __m512 v = _mm512_fmadd_ps(xhat, _mm512_maskz_loadu_ps(m, gamma + j), _mm512_maskz_loadu_ps(m, beta + j));
      __m512 g = act_grad16(v, _mm512_maskz_loadu_ps(m, dy + i), a);
      if (a != DX_ACT_NONE) _mm512_mask_storeu_ps(g_out + i, m, g);
      _mm512_mask_storeu_ps(sum_g + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, sum_g + j), g));
      _mm512_mask_storeu_ps(sum_gx + j, m, _mm512_fmadd_ps(g, xhat, _mm512_maskz_loadu_ps(m, sum_gx + j)));
    }
}

// Few channels: the sums stay in registers, rows inner. Many: rows outer, the sums in L1, so the
// three maps stream in order; their updates through memory are then independent chains (with
// one or two channel blocks they would serialise: 1.4x slower than registers at 16 channels,
// 2x faster at 480 channels in a one-thread micro-benchmark).
DX_AVX512 static void sums_avx512(const float *x, const float *dy, float *g_out, ptrdiff_t rows, ptrdiff_t c, const float *mean, const float *inv_std, const float *gamma, const float *beta, dx_activation a, float *sum_g, float *sum_gx) {
  if (c <= 64) sums_by_channel_avx512(x, dy, g_out, rows, c, mean, inv_std, gamma, beta, a, sum_g, sum_gx);
  else sums_by_row_avx512(x, dy, g_out, rows, c, mean, inv_std, gamma, beta, a, sum_g, sum_gx);
}

DX_AVX2 static void apply_avx2(const float *x, float *y, ptrdiff_t rows, ptrdiff_t c, const float *scale, const float *shift, dx_activation a) {
  ptrdiff_t j = 0;
  for (; j + 8 <= c; j += 8) {
    __m256 sc = _mm256_loadu_ps(scale + j), sh = _mm256_loadu_ps(shift + j);
    for (ptrdiff_t r = 0; r < rows; r++)
      _mm256_storeu_ps(y + r * c + j, act8(_mm256_fmadd_ps(_mm256_loadu_ps(x + r * c + j), sc, sh), a));
  }
  apply_scalar(x, y, rows, c, j, scale, shift, a);
}

DX_AVX2 static void sums_avx2(const float *x, const float *dy, float *g_out, ptrdiff_t rows, ptrdiff_t c, const float *mean, const float *inv_std, const float *gamma, const float *beta, dx_activation a, float *sum_g, float *sum_gx) {
  ptrdiff_t j = 0;
  for (; j + 8 <= c; j += 8) {
    __m256 mu = _mm256_loadu_ps(mean + j), is = _mm256_loadu_ps(inv_std + j);
    __m256 ga = _mm256_loadu_ps(gamma + j), be = _mm256_loadu_ps(beta + j);
    __m256 sg = _mm256_setzero_ps(), sgx = _mm256_setzero_ps();
    for (ptrdiff_t r = 0; r < rows; r++) {
      ptrdiff_t i = r * c + j;
      __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mu), is);
      __m256 g = act_grad8(_mm256_fmadd_ps(xhat, ga, be), _mm256_loadu_ps(dy + i), a);
      if (a != DX_ACT_NONE) _mm256_storeu_ps(g_out + i, g);
      sg = _mm256_add_ps(sg, g);
      sgx = _mm256_fmadd_ps(g, xhat, sgx);
    }
    _mm256_storeu_ps(sum_g + j, _mm256_add_ps(_mm256_loadu_ps(sum_g + j), sg));
    _mm256_storeu_ps(sum_gx + j, _mm256_add_ps(_mm256_loadu_ps(sum_gx + j), sgx));
  }
  sums_scalar(x, dy, g_out, rows, c, j, mean, inv_std, gamma, beta, a, sum_g, sum_gx);
}

#endif

// Rows per block of the apply pass: the AVX2 and scalar paths walk a block once per 8 channels,
// so a block must stay in L1/L2 between those walks; walking the whole map once per channel
// block instead fetched each cache line from memory several times (7.8 GB/s on B0's training).
enum { APPLY_BLOCK_ROWS = 32 };

void dx_scale_shift_activation(const float *x, float *y, ptrdiff_t rows, ptrdiff_t c, const float *scale, const float *shift, dx_activation a, int stream) {
  if (flat_affine_act(x, y, rows, c, scale, shift, a, stream)) return;
  for (ptrdiff_t r = 0; r < rows; r += APPLY_BLOCK_ROWS) {
    ptrdiff_t n = rows - r < APPLY_BLOCK_ROWS ? rows - r : APPLY_BLOCK_ROWS;
    const float *xb = x + r * c;
    float *yb = y + r * c;
#if defined(__x86_64__)
    switch (dx_kernel_isa()) {
    case 2: apply_avx512(xb, yb, n, c, scale, shift, a); continue;
    case 1: apply_avx2(xb, yb, n, c, scale, shift, a); continue;
    }
#endif
    apply_scalar(xb, yb, n, c, 0, scale, shift, a);
  }
}

void dx_batchnorm_activation_sums(const float *x, const float *dy, float *g_out, ptrdiff_t rows, ptrdiff_t c, const float *mean, const float *inv_std, const float *gamma, const float *beta, dx_activation a, float *sum_g, float *sum_gx) {
#if defined(__x86_64__)
  switch (dx_kernel_isa()) {
  case 2: sums_avx512(x, dy, g_out, rows, c, mean, inv_std, gamma, beta, a, sum_g, sum_gx); return;
  case 1: sums_avx2(x, dy, g_out, rows, c, mean, inv_std, gamma, beta, a, sum_g, sum_gx); return;
  }
#endif
  sums_scalar(x, dy, g_out, rows, c, 0, mean, inv_std, gamma, beta, a, sum_g, sum_gx);
}

void dx_shifted_moments(const float *x, ptrdiff_t rows, ptrdiff_t c, const float *shift, float *s1, float *s2) {
#if defined(__x86_64__)
  switch (dx_kernel_isa()) {
  case 2: moments_avx512(x, rows, c, shift, s1, s2); return;
  case 1: moments_avx2(x, rows, c, shift, s1, s2); return;
  }
#endif
  moments_scalar(x, rows, c, 0, shift, s1, s2);
}

void dx_batchnorm_input_grad(const float *x, const float *g, float *dx, ptrdiff_t rows, ptrdiff_t c, const float *mean, const float *inv_std, const float *k1, const float *k2, const float *k3, int stream) {
#if defined(__x86_64__)
  if (dx_kernel_isa() == 2 && c >= 16 && c <= FLAT_MAX_CHANNELS) {
    float e[5][c + 16];
    periodic_constants(mean, c, e[0]);
    periodic_constants(inv_std, c, e[1]);
    periodic_constants(k1, c, e[2]);
    periodic_constants(k2, c, e[3]);
    periodic_constants(k3, c, e[4]);
    input_grad_flat_avx512(x, g, dx, rows * c, c, e[0], e[1], e[2], e[3], e[4], stream);
    return;
  }
  switch (dx_kernel_isa()) {
  case 2: input_grad_avx512(x, g, dx, rows, c, mean, inv_std, k1, k2, k3); return;
  case 1: input_grad_avx2(x, g, dx, rows, c, mean, inv_std, k1, k2, k3); return;
  }
#endif
  input_grad_scalar(x, g, dx, rows, c, 0, mean, inv_std, k1, k2, k3);
}
