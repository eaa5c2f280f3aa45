// Bias, activation and channel sums over the output rows of a convolution (see DxKernels.h).
#include "activations.h"

static void rows_scalar(float *v, ptrdiff_t rows, ptrdiff_t n, ptrdiff_t ld, const float *bias, dx_activation a, float *sums) {
  for (ptrdiff_t r = 0; r < rows; r++) {
    float *o = v + r * ld;
    for (ptrdiff_t j = 0; j < n; j++) {
      float x = act_scalar(bias ? o[j] + bias[j] : o[j], a);
      o[j] = x;
      if (sums) sums[j] += x;
    }
  }
}

#if defined(__x86_64__)

// ---- AVX-512: 16 lanes, masked tails ----

DX_AVX512 static void rows_avx512(float *v, ptrdiff_t rows, ptrdiff_t n, ptrdiff_t ld, const float *bias, dx_activation a, float *sums) {
  for (ptrdiff_t r = 0; r < rows; r++) {
    float *o = v + r * ld;
    for (ptrdiff_t j = 0; j < n; j += 16) {
      __mmask16 m = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
      __m512 x = _mm512_maskz_loadu_ps(m, o + j);
      if (bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, bias + j));
      x = act16(x, a);
      _mm512_mask_storeu_ps(o + j, m, x);
      if (sums) _mm512_mask_storeu_ps(sums + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, sums + j), x));
    }
  }
}

// ---- AVX2 + FMA: 8 lanes, scalar tails ----

DX_AVX2 static void rows_avx2(float *v, ptrdiff_t rows, ptrdiff_t n, ptrdiff_t ld, const float *bias, dx_activation a, float *sums) {
  for (ptrdiff_t r = 0; r < rows; r++) {
    float *o = v + r * ld;
    ptrdiff_t j = 0;
    for (; j + 8 <= n; j += 8) {
      __m256 x = _mm256_loadu_ps(o + j);
      if (bias) x = _mm256_add_ps(x, _mm256_loadu_ps(bias + j));
      x = act8(x, a);
      _mm256_storeu_ps(o + j, x);
      if (sums) _mm256_storeu_ps(sums + j, _mm256_add_ps(_mm256_loadu_ps(sums + j), x));
    }
    for (; j < n; j++) {
      float x = act_scalar(bias ? o[j] + bias[j] : o[j], a);
      o[j] = x;
      if (sums) sums[j] += x;
    }
  }
}

#endif

void dx_bias_activation(float *v, ptrdiff_t rows, ptrdiff_t n, ptrdiff_t ld, const float *bias, dx_activation a, float *sums) {
#if defined(__x86_64__)
  switch (dx_kernel_isa()) {
  case 2: rows_avx512(v, rows, n, ld, bias, a, sums); return;
  case 1: rows_avx2(v, rows, n, ld, bias, a, sums); return;
  }
#endif
  rows_scalar(v, rows, n, ld, bias, a, sums);
}
