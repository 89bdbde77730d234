/* mva-cluster-mpi: mva-cluster with the pixels of the map split across MPI ranks (mpirun -np N
 * mva-cluster-mpi ...): each rank reads its slab for the PCA of a map and for the spectra;
 * rank 0 clusters the scores and writes.  Same options and output. */
#include "mva_mpi.h"

int main(int argc, char **argv)
{
    tool_par *par = mva_mpi_start(&argc, &argv, "mva-cluster");
    if (par == NULL)
        return 1;
    return mva_mpi_end(par, mva_cluster_tool(argc, argv, par));
}
