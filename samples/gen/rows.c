/*
 * mva-gen's rows: worker threads generate map rows, each from its own generator seeded by
 * (seed, row), and convert them to the stored type; the main thread writes them in order,
 * one hyperslab each, so memory is O(threads x cols x channels) whatever the map size and
 * the file does not depend on the number of threads.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

/* ------------------------------------------------------------------------------------------ */
/* Generation                                                                                 */

static void slot_free(slot *k)
{
    free(k->F);
    free(k->X);
    free(k->out);
    free(k->maps);
    free(k->trace);
    free(k->mask);
}

static int slot_alloc(slot *k, const options *o)
{
    size_t C = o->cols, P = o->channels;
    memset(k, 0, sizeof *k);
    if (P > SIZE_MAX / 16 / C)
        return gen_fail("--cols %zu x --channels %zu: one map row does not fit in memory", C, P);
    k->F = malloc(C * NCOMP * sizeof *k->F);
    k->X = malloc(C * P * sizeof *k->X);
    k->out = malloc(C * P * gen_dtypes[o->dtype].size);
    k->maps = malloc(C * NPHASE * sizeof *k->maps);
    k->trace = malloc(C * sizeof *k->trace);
    k->mask = malloc(C);
    if (!k->F || !k->X || !k->out || !k->maps || !k->trace || !k->mask)
        return gen_fail("out of memory for row buffers (%.1f MB per row)",
                        (double)C * (double)P * (double)(8 + gen_dtypes[o->dtype].size) / 1e6);
    return 0;
}

/* Converts the cols x p row x into dst of type T, transposed to p x cols for channel-first;
 * returns the number of values clipped at the type's maximum. */
#define DEFINE_STORE(fn, T)                                                                        \
    static size_t fn(const double *x, void *dst, size_t cols, size_t p, int transpose,             \
                     double maxv)                                                                  \
    {                                                                                              \
        T *out = dst;                                                                              \
        size_t clipped = 0, sc = transpose ? 1 : p, sk = transpose ? cols : 1;                     \
        for (size_t c = 0; c < cols; c++)                                                          \
            for (size_t k = 0; k < p; k++) {                                                       \
                double v = x[c * p + k];                                                           \
                if (v > maxv) {                                                                    \
                    v = maxv;                                                                      \
                    clipped++;                                                                     \
                }                                                                                  \
                out[c * sc + k * sk] = (T)v;                                                       \
            }                                                                                      \
        return clipped;                                                                            \
    }

DEFINE_STORE(store_u8, uint8_t)
DEFINE_STORE(store_u16, uint16_t)
DEFINE_STORE(store_u32, uint32_t)
DEFINE_STORE(store_i32, int32_t)
DEFINE_STORE(store_i64, int64_t)
DEFINE_STORE(store_f32, float)
DEFINE_STORE(store_f64, double)

typedef size_t (*store_fn)(const double *, void *, size_t, size_t, int, double);
static const store_fn stores[DT_COUNT] = {store_u8,  store_u16, store_u32, store_i32,
                                          store_i64, store_f32, store_f64};
/* Generates map row r into k.  Depends only on (seed, r): any thread, same bytes. */
static void gen_row(slot *k, gsl_rng *rng, const options *o, const model *m, size_t r)
{
    size_t C = o->cols, P = m->p;
    gen_row_mix(o, r, k->F, k->mask);
    gen_mix_row(k->X, k->F, m->S, C, P);
    memset(k->Fsum, 0, sizeof k->Fsum);
    for (size_t c = 0; c < C; c++) {
        for (int j = 0; j < NCOMP; j++)
            k->Fsum[j] += k->F[c * NCOMP + j];
        for (int j = 0; j < NPHASE; j++)
            k->maps[(size_t)j * C + c] = k->F[c * NCOMP + j];
        k->trace[c] = k->F[c * NCOMP + NPHASE];
    }
    gen_noise_row(o, r, rng, k->X, C * P);
    k->clipped = stores[o->dtype](k->X, k->out, C, P, o->channel_first, gen_dtypes[o->dtype].max);
    k->row = r;
}

/*
 * The pipeline: worker threads take rows in order and generate each into slot row % nslots
 * once the row nslots before it has been written; the main thread alone calls HDF5 (the
 * serial library is not thread-safe), writing rows in order and summing their truth in
 * order, so the file does not depend on the number of threads.
 */
typedef struct pipeline {
    const options *o;
    const model *m;
    slot *slots;
    size_t nslots;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next_row; /* next row for a worker to take */
    size_t written;  /* rows written by the main thread */
    int stop;
} pipeline;

static void *worker(void *arg)
{
    pipeline *pl = arg;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937); /* NULL: stop, reported by main */
    pthread_mutex_lock(&pl->mu);
    while (rng != NULL && !pl->stop && pl->next_row < pl->o->rows) {
        size_t r = pl->next_row;
        if (r >= pl->written + pl->nslots) { /* its slot still holds an unwritten row */
            pthread_cond_wait(&pl->cv, &pl->mu);
            continue;
        }
        pl->next_row++;
        slot *k = &pl->slots[r % pl->nslots];
        pthread_mutex_unlock(&pl->mu);
        gen_row(k, rng, pl->o, pl->m, r);
        pthread_mutex_lock(&pl->mu);
        k->ready = 1;
        pthread_cond_broadcast(&pl->cv);
    }
    if (rng == NULL)
        pl->stop = 2; /* out of memory; the main thread reports it */
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
    gsl_rng_free(rng);
    return NULL;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

void gen_catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Waits for row r, writes it, frees its slot.  Returns 0, or -1 with the message set. */
static int write_next(pipeline *pl, writer *w, const shape *s, size_t r, double Fsum[NCOMP],
                      size_t *clipped)
{
    slot *k = &pl->slots[r % pl->nslots];
    pthread_mutex_lock(&pl->mu);
    while (!k->ready && pl->stop == 0)
        pthread_cond_wait(&pl->cv, &pl->mu);
    int stopped = !k->ready;
    pthread_mutex_unlock(&pl->mu);
    if (stopped)
        return gen_fail("out of memory for a random number generator");
    if (interrupted)
        return gen_fail("interrupted by signal %d", (int)interrupted);
    if (gen_put_row(w, k, pl->o, s) < 0)
        return -1;
    for (int j = 0; j < NCOMP; j++)
        Fsum[j] += k->Fsum[j];
    *clipped += k->clipped;
    pthread_mutex_lock(&pl->mu);
    k->ready = 0;
    pl->written = r + 1;
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
    return 0;
}

int gen_generate(writer *w, const options *o, const model *m, const shape *s)
{
    size_t nthreads = (size_t)o->threads, started = 0, clipped = 0;
    /* One slot per worker, one being written, one spare.  By default, fewer workers when
     * rows are so wide that the slots would pass 1 GB. */
    double slot_bytes =
        (double)o->cols * (double)o->channels * (double)(8 + gen_dtypes[o->dtype].size);
    while (!o->threads_given && nthreads > 1 && (double)(nthreads + 2) * slot_bytes > 1e9)
        nthreads--;
    pipeline pl = {.o = o, .m = m, .nslots = nthreads + 2};
    double Fsum[NCOMP] = {0};
    int rc = 0, err = 0;
    if ((pl.slots = calloc(pl.nslots, sizeof *pl.slots)) == NULL)
        return gen_fail("out of memory");
    for (size_t i = 0; rc == 0 && i < pl.nslots; i++)
        rc = slot_alloc(&pl.slots[i], o);
    pthread_t *tids = calloc(nthreads, sizeof *tids);
    if (rc == 0 && tids == NULL)
        rc = gen_fail("out of memory");
    if (rc == 0) {
        pthread_mutex_init(&pl.mu, NULL);
        pthread_cond_init(&pl.cv, NULL);
        for (; started < nthreads; started++)
            if ((err = pthread_create(&tids[started], NULL, worker, &pl)) != 0)
                break;
        if (started == 0)
            rc = gen_fail("cannot start a thread: %s", strerror(err));
        for (size_t r = 0; rc == 0 && r < o->rows; r++)
            rc = write_next(&pl, w, s, r, Fsum, &clipped);
        pthread_mutex_lock(&pl.mu);
        pl.stop = pl.stop ? pl.stop : 1;
        pthread_cond_broadcast(&pl.cv);
        pthread_mutex_unlock(&pl.mu);
        for (size_t i = 0; i < started; i++)
            pthread_join(tids[i], NULL);
        pthread_cond_destroy(&pl.cv);
        pthread_mutex_destroy(&pl.mu);
    }
    if (rc == 0)
        rc = gen_write_mean(w, o, m, Fsum);
    if (rc == 0 && clipped > 0)
        fprintf(stderr,
                PROG ": warning: %zu values exceeded %s and were clipped to %.0f; "
                     "lower --counts or use a wider --dtype\n",
                clipped, gen_dtypes[o->dtype].name, gen_dtypes[o->dtype].max);
    for (size_t i = 0; i < pl.nslots; i++)
        slot_free(&pl.slots[i]);
    free(pl.slots);
    free(tids);
    return rc;
}
