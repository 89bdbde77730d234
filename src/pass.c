/*
 * The pass engine.  One pass reads the stack block by block (blocks of whole pixels) and
 * hands every block to each accumulator.  With read-ahead, a second thread reads block i+1
 * into the other of two buffers while the calling thread consumes block i, so reading and
 * decompression overlap the BLAS work.  Memory: two blocks of npix x p doubles.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mva/pass.h"

/* Larger blocks than this buy nothing: BLAS is at full speed on a few hundred rows and one
 * HDF5 call per block is already negligible, while memory would grow. */
#define TARGET_SLOT_BYTES ((size_t)8 << 20)

size_t mva_pass_block_pixels(const mva_stack *s, const mva_pass_opts *opts)
{
    const mva_stack_info *info = mva_stack_get_info(s);
    size_t n = info->rows * info->cols, p = info->channels ? info->channels : 1;
    size_t budget = (opts && opts->mem_budget) ? opts->mem_budget : MVA_PASS_DEFAULT_BUDGET;
    size_t want;
    if (opts && opts->block_pixels) {
        want = opts->block_pixels;
    } else {
        /* The budget holds the two double buffers and the reader's copy in the stored type. */
        size_t per_pixel = p * (2 * sizeof(double) + mva_dtype_size(info->dtype));
        want = budget / per_pixel;
        size_t cp = info->chunk_pixels;
        size_t enough = TARGET_SLOT_BYTES / (p * sizeof(double));
        if (enough < cp)
            enough = cp;
        if (want > enough)
            want = enough;
        /* Whole chunks, so that no chunk is split between two blocks unless one chunk
         * alone exceeds the budget. */
        if (cp > 1 && want >= cp)
            want -= want % cp;
    }
    if (want == 0)
        want = 1;
    return want < n ? want : n;
}

/* One of the two buffers shared between the reader thread and the consumer. */
typedef struct {
    double *x;
    unsigned char *valid;
    double *noise;   /* the block's variance factors, or NULL (raw counts) */
    int has_noise;
    size_t first, npix, nvalid;
    int full;   /* 1 once read (or failed), 0 once consumed */
    int status; /* reader status for this block */
    mva_error err;
} slot;

typedef struct {
    mva_stack *s;
    size_t first, n, p, bpix, nblocks; /* the pass covers pixels [first, first + n) */
    slot slots[2];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;    /* set by the consumer to end the reader early */
    int integer; /* the stored type is an integer: no NaN/Inf to look for */
} pass_state;

/* Reads block b into sl and flags the pixels that hold a non-finite value. */
static void fill_slot(pass_state *st, size_t b, slot *sl)
{
    size_t off = b * st->bpix;
    sl->first = st->first + off;
    sl->npix = st->n - off < st->bpix ? st->n - off : st->bpix;
    mva_error_clear(&sl->err);
    sl->status = mva_stack_read(st->s, sl->first, sl->npix, sl->x, &sl->err);
    if (sl->status != MVA_OK)
        return;
    /* right after the read, in the reading thread: the reader knows them now */
    int got = mva_stack_noise(st->s, sl->first, sl->npix, sl->noise, &sl->err);
    if (got < 0) {
        sl->status = got;
        return;
    }
    sl->has_noise = got;
    if (st->integer) { /* converted integers are always finite */
        memset(sl->valid, 1, sl->npix);
        sl->nvalid = sl->npix;
        return;
    }
    size_t nvalid = 0;
    for (size_t i = 0; i < sl->npix; i++) {
        const double *row = sl->x + i * st->p;
        /* Sum first: a NaN or Inf anywhere makes the sum non-finite (cheaper than testing
         * every value); only then is the pixel really excluded. */
        double acc = 0.0;
        for (size_t j = 0; j < st->p; j++)
            acc += row[j] * 0.0;
        int ok = isfinite(acc);
        sl->valid[i] = (unsigned char)ok;
        nvalid += (size_t)ok;
    }
    sl->nvalid = nvalid;
}

static void *reader_main(void *arg)
{
    pass_state *st = arg;
    for (size_t b = 0; b < st->nblocks; b++) {
        slot *sl = &st->slots[b % 2];
        pthread_mutex_lock(&st->mu);
        while (sl->full && !st->stop)
            pthread_cond_wait(&st->cv, &st->mu);
        int stop = st->stop;
        pthread_mutex_unlock(&st->mu);
        if (stop)
            break;
        fill_slot(st, b, sl);
        pthread_mutex_lock(&st->mu);
        sl->full = 1;
        pthread_cond_broadcast(&st->cv);
        pthread_mutex_unlock(&st->mu);
        if (sl->status != MVA_OK)
            break;
    }
    return NULL;
}

/* Feeds one block to every accumulator; returns the first failure. */
static int consume_slot(pass_state *st, const slot *sl, const mva_accum *accs, size_t nacc,
                        mva_error *err)
{
    mva_block blk = {sl->x,        sl->valid, sl->first,
                     sl->npix,     sl->nvalid, st->p,
                     sl->has_noise ? sl->noise : NULL};
    for (size_t a = 0; a < nacc; a++) {
        int rc = accs[a].consume(accs[a].self, &blk, err);
        if (rc != MVA_OK)
            return rc;
    }
    return MVA_OK;
}

static int report_progress(const mva_pass_opts *opts, double f, mva_error *err)
{
    if (opts && opts->progress && opts->progress(opts->progress_user, f) != 0)
        return mva_error_set(err, MVA_ECANCELED, "canceled at %.0f%% of a pass", 100.0 * f);
    return MVA_OK;
}

/* Consumer side of the pass: waits for each block in turn and consumes it. */
static int run_blocks(pass_state *st, int threaded, const mva_accum *accs, size_t nacc,
                      const mva_pass_opts *opts, mva_error *err)
{
    int rc = MVA_OK;
    for (size_t b = 0; b < st->nblocks && rc == MVA_OK; b++) {
        slot *sl = &st->slots[b % 2];
        if (threaded) {
            pthread_mutex_lock(&st->mu);
            while (!sl->full)
                pthread_cond_wait(&st->cv, &st->mu);
            pthread_mutex_unlock(&st->mu);
        } else {
            fill_slot(st, b, sl);
        }
        if (sl->status != MVA_OK) {
            if (err)
                *err = sl->err;
            rc = sl->status;
            break;
        }
        rc = consume_slot(st, sl, accs, nacc, err);
        if (rc == MVA_OK)
            rc = report_progress(opts, (double)(b + 1) / (double)st->nblocks, err);
        if (threaded) {
            pthread_mutex_lock(&st->mu);
            sl->full = 0;
            if (rc != MVA_OK)
                st->stop = 1;
            pthread_cond_broadcast(&st->cv);
            pthread_mutex_unlock(&st->mu);
        }
    }
    return rc;
}

static int alloc_slots(pass_state *st, mva_error *err)
{
    size_t nvals;
    if (mva_size_mul(st->bpix, st->p, &nvals) != MVA_OK ||
        nvals > SIZE_MAX / sizeof(double))
        return mva_error_set(err, MVA_ERANGE, "block of %zu pixels x %zu channels overflows",
                             st->bpix, st->p);
    for (int i = 0; i < 2; i++) {
        st->slots[i].x = malloc(nvals * sizeof(double));
        st->slots[i].valid = malloc(st->bpix);
        st->slots[i].noise = malloc(st->bpix * sizeof(double));
        if (st->slots[i].x == NULL || st->slots[i].valid == NULL || st->slots[i].noise == NULL)
            return mva_error_set(err, MVA_ENOMEM,
                                 "out of memory for a block of %zu pixels x %zu channels",
                                 st->bpix, st->p);
    }
    return MVA_OK;
}

static int begin_all(const mva_stack_info *info, const mva_accum *accs, size_t nacc,
                     mva_error *err)
{
    for (size_t a = 0; a < nacc; a++) {
        if (accs[a].begin) {
            int rc = accs[a].begin(accs[a].self, info, err);
            if (rc != MVA_OK)
                return rc;
        }
    }
    return MVA_OK;
}

static int finish_all(const mva_accum *accs, size_t nacc, mva_error *err)
{
    for (size_t a = 0; a < nacc; a++) {
        if (accs[a].finish) {
            int rc = accs[a].finish(accs[a].self, err);
            if (rc != MVA_OK)
                return rc;
        }
    }
    return MVA_OK;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void mva_pass_range(const mva_stack *s, const mva_pass_opts *opts, size_t *first,
                    size_t *count)
{
    const mva_stack_info *info = mva_stack_get_info(s);
    size_t n = info->rows * info->cols;
    *first = 0;
    *count = n;
    if (opts && opts->has_range) {
        *first = opts->range_first < n ? opts->range_first : n;
        *count = opts->range_count < n - *first ? opts->range_count : n - *first;
    }
}

int mva_pass_run(mva_stack *s, const mva_accum *accs, size_t nacc, const mva_pass_opts *opts,
                 mva_error *err)
{
    double t0 = now_seconds();
    const mva_stack_info *info = mva_stack_get_info(s);
    pass_state st;
    memset(&st, 0, sizeof st);
    st.s = s;
    mva_pass_range(s, opts, &st.first, &st.n);
    st.p = info->channels;
    st.bpix = mva_pass_block_pixels(s, opts);
    st.nblocks = (st.n + st.bpix - 1) / st.bpix;
    st.integer = info->dtype >= MVA_DTYPE_INT8 && info->dtype <= MVA_DTYPE_UINT64;

    int rc = begin_all(info, accs, nacc, err);
    if (rc == MVA_OK)
        rc = alloc_slots(&st, err);
    if (rc != MVA_OK)
        goto done;

    /* Read-ahead only pays when there is more than one block. */
    int threaded = !(opts && opts->no_readahead) && st.nblocks > 1;
    pthread_t th;
    if (threaded) {
        pthread_mutex_init(&st.mu, NULL);
        pthread_cond_init(&st.cv, NULL);
        if (pthread_create(&th, NULL, reader_main, &st) != 0) {
            pthread_mutex_destroy(&st.mu);
            pthread_cond_destroy(&st.cv);
            threaded = 0;
        }
    }
    rc = run_blocks(&st, threaded, accs, nacc, opts, err);
    if (threaded) {
        pthread_join(th, NULL);
        pthread_mutex_destroy(&st.mu);
        pthread_cond_destroy(&st.cv);
    }
    if (rc == MVA_OK)
        rc = finish_all(accs, nacc, err);
    if (rc == MVA_OK && opts && opts->pass_done)
        opts->pass_done(opts->progress_user, now_seconds() - t0,
                        (double)st.n * (double)st.p * sizeof(double));
done:
    for (int i = 0; i < 2; i++) {
        free(st.slots[i].x);
        free(st.slots[i].valid);
        free(st.slots[i].noise);
    }
    return rc;
}
