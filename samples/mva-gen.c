/*
 * mva-gen - synthetic XRF maps with ground truth, written as NeXus HDF5.
 *
 * The sample has four smooth phases (a K/Ca matrix, Fe grains, a Cu/Zn band, a Pb pigment
 * blob) whose fractions vary with position, and a trace element (As by default, its Ka line
 * hidden under Pb La) in a disc of ~37 pixels.  Each phase has one expected spectrum: element
 * lines with a Fano-limited detector width, a continuum, Rayleigh and Compton scatter.  A
 * pixel's expected spectrum is a mix of those (a rank-5 product per map row), then
 * Poisson-sampled.  Worker threads generate rows, each from its own generator seeded by
 * (seed, row); the main thread writes them in order, one hyperslab each, so memory is
 * O(threads x cols x channels) whatever the map size and the file does not depend on the
 * number of threads.  The truth (phase maps, phase spectra, trace mask) goes into the same
 * file.
 *
 * The physics is in samples/gen/model.c, the rows and threads in gen/rows.c, the HDF5
 * writer in gen/write_h5.c, the options in gen/options.c (gen/gen.h lists them); this file
 * runs them.  See samples/README.md and `mva-gen --help`.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <gsl/gsl_errno.h>

#include "gen/gen.h"

/* ------------------------------------------------------------------------------------------ */
/* Errors: one message, printed by main.                                                      */

static char errbuf[2048];

int gen_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return -1;
}

static char *join_args(int argc, char **argv)
{
    size_t len = 1;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *s = malloc(len), *p = s;
    if (s == NULL)
        return NULL;
    for (int i = 0; i < argc; i++)
        p += sprintf(p, "%s%s", i ? " " : "", argv[i]);
    *p = '\0';
    return s;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void summary(const options *o, const shape *s, double seconds)
{
    struct stat st;
    char comp[32], dims[96] = "", chunk[96] = "contiguous";
    double mb = stat(o->output, &st) == 0 ? (double)st.st_size / 1e6 : 0.0;
    for (int d = 0; d < s->rank; d++) {
        size_t len = strlen(dims);
        snprintf(dims + len, sizeof dims - len, "%s%llu", d ? " x " : "",
                 (unsigned long long)s->dims[d]);
    }
    if (s->chunked) {
        chunk[0] = '\0';
        for (int d = 0; d < s->rank; d++) {
            size_t len = strlen(chunk);
            snprintf(chunk + len, sizeof chunk - len, "%s%llu", d ? "x" : "chunks ",
                     (unsigned long long)s->chunk[d]);
        }
    }
    printf("%s: %s %s, channel axis %s, %s, %s, %.1f MB on disk, %.2f s\n", o->output, dims,
           gen_dtypes[o->dtype].name, o->channel_first ? "first" : "last",
           gen_comp_name(o, comp, sizeof comp), chunk, mb, seconds);
}

int main(int argc, char **argv)
{
    options o;
    model m = {0};
    shape s;
    writer w = {.file = -1, .data = -1, .maps = -1, .mask = -1, .trace = -1, .truth = -1};
    char *cmdline = NULL;
    int status = 1, rc;

    /* No HDF5 teardown at exit: every object is closed (and checked) here, and after a failed
     * H5Fclose (e.g. a full disk) HDF5 1.10's atexit handler crashes on the dead file id. */
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are reported once, by us */
    gsl_set_error_handler_off();
    gen_poisson_init();
    double t0 = now_seconds();

    rc = gen_parse_args(&o, argc, argv);
    if (rc == 1)
        return 0;
    if (rc < 0 || gen_check_options(&o) < 0 || gen_shape_plan(&s, &o) < 0 ||
        gen_model_build(&m, &o) < 0) {
        fprintf(stderr, "%s: %s\n", PROG, errbuf);
        gen_model_free(&m);
        return 2;
    }
    gen_catch_signals();

    if ((cmdline = join_args(argc, argv)) == NULL)
        rc = gen_fail("out of memory");
    else if ((rc = gen_writer_open(&w, &o, &m, &s, cmdline)) == 0)
        rc = gen_generate(&w, &o, &m, &s);
    if (gen_writer_close(&w, rc == 0) < 0)
        rc = -1;
    mva_error e;
    if (rc == 0 && mva_commit_finish(&w.commit, &e) != MVA_OK)
        rc = gen_fail("-o %s", e.msg);
    if (rc == 0) {
        status = 0;
        if (!o.quiet)
            summary(&o, &s, now_seconds() - t0);
    } else {
        mva_commit_abort(&w.commit);
        fprintf(stderr, "%s: %s\n", PROG, errbuf);
    }
    free(cmdline);
    gen_model_free(&m);
    return status;
}
