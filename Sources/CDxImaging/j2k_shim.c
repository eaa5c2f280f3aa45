// JPEG 2000 tiles through OpenJPEG: a codestream held in memory in, interleaved 8-bit RGB out.
// OpenJPEG reads through stream callbacks and reports errors through a handler, hence C.
#include "CDxImaging.h"
#include <openjpeg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const uint8_t *data;
  size_t size, pos;
} dx_mem_in;

typedef struct {
  uint8_t *data;
  size_t size, capacity, pos;
  int failed;
} dx_mem_out;

static OPJ_SIZE_T mem_read(void *buffer, OPJ_SIZE_T n, void *user) {
  dx_mem_in *m = (dx_mem_in *)user;
  if (m->pos >= m->size) return (OPJ_SIZE_T)-1;
  size_t k = m->size - m->pos < n ? m->size - m->pos : n;
  memcpy(buffer, m->data + m->pos, k);
  m->pos += k;
  return k;
}

static OPJ_OFF_T mem_skip(OPJ_OFF_T n, void *user) {
  dx_mem_in *m = (dx_mem_in *)user;
  if (n < 0) {
    if ((size_t)(-n) > m->pos) return -1;
    m->pos -= (size_t)(-n);
  } else {
    m->pos = (size_t)n > m->size - m->pos ? m->size : m->pos + (size_t)n;
  }
  return n;
}

static OPJ_BOOL mem_seek(OPJ_OFF_T n, void *user) {
  dx_mem_in *m = (dx_mem_in *)user;
  if (n < 0 || (size_t)n > m->size) return OPJ_FALSE;
  m->pos = (size_t)n;
  return OPJ_TRUE;
}

/// Grows the buffer to hold `end` bytes (new bytes zeroed).
static int mem_reserve(dx_mem_out *m, size_t end) {
  if (end <= m->capacity) return 1;
  size_t capacity = m->capacity ? m->capacity : 65536;
  while (capacity < end) capacity *= 2;
  uint8_t *grown = (uint8_t *)realloc(m->data, capacity);
  if (!grown) { m->failed = 1; return 0; }
  memset(grown + m->capacity, 0, capacity - m->capacity);
  m->data = grown;
  m->capacity = capacity;
  return 1;
}

static OPJ_SIZE_T mem_write(void *buffer, OPJ_SIZE_T n, void *user) {
  dx_mem_out *m = (dx_mem_out *)user;
  if (!mem_reserve(m, m->pos + n)) return (OPJ_SIZE_T)-1;
  memcpy(m->data + m->pos, buffer, n);
  m->pos += n;
  if (m->pos > m->size) m->size = m->pos;
  return n;
}

static OPJ_OFF_T mem_out_skip(OPJ_OFF_T n, void *user) {
  dx_mem_out *m = (dx_mem_out *)user;
  if (n < 0 ? (size_t)(-n) > m->pos : !mem_reserve(m, m->pos + (size_t)n)) return -1;
  m->pos = n < 0 ? m->pos - (size_t)(-n) : m->pos + (size_t)n;
  if (m->pos > m->size) m->size = m->pos;
  return n;
}

static OPJ_BOOL mem_out_seek(OPJ_OFF_T n, void *user) {
  dx_mem_out *m = (dx_mem_out *)user;
  if (n < 0 || !mem_reserve(m, (size_t)n)) return OPJ_FALSE;
  m->pos = (size_t)n;
  if (m->pos > m->size) m->size = m->pos;
  return OPJ_TRUE;
}

typedef struct {
  char *err;
  size_t errlen;
  int seen;
} dx_j2k_messages;

static void on_error(const char *msg, void *user) {
  dx_j2k_messages *m = (dx_j2k_messages *)user;
  if (m->seen) return;  // the first error is the cause; later ones are consequences
  m->seen = 1;
  snprintf(m->err, m->errlen, "JPEG 2000: %s", msg);
  size_t n = strlen(m->err);
  while (n > 0 && (m->err[n - 1] == '\n' || m->err[n - 1] == '\r')) m->err[--n] = 0;
}

static void on_quiet(const char *msg, void *user) { (void)msg; (void)user; }

static uint8_t clamp8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/// One component sample as 8 bits: unsigned, whatever its stored precision and sign.
static int sample8(const opj_image_comp_t *c, OPJ_UINT32 x, OPJ_UINT32 y) {
  OPJ_UINT32 cx = x / c->dx, cy = y / c->dy;
  if (cx >= c->w) cx = c->w - 1;
  if (cy >= c->h) cy = c->h - 1;
  int64_t v = c->data[(size_t)cy * c->w + cx];  // 64-bit: no overflow for any int32 sample
  if (c->sgnd) v += (int64_t)1 << (c->prec - 1);
  if (c->prec > 8) v >>= (c->prec - 8);
  else if (c->prec < 8) v *= (int64_t)1 << (8 - c->prec);
  return v < 0 ? 0 : v > 255 ? 255 : (int)v;
}

int dx_j2k_decode(const uint8_t *data, size_t size, uint32_t width, uint32_t height, int ycbcr,
                  uint64_t max_pixels, uint8_t *out, char *err, size_t errlen) {
  if (!data || size < 4) { snprintf(err, errlen, "JPEG 2000: empty codestream"); return -1; }
  if ((uint64_t)width * height > max_pixels) { snprintf(err, errlen, "JPEG 2000: %u x %u tile exceeds the pixel limit", width, height); return -1; }
  // Slide tiles are bare codestreams (FF 4F FF 51). A JP2 file's boxes (palettes, channel
  // definitions) would rewrite the components after the checks below: refused.
  if (data[0] != 0xFF || data[1] != 0x4F) { snprintf(err, errlen, "JPEG 2000: not a bare codestream (no SOC marker)"); return -1; }
  opj_codec_t *codec = opj_create_decompress(OPJ_CODEC_J2K);
  if (!codec) { snprintf(err, errlen, "JPEG 2000: cannot create a decoder"); return -1; }
  dx_j2k_messages messages = {err, errlen, 0};
  err[0] = 0;
  opj_set_error_handler(codec, on_error, &messages);
  opj_set_warning_handler(codec, on_quiet, NULL);
  opj_set_info_handler(codec, on_quiet, NULL);
  opj_dparameters_t parameters;
  opj_set_default_decoder_parameters(&parameters);
  int status = -1;
  opj_image_t *image = NULL;
  opj_stream_t *stream = NULL;
  dx_mem_in in = {data, size, 0};
  if (!opj_setup_decoder(codec, &parameters)) goto done;
  opj_codec_set_threads(codec, 1);  // parallelism is per tile, across EfficientDx's own workers
  stream = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE);
  if (!stream) goto done;
  opj_stream_set_user_data(stream, &in, NULL);
  opj_stream_set_user_data_length(stream, size);
  opj_stream_set_read_function(stream, mem_read);
  opj_stream_set_skip_function(stream, mem_skip);
  opj_stream_set_seek_function(stream, mem_seek);
  if (!opj_read_header(stream, codec, &image) || !image) goto done;
  // The header is checked against the tile the TIFF says this is, before any sample is decoded.
  OPJ_UINT32 w = image->x1 - image->x0, h = image->y1 - image->y0;
  if (image->x1 <= image->x0 || image->y1 <= image->y0 || w != width || h != height) {
    snprintf(err, errlen, "JPEG 2000: codestream is %u x %u, the tile is %u x %u", image->x1 - image->x0, image->y1 - image->y0, width, height);
    goto done;
  }
  if (image->numcomps != 3 && image->numcomps != 4 && image->numcomps != 1) {
    snprintf(err, errlen, "JPEG 2000: %u components (1, 3 or 4 are read)", image->numcomps);
    goto done;
  }
  for (OPJ_UINT32 c = 0; c < image->numcomps; c++) {
    opj_image_comp_t *k = &image->comps[c];
    if (k->prec < 1 || k->prec > 16 || k->dx < 1 || k->dy < 1 || k->dx > 4 || k->dy > 4) {
      snprintf(err, errlen, "JPEG 2000: component %u has precision %u and subsampling %u x %u", c, k->prec, k->dx, k->dy);
      goto done;
    }
  }
  if (!opj_decode(codec, stream, image) || !opj_end_decompress(codec, stream)) goto done;
  // Checked again after decoding: what is read below must be what was checked above.
  if (image->numcomps != 3 && image->numcomps != 4 && image->numcomps != 1) {
    snprintf(err, errlen, "JPEG 2000: %u components after decoding", image->numcomps);
    goto done;
  }
  for (OPJ_UINT32 c = 0; c < image->numcomps; c++) {
    opj_image_comp_t *k = &image->comps[c];
    if (!k->data || k->w == 0 || k->h == 0 || k->prec < 1 || k->prec > 16 || k->dx < 1 || k->dy < 1 || k->dx > 4 || k->dy > 4
        || (uint64_t)k->w * k->dx < w || (uint64_t)k->h * k->dy < h) {
      snprintf(err, errlen, "JPEG 2000: component %u decoded to %u x %u", c, k->w, k->h);
      goto done;
    }
  }
  for (OPJ_UINT32 y = 0; y < h; y++) {
    uint8_t *row = out + (size_t)y * w * 3;
    for (OPJ_UINT32 x = 0; x < w; x++) {
      int a = sample8(&image->comps[0], x, y);
      int b = image->numcomps >= 3 ? sample8(&image->comps[1], x, y) : a;
      int c = image->numcomps >= 3 ? sample8(&image->comps[2], x, y) : a;
      if (ycbcr && image->numcomps >= 3) {
        // Full-range BT.601 (JFIF), as Aperio's 33003 stores it; rounded to nearest.
        double cb = b - 128.0, cr = c - 128.0;
        row[3 * x] = clamp8((int)(a + 1.402 * cr + 256.5) - 256);
        row[3 * x + 1] = clamp8((int)(a - 0.344136 * cb - 0.714136 * cr + 256.5) - 256);
        row[3 * x + 2] = clamp8((int)(a + 1.772 * cb + 256.5) - 256);
      } else {
        row[3 * x] = clamp8(a);
        row[3 * x + 1] = clamp8(b);
        row[3 * x + 2] = clamp8(c);
      }
    }
  }
  status = 0;
done:
  if (status != 0 && !err[0]) snprintf(err, errlen, "JPEG 2000: cannot decode the codestream");
  if (stream) opj_stream_destroy(stream);
  if (image) opj_image_destroy(image);
  opj_destroy_codec(codec);
  return status;
}

int dx_j2k_encode(const uint8_t *rgb, uint32_t width, uint32_t height, int ycbcr, int chroma_dx,
                  int rate, uint8_t **out, size_t *out_size, char *err, size_t errlen) {
  *out = NULL;
  *out_size = 0;
  if (width == 0 || height == 0 || chroma_dx < 1 || chroma_dx > 2) { snprintf(err, errlen, "JPEG 2000: bad encoder arguments"); return -1; }
  opj_image_cmptparm_t params[3];
  memset(params, 0, sizeof params);
  for (int c = 0; c < 3; c++) {
    int sub = (ycbcr && c > 0) ? chroma_dx : 1;
    params[c].dx = (OPJ_UINT32)sub;
    params[c].dy = 1;
    params[c].w = (width + (OPJ_UINT32)sub - 1) / (OPJ_UINT32)sub;
    params[c].h = height;
    params[c].prec = 8;
    params[c].sgnd = 0;
  }
  opj_image_t *image = opj_image_create(3, params, ycbcr ? OPJ_CLRSPC_SYCC : OPJ_CLRSPC_SRGB);
  if (!image) { snprintf(err, errlen, "JPEG 2000: out of memory"); return -1; }
  image->x0 = 0; image->y0 = 0; image->x1 = width; image->y1 = height;
  for (OPJ_UINT32 y = 0; y < height; y++) {
    for (OPJ_UINT32 x = 0; x < width; x++) {
      const uint8_t *p = rgb + ((size_t)y * width + x) * 3;
      if (ycbcr) {
        double r = p[0], g = p[1], b = p[2];
        image->comps[0].data[(size_t)y * width + x] = clamp8((int)(0.299 * r + 0.587 * g + 0.114 * b + 0.5));
        if (x % (OPJ_UINT32)chroma_dx == 0) {
          size_t i = (size_t)y * image->comps[1].w + x / (OPJ_UINT32)chroma_dx;
          image->comps[1].data[i] = clamp8((int)(-0.168736 * r - 0.331264 * g + 0.5 * b + 128.5));
          image->comps[2].data[i] = clamp8((int)(0.5 * r - 0.418688 * g - 0.081312 * b + 128.5));
        }
      } else {
        for (int c = 0; c < 3; c++) image->comps[c].data[(size_t)y * width + x] = p[c];
      }
    }
  }
  opj_cparameters_t cp;
  opj_set_default_encoder_parameters(&cp);
  cp.tcp_numlayers = 1;
  cp.tcp_rates[0] = (float)(rate > 0 ? rate : 0);  // 0: lossless (reversible 5/3)
  cp.cp_disto_alloc = 1;
  cp.irreversible = rate > 0;
  cp.tcp_mct = (ycbcr || chroma_dx != 1) ? 0 : 1;  // RGB: the codestream's own colour transform
  int levels = 0;
  for (OPJ_UINT32 side = width < height ? width : height; side >= 64 && levels < 5; side /= 2) levels++;
  cp.numresolution = levels + 1;
  opj_codec_t *codec = opj_create_compress(OPJ_CODEC_J2K);
  dx_j2k_messages messages = {err, errlen, 0};
  err[0] = 0;
  opj_set_error_handler(codec, on_error, &messages);
  opj_set_warning_handler(codec, on_quiet, NULL);
  opj_set_info_handler(codec, on_quiet, NULL);
  dx_mem_out mem = {NULL, 0, 0, 0, 0};
  opj_stream_t *stream = NULL;
  int status = -1;
  if (!opj_setup_encoder(codec, &cp, image)) goto done;
  stream = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_FALSE);
  if (!stream) goto done;
  opj_stream_set_user_data(stream, &mem, NULL);
  opj_stream_set_write_function(stream, mem_write);
  opj_stream_set_skip_function(stream, mem_out_skip);
  opj_stream_set_seek_function(stream, mem_out_seek);
  if (!opj_start_compress(codec, image, stream) || !opj_encode(codec, stream) || !opj_end_compress(codec, stream) || mem.failed) goto done;
  *out = mem.data;
  *out_size = mem.size;
  mem.data = NULL;
  status = 0;
done:
  if (status != 0 && !err[0]) snprintf(err, errlen, "JPEG 2000: cannot encode");
  free(mem.data);
  if (stream) opj_stream_destroy(stream);
  opj_destroy_codec(codec);
  opj_image_destroy(image);
  return status;
}
