/* mva-select: select pixels from an image of a results file and compare the cumulative
 * spectrum of the selection with the average spectrum of the map, in one pass. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mva/report.h"
#include "mva/select.h"
#include "numparse.h"

static const char *usage =
    "Usage: mva-select RESULTS.h5 [--image SPEC] TEST [[--and|--or|--not] TEST ...] [options]\n"
    "\n"
    "Selects pixels from images of a results file (eigenimages, ROI images, total counts)\n"
    "and, in one streamed pass over the original stack, computes the cumulative (sum),\n"
    "average and maximum spectra of the selection and the average spectrum of the whole map.\n"
    "They are written as a new entry (mva_select) of the results file, with the mask as an\n"
    "image; silx shows the selection's average against the map's at once.\n"
    "\n"
    "Images (the current image is used by the tests that follow):\n"
    "  --image SPEC           a dataset of the entry, with an index for stacks of images:\n"
    "                         eigenimages/data[1] (default eigenimages/data[0]),\n"
    "                         roi_raw/data[0], total_counts/data\n"
    "  --entry NAME           the results entry (default: the file's default entry)\n"
    "Tests (the first sets the selection, the next combine with it, --and by default):\n"
    "  --range LO:HI          pixels with LO <= value <= HI\n"
    "  --above Ns             value >= median + N standard deviations (e.g. 3sigma or 3)\n"
    "  --below Ns             value <= median + N standard deviations (e.g. -2sigma)\n"
    "  --top F                the top fraction F of the pixels (1% or 0.01)\n"
    "  --mask FILE            FILE.h5::/path, a PNG (non-black) or a text grid (non-zero)\n"
    "  --and, --or, --not     how the next test combines (--not: and not)\n"
    "Output:\n"
    "  --stack INPUT          the stack (default: the input recorded in the results,\n"
    "                         reopened with the reader options it was analysed with)\n"
    "  -o, --output FILE      where to write (default: RESULTS.h5 itself, a new entry)\n"
    "  --name NAME            entry name (default mva_select, made unique)\n"
    "  --csv FILE             also write channel,energy,sum,average,max,map_average\n"
    "  --report DIR           also write an HTML report of the new entry into DIR (as\n"
    "                         mva-report does): the selection's average spectrum against\n"
    "                         the map's with the enriched element lines, and the mask\n"
    "\n" CLI_COMMON_HELP
    "\n"
    "Example:\n"
    "  mva-pca map.h5 -k 5 -o res.h5\n"
    "  mva-select res.h5 --image eigenimages/data[3] --above 3sigma --csv trace.csv\n"
    "  mva-select res.h5 --image roi_raw/data[0] --top 5% --not --mask edge.png\n"
    "  mva-select res.h5 --image eigenimages/data[3] --above 3sigma --report trace_report\n";

enum { OPT_IMAGE = OPT_FIRST_TOOL, OPT_ENTRY, OPT_RANGE, OPT_ABOVE, OPT_BELOW, OPT_TOP,
       OPT_MASK, OPT_AND, OPT_OR, OPT_NOT, OPT_STACK, OPT_NAME, OPT_CSV, OPT_REPORT };

typedef struct {
    cli_common c;
    const char *results, *entry, *stack, *output, *name, *csv, *report;
    double *img;             /* the current image */
    char image_spec[256];
    size_t rows, cols;
    unsigned char *mask, *test;
    int op, ntests;
    char description[2048];
    char source[1024]; /* the entries of the images: "results::/entry[, ...]" */
    struct {
        int opt;
        const char *arg;
    } steps[256]; /* images and tests, applied in order once RESULTS is known */
    size_t nsteps;
} sel_args;

/* Adds the entry that holds spec's dataset (as mva_result_image_read found it) to
 * a->source, once. */
static void note_source(sel_args *a, const char *spec)
{
    char path[1024], ent[256], one[1400];
    mva_error err;
    snprintf(path, sizeof path, "%.*s", (int)strcspn(spec, "["), spec);
    if (mva_result_find_entry(a->results, a->entry, path, ent, sizeof ent, &err) != MVA_OK)
        return;
    snprintf(one, sizeof one, "%s::/%s", a->results, ent);
    size_t used = strlen(a->source), len = strlen(one);
    for (const char *at = strstr(a->source, one); at; at = strstr(at + 1, one))
        if ((at[len] == '\0' || at[len] == ',') && (at == a->source || at[-1] == ' '))
            return;
    snprintf(a->source + used, sizeof a->source - used, "%s%s", used ? ", " : "", one);
}

static int load_image(sel_args *a, const char *spec)
{
    mva_error err;
    size_t r, c;
    double *img = NULL;
    if (mva_result_image_read(a->results, a->entry, spec, &img, &r, &c, &err) != MVA_OK) {
        cli_fail(a->c.prog, "%s", err.msg);
        return -1;
    }
    if (a->mask && (r != a->rows || c != a->cols)) {
        cli_fail(a->c.prog, "%s is %zu x %zu, earlier images were %zu x %zu", spec, r, c,
                 a->rows, a->cols);
        free(img);
        return -1;
    }
    free(a->img);
    a->img = img;
    a->rows = r;
    a->cols = c;
    snprintf(a->image_spec, sizeof a->image_spec, "%s", spec);
    note_source(a, spec);
    if (a->mask == NULL) {
        a->mask = calloc(r * c, 1);
        a->test = calloc(r * c, 1);
        if (!a->mask || !a->test) {
            cli_fail(a->c.prog, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* "3sigma", "3", "-2 sigma" -> 3, 3, -2 */
static int parse_sigma(const char *prog, const char *opt, const char *s, double *v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    char *sg = strstr(buf, "sigma");
    if (sg)
        *sg = '\0';
    if (mva_parse_double(buf, v) != 0) {
        cli_fail(prog, "%s '%s': expected a number of standard deviations, e.g. 3sigma", opt, s);
        return -1;
    }
    return 0;
}

static int parse_fraction(const char *prog, const char *s, double *f)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    size_t len = strlen(buf);
    int pct = len && buf[len - 1] == '%';
    if (pct)
        buf[len - 1] = '\0';
    if (mva_parse_double(buf, f) != 0 || (pct && (*f /= 100.0, 0)) || !(*f > 0 && *f <= 1)) {
        cli_fail(prog, "--top '%s': expected a fraction in (0, 1] or a percentage, e.g. 1%%", s);
        return -1;
    }
    return 0;
}

/* Runs one test on the current image into a->test, then combines it into a->mask. */
static int apply_test(sel_args *a, int opt, const char *arg)
{
    if (a->img == NULL && opt != OPT_MASK && load_image(a, "eigenimages/data[0]") != 0)
        return -1;
    size_t n = a->rows * a->cols;
    double x, y, t = NAN;
    char part[320];
    switch (opt) {
    case OPT_RANGE: {
        char lo[64];
        const char *colon = strchr(arg, ':');
        if (!colon || (size_t)(colon - arg) >= sizeof lo)
            goto bad_range;
        memcpy(lo, arg, (size_t)(colon - arg));
        lo[colon - arg] = '\0';
        if (mva_parse_double(lo, &x) || mva_parse_double(colon + 1, &y) || x > y)
            goto bad_range;
        mva_select_range(a->img, n, x, y, a->test);
        snprintf(part, sizeof part, "%s in [%g, %g]", a->image_spec, x, y);
        break;
    bad_range:
        cli_fail(a->c.prog, "--range '%s': expected LO:HI with LO <= HI", arg);
        return -1;
    }
    case OPT_ABOVE:
    case OPT_BELOW:
        if (parse_sigma(a->c.prog, opt == OPT_ABOVE ? "--above" : "--below", arg, &x))
            return -1;
        mva_select_sigma(a->img, n, x, opt == OPT_ABOVE, a->test, &t);
        snprintf(part, sizeof part, "%s %s median %+g sd (%.6g)", a->image_spec,
                 opt == OPT_ABOVE ? ">=" : "<=", x, t);
        break;
    case OPT_TOP:
        if (parse_fraction(a->c.prog, arg, &x))
            return -1;
        mva_select_top(a->img, n, x, a->test, &t);
        snprintf(part, sizeof part, "%s in its top %g%% (>= %.6g)", a->image_spec, 100 * x, t);
        break;
    default: { /* OPT_MASK */
        mva_error err;
        if (a->mask == NULL) {
            cli_fail(a->c.prog, "--mask: give an --image first (it sets the map shape)");
            return -1;
        }
        if (mva_select_mask_read(arg, a->rows, a->cols, a->test, &err) != MVA_OK) {
            cli_fail(a->c.prog, "%s", err.msg);
            return -1;
        }
        snprintf(part, sizeof part, "mask %s", arg);
    }
    }
    static const char *ops[] = {" and ", " or ", " and not ", ""};
    int op = a->ntests == 0 ? MVA_SEL_SET : a->op;
    mva_select_combine(a->mask, a->test, n, op);
    size_t used = strlen(a->description);
    snprintf(a->description + used, sizeof a->description - used, "%s%s", ops[op], part);
    a->ntests++;
    a->op = MVA_SEL_AND;
    return 0;
}

static int tool_option(void *tool, int opt, const char *arg)
{
    sel_args *a = tool;
    switch (opt) {
    case OPT_ENTRY: a->entry = arg; return 0;
    case OPT_STACK: a->stack = arg; return 0;
    case 'o': a->output = arg; return 0;
    case OPT_NAME: a->name = arg; return 0;
    case OPT_CSV: a->csv = arg; return 0;
    case OPT_REPORT: a->report = arg; return 0;
    case OPT_IMAGE:
    case OPT_AND:
    case OPT_OR:
    case OPT_NOT:
    case OPT_RANGE:
    case OPT_ABOVE:
    case OPT_BELOW:
    case OPT_TOP:
    case OPT_MASK:
        if (a->nsteps == sizeof a->steps / sizeof a->steps[0]) {
            cli_fail(a->c.prog, "too many images and tests");
            return -1;
        }
        a->steps[a->nsteps].opt = opt;
        a->steps[a->nsteps++].arg = arg;
        return 0;
    default: cli_fail(a->c.prog, "try 'mva-select --help'"); return -1;
    }
}

/* The images and tests, in the order given. */
static int run_steps(sel_args *a)
{
    for (size_t i = 0; i < a->nsteps; i++) {
        int opt = a->steps[i].opt, rc = 0;
        const char *arg = a->steps[i].arg;
        if (opt == OPT_IMAGE)
            rc = load_image(a, arg);
        else if (opt == OPT_AND || opt == OPT_OR || opt == OPT_NOT)
            a->op = opt == OPT_AND ? MVA_SEL_AND : opt == OPT_OR ? MVA_SEL_OR : MVA_SEL_AND_NOT;
        else
            rc = apply_test(a, opt, arg);
        if (rc)
            return rc;
    }
    if (a->ntests == 0) {
        cli_fail(a->c.prog, "no test given (--range, --above, --below, --top or --mask); try "
                 "'mva-select --help'");
        return -1;
    }
    return 0;
}

static int write_csv(const char *path, const mva_select_spectra_result *r, const mva_calib *cal)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "channel,energy_keV,sum,average,max,map_average\n");
    for (size_t j = 0; j < r->p; j++)
        fprintf(f, "%zu,%.9g,%.17g,%.17g,%.17g,%.17g\n", j,
                cal->known ? mva_calib_energy(cal, (double)j) : NAN, r->sum[j], r->avg[j],
                r->max[j], r->map_avg[j]);
    return fclose(f) == 0 ? 0 : -1;
}

static int parse_args(sel_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"image", required_argument, NULL, OPT_IMAGE},
        {"entry", required_argument, NULL, OPT_ENTRY},
        {"range", required_argument, NULL, OPT_RANGE},
        {"above", required_argument, NULL, OPT_ABOVE},
        {"below", required_argument, NULL, OPT_BELOW},
        {"top", required_argument, NULL, OPT_TOP},
        {"mask", required_argument, NULL, OPT_MASK},
        {"and", no_argument, NULL, OPT_AND},
        {"or", no_argument, NULL, OPT_OR},
        {"not", no_argument, NULL, OPT_NOT},
        {"stack", required_argument, NULL, OPT_STACK},
        {"output", required_argument, NULL, 'o'},
        {"name", required_argument, NULL, OPT_NAME},
        {"csv", required_argument, NULL, OPT_CSV},
        {"report", required_argument, NULL, OPT_REPORT},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0}};
    return cli_parse_args(&a->c, argc, argv, "o:qvhV", longopts, usage, tool_option, a,
                          &a->results);
}

int main(int argc, char **argv)
{
    sel_args a;
    memset(&a, 0, sizeof a);
    a.c.prog = "mva-select";
    int pr = parse_args(&a, argc, argv);
    if (pr)
        return pr == 1 ? 0 : 2;
    int rc = run_steps(&a) == 0 ? MVA_OK : MVA_EINVAL;
    mva_error err;
    mva_error_clear(&err);
    char input[5200], entry[256] = "", recorded[8192];
    mva_stack *s = NULL;
    mva_select_spectra_result *r = NULL;
    size_t n = a.rows * a.cols, nsel = 0;
    for (size_t i = 0; i < n; i++)
        nsel += a.mask[i];
    if (rc == MVA_OK && a.stack == NULL &&
        mva_result_input_opts(a.results, a.entry, input, sizeof input, &a.c.open, recorded,
                              sizeof recorded, &err) != MVA_OK) {
        cli_fail(a.c.prog, "%s", err.msg);
        rc = MVA_EINVAL;
    }
    const char *stack = a.stack ? a.stack : input;
    if (rc == MVA_OK && (rc = mva_stack_open(&s, stack, &a.c.open, &err)) == MVA_OK) {
        const mva_stack_info *in = mva_stack_get_info(s);
        if (!a.c.quiet)
            cli_print_warnings(a.c.prog, s);
        if (in->rows != a.rows || in->cols != a.cols)
            rc = mva_error_set(&err, MVA_EINVAL, "%s is %zu x %zu pixels, the images are "
                               "%zu x %zu", stack, in->rows, in->cols, a.rows, a.cols);
    }
    if (rc == MVA_OK) {
        cli_progress_init(&a.c, "mva-select");
        rc = mva_select_spectra(s, a.mask, &a.c.pass, &r, &err);
        cli_progress_done();
    }
    const mva_calib *cal = s ? &mva_stack_get_info(s)->calib : NULL;
    if (rc == MVA_OK) {
        mva_select_output o = {.spectra = r, .mask = a.mask, .rows = a.rows, .cols = a.cols,
                               .cal = cal, .description = a.description,
                               .source = a.source[0] ? a.source : NULL};
        mva_result_parts parts = {.entry = a.name, .program = "mva-select",
                                  .command_line = cli_command_line(argc, argv),
                                  .input = mva_stack_get_info(s), .input_name = stack,
                                  .selection = &o};
        rc = mva_result_write(a.output ? a.output : a.results, &parts, entry, sizeof entry,
                              &err);
    }
    if (rc == MVA_OK && a.csv && write_csv(a.csv, r, cal) != 0)
        rc = mva_error_set(&err, MVA_EIO, "%s: cannot write the CSV file", a.csv);
    if (rc == MVA_OK && a.report)
        rc = mva_report_write(a.output ? a.output : a.results, entry, a.report, NULL, &err);
    if (rc == MVA_OK && !a.c.quiet) {
        cli_print_input(stdout, s);
        if (a.source[0])
            printf("images     %s\n", a.source);
        printf("selection  %s\n", a.description);
        printf("pixels     %zu selected of %zu (%zu valid in the stack)\n", nsel, n,
               r->n_valid);
        printf("written    %s (entry /%s)%s%s\n", a.output ? a.output : a.results, entry,
               a.csv ? ", " : "", a.csv ? a.csv : "");
        if (a.report)
            printf("report     %s/index.html\n", a.report);
    }
    if (rc != MVA_OK && err.msg[0])
        cli_fail(a.c.prog, "%s", err.msg);
    mva_select_spectra_free(r);
    mva_stack_close(s);
    free(a.img);
    free(a.mask);
    free(a.test);
    cli_common_free(&a.c);
    return rc == MVA_OK ? 0 : 1;
}
