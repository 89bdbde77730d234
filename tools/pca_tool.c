/* mva-pca and mva-compress: principal component analysis of an XRF map, streamed, into a
 * NeXus HDF5 file; mva-compress also measures how well the k components stand for the stack
 * (one more pass) and records it next to the model. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define MAX_ROIS 256

#include "mva/compress.h"
#include "par.h"
#include "pca_tool.h"
#include "pca_unmix.h"

static const char *usage_pca =
    "Usage: mva-pca INPUT [options]\n"
    "\n"
    "Principal component analysis of an X-ray fluorescence map, read in blocks (memory does\n"
    "not grow with the map).  Writes eigenimages, eigenspectra, eigenvalues, explained\n"
    "variance, mean spectrum (and ROI images when asked) to a NeXus HDF5 file that silx,\n"
    "PyMca and h5py open, and prints a summary.\n"
    "\n" PCA_OPTIONS_HELP
    "\n"
    "Example:\n"
    "  mva-gen -o map.h5 && mva-pca map.h5 -k 4 --poisson -o map_pca.h5\n"
    "  mva-pca map.h5::/entry/data/data --channels 100:1800 --bin 2 --roi Fe=6.2:6.6keV\n"
    "  mva-pca big.h5 -k 10 --method randomized --passes 6\n";

static const char *usage_compress =
    "Usage: mva-compress INPUT [options]\n"
    "\n"
    "Keeps a map as a PCA model: mean, scaling, k eigenspectra and k eigenimages, with the\n"
    "calibration, map shape and provenance, in one NeXus file (mva-expand rebuilds the\n"
    "stack).  One more streamed pass measures the model against the stack: compression ratio\n"
    "(numbers and bytes), relative Frobenius error, largest error, and the reduced chi-square\n"
    "per pixel under Poisson statistics (mean, and an image in <entry>/reconstruction).\n"
    "\n" PCA_OPTIONS_HELP
    "\n"
    "Example:\n"
    "  mva-compress map.h5 -k 4 -o map_k4.h5 && mva-expand map_k4.h5 -o map_k4_stack.h5\n"
    "  mva-compress map.h5 -k auto -o map_model.h5\n";

typedef struct {
    cli_common c;
    const char *input, *output, *entry;
    const char *report; /* --report DIR */
    mva_pca_opts pca;
    mva_roi_def rois[MAX_ROIS];
    size_t nroi;
    char ch_text[64];
    char k_text[32]; /* the -k rule as given, empty for a number */
    size_t k_max;
    const char *usage;
    int compress;     /* mva-compress: measure the reconstruction too */
    pca_unmix unmix;  /* --rotate, --ica */
} pca_args;

/* -k N, -k auto, -k elbow or -k 0.99 */
static int parse_k(pca_args *a, const char *arg)
{
    a->pca.k_rule = MVA_K_FIXED;
    if (strcmp(arg, "auto") == 0) {
        a->pca.k_rule = MVA_K_NOISE;
    } else if (strcmp(arg, "elbow") == 0) {
        a->pca.k_rule = MVA_K_ELBOW;
    } else if (strchr(arg, '.') != NULL) {
        a->pca.k_rule = MVA_K_VARIANCE;
        if (cli_parse_double(a->c.prog, "-k", arg, 0.0, &a->pca.k_variance))
            return -1;
        if (!(a->pca.k_variance > 0 && a->pca.k_variance < 1)) {
            cli_fail(a->c.prog, "-k '%s': a variance target must lie between 0 and 1", arg);
            return -1;
        }
    } else {
        return cli_parse_size(a->c.prog, "-k", arg, 1, &a->pca.k);
    }
    snprintf(a->k_text, sizeof a->k_text, "%s", arg);
    return 0;
}

static int parse_method(pca_args *a, const char *arg)
{
    if (strcmp(arg, "exact") == 0)
        a->pca.method = MVA_PCA_EXACT;
    else if (strcmp(arg, "randomized") == 0)
        a->pca.method = MVA_PCA_RANDOMIZED;
    else if (strcmp(arg, "auto") == 0)
        a->pca.method = MVA_PCA_AUTO;
    else {
        cli_fail(a->c.prog, "--method '%s': expected exact, randomized or auto", arg);
        return -1;
    }
    return 0;
}

static int parse_tool_option(pca_args *a, int opt, const char *arg)
{
    size_t lo, hi;
    switch (opt) {
    case 'k':
        return parse_k(a, arg);
    case OPT_FIRST_TOOL + 11:
        return cli_parse_size(a->c.prog, "--k-max", arg, 1, &a->k_max);
    case OPT_FIRST_TOOL + 12:
        a->report = arg;
        return 0;
    case OPT_FIRST_TOOL + 13:
    case OPT_FIRST_TOOL + 14:
    case OPT_FIRST_TOOL + 15:
        return pca_unmix_option(&a->unmix, a->c.prog, opt - (OPT_FIRST_TOOL + 13), arg);
    case 'o':
        a->output = arg;
        return 0;
    case OPT_FIRST_TOOL: /* --channels */
        if (cli_parse_range(a->c.prog, "--channels", arg, &lo, &hi))
            return -1;
        a->pca.ch_begin = lo;
        a->pca.ch_end = hi + 1;
        snprintf(a->ch_text, sizeof a->ch_text, "%zu:%zu", lo, hi);
        return 0;
    case OPT_FIRST_TOOL + 1:
        return cli_parse_size(a->c.prog, "--bin", arg, 1, &a->pca.bin);
    case OPT_FIRST_TOOL + 2:
        a->pca.poisson = 1;
        return 0;
    case OPT_FIRST_TOOL + 3:
        a->pca.uncentred = 1;
        return 0;
    case OPT_FIRST_TOOL + 4:
        return cli_add_roi(a->c.prog, arg, a->rois, &a->nroi, MAX_ROIS);
    case OPT_FIRST_TOOL + 5:
        a->entry = arg;
        return 0;
    case OPT_FIRST_TOOL + 6:
        return parse_method(a, arg);
    case OPT_FIRST_TOOL + 7:
        return cli_parse_size(a->c.prog, "--passes", arg, 2, &a->pca.max_passes);
    case OPT_FIRST_TOOL + 8:
        return cli_parse_double(a->c.prog, "--tol", arg, 0.0, &a->pca.tol);
    case OPT_FIRST_TOOL + 9:
        return cli_parse_size(a->c.prog, "--oversample", arg, 0, &a->pca.oversample);
    case OPT_FIRST_TOOL + 10: {
        size_t seed;
        if (cli_parse_size(a->c.prog, "--seed", arg, 0, &seed))
            return -1;
        a->pca.seed = seed;
        return 0;
    }
    default:
        cli_fail(a->c.prog, "try 'mva-pca --help'");
        return -1;
    }
}

static int tool_option(void *tool, int opt, const char *arg)
{
    return parse_tool_option(tool, opt, arg);
}

/* Returns 0 to go on, 1 to exit successfully (help, version), 2 on a usage error. */
static int parse_args(pca_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"components", required_argument, NULL, 'k'},
        {"output", required_argument, NULL, 'o'},
        {"channels", required_argument, NULL, OPT_FIRST_TOOL},
        {"bin", required_argument, NULL, OPT_FIRST_TOOL + 1},
        {"poisson", no_argument, NULL, OPT_FIRST_TOOL + 2},
        {"uncentred", no_argument, NULL, OPT_FIRST_TOOL + 3},
        {"uncentered", no_argument, NULL, OPT_FIRST_TOOL + 3},
        {"roi", required_argument, NULL, OPT_FIRST_TOOL + 4},
        {"entry", required_argument, NULL, OPT_FIRST_TOOL + 5},
        {"method", required_argument, NULL, OPT_FIRST_TOOL + 6},
        {"passes", required_argument, NULL, OPT_FIRST_TOOL + 7},
        {"tol", required_argument, NULL, OPT_FIRST_TOOL + 8},
        {"oversample", required_argument, NULL, OPT_FIRST_TOOL + 9},
        {"seed", required_argument, NULL, OPT_FIRST_TOOL + 10},
        {"k-max", required_argument, NULL, OPT_FIRST_TOOL + 11},
        {"report", required_argument, NULL, OPT_FIRST_TOOL + 12},
        PCA_UNMIX_LONGOPTS(OPT_FIRST_TOOL + 13),
        CLI_SPILL_LONGOPTS,
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0}};
    return cli_parse_args(&a->c, argc, argv, "k:o:qvhV", longopts, a->usage, tool_option, a,
                          &a->input);
}

static void print_summary(const pca_args *a, const mva_stack *s, const mva_pca_model *m,
                          const char *out, const char *entry, double secs)
{
    const mva_stack_info *info = mva_stack_get_info(s);
    cli_print_input(stdout, s);
    printf("variables  %zu (channels %s, bin %zu)%s%s\n", m->p,
           a->ch_text[0] ? a->ch_text : "all", m->bin, m->poisson ? ", Poisson scaling" : "",
           m->uncentred ? ", uncentred scores" : "");
    if (m->method == MVA_PCA_EXACT && m->auto_passes)
        printf("method     exact, chosen by auto after randomized stopped unconverged (%zu "
               "passes, change %.2g > tolerance %.2g), %zu passes in all, %zu valid pixels",
               m->auto_passes, m->auto_change, a->pca.tol, m->passes, m->n_valid);
    else if (m->method == MVA_PCA_EXACT)
        printf("method     exact (streamed covariance + LAPACK)%s, %zu passes, %zu valid pixels",
               a->pca.method == MVA_PCA_AUTO ? ", chosen by auto" : "", m->passes, m->n_valid);
    if (m->method == MVA_PCA_EXACT) {
        if (m->n_exact == m->n_valid)
            printf(", covariance summed exactly (integer counts)");
        else if (m->n_exact > 0)
            printf(", %zu of them summed exactly (integer counts)", m->n_exact);
    } else
        printf("method     randomized%s: %zu passes, %s (estimated error %.2g, last change "
               "%.2g, tolerance %.2g), seed %llu, %zu valid pixels",
               a->pca.method == MVA_PCA_AUTO ? " (chosen by auto)" : "", m->passes,
               m->converged ? "converged" : "NOT converged: trailing eigenvalues approximate",
               m->final_error, m->final_change, a->pca.tol, (unsigned long long)m->seed,
               m->n_valid);
    if (m->n_valid < info->rows * info->cols)
        printf(", %zu masked (NaN/Inf)", info->rows * info->cols - m->n_valid);
    printf("\ncomponents %s\n", m->k_reason);
    printf("\n  PC   eigenvalue      explained   cumulative\n");
    double cum = 0;
    for (size_t q = 0; q < m->k; q++) {
        cum += m->explained[q];
        if (q >= m->n_eigenvalues)
            break;
        printf("  %-3zu  %-14.6g  %8.4f%%   %8.4f%%\n", q + 1, m->eigenvalues[q],
               100 * m->explained[q], 100 * cum);
    }
    char spill[512];
    cli_spill_summary(&a->c, s, spill, sizeof spill);
    printf("\n%stime       %.2f s\n", spill, secs);
    printf("written    %s (entry /%s)\n", out, entry);
}

/* Every parameter, as text, for the provenance record. */
static size_t record_params(const pca_args *a, const mva_pca_model *m, mva_param *pr,
                            char buf[][64])
{
    size_t budget = a->c.pass.mem_budget ? a->c.pass.mem_budget : MVA_PASS_DEFAULT_BUDGET;
    snprintf(buf[0], 64, "%zu", m->k);
    snprintf(buf[1], 64, "%zu", a->pca.bin);
    snprintf(buf[2], 64, "%zu", a->nroi);
    snprintf(buf[3], 64, "%zu", budget);
    snprintf(buf[4], 64, "%zu", a->pca.max_passes);
    snprintf(buf[5], 64, "%.17g", a->pca.tol);
    snprintf(buf[6], 64, "%zu", a->pca.oversample);
    snprintf(buf[7], 64, "%llu", (unsigned long long)a->pca.seed);
    size_t n = 0;
    pr[n++] = (mva_param){"components", buf[0]};
    pr[n++] = (mva_param){"components_rule", a->k_text[0] ? a->k_text : "fixed"};
    pr[n++] = (mva_param){"components_reason", m->k_reason};
    pr[n++] = (mva_param){"method_requested", mva_pca_method_name(a->pca.method)};
    pr[n++] = (mva_param){"method", mva_pca_method_name(m->method)};
    pr[n++] = (mva_param){"max_passes", buf[4]};
    pr[n++] = (mva_param){"tolerance", buf[5]};
    pr[n++] = (mva_param){"oversample", buf[6]};
    pr[n++] = (mva_param){"seed", buf[7]};
    pr[n++] = (mva_param){"channels", a->ch_text[0] ? a->ch_text : "all"};
    pr[n++] = (mva_param){"bin", buf[1]};
    pr[n++] = (mva_param){"poisson", a->pca.poisson ? "yes" : "no"};
    pr[n++] = (mva_param){"centred_scores", a->pca.uncentred ? "no" : "yes"};
    pr[n++] = (mva_param){"rois", buf[2]};
    pr[n++] = (mva_param){"memory_budget_bytes", buf[3]};
    return n;
}

/* mva-compress: the model and its reconstruction statistics, one entry. */
static int write_compressed(pca_args *a, mva_stack *s, const mva_pca_model *m,
                            mva_result_parts *spec, const char *out, char *entry,
                            size_t cap, mva_recon_stats **stats, mva_error *err)
{
    cli_progress_label("measuring");
    int rc = mva_recon_measure(s, m, &a->pca, &a->c.pass, stats, err);
    cli_progress_done();
    spec->recon = *stats;
    return rc == MVA_OK ? mva_result_write(out, spec, entry, cap, err) : rc;
}

static void print_compression(const mva_recon_stats *r)
{
    printf("compression %.1fx in numbers, %.1fx in bytes (stack in its stored type, model "
           "in float64)\n", r->values_ratio, r->bytes_ratio);
    printf("error      relative Frobenius %.4g, largest %.4g, reduced chi-square %.4f "
           "(Poisson; 1 = the noise)\n", r->rel_frobenius, r->max_abs, r->chi2_mean);
}

int pca_tool_main(int argc, char **argv, int compress)
{
    return pca_tool_run(argc, argv, compress, NULL);
}

/* par: one of several processes (MPI), else NULL.  Each process reads its own slab; rank 0
 * alone writes the output and prints. */
int pca_tool_run(int argc, char **argv, int compress, tool_par *par)
{
    pca_args a;
    memset(&a, 0, sizeof a);
    a.c.prog = compress ? "mva-compress" : "mva-pca";
    a.usage = compress ? usage_compress : usage_pca;
    a.compress = compress;
    a.pca = mva_pca_opts_default();
    int pr = parse_args(&a, argc, argv);
    if (pr)
        return pr == 1 ? 0 : 2;
    int root = par == NULL || par->rank == 0;
    if (!root)
        a.c.quiet = 1, a.c.verbose = 0;
    if (a.pca.k_rule != MVA_K_FIXED) /* k is then the most a rule may keep */
        a.pca.k = a.k_max ? a.k_max : 30;
    if (a.pca.k_rule == MVA_K_NOISE && !a.pca.poisson) {
        a.pca.poisson = 1;
        if (!a.c.quiet)
            fprintf(stderr, "%s: -k auto: Poisson scaling turned on (the noise edge is "
                            "known for counts only)\n", a.c.prog);
    }

    char outbuf[4096], entry[256] = "";
    const char *out = a.output;
    if (out == NULL) {
        cli_default_output(a.input, a.compress ? "_model.h5" : "_pca.h5", outbuf, sizeof outbuf);
        out = outbuf;
    }
    double t0 = cli_now();
    mva_error err;
    mva_error_clear(&err);
    mva_stack *s = NULL;
    mva_roi_acc *roi = NULL;
    mva_roi_result *rr = NULL;
    mva_pca_model *m = NULL;
    mva_recon_stats *stats = NULL;
    int stop;
    int rc = tool_open_input(par, &a.c, a.input, &s, &err, &stop);
    if (stop) {
        cli_common_free(&a.c);
        return 1;
    }
    if (rc == MVA_OK)
        cli_spill(&a.c, s);
    if (rc == MVA_OK && a.nroi)
        rc = mva_roi_acc_new(&roi, mva_stack_get_info(s), a.rois, a.nroi, &err);
    if (rc == MVA_OK) {
        cli_progress_init(&a.c, a.c.prog);
        mva_accum extra;
        if (roi) {
            mva_roi_acc_share(roi, s, &a.c.pass);
            extra = mva_roi_acc_accum(roi);
        }
        rc = mva_pca_fit(s, &a.pca, roi ? &extra : NULL, roi ? 1 : 0, &a.c.pass, &m, &err);
        cli_progress_done();
    }
    if (rc != MVA_OK && par)
        par->abort(par, a.c.prog, err.msg);
    if (rc == MVA_OK && roi)
        rc = mva_roi_acc_take(roi, &rr, &err);
    if (rc == MVA_OK && root) {
        mva_param params[24 + CLI_READER_PARAMS];
        char buf[8][64];
        cli_reader_text rt;
        size_t np = cli_reader_params(&a.c, a.input, params, record_params(&a, m, params, buf),
                                      &rt);
        mva_result_parts spec = {.entry = a.entry,
                                .program = a.c.prog,
                                .command_line = cli_command_line(argc, argv),
                                .input = mva_stack_get_info(s),
                                .pca = m,
                                .roi = rr,
                                .params = params,
                                .nparams = np};
        rc = a.compress ? write_compressed(&a, s, m, &spec, out, entry, sizeof entry, &stats,
                                           &err)
                        : mva_result_write(out, &spec, entry, sizeof entry, &err);
    }
    if (rc == MVA_OK && root)
        rc = pca_unmix_run(&a.unmix, m, out, entry, &err);
    if (rc == MVA_OK && root && a.report != NULL)
        rc = mva_report_write(out, entry, a.report, NULL, &err);
    if (rc != MVA_OK && root)
        cli_fail(a.c.prog, "%s", err.msg);
    if (par && par->agree(par, rc) != 0 && rc == MVA_OK)
        rc = MVA_EIO; /* rank 0 failed to write, and said so */
    if (rc == MVA_OK && !a.c.quiet) {
        print_summary(&a, s, m, out, entry, cli_now() - t0);
        if (stats)
            print_compression(stats);
        pca_unmix_print(&a.unmix);
        if (a.report != NULL)
            printf("report     %s/index.html\n", a.report);
    }
    pca_unmix_free(&a.unmix);
    mva_pca_model_free(m);
    mva_recon_stats_free(stats);
    mva_roi_result_free(rr);
    mva_roi_acc_free(roi);
    mva_stack_close(s);
    cli_common_free(&a.c);
    return rc == MVA_OK ? 0 : 1;
}
