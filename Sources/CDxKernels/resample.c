// The two passes of the image resampler (see DxImaging/Operations/WindowResampler.swift).
// Horizontal, for interleaved RGB Floats: each output pixel is a short weighted sum of
// neighbouring input pixels, its three channels in the first three lanes of one SSE vector.
// Vertical, for any layout: each output row a weighted sum of whole input rows, four samples
// per SSE vector, optionally rounded to the source's levels on the way out.
//
// Plain SSE (every x86-64 has it) and no FMA: each lane is summed, multiplied and rounded
// exactly as the Swift loops they replace, so the values are the same bit for bit (the tests
// compare with the Float reference resampler).

#include "DxKernels.h"

// Clamped to 0...levels, truncated, rounded half up: `roundedLevel` in Resize.swift.
static inline float rounded_level(float x, float levels) {
  float v = x > levels ? levels : x;
  v = v < 0 ? 0 : v;
  float whole = (float)(int)v;
  return v - whole >= 0.5f ? whole + 1 : whole;
}

// The vertical pass for samples `x0..<width`, one at a time.
static void resample_rows_scalar(const float *rows, ptrdiff_t row_stride, ptrdiff_t x0, ptrdiff_t width, ptrdiff_t count,
                                 const float *weights, float levels, float unit, float *out) {
  for (ptrdiff_t x = x0; x < width; x++) {
    float sum = 0;
    for (ptrdiff_t j = 0; j < count; j++) {
      float t = rows[j * row_stride + x] * weights[j];
      sum += t;
    }
    out[x] = levels > 0 ? rounded_level(sum * levels, levels) * unit : sum;
  }
}

#if defined(__x86_64__)
#include <immintrin.h>

// `rounded_level` in four lanes.
static inline __m128 rounded_levels4(__m128 x, __m128 lv) {
  const __m128 zero = _mm_setzero_ps(), half = _mm_set1_ps(0.5f), one = _mm_set1_ps(1.0f);
  __m128 v = _mm_max_ps(_mm_min_ps(x, lv), zero);
  __m128 whole = _mm_cvtepi32_ps(_mm_cvttps_epi32(v));
  return _mm_add_ps(whole, _mm_and_ps(_mm_cmpge_ps(_mm_sub_ps(v, whole), half), one));
}

void dx_resample_rows(const float *rows, ptrdiff_t row_stride, ptrdiff_t width, ptrdiff_t count, const float *weights,
                      float levels, float unit, float *out) {
  const __m128 lv = _mm_set1_ps(levels), un = _mm_set1_ps(unit);
  ptrdiff_t x = 0;
  for (; x + 4 <= width; x += 4) {
    __m128 sum = _mm_setzero_ps();
    for (ptrdiff_t j = 0; j < count; j++) sum = _mm_add_ps(sum, _mm_mul_ps(_mm_loadu_ps(rows + j * row_stride + x), _mm_set1_ps(weights[j])));
    if (levels > 0) sum = _mm_mul_ps(rounded_levels4(_mm_mul_ps(sum, lv), lv), un);
    _mm_storeu_ps(out + x, sum);
  }
  resample_rows_scalar(rows, row_stride, x, width, count, weights, levels, unit, out);
}

void dx_resample_row_rgb(const float *row, ptrdiff_t outputs, const ptrdiff_t *first, const ptrdiff_t *count,
                         const float *weights, ptrdiff_t stride, float levels, float *out) {
  const __m128 lv = _mm_set1_ps(levels);
  for (ptrdiff_t x = 0; x < outputs; x++) {
    const float *p = row + first[x] * 3, *w = weights + x * stride;
    __m128 sum = _mm_setzero_ps();
    for (ptrdiff_t j = 0; j < count[x]; j++) sum = _mm_add_ps(sum, _mm_mul_ps(_mm_loadu_ps(p + 3 * j), _mm_set1_ps(w[j])));
    // Rounded to the source's levels between the passes, as Pillow does, back to 0...1.
    __m128 level = _mm_div_ps(rounded_levels4(_mm_mul_ps(sum, lv), lv), lv);
    float lanes[4];
    _mm_storeu_ps(lanes, level);
    out[3 * x] = lanes[0];
    out[3 * x + 1] = lanes[1];
    out[3 * x + 2] = lanes[2];
  }
}

#else

void dx_resample_rows(const float *rows, ptrdiff_t row_stride, ptrdiff_t width, ptrdiff_t count, const float *weights,
                      float levels, float unit, float *out) {
  resample_rows_scalar(rows, row_stride, 0, width, count, weights, levels, unit, out);
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
