#include "CDxImaging.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dx_tiff {
  TIFF *tif;
  char error[512];
};

static int dx_tiff_error_handler(TIFF *tif, void *user_data, const char *module, const char *fmt, va_list ap) {
  (void)tif;
  dx_tiff *t = (dx_tiff *)user_data;
  if (!t) return 1;
  char message[448];
  vsnprintf(message, sizeof message, fmt, ap);
  snprintf(t->error, sizeof t->error, "%s%s%s", module ? module : "", module ? ": " : "", message);
  return 1;
}

static int dx_tiff_warning_handler(TIFF *tif, void *user_data, const char *module, const char *fmt, va_list ap) {
  (void)tif; (void)user_data; (void)module; (void)fmt; (void)ap;
  return 1;  // warnings (unknown tags and the like) are not errors
}

dx_tiff *dx_tiff_open(const char *path, const char *mode, uint64_t max_single_alloc, char *err, size_t errlen) {
  dx_tiff *t = (dx_tiff *)calloc(1, sizeof *t);
  if (!t) { snprintf(err, errlen, "out of memory"); return NULL; }
  TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
  if (!opts) { free(t); snprintf(err, errlen, "out of memory"); return NULL; }
  TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)max_single_alloc);
  TIFFOpenOptionsSetErrorHandlerExtR(opts, dx_tiff_error_handler, t);
  TIFFOpenOptionsSetWarningHandlerExtR(opts, dx_tiff_warning_handler, t);
  t->tif = TIFFOpenExt(path, mode, opts);
  TIFFOpenOptionsFree(opts);
  if (!t->tif) {
    snprintf(err, errlen, "%s", t->error[0] ? t->error : "cannot open");
    free(t);
    return NULL;
  }
  return t;
}

TIFF *dx_tiff_handle(dx_tiff *t) { return t->tif; }
const char *dx_tiff_error(dx_tiff *t) { return t->error; }
void dx_tiff_clear_error(dx_tiff *t) { t->error[0] = 0; }
void dx_tiff_close(dx_tiff *t) {
  if (!t) return;
  if (t->tif) TIFFClose(t->tif);
  free(t);
}

int dx_tiff_get_u16(TIFF *tif, uint32_t tag, uint16_t *value) { return TIFFGetField(tif, tag, value) == 1 ? 0 : -1; }
int dx_tiff_get_u32(TIFF *tif, uint32_t tag, uint32_t *value) { return TIFFGetField(tif, tag, value) == 1 ? 0 : -1; }
int dx_tiff_get_float(TIFF *tif, uint32_t tag, float *value) { return TIFFGetField(tif, tag, value) == 1 ? 0 : -1; }
int dx_tiff_get_u16_defaulted(TIFF *tif, uint32_t tag, uint16_t *value) { return TIFFGetFieldDefaulted(tif, tag, value) == 1 ? 0 : -1; }
int dx_tiff_get_string(TIFF *tif, uint32_t tag, const char **value) {
  char *s = NULL;
  if (TIFFGetField(tif, tag, &s) != 1 || !s) return -1;
  *value = s;
  return 0;
}
int dx_tiff_get_extrasamples(TIFF *tif, uint16_t *count, const uint16_t **types) {
  uint16_t *t = NULL;
  if (TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, count, &t) != 1) { *count = 0; return -1; }
  *types = t;
  return 0;
}
int dx_tiff_get_subifds(TIFF *tif, uint16_t *count, const uint64_t **offsets) {
  uint64_t *o = NULL;
  if (TIFFGetField(tif, TIFFTAG_SUBIFD, count, &o) != 1) { *count = 0; return -1; }
  *offsets = o;
  return 0;
}
int dx_tiff_get_colormap(TIFF *tif, const uint16_t **r, const uint16_t **g, const uint16_t **b) {
  uint16_t *rr, *gg, *bb;
  if (TIFFGetField(tif, TIFFTAG_COLORMAP, &rr, &gg, &bb) != 1) return -1;
  *r = rr; *g = gg; *b = bb;
  return 0;
}

int dx_tiff_set_u16(TIFF *tif, uint32_t tag, uint16_t value) { return TIFFSetField(tif, tag, value) == 1 ? 0 : -1; }
int dx_tiff_set_u32(TIFF *tif, uint32_t tag, uint32_t value) { return TIFFSetField(tif, tag, value) == 1 ? 0 : -1; }
int dx_tiff_set_float(TIFF *tif, uint32_t tag, float value) { return TIFFSetField(tif, tag, (double)value) == 1 ? 0 : -1; }
int dx_tiff_set_string(TIFF *tif, uint32_t tag, const char *value) { return TIFFSetField(tif, tag, value) == 1 ? 0 : -1; }
int dx_tiff_set_extrasamples(TIFF *tif, uint16_t count, const uint16_t *types) { return TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, count, types) == 1 ? 0 : -1; }
int dx_tiff_set_subifd_count(TIFF *tif, uint16_t count) {
  uint64_t offsets[32] = {0};
  if (count > 32) return -1;
  return TIFFSetField(tif, TIFFTAG_SUBIFD, count, offsets) == 1 ? 0 : -1;
}
int dx_tiff_set_colormap(TIFF *tif, const uint16_t *r, const uint16_t *g, const uint16_t *b) {
  return TIFFSetField(tif, TIFFTAG_COLORMAP, r, g, b) == 1 ? 0 : -1;
}

int dx_tiff_block_bytecount(TIFF *tif, uint32_t block, uint64_t *count) {
  // One entry, read on demand (the file is opened with "O"), never the whole table.
  int err = 0;
  uint64_t c = TIFFGetStrileByteCountWithErr(tif, block, &err);
  if (err) return -1;
  *count = c;
  return 0;
}
