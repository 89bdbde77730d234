/* mva-nmf: non-negative matrix factorisation of an XRF map, streamed, into a NeXus HDF5 file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mva/nmf.h"
#include "mva/report.h"
#include "par.h"

static const char *usage =
    "Usage: mva-nmf INPUT -k N [options]\n"
    "\n"
    "Non-negative matrix factorisation X ~ W H of an X-ray fluorescence map, read in blocks\n"
    "(memory: the block buffers, the k x p spectra, the n x k abundances of the result and p x p\n"
    "for the nndsvda start; W, n x k, stays in memory while it fits --memory, else it lives\n"
    "in a scratch HDF5 file, see --scratch).  Writes the abundance images (counts per component), the component\n"
    "spectra (each summing to 1), the objective after every pass and all parameters to a\n"
    "NeXus HDF5 file that silx, PyMca and h5py open, and prints a summary.\n"
    "\n"
    "NMF options:\n"
    "  -k, --components N     components (required)\n"
    "  --method M             hals (default): coordinate descent, exact streamed form;\n"
    "                         mu: multiplicative updates, Frobenius loss;\n"
    "                         kl: multiplicative updates, Poisson (Kullback-Leibler) loss\n"
    "  --init I               nndsvda (default): from the k leading singular vectors of X\n"
    "                         (one extra pass, p x p Gram); random: |N(0,1)| from --seed\n"
    "  --seed S               seed of the random start (default 20261125)\n"
    "  --max-iter N           passes of updates at most (default 200)\n"
    "  --tol T                stop when the objective changes by less than T, relative,\n"
    "                         between passes (default 1e-4; 0 = always --max-iter passes)\n"
    "  --inner N              hals, mu: sweeps over each block's W rows and over H per pass\n"
    "                         (default 10; they are cheap next to reading the block)\n"
    "  --compressed-iter N    hals + nndsvda: at most N HALS iterations on the rank-(2k+10)\n"
    "                         projection of X, in memory, before the passes (default 200,\n"
    "                         0 = none); the passes then polish with the exact objective\n"
    "  --poisson              hals, mu: Poisson scaling of pixels and channels (as mva-pca)\n"
    "                         before the factorisation, undone afterwards\n"
    "\n"
    "Output:\n"
    "  -o, --output FILE      HDF5 file to write (default: INPUT's name + _nmf.h5 here); an\n"
    "                         existing HDF5 file gets a new entry, other entries are kept\n"
    "  --entry NAME           name of the NXentry (default mva_nmf, made unique)\n"
    "  --report DIR           also write an HTML report of the new entry into DIR (as\n"
    "                         mva-report does): abundance maps, component spectra with\n"
    "                         element lines, convergence, summary; index.html last\n"
    "\n" CLI_SPILL_HELP
    "                         (also where W goes when n x k doubles exceed --memory; the\n"
    "                         compressed warm start is then skipped)\n"
    "\n" CLI_COMMON_HELP
    "\n"
    "Examples:\n"
    "  mva-gen -o map.h5 && mva-nmf map.h5 -k 6 -o map_nmf.h5\n"
    "  mva-nmf map.h5 -k 4 --method kl --init random --seed 7 --max-iter 500\n"
    "  mva-nmf map.h5::/entry/data/data -k 5 --poisson --tol 1e-5 -v\n"
    "  mva-nmf map.h5 -k 3 -o map_nmf.h5 --report nmf_report\n"
    "  mva-nmf map.h5 -k 8 --memory 1 --scratch /var/tmp   (W, 20200 x 8 doubles, on disk)\n";

typedef struct {
    cli_common c;
    const char *input, *output, *entry, *report;
    mva_nmf_opts nmf;
    int have_k;
} nmf_args;

static int parse_choice(nmf_args *a, const char *opt, const char *arg, const char *const *names,
                        int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (strcmp(arg, names[i]) == 0) {
            *out = i;
            return 0;
        }
    cli_fail(a->c.prog, "%s '%s': expected %s, %s%s%s", opt, arg, names[0], names[1],
             n > 2 ? " or " : "", n > 2 ? names[2] : "");
    return -1;
}

static int tool_option(void *tool, int opt, const char *arg)
{
    nmf_args *a = tool;
    static const char *const methods[] = {"hals", "mu", "kl"}, *const inits[] = {"nndsvda",
                                                                                 "random"};
    size_t v;
    int choice = 0;
    switch (opt) {
    case 'k':
        a->have_k = 1;
        return cli_parse_size(a->c.prog, "-k", arg, 1, &a->nmf.k);
    case 'o':
        a->output = arg;
        return 0;
    case OPT_FIRST_TOOL:
        if (parse_choice(a, "--method", arg, methods, 3, &choice) != 0)
            return -1;
        a->nmf.method = (mva_nmf_method)choice;
        return 0;
    case OPT_FIRST_TOOL + 1:
        if (parse_choice(a, "--init", arg, inits, 2, &choice) != 0)
            return -1;
        a->nmf.init = (mva_nmf_init)choice;
        return 0;
    case OPT_FIRST_TOOL + 2:
        if (cli_parse_size(a->c.prog, "--seed", arg, 0, &v))
            return -1;
        a->nmf.seed = v;
        return 0;
    case OPT_FIRST_TOOL + 3:
        return cli_parse_size(a->c.prog, "--max-iter", arg, 1, &a->nmf.max_iter);
    case OPT_FIRST_TOOL + 4:
        return cli_parse_double(a->c.prog, "--tol", arg, 0.0, &a->nmf.tol);
    case OPT_FIRST_TOOL + 5:
        return cli_parse_size(a->c.prog, "--inner", arg, 1, &a->nmf.inner);
    case OPT_FIRST_TOOL + 6:
        a->nmf.poisson = 1;
        return 0;
    case OPT_FIRST_TOOL + 7:
        a->entry = arg;
        return 0;
    case OPT_FIRST_TOOL + 8:
        return cli_parse_size(a->c.prog, "--compressed-iter", arg, 0, &a->nmf.compressed_iter);
    case OPT_FIRST_TOOL + 9:
        a->report = arg;
        return 0;
    default:
        cli_fail(a->c.prog, "try 'mva-nmf --help'");
        return -1;
    }
}

/* Returns 0 to go on, 1 to exit successfully (help, version), 2 on a usage error. */
static int parse_args(nmf_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"components", required_argument, NULL, 'k'},
        {"output", required_argument, NULL, 'o'},
        {"method", required_argument, NULL, OPT_FIRST_TOOL},
        {"init", required_argument, NULL, OPT_FIRST_TOOL + 1},
        {"seed", required_argument, NULL, OPT_FIRST_TOOL + 2},
        {"max-iter", required_argument, NULL, OPT_FIRST_TOOL + 3},
        {"tol", required_argument, NULL, OPT_FIRST_TOOL + 4},
        {"inner", required_argument, NULL, OPT_FIRST_TOOL + 5},
        {"poisson", no_argument, NULL, OPT_FIRST_TOOL + 6},
        {"entry", required_argument, NULL, OPT_FIRST_TOOL + 7},
        {"compressed-iter", required_argument, NULL, OPT_FIRST_TOOL + 8},
        {"report", required_argument, NULL, OPT_FIRST_TOOL + 9},
        CLI_SPILL_LONGOPTS,
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0}};
    int rc = cli_parse_args(&a->c, argc, argv, "k:o:qvhV", longopts, usage, tool_option, a,
                            &a->input);
    if (rc == 0 && !a->have_k) {
        cli_fail(a->c.prog, "-k N is required (the number of components); try 'mva-nmf --help'");
        return 2;
    }
    if (rc == 0 && a->nmf.poisson && a->nmf.method == MVA_NMF_KL) {
        cli_fail(a->c.prog, "--poisson is for --method hals or mu; kl already models counts");
        return 2;
    }
    return rc;
}

/* -v: the objective after every pass. */
static void show_iter(void *user, size_t it, double f)
{
    (void)user;
    cli_progress_done();
    fprintf(stderr, "iteration %zu: objective %.10g\n", it, f);
}

static void print_summary(const cli_common *c, const mva_stack *s, const mva_nmf_model *m,
                          const char *out, const char *entry, double secs)
{
    const mva_stack_info *info = mva_stack_get_info(s);
    cli_print_input(stdout, s);
    printf("method     %s, start %s%s, %zu inner sweeps, %zu valid pixels",
           mva_nmf_method_name(m->method), mva_nmf_init_name(m->init),
           m->poisson ? ", Poisson scaling" : "", m->inner, m->n_valid);
    if (m->n_valid < info->rows * info->cols)
        printf(", %zu masked (NaN/Inf)", info->rows * info->cols - m->n_valid);
    if (m->w_scratch)
        printf("\nW          %zu x %zu doubles in a scratch HDF5 file (over --memory), no warm "
               "start", info->rows * info->cols, m->k);
    printf("\n%s  %zu iterations (%zu passes over the data), tolerance %g\n",
           m->converged ? "converged " : "stopped   ", m->iterations, m->passes, m->tol);
    printf("objective  %.10g", m->objective);
    if (m->method != MVA_NMF_KL)
        printf(" (relative error ||X - WH|| / ||X|| = %.6g%s)", m->rel_error,
               m->poisson ? ", scaled data" : "");
    printf("\n\n  component   share of counts\n");
    for (size_t q = 0; q < m->k; q++)
        printf("  %-10zu  %8.4f%%\n", q + 1, 100 * m->share[q]);
    char spill[512];
    cli_spill_summary(c, s, spill, sizeof spill);
    printf("\n%stime       %.2f s\n", spill, secs);
    printf("written    %s (entry /%s)\n", out, entry);
}

/* Every parameter, as text, for the provenance record. */
static size_t record_params(const nmf_args *a, mva_param *pr, char buf[][64])
{
    size_t budget = a->c.pass.mem_budget ? a->c.pass.mem_budget : MVA_PASS_DEFAULT_BUDGET;
    snprintf(buf[0], 64, "%zu", a->nmf.k);
    snprintf(buf[1], 64, "%llu", (unsigned long long)a->nmf.seed);
    snprintf(buf[2], 64, "%zu", a->nmf.max_iter);
    snprintf(buf[3], 64, "%.17g", a->nmf.tol);
    snprintf(buf[4], 64, "%zu", a->nmf.inner);
    snprintf(buf[5], 64, "%zu", budget);
    snprintf(buf[6], 64, "%zu", a->nmf.compressed_iter);
    size_t n = 0;
    pr[n++] = (mva_param){"components", buf[0]};
    pr[n++] = (mva_param){"method", mva_nmf_method_name(a->nmf.method)};
    pr[n++] = (mva_param){"init", mva_nmf_init_name(a->nmf.init)};
    pr[n++] = (mva_param){"seed", buf[1]};
    pr[n++] = (mva_param){"max_iter", buf[2]};
    pr[n++] = (mva_param){"tolerance", buf[3]};
    pr[n++] = (mva_param){"inner_sweeps", buf[4]};
    pr[n++] = (mva_param){"compressed_iter", buf[6]};
    pr[n++] = (mva_param){"poisson", a->nmf.poisson ? "yes" : "no"};
    pr[n++] = (mva_param){"memory_budget_bytes", buf[5]};
    return n;
}

/* par: one of several processes (MPI builds), else NULL; rank 0 alone writes and prints.
 * Under MPI (par set, whatever the process count) the compressed warm start is skipped (see
 * mva/nmf.h): the result is that of mva-nmf --compressed-iter 0. */
int mva_nmf_tool(int argc, char **argv, tool_par *par)
{
    nmf_args a;
    memset(&a, 0, sizeof a);
    a.c.prog = "mva-nmf";
    a.nmf = mva_nmf_opts_default();
    int pr = parse_args(&a, argc, argv);
    if (pr) {
        cli_common_free(&a.c);
        return pr == 1 ? 0 : 2;
    }
    int root = par == NULL || par->rank == 0;
    if (!root)
        a.c.quiet = 1, a.c.verbose = 0;
    if (par) /* the library skips it with several processes: one process too, for results
              * that do not depend on the process count; recorded as such */
        a.nmf.compressed_iter = 0;
    char outbuf[4096], entry[256] = "";
    const char *out = a.output;
    if (out == NULL) {
        cli_default_output(a.input, "_nmf.h5", outbuf, sizeof outbuf);
        out = outbuf;
    }
    if (a.c.verbose)
        a.nmf.on_iter = show_iter;
    double t0 = cli_now();
    mva_error err;
    mva_error_clear(&err);
    mva_stack *s = NULL;
    mva_nmf_model *m = NULL;
    int stop;
    int rc = tool_open_input(par, &a.c, a.input, &s, &err, &stop);
    if (stop) {
        cli_common_free(&a.c);
        return 1;
    }
    a.nmf.scratch_dir = a.c.scratch;
    if (rc == MVA_OK)
        cli_spill(&a.c, s);
    if (rc == MVA_OK) {
        cli_progress_init(&a.c, "mva-nmf");
        rc = mva_nmf_fit(s, &a.nmf, &a.c.pass, &m, &err);
        cli_progress_done();
    }
    if (rc != MVA_OK && par)
        par->abort(par, a.c.prog, err.msg);
    if (rc == MVA_OK && root) {
        mva_param params[16 + CLI_READER_PARAMS];
        char buf[7][64];
        cli_reader_text rt;
        size_t np = cli_reader_params(&a.c, a.input, params, record_params(&a, params, buf),
                                      &rt);
        mva_result_parts parts = {.entry = a.entry,
                                  .program = "mva-nmf",
                                  .command_line = cli_command_line(argc, argv),
                                  .input = mva_stack_get_info(s),
                                  .nmf = m,
                                  .params = params,
                                  .nparams = np};
        rc = mva_result_write(out, &parts, entry, sizeof entry, &err);
    }
    if (rc == MVA_OK && root && a.report)
        rc = mva_report_write(out, entry, a.report, NULL, &err);
    if (rc != MVA_OK && root)
        cli_fail(a.c.prog, "%s", err.msg);
    if (par && par->agree(par, rc) != 0 && rc == MVA_OK)
        rc = MVA_EIO; /* rank 0 failed to write, and said so */
    if (rc == MVA_OK && !a.c.quiet) {
        print_summary(&a.c, s, m, out, entry, cli_now() - t0);
        if (a.report)
            printf("report     %s/index.html\n", a.report);
    }
    mva_nmf_model_free(m);
    mva_stack_close(s);
    cli_common_free(&a.c);
    return rc == MVA_OK ? 0 : 1;
}

#ifndef MVA_NMF_NO_MAIN
int main(int argc, char **argv)
{
    return mva_nmf_tool(argc, argv, NULL);
}
#endif
