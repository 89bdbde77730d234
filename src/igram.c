/*
 * The Gram of integer rows (detector counts), exact and at single-precision speed.
 *
 * Rows are shifted by an integer vector mu0 (the rounded median of a sample of them), and
 * d = x - mu0 is multiplied out in single precision.  The products and every partial sum the
 * kernels form are integers bounded by fbound = sum over the rows of max_j d_j^2
 * (|d_j d_k| <= max(d_j^2, d_k^2)); while fbound <= 2^24 every one of them is a float, so the
 * float Gram is exact, whatever the order of the sums.  Before a row would break the bound,
 * the float Gram is added to the caller's double one (exact up to 2^53) and restarted.  In raw
 * mode it is added as sum x x^T = F + s mu0^T + mu0 s^T + m mu0 mu0^T (s, m: sum of d and rows
 * since the last flush), also exact.  A row with a fraction or |d| > 4096 is refused, for the
 * caller's own double-precision path.
 *
 * Two things make it cheaper than one ssyrk of all the variables:
 * - Variables whose d has been 0 in every row so far (dead channels: above the beam energy,
 *   below the detector threshold) are left out of the products: rows are packed to the live
 *   ones, and a variable that turns live later joins at the end, its Gram entries so far 0.
 * - The products are split into tiles of the upper triangle (ssyrk on the diagonal, sgemm
 *   off it) that the calling thread and a few helper threads take in turn, one batch of rows
 *   while the calling thread packs the next.  OpenBLAS's own threads would wait for each other
 *   on every call while the pass's reader thread takes a core now and then (measured: ~20% of
 *   the CPU spent yielding); tiles taken in turn keep both cores on products.
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "mva/error.h"
#include "igram.h"

/* Largest integer up to which every integer is a float. */
#define FLT_EXACT 16777216.0

/* Helper threads and tiles: enough tiles that threads finishing early find work. */
#define POOL_MAX_THREADS 16
#define PANELS_MAX 12
#define PANEL_MIN_COLS 128
#define TILES_MAX (PANELS_MAX * (PANELS_MAX + 1) / 2)

typedef struct {
    size_t i0, ni, j0, nj; /* rows [i0, i0 + ni) and columns [j0, j0 + nj) of f */
} tile;

/* One batch of products: f (+)= a^T a over rows x cols, tile by tile. */
typedef struct {
    const float *a;
    float *f;
    size_t rows, ld;
    float beta;
    tile tiles[TILES_MAX];
    size_t ntiles, next, finished;
} batch;

struct igram_pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t th[POOL_MAX_THREADS];
    int nth;            /* helper threads */
    int quit;
    int blas_threads;   /* OpenBLAS's threads before, given back at the end */
    batch job;          /* ntiles 0: none in flight */
};

static void run_tile(const batch *b, const tile *t)
{
    const float *ai = b->a + t->i0, *aj = b->a + t->j0;
    float *c = b->f + t->i0 * b->ld + t->j0;
    if (t->i0 == t->j0)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)t->ni, (int)b->rows, 1.0f, ai,
                    (int)b->ld, b->beta, c, (int)b->ld);
    else
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)t->ni, (int)t->nj,
                    (int)b->rows, 1.0f, ai, (int)b->ld, aj, (int)b->ld, b->beta, c,
                    (int)b->ld);
}

/* Takes tiles of the batch in flight until none is left; called with mu held. */
static void take_tiles(igram_pool *pl)
{
    batch *b = &pl->job;
    while (b->next < b->ntiles) {
        const tile t = b->tiles[b->next++];
        pthread_mutex_unlock(&pl->mu);
        run_tile(b, &t);
        pthread_mutex_lock(&pl->mu);
        if (++b->finished == b->ntiles)
            pthread_cond_broadcast(&pl->done);
    }
}

static void *helper_main(void *arg)
{
    igram_pool *pl = arg;
    pthread_mutex_lock(&pl->mu);
    while (!pl->quit) {
        take_tiles(pl);
        if (!pl->quit)
            pthread_cond_wait(&pl->work, &pl->mu);
    }
    pthread_mutex_unlock(&pl->mu);
    return NULL;
}

/* Helpers for the OpenBLAS threads there are (one of them the caller), or NULL: none wanted
 * or none started. */
static igram_pool *pool_start(void)
{
    int threads = openblas_get_num_threads();
    if (threads < 2)
        return NULL;
    igram_pool *pl = calloc(1, sizeof *pl);
    if (pl == NULL)
        return NULL;
    pthread_mutex_init(&pl->mu, NULL);
    pthread_cond_init(&pl->work, NULL);
    pthread_cond_init(&pl->done, NULL);
    int want = threads - 1 < POOL_MAX_THREADS ? threads - 1 : POOL_MAX_THREADS;
    while (pl->nth < want && pthread_create(&pl->th[pl->nth], NULL, helper_main, pl) == 0)
        pl->nth++;
    if (pl->nth == 0) {
        pthread_mutex_destroy(&pl->mu);
        pthread_cond_destroy(&pl->work);
        pthread_cond_destroy(&pl->done);
        free(pl);
        return NULL;
    }
    pl->blas_threads = threads;
    openblas_set_num_threads(1);
    return pl;
}

static void pool_stop(igram_pool *pl)
{
    pthread_mutex_lock(&pl->mu);
    pl->quit = 1;
    pthread_cond_broadcast(&pl->work);
    pthread_mutex_unlock(&pl->mu);
    for (int i = 0; i < pl->nth; i++)
        pthread_join(pl->th[i], NULL);
    pthread_mutex_destroy(&pl->mu);
    pthread_cond_destroy(&pl->work);
    pthread_cond_destroy(&pl->done);
    openblas_set_num_threads(pl->blas_threads);
    free(pl);
}

/* Waits for the batch in flight, taking its tiles that are left. */
static void wait_batch(mva_igram *a)
{
    igram_pool *pl = a->pool;
    if (pl == NULL)
        return;
    pthread_mutex_lock(&pl->mu);
    take_tiles(pl);
    while (pl->job.finished < pl->job.ntiles)
        pthread_cond_wait(&pl->done, &pl->mu);
    pl->job.ntiles = pl->job.next = pl->job.finished = 0;
    pthread_mutex_unlock(&pl->mu);
}

/* The upper triangle of nl columns in np x np panels, at least 3 tiles a thread (each split
 * costs OpenBLAS some speed: 3 panels 4%, 4 panels 9% on one core); tiles off the diagonal
 * first (they cost twice a diagonal one), so that the last ones taken are the small ones. */
static size_t plan_tiles(tile *t, size_t nl, int threads)
{
    size_t np = 1;
    while (np < PANELS_MAX && np * (np + 1) / 2 < 3 * (size_t)threads &&
           nl / (np + 1) >= PANEL_MIN_COLS)
        np++;
    size_t w = (nl + np - 1) / np, nt = 0;
    w = (w + 15) & ~(size_t)15; /* whole cache lines */
    for (int diag = 0; diag < 2; diag++)
        for (size_t i = 0; i * w < nl; i++)
            for (size_t j = i; j * w < nl; j++) {
                if ((i == j) != diag)
                    continue;
                size_t i0 = i * w, j0 = j * w;
                t[nt++] = (tile){i0, nl - i0 < w ? nl - i0 : w, j0, nl - j0 < w ? nl - j0 : w};
            }
    return nt;
}

/* Zeroes the columns of f's upper triangle that turned live since its last batch. */
static void zero_new_columns(mva_igram *a)
{
    for (size_t i = 0; i < a->nl; i++)
        for (size_t j = (i > a->f_cols ? i : a->f_cols); j < a->nl; j++)
            a->f[i * a->p + j] = 0.0f;
    a->f_cols = a->nl;
}

/* Multiplies out the rows of fw[cur]: hands them to the helpers and returns, or does it all
 * here without them.  The next batch fills the other buffer. */
static void send_batch(mva_igram *a)
{
    if (a->nf == 0)
        return;
    if (!a->pool_tried) {
        a->pool_tried = 1;
        if (a->p >= 2 * PANEL_MIN_COLS)
            a->pool = pool_start();
    }
    wait_batch(a);
    int fresh = a->f_cols == 0;
    if (!fresh && a->f_cols < a->nl)
        zero_new_columns(a);
    a->f_cols = a->nl;
    batch b = {a->fw[a->cur], a->f, a->nf, a->p, fresh ? 0.0f : 1.0f, {{0}}, 0, 0, 0};
    if (a->pool == NULL) {
        b.tiles[0] = (tile){0, a->nl, 0, a->nl};
        run_tile(&b, &b.tiles[0]);
    } else {
        igram_pool *pl = a->pool;
        size_t nt = plan_tiles(b.tiles, a->nl, pl->nth + 1);
        pthread_mutex_lock(&pl->mu);
        pl->job = b;
        pl->job.ntiles = nt;
        pthread_cond_broadcast(&pl->work);
        pthread_mutex_unlock(&pl->mu);
        a->cur ^= 1;
    }
    a->nf = 0;
}

int mva_igram_init(mva_igram *a, size_t p, double *g, int raw)
{
    memset(a, 0, sizeof *a);
    a->p = p;
    a->g = g;
    a->raw = raw;
    a->mu0 = calloc(p, sizeof *a->mu0);
    a->dsum = calloc(p, sizeof *a->dsum);
    a->fsum = calloc(p, sizeof *a->fsum);
    a->live = malloc(p * sizeof *a->live);
    a->dead = malloc(p * sizeof *a->dead);
    a->f = malloc(p * p * sizeof *a->f);
    a->row = malloc(p * sizeof *a->row);
    a->fw[0] = malloc((size_t)MVA_IGRAM_ROWS * p * sizeof *a->fw[0]);
    a->fw[1] = malloc((size_t)MVA_IGRAM_ROWS * p * sizeof *a->fw[1]);
    if (!a->mu0 || !a->dsum || !a->fsum || !a->live || !a->dead || !a->f || !a->row ||
        !a->fw[0] || !a->fw[1]) {
        mva_igram_free(a);
        return MVA_ENOMEM;
    }
    for (size_t j = 0; j < p; j++)
        a->dead[j] = j;
    return MVA_OK;
}

void mva_igram_free(mva_igram *a)
{
    if (a->pool != NULL) {
        wait_batch(a);
        pool_stop(a->pool);
    }
    free(a->mu0);
    free(a->dsum);
    free(a->fsum);
    free(a->live);
    free(a->dead);
    free(a->f);
    free(a->row);
    free(a->fw[0]);
    free(a->fw[1]);
    memset(a, 0, sizeof *a);
}

static int cmp_double(const void *x, const void *y)
{
    double u = *(const double *)x, v = *(const double *)y;
    return (u > v) - (u < v);
}

int mva_igram_set_shift(mva_igram *a, const double *sample, size_t ns)
{
    size_t p = a->p;
    double *col = malloc((ns ? ns : 1) * sizeof *col);
    if (col == NULL)
        return MVA_ENOMEM;
    for (size_t j = 0; j < p; j++) {
        double m = 0.0;
        if (ns) {
            for (size_t r = 0; r < ns; r++)
                col[r] = sample[r * p + j];
            qsort(col, ns, sizeof *col, cmp_double);
            m = col[ns / 2];
        }
        a->mu0[j] = isfinite(m) && fabs(m) < 1e15 ? nearbyint(m) : 0.0;
    }
    free(col);
    a->shift_set = 1;
    return MVA_OK;
}

int mva_igram_shift_from_block(mva_igram *a, const mva_block *b,
                               void (*vars)(const void *ctx, const double *x, double *out),
                               const void *ctx, double *buf)
{
    size_t p = a->p, ns = b->nvalid < MVA_IGRAM_SAMPLE ? b->nvalid : MVA_IGRAM_SAMPLE;
    size_t step = ns ? b->nvalid / ns : 1, seen = 0, taken = 0;
    for (size_t t = 0; t < b->npix && taken < ns; t++) {
        if (!b->valid[t] || seen++ % step != 0)
            continue;
        if (vars)
            vars(ctx, b->x + t * b->p, buf + taken * p);
        else
            memcpy(buf + taken * p, b->x + t * b->p, p * sizeof *buf);
        taken++;
    }
    return mva_igram_set_shift(a, buf, taken);
}

/* The float Gram into g: entry (a, b) of f is that of variables live[a], live[b]. */
static void add_into_g(mva_igram *a)
{
    size_t p = a->p;
    for (size_t i = 0; i < a->f_cols; i++) {
        size_t gi = a->live[i];
        for (size_t j = i; j < a->f_cols; j++) {
            size_t gj = a->live[j];
            double v = a->f[i * p + j];
            if (gi <= gj)
                a->g[gi * p + gj] += v;
            else
                a->g[gj * p + gi] += v;
        }
    }
    if (a->raw && a->fn) {
        cblas_dsyr2(CblasRowMajor, CblasUpper, (int)p, 1.0, a->fsum, 1, a->mu0, 1, a->g,
                    (int)p);
        cblas_dsyr(CblasRowMajor, CblasUpper, (int)p, (double)a->fn, a->mu0, 1, a->g, (int)p);
    }
}

/* The rows so far into g, the float Gram restarted. */
static void flush_rows(mva_igram *a)
{
    send_batch(a);
    wait_batch(a);
    add_into_g(a);
    memset(a->fsum, 0, a->p * sizeof *a->fsum);
    a->fn = 0;
    a->f_cols = 0;
    a->fbound = 0.0;
}

void mva_igram_flush(mva_igram *a)
{
    flush_rows(a);
    if (a->pool != NULL) {
        pool_stop(a->pool);
        a->pool = NULL;
        a->pool_tried = 0;
    }
}

/* Row x shifted by mu0 into a->row: 1 and the largest d_j^2 in *big if every d_j is an
 * integer, else 0 (NaN included).  Two at a time with SSE2 where there is SSE2 (every x86-64):
 * compilers leave the largest-square reduction scalar, and this loop is most of the
 * consumer's own work in the covariance pass. */
static int shifted(mva_igram *a, const double *x, double *big)
{
    const double round = 6755399441055744.0; /* 1.5 * 2^52: (d + round) - round = rint(d) */
    const double *mu0 = a->mu0;
    float *out = a->row;
    size_t j = 0, p = a->p;
    double b = 0.0;
    int fraction = 0;
#ifdef __SSE2__
    __m128d vb = _mm_setzero_pd(), vf = _mm_setzero_pd(), vr = _mm_set1_pd(round);
    for (; j + 2 <= p; j += 2) {
        __m128d d = _mm_sub_pd(_mm_loadu_pd(x + j), _mm_loadu_pd(mu0 + j));
        vb = _mm_max_pd(vb, _mm_mul_pd(d, d));
        vf = _mm_or_pd(vf, _mm_cmpneq_pd(_mm_sub_pd(_mm_add_pd(d, vr), vr), d));
        _mm_storel_pi((__m64 *)(void *)(out + j), _mm_cvtpd_ps(d));
    }
    double two[2];
    _mm_storeu_pd(two, vb);
    b = two[0] > two[1] ? two[0] : two[1];
    fraction = _mm_movemask_pd(vf) != 0;
#endif
    for (; j < p; j++) {
        double d = x[j] - mu0[j], q = d * d;
        fraction |= (d + round) - round != d;
        b = q > b ? q : b;
        out[j] = (float)d;
    }
    *big = b;
    return !fraction;
}

/* Variables of the row that are nonzero for the first time join the live ones, with 0 in
 * the rows of the batch before it. */
static void admit_live(mva_igram *a)
{
    size_t p = a->p;
    for (size_t i = 0; i < p - a->nl;) {
        size_t j = a->dead[i];
        if (a->row[j] == 0.0f) {
            i++;
            continue;
        }
        a->dead[i] = a->dead[p - a->nl - 1];
        size_t pos = a->nl++;
        a->live[pos] = j;
        for (size_t r = 0; r < a->nf; r++)
            a->fw[a->cur][r * p + pos] = 0.0f;
    }
}

int mva_igram_add(mva_igram *a, const double *x)
{
    size_t p = a->p;
    double big;
    if (!shifted(a, x, &big) || big > FLT_EXACT)
        return 0;
    if (a->fbound + big > FLT_EXACT)
        flush_rows(a);
    a->fbound += big;
    if (a->nl < p)
        admit_live(a);
    const float *row = a->row;
    float *out = a->fw[a->cur] + a->nf * p;
    for (size_t i = 0; i < a->nl; i++)
        out[i] = row[a->live[i]];
    for (size_t j = 0; j < p; j++)
        a->dsum[j] += row[j];
    if (a->raw) /* the flush's s mu0^T terms */
        for (size_t j = 0; j < p; j++)
            a->fsum[j] += row[j];
    a->n++;
    a->fn++;
    if (++a->nf == MVA_IGRAM_ROWS)
        send_batch(a);
    return 1;
}
