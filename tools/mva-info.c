/* mva-info: what a stack is (shape, dtype, calibration, layout, storage), without reading
 * the data. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "mva/spec.h"

static const char *usage =
    "Usage: mva-info INPUT [options]\n"
    "\n"
    "Describes a spectral stack without reading its data: file and dataset, the facility\n"
    "layout recognised (MAPS_RAW, MAPS, PyXRF, Xspress3 NeXus, Odin, BLISS scans) with its\n"
    "detector elements and the normalisations it offers, the scans of a BLISS file, map\n"
    "shape, channels, dtype, layout (where the channel axis is), energy calibration, chunking,\n"
    "compression and size on disk.  A file where the stack cannot be told is refused with\n"
    "every candidate dataset (or scan) listed.\n"
    "\n" CLI_COMMON_HELP
    "\n"
    "Example:\n"
    "  mva-info map.h5\n"
    "  mva-info map.h5::/entry/data/data --shape 101x200\n"
    "  mva-info 2xfm_0011_2xfm3__0.h5 --norm livetime\n"
    "  mva-info scans.spec       (a SPEC file: also lists its scans)\n";

static void print_info(const mva_stack_info *in)
{
    double raw = (double)in->rows * (double)in->cols * (double)in->channels *
                 (double)mva_dtype_size(in->dtype);
    printf("file         %s\n", in->source);
    if (in->layout_name[0])
        printf("recognised   %s\n", in->layout_name);
    if (in->elements[0])
        printf("elements     %s\n", in->elements);
    if (in->norm[0])
        printf("normalised   %s\n", in->norm);
    if (in->snake == MVA_SNAKE_ON)
        printf("snake        odd rows recorded right to left, put back in order\n");
    printf("dataset      %s\n", in->path[0] ? in->path : "-");
    printf("format       %s\n", in->format);
    printf("shape        %zu rows x %zu cols = %zu pixels\n", in->rows, in->cols,
           in->rows * in->cols);
    printf("channels     %zu\n", in->channels);
    printf("dtype        %s\n", mva_dtype_name(in->dtype));
    printf("layout       %s\n", in->layout);
    if (in->calib.known)
        printf("calibration  E(keV) = %.9g + %.9g*ch + %.9g*ch^2  (%.4g..%.4g keV)\n",
               in->calib.a, in->calib.b, in->calib.c, mva_calib_energy(&in->calib, 0),
               mva_calib_energy(&in->calib, (double)in->channels - 1));
    else
        printf("calibration  none (channels only; give one with --calib A,B[,C])\n");
    printf("storage      %s\n", in->storage);
    printf("size         %.1f MB uncompressed", raw / 1e6);
    if (in->stored_bytes)
        printf(", %.1f MB on disk (ratio %.2f)", (double)in->stored_bytes / 1e6,
               raw / (double)in->stored_bytes);
    printf("\n");
    for (const char *w = in->warnings; *w != '\0';) { /* one note a line */
        size_t len = strcspn(w, "\n");
        if (len > 0)
            printf("note         %.*s\n", (int)len, w);
        w += len + (w[len] == '\n');
    }
}

/* ---- SPEC: the scans of the file ---- */

static int print_spec_scan(void *ctx, const mva_spec_scan *s)
{
    (void)ctx;
    if (s->detectors > 0)
        printf("  %-7s %4zu points %4zu MCA %zu/pt %5zu ch  %s\n", s->key, s->points, s->mca,
               s->detectors, s->channels, s->command);
    else
        printf("  %-7s %4zu points %4zu MCA    -       -    %s\n", s->key, s->points, s->mca,
               s->command);
    if (s->note[0] != '\0')
        printf("          %s\n", s->note);
    return 0;
}

/* Lists the scans of a SPEC input (also when it cannot be opened as a map). */
static void print_spec_scans(const char *input)
{
    mva_error err;
    if (!mva_spec_is_spec(input))
        return;
    printf("scans        (--scan N, N.K, N,M,... or N:M; key points MCA MCAs-per-point "
           "channels command)\n");
    if (mva_spec_list(input, print_spec_scan, NULL, &err) != MVA_OK)
        printf("  %s\n", err.msg);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    cli_common c;
    memset(&c, 0, sizeof c);
    c.prog = "mva-info";
    const char *input = NULL;
    int pr = cli_parse_args(&c, argc, argv, "qvhV", longopts, usage, NULL, NULL, &input);
    if (pr) {
        cli_common_free(&c);
        return pr == 1 ? 0 : 2;
    }
    mva_error err;
    mva_stack *s = NULL;
    if (mva_stack_open(&s, input, &c.open, &err) != MVA_OK) {
        print_spec_scans(input);
        cli_fail(c.prog, "%s", err.msg);
        cli_common_free(&c);
        return 1;
    }
    print_info(mva_stack_get_info(s));
    print_spec_scans(input);
    mva_stack_close(s);
    cli_common_free(&c);
    return 0;
}
