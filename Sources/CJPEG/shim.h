// libjpeg-turbo's TurboJPEG API: JPEG decoding for leaf photos and JPEG-compressed tiles.
#include <stddef.h>
#include <turbojpeg.h>
