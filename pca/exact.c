/*
 * Exact PCA, streamed in two passes.
 *
 * Pass 1 (covariance) has two accumulators, and each row goes to one of them:
 *
 * - Integer rows (counts: every variable an integer once shifted by an integer vector mu0, the
 *   rounded mean of the first rows): d = x - mu0 is multiplied out in single precision with
 *   ssyrk, twice as fast as dsyrk and *exact*: the Gram entries and every partial sum the
 *   kernel forms are integers bounded by max_j sum d_j^2 (Cauchy-Schwarz), and we keep that
 *   bound <= 2^24, where every integer is a float.  Before a row would break it the float Gram
 *   is added to a double one (exact integers up to 2^53) and restarted.  The result,
 *   G = sum d d^T and s = sum d, are exact; the centred Gram G - s s^T / n then costs one
 *   rounding per entry, on a term of the size of the spread of the counts around mu0.
 * - Other rows (non-integer data, |d| > 4096, Poisson-weighted rows): centred on their
 *   sub-block mean and multiplied out with dsyrk; each sub-block's centred Gram is merged into
 *   the running one with Chan, Golub & LeVeque's pairwise update (1979):
 *   M2 += G_b + (n_a n_b / (n_a + n_b)) d d^T,  d = mean_b - mean_a.
 *
 * Neither ever forms X^T X - n mu mu^T, which loses every digit the counts share; the two are
 * merged the same way at the end of the pass.
 * The Poisson variable weights 1/sqrt(variable total) need the whole pass, but they scale the
 * covariance on both sides, Cov(D P C) = C Cov(P D) C, so they are applied after it.
 * Eigen-decomposition: LAPACK (dsytrd, dsterf, dstemr, dormtr).  The scores pass is shared
 * with the randomized method (pca/common.c).
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mva/pca.h"
#include "internal.h"

/* Largest integer up to which every integer is a float: the bound of the exact path. */
#define FLT_EXACT 16777216.0

typedef struct {
    const pca_vars *v;
    int poisson;
    size_t n;          /* pixels merged so far (Chan path) */
    double *mean;      /* p, running mean of the (pixel-weighted) variables */
    double *m2;        /* p x p, running centred Gram (upper triangle); NULL until needed */
    double *vsum;      /* p, sum of the unweighted variables (channel totals) */
    double *pix_w;     /* n map pixels: Poisson pixel weight, or NULL */
    double *w;         /* PCA_SUB_ROWS x p work rows */
    double *bmean;     /* p */
    /* the exact integer path (not under Poisson scaling) */
    int int_path;
    size_t n_int;      /* rows taken */
    int mu0_set;
    double *mu0;       /* p integer shift: the rounded mean of the first sub-block */
    double *g;         /* p x p: sum of d d^T, d = row - mu0, exact (upper triangle) */
    float *f;          /* p x p: the same since the last flush (upper triangle) */
    int f_fresh;       /* f holds nothing: the next ssyrk overwrites it */
    double fbound;     /* bound of every |entry| of f, pending rows included */
    double *dsum;      /* p: sum of d */
    float *fw;         /* PCA_SUB_ROWS x p rows waiting for ssyrk */
    size_t nf;
    size_t nw;         /* rows in w waiting for merge_rows */
} cov_acc;

/* Centres the nb rows in c->w on their mean and merges their Gram into the running one. */
static int merge_rows(cov_acc *c, size_t nb)
{
    size_t p = c->v->p;
    if (c->m2 == NULL && (c->m2 = calloc(p * p, sizeof *c->m2)) == NULL)
        return MVA_ENOMEM;
    memset(c->bmean, 0, p * sizeof *c->bmean);
    for (size_t r = 0; r < nb; r++)
        for (size_t j = 0; j < p; j++)
            c->bmean[j] += c->w[r * p + j];
    for (size_t j = 0; j < p; j++)
        c->bmean[j] /= (double)nb;
    for (size_t r = 0; r < nb; r++)
        for (size_t j = 0; j < p; j++)
            c->w[r * p + j] -= c->bmean[j];
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)p, (int)nb, 1.0, c->w, (int)p,
                1.0, c->m2, (int)p);
    /* Chan et al. merge of (n, mean, m2) with (nb, bmean, G_b). */
    double na = (double)c->n, nbd = (double)nb, ntot = na + nbd;
    for (size_t j = 0; j < p; j++)
        c->bmean[j] -= c->mean[j]; /* now d = mean_b - mean_a */
    if (c->n > 0)
        cblas_dsyr(CblasRowMajor, CblasUpper, (int)p, na * nbd / ntot, c->bmean, 1, c->m2,
                   (int)p);
    for (size_t j = 0; j < p; j++)
        c->mean[j] += c->bmean[j] * (nbd / ntot);
    c->n += nb;
    return MVA_OK;
}

enum { ROW_TAKEN, ROW_FULL, ROW_NOT_INTEGER };

/*
 * Row x shifted by mu0 into out (floats).  ROW_TAKEN (and fbound, dsum updated) if every d_j
 * is an integer and fbound + max_j d_j^2 <= FLT_EXACT; ROW_FULL if it would fit after a flush;
 * ROW_NOT_INTEGER if never.  fbound = sum over the rows of max_j d_j^2 bounds every partial
 * sum of |d_j d_k| (|d_j d_k| <= max(d_j^2, d_k^2)).
 */
static int int_row(cov_acc *c, const double *x, float *out)
{
    const double round = 6755399441055744.0; /* 1.5 * 2^52: (d + round) - round = rint(d) */
    size_t p = c->v->p;
    const double *mu0 = c->mu0;
    double big = 0.0;
    int fraction = 0;
    for (size_t j = 0; j < p; j++) {
        double d = x[j] - mu0[j], q = d * d;
        fraction |= (d + round) - round != d; /* also catches NaN */
        big = q > big ? q : big;
        out[j] = (float)d;
    }
    if (fraction || big > FLT_EXACT)
        return ROW_NOT_INTEGER;
    if (c->fbound + big > FLT_EXACT)
        return ROW_FULL;
    c->fbound += big;
    double *dsum = c->dsum;
    for (size_t j = 0; j < p; j++)
        dsum[j] += out[j];
    return ROW_TAKEN;
}

/* The pending float rows into f. */
static void int_syrk(cov_acc *c)
{
    size_t p = c->v->p;
    if (c->nf == 0)
        return;
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)p, (int)c->nf, 1.0f, c->fw,
                (int)p, c->f_fresh ? 0.0f : 1.0f, c->f, (int)p);
    c->f_fresh = 0;
    c->nf = 0;
}

/* f into g, and f restarts empty. */
static void int_flush(cov_acc *c)
{
    size_t p = c->v->p;
    int_syrk(c);
    if (!c->f_fresh)
        for (size_t i = 0; i < p; i++)
            for (size_t j = i; j < p; j++)
                c->g[i * p + j] += c->f[i * p + j];
    c->f_fresh = 1;
    c->fbound = 0.0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The integer shift: per variable, the rounded median of up to SHIFT_SAMPLE valid pixels
 * spread over the block (0 where not finite): one bright or dead pixel cannot move it. */
#define SHIFT_SAMPLE 63
static int int_set_shift(cov_acc *c, const mva_block *b)
{
    size_t p = c->v->p, ns = b->nvalid < SHIFT_SAMPLE ? b->nvalid : SHIFT_SAMPLE;
    size_t step = b->nvalid / ns, seen = 0, taken = 0;
    double *col = malloc(ns * sizeof *col);
    if (col == NULL)
        return MVA_ENOMEM;
    for (size_t t = 0; t < b->npix && taken < ns; t++) /* sample rows into c->w */
        if (b->valid[t] && seen++ % step == 0)
            pca_vars_apply(c->v, b->x + t * b->p, c->w + taken++ * p);
    for (size_t j = 0; j < p; j++) {
        for (size_t r = 0; r < ns; r++)
            col[r] = c->w[r * p + j];
        qsort(col, ns, sizeof *col, cmp_double);
        double m = col[ns / 2];
        c->mu0[j] = isfinite(m) && fabs(m) < 1e15 ? nearbyint(m) : 0.0;
    }
    free(col);
    c->mu0_set = 1;
    return MVA_OK;
}

/* One pixel's variables x: onto the exact path, or into the rows for merge_rows (with their
 * channel totals: the exact path's come from mu0 and dsum at the end). */
static int int_pixel(cov_acc *c, const double *x)
{
    size_t p = c->v->p;
    int st = int_row(c, x, c->fw + c->nf * p);
    if (st == ROW_FULL) {
        int_flush(c);
        st = int_row(c, x, c->fw);
    }
    if (st == ROW_TAKEN) {
        c->n_int++;
        if (++c->nf == PCA_SUB_ROWS)
            int_syrk(c);
        return MVA_OK;
    }
    double *row = c->w + c->nw * p;
    if (row != x)
        memcpy(row, x, p * sizeof *x);
    for (size_t j = 0; j < p; j++)
        c->vsum[j] += row[j];
    if (++c->nw < PCA_SUB_ROWS)
        return MVA_OK;
    c->nw = 0;
    return merge_rows(c, PCA_SUB_ROWS);
}

static int cov_consume(void *self, const mva_block *b, mva_error *err)
{
    cov_acc *c = self;
    size_t p = c->v->p, nb = 0;
    int rc = MVA_OK;
    if (c->int_path && !c->mu0_set && b->nvalid)
        rc = int_set_shift(c, b);
    for (size_t t = 0; t < b->npix && rc == MVA_OK; t++) {
        if (!b->valid[t])
            continue;
        if (c->int_path) {
            const double *x = b->x + t * b->p + c->v->c0;
            if (!c->v->identity) {
                x = c->w + c->nw * p;
                pca_vars_apply(c->v, b->x + t * b->p, c->w + c->nw * p);
            }
            rc = int_pixel(c, x);
            continue;
        }
        double w = pca_load_row(c->v, c->poisson, b->x + t * b->p, c->w + nb * p, c->vsum);
        if (c->pix_w)
            c->pix_w[b->first + t] = w;
        if (++nb == PCA_SUB_ROWS) {
            rc = merge_rows(c, nb);
            nb = 0;
        }
    }
    if (rc == MVA_OK && nb)
        rc = merge_rows(c, nb);
    if (rc != MVA_OK)
        return mva_error_set(err, rc, "out of memory for a %zu x %zu covariance matrix", p, p);
    return MVA_OK;
}

/*
 * The end of the exact path: G and s into the centred Gram M = G - s s^T / n and the mean
 * mu0 + s / n, then Chan et al.'s merge with the other rows' (n, mean, m2), into c.
 */
static int int_finish(cov_acc *c)
{
    size_t p = c->v->p;
    if (!c->int_path)
        return MVA_OK;
    if (c->nw && merge_rows(c, c->nw) != MVA_OK)
        return MVA_ENOMEM;
    c->nw = 0;
    int_flush(c);
    for (size_t j = 0; j < p; j++)
        c->vsum[j] += (double)c->n_int * c->mu0[j] + c->dsum[j];
    if (c->n_int == 0) {
        free(c->g);
        c->g = NULL;
        return MVA_OK;
    }
    double ni = (double)c->n_int;
    for (size_t i = 0; i < p; i++) {
        double si = c->dsum[i] / ni;
        for (size_t j = i; j < p; j++)
            c->g[i * p + j] -= si * c->dsum[j];
    }
    double na = (double)c->n, ntot = na + ni;
    for (size_t j = 0; j < p; j++) /* d = mean_int - mean_a */
        c->bmean[j] = c->mu0[j] + c->dsum[j] / ni - c->mean[j];
    if (c->n > 0) {
        for (size_t i = 0; i < p; i++)
            for (size_t j = i; j < p; j++)
                c->g[i * p + j] += c->m2[i * p + j];
        cblas_dsyr(CblasRowMajor, CblasUpper, (int)p, na * ni / ntot, c->bmean, 1, c->g,
                   (int)p);
    }
    for (size_t j = 0; j < p; j++)
        c->mean[j] += c->bmean[j] * (ni / ntot);
    free(c->m2);
    c->m2 = c->g;
    c->g = NULL;
    c->n += c->n_int;
    return MVA_OK;
}

/*
 * Several processes (each with its own slab of pixels): Chan et al.'s merge once more, over
 * the processes, with the global mean,
 *   n = sum n_r,  mean = sum n_r mean_r / n,  M2 = sum M2_r + sum n_r e_r e_r^T,
 *   e_r = mean_r - mean,
 * every sum in rank order on every process, so all of them hold the same matrix.  Only
 * differences of means are squared: no cancellation of raw moments.  Sends (1 + p) + p^2 + p
 * doubles per process.
 */
static int cov_reduce(cov_acc *c, const mva_comm *comm, mva_error *err)
{
    if (comm == NULL || comm->size <= 1)
        return MVA_OK;
    size_t p = c->v->p, len = p + 1;
    double *off = NULL, ntot = 0;
    double n_int = (double)c->n_int;
    int rc = mva_comm_sum(comm, c->m2, p * p, err);
    if (rc == MVA_OK)
        rc = mva_comm_sum(comm, &n_int, 1, err);
    c->n_int = (size_t)n_int;
    if (rc == MVA_OK)
        rc = mva_comm_sum(comm, c->vsum, p, err);
    if (rc == MVA_OK)
        rc = pca_comm_means(comm, c->n, c->mean, p, &off, &ntot, err);
    for (size_t r = 0; rc == MVA_OK && r < (size_t)comm->size; r++) {
        double nr = off[r * len];
        if (nr > 0)
            cblas_dsyr(CblasRowMajor, CblasUpper, (int)p, nr, off + r * len + 1, 1, c->m2,
                       (int)p);
    }
    if (rc == MVA_OK)
        c->n = (size_t)ntot;
    free(off);
    return rc;
}

/* Pass 1: the covariance (in c->m2, unnormalised) and, in the same pass, the extra
 * accumulators. */
static int run_cov_pass(mva_stack *s, cov_acc *c, mva_pca_model *m, const mva_accum *extra,
                        size_t nextra, const mva_pass_opts *popts, mva_error *err)
{
    size_t p = c->v->p, pp;
    if (mva_size_mul(p, p, &pp) != MVA_OK || pp > SIZE_MAX / sizeof(double))
        return mva_error_set(err, MVA_ERANGE, "%zu variables: covariance too large", p);
    c->mean = calloc(p, sizeof(double));
    c->vsum = calloc(p, sizeof(double));
    c->w = malloc((size_t)PCA_SUB_ROWS * p * sizeof(double));
    c->bmean = malloc(p * sizeof(double));
    int ok = c->mean && c->vsum && c->w && c->bmean;
    if (ok && c->int_path) {
        c->mu0 = malloc(p * sizeof(double));
        c->g = calloc(pp, sizeof(double));
        c->f = malloc(pp * sizeof(float));
        c->f_fresh = 1;
        c->dsum = calloc(p, sizeof(double));
        c->fw = malloc((size_t)PCA_SUB_ROWS * p * sizeof(float));
        ok = c->mu0 && c->g && c->f && c->dsum && c->fw;
    } else if (ok) {
        ok = (c->m2 = calloc(pp, sizeof(double))) != NULL;
    }
    if (!ok)
        return mva_error_set(err, MVA_ENOMEM,
                             "out of memory for a %zu x %zu covariance matrix", p, p);
    c->pix_w = m->pix_weight;
    mva_accum acc = {c, NULL, cov_consume, NULL};
    int rc = pca_run_pass(s, acc, extra, nextra, popts, err);
    if (rc == MVA_OK && int_finish(c) != MVA_OK)
        rc = mva_error_set(err, MVA_ENOMEM, "out of memory for a %zu x %zu covariance matrix",
                           p, p);
    if (rc == MVA_OK && c->m2 == NULL && (c->m2 = calloc(pp, sizeof(double))) == NULL)
        rc = mva_error_set(err, MVA_ENOMEM, "out of memory for a %zu x %zu covariance matrix",
                           p, p);
    if (rc == MVA_OK && popts)
        rc = cov_reduce(c, popts->comm, err);
    return rc;
}

/* Normalises c->m2 into the covariance of the scaled data, applies the Poisson variable
 * weights, and fills mean, scaled_mean, var_weight, total_variance. */
static void finish_cov(cov_acc *c, mva_pca_model *m)
{
    size_t p = m->p;
    double inv = 1.0 / (double)(c->n - 1);
    pca_set_means(m, c->vsum, c->mean, c->n);
    double trace = 0.0;
    for (size_t i = 0; i < p; i++) {
        double wi = m->var_weight ? m->var_weight[i] : 1.0;
        for (size_t j = i; j < p; j++) {
            double wj = m->var_weight ? m->var_weight[j] : 1.0;
            c->m2[i * p + j] *= inv * wi * wj;
        }
        trace += c->m2[i * p + i];
    }
    m->total_variance = trace;
}

/*
 * Eigen-decomposition of the covariance, the way LAPACK's dsyevr does it, unrolled so that
 * the one expensive step is done once: dsytrd reduces the matrix to tridiagonal form in place
 * (Q kept as reflectors), dsterf gives all p eigenvalues (for the scree), dstemr (MRRR, as in
 * dsyevr) the k leading eigenvectors of the tridiagonal matrix, and dormtr maps them back.
 * One reduction instead of two (eigenvalues, then vectors) and no p x p copy: the row-major
 * upper triangle is handed to LAPACK as the column-major lower one, which LAPACKE passes
 * through without the transposed copy it makes for row-major input.
 */
static int eigen(double *cov, mva_pca_model *m, const mva_pca_opts *o, double *comp_w,
                 mva_error *err)
{
    lapack_int p = (lapack_int)m->p, k, found = 0, tryrac = 1, info;
    size_t pz = m->p;
    double *d = malloc(pz * sizeof *d), *e = malloc(pz * sizeof *e);
    double *d2 = malloc(pz * sizeof *d2), *e2 = malloc(pz * sizeof *e2);
    double *tau = malloc(pz * sizeof *tau), *w = malloc(pz * sizeof *w);
    double *z = malloc(pz * m->k * sizeof *z);
    lapack_int *isuppz = malloc(2 * m->k * sizeof *isuppz);
    int rc = MVA_OK;
    if (!d || !e || !d2 || !e2 || !tau || !w || !z || !isuppz) {
        rc = mva_error_set(err, MVA_ENOMEM, "out of memory for the eigen-decomposition");
        goto done;
    }
    info = LAPACKE_dsytrd(LAPACK_COL_MAJOR, 'L', p, cov, p, d, e, tau);
    if (info != 0) {
        rc = mva_error_set(err, MVA_ENUMERIC, "LAPACKE_dsytrd failed (info %d)", (int)info);
        goto done;
    }
    memcpy(d2, d, pz * sizeof *d);
    memcpy(e2, e, (pz - 1) * sizeof *e);
    info = LAPACKE_dsterf(p, d2, e2);
    if (info != 0) {
        rc = mva_error_set(err, MVA_ENUMERIC, "LAPACKE_dsterf failed (info %d)", (int)info);
        goto done;
    }
    for (size_t j = 0; j < pz; j++) { /* ascending from LAPACK */
        m->eigenvalues[j] = d2[pz - 1 - j];
        m->explained[j] = m->total_variance > 0 ? m->eigenvalues[j] / m->total_variance : 0;
    }
    pca_select_k(m, o); /* all eigenvalues known: the rule may lower k */
    k = (lapack_int)m->k;
    e[pz - 1] = 0.0;
    info = LAPACKE_dstemr(LAPACK_COL_MAJOR, 'V', 'I', p, d, e, 0.0, 0.0, p - k + 1, p, &found,
                          w, z, p, k, isuppz, &tryrac);
    if (info == 0 && found == k)
        info = LAPACKE_dormtr(LAPACK_COL_MAJOR, 'L', 'L', 'N', p, k, cov, p, tau, z, p);
    if (info != 0 || found != k) {
        rc = mva_error_set(err, MVA_ENUMERIC, "LAPACK eigenvectors failed (info %d, %d of %d)",
                           (int)info, (int)found, (int)k);
        goto done;
    }
    for (size_t q = 0; q < m->k; q++)
        pca_orient_component(m, z + (m->k - 1 - q) * pz, q, comp_w);
done:
    free(d);
    free(e);
    free(d2);
    free(e2);
    free(tau);
    free(w);
    free(z);
    free(isuppz);
    return rc;
}

static void cov_free(cov_acc *c)
{
    free(c->mean);
    free(c->m2);
    free(c->vsum);
    free(c->w);
    free(c->bmean);
    free(c->mu0);
    free(c->g);
    free(c->f);
    free(c->dsum);
    free(c->fw);
    memset(c, 0, sizeof *c);
}

int pca_fit_exact(mva_stack *s, const pca_vars *v, const mva_pca_opts *o, mva_pca_model *m,
                  const mva_accum *extra, size_t nextra, const mva_pass_opts *popts,
                  double *comp_w, mva_error *err)
{
    cov_acc c;
    memset(&c, 0, sizeof c);
    c.v = v;
    c.poisson = o->poisson;
    c.int_path = !o->poisson;
    int rc = run_cov_pass(s, &c, m, extra, nextra, popts, err);
    if (rc == MVA_OK) {
        m->n_valid = c.n;
        m->n_exact = c.n_int;
        if (c.n < 2)
            rc = mva_error_set(err, MVA_EINVAL, "%s: PCA needs at least 2 valid pixels, found "
                               "%zu (the others hold NaN or Inf)",
                               mva_stack_get_info(s)->source, c.n);
    }
    if (rc == MVA_OK) {
        m->passes = 1;
        finish_cov(&c, m);
        rc = eigen(c.m2, m, o, comp_w, err);
    }
    cov_free(&c);
    return rc;
}
