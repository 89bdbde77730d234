/* BLAS threads around the passes; see blasctl.h. */
#include <cblas.h>
#include <unistd.h>

#include "blasctl.h"

int mva_blas_leave_reader_a_core(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = openblas_get_num_threads();
    if (cpus > 0 && threads > 1 && threads > cpus - 1)
        openblas_set_num_threads(cpus > 2 ? (int)cpus - 1 : 1);
    return threads;
}

void mva_blas_restore(int threads)
{
    if (openblas_get_num_threads() != threads)
        openblas_set_num_threads(threads);
}
