/* mva-cluster: phase maps.  k-means of the pixels on the scores of a PCA (or the abundances of
 * an NMF) and, in one streamed pass over the original map, each cluster's spectra. */
#include <getopt.h>
#include <gsl/gsl_errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mva/cluster.h"
#include "mva/report.h"
#include "mva/select.h"
#include "par.h"

static const char *usage =
    "Usage: mva-cluster INPUT [-c N|auto] [options]\n"
    "\n"
    "Phase maps: k-means clustering of the pixels in the space of the component scores\n"
    "(PCA eigenimages or NMF abundances), then, in one streamed pass over the original map,\n"
    "each cluster's cumulative, average and maximum spectrum and the map's average.\n"
    "INPUT is a results file of mva-pca or mva-nmf (its default entry, or --entry), or\n"
    "the map itself: then a PCA is fitted first (streamed, as mva-pca does) and written\n"
    "to the output as well.  Memory: the k scores of every pixel, never the map.\n"
    "\n"
    "Clustering:\n"
    "  -c, --clusters N|auto  number of clusters (default 5); auto: the count in\n"
    "                         2..--c-max with the largest mean silhouette, measured on\n"
    "                         --sample pixels drawn with the seed\n"
    "  --c-max N              largest count tried by -c auto (default 10)\n"
    "  --sample N             pixels the silhouette is measured on (default 2000)\n"
    "  -k, --components N     cluster on the first N components (default: all of the\n"
    "                         entry's; with a map: fit N components, default 5)\n"
    "  --scaled               a Poisson-scaled PCA: cluster on the scores of the scaled\n"
    "                         data (each pixel's scores times 1/sqrt(its counts)) instead\n"
    "                         of the un-weighted ones\n"
    "  --poisson              with a map: the PCA uses Poisson scaling (as mva-pca)\n"
    "  --restarts N           k-means++ starts, the lowest inertia kept (default 10)\n"
    "  --max-iter N           Lloyd iterations per start at most (default 300)\n"
    "  --seed N               seed of the first start (default 20261206); the same seed\n"
    "                         gives the same labels whatever --memory or the threads\n"
    "Input and output:\n"
    "  --entry NAME           the results entry holding the components (default: the\n"
    "                         file's default entry if it holds a PCA, else the first PCA\n"
    "                         entry, else the first NMF entry)\n"
    "  --stack INPUT          the map for the spectra (default: the input the entry\n"
    "                         records, reopened with the reader options it records)\n"
    "  --no-spectra           skip the pass over the map (labels and centroids only)\n"
    "  -o, --output FILE      where to write (default: INPUT itself for a results file, a\n"
    "                         new entry; INPUT's name + _cluster.h5 for a map)\n"
    "  --name NAME            entry name (default mva_cluster, made unique)\n"
    "  --csv FILE             also write channel,energy_keV, then sum_C,average_C,max_C\n"
    "                         for each cluster C, then map_average\n"
    "  --report DIR           also write an HTML report of the new entry (as mva-report):\n"
    "                         the label map with a legend of the cluster colours, each\n"
    "                         cluster's average spectrum against the map's\n"
    "\n" CLI_COMMON_HELP
    "\n"
    "The MPI build (make MPI=1): mpirun -np N mva-cluster-mpi, same options and output; each\n"
    "rank reads its slab of the map's pixels, rank 0 clusters and writes.\n"
    "\n"
    "Examples:\n"
    "  mva-pca map.h5 -k 4 --poisson -o res.h5\n"
    "  mva-cluster res.h5 -c 5 --csv clusters.csv\n"
    "  mva-cluster res.h5 -c auto --no-spectra\n"
    "  mva-cluster res.h5 -c 4 --report phases\n"
    "  mva-cluster map.h5 -k 4 --poisson -c 4 -o phases.h5\n";

enum { OPT_CMAX = OPT_FIRST_TOOL, OPT_SAMPLE, OPT_SCALED, OPT_POISSON, OPT_RESTARTS,
       OPT_MAXITER, OPT_SEED, OPT_ENTRY, OPT_STACK, OPT_NOSPECTRA, OPT_NAME, OPT_CSV,
       OPT_REPORT };

typedef struct {
    cli_common c;
    const char *input, *entry, *stack, *output, *name, *csv, *report;
    mva_kmeans_opts km;
    int c_auto, scaled, poisson, no_spectra;
    size_t c_max, sample, k;
    /* the map as opened (INPUT, --stack) or as the scores' entry records it, with the reader
     * options in c.open: recorded in the new entry, so that it can be reopened from there */
    char map_in[5200];
} clu_args;

static int parse_clusters(clu_args *a, const char *arg)
{
    if (strcmp(arg, "auto") == 0) {
        a->c_auto = 1;
        return 0;
    }
    a->c_auto = 0;
    return cli_parse_size(a->c.prog, "-c", arg, 1, &a->km.clusters);
}

static int tool_option(void *tool, int opt, const char *arg)
{
    clu_args *a = tool;
    size_t v;
    switch (opt) {
    case 'c': return parse_clusters(a, arg);
    case 'k': return cli_parse_size(a->c.prog, "-k", arg, 1, &a->k);
    case 'o': a->output = arg; return 0;
    case OPT_CMAX: return cli_parse_size(a->c.prog, "--c-max", arg, 2, &a->c_max);
    case OPT_SAMPLE: return cli_parse_size(a->c.prog, "--sample", arg, 2, &a->sample);
    case OPT_SCALED: a->scaled = 1; return 0;
    case OPT_POISSON: a->poisson = 1; return 0;
    case OPT_RESTARTS: return cli_parse_size(a->c.prog, "--restarts", arg, 1, &a->km.restarts);
    case OPT_MAXITER: return cli_parse_size(a->c.prog, "--max-iter", arg, 1, &a->km.max_iter);
    case OPT_SEED:
        if (cli_parse_size(a->c.prog, "--seed", arg, 0, &v))
            return -1;
        a->km.seed = v;
        return 0;
    case OPT_ENTRY: a->entry = arg; return 0;
    case OPT_STACK: a->stack = arg; return 0;
    case OPT_NOSPECTRA: a->no_spectra = 1; return 0;
    case OPT_NAME: a->name = arg; return 0;
    case OPT_CSV: a->csv = arg; return 0;
    case OPT_REPORT: a->report = arg; return 0;
    default: cli_fail(a->c.prog, "try 'mva-cluster --help'"); return -1;
    }
}

static int parse_args(clu_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"clusters", required_argument, NULL, 'c'},
        {"components", required_argument, NULL, 'k'},
        {"output", required_argument, NULL, 'o'},
        {"c-max", required_argument, NULL, OPT_CMAX},
        {"sample", required_argument, NULL, OPT_SAMPLE},
        {"scaled", no_argument, NULL, OPT_SCALED},
        {"poisson", no_argument, NULL, OPT_POISSON},
        {"restarts", required_argument, NULL, OPT_RESTARTS},
        {"max-iter", required_argument, NULL, OPT_MAXITER},
        {"seed", required_argument, NULL, OPT_SEED},
        {"entry", required_argument, NULL, OPT_ENTRY},
        {"stack", required_argument, NULL, OPT_STACK},
        {"no-spectra", no_argument, NULL, OPT_NOSPECTRA},
        {"name", required_argument, NULL, OPT_NAME},
        {"csv", required_argument, NULL, OPT_CSV},
        {"report", required_argument, NULL, OPT_REPORT},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0}};
    return cli_parse_args(&a->c, argc, argv, "c:k:o:qvhV", longopts, usage, tool_option, a,
                          &a->input);
}

/* What the clustering runs on: dim x n scores (owned), the mask, where they came from. */
typedef struct {
    size_t rows, cols, dim;
    double *x;
    const unsigned char *mask;
    mva_pca_model *pca;
    mva_nmf_model *nmf;
    char what[256];
    char entry[256];    /* the results entry read (INPUT a results file) */
    char source[4400];
    int fitted; /* the PCA was fitted here from the map */
} scores;

static void scores_free(scores *s)
{
    free(s->x);
    mva_pca_model_free(s->pca);
    mva_nmf_model_free(s->nmf);
}

/* The first dim of the model's k images (times the Poisson pixel weights for --scaled). */
static int take_scores(clu_args *a, scores *sc, const double *img, size_t k,
                       const double *pix_weight, const char *kind, mva_error *err)
{
    size_t n = sc->rows * sc->cols;
    sc->dim = a->k && a->k < k ? a->k : k;
    if (a->k > k)
        return mva_error_set(err, MVA_EINVAL, "-k %zu: %s holds %zu components", a->k,
                             sc->source, k);
    if (a->scaled && pix_weight == NULL)
        return mva_error_set(err, MVA_EINVAL, "--scaled: %s is not a Poisson-scaled PCA "
                             "(run mva-pca with --poisson, or leave --scaled out)", sc->source);
    sc->x = malloc(sc->dim * (n ? n : 1) * sizeof *sc->x);
    if (sc->x == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory for %zu x %zu scores", sc->dim, n);
    for (size_t q = 0; q < sc->dim; q++)
        for (size_t i = 0; i < n; i++)
            sc->x[q * n + i] = img[q * n + i] * (a->scaled ? pix_weight[i] : 1.0);
    snprintf(sc->what, sizeof sc->what, "%s 0..%zu%s", kind, sc->dim - 1,
             a->scaled ? " (Poisson-scaled)" : "");
    return MVA_OK;
}

/* A results file with a PCA or NMF entry: its scores.  MVA_ENOTFOUND when it holds
 * neither (then INPUT may be a map). */
static int read_results(clu_args *a, scores *sc, mva_error *err)
{
    mva_error e2;
    char *name = sc->entry;
    size_t cap = sizeof sc->entry;
    int rc = mva_result_find_entry(a->input, a->entry, MVA_RESULT_PCA, name, cap, err);
    if (rc == MVA_OK)
        rc = mva_result_read_pca(a->input, name, &sc->pca, err);
    else if (rc == MVA_ENOTFOUND &&
             mva_result_find_entry(a->input, a->entry, MVA_RESULT_NMF, name, cap, &e2) == MVA_OK)
        rc = mva_result_read_nmf(a->input, name, &sc->nmf, err);
    if (rc != MVA_OK)
        return rc;
    snprintf(sc->source, sizeof sc->source, "%s::/%s", a->input, name);
    if (sc->pca) {
        sc->rows = sc->pca->rows;
        sc->cols = sc->pca->cols;
        sc->mask = sc->pca->mask;
        return take_scores(a, sc, sc->pca->scores, sc->pca->k, sc->pca->pix_weight,
                           "PCA eigenimages", err);
    }
    sc->rows = sc->nmf->rows;
    sc->cols = sc->nmf->cols;
    sc->mask = sc->nmf->mask;
    return take_scores(a, sc, sc->nmf->abundances, sc->nmf->k, NULL, "NMF abundances", err);
}

/* A map: fit the PCA (the library's streamed fit; with several processes each reads its own
 * slab and every one gets the whole scores) and, on rank 0 (root), write it to out first. */
static int fit_map(clu_args *a, mva_stack *s, scores *sc, const char *out, int root,
                   int argc, char **argv, mva_error *err)
{
    mva_pca_opts po = mva_pca_opts_default();
    po.k = a->k ? a->k : 5;
    po.poisson = a->poisson;
    cli_progress_init(&a->c, "mva-cluster: PCA");
    int rc = mva_pca_fit(s, &po, NULL, 0, &a->c.pass, &sc->pca, err);
    cli_progress_done();
    if (rc != MVA_OK)
        return rc;
    char kbuf[32], entry[256];
    snprintf(kbuf, sizeof kbuf, "%zu", po.k);
    /* with the reader options, so that a later run on this entry reopens the map as here */
    mva_param params[2 + CLI_READER_PARAMS] = {{"k", kbuf},
                                               {"poisson", a->poisson ? "yes" : "no"}};
    cli_reader_text rt;
    mva_result_parts spec = {.program = "mva-cluster",
                             .command_line = cli_command_line(argc, argv),
                             .input = mva_stack_get_info(s),
                             .pca = sc->pca,
                             .params = params,
                             .nparams = cli_reader_params(&a->c, a->input, params, 2, &rt)};
    if (root && (rc = mva_result_write(out, &spec, entry, sizeof entry, err)) != MVA_OK)
        return rc;
    sc->fitted = 1;
    sc->rows = sc->pca->rows;
    sc->cols = sc->pca->cols;
    sc->mask = sc->pca->mask;
    if (root)
        snprintf(sc->source, sizeof sc->source, "%s::/%s", out, entry);
    return take_scores(a, sc, sc->pca->scores, sc->pca->k, sc->pca->pix_weight,
                       "PCA eigenimages", err);
}

static int write_csv(const char *path, const mva_select_label_spectra *r, const mva_calib *cal)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "channel,energy_keV");
    for (size_t c = 0; c < r->nclass; c++)
        fprintf(f, ",sum_%zu,average_%zu,max_%zu", c, c, c);
    fprintf(f, ",map_average\n");
    for (size_t j = 0; j < r->p; j++) {
        fprintf(f, "%zu,%.9g", j, cal->known ? mva_calib_energy(cal, (double)j) : NAN);
        for (size_t c = 0; c < r->nclass; c++)
            fprintf(f, ",%.17g,%.17g,%.17g", r->sum[c * r->p + j], r->avg[c * r->p + j],
                    r->max[c * r->p + j]);
        fprintf(f, ",%.17g\n", r->map_avg[j]);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static int cluster(clu_args *a, const scores *sc, double *sil, mva_kmeans_result **km,
                   mva_error *err)
{
    size_t n = sc->rows * sc->cols;
    if (!a->c_auto)
        return mva_kmeans_fit(sc->x, sc->dim, n, sc->mask, &a->km, km, err);
    mva_kmeans_auto au = {2, a->c_max, a->sample, sil};
    return mva_kmeans_fit_auto(sc->x, sc->dim, n, sc->mask, &a->km, &au, km, err);
}

/* The map read (the input lines of every tool), or the one the scores' entry records. */
static void print_summary(const clu_args *a, const mva_stack *s, const scores *sc,
                          const mva_kmeans_result *km, const double *sil,
                          const mva_select_label_spectra *sp, const char *out, const char *entry,
                          double secs)
{
    if (s != NULL)
        cli_print_input(stdout, s);
    else if (a->map_in[0])
        printf("input      %s (recorded by the scores' entry; not read: --no-spectra)\n",
               a->map_in);
    printf("scores     %s of %s, %zu x %zu pixels, %zu labelled\n", sc->what, sc->source,
           sc->rows, sc->cols, km->n_labelled);
    if (a->c_auto) {
        printf("silhouette");
        for (size_t c = 2; c <= a->c_max; c++)
            printf(" %zu:%.3f", c, sil[c - 2]);
        printf("  (mean over %zu sampled pixels)\n", a->sample);
    }
    printf("clusters   %zu%s, k-means++ x %zu starts (seed %llu), best start %zu: inertia "
           "%.6g, %zu iterations, %s\n", km->clusters, a->c_auto ? " (auto: largest silhouette)"
           : "", km->restarts, (unsigned long long)km->seed, km->best_restart, km->inertia,
           km->iterations, km->converged ? "converged" : "NOT converged (--max-iter)");
    printf("sizes     ");
    for (size_t c = 0; c < km->clusters; c++)
        printf(" %zu", km->sizes[c]);
    printf("\n");
    if (sp)
        printf("spectra    one pass over %s (%zu valid pixels)\n", a->stack ? a->stack : "the map",
               sp->n_valid);
    printf("written    %s (entry /%s)%s%s, %.2f s\n", out, entry, a->csv ? ", " : "",
           a->csv ? a->csv : "", secs);
    if (a->report)
        printf("report     %s/index.html\n", a->report);
}

/* With par: every process learns whether all got this far (rc its own status).  When not,
 * returns non-zero: the processes that failed print why, rank 0 (if it did not fail) that it
 * stopped.  Without par: rc != MVA_OK. */
static int stopped(tool_par *par, const clu_args *a, int rc, const mva_error *err)
{
    if (par == NULL)
        return rc != MVA_OK;
    if (par->agree(par, rc) == 0)
        return 0;
    if (rc != MVA_OK)
        fprintf(stderr, "%s: rank %d of %d: %s\n", a->c.prog, par->rank, par->size, err->msg);
    else if (par->rank == 0)
        fprintf(stderr, "%s: stopped: another rank failed\n", a->c.prog);
    return 1;
}

/* INPUT is not results (read_results failed with the message in err): opens it as a map.
 * With par, every process learns whether all opened theirs (else *stop, messages printed). */
static int open_input_map(clu_args *a, tool_par *par, mva_stack **s, mva_error *err, int *stop)
{
    mva_error e2;
    int rc = mva_stack_open(s, a->input, &a->c.open, &e2);
    if (rc == MVA_OK) {
        mva_error_clear(err);
        if (!a->c.quiet)
            cli_print_warnings(a->c.prog, *s);
    } else {
        char first[MVA_ERROR_MSG_MAX];
        snprintf(first, sizeof first, "%s", err->msg);
        rc = mva_error_set(err, err->code ? err->code : rc, "%s: neither results with a PCA "
                           "or NMF entry (%s) nor a map (%s)", a->input, first, e2.msg);
    }
    *stop = par && par->opened(par, a->c.prog, rc, err->msg, rc == MVA_OK ? *s : NULL,
                               &a->c.pass) != MVA_OK;
    if (*stop) {
        mva_stack_close(*s);
        *s = NULL;
    }
    return rc;
}

/* Opens the map the spectra read: --stack, or the input that the entry of the scores records
 * (not the file's default entry, which may be an earlier clustering).  With par, as
 * open_input_map (each process then reads its slab of it). */
/* a->map_in and the reader options: --stack as given, or as the scores' entry records them. */
static int find_map(clu_args *a, const scores *sc, mva_error *err)
{
    static char recorded[8192]; /* the recorded options' strings, used by a->c.open */
    if (a->stack != NULL) {
        snprintf(a->map_in, sizeof a->map_in, "%s", a->stack);
        return MVA_OK;
    }
    return mva_result_input_opts(a->input, sc->entry, a->map_in, sizeof a->map_in, &a->c.open,
                                 recorded, sizeof recorded, err);
}

static int open_map(clu_args *a, tool_par *par, const scores *sc, mva_stack **s,
                    mva_error *err, int *stop)
{
    const char *path = a->map_in;
    int rc = find_map(a, sc, err);
    if (rc == MVA_OK)
        rc = mva_stack_open(s, path, &a->c.open, err);
    if (rc == MVA_OK) {
        const mva_stack_info *in = mva_stack_get_info(*s);
        if (in->rows != sc->rows || in->cols != sc->cols)
            rc = mva_error_set(err, MVA_EINVAL, "%s is %zu x %zu pixels, the scores of %s "
                               "are %zu x %zu", path, in->rows, in->cols, sc->source, sc->rows,
                               sc->cols);
    }
    *stop = par && par->opened(par, a->c.prog, rc, err->msg, rc == MVA_OK ? *s : NULL,
                               &a->c.pass) != MVA_OK;
    if (*stop || rc != MVA_OK) {
        mva_stack_close(*s);
        *s = NULL;
    }
    return rc;
}

/* Several processes: rank 0 clustered; every process needs the labels (and the count, which
 * -c auto chose) for its slab of the spectra pass.  *own is new on the other ranks. */
static int share_labels(const mva_comm *comm, const mva_kmeans_result *km, size_t n,
                        int32_t **own, size_t *nclass, mva_error *err)
{
    double *buf = malloc((n + 1) * sizeof *buf);
    if (buf == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory for %zu labels", n);
    if (km) {
        buf[0] = (double)km->clusters;
        for (size_t i = 0; i < n; i++)
            buf[i + 1] = km->labels[i];
    }
    int rc = mva_comm_bcast(comm, buf, n + 1, err);
    if (rc == MVA_OK && km == NULL) {
        *nclass = (size_t)buf[0];
        if ((*own = malloc((n ? n : 1) * sizeof **own)) == NULL)
            rc = mva_error_set(err, MVA_ENOMEM, "out of memory for %zu labels", n);
        for (size_t i = 0; rc == MVA_OK && i < n; i++)
            (*own)[i] = (int32_t)buf[i + 1];
    }
    free(buf);
    return rc;
}

/* Rank 0's outputs: the entry, the CSV, the report. */
static int write_outputs(const clu_args *a, const scores *sc, const mva_kmeans_result *km,
                         const double *sil, const mva_select_label_spectra *sp, const mva_stack *s,
                         const char *out, char *entry, size_t cap, int argc, char **argv,
                         mva_error *err)
{
    char rule[256];
    if (a->c_auto)
        snprintf(rule, sizeof rule, "auto: the count in 2..%zu with the largest mean "
                 "silhouette over %zu pixels sampled with seed %llu", a->c_max, a->sample,
                 (unsigned long long)a->km.seed);
    else
        snprintf(rule, sizeof rule, "given: -c %zu", a->km.clusters);
    const mva_calib *cal = s ? &mva_stack_get_info(s)->calib : NULL;
    char stack_name[5200] = "";
    if (s) {
        const mva_stack_info *in = mva_stack_get_info(s);
        snprintf(stack_name, sizeof stack_name, "%s%s%s", in->source, in->path[0] ? "::" : "",
                 in->path);
    }
    mva_cluster_output o = {.source = sc->source, .scores = sc->what, .rule = rule,
                            .rows = sc->rows, .cols = sc->cols, .km = km, .spectra = sp,
                            .cal = cal, .silhouette = a->c_auto ? sil : NULL, .c_min = 2,
                            .c_max = a->c_max};
    mva_param params[CLI_READER_PARAMS];
    cli_reader_text rt;
    mva_result_parts parts = {.entry = a->name, .program = "mva-cluster",
                              .command_line = cli_command_line(argc, argv),
                              .input = s ? mva_stack_get_info(s) : NULL,
                              .input_name = s ? stack_name : a->map_in, .cluster = &o,
                              .params = params,
                              .nparams = a->map_in[0] ? cli_reader_params(&a->c, a->map_in,
                                                                          params, 0, &rt) : 0};
    int rc = mva_result_write(out, &parts, entry, cap, err);
    if (rc == MVA_OK && a->csv && sp && write_csv(a->csv, sp, cal) != 0)
        rc = mva_error_set(err, MVA_EIO, "%s: cannot write the CSV file", a->csv);
    if (rc == MVA_OK && a->report)
        rc = mva_report_write(out, entry, a->report, NULL, err);
    return rc;
}

/* The scores: INPUT's entry, or a PCA fitted here when INPUT is a map (then *s is the map).
 * With par, every process reads INPUT; they must agree on what it is (*stop otherwise). */
static int get_scores(clu_args *a, tool_par *par, int root, scores *sc, mva_stack **s,
                      const char **out, char *outbuf, size_t cap, int argc, char **argv,
                      mva_error *err, int *stop)
{
    int rc = read_results(a, sc, err);
    *stop = par && par->agree(par, rc == MVA_OK) && stopped(par, a, rc, err);
    if (*stop || rc == MVA_OK || a->entry != NULL)
        return rc;
    rc = open_input_map(a, par, s, err, stop);
    if (*stop || rc != MVA_OK)
        return rc;
    snprintf(a->map_in, sizeof a->map_in, "%s", a->input);
    if (*out == NULL) {
        cli_default_output(a->input, "_cluster.h5", outbuf, cap);
        *out = outbuf;
    }
    cli_spill(&a->c, *s);
    rc = fit_map(a, *s, sc, *out, root, argc, argv, err);
    if (rc != MVA_OK && par && !sc->pca)
        par->abort(par, a->c.prog, err->msg);
    *stop = par && stopped(par, a, rc, err);
    return rc;
}

/* par: one of several processes (MPI builds), else NULL.  Every process reads the scores
 * (or fits the PCA on its slab of the map); rank 0 clusters and sends the labels to the
 * others; each process passes over its slab for the spectra, which the processes add up;
 * rank 0 writes and prints. */
int mva_cluster_tool(int argc, char **argv, tool_par *par)
{
    clu_args a;
    memset(&a, 0, sizeof a);
    a.c.prog = "mva-cluster";
    a.km = mva_kmeans_opts_default();
    a.c_max = 10;
    a.sample = 2000;
    gsl_set_error_handler_off();
    int pr = parse_args(&a, argc, argv);
    if (pr)
        return pr == 1 ? 0 : 2;
    int root = par == NULL || par->rank == 0;
    if (!root)
        a.c.quiet = 1, a.c.verbose = 0;
    double t0 = cli_now(), sil[64];
    if (a.no_spectra && (a.csv || a.stack)) {
        cli_fail(a.c.prog, "--no-spectra: no spectra to write with --csv or read from --stack");
        return 2;
    }
    if (a.c_auto && a.c_max > 64 + 1) {
        cli_fail(a.c.prog, "--c-max %zu: at most 65", a.c_max);
        return 2;
    }
    mva_error err;
    mva_error_clear(&err);
    scores sc;
    memset(&sc, 0, sizeof sc);
    mva_stack *s = NULL;
    mva_kmeans_result *km = NULL;
    mva_select_label_spectra *sp = NULL;
    int32_t *labels = NULL;
    size_t nclass = 0;
    char outbuf[4096], entry[256] = "";
    const char *out = a.output;
    int stop = 0;
    int rc = get_scores(&a, par, root, &sc, &s, &out, outbuf, sizeof outbuf, argc, argv, &err,
                        &stop);
    if (out == NULL)
        out = a.input;
    if (!stop && rc == MVA_OK && !a.no_spectra && s == NULL)
        rc = open_map(&a, par, &sc, &s, &err, &stop);
    if (!stop && rc == MVA_OK && a.no_spectra && s == NULL && root) {
        mva_error e2; /* --no-spectra: the map's record only, and only if there is one */
        if (find_map(&a, &sc, &e2) != MVA_OK)
            a.map_in[0] = '\0';
    }
    if (!stop && rc == MVA_OK && root)
        rc = cluster(&a, &sc, sil, &km, &err);
    if (!stop && par && stopped(par, &a, root ? rc : MVA_OK, &err))
        stop = 1;
    if (!stop && rc == MVA_OK && !a.no_spectra) {
        if (par && a.c.pass.comm)
            rc = share_labels(a.c.pass.comm, km, sc.rows * sc.cols, &labels, &nclass, &err);
        cli_progress_init(&a.c, "mva-cluster: spectra");
        if (rc == MVA_OK)
            rc = mva_select_labels(s, km ? km->labels : labels, km ? km->clusters : nclass,
                                   &a.c.pass, &sp, &err);
        cli_progress_done();
        if (rc != MVA_OK && par)
            par->abort(par, a.c.prog, err.msg);
    }
    if (!stop && rc == MVA_OK && root)
        rc = write_outputs(&a, &sc, km, sil, sp, s, out, entry, sizeof entry, argc, argv, &err);
    if (!stop && rc != MVA_OK && root)
        cli_fail(a.c.prog, "%s", err.msg);
    if (!stop && par && par->agree(par, rc) != 0 && rc == MVA_OK)
        rc = MVA_EIO; /* rank 0 failed to write, and said so */
    if (!stop && rc == MVA_OK && !a.c.quiet)
        print_summary(&a, s, &sc, km, sil, sp, out, entry, cli_now() - t0);
    free(labels);
    mva_select_label_spectra_free(sp);
    mva_kmeans_result_free(km);
    scores_free(&sc);
    mva_stack_close(s);
    cli_common_free(&a.c);
    return !stop && rc == MVA_OK ? 0 : 1;
}

#ifndef MVA_CLUSTER_NO_MAIN
int main(int argc, char **argv)
{
    return mva_cluster_tool(argc, argv, NULL);
}
#endif
