// OpenJPEG: the JPEG 2000 codestreams Aperio scanners store in SVS tiles (compression 33003,
// 33005) and TIFF's JPEG 2000 compression (34712). Only CDxImaging's j2k_shim.c calls it.
#include <openjpeg.h>
