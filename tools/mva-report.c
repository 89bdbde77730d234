/* mva-report: an HTML report (PNG images, SVG plots, summary) of an mva results file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mva/report.h"

static const char *usage =
    "Usage: mva-report RESULTS.h5 -o DIR [options]\n"
    "\n"
    "Writes a self-contained report of one entry of a results file (from mva-pca, mva-roi,\n"
    "mva-nmf or mva-select) into DIR: one PNG per eigenimage (blue-white-red, white at 0),\n"
    "the total-counts and ROI images (viridis), a montage of them all, SVG plots of the\n"
    "eigenspectra, the scree and the average spectrum with ROI bands and element lines, and\n"
    "index.html with the summary and every parameter.  For an entry of mva-select:\n"
    "selection.svg, the average spectrum of the selected pixels against the map's, with the\n"
    "element lines of the peaks where the selection is most enriched, and mask.png.  For an\n"
    "entry of mva-nmf: one PNG per abundance map (viridis), their montage, nmf_spectra.svg\n"
    "(component spectra, element lines at each one's strongest peaks), convergence.svg\n"
    "(objective per pass, log scale) and the fit's summary with each component's share of\n"
    "the counts.  For an entry of mva-cluster: labels.png (the label map in discrete\n"
    "colours with a legend) and clusters.svg (each cluster's average spectrum and the\n"
    "map's).  Relative links only: copy DIR anywhere and open index.html.\n"
    "Each file is written under a temporary name and renamed; index.html comes last.\n"
    "\n"
    "Options:\n"
    "  -o, --output DIR       directory to write (created if missing; default: RESULTS's\n"
    "                         name + _report, here)\n"
    "  --entry NAME           the NXentry to show (default: the file's default entry)\n"
    "  --scale N              draw each map pixel as N x N image pixels (default: automatic,\n"
    "                         so that the shorter side is at least 200 pixels)\n"
    "  --contrast LO:HI       percentiles of the colour limits of ROI, total-counts and NMF\n"
    "                         abundance images (default 1:99); eigenimages use +-the HI-th\n"
    "                         percentile of |score|\n"
    "  --no-lines             do not mark element lines on the spectra\n"
    "  --log                  selection plot on a log10 y axis (zero counts clipped)\n"
    "  -q, --quiet            print nothing on success\n"
    "  -h, --help             this help;  -V, --version  version\n"
    "\n"
    "Exit status: 0 on success, 2 for a bad option, 1 when reading or writing fails.\n"
    "\n"
    "Examples:\n"
    "  mva-pca map.h5 -k 4 --roi Fe=6.2:6.6keV -o res.h5 && mva-report res.h5 -o report\n"
    "  mva-report res.h5 --entry mva_pca_1 --scale 4 -o report_pca_1\n"
    "  mva-roi map.h5 --roi Cu=7.85:8.25keV -o roi.h5 && mva-report roi.h5 --contrast 2:98\n"
    "  mva-nmf map.h5 -k 4 -o nmf.h5 && mva-report nmf.h5 -o report_nmf\n"
    "  mva-select res.h5 --image eigenimages/data[3] --above 3sigma &&\n"
    "    mva-report res.h5 --entry mva_select --log -o report_sel\n";

typedef struct {
    cli_common c;
    const char *input, *output, *entry;
    mva_report_opts opts;
} report_args;

enum { OPT_ENTRY = OPT_FIRST_TOOL, OPT_SCALE, OPT_CONTRAST, OPT_NO_LINES, OPT_LOG };

static int parse_contrast(report_args *a, const char *arg)
{
    char lo[64], *colon = strchr(arg, ':');
    if (colon == NULL || (size_t)(colon - arg) >= sizeof lo) {
        cli_fail(a->c.prog, "--contrast '%s': expected LO:HI, e.g. 1:99", arg);
        return -1;
    }
    memcpy(lo, arg, (size_t)(colon - arg));
    lo[colon - arg] = '\0';
    if (cli_parse_double(a->c.prog, "--contrast", lo, 0, &a->opts.lo_pct) ||
        cli_parse_double(a->c.prog, "--contrast", colon + 1, 0, &a->opts.hi_pct))
        return -1;
    if (!(a->opts.lo_pct < a->opts.hi_pct && a->opts.hi_pct <= 100)) {
        cli_fail(a->c.prog, "--contrast '%s': expected 0 <= LO < HI <= 100", arg);
        return -1;
    }
    a->opts.div_pct = a->opts.hi_pct;
    return 0;
}

static int tool_option(void *tool, int opt, const char *arg)
{
    report_args *a = tool;
    switch (opt) {
    case 'o':
        a->output = arg;
        return 0;
    case OPT_ENTRY:
        a->entry = arg;
        return 0;
    case OPT_SCALE:
        if (cli_parse_size(a->c.prog, "--scale", arg, 1, &a->opts.scale))
            return -1;
        if (a->opts.scale > 1000) {
            cli_fail(a->c.prog, "--scale '%s': expected at most 1000", arg);
            return -1;
        }
        return 0;
    case OPT_CONTRAST:
        return parse_contrast(a, arg);
    case OPT_NO_LINES:
        a->opts.markers = 0;
        return 0;
    case OPT_LOG:
        a->opts.log = 1;
        return 0;
    default:
        cli_fail(a->c.prog, "try 'mva-report --help'");
        return -1;
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"entry", required_argument, NULL, OPT_ENTRY},
        {"scale", required_argument, NULL, OPT_SCALE},
        {"contrast", required_argument, NULL, OPT_CONTRAST},
        {"no-lines", no_argument, NULL, OPT_NO_LINES},
        {"log", no_argument, NULL, OPT_LOG},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    report_args a;
    memset(&a, 0, sizeof a);
    a.c.prog = "mva-report";
    a.opts = mva_report_opts_default();
    int pr = cli_parse_args(&a.c, argc, argv, "o:qhV", longopts, usage, tool_option, &a,
                            &a.input);
    if (pr)
        return pr == 1 ? 0 : 2;
    char outbuf[4096];
    const char *out = a.output;
    if (out == NULL) {
        cli_default_output(a.input, "_report", outbuf, sizeof outbuf);
        out = outbuf;
    }
    mva_error err;
    mva_error_clear(&err);
    int rc = mva_report_write(a.input, a.entry, out, &a.opts, &err);
    if (rc != MVA_OK)
        cli_fail(a.c.prog, "%s", err.msg);
    else if (!a.c.quiet)
        printf("written    %s/index.html\n", out);
    cli_common_free(&a.c);
    return rc == MVA_OK ? 0 : 1;
}
