#include "CDxImaging.h"
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const uint8_t *data;
  size_t size, offset;
  char *err;
  size_t errlen;
} dx_png_source;

static void dx_png_error(png_structp png, png_const_charp message) {
  dx_png_source *src = (dx_png_source *)png_get_error_ptr(png);
  if (src && src->err) snprintf(src->err, src->errlen, "%s", message);
  png_longjmp(png, 1);
}

static void dx_png_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

static void dx_png_read_fn(png_structp png, png_bytep out, png_size_t length) {
  dx_png_source *src = (dx_png_source *)png_get_io_ptr(png);
  if (length > src->size - src->offset) png_error(png, "file is truncated");
  memcpy(out, src->data + src->offset, length);
  src->offset += length;
}

static int dx_png_begin(const uint8_t *data, size_t size, dx_png_source *src, char *err, size_t errlen) {
  src->data = data; src->size = size; src->offset = 0; src->err = err; src->errlen = errlen;
  if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
    snprintf(err, errlen, "not a PNG file (bad signature)");
    return -1;
  }
  return 0;
}

// Ancillary chunks we never use (text, ICC profiles, EXIF) are skipped unread: libpng
// allocates a text chunk's claimed length before reading it and only warns when that passes
// the chunk limit, so a 341-byte file claiming 2^31 - 1 bytes of tEXt cost 2 GB and seconds
// before "truncated". Other chunks: 16 MiB at most.
static void dx_png_limit_chunks(png_structp png) {
  static const png_byte unused[] = "tEXt\0zTXt\0iTXt\0iCCP\0eXIf\0sPLT\0";
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, unused, (int)(sizeof unused / 5));
  png_set_chunk_malloc_max(png, 16u << 20);
}

int dx_png_info_only(const uint8_t *data, size_t size, dx_png_info *info, char *err, size_t errlen) {
  dx_png_source src;
  if (dx_png_begin(data, size, &src, err, errlen) != 0) return -1;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, dx_png_error, dx_png_warning);
  if (!png) { snprintf(err, errlen, "out of memory"); return -1; }
  png_infop pinfo = png_create_info_struct(png);
  if (!pinfo || setjmp(png_jmpbuf(png))) { png_destroy_read_struct(&png, pinfo ? &pinfo : NULL, NULL); return -1; }
  png_set_read_fn(png, &src, dx_png_read_fn);
  dx_png_limit_chunks(png);
  png_read_info(png, pinfo);
  info->width = png_get_image_width(png, pinfo);
  info->height = png_get_image_height(png, pinfo);
  info->color_type = png_get_color_type(png, pinfo);
  info->source_bit_depth = png_get_bit_depth(png, pinfo);
  info->bit_depth = info->source_bit_depth > 8 ? 16 : 8;
  info->interlaced = png_get_interlace_type(png, pinfo) != PNG_INTERLACE_NONE;
  // Channels and depth as dx_png_decode gives them (a palette is RGB, transparency an alpha
  // channel, low-depth grey 8-bit), from the same transforms, without reading a pixel.
  if (info->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (info->color_type == PNG_COLOR_TYPE_GRAY && info->source_bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, pinfo, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  png_read_update_info(png, pinfo);
  info->channels = png_get_channels(png, pinfo);
  info->bit_depth = png_get_bit_depth(png, pinfo);
  png_destroy_read_struct(&png, &pinfo, NULL);
  return 0;
}

int dx_png_decode(const uint8_t *data, size_t size, uint32_t max_side, uint64_t max_pixels,
                  dx_png_info *info, uint8_t **pixels, char *err, size_t errlen) {
  dx_png_source src;
  *pixels = NULL;
  if (dx_png_begin(data, size, &src, err, errlen) != 0) return -1;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, dx_png_error, dx_png_warning);
  if (!png) { snprintf(err, errlen, "out of memory"); return -1; }
  png_infop pinfo = png_create_info_struct(png);
  uint8_t *volatile buffer = NULL;
  png_bytep *volatile rows = NULL;
  if (!pinfo || setjmp(png_jmpbuf(png))) {
    free(buffer);
    free(rows);
    png_destroy_read_struct(&png, pinfo ? &pinfo : NULL, NULL);
    return -1;
  }
  png_set_user_limits(png, max_side, max_side);
  dx_png_limit_chunks(png);
  png_set_read_fn(png, &src, dx_png_read_fn);
  png_read_info(png, pinfo);
  uint32_t w = png_get_image_width(png, pinfo), h = png_get_image_height(png, pinfo);
  if ((uint64_t)w * (uint64_t)h > max_pixels) {
    snprintf(err, errlen, "%u x %u pixels exceeds the limit of %llu pixels", w, h, (unsigned long long)max_pixels);
    png_longjmp(png, 1);
  }
  info->color_type = png_get_color_type(png, pinfo);
  info->source_bit_depth = png_get_bit_depth(png, pinfo);
  info->interlaced = png_get_interlace_type(png, pinfo) != PNG_INTERLACE_NONE;
  if (info->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (info->color_type == PNG_COLOR_TYPE_GRAY && info->source_bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, pinfo, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  if (info->source_bit_depth == 16) png_set_swap(png);  // host order (little-endian here)
  png_set_interlace_handling(png);
  png_read_update_info(png, pinfo);
  info->width = w;
  info->height = h;
  info->channels = png_get_channels(png, pinfo);
  info->bit_depth = png_get_bit_depth(png, pinfo);
  size_t rowbytes = png_get_rowbytes(png, pinfo);
  buffer = (uint8_t *)malloc(rowbytes * (size_t)h);
  rows = (png_bytep *)malloc(sizeof(png_bytep) * (size_t)h);
  if (!buffer || !rows) { snprintf(err, errlen, "out of memory for %u x %u pixels", w, h); png_longjmp(png, 1); }
  for (uint32_t y = 0; y < h; y++) rows[y] = buffer + (size_t)y * rowbytes;
  png_read_image(png, rows);
  png_read_end(png, NULL);
  free(rows);
  png_destroy_read_struct(&png, &pinfo, NULL);
  *pixels = buffer;
  return 0;
}

typedef struct {
  uint8_t *data;
  size_t size, capacity;
} dx_png_sink;

static void dx_png_write_fn(png_structp png, png_bytep in, png_size_t length) {
  dx_png_sink *sink = (dx_png_sink *)png_get_io_ptr(png);
  if (sink->size + length > sink->capacity) {
    size_t cap = sink->capacity ? sink->capacity * 2 : 65536;
    while (cap < sink->size + length) cap *= 2;
    uint8_t *grown = (uint8_t *)realloc(sink->data, cap);
    if (!grown) png_error(png, "out of memory");
    sink->data = grown;
    sink->capacity = cap;
  }
  memcpy(sink->data + sink->size, in, length);
  sink->size += length;
}

static void dx_png_flush_fn(png_structp png) { (void)png; }

int dx_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels, int bit_depth,
                  int level, uint8_t **out, size_t *out_size, char *err, size_t errlen) {
  static const int types[] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGBA};
  *out = NULL;
  *out_size = 0;
  if (channels < 1 || channels > 4 || (bit_depth != 8 && bit_depth != 16) || width == 0 || height == 0) {
    snprintf(err, errlen, "cannot encode %u x %u x %d at %d bits", width, height, channels, bit_depth);
    return -1;
  }
  dx_png_source errsrc = {NULL, 0, 0, err, errlen};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &errsrc, dx_png_error, dx_png_warning);
  if (!png) { snprintf(err, errlen, "out of memory"); return -1; }
  png_infop pinfo = png_create_info_struct(png);
  dx_png_sink sink = {NULL, 0, 0};
  if (!pinfo || setjmp(png_jmpbuf(png))) {
    free(sink.data);
    png_destroy_write_struct(&png, pinfo ? &pinfo : NULL);
    return -1;
  }
  png_set_write_fn(png, &sink, dx_png_write_fn, dx_png_flush_fn);
  png_set_compression_level(png, level);
  png_set_IHDR(png, pinfo, width, height, bit_depth, types[channels], PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, pinfo);
  if (bit_depth == 16) png_set_swap(png);
  size_t rowbytes = (size_t)width * (size_t)channels * (size_t)(bit_depth / 8);
  for (uint32_t y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(pixels + (size_t)y * rowbytes));
  png_write_end(png, pinfo);
  png_destroy_write_struct(&png, &pinfo);
  *out = sink.data;
  *out_size = sink.size;
  return 0;
}

void dx_free(void *p) { free(p); }
