#include "CDxTestSupport.h"
#include <stdio.h>
#include <jpeglib.h>

int dxt_write_jpeg(const char *path, const uint8_t *rgb, int width, int height, int quality, int restart_mcus, int progressive, int luma_h, int luma_v) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr e;
  c.err = jpeg_std_error(&e);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = (JDIMENSION)width;
  c.image_height = (JDIMENSION)height;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  c.comp_info[0].h_samp_factor = luma_h;  // 2 x 2: 4:2:0, 2 x 1: 4:2:2, 1 x 1: 4:4:4
  c.comp_info[0].v_samp_factor = luma_v;
  if (progressive) jpeg_simple_progression(&c);
  c.restart_interval = (unsigned int)restart_mcus;
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = (JSAMPROW)(rgb + (size_t)c.next_scanline * (size_t)width * 3);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  return fclose(f) == 0 ? 0 : -1;
}

int dxt_write_vms(const char *dir, const char *name, const uint8_t *rgb, int width, int height, double microns_per_pixel) {
  char jpeg[4096], vms[4096];
  snprintf(jpeg, sizeof jpeg, "%s/%s.jpg", dir, name);
  snprintf(vms, sizeof vms, "%s/%s.vms", dir, name);
  // 4:4:4: OpenSlide 3.4.1 misreads restart intervals of 4:2:0 VMS JPEGs (RST0 not found).
  if (dxt_write_jpeg(jpeg, rgb, width, height, 92, 8, 0, 1, 1) != 0) return -1;
  FILE *f = fopen(vms, "w");
  if (!f) return -1;
  // Physical sizes are in nanometres; OpenSlide derives openslide.mpp-x from them.
  fprintf(f, "[Virtual Microscope Specimen]\nNoLayers=1\nNoJpegColumns=1\nNoJpegRows=1\nImageFile=%s.jpg\nMapFile=%s.jpg\n"
             "PhysicalWidth=%.0f\nPhysicalHeight=%.0f\nSourceLens=20\n",
          name, name, width * microns_per_pixel * 1000, height * microns_per_pixel * 1000);
  return fclose(f) == 0 ? 0 : -1;
}
