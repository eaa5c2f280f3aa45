// OpenSlide: the vendor slide formats EfficientDx's own TIFF reader does not handle (Hamamatsu
// NDPI and VMS/VMU, MIRAX, Leica SCN, Ventana BIF, Sakura, Philips TIFF). Only DxImaging's
// OpenSlideReader calls it.
#include <openslide.h>
