/* mva-pca-mpi: mva-pca with the pixels split across MPI ranks (mpirun -np N mva-pca-mpi ...).
 * Same options and output; rank 0 writes the file. */
#include "mva_mpi.h"

int main(int argc, char **argv)
{
    tool_par *par = mva_mpi_start(&argc, &argv, "mva-pca");
    if (par == NULL)
        return 1;
    return mva_mpi_end(par, mva_pca_tool(argc, argv, par));
}
