/* Running one tool as one of several processes (the MPI builds, mpi/): the hooks the tool
 * calls at the few points where a parallel run differs.  The tools pass NULL for a single
 * process; nothing here knows MPI. */
#ifndef MVA_TOOLS_PAR_H
#define MVA_TOOLS_PAR_H

#include "cli.h"
#include "mva.h"

typedef struct tool_par tool_par;
struct tool_par {
    int rank, size;
    /* After every process tried to open its input (rc its own status, s NULL on failure):
     * sets pass->comm and this process's pixel range.  Returns MVA_OK when every process
     * opened its input, else non-zero (the failing processes print their message). */
    int (*opened)(tool_par *par, const char *prog, int rc, const char *msg, mva_stack *s,
                  mva_pass_opts *pass);
    /* A failure once the passes began, when the others may be waiting in a collective:
     * prints the message and stops every process (does not return). */
    void (*abort)(tool_par *par, const char *prog, const char *msg);
    /* After rank 0 wrote the output: every process learns whether that worked (returns the
     * combined status, 0 = success). */
    int (*agree)(tool_par *par, int rc);
    void *user;
};

/* Opens the tool's input into *s (rc as mva_stack_open, its message in err).  With par, every
 * process then learns whether all of them opened theirs: when not, *stop is set and s closed,
 * and the tool exits 1 (the failing processes printed why). */
int tool_open_input(tool_par *par, cli_common *c, const char *input, mva_stack **s,
                    mva_error *err, int *stop);

/* The tools' bodies, for the MPI entry points (par NULL: a single process). */
int mva_pca_tool(int argc, char **argv, tool_par *par);
int mva_roi_tool(int argc, char **argv, tool_par *par);
int mva_nmf_tool(int argc, char **argv, tool_par *par);
int mva_cluster_tool(int argc, char **argv, tool_par *par);

#endif
