/*
 * W (n x k): in memory when it fits the memory budget, else in a scratch HDF5 dataset
 * (src/scratch.c) that the passes read and write one block of rows at a time, so that memory
 * stays the block buffers plus k x p whatever the number of pixels.  Every computation on W
 * goes through windows of rows, in pixel order, the same way in memory and on disk: both give
 * the same bits.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "scratch.h"

/* Rows per window of a sweep over the scratch (k doubles each). */
#define W_SWEEP_ROWS 8192

int nmf_w_open(nmf_state *st, int spill, const char *dir, mva_error *err)
{
    if (!spill) {
        st->W = calloc(st->n * st->k, sizeof *st->W);
        if (st->W == NULL)
            return mva_error_set(err, MVA_ENOMEM, "out of memory for W (%zu x %zu)", st->n,
                                 st->k);
        return MVA_OK;
    }
    return mva_scratch_create(&st->wfile, dir, "nmf-W", st->n, st->k, err);
}

void nmf_w_close(nmf_state *st)
{
    free(st->W);
    free(st->wwin);
    mva_scratch_close(st->wfile);
    st->W = st->wwin = NULL;
    st->wfile = NULL;
    st->wcap = 0;
}

int nmf_w_get(nmf_state *st, size_t first, size_t count, double **rows, mva_error *err)
{
    if (st->wfile == NULL) {
        *rows = st->W + first * st->k;
        return MVA_OK;
    }
    if (count > st->wcap) {
        double *w = realloc(st->wwin, count * st->k * sizeof *w);
        if (w == NULL)
            return mva_error_set(err, MVA_ENOMEM, "out of memory for %zu rows of W", count);
        st->wwin = w;
        st->wcap = count;
    }
    *rows = st->wwin;
    return mva_scratch_read(st->wfile, first, count, st->wwin, err);
}

int nmf_w_put(nmf_state *st, size_t first, size_t count, mva_error *err)
{
    if (st->wfile == NULL)
        return MVA_OK;
    return mva_scratch_write(st->wfile, first, count, st->wwin, err);
}

int nmf_w_sweep(nmf_state *st, size_t first, size_t count, int write, nmf_w_fn fn, void *self,
                mva_error *err)
{
    size_t step = st->wfile ? W_SWEEP_ROWS : (count ? count : 1);
    int rc = MVA_OK;
    for (size_t at = first; rc == MVA_OK && at < first + count; at += step) {
        size_t nb = first + count - at < step ? first + count - at : step;
        double *rows;
        rc = nmf_w_get(st, at, nb, &rows, err);
        if (rc == MVA_OK)
            rc = fn(self, rows, at, nb, err);
        if (rc == MVA_OK && write)
            rc = nmf_w_put(st, at, nb, err);
    }
    return rc;
}
