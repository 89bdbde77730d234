/* mva-pca and mva-compress share one fit: parse the PCA options, open the input, fit the
 * model (with any --roi images in the same passes), then report.  What each tool does with the
 * model is its own: mva-pca writes it (tools/mva-pca.c), mva-compress measures the
 * reconstruction and writes both (tools/mva-compress.c).  par (tools/par.h) is NULL for one
 * process; the MPI build passes its hooks, and then rank 0 alone writes and prints. */
#ifndef MVA_TOOLS_PCA_TOOL_H
#define MVA_TOOLS_PCA_TOOL_H

#include "cli.h"
#include "par.h"
#include "pca_unmix.h"

#define PCA_TOOL_MAX_ROIS 256
#define PCA_TOOL_MAX_PARAMS (24 + CLI_READER_PARAMS)

/* What tells the two tools apart before the fit. */
typedef struct pca_tool_kind {
    const char *prog;    /* "mva-pca" */
    const char *usage;   /* the --help text */
    const char *suffix;  /* default output: INPUT's name + suffix, here */
} pca_tool_kind;

/* One run: the options, the fitted model and the result spec to write.  Lives on the caller's
 * stack (spec points into it); pca_tool_close frees what it holds. */
typedef struct pca_tool {
    cli_common c;
    const char *input, *output, *entry;
    const char *report; /* --report DIR */
    mva_pca_opts pca;
    mva_roi_def rois[PCA_TOOL_MAX_ROIS];
    size_t nroi;
    char ch_text[64];
    char k_text[32]; /* the -k rule as given, empty for a number */
    size_t k_max;
    pca_unmix unmix; /* --rotate, --ica */

    tool_par *par;
    int root;        /* this process writes and prints (always, without par) */
    double t0;
    mva_error err;
    mva_stack *s;
    mva_roi_acc *roi;
    mva_roi_result *rr;
    mva_pca_model *m;
    const char *out; /* -o, or the default name in outbuf */
    char outbuf[4096];
    char entry_made[256]; /* the entry written, as the writer made it unique */
    mva_result_parts spec; /* filled on rank 0 once the fit succeeded */
    mva_param params[PCA_TOOL_MAX_PARAMS];
    char param_text[8][64];
    cli_reader_text reader_text;
} pca_tool;

/* Parses argv, opens INPUT with the common options, fits the PCA and fills t->spec.  Returns
 * -1 when the tool goes on, with *rc the status of the fit (its message in t->err; under MPI a
 * failed fit has stopped every process); else the exit status to return at once (help,
 * a usage error, an input some process could not open).  Then call pca_tool_close either way. */
int pca_tool_fit(pca_tool *t, const pca_tool_kind *kind, int argc, char **argv, tool_par *par,
                 int *rc);

/* After the tool wrote its output (rc its status): --rotate/--ica and --report into that
 * entry, the error message if any, and under MPI every process learns whether rank 0
 * succeeded.  Returns the status the tool ends with. */
int pca_tool_finish(pca_tool *t, int rc);

/* The summary on stdout: input, method, components and their eigenvalues, time, output. */
void pca_tool_print(const pca_tool *t);

/* The summary lines of --rotate/--ica and --report (nothing when not asked). */
void pca_tool_print_extras(const pca_tool *t);

/* Frees the run; returns the exit status for rc (0 for MVA_OK, else 1). */
int pca_tool_close(pca_tool *t, int rc);

/* The options both tools take, for their --help. */
#define PCA_OPTIONS_HELP \
    "PCA options:\n" \
    "  -k, --components N     components to keep (default 10), or a rule:\n" \
    "                         auto: the eigenvalues above the Poisson noise edge\n" \
    "                         (Marchenko-Pastur; turns --poisson on: counts data);\n" \
    "                         0.99: the fewest explaining 99%% of the variance;\n" \
    "                         elbow: where the log scree bends\n" \
    "  --k-max N              the most components a rule may keep (default 30)\n" \
    "  --channels A:B         analyse channels A..B only (inclusive)\n" \
    "  --bin B                sum B adjacent channels into one variable (default 1)\n" \
    "  --poisson              Poisson scaling of pixels and channels (Keenan & Kotula),\n" \
    "                         for raw counts; results are un-weighted after\n" \
    "  --uncentred            eigenimages from the uncentred data (as PyMca's covariance\n" \
    "                         method); the default centres on the mean spectrum\n" \
    "  --roi [NAME=]A:B[keV]  also compute this ROI image in the same pass (repeatable)\n" \
    "  --method M             exact: covariance + LAPACK, 2 passes, n*p^2 flops;\n" \
    "                         randomized: block Krylov, one pass per block of k+10\n" \
    "                         vectors, ~4*n*p*(k+10) flops a pass; auto (default): the one\n" \
    "                         estimated faster for this map, and exact after all if\n" \
    "                         randomized stops short of --tol (the summary says so)\n" \
    "  --passes N             randomized: at most N range-finder passes (default 8)\n" \
    "  --tol T                randomized: stop when the k leading eigenvalues' estimated\n" \
    "                         error is below T, relative (default 1e-8): their last change\n" \
    "                         extrapolated over the rate of the last two passes\n" \
    "  --oversample N         randomized: basis of k + N vectors (default 10)\n" \
    "  --seed N               randomized: seed of the Gaussian start (default 20261125)\n" \
    "\n" PCA_UNMIX_HELP \
    "\n" \
    "Output:\n" \
    "  -o, --output FILE      HDF5 file to write (default: INPUT's name + _pca.h5 here); an\n" \
    "                         existing HDF5 file gets a new entry, other entries are kept\n" \
    "  --entry NAME           name of the NXentry (default mva_pca, made unique)\n" \
    "  --report DIR           also write an HTML report of the result into DIR (PNG images,\n" \
    "                         SVG plots, index.html; see mva-report)\n" \
    "\n" CLI_SPILL_HELP \
    "\n" CLI_COMMON_HELP

#endif
