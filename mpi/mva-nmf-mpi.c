/* mva-nmf-mpi: mva-nmf with the pixels split across MPI ranks (mpirun -np N mva-nmf-mpi ...).
 * Same options and output; rank 0 writes the file.  The compressed warm start is skipped
 * (with any number of ranks): the result is that of mva-nmf --compressed-iter 0. */
#include "mva_mpi.h"

int main(int argc, char **argv)
{
    tool_par *par = mva_mpi_start(&argc, &argv, "mva-nmf");
    if (par == NULL)
        return 1;
    return mva_mpi_end(par, mva_nmf_tool(argc, argv, par));
}
