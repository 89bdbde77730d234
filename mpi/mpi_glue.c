/*
 * The MPI side of the parallel tools, and the only file that includes mpi.h.  It gives the
 * library its one collective (mva_comm.allgather, an MPI_Allgatherv: the library sums in rank
 * order itself, so results are bit-identical from run to run), splits the map into one
 * contiguous slab of pixels per rank (whole storage chunks, so that no chunk is read twice),
 * and makes every rank agree on failures.
 */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mva_mpi.h"

typedef struct {
    MPI_Comm comm;
    mva_comm c;
    tool_par par;
    int *cnt, *disp;   /* size entries, for MPI_Allgatherv */
    double received;   /* bytes this rank received in collectives */
    size_t calls;
    int trace;         /* MVA_MPI_STATS: 1 = totals, 2 = every collective */
} mpi_state;

static int mpi_fail(mva_error *err, int code, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, msg, &len);
    return mva_error_set(err, MVA_EIO, "MPI %s failed: %s", what, msg);
}

static int allgather(void *user, const double *in, const size_t *counts, double *out,
                     mva_error *err)
{
    mpi_state *st = user;
    size_t total = 0;
    for (int r = 0; r < st->c.size; r++) {
        if (counts[r] > (size_t)INT_MAX || total > (size_t)INT_MAX - counts[r])
            return mva_error_set(err, MVA_ERANGE, "MPI: %zu doubles in one collective "
                                 "exceed the int counts of MPI", total + counts[r]);
        st->cnt[r] = (int)counts[r];
        st->disp[r] = (int)total;
        total += counts[r];
    }
    const void *send = in ? (const void *)in : MPI_IN_PLACE;
    int rc = MPI_Allgatherv(send, st->cnt[st->c.rank], MPI_DOUBLE, out, st->cnt, st->disp,
                            MPI_DOUBLE, st->comm);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "Allgatherv");
    double got = 8.0 * (double)(total - counts[st->c.rank]);
    st->received += got;
    st->calls++;
    if (st->trace > 1 && st->c.rank == 0)
        fprintf(stderr, "mpi: collective %zu: %zu doubles in all, %.0f bytes received\n",
                st->calls, total, got);
    return MVA_OK;
}

/*
 * Rank r's slab: chunk units [r U / size, (r + 1) U / size) of the U = ceil(n / chunk)
 * storage chunks (pixels when the reader has no chunking), so the slabs tile the map in rank
 * order, as mva_comm_gather_pixels needs.
 */
static void slab(const mva_stack_info *info, int rank, int size, size_t *first,
                 size_t *count)
{
    size_t n = info->rows * info->cols;
    size_t unit = info->chunk_pixels > 0 && info->chunk_pixels < n ? info->chunk_pixels : 1;
    size_t units = (n + unit - 1) / unit;
    size_t u0 = units * (size_t)rank / (size_t)size;
    size_t u1 = units * (size_t)(rank + 1) / (size_t)size;
    size_t a = u0 * unit < n ? u0 * unit : n, b = u1 * unit < n ? u1 * unit : n;
    *first = a;
    *count = b - a;
}

/* Every rank must see the same map: the shapes are compared once. */
static int same_shape(mpi_state *st, const mva_stack_info *info)
{
    unsigned long mine[3] = {info->rows, info->cols, info->channels}, lo[3], hi[3];
    MPI_Allreduce(mine, lo, 3, MPI_UNSIGNED_LONG, MPI_MIN, st->comm);
    MPI_Allreduce(mine, hi, 3, MPI_UNSIGNED_LONG, MPI_MAX, st->comm);
    return memcmp(lo, hi, sizeof lo) == 0;
}

static int opened(tool_par *par, const char *prog, int rc, const char *msg, mva_stack *s,
                  mva_pass_opts *pass)
{
    mpi_state *st = par->user;
    int ok = rc == MVA_OK, all_ok = 0;
    if (!ok)
        fprintf(stderr, "%s: rank %d of %d: %s\n", prog, par->rank, par->size, msg);
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, st->comm);
    if (!all_ok) {
        if (ok && par->rank == 0)
            fprintf(stderr, "%s: stopped: another rank could not open its input\n", prog);
        return MVA_EIO;
    }
    const mva_stack_info *info = mva_stack_get_info(s);
    if (!same_shape(st, info)) {
        if (par->rank == 0)
            fprintf(stderr, "%s: the ranks opened maps of different shapes (this rank: %zu x "
                    "%zu x %zu); give every rank the same INPUT\n", prog, info->rows,
                    info->cols, info->channels);
        return MVA_EINVAL;
    }
    pass->has_range = 1;
    slab(info, par->rank, par->size, &pass->range_first, &pass->range_count);
    pass->comm = &st->c;
    return MVA_OK;
}

static void abort_all(tool_par *par, const char *prog, const char *msg)
{
    mpi_state *st = par->user;
    fprintf(stderr, "%s: rank %d of %d: %s\n", prog, par->rank, par->size, msg);
    fflush(stderr);
    MPI_Abort(st->comm, 1);
    exit(1); /* not reached */
}

static int agree(tool_par *par, int rc)
{
    mpi_state *st = par->user;
    int mine = rc != 0, any = 0;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, st->comm);
    return any;
}

tool_par *mva_mpi_start(int *argc, char ***argv, const char *prog)
{
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "%s: MPI_Init failed\n", prog);
        return NULL;
    }
    mpi_state *st = calloc(1, sizeof *st);
    int size = 1, rank = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (st)
        st->cnt = malloc((size_t)size * sizeof(int));
    if (st && st->cnt)
        st->disp = malloc((size_t)size * sizeof(int));
    if (!st || !st->disp) {
        fprintf(stderr, "%s: out of memory\n", prog);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    st->comm = MPI_COMM_WORLD;
    MPI_Comm_set_errhandler(st->comm, MPI_ERRORS_RETURN);
    const char *trace = getenv("MVA_MPI_STATS");
    st->trace = trace && *trace ? atoi(trace) : 0;
    st->c = (mva_comm){rank, size, allgather, st};
    st->par = (tool_par){rank, size, opened, abort_all, agree, st};
    return &st->par;
}

int mva_mpi_end(tool_par *par, int rc)
{
    mpi_state *st = par->user;
    if (st->trace && par->rank == 0)
        fprintf(stderr, "mpi: %d ranks, %zu collectives, %.0f bytes received by rank 0\n",
                par->size, st->calls, st->received);
    MPI_Finalize();
    free(st->cnt);
    free(st->disp);
    free(st);
    return rc;
}
