// Open MPI (Debian's libopenmpi-dev): data-parallel training. Swift reaches it only through
// CDxMPI, because MPI_COMM_WORLD, MPI_FLOAT and friends are macros over symbols Swift cannot
// import.
#include <mpi.h>
