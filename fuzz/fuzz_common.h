/* Shared by the fuzz targets: the input bytes as a file the readers can open, and a pass
 * over every pixel of a stack in blocks.  Each target defines LLVMFuzzerTestOneInput; built
 * with -fsanitize=fuzzer it is a libFuzzer target, built with fuzz/replay.c it replays the
 * files named on the command line (tests/cli/test_regress.sh). */
#ifndef MVA_FUZZ_COMMON_H
#define MVA_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mva.h"

/* A private directory, made once; the file name has no digits, so that the EDF reader does
 * not take it for one file of a numbered series. */
static inline const char *fuzz_path(const char *name)
{
    static char dir[256], path[512];
    if (dir[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/mva-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (mkdtemp(dir) == NULL)
            abort();
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static inline const char *fuzz_write(const char *name, const uint8_t *data, size_t size)
{
    const char *path = fuzz_path(name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
    return path;
}

/* Reads every pixel in blocks of at most 2^16 values; stops at the first error (which must
 * carry a message).  Stacks too big to read in a fuzz iteration are only opened. */
static inline void fuzz_read_all(mva_stack *s)
{
    const mva_stack_info *in = mva_stack_get_info(s);
    size_t n = in->rows * in->cols, p = in->channels;
    if (p == 0 || n == 0 || in->rows > SIZE_MAX / in->cols)
        abort(); /* a reader must never open an empty or overflowing stack */
    if (p > (1u << 16) || n > ((size_t)1 << 22) / p)
        return;
    size_t block = (1u << 16) / p;
    if (block == 0)
        block = 1;
    double *buf = malloc(block * p * sizeof *buf);
    if (buf == NULL)
        abort();
    mva_error err = {0};
    for (size_t first = 0; first < n; first += block) {
        size_t count = n - first < block ? n - first : block;
        if (mva_stack_read(s, first, count, buf, &err) != MVA_OK) {
            if (err.msg[0] == '\0')
                abort(); /* every error names what went wrong */
            break;
        }
    }
    free(buf);
}

#endif
