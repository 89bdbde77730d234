/* The statistics pass (weights, norms, mean, optional Gram) and the starts: NNDSVDa from the
 * Gram's leading eigenvectors, random, or the caller's. */
#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blasctl.h"
#include "igram.h"
#include "internal.h"

int nmf_distributed(const nmf_state *st)
{
    return st->popts != NULL && st->popts->comm != NULL && st->popts->comm->size > 1;
}

int nmf_comm_sum(const nmf_state *st, double *buf, size_t count, mva_error *err)
{
    return nmf_distributed(st) ? mva_comm_sum(st->popts->comm, buf, count, err) : MVA_OK;
}

void nmf_for_runs(const mva_block *b, nmf_run_fn fn, void *self)
{
    for (size_t t = 0; t < b->npix; t++) {
        if (!b->valid[t])
            continue;
        size_t run = 1;
        while (t + run < b->npix && b->valid[t + run] && run < NMF_SUB_ROWS)
            run++;
        fn(self, b->x + t * b->p, b->first + t, run);
        t += run - 1;
    }
}

typedef struct {
    nmf_state *st;
    double *vsum, *wsum, *q; /* p: sum x, sum a x, sum a^2 x^2 per channel */
    double *buf;             /* NMF_SUB_ROWS x p pixel-weighted rows for the Gram */
    double xlogx;
    int exact;               /* integer rows go to ig (no Poisson weights) */
    mva_igram ig;            /* the exact Gram of the counts, added into st->gram */
    const mva_block *blk;    /* the block being consumed (for its variance factors) */
} stats_acc;

static void stats_run(void *self, const double *x, size_t first, size_t nb)
{
    stats_acc *a = self;
    nmf_state *st = a->st;
    size_t p = st->p, ng = 0;
    int kl = st->o->method == MVA_NMF_KL;
    for (size_t r = 0; r < nb; r++) {
        const double *xi = x + r * p;
        double t = 0.0;
        for (size_t j = 0; j < p; j++)
            t += xi[j];
        /* Keenan & Kotula: pixel weight 1/sqrt(variance of the total), the total itself for
         * raw counts, noise * total for a normalised pixel (mva_block.noise); an empty pixel
         * gets 0 and stays 0. */
        const mva_block *b = a->blk;
        t *= b->noise ? b->noise[first + r - b->first] : 1.0;
        double w = st->o->poisson ? (t > 0.0 ? 1.0 / sqrt(t) : 0.0) : 1.0;
        st->pixw[first + r] = w;
        for (size_t j = 0; j < p; j++) {
            a->vsum[j] += xi[j];
            a->wsum[j] += w * xi[j];
            a->q[j] += w * w * xi[j] * xi[j];
        }
        if (kl) /* only KL's objective needs it, and a log per value is not free */
            for (size_t j = 0; j < p; j++)
                if (xi[j] > 0.0)
                    a->xlogx += xi[j] * log(xi[j]);
        if (a->buf == NULL || (a->exact && mva_igram_add(&a->ig, xi)))
            continue;
        for (size_t j = 0; j < p; j++)
            a->buf[ng * p + j] = w * xi[j];
        ng++;
    }
    if (ng) /* Gram of the pixel-weighted rows; channel weights applied after the pass */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)p, (int)ng, 1.0, a->buf,
                    (int)p, 1.0, st->gram, (int)p);
}

static int stats_consume(void *self, const mva_block *b, mva_error *err)
{
    stats_acc *a = self;
    for (size_t t = 0; t < b->npix; t++) {
        a->st->mask[b->first + t] = b->valid[t] ? 0 : 1;
        a->st->pixw[b->first + t] = 0.0;
    }
    a->st->n_valid += b->nvalid;
    if (a->exact && !a->ig.shift_set && b->nvalid) {
        if (mva_igram_shift_from_block(&a->ig, b, NULL, NULL, a->buf) != MVA_OK)
            return mva_error_set(err, MVA_ENOMEM, "NMF statistics: out of memory");
    }
    a->blk = b;
    nmf_for_runs(b, stats_run, a);
    return MVA_OK;
}

static void stats_finish(stats_acc *a)
{
    nmf_state *st = a->st;
    size_t p = st->p;
    double sum = 0.0;
    st->norm_x2 = 0.0;
    for (size_t j = 0; j < p; j++) {
        double c = st->o->poisson ? (a->vsum[j] > 0.0 ? 1.0 / sqrt(a->vsum[j]) : 0.0) : 1.0;
        st->chw[j] = c;
        st->norm_x2 += c * c * a->q[j];
        sum += c * a->wsum[j];
    }
    st->mean_x = st->n_valid ? sum / ((double)st->n_valid * (double)p) : 0.0;
    st->xlogx = a->xlogx;
    if (st->gram)
        for (size_t i = 0; i < p; i++)
            for (size_t j = i; j < p; j++) {
                double g = st->gram[i * p + j] * st->chw[i] * st->chw[j];
                st->gram[i * p + j] = g;
                st->gram[j * p + i] = g;
            }
}

int nmf_stats_pass(mva_stack *s, nmf_state *st, mva_error *err)
{
    size_t p = st->p;
    stats_acc a = {st, calloc(p, sizeof(double)), calloc(p, sizeof(double)),
                   calloc(p, sizeof(double)), NULL, 0.0, 0, {0}, NULL};
    int rc = MVA_OK;
    if (st->gram) {
        a.buf = malloc((size_t)NMF_SUB_ROWS * p * sizeof(double));
        a.exact = !st->o->poisson && mva_igram_init(&a.ig, p, st->gram, 1) == MVA_OK;
    }
    if (!a.vsum || !a.wsum || !a.q || (st->gram && !a.buf)) {
        rc = mva_error_set(err, MVA_ENOMEM, "NMF statistics: out of memory");
        goto done;
    }
    st->n_valid = 0;
    mva_accum acc = {&a, NULL, stats_consume, NULL};
    rc = mva_pass_run(s, &acc, 1, st->popts, err);
    if (rc != MVA_OK)
        goto done;
    st->passes++;
    if (a.exact)
        mva_igram_flush(&a.ig);
    if (nmf_distributed(st)) { /* this process's pixels only so far: sum over the processes */
        double *all = malloc((3 * p + 2) * sizeof *all);
        if (all == NULL) {
            rc = mva_error_set(err, MVA_ENOMEM, "NMF statistics: out of memory");
            goto done;
        }
        memcpy(all, a.vsum, p * sizeof *all);
        memcpy(all + p, a.wsum, p * sizeof *all);
        memcpy(all + 2 * p, a.q, p * sizeof *all);
        all[3 * p] = a.xlogx;
        all[3 * p + 1] = (double)st->n_valid;
        rc = nmf_comm_sum(st, all, 3 * p + 2, err);
        if (rc == MVA_OK && st->gram)
            rc = nmf_comm_sum(st, st->gram, p * p, err);
        if (rc == MVA_OK) {
            memcpy(a.vsum, all, p * sizeof *all);
            memcpy(a.wsum, all + p, p * sizeof *all);
            memcpy(a.q, all + 2 * p, p * sizeof *all);
            a.xlogx = all[3 * p];
            st->n_valid = (size_t)all[3 * p + 1];
        }
        free(all);
        if (rc != MVA_OK)
            goto done;
    }
    if (st->n_valid == 0) {
        rc = mva_error_set(err, MVA_EINVAL, "%s: no valid pixel (every pixel holds NaN/Inf)",
                           mva_stack_get_info(s)->source);
        goto done;
    }
    stats_finish(&a);
done:
    free(a.vsum);
    free(a.wsum);
    free(a.q);
    free(a.buf);
    mva_igram_free(&a.ig);
    return rc;
}

/* ---- NNDSVDa ---------------------------------------------------------------------------- */

typedef struct {
    nmf_state *st;
    const double *vc; /* p x l: c_j V[j][q] */
    double *t;        /* NMF_SUB_ROWS x l */
    double *y;        /* n x l: X~ V; or (l = k) the block's rows of W, from pixel yfirst */
    size_t yfirst;
    size_t l;
} u_acc;

/* Rows of Y = X~ V = a_i X (D_c V): the left singular vectors times the singular values. */
static void u_run(void *self, const double *x, size_t first, size_t nb)
{
    u_acc *a = self;
    size_t p = a->st->p, l = a->l;
    double *y = a->y + (first - a->yfirst) * l;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, (int)l, (int)p, 1.0, x,
                (int)p, a->vc, (int)l, 0.0, a->t, (int)l);
    for (size_t r = 0; r < nb; r++)
        for (size_t q = 0; q < l; q++)
            y[r * l + q] = a->st->pixw[first + r] * a->t[r * l + q];
}

static int u_consume(void *self, const mva_block *b, mva_error *err)
{
    (void)err;
    nmf_for_runs(b, u_run, self);
    return MVA_OK;
}

/* Without the warm start (l = k), Y goes straight into W's rows (excluded pixels: 0). */
static int u_consume_w(void *self, const mva_block *b, mva_error *err)
{
    u_acc *a = self;
    int rc = nmf_w_get(a->st, b->first, b->npix, &a->y, err);
    if (rc != MVA_OK)
        return rc;
    a->yfirst = b->first;
    memset(a->y, 0, b->npix * a->l * sizeof *a->y);
    nmf_for_runs(b, u_run, self);
    return nmf_w_put(a->st, b->first, b->npix, err);
}

/* The k leading eigenpairs of the Gram, descending: v (p x k, column q = pair q), s (k
 * singular values sqrt(max(lambda, 0))). */
static int gram_eigen(nmf_state *st, size_t k, double *v, double *s, mva_error *err)
{
    size_t p = st->p;
    /* dsyevr uses all p entries of w as workspace, whatever the range asked. */
    double *w = malloc(p * sizeof *w), *z = malloc(p * k * sizeof *z);
    lapack_int *isuppz = malloc(2 * k * sizeof *isuppz), m = 0;
    int rc = MVA_OK;
    if (!w || !z || !isuppz) {
        rc = mva_error_set(err, MVA_ENOMEM, "NNDSVDa: out of memory");
        goto done;
    }
    lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)p, st->gram,
                                     (lapack_int)p, 0.0, 0.0, (lapack_int)(p - k + 1),
                                     (lapack_int)p, 0.0, &m, w, z, (lapack_int)k, isuppz);
    if (info != 0 || m != (lapack_int)k) {
        rc = mva_error_set(err, MVA_ENUMERIC, "NNDSVDa: LAPACKE_dsyevr failed (info %d)",
                           (int)info);
        goto done;
    }
    /* dsyevr returns ascending eigenvalues: pair q is column k - 1 - q. */
    for (size_t q = 0; q < k; q++) {
        s[q] = sqrt(w[k - 1 - q] > 0.0 ? w[k - 1 - q] : 0.0);
        for (size_t j = 0; j < p; j++)
            v[j * k + q] = z[j * k + (k - 1 - q)];
    }
done:
    free(w);
    free(z);
    free(isuppz);
    return rc;
}

/* NNDSVDa on W = Y = X~ V (n x k, U S), by sweeps over W's rows: first the squared norms of
 * the positive and negative parts of each u_q = y_q / s_q, then every entry mapped. */
typedef struct {
    nmf_state *st;
    double *inv;  /* k: 1 / s_q (0 for s_q = 0) */
    double *sq;   /* 2k: |u_q+|^2, |u_q-|^2 */
    int *pos;     /* k: the part kept */
    double *lbd;  /* k: sqrt(s_q sigma_q) */
    double *nu;   /* k: |u_q part| (1 for q = 0) */
} nndsvd_sweep;

static int nndsvd_squares(void *self, double *rows, size_t first, size_t count, mva_error *err)
{
    (void)first;
    (void)err;
    nndsvd_sweep *a = self;
    size_t k = a->st->k;
    for (size_t i = 0; i < count; i++)
        for (size_t q = 0; q < k; q++) {
            double u = rows[i * k + q] * a->inv[q];
            a->sq[2 * q + (u > 0.0 ? 0 : 1)] += u * u;
        }
    return MVA_OK;
}

/* Boutsidis & Gallopoulos 2008's map, with NNDSVDa's fill: entries below 1e-6 (scikit-learn's
 * eps) become the mean of X~; excluded pixels 0. */
static int nndsvd_map(void *self, double *rows, size_t first, size_t count, mva_error *err)
{
    (void)err;
    nndsvd_sweep *a = self;
    nmf_state *st = a->st;
    size_t k = st->k;
    for (size_t i = 0; i < count; i++)
        for (size_t q = 0; q < k; q++) {
            double *w = rows + i * k + q, u = *w * a->inv[q];
            u = q == 0 ? fabs(u) : (a->pos[q] ? fmax(u, 0.0) : fmax(-u, 0.0));
            u = a->nu[q] > 0.0 ? a->lbd[q] * u / a->nu[q] : 0.0;
            *w = st->mask[first + i] ? 0.0 : (u < 1e-6 ? st->mean_x : u);
        }
    return MVA_OK;
}

/* Boutsidis & Gallopoulos 2008, as scikit-learn's _initialize_nmf: component q from the
 * dominant sign part of (u_q, v_q), scaled by sqrt(s_q * |u_part| |v_part|).  W holds
 * X~ V = U S on entry; v is p x k, s the k singular values. */
static int nndsvda_start(nmf_state *st, const double *v, const double *s, mva_error *err)
{
    size_t n = st->n, p = st->p, k = st->k;
    nndsvd_sweep a = {st, calloc(k, sizeof(double)), calloc(2 * k, sizeof(double)),
                      calloc(k, sizeof(int)), calloc(k, sizeof(double)),
                      calloc(k, sizeof(double))};
    int rc = MVA_OK;
    if (!a.inv || !a.sq || !a.pos || !a.lbd || !a.nu) {
        rc = mva_error_set(err, MVA_ENOMEM, "NNDSVDa: out of memory");
        goto done;
    }
    for (size_t q = 0; q < k; q++)
        a.inv[q] = s[q] > 0.0 ? 1.0 / s[q] : 0.0;
    /* u_q over this process's pixels (W is 0 elsewhere), summed over the processes */
    rc = nmf_w_sweep(st, 0, n, 0, nndsvd_squares, &a, err);
    if (rc == MVA_OK)
        rc = nmf_comm_sum(st, a.sq, 2 * k, err);
    for (size_t q = 0; rc == MVA_OK && q < k; q++) {
        double *hq = st->H + q * p, vsq[2] = {0.0, 0.0};
        for (size_t j = 0; j < p; j++) {
            hq[j] = v[j * k + q];
            vsq[hq[j] > 0.0 ? 0 : 1] += hq[j] * hq[j];
        }
        double up = sqrt(a.sq[2 * q]), un = sqrt(a.sq[2 * q + 1]);
        double vp = sqrt(vsq[0]), vn = sqrt(vsq[1]);
        int pos = q == 0 || up * vp > un * vn;
        double sigma = q == 0 ? 1.0 : (pos ? up * vp : un * vn);
        double nu = q == 0 ? 1.0 : (pos ? up : un), nv = q == 0 ? 1.0 : (pos ? vp : vn);
        double lbd = sqrt(s[q] * sigma);
        a.pos[q] = pos;
        a.lbd[q] = lbd;
        a.nu[q] = nu;
        for (size_t j = 0; j < p; j++) {
            double h = q == 0 ? fabs(hq[j]) : (pos ? fmax(hq[j], 0.0) : fmax(-hq[j], 0.0));
            h = nv > 0.0 ? lbd * h / nv : 0.0;
            hq[j] = h < 1e-6 ? st->mean_x : h;
        }
    }
    if (rc == MVA_OK)
        rc = nmf_w_sweep(st, 0, n, 1, nndsvd_map, &a, err);
done:
    free(a.inv);
    free(a.sq);
    free(a.pos);
    free(a.lbd);
    free(a.nu);
    return rc;
}

/* Basis vectors kept for the compressed warm start: k plus a margin that holds most of what
 * the k components miss (Erichson et al. 2018 use oversampling of the same order). */
static size_t basis_size(const nmf_state *st)
{
    /* Not distributed (yet): several processes skip the warm start, as compressed_iter 0; nor
     * with W in the scratch file: Y (n x l) would not fit either. */
    size_t l = 2 * st->k + 10 < st->p ? 2 * st->k + 10 : st->p;
    if (st->o->compressed_iter == 0 || st->o->method != MVA_NMF_HALS || nmf_distributed(st) ||
        st->wfile != NULL || st->n > st->budget / sizeof(double) / l)
        return st->k;
    return l;
}

static int copy_y(void *self, double *rows, size_t first, size_t count, mva_error *err)
{
    (void)err;
    const u_acc *a = self;
    size_t k = a->st->k;
    for (size_t i = 0; i < count; i++)
        memcpy(rows + i * k, a->y + (first + i) * a->l, k * sizeof *rows);
    return MVA_OK;
}

static int init_nndsvda(mva_stack *s, nmf_state *st, mva_error *err)
{
    size_t p = st->p, k = st->k, n = st->n, l = basis_size(st);
    double *v = malloc(p * l * sizeof *v), *sv = malloc(l * sizeof *sv);
    double *vk = malloc(p * k * sizeof *vk), *y = l > k ? calloc(n * l, sizeof *y) : NULL;
    double *t = malloc((size_t)NMF_SUB_ROWS * l * sizeof *t);
    int rc = MVA_OK;
    if (!v || !sv || !vk || (l > k && !y) || !t) {
        rc = mva_error_set(err, MVA_ENOMEM, "NNDSVDa: out of memory");
        goto done;
    }
    rc = gram_eigen(st, l, v, sv, err);
    if (rc != MVA_OK)
        goto done;
    free(st->gram); /* p x p no longer needed: give the memory back before the passes */
    st->gram = NULL;
    /* v becomes D_c V for the product; the plain V is rebuilt from it below. */
    for (size_t j = 0; j < p; j++)
        for (size_t q = 0; q < l; q++)
            v[j * l + q] *= st->chw[j];
    u_acc a = {st, v, t, y, 0, l};
    mva_accum acc = {&a, NULL, y ? u_consume : u_consume_w, NULL};
    int threads = mva_blas_leave_reader_a_core();
    rc = mva_pass_run(s, &acc, 1, st->popts, err);
    mva_blas_restore(threads);
    if (rc != MVA_OK)
        goto done;
    st->passes++;
    for (size_t j = 0; j < p; j++)
        for (size_t q = 0; q < l; q++) {
            v[j * l + q] = st->chw[j] > 0.0 ? v[j * l + q] / st->chw[j] : 0.0;
            if (q < k)
                vk[j * k + q] = v[j * l + q];
        }
    if (y) {
        a.y = y;
        rc = nmf_w_sweep(st, 0, n, 1, copy_y, &a, err);
    }
    if (rc == MVA_OK)
        rc = nndsvda_start(st, vk, sv, err);
    if (rc == MVA_OK && y)
        rc = nmf_compressed_hals(st, y, v, l, err);
done:
    free(v);
    free(sv);
    free(vk);
    free(y);
    free(t);
    return rc;
}

/* W's rows from the start's stream (after H), excluded pixels 0. */
typedef struct {
    nmf_state *st;
    nmf_rng *rng;
    double scale;
} rand_sweep;

static int random_rows(void *self, double *rows, size_t first, size_t count, mva_error *err)
{
    (void)err;
    rand_sweep *a = self;
    size_t k = a->st->k;
    nmf_rng_abs_gaussian(a->rng, rows, count * k, a->scale);
    for (size_t i = 0; i < count; i++)
        if (a->st->mask[first + i])
            memset(rows + i * k, 0, k * sizeof *rows);
    return MVA_OK;
}

static int init_random(nmf_state *st, mva_error *err)
{
    /* scikit-learn's scale: W H then has the mean of X~. */
    rand_sweep a = {st, nmf_rng_new(st->o->seed), sqrt(st->mean_x / (double)st->k)};
    if (a.rng == NULL)
        return mva_error_set(err, MVA_ENOMEM, "NMF random start: out of memory");
    nmf_rng_abs_gaussian(a.rng, st->H, st->k * st->p, a.scale);
    int rc = nmf_w_sweep(st, 0, st->n, 1, random_rows, &a, err);
    nmf_rng_free(a.rng);
    return rc;
}

static int custom_rows(void *self, double *rows, size_t first, size_t count, mva_error *err)
{
    (void)err;
    const nmf_state *st = self;
    size_t k = st->k;
    for (size_t i = 0; i < count; i++) {
        if (st->mask[first + i])
            memset(rows + i * k, 0, k * sizeof *rows);
        else
            memcpy(rows + i * k, st->o->w_init + (first + i) * k, k * sizeof *rows);
    }
    return MVA_OK;
}

static int init_custom(nmf_state *st, mva_error *err)
{
    const mva_nmf_opts *o = st->o;
    size_t nw = st->n * st->k, nh = st->k * st->p;
    for (size_t e = 0; e < nw; e++)
        if (!(o->w_init[e] >= 0.0) || !isfinite(o->w_init[e]))
            return mva_error_set(err, MVA_EINVAL, "NMF start: w_init[%zu] = %g is not a finite "
                                 "non-negative number", e, o->w_init[e]);
    for (size_t e = 0; e < nh; e++)
        if (!(o->h_init[e] >= 0.0) || !isfinite(o->h_init[e]))
            return mva_error_set(err, MVA_EINVAL, "NMF start: h_init[%zu] = %g is not a finite "
                                 "non-negative number", e, o->h_init[e]);
    memcpy(st->H, o->h_init, nh * sizeof *st->H);
    return nmf_w_sweep(st, 0, st->n, 1, custom_rows, st, err);
}

int nmf_init(mva_stack *s, nmf_state *st, mva_error *err)
{
    switch (st->o->init) {
    case MVA_NMF_INIT_NNDSVDA: return init_nndsvda(s, st, err);
    case MVA_NMF_INIT_RANDOM: return init_random(st, err);
    default: return init_custom(st, err);
    }
}
