// libtiff: striped/tiled, pyramidal and BigTIFF decoding for whole-slide images.
#include <tiffio.h>
