/* The fit mva-pca and mva-compress share: their options, the input opened with the common
 * options, the streamed PCA (and --roi images in the same passes), the provenance record and
 * the summary.  Writing is each tool's (tools/mva-pca.c, tools/mva-compress.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "par.h"
#include "pca_tool.h"
#include "pca_unmix.h"

/* -k N, -k auto, -k elbow or -k 0.99 */
static int parse_k(pca_tool *a, const char *arg)
{
    a->pca.k_rule = MVA_PCA_K_FIXED;
    if (strcmp(arg, "auto") == 0) {
        a->pca.k_rule = MVA_PCA_K_NOISE;
    } else if (strcmp(arg, "elbow") == 0) {
        a->pca.k_rule = MVA_PCA_K_ELBOW;
    } else if (strchr(arg, '.') != NULL) {
        a->pca.k_rule = MVA_PCA_K_VARIANCE;
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

static int parse_method(pca_tool *a, const char *arg)
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

static int parse_tool_option(pca_tool *a, int opt, const char *arg)
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
        return cli_add_roi(a->c.prog, arg, a->rois, &a->nroi, PCA_TOOL_MAX_ROIS);
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
static int parse_args(pca_tool *a, const char *usage, int argc, char **argv)
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
    return cli_parse_args(&a->c, argc, argv, "k:o:qvhV", longopts, usage, tool_option, a,
                          &a->input);
}

static void print_summary(const pca_tool *a, const mva_stack *s, const mva_pca_model *m,
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
static size_t record_params(const pca_tool *a, const mva_pca_model *m, mva_param *pr,
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

/* The -k rule's defaults, as the options left them. */
static void settle_k(pca_tool *t)
{
    if (t->pca.k_rule != MVA_PCA_K_FIXED) /* k is then the most a rule may keep */
        t->pca.k = t->k_max ? t->k_max : 30;
    if (t->pca.k_rule == MVA_PCA_K_NOISE && !t->pca.poisson) {
        t->pca.poisson = 1;
        if (!t->c.quiet)
            fprintf(stderr, "%s: -k auto: Poisson scaling turned on (the noise edge is "
                            "known for counts only)\n", t->c.prog);
    }
}

/* The PCA, with the --roi images accumulated in the same passes. */
static int fit(pca_tool *t)
{
    int rc = MVA_OK;
    if (t->nroi)
        rc = mva_roi_acc_new(&t->roi, mva_stack_get_info(t->s), t->rois, t->nroi, &t->err);
    if (rc == MVA_OK) {
        cli_progress_init(&t->c, t->c.prog);
        mva_accum extra;
        if (t->roi) {
            mva_roi_acc_share(t->roi, t->s, &t->c.pass);
            extra = mva_roi_acc_accum(t->roi);
        }
        rc = mva_pca_fit(t->s, &t->pca, t->roi ? &extra : NULL, t->roi ? 1 : 0, &t->c.pass,
                         &t->m, &t->err);
        cli_progress_done();
    }
    if (rc != MVA_OK && t->par)
        t->par->abort(t->par, t->c.prog, t->err.msg);
    if (rc == MVA_OK && t->roi)
        rc = mva_roi_acc_take(t->roi, &t->rr, &t->err);
    return rc;
}

/* The result file's parts: the model, the ROI images, every parameter. */
static void fill_spec(pca_tool *t, int argc, char **argv)
{
    size_t np = cli_reader_params(&t->c, t->input, t->params,
                                  record_params(t, t->m, t->params, t->param_text),
                                  &t->reader_text);
    t->spec = (mva_result_parts){.entry = t->entry,
                                 .program = t->c.prog,
                                 .command_line = cli_command_line(argc, argv),
                                 .input = mva_stack_get_info(t->s),
                                 .pca = t->m,
                                 .roi = t->rr,
                                 .params = t->params,
                                 .nparams = np};
}

int pca_tool_fit(pca_tool *t, const pca_tool_kind *kind, int argc, char **argv, tool_par *par,
                 int *rc)
{
    memset(t, 0, sizeof *t);
    *rc = MVA_OK;
    t->c.prog = kind->prog;
    t->pca = mva_pca_opts_default();
    t->par = par;
    t->root = par == NULL || par->rank == 0;
    mva_error_clear(&t->err);
    int pr = parse_args(t, kind->usage, argc, argv);
    if (pr)
        return pr == 1 ? 0 : 2;
    if (!t->root)
        t->c.quiet = 1, t->c.verbose = 0;
    settle_k(t);
    t->out = t->output;
    if (t->out == NULL) {
        cli_default_output(t->input, kind->suffix, t->outbuf, sizeof t->outbuf);
        t->out = t->outbuf;
    }
    t->t0 = cli_now();
    int stop;
    *rc = tool_open_input(par, &t->c, t->input, &t->s, &t->err, &stop);
    if (stop)
        return 1;
    if (*rc == MVA_OK)
        cli_spill(&t->c, t->s);
    if (*rc == MVA_OK)
        *rc = fit(t);
    if (*rc == MVA_OK && t->root)
        fill_spec(t, argc, argv);
    return -1;
}

int pca_tool_finish(pca_tool *t, int rc)
{
    if (rc == MVA_OK && t->root)
        rc = pca_unmix_run(&t->unmix, t->m, t->out, t->entry_made, &t->err);
    if (rc == MVA_OK && t->root && t->report != NULL)
        rc = mva_report_write(t->out, t->entry_made, t->report, NULL, &t->err);
    if (rc != MVA_OK && t->root)
        cli_fail(t->c.prog, "%s", t->err.msg);
    if (t->par && t->par->agree(t->par, rc) != 0 && rc == MVA_OK)
        rc = MVA_EIO; /* rank 0 failed to write, and said so */
    return rc;
}

void pca_tool_print(const pca_tool *t)
{
    print_summary(t, t->s, t->m, t->out, t->entry_made, cli_now() - t->t0);
}

void pca_tool_print_extras(const pca_tool *t)
{
    pca_unmix_print(&t->unmix);
    if (t->report != NULL)
        printf("report     %s/index.html\n", t->report);
}

int pca_tool_close(pca_tool *t, int rc)
{
    pca_unmix_free(&t->unmix);
    mva_pca_model_free(t->m);
    mva_roi_result_free(t->rr);
    mva_roi_acc_free(t->roi);
    mva_stack_close(t->s);
    cli_common_free(&t->c);
    return rc == MVA_OK ? 0 : 1;
}
