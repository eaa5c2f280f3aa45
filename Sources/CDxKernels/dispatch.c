// Which instruction set the kernels use: the best the CPU has, unless a test lowers it or
// EFFDX_KERNEL_ISA (c, avx2, avx512) caps it (for A/B benchmarks, or CPUs that slow their
// clock down on AVX-512).
#include "DxKernels.h"
#include <stdlib.h>
#include <string.h>

static int detected(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return 2;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
  return 0;
}

// -1 until first asked; written with the same value by any racing thread.
static volatile int current = -1;

static int requested(void) {
  const char *name = getenv("EFFDX_KERNEL_ISA");
  if (name == NULL || *name == 0) return 2;
  if (strcmp(name, "avx512") == 0) return 2;
  if (strcmp(name, "avx2") == 0) return 1;
  return 0;
}

int dx_kernel_isa(void) {
  if (current < 0) {
    int best = detected(), wanted = requested();
    current = wanted < best ? wanted : best;
  }
  return current;
}

int dx_set_kernel_isa(int level) {
  int best = detected();
  current = level < 0 ? 0 : (level > best ? best : level);
  return current;
}
