// Squeeze-excitation's per-channel scaling in training (see DxKernels.h): the gate times the
// map, and its two gradients. Plain loops over `rows` rows of one image, channels innermost,
// written once and compiled for each instruction set (the compiler vectorises them 16, 8 or
// 4 wide). They stream at memory speed either way (the Swift loops they replace were as
// fast); in C the gate's gradient sums in blocks of rows like BatchNorm's, where the Swift
// loop summed a whole 112x112 image in Float.
#include "flat_walk.h"

static inline __attribute__((always_inline)) void scale_body(const float *x, const float *s, float *y, ptrdiff_t rows, ptrdiff_t c) {
  for (ptrdiff_t r = 0; r < rows; r++)
    for (ptrdiff_t j = 0; j < c; j++) y[r * c + j] = x[r * c + j] * s[j];
}

static inline __attribute__((always_inline)) void input_grad_body(const float *dy, const float *s, const float *add, float *dx, ptrdiff_t rows, ptrdiff_t c) {
  for (ptrdiff_t r = 0; r < rows; r++)
    for (ptrdiff_t j = 0; j < c; j++) dx[r * c + j] = dy[r * c + j] * s[j] + add[j];
}

static inline __attribute__((always_inline)) void products_body(const float *x, const float *dy, float *sums, ptrdiff_t rows, ptrdiff_t c) {
  for (ptrdiff_t r = 0; r < rows; r++)
    for (ptrdiff_t j = 0; j < c; j++) sums[j] += x[r * c + j] * dy[r * c + j];
}

#if defined(__x86_64__)
DX_AVX512 static void scale_avx512(const float *x, const float *s, float *y, ptrdiff_t rows, ptrdiff_t c) { scale_body(x, s, y, rows, c); }
DX_AVX2 static void scale_avx2(const float *x, const float *s, float *y, ptrdiff_t rows, ptrdiff_t c) { scale_body(x, s, y, rows, c); }
DX_AVX512 static void input_grad_avx512(const float *dy, const float *s, const float *add, float *dx, ptrdiff_t rows, ptrdiff_t c) { input_grad_body(dy, s, add, dx, rows, c); }
DX_AVX2 static void input_grad_avx2(const float *dy, const float *s, const float *add, float *dx, ptrdiff_t rows, ptrdiff_t c) { input_grad_body(dy, s, add, dx, rows, c); }
DX_AVX512 static void products_avx512(const float *x, const float *dy, float *sums, ptrdiff_t rows, ptrdiff_t c) { products_body(x, dy, sums, rows, c); }
DX_AVX2 static void products_avx2(const float *x, const float *dy, float *sums, ptrdiff_t rows, ptrdiff_t c) { products_body(x, dy, sums, rows, c); }
#endif

void dx_channel_scale(const float *x, const float *s, float *y, ptrdiff_t rows, ptrdiff_t c, int stream) {
  if (flat_affine_act(x, y, rows, c, s, NULL, DX_ACT_NONE, stream)) return;
#if defined(__x86_64__)
  switch (dx_kernel_isa()) {
  case 2: scale_avx512(x, s, y, rows, c); return;
  case 1: scale_avx2(x, s, y, rows, c); return;
  }
#endif
  scale_body(x, s, y, rows, c);
}

void dx_channel_scale_input_grad(const float *dy, const float *s, const float *add, float *dx, ptrdiff_t rows, ptrdiff_t c, int stream) {
  if (flat_affine_act(dy, dx, rows, c, s, add, DX_ACT_NONE, stream)) return;
#if defined(__x86_64__)
  switch (dx_kernel_isa()) {
  case 2: input_grad_avx512(dy, s, add, dx, rows, c); return;
  case 1: input_grad_avx2(dy, s, add, dx, rows, c); return;
  }
#endif
  input_grad_body(dy, s, add, dx, rows, c);
}

void dx_channel_products(const float *x, const float *dy, float *sums, ptrdiff_t rows, ptrdiff_t c) {
#if defined(__x86_64__)
  switch (dx_kernel_isa()) {
  case 2: products_avx512(x, dy, sums, rows, c); return;
  case 1: products_avx2(x, dy, sums, rows, c); return;
  }
#endif
  products_body(x, dy, sums, rows, c);
}
