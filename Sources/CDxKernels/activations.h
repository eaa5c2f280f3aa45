// Private to CDxKernels: e^x and the activations, once per instruction set, for the kernels'
// epilogues.
//
// SiLU is x / (1 + e^-x). e^x is the same range reduction and degree-6 polynomial as
// DxTensor's `fastExp` (relative error below 2e-7; AVX2 has its own, see exp_neg8); the division is a reciprocal estimate
// refined by one Newton step (below 1e-7 with AVX-512's 14-bit estimate, 3e-7 with AVX2's
// 12-bit one), which is several times cheaper than a vector division. e^-x's argument is
// clamped at 88, so below -88 SiLU is x / (1 + e^88), within 1e-38 |x| of zero.
#ifndef DX_ACTIVATIONS_H
#define DX_ACTIVATIONS_H

#include "DxKernels.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define DX_AVX512 __attribute__((target("avx512f")))
#define DX_AVX2 __attribute__((target("avx2,fma")))
#endif

static inline float exp_scalar(float x) {
  float c = fminf(fmaxf(x, -87.0f), 88.0f);
  float t = c * 1.44269504f + 12582912.0f;
  float k = t - 12582912.0f;
  float r = c - k * 0.69314575f - k * 1.4286068e-6f;
  float p = 1 + r * (1 + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
  unsigned bits;
  memcpy(&bits, &t, 4);
  bits = ((bits - 0x4B400000u) + 127u) << 23;
  float scale;
  memcpy(&scale, &bits, 4);
  return p * scale;
}

// act'(v) * dy.
static inline float act_grad_scalar(float v, float dy, dx_activation a) {
  switch (a) {
  case DX_ACT_SILU: {
    float s = 1 / (1 + exp_scalar(-v));
    return dy * s * (1 + v * (1 - s));
  }
  case DX_ACT_RELU6: return v > 0 && v < 6 ? dy : 0;
  default: return dy;
  }
}

static inline float act_scalar(float x, dx_activation a) {
  switch (a) {
  case DX_ACT_SILU: return x / (1 + exp_scalar(-x));
  case DX_ACT_RELU6: return fminf(fmaxf(x, 0), 6);
  default: return x;
  }
}

#if defined(__x86_64__)

// ---- AVX-512: 16 lanes, masked tails ----

// e^-x for x in [-88, 88]: exp_scalar's reduction and polynomial with the negation folded
// into the reduction and the scaling by 2^k done by vscalefps (12 operations instead of 14
// and a negation: this is most of SiLU's cost).
DX_AVX512 static inline __m512 exp_neg16(__m512 x) {
  __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(-1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmsub_ps(k, _mm512_set1_ps(0.69314575f), x);  // -x - k ln2 (high part)
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.4286068e-6f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, k);
}

// 1 / (1 + e^-x), with the reciprocal estimate and one Newton step. x is clamped to [-88, 88]:
// e^88 is finite, so the Newton step never meets infinity times zero, and past 88 the
// reduction would lose its precision (at 1e30 its remainder is huge).
DX_AVX512 static inline __m512 sigmoid16(__m512 x) {
  __m512 c = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-88.0f)), _mm512_set1_ps(88.0f));
  __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), exp_neg16(c));
  __m512 inv = _mm512_rcp14_ps(d);
  return _mm512_fmadd_ps(_mm512_fnmadd_ps(d, inv, _mm512_set1_ps(1.0f)), inv, inv);
}

DX_AVX512 static inline __m512 act_grad16(__m512 v, __m512 dy, dx_activation a) {
  if (a == DX_ACT_SILU) {
    __m512 s = sigmoid16(v);
    // s * (1 + v * (1 - s)) = s + v * (s - s^2)
    __m512 d = _mm512_fmadd_ps(v, _mm512_fnmadd_ps(s, s, s), s);
    return _mm512_mul_ps(dy, d);
  }
  if (a == DX_ACT_RELU6) {
    __mmask16 inside = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ) & _mm512_cmp_ps_mask(v, _mm512_set1_ps(6.0f), _CMP_LT_OQ);
    return _mm512_maskz_mov_ps(inside, dy);
  }
  return dy;
}

DX_AVX512 static inline __m512 act16(__m512 x, dx_activation a) {
  if (a == DX_ACT_SILU) return _mm512_mul_ps(x, sigmoid16(x));
  if (a == DX_ACT_RELU6) return _mm512_min_ps(_mm512_max_ps(x, _mm512_setzero_ps()), _mm512_set1_ps(6.0f));
  return x;
}

// ---- AVX2 + FMA: 8 lanes, scalar tails ----

// e^-x for x in [-88, 87], the AVX2 way (no vscalefps): k = round(-x / ln 2) by the
// 1.5 * 2^23 trick, which leaves k in the low bits of t; r = -x - k ln 2 in one step (ln 2 in
// float is 2e-9 off, at most 2.5e-7 of r at |k| = 126, where SiLU is x or 0 to 1e-36); e^r by
// a degree-5 minimax polynomial on [-ln2/2, ln2/2] (relative error 8e-8, against the degree-6
// Taylor polynomial's 1.3e-7); and 2^k added into the exponent field (t << 23 is k << 23).
// With the clamp, 12 operations where the negation, clamp and general e^x took 16: SiLU's cost on the early stages
// is as large as the product's.
DX_AVX2 static inline __m256 exp_neg8(__m256 x) {
  __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(-1.44269504f), _mm256_set1_ps(12582912.0f));
  __m256 k = _mm256_sub_ps(t, _mm256_set1_ps(12582912.0f));
  __m256 r = _mm256_fnmsub_ps(k, _mm256_set1_ps(0.693147182f), x);
  __m256 p = _mm256_set1_ps(0.0082976548f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.041915383f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.16667575f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.49998894f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.99999970f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0000001f));
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), _mm256_slli_epi32(_mm256_castps_si256(t), 23)));
}

// 1 / (1 + e^-x) with the reciprocal estimate and one Newton step; x clamped to [-88, 87]
// (past them SiLU is x or 0 within 1e-36 |x|, and the reduction above stays exact).
DX_AVX2 static inline __m256 sigmoid8(__m256 x) {
  __m256 c = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-88.0f)), _mm256_set1_ps(87.0f));
  __m256 d = _mm256_add_ps(_mm256_set1_ps(1.0f), exp_neg8(c));
  __m256 inv = _mm256_rcp_ps(d);
  return _mm256_fmadd_ps(_mm256_fnmadd_ps(d, inv, _mm256_set1_ps(1.0f)), inv, inv);
}

DX_AVX2 static inline __m256 act_grad8(__m256 v, __m256 dy, dx_activation a) {
  if (a == DX_ACT_SILU) {
    __m256 s = sigmoid8(v);
    __m256 d = _mm256_fmadd_ps(v, _mm256_fnmadd_ps(s, s, s), s);
    return _mm256_mul_ps(dy, d);
  }
  if (a == DX_ACT_RELU6) {
    __m256 inside = _mm256_and_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_cmp_ps(v, _mm256_set1_ps(6.0f), _CMP_LT_OQ));
    return _mm256_and_ps(inside, dy);
  }
  return dy;
}

DX_AVX2 static inline __m256 act8(__m256 x, dx_activation a) {
  if (a == DX_ACT_SILU) return _mm256_mul_ps(x, sigmoid8(x));
  if (a == DX_ACT_RELU6) return _mm256_min_ps(_mm256_max_ps(x, _mm256_setzero_ps()), _mm256_set1_ps(6.0f));
  return x;
}

#endif

#endif
