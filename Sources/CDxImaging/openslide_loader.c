// OpenSlide, loaded on first use. Linking it put its 31 shared libraries (cairo, glib,
// gdk-pixbuf, X11, sqlite, libxml2...) into every effdx process: 14 ms to load them and a longer
// symbol search for every lazy binding after, on each photo diagnosis that never opens a
// slide. Each `dx_openslide_*` is the `openslide_*` function of the same name, called through
// a pointer bound once by `dlopen`; before that, `dx_openslide_load_error` loads the library
// and says why it could not.

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <openslide/openslide.h>
#include "CDxImaging.h"

static struct {
  __typeof__(&openslide_detect_vendor) detect_vendor;
  __typeof__(&openslide_open) open;
  __typeof__(&openslide_get_error) get_error;
  __typeof__(&openslide_close) close;
  __typeof__(&openslide_get_property_value) get_property_value;
  __typeof__(&openslide_get_level_count) get_level_count;
  __typeof__(&openslide_get_level_dimensions) get_level_dimensions;
  __typeof__(&openslide_get_level_downsample) get_level_downsample;
  __typeof__(&openslide_get_associated_image_names) get_associated_image_names;
  __typeof__(&openslide_get_associated_image_dimensions) get_associated_image_dimensions;
  __typeof__(&openslide_read_associated_image) read_associated_image;
  __typeof__(&openslide_read_region) read_region;
  __typeof__(&openslide_get_version) get_version;
} fn;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;
static char load_error[1024];
// The library the user named (EFFDX_OPENSLIDE_LIBRARY, through the Swift side), or empty.
static char chosen[4096];

void dx_openslide_use_library(const char *path) {
  if (path != NULL && !loaded) snprintf(chosen, sizeof chosen, "%s", path);
}

static void load(void) {
  // The library the user named, only (a wrong path is an error that names it, never a silent
  // fall-back to another OpenSlide); else the runtime package's soname (libopenslide0: .so.0;
  // OpenSlide 4: .so.1), then the dev link.
  static const char *names[] = {"libopenslide.so.0", "libopenslide.so.1", "libopenslide.so"};
  void *handle = NULL;
  if (chosen[0]) {
    handle = dlopen(chosen, RTLD_NOW | RTLD_LOCAL);
  } else {
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !handle; i++) handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  }
  if (!handle) {
    const char *e = dlerror();
    if (chosen[0])
      snprintf(load_error, sizeof load_error, "OpenSlide could not be loaded from EFFDX_OPENSLIDE_LIBRARY=%s: %s", chosen, e ? e : "dlopen failed");
    else
      snprintf(load_error, sizeof load_error, "OpenSlide is not installed (libopenslide0): %s", e ? e : "dlopen failed");
    return;
  }
#define BIND(name)                                                                                  \
  if (!(fn.name = (__typeof__(fn.name))dlsym(handle, "openslide_" #name))) {                        \
    snprintf(load_error, sizeof load_error, "%s has no openslide_%s", chosen[0] ? chosen : "the OpenSlide library", #name); \
    return;                                                                                         \
  }
  BIND(detect_vendor) BIND(open) BIND(get_error) BIND(close) BIND(get_property_value) BIND(get_level_count)
  BIND(get_level_dimensions) BIND(get_level_downsample) BIND(get_associated_image_names)
  BIND(get_associated_image_dimensions) BIND(read_associated_image) BIND(read_region) BIND(get_version)
#undef BIND
  loaded = 1;
}

const char *dx_openslide_load_error(void) {
  pthread_once(&once, load);
  return loaded ? NULL : load_error;
}

// Every call below follows a successful `dx_openslide_load_error` (the Swift reader checks it
// before its first call); without the library they do nothing and return nothing.
#define READY (dx_openslide_load_error() == NULL)

const char *dx_openslide_detect_vendor(const char *filename) { return READY ? fn.detect_vendor(filename) : NULL; }
struct _openslide *dx_openslide_open(const char *filename) { return READY ? fn.open(filename) : NULL; }
const char *dx_openslide_get_error(struct _openslide *osr) { return READY ? fn.get_error(osr) : "OpenSlide is not loaded"; }
void dx_openslide_close(struct _openslide *osr) { if (READY) fn.close(osr); }
const char *dx_openslide_get_property_value(struct _openslide *osr, const char *name) { return READY ? fn.get_property_value(osr, name) : NULL; }
int32_t dx_openslide_get_level_count(struct _openslide *osr) { return READY ? fn.get_level_count(osr) : -1; }
void dx_openslide_get_level_dimensions(struct _openslide *osr, int32_t level, int64_t *w, int64_t *h) {
  *w = *h = -1;
  if (READY) fn.get_level_dimensions(osr, level, w, h);
}
double dx_openslide_get_level_downsample(struct _openslide *osr, int32_t level) { return READY ? fn.get_level_downsample(osr, level) : -1; }
const char *const *dx_openslide_get_associated_image_names(struct _openslide *osr) { return READY ? fn.get_associated_image_names(osr) : NULL; }
void dx_openslide_get_associated_image_dimensions(struct _openslide *osr, const char *name, int64_t *w, int64_t *h) {
  *w = *h = -1;
  if (READY) fn.get_associated_image_dimensions(osr, name, w, h);
}
void dx_openslide_read_associated_image(struct _openslide *osr, const char *name, uint32_t *dest) {
  if (READY) fn.read_associated_image(osr, name, dest);
}
void dx_openslide_read_region(struct _openslide *osr, uint32_t *dest, int64_t x, int64_t y, int32_t level, int64_t w, int64_t h) {
  if (READY) fn.read_region(osr, dest, x, y, level, w, h);
}
const char *dx_openslide_get_version(void) { return READY ? fn.get_version() : NULL; }
