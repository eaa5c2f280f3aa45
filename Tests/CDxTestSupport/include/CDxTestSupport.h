// C helpers for tests only: files the product never writes but labs send.
#ifndef CDXTESTSUPPORT_H
#define CDXTESTSUPPORT_H
#include <stdint.h>

/// Writes interleaved 8-bit RGB as a baseline JPEG with a restart marker every `restart_mcus`
/// MCUs (Hamamatsu VMS and NDPI scanners write them; OpenSlide needs them).
/// Returns 0, or -1 when the file cannot be written.
int dxt_write_jpeg_with_restarts(const char *path, const uint8_t *rgb, int width, int height, int quality, int restart_mcus);
/// Writes a Hamamatsu VMS slide, `dir/name.vms` with its one JPEG `dir/name.jpg` (restart
/// markers every 8 MCUs), recording `microns_per_pixel` as the physical size.
int dxt_write_vms(const char *dir, const char *name, const uint8_t *rgb, int width, int height, double microns_per_pixel);
#endif
