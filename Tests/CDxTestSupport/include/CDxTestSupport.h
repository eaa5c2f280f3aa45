// C helpers for tests only: files the product never writes but labs send.
#ifndef CDXTESTSUPPORT_H
#define CDXTESTSUPPORT_H
#include <stdint.h>

/// Writes interleaved 8-bit RGB as a JPEG the way cameras and scanners vary it: a restart
/// marker every `restart_mcus` MCUs (0: none; Hamamatsu VMS and NDPI write them), progressive
/// or baseline, and luma sampling `luma_h` x `luma_v` (2 x 2: 4:2:0, 2 x 1: 4:2:2, 1 x 1: 4:4:4).
/// Returns 0, or -1 when the file cannot be written.
int dxt_write_jpeg(const char *path, const uint8_t *rgb, int width, int height, int quality, int restart_mcus, int progressive, int luma_h, int luma_v);
/// Writes a Hamamatsu VMS slide, `dir/name.vms` with its one JPEG `dir/name.jpg` (restart
/// markers every 8 MCUs), recording `microns_per_pixel` as the physical size.
int dxt_write_vms(const char *dir, const char *name, const uint8_t *rgb, int width, int height, double microns_per_pixel);
#endif
