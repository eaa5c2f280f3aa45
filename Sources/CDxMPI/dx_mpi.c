#include "CDxMPI.h"
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int initialized = 0;

static int fail(int code, const char *what, char *err, size_t errlen) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) snprintf(text, sizeof text, "error %d", code);
  snprintf(err, errlen, "%s: %s", what, text);
  return -1;
}

int dxmpi_init(int *rank, int *size, char *err, size_t errlen) {
  int provided = 0, rc;
  if (!initialized) {
    rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return fail(rc, "MPI_Init_thread", err, errlen);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    initialized = 1;
  }
  if ((rc = MPI_Comm_rank(MPI_COMM_WORLD, rank)) != MPI_SUCCESS) return fail(rc, "MPI_Comm_rank", err, errlen);
  if ((rc = MPI_Comm_size(MPI_COMM_WORLD, size)) != MPI_SUCCESS) return fail(rc, "MPI_Comm_size", err, errlen);
  return 0;
}

int dxmpi_is_initialized(void) { return initialized; }

// MPI counts are ints: longer buffers go in pieces of at most 2^30 elements.
static const int64_t piece = (int64_t)1 << 30;

static int allreduce_sum(void *buffer, int64_t count, MPI_Datatype type, size_t element, char *err, size_t errlen) {
  for (int64_t start = 0; start < count; start += piece) {
    int n = (int)(count - start < piece ? count - start : piece);
    int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buffer + start * (int64_t)element, n, type, MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return fail(rc, "MPI_Allreduce", err, errlen);
  }
  return 0;
}

int dxmpi_allreduce_sum_float(float *buffer, int64_t count, char *err, size_t errlen) {
  return allreduce_sum(buffer, count, MPI_FLOAT, sizeof(float), err, errlen);
}

int dxmpi_allreduce_sum_double(double *buffer, int64_t count, char *err, size_t errlen) {
  return allreduce_sum(buffer, count, MPI_DOUBLE, sizeof(double), err, errlen);
}

int dxmpi_broadcast(void *buffer, int64_t bytes, int root, char *err, size_t errlen) {
  for (int64_t start = 0; start < bytes; start += piece) {
    int n = (int)(bytes - start < piece ? bytes - start : piece);
    int rc = MPI_Bcast((char *)buffer + start, n, MPI_BYTE, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return fail(rc, "MPI_Bcast", err, errlen);
  }
  return 0;
}

int dxmpi_gather_int64(int64_t value, int64_t *values, int root, char *err, size_t errlen) {
  int rc = MPI_Gather(&value, 1, MPI_INT64_T, values, 1, MPI_INT64_T, root, MPI_COMM_WORLD);
  return rc == MPI_SUCCESS ? 0 : fail(rc, "MPI_Gather", err, errlen);
}

int dxmpi_gather_bytes(const void *send, int count, void *receive, const int *counts, int root, char *err, size_t errlen) {
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int *displacements = NULL;
  if (rank == root) {
    displacements = calloc((size_t)size, sizeof(int));
    if (!displacements) { snprintf(err, errlen, "MPI_Gatherv: out of memory"); return -1; }
    int64_t at = 0;
    for (int r = 0; r < size; r++) {
      if (at > INT_MAX) { free(displacements); snprintf(err, errlen, "MPI_Gatherv: more than 2 GB gathered"); return -1; }
      displacements[r] = (int)at;
      at += counts[r];
    }
  }
  int rc = MPI_Gatherv(send, count, MPI_BYTE, receive, counts, displacements, MPI_BYTE, root, MPI_COMM_WORLD);
  free(displacements);
  return rc == MPI_SUCCESS ? 0 : fail(rc, "MPI_Gatherv", err, errlen);
}

void dxmpi_abort(int code) {
  if (initialized) MPI_Abort(MPI_COMM_WORLD, code);
  exit(code);
}

int dxmpi_finalize(void) {
  if (!initialized) return 0;
  initialized = 0;
  return MPI_Finalize() == MPI_SUCCESS ? 0 : -1;
}
