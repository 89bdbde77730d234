/* mva-roi: ROI images (raw and background-subtracted), total counts and sum/average/max
 * spectra of an XRF map in one streamed pass. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "par.h"

#define MAX_ROIS 256

static const char *usage =
    "Usage: mva-roi INPUT --roi [NAME=]A:B[keV] [--roi ...] [options]\n"
    "\n"
    "Element images from regions of interest, in one pass over the map.  For each ROI: the\n"
    "raw image (sum of channels A..B, inclusive) and the net image (raw minus the straight\n"
    "line between the end channels, as PyMca: 0.5 * nch * (y[A] + y[B])).  Also the total\n"
    "counts image and the sum, average and maximum spectra.  Pixels with NaN/Inf are left\n"
    "out and flagged in a mask.\n"
    "\n"
    "ROI options:\n"
    "  --roi [NAME=]A:B       channels A..B (inclusive), e.g. --roi Cu=800:812\n"
    "  --roi [NAME=]E1:E2keV  energies (through the calibration), e.g. --roi Fe=6.2:6.6keV\n"
    "\n"
    "Output:\n"
    "  -o, --output FILE      HDF5 file to write (default: INPUT's name + _roi.h5 here, unless\n"
    "                         --csv is given); an existing HDF5 file gets a new entry\n"
    "  --entry NAME           name of the NXentry (default mva_roi, made unique)\n"
    "  --csv                  print a table on stdout: row,col,total,NAME_raw,NAME_net,...\n"
    "  --report DIR           also write an HTML report of the result into DIR (PNG images,\n"
    "                         SVG plots, index.html; see mva-report)\n"
    "\n" CLI_COMMON_HELP
    "\n"
    "Example:\n"
    "  mva-roi map.h5 --roi Fe=6.2:6.6keV --roi Cu=7.9:8.2keV -o map_roi.h5\n"
    "  mva-roi map.h5 --roi 640:700 --csv > roi.csv\n";

typedef struct {
    cli_common c;
    const char *input, *output, *entry;
    const char *report; /* --report DIR */
    int csv;
    mva_roi_def rois[MAX_ROIS];
    size_t nroi;
} roi_args;

static int parse_tool_option(roi_args *a, int opt, const char *arg)
{
    switch (opt) {
    case 'o':
        a->output = arg;
        return 0;
    case OPT_FIRST_TOOL:
        return cli_add_roi(a->c.prog, arg, a->rois, &a->nroi, MAX_ROIS);
    case OPT_FIRST_TOOL + 1:
        a->csv = 1;
        return 0;
    case OPT_FIRST_TOOL + 2:
        a->entry = arg;
        return 0;
    case OPT_FIRST_TOOL + 3:
        a->report = arg;
        return 0;
    default:
        cli_fail(a->c.prog, "try 'mva-roi --help'");
        return -1;
    }
}

static int tool_option(void *tool, int opt, const char *arg)
{
    return parse_tool_option(tool, opt, arg);
}

static int parse_args(roi_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"roi", required_argument, NULL, OPT_FIRST_TOOL},
        {"csv", no_argument, NULL, OPT_FIRST_TOOL + 1},
        {"entry", required_argument, NULL, OPT_FIRST_TOOL + 2},
        {"report", required_argument, NULL, OPT_FIRST_TOOL + 3},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0}};
    return cli_parse_args(&a->c, argc, argv, "o:qvhV", longopts, usage, tool_option, a,
                          &a->input);
}

static void print_csv(const mva_roi_result *r)
{
    size_t n = r->rows * r->cols;
    printf("row,col,total");
    for (size_t q = 0; q < r->nroi; q++)
        printf(",%s_raw,%s_net", r->defs[q].name, r->defs[q].name);
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        printf("%zu,%zu,%.17g", i / r->cols, i % r->cols, r->total[i]);
        for (size_t q = 0; q < r->nroi; q++)
            printf(",%.17g,%.17g", r->raw[q * n + i], r->net[q * n + i]);
        printf("\n");
    }
}

static void print_summary(const mva_stack *s, const mva_roi_result *r, const char *out,
                          const char *entry, double secs)
{
    size_t n = r->rows * r->cols;
    cli_print_input(stdout, s);
    printf("pixels     %zu valid, %zu masked (NaN/Inf)\n\n", r->n_valid, n - r->n_valid);
    printf("  %-16s %-13s %-14s %-14s\n", "ROI", "channels", "raw sum", "net sum");
    for (size_t q = 0; q < r->nroi; q++) {
        double raw = 0, net = 0;
        for (size_t i = 0; i < n; i++)
            if (!r->mask[i]) {
                raw += r->raw[q * n + i];
                net += r->net[q * n + i];
            }
        char ch[32];
        snprintf(ch, sizeof ch, "%zu:%zu", r->ch0[q], r->ch1[q]);
        printf("  %-16s %-13s %-14.6g %-14.6g\n", r->defs[q].name, ch, raw, net);
    }
    printf("\ntime       %.2f s\n", secs);
    if (out)
        printf("written    %s (entry /%s)\n", out, entry);
}

/* par: one of several processes (MPI builds), else NULL; rank 0 alone writes and prints. */
int mva_roi_tool(int argc, char **argv, tool_par *par)
{
    roi_args a;
    memset(&a, 0, sizeof a);
    a.c.prog = "mva-roi";
    int pr = parse_args(&a, argc, argv);
    if (pr)
        return pr == 1 ? 0 : 2;
    int root = par == NULL || par->rank == 0;
    if (!root)
        a.c.quiet = 1, a.c.verbose = 0;
    char outbuf[4096], entry[256] = "";
    const char *out = a.output;
    if (out == NULL && (!a.csv || a.report != NULL)) {
        cli_default_output(a.input, "_roi.h5", outbuf, sizeof outbuf);
        out = outbuf;
    }
    double t0 = cli_now();
    mva_error err;
    mva_error_clear(&err);
    mva_stack *s = NULL;
    mva_roi_result *r = NULL;
    int stop;
    int rc = tool_open_input(par, &a.c, a.input, &s, &err, &stop);
    if (stop) {
        cli_common_free(&a.c);
        return 1;
    }
    if (rc == MVA_OK) {
        cli_progress_init(&a.c, "mva-roi");
        rc = mva_roi_fit(s, a.rois, a.nroi, &a.c.pass, &r, &err);
        cli_progress_done();
    }
    if (rc != MVA_OK && par)
        par->abort(par, a.c.prog, err.msg);
    if (rc == MVA_OK && out && root) {
        char nb[32];
        snprintf(nb, sizeof nb, "%zu", a.nroi);
        mva_param params[1 + CLI_READER_PARAMS] = {{"rois", nb}};
        cli_reader_text rt;
        size_t np = cli_reader_params(&a.c, a.input, params, 1, &rt);
        mva_result_parts spec = {.entry = a.entry,
                                .program = "mva-roi",
                                .command_line = cli_command_line(argc, argv),
                                .input = mva_stack_get_info(s),
                                .roi = r,
                                .params = params,
                                .nparams = np};
        rc = mva_result_write(out, &spec, entry, sizeof entry, &err);
    }
    if (rc == MVA_OK && root && a.report != NULL)
        rc = mva_report_write(out, entry, a.report, NULL, &err);
    if (rc != MVA_OK && root)
        cli_fail(a.c.prog, "%s", err.msg);
    if (par && par->agree(par, rc) != 0 && rc == MVA_OK)
        rc = MVA_EIO; /* rank 0 failed to write, and said so */
    if (rc == MVA_OK && root && a.csv)
        print_csv(r);
    else if (rc == MVA_OK && !a.c.quiet)
        print_summary(s, r, out, entry, cli_now() - t0);
    mva_roi_result_free(r);
    mva_stack_close(s);
    cli_common_free(&a.c);
    return rc == MVA_OK ? 0 : 1;
}

#ifndef MVA_ROI_NO_MAIN
int main(int argc, char **argv)
{
    return mva_roi_tool(argc, argv, NULL);
}
#endif
