/* mva-roi-mpi: mva-roi with the pixels split across MPI ranks (mpirun -np N mva-roi-mpi ...).
 * Same options and output; rank 0 writes the file (or the CSV). */
#include "mva_mpi.h"

int main(int argc, char **argv)
{
    tool_par *par = mva_mpi_start(&argc, &argv, "mva-roi");
    if (par == NULL)
        return 1;
    return mva_mpi_end(par, mva_roi_tool(argc, argv, par));
}
