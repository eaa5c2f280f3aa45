// C shims for the imaging libraries, only where Swift cannot call them directly:
// libpng reports errors by longjmp, libtiff's TIFFGetField/TIFFSetField are variadic, and
// OpenJPEG reads and writes through stream callbacks.
// Every function returns 0 on success and writes a readable message into `err` otherwise.
#ifndef CDXIMAGING_H
#define CDXIMAGING_H
#include <stddef.h>
#include <stdint.h>
#include <tiffio.h>

// ---- PNG -------------------------------------------------------------------------------
typedef struct {
  uint32_t width, height;
  int channels;     // after expansion: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
  int bit_depth;    // after expansion: 8 or 16 (16-bit samples in host byte order)
  int color_type;   // as stored in the file (PNG_COLOR_TYPE_*)
  int source_bit_depth;
  int interlaced;
} dx_png_info;

/// Decodes a whole PNG held in memory. Palette and tRNS expand to RGB(A); gray below 8 bits
/// expands to 8. `*pixels` is malloc'd (free with dx_free). Dimensions above the limits fail
/// before any pixel buffer is allocated.
int dx_png_decode(const uint8_t *data, size_t size, uint32_t max_side, uint64_t max_pixels,
                  dx_png_info *info, uint8_t **pixels, char *err, size_t errlen);
/// Reads only the header (size, type), for inspection.
int dx_png_info_only(const uint8_t *data, size_t size, dx_png_info *info, char *err, size_t errlen);
/// Encodes 8- or 16-bit pixels (16-bit in host order) with 1-4 channels into a malloc'd PNG.
int dx_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels, int bit_depth,
                  int level, uint8_t **out, size_t *out_size, char *err, size_t errlen);
void dx_free(void *p);

// ---- TIFF ------------------------------------------------------------------------------
typedef struct dx_tiff dx_tiff;
/// Opens with per-file error capture and a cap on any single allocation libtiff makes.
dx_tiff *dx_tiff_open(const char *path, const char *mode, uint64_t max_single_alloc, char *err, size_t errlen);
TIFF *dx_tiff_handle(dx_tiff *t);
/// The last error libtiff reported on this file ("" if none); cleared by dx_tiff_clear_error.
const char *dx_tiff_error(dx_tiff *t);
void dx_tiff_clear_error(dx_tiff *t);
void dx_tiff_close(dx_tiff *t);

int dx_tiff_get_u16(TIFF *tif, uint32_t tag, uint16_t *value);
int dx_tiff_get_u32(TIFF *tif, uint32_t tag, uint32_t *value);
int dx_tiff_get_float(TIFF *tif, uint32_t tag, float *value);
int dx_tiff_get_u16_defaulted(TIFF *tif, uint32_t tag, uint16_t *value);
int dx_tiff_get_string(TIFF *tif, uint32_t tag, const char **value);
int dx_tiff_get_extrasamples(TIFF *tif, uint16_t *count, const uint16_t **types);
int dx_tiff_get_subifds(TIFF *tif, uint16_t *count, const uint64_t **offsets);
int dx_tiff_get_colormap(TIFF *tif, const uint16_t **r, const uint16_t **g, const uint16_t **b);
/// The current directory's tile (or strip) byte counts, one per block.
int dx_tiff_block_bytecount(TIFF *tif, uint32_t block, uint64_t *count);

int dx_tiff_set_u16(TIFF *tif, uint32_t tag, uint16_t value);
int dx_tiff_set_u32(TIFF *tif, uint32_t tag, uint32_t value);
int dx_tiff_set_float(TIFF *tif, uint32_t tag, float value);
int dx_tiff_set_string(TIFF *tif, uint32_t tag, const char *value);
int dx_tiff_set_extrasamples(TIFF *tif, uint16_t count, const uint16_t *types);
int dx_tiff_set_subifd_count(TIFF *tif, uint16_t count);
int dx_tiff_set_colormap(TIFF *tif, const uint16_t *r, const uint16_t *g, const uint16_t *b);

// ---- JPEG 2000 -------------------------------------------------------------------------
/// Decodes a JPEG 2000 codestream (bare J2K, or a JP2 file) that must be exactly `width` x
/// `height` (checked from its header before any sample is decoded) into interleaved 8-bit RGB
/// at `out` (width * height * 3 bytes). `ycbcr`: the components are Y, Cb, Cr without the
/// codestream's own colour transform (Aperio 33003), converted here (full-range BT.601).
/// Chroma subsampling is upsampled by replication. Gray codestreams are replicated to RGB.
int dx_j2k_decode(const uint8_t *data, size_t size, uint32_t width, uint32_t height, int ycbcr,
                  uint64_t max_pixels, uint8_t *out, char *err, size_t errlen);
/// Encodes interleaved 8-bit RGB as a bare J2K codestream (malloc'd; free with dx_free):
/// `ycbcr` stores Y, Cb, Cr with chroma subsampled `chroma_dx` times horizontally (1 or 2), as
/// Aperio's 33003; otherwise RGB with the reversible colour transform (33005). `rate` 0 is
/// lossless, else a compression ratio.
int dx_j2k_encode(const uint8_t *rgb, uint32_t width, uint32_t height, int ycbcr, int chroma_dx,
                  int rate, uint8_t **out, size_t *out_size, char *err, size_t errlen);
// ---- OpenSlide (loaded on first use; see openslide_loader.c) -----------------------------
struct _openslide;
/// Loads OpenSlide once; NULL when it is there, else why not. Call before the others.
const char *dx_openslide_load_error(void);
/// Load OpenSlide from `path` (a file or a soname) instead of the system's sonames; only
/// before the first load (the Swift side passes EFFDX_OPENSLIDE_LIBRARY).
void dx_openslide_use_library(const char *path);
const char *dx_openslide_detect_vendor(const char *filename);
struct _openslide *dx_openslide_open(const char *filename);
const char *dx_openslide_get_error(struct _openslide *osr);
void dx_openslide_close(struct _openslide *osr);
const char *dx_openslide_get_property_value(struct _openslide *osr, const char *name);
int32_t dx_openslide_get_level_count(struct _openslide *osr);
void dx_openslide_get_level_dimensions(struct _openslide *osr, int32_t level, int64_t *w, int64_t *h);
double dx_openslide_get_level_downsample(struct _openslide *osr, int32_t level);
const char *const *dx_openslide_get_associated_image_names(struct _openslide *osr);
void dx_openslide_get_associated_image_dimensions(struct _openslide *osr, const char *name, int64_t *w, int64_t *h);
void dx_openslide_read_associated_image(struct _openslide *osr, const char *name, uint32_t *dest);
void dx_openslide_read_region(struct _openslide *osr, uint32_t *dest, int64_t x, int64_t y, int32_t level, int64_t w, int64_t h);
const char *dx_openslide_get_version(void);

#endif
