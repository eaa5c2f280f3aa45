// Elementwise and depthwise kernels written with x86 vector intrinsics, for the inference hot
// loops where Swift's SIMD types cannot reach: 16-wide AVX-512 and the reciprocal estimate
// (a division costs as much as the rest of SiLU together). Every kernel is compiled for
// AVX-512, AVX2+FMA and plain C, and picks one at run time, so one binary runs on any x86-64.
#ifndef DX_KERNELS_H
#define DX_KERNELS_H

#include <stddef.h>

/// A spin-wait hint to the CPU (x86 `pause`), for threads waiting on one another.
static inline void dx_cpu_relax(void) {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

/// `*counter += 1`, atomically (relaxed), returning the value before: how threads claim work
/// items from a shared range.
static inline ptrdiff_t dx_claim_next(ptrdiff_t *counter) { return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED); }

/// The activation an epilogue applies. Mirrors DxTensor's `FusedActivation`.
typedef enum { DX_ACT_NONE = 0, DX_ACT_SILU = 1, DX_ACT_RELU6 = 2 } dx_activation;

/// The instruction set the kernels run on: 0 plain C, 1 AVX2+FMA, 2 AVX-512.
int dx_kernel_isa(void);
/// Forces a lower instruction set (tests compare the paths); a higher one than the CPU has is
/// clamped to what it has. Returns the level now in use.
int dx_set_kernel_isa(int level);

/// For each of `rows` rows of `channels` floats (row stride `ld`), in place:
/// `v = act(v + bias)`, then `sums += v` when `sums` is not NULL (SE and global pooling).
/// `bias` may be NULL.
void dx_bias_activation(
    float *v, ptrdiff_t rows, ptrdiff_t channels, ptrdiff_t ld, const float *bias,
    dx_activation activation, float *sums);

/// `y[r, j] = act(x[r, j] * scale[j] + shift[j])` over `rows` contiguous rows of `channels`
/// (BatchNorm's affine map in training, with the activation after it). `y` may be `x`.
/// `stream` (here and below): store around the caches where the instruction set allows, for
/// outputs far larger than the caches (see flat_walk.h); the values are the same either way.
void dx_scale_shift_activation(
    const float *x, float *y, ptrdiff_t rows, ptrdiff_t channels, const float *scale, const float *shift,
    dx_activation activation, int stream);

/// BatchNorm's batch statistics in one pass, shifted for accuracy: over `rows` contiguous rows,
/// `s1[j] += sum (x - shift[j])` and `s2[j] += sum (x - shift[j])^2` (Float sums: callers pass
/// blocks of a few dozen rows and add them up in Double). With `shift` a row of the same data,
/// the variance `s2/m - (s1/m)^2` keeps its digits even when the mean dwarfs the spread.
void dx_shifted_moments(const float *x, ptrdiff_t rows, ptrdiff_t channels, const float *shift, float *s1, float *s2);

/// The first pass of BatchNorm+activation backward over `rows` contiguous rows: with
/// `xhat = (x - mean) * inv_std` and `v = gamma * xhat + beta`, `g = act'(v) * dy` is written to
/// `g_out` (not for DX_ACT_NONE, where g is dy), and `sum_g[j] += sum g`, `sum_gx[j] += sum g * xhat`
/// (Float sums: callers pass blocks of a few dozen rows and add them up in Double).
void dx_batchnorm_activation_sums(
    const float *x, const float *dy, float *g_out, ptrdiff_t rows, ptrdiff_t channels, const float *mean,
    const float *inv_std, const float *gamma, const float *beta, dx_activation activation, float *sum_g, float *sum_gx);

/// The second pass of BatchNorm backward over `rows` contiguous rows:
/// `dx = k1 * (g - k2 - xhat * k3)` with `xhat = (x - mean) * inv_std` (k1 = gamma * inv_std,
/// k2 and k3 the means of g and g * xhat; zero with running statistics). `g` may be `dx`.
void dx_batchnorm_input_grad(
    const float *x, const float *g, float *dx, ptrdiff_t rows, ptrdiff_t channels, const float *mean,
    const float *inv_std, const float *k1, const float *k2, const float *k3, int stream);

/// Squeeze-excitation's scaling over `rows` rows of one image (`channels` innermost, `s` the
/// image's gate): `y = x * s`.
void dx_channel_scale(const float *x, const float *s, float *y, ptrdiff_t rows, ptrdiff_t channels, int stream);

/// Its input gradient plus a per-channel term: `dx = dy * s + add`.
void dx_channel_scale_input_grad(const float *dy, const float *s, const float *add, float *dx, ptrdiff_t rows, ptrdiff_t channels, int stream);

/// `sums[j] += sum over the rows of x * dy` (Float: callers pass blocks of a few dozen rows and
/// add them up in Double).
void dx_channel_products(const float *x, const float *dy, float *sums, ptrdiff_t rows, ptrdiff_t channels);

/// The shape of a depthwise convolution over an NHWC image (one image; channels innermost).
/// `channels` are computed; `pixel_stride` (>= channels) is the distance in floats between
/// neighbouring pixels of the input and the output and between taps of the weights, so a slice
/// of a wider map's channels can be convolved in place (offset every pointer by its first).
typedef struct {
  ptrdiff_t in_height, in_width, out_width;
  ptrdiff_t kernel, stride, pad_top, pad_left;
  ptrdiff_t channels, pixel_stride;
} dx_depthwise_shape;

/// One output row `oh` of a depthwise convolution with its epilogue:
/// `out[ow, c] = act(bias[c] + sum_taps image[ih, iw, c] * weight[kh, kw, c])`, and
/// `sums[c] += out[ow, c]` when `sums` is not NULL. Taps in the padding are skipped, and only
/// rows the taps reach are read, so `image` may be a band of rows addressed as if it were the
/// whole image (the caller offsets it by the band's first row).
void dx_depthwise_row(
    const float *image, ptrdiff_t oh, float *out, const float *weight, const float *bias,
    dx_activation activation, float *sums, const dx_depthwise_shape *shape);

/// One row of the resampler's horizontal pass over RGB Floats: output pixel `x` (of `outputs`)
/// is `sum_j row[3 * (first[x] + j) + c] * weights[x * stride + j]` over `count[x]` taps, summed
/// in tap order, rounded to `levels` levels and divided by `levels`, into `out[3 * x + c]`.
/// `row` must have one readable float past the last pixel a tap reads.
void dx_resample_row_rgb(const float *row, ptrdiff_t outputs, const ptrdiff_t *first, const ptrdiff_t *count,
                         const float *weights, ptrdiff_t stride, float levels, float *out);

/// One output row of the resampler's vertical pass: `out[x] = sum_j rows[j * row_stride + x] *
/// weights[j]` over `count` input rows, summed in tap order from zero, for `x` in `0..<width`.
/// With `levels > 0` each sum is then rounded to `levels` levels (clamped, half up) and
/// multiplied by `unit`.
void dx_resample_rows(const float *rows, ptrdiff_t row_stride, ptrdiff_t width, ptrdiff_t count, const float *weights,
                      float levels, float unit, float *out);

/// Columns per panel of a packed GEMM right-hand side.
#define DX_GEMM_PANEL 32

/// Floats `dx_gemm_pack` writes for a `k x n` right-hand side: `n` rounded up to whole panels.
ptrdiff_t dx_gemm_packed_count(ptrdiff_t k, ptrdiff_t n);

/// Packs `b` (`k x n`, row stride `ldb`) for `dx_gemm_packed`: panels of DX_GEMM_PANEL
/// columns, each `k` rows of DX_GEMM_PANEL contiguous floats, the last panel zero-padded.
/// Weights are packed once when a model is loaded.
void dx_gemm_pack(const float *b, ptrdiff_t ldb, ptrdiff_t k, ptrdiff_t n, float *packed);

/// `c = act((a * a_scale) x b + bias) + residual` for `a` `m x k` (row stride `lda`) and `b`
/// packed by `dx_gemm_pack`; `a_scale` (`k` floats, may be NULL) scales `a`'s columns (SE's
/// gate, applied to the panel's rows as they are read); `c` and `residual` are `m x n`
/// with row stride `ldc`; then, when `sums` is not NULL, `sums[j] += sum_i c[i, j]`. `bias` and
/// `residual` may be NULL. The epilogue is applied to the accumulators, so each output is
/// written once. Uses AVX-512 when the kernels run on it (`dx_kernel_isa() == 2`), plain C
/// otherwise (callers use OpenBLAS on other CPUs).
void dx_gemm_packed(
    const float *a, ptrdiff_t lda, ptrdiff_t m, ptrdiff_t k, ptrdiff_t n, const float *packed,
    const float *a_scale, float *c, ptrdiff_t ldc, const float *bias, dx_activation activation,
    const float *residual, float *sums);

/// Adds one output row's share of a depthwise convolution's weight gradient to `weight_grad`
/// (`[k, k, C]`): `weight_grad[kh, kw, c] += sum_ow image[ih, iw, c] * dy_row[ow, c]` for the taps
/// inside the image, with `image` the input image of the row's sample.
void dx_depthwise_weight_grad_row(
    const float *image, ptrdiff_t oh, const float *dy_row, float *weight_grad, const dx_depthwise_shape *shape);

/// The shape of a full (not depthwise) convolution over one NHWC image.
typedef struct {
  ptrdiff_t in_height, in_width, channels, out_width;
  ptrdiff_t kernel, stride, pad_top, pad_left;
} dx_conv_shape;

/// Output pixels [first, first + pixels) (row-major over the output) of a convolution of
/// `image`, as `dx_gemm_packed` with the patches gathered straight from the image (no im2col
/// buffer; padding reads as zero): `packed` is the `[k*k*C, n]` weight packed by
/// `dx_gemm_pack`, and `c` holds `pixels` rows of stride `ldc`.
void dx_conv_packed(
    const float *image, const dx_conv_shape *shape, ptrdiff_t first, ptrdiff_t pixels, ptrdiff_t n,
    const float *packed, float *c, ptrdiff_t ldc, const float *bias, dx_activation activation, float *sums);

/// The patches of output pixels [first, first + pixels) of `image`, one row of k*k*C floats per
/// pixel (im2col for a slice of an image; padding reads as zero), into `rows`.
void dx_conv_patch_rows(const float *image, const dx_conv_shape *shape, ptrdiff_t first, ptrdiff_t pixels, float *rows);

/// SHA-256's compression of `blocks` 64-byte blocks into `state` (FIPS 180-4; the caller pads).
/// Uses the x86 SHA extensions when the CPU has them and `allow_extensions` is set (tests
/// compare both paths), else plain C.
void dx_sha256_blocks(unsigned state[8], const unsigned char *data, size_t blocks, int allow_extensions);
/// Whether the CPU has the SHA extensions (and the SSSE3 / SSE4.1 they are used with).
int dx_sha256_has_extensions(void);

#endif
