/*
 * Direct chunk decoding ("parallel inflate") for the HDF5 reader.  HDF5 1.10 (serial, not
 * thread-safe) decompresses in the calling thread only, which caps a pass at one core's
 * inflate speed.  For the common storage -- channel-last chunks holding whole spectra,
 * deflate optionally after shuffle (nothing else: fletcher32, szip, plugins, partial edge
 * chunks left unfiltered all go to H5Dread) -- a read instead fetches the raw chunks that
 * meet the block with H5Dread_chunk in the calling thread (every HDF5 call stays in one
 * thread) and has them inflated, unshuffled, byte-swapped and converted (io/inflate.c,
 * src/dtype.c) by a pool of threads (src/pool.c: the online CPUs, 1 to 4, the caller among
 * them; MVA_DECODE_THREADS overrides, 0 turns this off) straight into the block.  Each
 * chunk's filter mask is honoured.  Values are bit-identical to the H5Dread path.
 *
 * Chunks cut by the end of the block stay decoded for the next one (the chunk cache below).
 * Memory: the compressed chunks of one block, two decoded chunks per thread, and the decoded
 * chunks of at most two chunk rows (one row of leftovers).  A block that meets a chunk never
 * written (fill value) goes through H5Dread.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <zlib.h>

#include "dtype.h"
#include "hdf5int.h"
#include "inflate.h"
#include "pool.h"

#define DECODE_MAX_THREADS 4
#define DECODE_ENV "MVA_DECODE_THREADS"

/* One chunk that intersects the block being read. */
typedef struct dtask {
    size_t crow, ccol;           /* chunk index in the chunk grid (map rows, map cols) */
    size_t r0, r1, c0, c1;       /* map rows and cols the chunk holds (clipped to the map) */
    size_t raw_off, nraw;        /* compressed bytes in the raw arena */
    uint32_t mask;               /* filters skipped for this chunk (bit i = filter i) */
    const unsigned char *cached; /* decoded already by the previous read, or NULL */
    unsigned char *keep;         /* decode into this cache buffer: the next block needs it */
    int leftover;                /* holds pixels after the block */
    int release;                 /* cached for this block only: free it after the read */
    int code;                    /* MVA_OK, or what failed */
    char why[MVA_CHUNK_WHY];
} dtask;

/* Where the chunks are in the map (fixed at open). */
typedef struct chunk_grid {
    int rank;                    /* of the dataset: 3 (rows, cols, ch) or 2 (pixels, ch) */
    size_t ch_r, ch_c;           /* chunk extent in map rows and cols (1 row for 2-D) */
    size_t rows, cols;           /* the stored map grid */
    size_t ncc;                  /* chunks per chunk row */
    size_t p;                    /* channels */
} chunk_grid;

/* The leftover chunks of one chunk row, decoded, indexed by chunk column. */
typedef struct chunk_row {
    int valid;
    size_t crow;
    unsigned char **slot;        /* ncc entries, NULL = not cached */
} chunk_row;

/* Decoded chunks kept from one read to the next. */
typedef struct chunk_cache {
    chunk_row row[2];            /* [cur]: leftovers of the last read; the other: of this */
    int cur;
    unsigned char **spare;       /* decoded-chunk buffers not in use */
    size_t nspare, spare_cap;
    size_t ncc, chunk_bytes;
} chunk_cache;

/* The state of one read. */
typedef struct batch {
    dtask *tasks;
    size_t task_cap;
    unsigned char *raw;          /* the compressed chunks of the block */
    size_t raw_cap;
    size_t first, end;           /* the block being read */
    double *out;
} batch;

typedef struct decode_scratch {
    unsigned char *tmp;          /* inflated, still shuffled */
    unsigned char *dec;          /* decoded chunk that no later block needs */
} decode_scratch;

struct h5_direct {
    mva_chunk_codec codec;       /* the filter pipeline */
    chunk_grid grid;
    mva_dtype dtype;
    mva_pool *pool;
    chunk_cache cache;
    batch b;
    decode_scratch scratch[DECODE_MAX_THREADS]; /* one per decoding thread */
};

/* ---- can chunks be decoded here? ---- */

/* Decoding threads, the calling thread included: MVA_DECODE_THREADS when set (0 turns
 * direct decoding off, for tests and benchmarks), else the online CPUs, 1 to 4. */
static int decode_threads(void)
{
    const char *env = getenv(DECODE_ENV);
    if (env != NULL && env[0] != '\0') {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 0)
            return v > DECODE_MAX_THREADS ? DECODE_MAX_THREADS : (int)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > DECODE_MAX_THREADS ? DECODE_MAX_THREADS : (int)n;
}

/* 1 when the stored type is the native memtype (swap 0) or its byte-swapped twin (swap 1):
 * then the raw chunk bytes are the values, give or take the byte order. */
static int raw_type_usable(const h5_reader *r, hid_t d, int *swap)
{
    hid_t ft = H5Dget_type(d), other = H5Tcopy(r->memtype);
    int ok = 0;
    if (ft >= 0 && H5Tequal(ft, r->memtype) > 0) {
        ok = 1;
        *swap = 0;
    } else if (ft >= 0 && other >= 0 && mva_dtype_size(r->dtype) > 1) {
        H5T_order_t o = H5Tget_order(r->memtype);
        if (H5Tset_order(other, o == H5T_ORDER_LE ? H5T_ORDER_BE : H5T_ORDER_LE) >= 0 &&
            H5Tequal(ft, other) > 0) {
            ok = 1;
            *swap = 1;
        }
    }
    if (other >= 0)
        H5Tclose(other);
    if (ft >= 0)
        H5Tclose(ft);
    return ok;
}

/* The pipeline is deflate, or shuffle then deflate (the order h5py and most writers use).
 * Anything else -- fletcher32 included, whose checksum HDF5 does not export -- is left to
 * H5Dread. */
static int pipeline_usable(const h5_reader *r, hid_t dcpl, mva_chunk_codec *f)
{
    int nf = H5Pget_nfilters(dcpl);
    H5Z_filter_t id[2];
    unsigned cd[2][8];
    size_t ncd[2] = {8, 8};
    if (nf < 1 || nf > 2)
        return 0;
    for (int i = 0; i < nf; i++) {
        unsigned flags, conf;
        id[i] = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd[i], cd[i], 0, NULL, &conf);
    }
    if (id[nf - 1] != H5Z_FILTER_DEFLATE)
        return 0;
    f->shuffle = nf == 2;
    if (f->shuffle &&
        (id[0] != H5Z_FILTER_SHUFFLE || (ncd[0] >= 1 && cd[0][0] != mva_dtype_size(r->dtype))))
        return 0;
    f->bit_shuffle = f->shuffle ? 1u : 0u;
    f->bit_deflate = 1u << (nf - 1);
    return 1;
}

/* Chunk geometry: channel-last, every chunk holding whole spectra. */
static int geometry_usable(const h5_reader *r, const hsize_t *chunk, h5_direct *f)
{
    chunk_grid *g = &f->grid;
    if (r->chfirst || chunk[r->rank - 1] != r->dims[r->rank - 1])
        return 0;
    g->rank = r->rank;
    f->codec.es = mva_dtype_size(r->dtype);
    g->ch_r = r->rank == 3 ? (size_t)chunk[0] : 1;
    g->ch_c = (size_t)chunk[r->rank - 2];
    g->rows = r->rank == 3 ? (size_t)r->dims[0] : 1;
    g->cols = r->grid_cols;
    g->p = r->p;
    g->ncc = (g->cols + g->ch_c - 1) / g->ch_c;
    size_t px, vals;
    /* zlib counts output in uInt; HDF5 limits chunks to 4 GiB as well. */
    return mva_size_mul(g->ch_r, g->ch_c, &px) == MVA_OK &&
           mva_size_mul(px, r->p, &vals) == MVA_OK &&
           mva_size_mul(vals, f->codec.es, &f->codec.chunk_bytes) == MVA_OK &&
           f->codec.chunk_bytes <= UINT_MAX;
}

h5_direct *h5_direct_plan(const h5_reader *r, hid_t d, mva_stack_info *info)
{
#if H5_VERSION_GE(1, 10, 3)
    h5_direct *f = calloc(1, sizeof *f);
    hid_t dcpl = H5Dget_create_plist(d);
    hsize_t chunk[3];
    unsigned opts = 0;
    int n = decode_threads();
    /* Partial edge chunks stored unfiltered would carry a mask of 0: not ours to guess. */
    int ok = f != NULL && n > 0 && dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED &&
             H5Pget_chunk(dcpl, r->rank, chunk) == r->rank &&
             H5Pget_chunk_opts(dcpl, &opts) >= 0 &&
             !(opts & H5D_CHUNK_DONT_FILTER_PARTIAL_CHUNKS) && geometry_usable(r, chunk, f) &&
             pipeline_usable(r, dcpl, &f->codec) && raw_type_usable(r, d, &f->codec.swap) &&
             (f->pool = mva_pool_new(n)) != NULL;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (!ok) {
        h5_direct_free(f);
        return NULL;
    }
    f->dtype = r->dtype;
    f->cache.ncc = f->grid.ncc;
    f->cache.chunk_bytes = f->codec.chunk_bytes;
    /* Threads decode different chunks of one block: a block of one chunk row per thread
     * keeps them all busy (the engine sizes blocks in whole multiples of this). */
    size_t cp;
    if (mva_size_mul(info->chunk_pixels, (size_t)n, &cp) == MVA_OK)
        info->chunk_pixels = cp;
    size_t used = strlen(info->storage);
    snprintf(info->storage + used, sizeof info->storage - used,
             ", parallel inflate on %d thread%s", n, n > 1 ? "s" : "");
    return f;
#else
    (void)r, (void)d, (void)info;
    return NULL;
#endif
}

void h5_direct_free(h5_direct *f)
{
    if (f == NULL)
        return;
    mva_pool_free(f->pool);
    for (int i = 0; i < DECODE_MAX_THREADS; i++) {
        free(f->scratch[i].tmp);
        free(f->scratch[i].dec);
    }
    chunk_cache *c = &f->cache;
    for (int k = 0; k < 2; k++) {
        if (c->row[k].slot != NULL)
            for (size_t j = 0; j < c->ncc; j++)
                free(c->row[k].slot[j]);
        free(c->row[k].slot);
    }
    for (size_t k = 0; k < c->nspare; k++)
        free(c->spare[k]);
    free(c->spare);
    free(f->b.tasks);
    free(f->b.raw);
    free(f);
}

/* ---- reading ---- */


static void emit_chunk(const h5_direct *f, const dtask *t, const unsigned char *chunk,
                       size_t first, size_t end, double *out)
{
    const chunk_grid *g = &f->grid;
    size_t C = g->cols, p = g->p;
    size_t ra = first / C > t->r0 ? first / C : t->r0;
    size_t rb = (end - 1) / C < t->r1 - 1 ? (end - 1) / C : t->r1 - 1;
    for (size_t row = ra; row <= rb; row++) {
        size_t lo = row * C + t->c0, hi = row * C + t->c1;
        if (lo < first)
            lo = first;
        if (hi > end)
            hi = end;
        if (lo >= hi)
            continue;
        size_t at = ((row - t->r0) * g->ch_c + (lo - row * C - t->c0)) * p;
        mva_dtype_to_double(f->dtype, chunk + at * f->codec.es, (hi - lo) * p, 0,
                            out + (lo - first) * p);
    }
}

/* Decodes (unless cached) and emits task k; runs in any decoding thread. */
static void run_task(void *ctx, size_t k, int idx)
{
    h5_direct *f = ctx;
    batch *b = &f->b;
    dtask *t = &b->tasks[k];
    const unsigned char *chunk = t->cached;
    size_t bytes = f->codec.chunk_bytes;
    if (chunk == NULL) {
        decode_scratch *s = &f->scratch[idx];
        if (s->dec == NULL)
            s->dec = malloc(bytes);
        if (s->tmp == NULL && f->codec.shuffle)
            s->tmp = malloc(bytes);
        if (s->dec == NULL || (f->codec.shuffle && s->tmp == NULL)) {
            t->code = MVA_ENOMEM;
            snprintf(t->why, MVA_CHUNK_WHY, "out of memory for %zu decoded bytes", bytes);
            return;
        }
        unsigned char *dst = t->keep ? t->keep : s->dec;
        t->code = mva_chunk_decode(&f->codec, b->raw + t->raw_off, t->nraw, t->mask, s->tmp, dst,
                                   t->why);
        if (t->code != MVA_OK)
            return;
        chunk = dst;
    }
    emit_chunk(f, t, chunk, b->first, b->end, b->out);
}

/* A decoded-chunk buffer for the cache, or NULL (then the chunk is simply not kept). */
static unsigned char *spare_get(chunk_cache *f)
{
    return f->nspare > 0 ? f->spare[--f->nspare] : malloc(f->chunk_bytes);
}

/* Returns a cache buffer; spare holds at most two chunk rows, as the cache itself. */
static void spare_put(chunk_cache *f, unsigned char *buf)
{
    if (buf == NULL)
        return;
    if (f->nspare == f->spare_cap) {
        size_t cap = f->spare_cap ? 2 * f->spare_cap : 4;
        unsigned char **s = cap <= 2 * f->ncc + 4 ? realloc(f->spare, cap * sizeof *s) : NULL;
        if (s == NULL) {
            free(buf);
            return;
        }
        f->spare = s;
        f->spare_cap = cap;
    }
    f->spare[f->nspare++] = buf;
}

/* Grows *buf (of *cap elements of size) to hold n; 0 on failure. */
static int grow(void **buf, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return 1;
    if (n > SIZE_MAX / size)
        return 0;
    void *b = realloc(*buf, n * size);
    if (b == NULL)
        return 0;
    *buf = b;
    *cap = n;
    return 1;
}

/* Does the chunk hold any pixel of [first, end)?  Only its rows in the first and last map
 * row of the block can miss it. */
static int chunk_meets_block(size_t C, const dtask *t, size_t first, size_t end)
{
    size_t ra = first / C > t->r0 ? first / C : t->r0;
    size_t rb = (end - 1) / C < t->r1 - 1 ? (end - 1) / C : t->r1 - 1;
    for (size_t row = ra; row <= rb; row++)
        if (row * C + t->c0 < end && row * C + t->c1 > first)
            return 1;
    return 0;
}

/* Fills b->tasks with the chunks that meet the block, in chunk order; *n gets their number. */
static int plan_tasks(batch *b, const chunk_grid *f, size_t first, size_t end, size_t *n)
{
    size_t C = f->cols;
    size_t cra = first / C / f->ch_r, crb = (end - 1) / C / f->ch_r, k = 0;
    size_t most;
    if (mva_size_mul(crb - cra + 1, f->ncc, &most) != MVA_OK ||
        !grow((void **)&b->tasks, &b->task_cap, most, sizeof *b->tasks))
        return 0;
    for (size_t cr = cra; cr <= crb; cr++) {
        for (size_t cc = 0; cc < f->ncc; cc++) {
            dtask *t = &b->tasks[k];
            memset(t, 0, sizeof *t);
            t->crow = cr;
            t->ccol = cc;
            t->r0 = cr * f->ch_r;
            t->r1 = t->r0 + f->ch_r < f->rows ? t->r0 + f->ch_r : f->rows;
            t->c0 = cc * f->ch_c;
            t->c1 = t->c0 + f->ch_c < C ? t->c0 + f->ch_c : C;
            if (!chunk_meets_block(C, t, first, end))
                continue;
            t->leftover = (t->r1 - 1) * C + t->c1 > end;
            k++;
        }
    }
    *n = k;
    return 1;
}

static void chunk_offset(const chunk_grid *f, const dtask *t, hsize_t *off)
{
    int k = 0;
    if (f->rank == 3)
        off[k++] = (hsize_t)t->r0;
    off[k++] = (hsize_t)t->c0;
    off[k] = 0;
}

/* Sizes the raw chunks that must be read and lays them out in the raw arena.  Returns 0
 * when a chunk is not stored (never written: H5Dread supplies the fill value) or its size
 * cannot be had, so that the block goes through H5Dread. */
static int size_raw_chunks(h5_direct *f, hid_t dset, size_t ntasks, int *nomem)
{
    batch *b = &f->b;
    size_t total = 0;
    /* deflate can grow incompressible data by a few bytes per 16 KiB (zlib's compressBound);
     * a larger size is a corrupt index, not something to allocate. */
    uLong bound = compressBound((uLong)f->codec.chunk_bytes) + 64;
    for (size_t k = 0; k < ntasks; k++) {
        dtask *t = &b->tasks[k];
        if (t->cached != NULL)
            continue;
        hsize_t off[3], size = 0;
        chunk_offset(&f->grid, t, off);
        if (H5Dget_chunk_storage_size(dset, off, &size) < 0 || size == 0 ||
            size > (hsize_t)bound)
            return 0;
        t->raw_off = total;
        t->nraw = (size_t)size;
        total += t->nraw;
    }
    if (!grow((void **)&b->raw, &b->raw_cap, total ? total : 1, 1)) {
        *nomem = 1;
        return 0;
    }
    return 1;
}

/* Cache hits: chunks of the last read's leftover row that this block needs. */
static void attach_cache(chunk_cache *f, dtask *tasks, size_t ntasks)
{
    chunk_row *cur = &f->row[f->cur];
    if (!cur->valid)
        return;
    for (size_t k = 0; k < ntasks; k++) {
        dtask *t = &tasks[k];
        if (t->crow == cur->crow && cur->slot[t->ccol] != NULL)
            t->cached = cur->slot[t->ccol];
    }
}

/* Moves the cache to this read's leftovers.  A hit that is a leftover again moves over; a
 * hit that is not is released after the read (its data are still being emitted); cached
 * chunks this block does not need are released now; chunks to decode for the next block
 * get a buffer (none when memory is short: then they are simply decoded again). */
static int rotate_cache(chunk_cache *f, dtask *tasks, size_t ntasks, size_t crow)
{
    for (int c = 0; c < 2; c++)
        if (f->row[c].slot == NULL &&
            (f->row[c].slot = calloc(f->ncc, sizeof *f->row[c].slot)) == NULL)
            return 0;
    chunk_row *cur = &f->row[f->cur], *nxt = &f->row[1 - f->cur];
    for (size_t k = 0; k < ntasks; k++) {
        dtask *t = &tasks[k];
        if (t->cached == NULL)
            continue;
        cur->slot[t->ccol] = NULL;
        if (t->leftover)
            nxt->slot[t->ccol] = (unsigned char *)t->cached;
        else
            t->release = 1;
    }
    for (size_t k = 0; k < f->ncc; k++) {
        spare_put(f, cur->slot[k]);
        cur->slot[k] = NULL;
    }
    cur->valid = 0;
    for (size_t k = 0; k < ntasks; k++) {
        dtask *t = &tasks[k];
        if (t->cached == NULL && t->leftover)
            nxt->slot[t->ccol] = t->keep = spare_get(f);
    }
    nxt->valid = 1;
    nxt->crow = crow;
    f->cur = 1 - f->cur;
    return 1;
}

/* After the read: hits that were only for this block go back to the spare buffers, and a
 * leftover whose decoding failed or never ran (k >= ran) is not kept. */
static void settle_cache(chunk_cache *f, dtask *tasks, size_t ntasks, size_t ran)
{
    chunk_row *cur = &f->row[f->cur];
    for (size_t k = 0; k < ntasks; k++) {
        dtask *t = &tasks[k];
        if (t->release)
            spare_put(f, (unsigned char *)t->cached);
        if (t->keep != NULL && (k >= ran || t->code != MVA_OK)) {
            cur->slot[t->ccol] = NULL;
            spare_put(f, t->keep);
        }
    }
}

/* Reads the compressed bytes of t's chunk; HDF5, so only ever in the calling thread. */
static int fetch_raw(h5_direct *f, hid_t dset, dtask *t)
{
    hsize_t off[3];
    uint32_t mask = 0;
    chunk_offset(&f->grid, t, off);
    if (H5Dread_chunk(dset, H5P_DEFAULT, off, &mask, f->b.raw + t->raw_off) < 0) {
        char e[H5_MSG];
        t->code = MVA_EIO;
        snprintf(t->why, MVA_CHUNK_WHY, "cannot read the %zu stored bytes: %s", t->nraw,
                 h5_error_text(e));
        return 0;
    }
    t->mask = mask;
    return 1;
}

static int task_error(const h5_reader *r, const dtask *t, size_t first, size_t end,
                      mva_error *err)
{
    char where[128];
    size_t C = r->grid_cols;
    if (r->rank == 3)
        snprintf(where, sizeof where, "chunk at (%zu,%zu,0) (rows %zu..%zu, cols %zu..%zu)",
                 t->r0, t->c0, t->r0, t->r1 - 1, t->c0, t->c1 - 1);
    else
        snprintf(where, sizeof where, "chunk at (%zu,0) (pixels %zu..%zu)", t->c0, t->c0,
                 t->c1 - 1);
    return mva_error_set(err, t->code,
                         "%s::%s: reading pixels %zu..%zu (dataset rows %zu..%zu) failed: %s: %s",
                         r->file_name, r->path, first, end - 1, first / C, (end - 1) / C, where,
                         t->why);
}

/* Publishes the tasks as their raw bytes arrive, so that the workers inflate chunk k while
 * this thread reads chunk k+1, then decodes alongside them.  Returns how many tasks ran. */
static size_t run_batch(h5_direct *f, hid_t dset, size_t ntasks, size_t first, size_t end,
                        double *out)
{
    batch *b = &f->b;
    b->first = first;
    b->end = end;
    b->out = out;
    mva_pool_begin(f->pool, run_task, f);
    size_t k;
    for (k = 0; k < ntasks; k++) {
        if (b->tasks[k].cached == NULL && !fetch_raw(f, dset, &b->tasks[k]))
            break;
        mva_pool_publish(f->pool, k + 1);
    }
    mva_pool_finish(f->pool);
    return k;
}

int h5_direct_read(h5_direct *f, const h5_reader *r, size_t first, size_t count, double *out,
                   mva_error *err)
{
    batch *b = &f->b;
    size_t end = first + count, ntasks = 0;
    int nomem = 0;
    if (!plan_tasks(b, &f->grid, first, end, &ntasks))
        return mva_error_set(err, MVA_ENOMEM, "%s::%s: out of memory for the chunk list of "
                             "pixels %zu..%zu", r->file_name, r->path, first, end - 1);
    attach_cache(&f->cache, b->tasks, ntasks);
    if (!size_raw_chunks(f, r->dset, ntasks, &nomem))
        return nomem ? mva_error_set(err, MVA_ENOMEM, "%s::%s: out of memory for the "
                                     "compressed chunks of pixels %zu..%zu",
                                     r->file_name, r->path, first, end - 1)
                     : H5_DIRECT_FALLBACK;
    if (!rotate_cache(&f->cache, b->tasks, ntasks, (end - 1) / f->grid.cols / f->grid.ch_r))
        return mva_error_set(err, MVA_ENOMEM, "%s::%s: out of memory", r->file_name, r->path);
    size_t ran = run_batch(f, r->dset, ntasks, first, end, out);
    int rc = MVA_OK;
    for (size_t k = 0; k < ntasks && rc == MVA_OK; k++)
        if (b->tasks[k].code != MVA_OK)
            rc = task_error(r, &b->tasks[k], first, end, err);
    settle_cache(&f->cache, b->tasks, ntasks, ran);
    return rc;
}
