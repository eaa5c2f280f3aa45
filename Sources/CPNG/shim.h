// libpng: reading every PNG colour type and bit depth, and writing tiles and heatmaps.
#include <png.h>
