/* mva-expand: rebuilds a stack (or a region of it) from a PCA model written by mva-compress
 * or mva-pca, streamed row by row into a NeXus HDF5 file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mva/compress.h"

static const char *usage =
    "Usage: mva-expand MODEL.h5 -o STACK.h5 [options]\n"
    "\n"
    "Rebuilds the stack that a PCA model stands for (mean + k components, un-weighted when\n"
    "Poisson scaling was used), row by row, into a NeXus file: /expanded/data/data\n"
    "(rows, cols, channels), chunked by rows and gzip-compressed, with the energy axis.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE      the stack to write (required)\n"
    "  --entry NAME           the model's entry (default: the file's default entry)\n"
    "  --region R0:R1,C0:C1   rows R0..R1-1 and columns C0..C1-1 only\n"
    "  --dtype T              float64 (default), float32 or uint32\n"
    "  --round                round to whole counts (uint32 also clips below 0)\n"
    "  -q, --quiet            no summary;  -h, --help;  -V, --version\n"
    "\n"
    "Example:\n"
    "  mva-compress map.h5 -k 4 -o model.h5\n"
    "  mva-expand model.h5 -o rebuilt.h5 --dtype uint32 --round\n"
    "  mva-expand model.h5 -o corner.h5 --region 0:10,0:20\n";

typedef struct {
    const char *prog, *model, *output, *entry;
    mva_expand_opts opts;
    int quiet;
} expand_args;

static int parse_region(expand_args *a, const char *s)
{
    unsigned long v[4];
    int used = 0;
    if (sscanf(s, "%lu:%lu,%lu:%lu%n", &v[0], &v[1], &v[2], &v[3], &used) != 4 ||
        s[used] != '\0' || v[0] >= v[1] || v[2] >= v[3]) {
        cli_fail(a->prog, "--region '%s': expected R0:R1,C0:C1 with R0 < R1 and C0 < C1", s);
        return -1;
    }
    a->opts.r0 = v[0];
    a->opts.r1 = v[1];
    a->opts.c0 = v[2];
    a->opts.c1 = v[3];
    return 0;
}

static int parse_dtype(expand_args *a, const char *s)
{
    if (strcmp(s, "float64") == 0)
        a->opts.dtype = MVA_DTYPE_FLOAT64;
    else if (strcmp(s, "float32") == 0)
        a->opts.dtype = MVA_DTYPE_FLOAT32;
    else if (strcmp(s, "uint32") == 0)
        a->opts.dtype = MVA_DTYPE_UINT32;
    else {
        cli_fail(a->prog, "--dtype '%s': expected float64, float32 or uint32", s);
        return -1;
    }
    return 0;
}

/* 0 to go on, 1 to exit successfully, 2 on a usage error. */
static int parse_args(expand_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"entry", required_argument, NULL, 'e'},
                                             {"region", required_argument, NULL, 'r'},
                                             {"dtype", required_argument, NULL, 't'},
                                             {"round", no_argument, NULL, 'R'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, 'V'},
                                             {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "o:qhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(usage, stdout); return 1;
        case 'V': printf("mva-expand %s\n", mva_version()); return 1;
        case 'o': a->output = optarg; break;
        case 'e': a->entry = optarg; break;
        case 'q': a->quiet = 1; break;
        case 'R': a->opts.round = 1; break;
        case 'r':
            if (parse_region(a, optarg))
                return 2;
            break;
        case 't':
            if (parse_dtype(a, optarg))
                return 2;
            break;
        default: cli_fail(a->prog, "try 'mva-expand --help'"); return 2;
        }
    }
    if (optind != argc - 1 || a->output == NULL) {
        cli_fail(a->prog, "%s; try 'mva-expand --help'",
                 a->output ? "one MODEL.h5 expected" : "-o STACK.h5 is required");
        return 2;
    }
    a->model = argv[optind];
    return 0;
}

int main(int argc, char **argv)
{
    expand_args a;
    memset(&a, 0, sizeof a);
    a.prog = "mva-expand";
    cli_process_setup();
    int pr = parse_args(&a, argc, argv);
    if (pr)
        return pr == 1 ? 0 : 2;
    double t0 = cli_now();
    mva_error err;
    mva_pca_model *m = NULL;
    int rc = mva_result_read_pca(a.model, a.entry, &m, &err);
    if (rc == MVA_OK)
        rc = mva_expand_write(m, &a.opts, a.output, &err);
    if (rc != MVA_OK)
        cli_fail(a.prog, "%s", err.msg);
    else if (!a.quiet)
        printf("expanded   %s: %zu components, %zu x %zu pixels x %zu channels -> %s "
               "(%.2f s)\n", a.model, m->k, a.opts.r1 ? a.opts.r1 - a.opts.r0 : m->rows,
               a.opts.c1 ? a.opts.c1 - a.opts.c0 : m->cols, m->p, a.output, cli_now() - t0);
    mva_pca_model_free(m);
    return rc == MVA_OK ? 0 : 1;
}
