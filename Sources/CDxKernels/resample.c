// The horizontal pass of the image resampler for interleaved RGB Floats (see
// DxImaging/Operations/WindowResampler.swift): each output pixel is a short weighted sum of
// neighbouring input pixels, its three channels in the first three lanes of one SSE vector.
//
// Plain SSE (every x86-64 has it) and no FMA: each lane is summed, multiplied and rounded
// exactly as the Swift loop it replaces, so the values are the same bit for bit (the tests
// compare with the Float reference resampler).

#include "DxKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

void dx_resample_row_rgb(const float *row, ptrdiff_t outputs, const ptrdiff_t *first, const ptrdiff_t *count,
                         const float *weights, ptrdiff_t stride, float levels, float *out) {
  const __m128 lv = _mm_set1_ps(levels), zero = _mm_setzero_ps(), half = _mm_set1_ps(0.5f), one = _mm_set1_ps(1.0f);
  for (ptrdiff_t x = 0; x < outputs; x++) {
    const float *p = row + first[x] * 3, *w = weights + x * stride;
    __m128 sum = _mm_setzero_ps();
    for (ptrdiff_t j = 0; j < count[x]; j++) sum = _mm_add_ps(sum, _mm_mul_ps(_mm_loadu_ps(p + 3 * j), _mm_set1_ps(w[j])));
    // Rounded to the source's levels between the passes, as Pillow does: clamp, truncate,
    // round half up, back to 0...1.
    __m128 v = _mm_max_ps(_mm_min_ps(_mm_mul_ps(sum, lv), lv), zero);
    __m128 whole = _mm_cvtepi32_ps(_mm_cvttps_epi32(v));
    __m128 up = _mm_and_ps(_mm_cmpge_ps(_mm_sub_ps(v, whole), half), one);
    __m128 level = _mm_div_ps(_mm_add_ps(whole, up), lv);
    float lanes[4];
    _mm_storeu_ps(lanes, level);
    out[3 * x] = lanes[0];
    out[3 * x + 1] = lanes[1];
    out[3 * x + 2] = lanes[2];
  }
}

#else

static inline float rounded_level(float x, float levels) {
  float v = x > levels ? levels : x;
  v = v < 0 ? 0 : v;
  float whole = (float)(int)v;
  return v - whole >= 0.5f ? whole + 1 : whole;
}

void dx_resample_row_rgb(const float *row, ptrdiff_t outputs, const ptrdiff_t *first, const ptrdiff_t *count,
                         const float *weights, ptrdiff_t stride, float levels, float *out) {
  for (ptrdiff_t x = 0; x < outputs; x++) {
    const float *p = row + first[x] * 3, *w = weights + x * stride;
    float s[3] = {0, 0, 0};
    for (ptrdiff_t j = 0; j < count[x]; j++)
      for (int c = 0; c < 3; c++) {
        float t = p[3 * j + c] * w[j];
        s[c] += t;
      }
    for (int c = 0; c < 3; c++) out[3 * x + c] = rounded_level(s[c] * levels, levels) / levels;
  }
}

#endif
