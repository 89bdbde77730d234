/*
 * dump: writes every pixel of a stack as raw native float64 (rows*cols x channels) to OUT
 * and its description as key=value lines on stdout, for the interop scripts that compare
 * with what fabio, PyMca, silx or h5py read.  Not built by the Makefile: the scripts compile
 * it against build/lib/libmva.a.
 *
 *   dump OUT INPUT                      format detected by mva_stack_open
 *   dump OUT PATTERN --pattern F L      EDF series PATTERN (printf-style) numbered F..L
 *   dump OUT --list FILE...             EDF series from an explicit list
 *   dump OUT INPUT --block N            read in blocks of N pixels (default 997, so that
 *                                       blocks cross file and row boundaries)
 *   dump OUT INPUT --detector N         SPEC: which MCA of each point (N, sum, a list 0,2)
 *   dump OUT INPUT --shape RxC          map shape override
 *   dump OUT INPUT --scan S --norm N    SPEC scans, normalisation (mva_open_opts.scan, .norm)
 * The warnings are printed as warning=LINE, one per line, the normalisation as norm=...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mva.h"
#include "mva/edf.h"
#include "mva/spec.h"

/* mva_stack_open, then the readers whose detection src/stack.c may not have yet. */
static int open_any(mva_stack **s, const char *input, const mva_open_opts *o, mva_error *err)
{
    int rc = input ? mva_stack_open(s, input, o, err) : MVA_ENOTFOUND;
    if (rc == MVA_OK)
        return rc;
    if (o->use_pattern || o->files != NULL || mva_edf_is_edf(input))
        return mva_edf_open(s, input, o, err);
    if (mva_spec_is_spec(input))
        return mva_spec_open(s, input, o, err);
    return rc;
}

int main(int argc, char **argv)
{
    mva_open_opts opts;
    memset(&opts, 0, sizeof opts);
    const char *input = NULL;
    size_t block = 997;
    if (argc < 3) {
        fprintf(stderr, "usage: dump OUT INPUT [--pattern FIRST LAST] [--block N] "
                        "[--detector N] [--shape RxC] | dump OUT --list FILE...\n");
        return 2;
    }
    for (int k = 2; k < argc; k++) {
        if (strcmp(argv[k], "--list") == 0) {
            opts.files = (const char *const *)(argv + k + 1);
            opts.nfiles = (size_t)(argc - k - 1);
            break;
        } else if (strcmp(argv[k], "--pattern") == 0 && k + 2 < argc) {
            opts.use_pattern = 1;
            opts.first = atol(argv[k + 1]);
            opts.last = atol(argv[k + 2]);
            k += 2;
        } else if (strcmp(argv[k], "--shape") == 0 && k + 1 < argc) {
            if (sscanf(argv[++k], "%zux%zu", &opts.rows, &opts.cols) != 2) {
                fprintf(stderr, "dump: --shape wants ROWSxCOLS\n");
                return 2;
            }
        } else if (strcmp(argv[k], "--detector") == 0 && k + 1 < argc) {
            opts.detector = argv[++k];
        } else if (strcmp(argv[k], "--scan") == 0 && k + 1 < argc) {
            opts.scan = argv[++k];
        } else if (strcmp(argv[k], "--norm") == 0 && k + 1 < argc) {
            opts.norm = argv[++k];
        } else if (strcmp(argv[k], "--block") == 0 && k + 1 < argc) {
            block = (size_t)atol(argv[++k]);
        } else {
            input = argv[k];
        }
    }
    mva_stack *s = NULL;
    mva_error err = {0};
    if (open_any(&s, input, &opts, &err) != MVA_OK) {
        fprintf(stderr, "dump: %s\n", err.msg);
        return 1;
    }
    const mva_stack_info *in = mva_stack_get_info(s);
    printf("rows=%zu\ncols=%zu\nchannels=%zu\ndtype=%s\nformat=%s\nsource=%s\npath=%s\n"
           "storage=%s\nstored_bytes=%llu\n",
           in->rows, in->cols, in->channels, mva_dtype_name(in->dtype), in->format, in->source,
           in->path, in->storage, (unsigned long long)in->stored_bytes);
    if (in->calib.known)
        printf("calib=%.17g %.17g %.17g\n", in->calib.a, in->calib.b, in->calib.c);
    if (in->norm[0])
        printf("norm=%s\n", in->norm);
    for (const char *w = in->warnings; *w != '\0';) {
        size_t len = strcspn(w, "\n");
        printf("warning=%.*s\n", (int)len, w);
        w += len + (w[len] == '\n');
    }
    size_t n = in->rows * in->cols, p = in->channels;
    if (block == 0)
        block = 1;
    double *buf = malloc(block * p * sizeof *buf);
    FILE *out = fopen(argv[1], "wb");
    int rc = buf && out ? 0 : 1;
    for (size_t first = 0; rc == 0 && first < n; first += block) {
        size_t count = n - first < block ? n - first : block;
        if (mva_stack_read(s, first, count, buf, &err) != MVA_OK) {
            fprintf(stderr, "dump: %s\n", err.msg);
            rc = 1;
        } else if (fwrite(buf, sizeof *buf, count * p, out) != count * p) {
            fprintf(stderr, "dump: cannot write %s\n", argv[1]);
            rc = 1;
        }
    }
    if (out != NULL && fclose(out) != 0)
        rc = 1;
    free(buf);
    mva_stack_close(s);
    return rc;
}
