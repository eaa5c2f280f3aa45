// Private to CDxKernels: AVX-512 elementwise passes over a [rows, c] map walked flat, 16 floats
// a step across row ends, with per-channel constants read from a periodic copy (ext[i] =
// k[i mod c] for i < c + 16, so the step starting at channel j reads ext + j).
//
// Walking flat lines the stores up with 64-byte cache lines after a short head, which lets a
// pass over a map larger than the caches store around them: a streaming store writes a line
// without first reading it (no read-for-ownership), twice the write speed of a normal store on
// this machine's 32 MB and larger maps, with the next pass's read of the map no slower (a
// two-thread micro-benchmark). On smaller maps a normal store keeps the map in cache for the
// next pass, so callers choose (`stream`).
#ifndef DX_FLAT_WALK_H
#define DX_FLAT_WALK_H

#include "activations.h"
#include <stdint.h>

// Periodic constants live on the stack up to this many channels; wider maps take the row paths.
enum { FLAT_MAX_CHANNELS = 4096 };

static inline void periodic_constants(const float *k, ptrdiff_t c, float *ext) {
  for (ptrdiff_t i = 0; i < c + 16; i++) ext[i] = k[i % c];
}

#if defined(__x86_64__)

// The lanes of the step at flat index i of n (the head runs up to y's next 64-byte line).
static inline ptrdiff_t flat_step_length(const float *y, ptrdiff_t i, ptrdiff_t n) {
  ptrdiff_t len = i == 0 ? (ptrdiff_t)(((64 - ((uintptr_t)y & 63)) & 63) / 4) : 16;
  if (len == 0) len = 16;
  return len < n - i ? len : n - i;
}

static inline __mmask16 flat_mask(ptrdiff_t len) { return len >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << len) - 1); }

// A full step's store is 64-byte aligned (every step after the head is).
DX_AVX512 static inline void flat_store(float *p, __mmask16 m, ptrdiff_t len, __m512 v, int stream) {
  if (stream && len == 16) _mm512_stream_ps(p, v);
  else _mm512_mask_storeu_ps(p, m, v);
}

// y = act(x * a[j] + b[j]) over n = rows * c floats, a and b periodic (c >= 16). y may be x.
DX_AVX512 static void flat_affine_act_avx512(const float *x, float *y, ptrdiff_t n, ptrdiff_t c, const float *a, const float *b, dx_activation act, int stream) {
  ptrdiff_t j = 0;
  for (ptrdiff_t i = 0, len; i < n; i += len) {
    len = flat_step_length(y, i, n);
    __mmask16 m = flat_mask(len);
    __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j));
    flat_store(y + i, m, len, act16(v, act), stream);
    j += len;
    if (j >= c) j -= c;
  }
  if (stream) _mm_sfence();
}

#endif

// y = act(x * a[j] + b[j]) (b NULL: no shift) on AVX-512's flat walk: 1 when done, 0 when the
// instruction set or the width calls for the caller's row paths instead.
static inline int flat_affine_act(const float *x, float *y, ptrdiff_t rows, ptrdiff_t c, const float *a, const float *b, dx_activation act, int stream) {
#if defined(__x86_64__)
  if (dx_kernel_isa() != 2 || c < 16 || c > FLAT_MAX_CHANNELS) return 0;
  float ae[c + 16], be[c + 16];
  periodic_constants(a, c, ae);
  if (b) periodic_constants(b, c, be);
  else memset(be, 0, sizeof be);
  flat_affine_act_avx512(x, y, rows * c, c, ae, be, act, stream);
  return 1;
#else
  return 0;
#endif
}

#endif
