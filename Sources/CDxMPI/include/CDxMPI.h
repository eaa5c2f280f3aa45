// A C shim over the few MPI calls data-parallel training makes, on MPI_COMM_WORLD.
// MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM) are macros, which Swift cannot import.
// Every function returns 0 on success and writes a readable message into `err` otherwise
// (the world's error handler is MPI_ERRORS_RETURN, so a failure is reported, not fatal).
#ifndef CDXMPI_H
#define CDXMPI_H
#include <stddef.h>
#include <stdint.h>

/// Joins the world (MPI_Init_thread, MPI_THREAD_FUNNELED: only the main thread calls MPI).
int dxmpi_init(int *rank, int *size, char *err, size_t errlen);
/// Whether dxmpi_init succeeded and dxmpi_finalize has not run.
int dxmpi_is_initialized(void);
/// In-place elementwise sum over all ranks; counts beyond INT_MAX are sent in pieces.
int dxmpi_allreduce_sum_float(float *buffer, int64_t count, char *err, size_t errlen);
int dxmpi_allreduce_sum_double(double *buffer, int64_t count, char *err, size_t errlen);
/// Root's `bytes` bytes to every rank.
int dxmpi_broadcast(void *buffer, int64_t bytes, int root, char *err, size_t errlen);
/// Every rank's `value` to root's `values` (one per rank, in rank order).
int dxmpi_gather_int64(int64_t value, int64_t *values, int root, char *err, size_t errlen);
/// Every rank's bytes to root, concatenated in rank order; `counts` (root only) as gathered.
int dxmpi_gather_bytes(const void *send, int count, void *receive, const int *counts, int root, char *err, size_t errlen);
/// Ends the whole job (every rank) with `code`: for errors that would leave peers waiting.
void dxmpi_abort(int code);
int dxmpi_finalize(void);
#endif
