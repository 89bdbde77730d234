/* The MPI glue of the mva-*-mpi tools: starts MPI and hands the tool its tool_par hooks.
 * This header does not include mpi.h; only mpi/mpi_glue.c does. */
#ifndef MVA_MPI_GLUE_H
#define MVA_MPI_GLUE_H

#include "par.h"

/* MPI_Init, then the hooks for MPI_COMM_WORLD (NULL, after a message, if MPI fails). */
tool_par *mva_mpi_start(int *argc, char ***argv, const char *prog);

/* Prints the communication statistics when MVA_MPI_STATS is set, MPI_Finalize, frees par;
 * returns rc (the exit status). */
int mva_mpi_end(tool_par *par, int rc);

#endif
