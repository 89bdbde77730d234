/*
 * mva/pass.h - the pass engine: one walk over a stack, in blocks of whole pixels.
 *
 * Accumulators register for a pass; the engine reads each block (a read-ahead thread reads
 * block i+1 while block i is being consumed), marks pixels holding NaN/Inf as invalid, and
 * hands the block to every accumulator in turn.  Memory is bounded by the block size.
 */
#ifndef MVA_PASS_H
#define MVA_PASS_H

#include <stddef.h>

#include "mva/error.h"
#include "mva/stack.h"

/* One block of pixels as seen by an accumulator. */
typedef struct mva_block {
    const double *x;            /* npix x p, row-major, channel index fastest */
    const unsigned char *valid; /* npix flags: 1 = all values finite, 0 = excluded */
    size_t first;               /* index of the first pixel in the stack */
    size_t npix;                /* pixels in this block */
    size_t nvalid;              /* how many of them are valid */
    size_t p;                   /* channels */
    const double *noise;        /* npix Poisson variance factors of a normalised map
                                   (mva_stack_noise); NULL = raw counts (factor 1) */
} mva_block;

/* An accumulator: consume() is called once per block in pixel order; begin() and finish()
 * (both optional, may be NULL) before the first and after the last block. */
typedef struct mva_accum {
    void *self;
    int (*begin)(void *self, const mva_stack_info *info, mva_error *err);
    int (*consume)(void *self, const mva_block *b, mva_error *err);
    int (*finish)(void *self, mva_error *err);
} mva_accum;

/* Progress callback: fraction of the pass done in [0, 1]; return non-zero to cancel. */
typedef int (*mva_progress_fn)(void *user, double fraction);

/* Called after each complete pass with its wall time and the bytes of doubles delivered
 * (pixels x channels x 8), for benchmarks and verbose output. */
typedef void (*mva_pass_done_fn)(void *user, double seconds, double bytes);

/*
 * Several processes sharing one analysis (the MPI tools; the library itself knows no MPI).
 * Each process passes over its own pixel range (mva_pass_opts.has_range) and the algorithms
 * combine their partial results through one collective, an all-gather: every process calls
 * allgather with the same counts[] (size entries), contributing counts[rank] doubles from in,
 * and receives the concatenation of every process's contribution, in rank order, in out
 * (sum of counts doubles).  in == NULL means "in place": this process's part already sits in
 * out at its offset.  Sums are then formed in rank order on every process, so the result is
 * the same on every process and bit-identical from run to run with the same process count.
 * Returns MVA_OK or an error (with its message in err).
 */
typedef struct mva_comm {
    int rank, size;
    int (*allgather)(void *user, const double *in, const size_t *counts, double *out,
                     mva_error *err);
    void *user;
} mva_comm;

/* Pass options; zero-initialise for the defaults. */
typedef struct mva_pass_opts {
    size_t mem_budget;      /* upper bound in bytes for the two block buffers and the
                               reader's copy; default MVA_PASS_DEFAULT_BUDGET.  Blocks stay
                               near 8 MiB even when the budget allows more: larger ones are
                               no faster */
    size_t block_pixels;    /* force this many pixels per block (tests); 0 = from budget */
    int no_readahead;       /* 1 = read in the calling thread */
    mva_progress_fn progress;
    void *progress_user;
    mva_pass_done_fn pass_done; /* optional, gets progress_user */
    /* Only pixels [range_first, range_first + range_count) when has_range (a process's slab
     * of the map; range_count may be 0); the whole stack otherwise. */
    int has_range;
    size_t range_first, range_count;
    /* With comm, the algorithms (PCA, ROI) combine their accumulators across its processes
     * after each pass; NULL = one process. */
    const mva_comm *comm;
} mva_pass_opts;

#define MVA_PASS_DEFAULT_BUDGET ((size_t)64 << 20)

/* Pixels per block for this stack under these options (aligned to the reader's chunks). */
size_t mva_pass_block_pixels(const mva_stack *s, const mva_pass_opts *opts);

/*
 * Walks the stack once, feeding every block to each of the nacc accumulators.  opts may be
 * NULL.  Returns the first error of the reader or of an accumulator, or MVA_ECANCELED when
 * the progress callback asks to stop.
 */
int mva_pass_run(mva_stack *s, const mva_accum *accs, size_t nacc, const mva_pass_opts *opts,
                 mva_error *err);

/* Sums buf[0..count) over the processes of comm, in rank order, into buf on every process
 * (in pieces, so the extra memory stays at a few MB per process).  comm NULL: nothing. */
int mva_comm_sum(const mva_comm *comm, double *buf, size_t count, mva_error *err);

/* Element-wise maximum of buf[0..count) over the processes of comm, into buf. */
int mva_comm_max(const mva_comm *comm, double *buf, size_t count, mva_error *err);

/* Rank 0's buf[0..count) into buf on every process. */
int mva_comm_bcast(const mva_comm *comm, double *buf, size_t count, mva_error *err);

/*
 * Gathers by position: img holds nimg images of n pixels each, of which this process filled
 * pixels [first, first + count) (its pass range); on return every process holds every
 * process's pixels.  The ranges must be contiguous, in rank order and cover [0, n)
 * (MVA_EINVAL otherwise).
 */
int mva_comm_gather_pixels(const mva_comm *comm, double *img, size_t nimg, size_t n,
                           size_t first, size_t count, mva_error *err);

/* The pixel range of this process's pass under opts: [*first, *first + *count). */
void mva_pass_range(const mva_stack *s, const mva_pass_opts *opts, size_t *first,
                    size_t *count);

#endif
