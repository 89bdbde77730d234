/*
 * Combining partial results across the processes of an mva_comm (the MPI tools provide it;
 * nothing here knows MPI).  Everything is built on one all-gather: each process receives
 * every process's part and forms sums in rank order itself, so that the result is identical
 * on every process and from run to run with the same process count (an MPI_Allreduce may
 * add in an order that depends on the algorithm the library picks).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mva/pass.h"

/* Doubles per process per all-gather when summing: bounds the extra memory to
 * size x 8 MB whatever the accumulator (a 2048 x 2048 covariance is 32 MB). */
#define PIECE ((size_t)1 << 20)

static int fail_alloc(mva_error *err)
{
    return mva_error_set(err, MVA_ENOMEM, "out of memory for combining partial results");
}

/* Equal contributions of len doubles from every process into all (size x len). */
static int gather_equal(const mva_comm *c, const double *in, size_t len, double *all,
                        size_t *counts, mva_error *err)
{
    for (int r = 0; r < c->size; r++)
        counts[r] = len;
    return c->allgather(c->user, in, counts, all, err);
}

/* op 0: sum in rank order, op 1: maximum. */
static int combine(const mva_comm *c, double *buf, size_t count, int op, mva_error *err)
{
    if (c == NULL || c->size <= 1 || count == 0)
        return MVA_OK;
    size_t piece = count < PIECE ? count : PIECE, size = (size_t)c->size;
    double *all = malloc(size * piece * sizeof *all);
    size_t *counts = malloc(size * sizeof *counts);
    int rc = all && counts ? MVA_OK : fail_alloc(err);
    for (size_t at = 0; rc == MVA_OK && at < count; at += piece) {
        size_t len = count - at < piece ? count - at : piece;
        rc = gather_equal(c, buf + at, len, all, counts, err);
        if (rc != MVA_OK)
            break;
        for (size_t i = 0; i < len; i++) {
            double v = all[i];
            for (size_t r = 1; r < size; r++) {
                double w = all[r * len + i];
                if (op == 0)
                    v += w;
                else if (w > v)
                    v = w;
            }
            buf[at + i] = v;
        }
    }
    free(all);
    free(counts);
    return rc;
}

int mva_comm_sum(const mva_comm *comm, double *buf, size_t count, mva_error *err)
{
    return combine(comm, buf, count, 0, err);
}

int mva_comm_max(const mva_comm *comm, double *buf, size_t count, mva_error *err)
{
    return combine(comm, buf, count, 1, err);
}

int mva_comm_bcast(const mva_comm *comm, double *buf, size_t count, mva_error *err)
{
    if (comm == NULL || comm->size <= 1 || count == 0)
        return MVA_OK;
    size_t *counts = calloc((size_t)comm->size, sizeof *counts);
    if (counts == NULL)
        return fail_alloc(err);
    counts[0] = count; /* rank 0 alone contributes (in place), every process receives it */
    int rc = comm->allgather(comm->user, NULL, counts, buf, err);
    free(counts);
    return rc;
}

int mva_comm_gather_pixels(const mva_comm *comm, double *img, size_t nimg, size_t n,
                           size_t first, size_t count, mva_error *err)
{
    if (comm == NULL || comm->size <= 1 || nimg == 0)
        return MVA_OK;
    size_t size = (size_t)comm->size;
    size_t *counts = malloc(size * sizeof *counts);
    double *ranges = malloc(2 * size * sizeof *ranges);
    int rc = counts && ranges ? MVA_OK : fail_alloc(err);
    double mine[2] = {(double)first, (double)count};
    if (rc == MVA_OK)
        rc = gather_equal(comm, mine, 2, ranges, counts, err);
    /* The slabs must tile [0, n) in rank order: then each image is one in-place gather. */
    size_t expect = 0;
    for (size_t r = 0; rc == MVA_OK && r < size; r++) {
        if ((size_t)ranges[2 * r] != expect)
            rc = mva_error_set(err, MVA_EINVAL, "process %zu covers pixels from %zu, "
                               "expected %zu: the pixel ranges must tile the map in rank "
                               "order", r, (size_t)ranges[2 * r], expect);
        counts[r] = (size_t)ranges[2 * r + 1];
        expect += counts[r];
    }
    if (rc == MVA_OK && expect != n)
        rc = mva_error_set(err, MVA_EINVAL, "the processes cover %zu of %zu pixels", expect,
                           n);
    for (size_t q = 0; rc == MVA_OK && q < nimg; q++)
        rc = comm->allgather(comm->user, NULL, counts, img + q * n, err);
    free(counts);
    free(ranges);
    return rc;
}
