// Which instruction set the kernels use: the best the CPU has, unless a test lowers it or the
// tool caps it (`dx_set_kernel_isa`, from EFFDX_KERNEL_ISA read by the Swift side's one
// RuntimeEnvironment: for A/B benchmarks, or CPUs that slow their clock down on AVX-512).
#include "DxKernels.h"

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

int dx_kernel_isa(void) {
  if (current < 0) current = detected();
  return current;
}

int dx_set_kernel_isa(int level) {
  int best = detected();
  current = level < 0 ? 0 : (level > best ? best : level);
  return current;
}
