/*
 * The Gram of integer rows (detector counts), exact and at single-precision speed or better.
 *
 * Rows are shifted by an integer vector mu0 (the rounded median of a sample of them), and
 * d = x - mu0 is multiplied out, tile by tile of the upper triangle: ssyrk on the diagonal,
 * sgemm off it, in single precision where that is exact, in double where it is not.  Where
 * the CPU has AVX-512 VNNI (src/igram_vnni.c) the single-precision tiles are replaced by
 * 16-bit products summed in int32 (twice the multiply-adds a cycle): the same scheme with
 * the bound 2^31 - 1 in place of 2^24, and |d| <= 32767 in both panels of a tile.
 *
 * Exactness, tile by tile.  The packed variables are cut into panels; the products and every
 * partial sum that the kernels form for tile (I, J) are integers bounded by
 *   sum over its rows of max_{a in I} |d_a| * max_{b in J} |d_b|,
 * whatever the order of the sums.  Each row's max |d| per panel is kept as it is packed, so
 * each batch of rows gives each tile its bound.  While a tile's running bound stays <= 2^24
 * every sum is a float and its float Gram is exact; before a batch would break it, that tile
 * alone is added into the caller's double Gram g and restarted.  A batch whose own bound
 * passes 2^24 (bright channels: d ~ 1000 in both panels) is multiplied out for that tile in
 * double precision, in strips, straight into g: exact while every sum is below 2^53, which
 * the rows taken guarantee (|d| <= 2^22, so a batch of 512 stays below 2^53; and the running
 * sum of max d^2 over all rows, gbound, <= 2^53).  In raw mode g gets sum x x^T
 * = F + s mu0^T + mu0 s^T + m mu0 mu0^T (s, m: sum of d and rows since the last flush), also
 * exact.  A row with a fraction, |d| > 2^22 or NaN is refused, for the caller's own path.
 *
 * Which tiles go double depends on where the bright variables sit: the live variables are
 * ordered by their largest |d| (brightest first) once the first batch is in, and again at
 * batches 2, 4, 8, ... when that orders them better, so that the bright channels share one
 * narrow panel and most tiles stay single precision with rare restarts.  On a map with peak
 * channels of ~1000 counts this leaves ~5% of the products in double precision; with one
 * global bound the float Gram was restarted every ~6 rows.
 *
 * Cheaper still than one ssyrk of all the variables:
 * - Variables whose d has been 0 in every row so far (dead channels: above the beam energy,
 *   below the detector threshold) are left out of the products: rows are packed to the live
 *   ones, and a variable that turns live later joins at the end, its Gram entries so far 0.
 * - The tiles are taken in turn by the calling thread and a few helper threads, one batch of
 *   rows while the calling thread packs the next.  OpenBLAS's own threads would wait for each
 *   other on every call while the pass's reader thread takes a core now and then (measured:
 *   ~20% of the CPU spent yielding); tiles taken in turn keep both cores on products.
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

/* Largest integers up to which every integer is a float, a double; the largest int32; the
 * largest |d| the integer kernel takes (two products of them sum below 2^31). */
#define FLT_EXACT 16777216.0
#define DBL_EXACT 9007199254740992.0
#define INT_EXACT 2147483647.0
#define I16_MAX 32767.0
/* Largest |d| taken: a batch of 512 rows of d^2 <= 2^44 sums below 2^53. */
#define D_MAX 4194304.0

/* Helper threads and panels: enough tiles that threads finishing early find work. */
#define POOL_MAX_THREADS 16
#define PANELS_EVEN_MAX 12 /* even panels, before the brightest one is split */
#define PANEL_MIN_COLS 128
/* Double-precision tiles go in strips of DSTRIP x DSTRIP (scratch: 2 x 512 x DSTRIP + DSTRIP^2
 * doubles a thread, 1.1 MB). */
#define DSTRIP 128
#define SCRATCH_DOUBLES (2 * (size_t)MVA_IGRAM_ROWS * DSTRIP + (size_t)DSTRIP * DSTRIP)

enum { TILE_FLOAT, TILE_INT, TILE_DOUBLE };

int mva_igram_want_vnni = 1;

/* The bound below which f's sums are exact: 2^24 in single precision, 2^31 - 1 in int32. */
static double f_exact(const mva_igram *a)
{
    return a->vnni ? INT_EXACT : FLT_EXACT;
}

typedef struct {
    size_t i0, ni, j0, nj; /* packed rows [i0, i0 + ni) and columns [j0, j0 + nj) of f */
    int mode;              /* TILE_FLOAT, TILE_INT or TILE_DOUBLE */
    int restart;           /* float, int: add the tile of f into g first, then beta 0 */
    float beta;
    double cost;           /* for the order they are taken in */
} tile;

/* One batch of products, tile by tile. */
typedef struct {
    mva_igram *ig;
    const float *a; /* rows x ld, packed */
    const int32_t *pk; /* the same rows packed for the integer kernel */
    size_t rows;
    tile tiles[MVA_IGRAM_TILES];
    size_t ntiles, next, finished;
} batch;

typedef struct {
    igram_pool *pl;
    double *scratch;
} helper;

struct igram_pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t th[POOL_MAX_THREADS];
    helper hp[POOL_MAX_THREADS];
    int nth;          /* helper threads */
    int quit;
    int blas_threads; /* OpenBLAS's threads before, given back at the end */
    batch job;        /* ntiles 0: none in flight */
};

/* Adds the block src (ni x nj, ld) at packed positions (i0.., j0..) into g, the upper
 * triangle only where the block straddles the diagonal.  Tiles cover each pair of packed
 * positions once, so threads on different tiles never add to the same entry. */
#define SCATTER_BODY                                                                         \
    for (size_t r = 0; r < ni; r++) {                                                        \
        size_t gi = ig->live[i0 + r], c0 = i0 + r >= j0 ? i0 + r - j0 : 0;                  \
        for (size_t c = c0; c < nj; c++) {                                                   \
            size_t gj = ig->live[j0 + c];                                                    \
            double v = src[r * ld + c];                                                      \
            if (gi <= gj)                                                                    \
                ig->g[gi * ig->p + gj] += v;                                                 \
            else                                                                             \
                ig->g[gj * ig->p + gi] += v;                                                 \
        }                                                                                    \
    }

static void scatter_float(mva_igram *ig, const float *src, size_t ld, size_t i0, size_t ni,
                          size_t j0, size_t nj)
{
    SCATTER_BODY
}

static void scatter_double(mva_igram *ig, const double *src, size_t ld, size_t i0, size_t ni,
                           size_t j0, size_t nj)
{
    SCATTER_BODY
}

static void scatter_int(mva_igram *ig, const int32_t *src, size_t ld, size_t i0, size_t ni,
                        size_t j0, size_t nj)
{
    SCATTER_BODY
}

/* The tile (i0.., j0..) of f (ni x nj, ld p) into g, whichever type f has. */
static void scatter_f(mva_igram *ig, size_t i0, size_t ni, size_t j0, size_t nj)
{
    size_t ld = ig->p;
    if (ig->vnni)
        scatter_int(ig, ig->fi + i0 * ld + j0, ld, i0, ni, j0, nj);
    else
        scatter_float(ig, ig->f + i0 * ld + j0, ld, i0, ni, j0, nj);
}

/* Columns [c0, c0 + w) of the rows into out (rows x DSTRIP), in double. */
static void strip_to_double(const float *a, size_t ld, size_t rows, size_t c0, size_t w,
                            double *out)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < w; c++)
            out[r * DSTRIP + c] = a[r * ld + c0 + c];
}

/* A tile in double precision, DSTRIP x DSTRIP at a time, added into g. */
static void run_double(const batch *b, const tile *t, double *scratch)
{
    size_t ld = b->ig->p, rows = b->rows;
    double *si = scratch, *sj = scratch + (size_t)MVA_IGRAM_ROWS * DSTRIP;
    double *out = sj + (size_t)MVA_IGRAM_ROWS * DSTRIP;
    int diag = t->i0 == t->j0;
    for (size_t ia = 0; ia < t->ni; ia += DSTRIP) {
        size_t wi = t->ni - ia < DSTRIP ? t->ni - ia : DSTRIP;
        strip_to_double(b->a, ld, rows, t->i0 + ia, wi, si);
        for (size_t jb = diag ? ia : 0; jb < t->nj; jb += DSTRIP) {
            size_t wj = t->nj - jb < DSTRIP ? t->nj - jb : DSTRIP;
            const double *right = si;
            if (!diag || jb != ia) {
                strip_to_double(b->a, ld, rows, t->j0 + jb, wj, sj);
                right = sj;
            }
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)wi, (int)wj, (int)rows,
                        1.0, si, DSTRIP, right, DSTRIP, 0.0, out, DSTRIP);
            scatter_double(b->ig, out, DSTRIP, t->i0 + ia, wi, t->j0 + jb, wj);
        }
    }
}

/* A tile by the integer kernel, 6 rows by 64 columns at a time (groups of rows within a chunk
 * of 64, columns from the tile's first, a multiple of 64), into fi: stored when the tile
 * starts afresh (beta 0), else added.  Diagonal tiles: the upper triangle.  Whole 6 x 64
 * blocks go straight into fi; the others (a tile's edges, the diagonal) through c. */
static void run_int(const batch *b, const tile *t)
{
    mva_igram *ig = b->ig;
    size_t ld = ig->p, i1 = t->i0 + t->ni, j1 = t->j0 + t->nj;
    int diag = t->i0 == t->j0, store = t->beta == 0.0f;
    _Alignas(64) int32_t c[6 * 64];
    for (size_t j = t->j0; j < j1; j += 64) {
        size_t je = j + 64 < j1 ? j + 64 : j1;
        for (size_t i = t->i0; i < i1 && (!diag || i < je);) {
            size_t ie = (i / 64 + 1) * 64;
            ie = ie < i + 6 ? ie : i + 6;
            ie = ie < i1 ? ie : i1;
            if (ie == i + 6 && je == j + 64 && !(diag && i + 5 > j)) { /* whole, upper */
                mva_igram_vnni_tile(b->pk, b->rows, i, j, ig->fi + i * ld + j, ld, store);
                i = ie;
                continue;
            }
            mva_igram_vnni_tile(b->pk, b->rows, i, j, c, 64, 1);
            for (size_t r = i; r < ie; r++) {
                int32_t *dst = ig->fi + r * ld;
                const int32_t *src = c + (r - i) * 64;
                size_t c0 = diag && r > j ? r : j;
                if (store)
                    for (size_t col = c0; col < je; col++)
                        dst[col] = src[col - j];
                else
                    for (size_t col = c0; col < je; col++)
                        dst[col] += src[col - j];
            }
            i = ie;
        }
    }
}

static void run_tile(const batch *b, const tile *t, double *scratch)
{
    mva_igram *ig = b->ig;
    size_t ld = ig->p;
    if (t->mode == TILE_DOUBLE) {
        run_double(b, t, scratch);
        return;
    }
    if (t->restart)
        scatter_f(ig, t->i0, t->ni, t->j0, t->nj);
    if (t->mode == TILE_INT) {
        run_int(b, t);
        return;
    }
    float *c = ig->f + t->i0 * ld + t->j0;
    const float *ai = b->a + t->i0, *aj = b->a + t->j0;
    if (t->i0 == t->j0)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)t->ni, (int)b->rows, 1.0f, ai,
                    (int)ld, t->beta, c, (int)ld);
    else
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)t->ni, (int)t->nj,
                    (int)b->rows, 1.0f, ai, (int)ld, aj, (int)ld, t->beta, c, (int)ld);
}

/* Takes tiles of the batch in flight until none is left; called with mu held. */
static void take_tiles(igram_pool *pl, double *scratch)
{
    batch *b = &pl->job;
    while (b->next < b->ntiles) {
        const tile t = b->tiles[b->next++];
        pthread_mutex_unlock(&pl->mu);
        run_tile(b, &t, scratch);
        pthread_mutex_lock(&pl->mu);
        if (++b->finished == b->ntiles)
            pthread_cond_broadcast(&pl->done);
    }
}

static void *helper_main(void *arg)
{
    helper *h = arg;
    igram_pool *pl = h->pl;
    pthread_mutex_lock(&pl->mu);
    while (!pl->quit) {
        take_tiles(pl, h->scratch);
        if (!pl->quit)
            pthread_cond_wait(&pl->work, &pl->mu);
    }
    pthread_mutex_unlock(&pl->mu);
    return NULL;
}

static void pool_free(igram_pool *pl)
{
    for (int i = 0; i < POOL_MAX_THREADS; i++)
        free(pl->hp[i].scratch);
    pthread_mutex_destroy(&pl->mu);
    pthread_cond_destroy(&pl->work);
    pthread_cond_destroy(&pl->done);
    free(pl);
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
    while (pl->nth < want) {
        helper *h = &pl->hp[pl->nth];
        h->pl = pl;
        h->scratch = malloc(SCRATCH_DOUBLES * sizeof *h->scratch);
        if (h->scratch == NULL || pthread_create(&pl->th[pl->nth], NULL, helper_main, h) != 0)
            break;
        pl->nth++;
    }
    if (pl->nth == 0) {
        pool_free(pl);
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
    openblas_set_num_threads(pl->blas_threads);
    pool_free(pl);
}

/* Waits for the batch in flight, taking its tiles that are left. */
static void wait_batch(mva_igram *a)
{
    igram_pool *pl = a->pool;
    if (pl == NULL)
        return;
    pthread_mutex_lock(&pl->mu);
    take_tiles(pl, a->scratch);
    while (pl->job.finished < pl->job.ntiles)
        pthread_cond_wait(&pl->done, &pl->mu);
    pl->job.ntiles = pl->job.next = pl->job.finished = 0;
    pthread_mutex_unlock(&pl->mu);
}

/* ---- panels, tiles and the order of the variables ---- */

/* Tile (k, l), k <= l, of the upper triangle of panels, row by row. */
static size_t tile_index(const mva_igram *a, size_t k, size_t l)
{
    return k * a->np - k * (k - 1) / 2 + (l - k);
}

static size_t panel_end(const mva_igram *a, size_t k)
{
    return k + 1 < a->np ? a->pb[k + 1] : a->nl;
}

/* Even panels over the nl live variables, at least 3 tiles a thread (each split costs
 * OpenBLAS some speed: 3 panels 4%, 4 panels 9% on one core), the first (brightest) one cut
 * at a quarter: the tiles that need double precision are then a few small ones. */
static void plan_panels(mva_igram *a, int threads)
{
    size_t nl = a->nl, np = 1;
    while (np < PANELS_EVEN_MAX && np * (np + 1) / 2 < 3 * (size_t)threads &&
           nl / (np + 1) >= PANEL_MIN_COLS)
        np++;
    /* whole cache lines; whole chunks of the integer kernel */
    size_t align = a->vnni ? 63 : 15;
    size_t w = (nl + np - 1) / np;
    w = (w + align) & ~align;
    size_t k = 0, q = (w / 4 + align) & ~align;
    a->pb[k++] = 0;
    if (w >= 64 && q < w && q < nl)
        a->pb[k++] = q;
    for (size_t e = w; e < nl; e += w)
        a->pb[k++] = e;
    a->np = k;
    a->plan_nl = nl;
    for (size_t t = 0; t < MVA_IGRAM_TILES; t++) {
        a->tbound[t] = 0.0;
        a->tfresh[t] = 1;
    }
}

/* Each row's max |d| per panel, for rows [r0, r1) of the batch filling. */
static void panel_maxima(mva_igram *a, size_t r0, size_t r1)
{
    for (size_t r = r0; r < r1; r++) {
        const float *x = a->fw[a->cur] + r * a->p;
        float *pm = a->pmax[a->cur] + r * MVA_IGRAM_PANELS;
        for (size_t k = 0; k < a->np; k++) {
            float m = 0.0f;
            for (size_t i = a->pb[k], e = panel_end(a, k); i < e; i++) {
                float v = fabsf(x[i]);
                m = v > m ? v : m;
            }
            pm[k] = m;
        }
    }
}

/* What a plan of the panels costs by the largest |d| seen per variable: a tile in double
 * precision (when 512 rows at the panels' largest |d| could pass f's bound) costs ~3 in
 * float, ~6 by the integer kernel. */
static double plan_cost(const mva_igram *a, const float *cm, const size_t *pb, size_t np)
{
    float mx[MVA_IGRAM_PANELS];
    for (size_t k = 0; k < np; k++) {
        size_t e = k + 1 < np ? pb[k + 1] : a->nl;
        mx[k] = 0.0f;
        for (size_t i = pb[k]; i < e; i++)
            mx[k] = cm[i] > mx[k] ? cm[i] : mx[k];
    }
    double cost = 0.0;
    for (size_t k = 0; k < np; k++)
        for (size_t l = k; l < np; l++) {
            double wk = (double)((k + 1 < np ? pb[k + 1] : a->nl) - pb[k]);
            double wl = (double)((l + 1 < np ? pb[l + 1] : a->nl) - pb[l]);
            double area = k == l ? wk * wk / 2 : wk * wl;
            int dbl = (double)mx[k] * mx[l] * MVA_IGRAM_ROWS > f_exact(a) ||
                      (a->vnni && (mx[k] > I16_MAX || mx[l] > I16_MAX));
            cost += area * (dbl ? (a->vnni ? 6.0 : 3.0) : 1.0);
        }
    return cost;
}

typedef struct {
    float key; /* largest |d| seen */
    size_t pos;
} ranked;

static int brighter_first(const void *x, const void *y)
{
    const ranked *u = x, *v = y;
    return u->key > v->key ? -1 : u->key < v->key ? 1 : (u->pos > v->pos) - (u->pos < v->pos);
}
/* Zeroes the columns of f's upper triangle that turned live since its last batch. */
static void zero_new_columns(mva_igram *a)
{
    for (size_t i = 0; i < a->nl; i++)
        for (size_t j = (i > a->f_cols ? i : a->f_cols); j < a->nl; j++) {
            if (a->vnni)
                a->fi[i * a->p + j] = 0;
            else
                a->f[i * a->p + j] = 0.0f;
        }
    a->f_cols = a->nl;
}

/* Every tile of f that holds a sum into g (the batch in flight done), all restarted. */
static void flush_tiles(mva_igram *a)
{
    size_t n = a->f_cols;
    for (size_t k = 0; k < a->np; k++)
        for (size_t l = k; l < a->np; l++) {
            size_t t = tile_index(a, k, l);
            size_t i0 = a->pb[k], j0 = a->pb[l];
            size_t i1 = panel_end(a, k) < n ? panel_end(a, k) : n;
            size_t j1 = panel_end(a, l) < n ? panel_end(a, l) : n;
            if (!a->tfresh[t] && i1 > i0 && j1 > j0)
                scatter_f(a, i0, i1 - i0, j0, j1 - j0);
            a->tfresh[t] = 1;
            a->tbound[t] = 0.0;
        }
}

/* The largest |d| per variable, over the rows of the batch filling (before the first plan:
 * pack_row keeps them after). */
static void note_maxima(mva_igram *a)
{
    for (size_t r = 0; r < a->nf; r++) {
        const float *x = a->fw[a->cur] + r * a->p;
        for (size_t i = 0; i < a->nl; i++) {
            float v = fabsf(x[i]);
            a->cmax[i] = v > a->cmax[i] ? v : a->cmax[i];
        }
    }
}

/* The live variables brightest first, the rows of the batch filling permuted to match, and
 * the panels planned anew (f flushed before: its tiles change).  Only an order: any order
 * is exact.  0, or MVA_ENOMEM (the order is left as it was). */
static int reorder(mva_igram *a, int threads)
{
    size_t nl = a->nl, p = a->p;
    ranked *rk = malloc(nl * sizeof *rk);
    size_t *live = malloc(nl * sizeof *live);
    if (rk == NULL || live == NULL) {
        free(rk);
        free(live);
        return MVA_ENOMEM;
    }
    for (size_t i = 0; i < nl; i++)
        rk[i] = (ranked){a->cmax[i], i};
    qsort(rk, nl, sizeof *rk, brighter_first);
    for (size_t i = 0; i < nl; i++) {
        live[i] = a->live[rk[i].pos];
        a->cmax[i] = rk[i].key;
    }
    memcpy(a->live, live, nl * sizeof *live);
    for (size_t r = 0; r < a->nf; r++) {
        float *x = a->fw[a->cur] + r * p;
        for (size_t i = 0; i < nl; i++)
            a->row[i] = x[rk[i].pos];
        memcpy(x, a->row, nl * sizeof *x);
    }
    free(rk);
    free(live);
    a->n_reorder++;
    plan_panels(a, threads);
    a->f_cols = 0;
    panel_maxima(a, 0, a->nf);
    return MVA_OK;
}

/* Before each batch: the variables ordered by brightness when that is 10% cheaper by
 * plan_cost than the order they are in (or there is no plan yet, or one for far fewer live
 * variables).  A new order costs a flush of f, so it is taken only when it pays. */
static void replan(mva_igram *a, int threads)
{
    int first = a->np == 0, grown = a->nl > a->plan_nl + a->plan_nl / 4 + 16;
    if (first)
        note_maxima(a);
    if (!first && !grown) {
        ranked *rk = malloc(a->nl * sizeof *rk);
        float *cm = malloc(a->nl * sizeof *cm);
        double now = plan_cost(a, a->cmax, a->pb, a->np), sorted = now;
        if (rk && cm) {
            for (size_t i = 0; i < a->nl; i++)
                rk[i] = (ranked){a->cmax[i], i};
            qsort(rk, a->nl, sizeof *rk, brighter_first);
            for (size_t i = 0; i < a->nl; i++)
                cm[i] = rk[i].key;
            sorted = plan_cost(a, cm, a->pb, a->np);
        }
        free(rk);
        free(cm);
        if (sorted > 0.9 * now)
            return;
    }
    flush_tiles(a);
    reorder(a, threads);
}

/* Each tile's precision for the batch filling, from its rows' max |d| per panel. */
static size_t plan_batch(mva_igram *a, tile *tiles)
{
    size_t nt = 0;
    const float *pm = a->pmax[a->cur];
    float pmx[MVA_IGRAM_PANELS] = {0}; /* the batch's max |d| per panel */
    for (size_t r = 0; r < a->nf; r++)
        for (size_t k = 0; k < a->np; k++) {
            float v = pm[r * MVA_IGRAM_PANELS + k];
            pmx[k] = v > pmx[k] ? v : pmx[k];
        }
    double exact = f_exact(a);
    for (size_t k = 0; k < a->np; k++)
        for (size_t l = k; l < a->np; l++) {
            size_t ti = tile_index(a, k, l);
            double bb = 0.0;
            for (size_t r = 0; r < a->nf; r++)
                bb += (double)pm[r * MVA_IGRAM_PANELS + k] * pm[r * MVA_IGRAM_PANELS + l];
            tile t = {a->pb[k], panel_end(a, k) - a->pb[k], a->pb[l],
                      panel_end(a, l) - a->pb[l], TILE_FLOAT, 0, 1.0f, 0.0};
            if (t.ni == 0 || t.nj == 0)
                continue;
            double area = k == l ? (double)t.ni * t.ni / 2 : (double)t.ni * t.nj;
            int wide = a->vnni && (pmx[k] > I16_MAX || pmx[l] > I16_MAX);
            if (bb > exact || wide) {
                a->n_double++;
                a->area_double += area * (double)a->nf;
                t.mode = TILE_DOUBLE;
                t.cost = 3 * area;
            } else {
                t.mode = a->vnni ? TILE_INT : TILE_FLOAT;
                t.restart = !a->tfresh[ti] && a->tbound[ti] + bb > exact;
                *(a->vnni ? &a->n_int : &a->n_float) += 1;
                a->area_float += area * (double)a->nf;
                a->n_restart += (size_t)t.restart;
                if (t.restart || a->tfresh[ti]) {
                    t.beta = 0.0f;
                    a->tbound[ti] = 0.0;
                }
                a->tbound[ti] += bb;
                a->tfresh[ti] = 0;
                t.cost = area;
            }
            /* the costliest first, so that the last ones taken are small */
            size_t q = nt++;
            while (q > 0 && tiles[q - 1].cost < t.cost) {
                tiles[q] = tiles[q - 1];
                q--;
            }
            tiles[q] = t;
        }
    return nt;
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
    a->batches++;
    if (a->nl == 0) { /* rows of zeros: nothing to multiply */
        a->nf = 0;
        return;
    }
    replan(a, a->pool ? a->pool->nth + 1 : 1);
    if (a->f_cols > 0 && a->f_cols < a->nl)
        zero_new_columns(a);
    a->f_cols = a->nl;
    batch b = {a, a->fw[a->cur], a->pk[a->cur], a->nf, {{0}}, 0, 0, 0};
    b.ntiles = plan_batch(a, b.tiles);
    for (size_t t = 0; t < b.ntiles; t++)
        if (b.tiles[t].mode == TILE_INT) {
            mva_igram_vnni_pack(b.a, a->p, b.rows, a->nl, a->pk[a->cur]);
            break;
        }
    if (a->pool == NULL) {
        for (size_t t = 0; t < b.ntiles; t++)
            run_tile(&b, &b.tiles[t], a->scratch);
    } else {
        igram_pool *pl = a->pool;
        pthread_mutex_lock(&pl->mu);
        pl->job = b;
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
    a->cmax = calloc(p, sizeof *a->cmax);
    a->vnni = mva_igram_want_vnni && mva_igram_vnni_available();
    if (a->vnni)
        a->fi = malloc(p * p * sizeof *a->fi);
    else
        a->f = malloc(p * p * sizeof *a->f);
    a->row = malloc(p * sizeof *a->row);
    a->scratch = malloc(SCRATCH_DOUBLES * sizeof *a->scratch);
    int ok = a->mu0 && a->dsum && a->fsum && a->live && a->dead && a->cmax &&
             (a->f || a->fi) && a->row && a->scratch;
    size_t pk_bytes = mva_igram_vnni_packed_words(MVA_IGRAM_ROWS, p) * sizeof(int32_t);
    pk_bytes = (pk_bytes + 63) & ~(size_t)63;
    for (int i = 0; i < 2; i++) {
        a->fw[i] = malloc((size_t)MVA_IGRAM_ROWS * p * sizeof *a->fw[i]);
        a->pmax[i] = malloc((size_t)MVA_IGRAM_ROWS * MVA_IGRAM_PANELS * sizeof *a->pmax[i]);
        ok = ok && a->fw[i] && a->pmax[i];
        if (a->vnni) {
            a->pk[i] = aligned_alloc(64, pk_bytes);
            ok = ok && a->pk[i];
        }
    }
    if (!ok) {
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
    free(a->cmax);
    free(a->f);
    free(a->fi);
    free(a->row);
    free(a->scratch);
    for (int i = 0; i < 2; i++) {
        free(a->fw[i]);
        free(a->pmax[i]);
        free(a->pk[i]);
    }
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
    a->mumax = 0.0;
    for (size_t j = 0; j < p; j++) {
        double m = 0.0;
        if (ns) {
            for (size_t r = 0; r < ns; r++)
                col[r] = sample[r * p + j];
            qsort(col, ns, sizeof *col, cmp_double);
            m = col[ns / 2];
        }
        a->mu0[j] = isfinite(m) && fabs(m) < 1e15 ? nearbyint(m) : 0.0;
        a->mumax = fabs(a->mu0[j]) > a->mumax ? fabs(a->mu0[j]) : a->mumax;
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

void mva_igram_flush(mva_igram *a)
{
    send_batch(a);
    wait_batch(a);
    flush_tiles(a);
    size_t p = a->p;
    if (a->raw && a->fn) { /* sum x x^T = sum d d^T + s mu0^T + mu0 s^T + m mu0 mu0^T */
        cblas_dsyr2(CblasRowMajor, CblasUpper, (int)p, 1.0, a->fsum, 1, a->mu0, 1, a->g,
                    (int)p);
        cblas_dsyr(CblasRowMajor, CblasUpper, (int)p, (double)a->fn, a->mu0, 1, a->g, (int)p);
    }
    memset(a->fsum, 0, p * sizeof *a->fsum);
    a->fn = 0;
    a->f_cols = 0;
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
    if (a->vnni) /* that CPU has AVX-512: 8 at a time */
        return mva_igram_vnni_shift(x, a->mu0, a->p, a->row, big);
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
        a->cmax[pos] = 0.0f;
        for (size_t r = 0; r < a->nf; r++)
            a->fw[a->cur][r * p + pos] = 0.0f;
    }
}

/* The row packed into the batch filling, with its max |d| per panel once there are panels. */
static void pack_row(mva_igram *a)
{
    const float *row = a->row;
    float *out = a->fw[a->cur] + a->nf * a->p;
    if (a->np == 0) {
        for (size_t i = 0; i < a->nl; i++)
            out[i] = row[a->live[i]];
        return;
    }
    float *pm = a->pmax[a->cur] + a->nf * MVA_IGRAM_PANELS, *cm = a->cmax;
    for (size_t k = 0; k < a->np; k++) {
        if (a->vnni) {
            pm[k] = mva_igram_vnni_gather(row, a->live, a->pb[k], panel_end(a, k), out, cm);
            continue;
        }
        float m = 0.0f;
        for (size_t i = a->pb[k], e = panel_end(a, k); i < e; i++) {
            float v = row[a->live[i]];
            out[i] = v;
            v = fabsf(v);
            m = v > m ? v : m;
            cm[i] = v > cm[i] ? v : cm[i];
        }
        pm[k] = m;
    }
}

int mva_igram_add(mva_igram *a, const double *x)
{
    size_t p = a->p;
    double big;
    if (!shifted(a, x, &big) || big > D_MAX * D_MAX)
        return 0;
    /* every partial sum into g: of d_j d_k, or in raw mode of x_j x_k */
    double rb = a->raw ? (sqrt(big) + a->mumax) * (sqrt(big) + a->mumax) : big;
    if (a->gbound + rb > DBL_EXACT)
        return 0;
    a->gbound += rb;
    if (a->nl < p)
        admit_live(a);
    pack_row(a);
    const float *row = a->row;
    if (a->vnni) {
        mva_igram_vnni_sum(a->dsum, row, p);
        if (a->raw)
            mva_igram_vnni_sum(a->fsum, row, p);
    } else {
        for (size_t j = 0; j < p; j++)
            a->dsum[j] += row[j];
        if (a->raw) /* the flush's s mu0^T terms */
            for (size_t j = 0; j < p; j++)
                a->fsum[j] += row[j];
    }
    a->n++;
    a->fn++;
    if (++a->nf == MVA_IGRAM_ROWS)
        send_batch(a);
    return 1;
}
