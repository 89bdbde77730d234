/* passread INPUT [REPEATS]: the cost of one pass over a stack with nothing to compute --
 * mva_pass_run with a no-op accumulator, so the time is reading, decompression, conversion
 * to double and the engine's own work (read-ahead hand-over, finite check).  Prints the best
 * of REPEATS passes (default 3) and the stack's storage line.  Compare with h5read (the
 * plain single-threaded HDF5 read of the same dataset). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mva.h"

static int noop(void *self, const mva_block *b, mva_error *err)
{
    (void)err;
    *(size_t *)self += b->nvalid;
    return MVA_OK;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: passread INPUT [REPEATS]\n");
        return 2;
    }
    int repeats = argc == 3 ? atoi(argv[2]) : 3;
    mva_error err = {0, ""};
    mva_stack *s = NULL;
    double t0 = now();
    if (mva_stack_open(&s, argv[1], NULL, &err) != MVA_OK) {
        fprintf(stderr, "passread: %s\n", err.msg);
        return 1;
    }
    double topen = now() - t0;
    const mva_stack_info *in = mva_stack_get_info(s);
    double mb = (double)(in->rows * in->cols * in->channels * mva_dtype_size(in->dtype)) / 1e6;
    double best = 1e30;
    size_t nvalid = 0;
    for (int r = 0; r < (repeats > 0 ? repeats : 1); r++) {
        nvalid = 0;
        mva_accum acc = {&nvalid, NULL, noop, NULL};
        t0 = now();
        if (mva_pass_run(s, &acc, 1, NULL, &err) != MVA_OK) {
            fprintf(stderr, "passread: %s\n", err.msg);
            mva_stack_close(s);
            return 1;
        }
        double t = now() - t0;
        if (t < best)
            best = t;
    }
    printf("passread: %.1f MB (%zu valid pixels) in %.3f s = %.0f MB/s (open %.3f s)\n"
           "storage: %s\n",
           mb, nvalid, best, mb / best, topen, in->storage);
    mva_stack_close(s);
    return 0;
}
