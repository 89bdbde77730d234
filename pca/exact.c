/*
 * Exact PCA, streamed in two passes.
 *
 * Pass 1 (covariance): each block's valid pixels are mapped to variables, optionally
 * Poisson-weighted per pixel, centred on the block mean and multiplied out with dsyrk; the
 * block's centred Gram is merged into the running one with Chan, Golub & LeVeque's pairwise
 * update (1979):  M2 += G_b + (n_a n_b / (n_a + n_b)) d d^T,  d = mean_b - mean_a.
 * This never forms X^T X - n mu mu^T, which loses every digit the counts share.
 * The Poisson variable weights 1/sqrt(variable total) need the whole pass, but they scale the
 * covariance on both sides, Cov(D P C) = C Cov(P D) C, so they are applied after it.
 * Eigen-decomposition: LAPACK (dsytrd, dsterf, dstemr, dormtr).  Pass 2 (scores): dgemm of the scaled, centred block
 * with the k eigenvectors.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mva/pca.h"
#include "vars.h"

/* Rows per dsyrk call: large enough for BLAS-3 speed, small enough to keep the work buffer
 * to a few MB whatever the block size. */
#define SUB_ROWS 512

typedef struct {
    const pca_vars *v;
    int poisson;
    size_t n;          /* pixels merged so far */
    double *mean;      /* p, running mean of the (pixel-weighted) variables */
    double *m2;        /* p x p, running centred Gram (upper triangle) */
    double *vsum;      /* p, sum of the unweighted variables (channel totals) */
    double *pix_w;     /* n map pixels: Poisson pixel weight, or NULL */
    double *w;         /* SUB_ROWS x p work rows */
    double *bmean;     /* p */
} cov_acc;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Variables of pixel x, weighted by 1/sqrt(total) under Poisson scaling; returns the weight
 * (1 without scaling) and adds the unweighted variables to vsum. */
static double load_row(const pca_vars *v, int poisson, const double *x, double *row,
                       double *vsum)
{
    pca_vars_apply(v, x, row);
    double t = 0.0;
    for (size_t j = 0; j < v->p; j++) {
        vsum[j] += row[j];
        t += row[j];
    }
    if (!poisson)
        return 1.0;
    double w = t > 0.0 ? 1.0 / sqrt(t) : 0.0; /* empty pixel: weight 0, stays finite */
    for (size_t j = 0; j < v->p; j++)
        row[j] *= w;
    return w;
}

/* Centres the nb rows in c->w on their mean and merges their Gram into the running one. */
static void merge_rows(cov_acc *c, size_t nb)
{
    size_t p = c->v->p;
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
}

static int cov_consume(void *self, const mva_block *b, mva_error *err)
{
    (void)err;
    cov_acc *c = self;
    size_t p = c->v->p, nb = 0;
    for (size_t t = 0; t < b->npix; t++) {
        if (!b->valid[t])
            continue;
        double w = load_row(c->v, c->poisson, b->x + t * b->p, c->w + nb * p, c->vsum);
        if (c->pix_w)
            c->pix_w[b->first + t] = w;
        if (++nb == SUB_ROWS) {
            merge_rows(c, nb);
            nb = 0;
        }
    }
    if (nb)
        merge_rows(c, nb);
    return MVA_OK;
}

typedef struct {
    const pca_vars *v;
    const mva_pca_model *m;
    const double *comp_w;  /* k x p eigenvectors of the scaled covariance */
    size_t n;
    double *u, *s;         /* SUB_ROWS x p scaled rows, SUB_ROWS x k scores */
    size_t *idx;           /* SUB_ROWS pixel indices */
} score_acc;

/* Scores of the nb rows in a->u, un-weighted, scattered into the k x n eigenimages. */
static void score_rows(score_acc *a, size_t nb)
{
    const mva_pca_model *m = a->m;
    size_t p = m->p, k = m->k;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)k, (int)p, 1.0, a->u,
                (int)p, a->comp_w, (int)p, 0.0, a->s, (int)k);
    for (size_t r = 0; r < nb; r++) {
        size_t i = a->idx[r];
        /* Un-weight: multiply by sqrt(pixel total) = 1/w, 0 for an empty pixel. */
        double unw = 1.0;
        if (m->pix_weight)
            unw = m->pix_weight[i] > 0.0 ? 1.0 / m->pix_weight[i] : 0.0;
        for (size_t q = 0; q < k; q++)
            m->scores[q * a->n + i] = a->s[r * k + q] * unw;
    }
}

static int score_consume(void *self, const mva_block *b, mva_error *err)
{
    (void)err;
    score_acc *a = self;
    const mva_pca_model *m = a->m;
    size_t p = m->p, nb = 0;
    for (size_t t = 0; t < b->npix; t++) {
        size_t i = b->first + t;
        if (!b->valid[t]) {
            for (size_t q = 0; q < m->k; q++)
                m->scores[q * a->n + i] = NAN;
            continue;
        }
        double *row = a->u + nb * p;
        pca_vars_apply(a->v, b->x + t * b->p, row);
        double w = m->pix_weight ? m->pix_weight[i] : 1.0;
        for (size_t j = 0; j < p; j++) {
            double s = row[j] * w;
            if (m->var_weight)
                s *= m->var_weight[j];
            row[j] = m->uncentred ? s : s - m->scaled_mean[j];
        }
        a->idx[nb] = i;
        if (++nb == SUB_ROWS) {
            score_rows(a, nb);
            nb = 0;
        }
    }
    if (nb)
        score_rows(a, nb);
    return MVA_OK;
}

static int check_opts(const mva_stack_info *info, const mva_pca_opts *o, mva_error *err)
{
    if (o->method != MVA_PCA_EXACT)
        return mva_error_set(err, MVA_EINVAL, "unknown PCA method %d", o->method);
    if (o->k == 0)
        return mva_error_set(err, MVA_EINVAL, "number of components must be at least 1");
    if (o->ch_end > info->channels)
        return mva_error_set(err, MVA_EINVAL,
                             "%s: channel range ends at %zu, the stack has %zu channels",
                             info->source, o->ch_end, info->channels);
    return MVA_OK;
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
    c->m2 = calloc(pp, sizeof(double));
    c->vsum = calloc(p, sizeof(double));
    c->w = malloc((size_t)SUB_ROWS * p * sizeof(double));
    c->bmean = malloc(p * sizeof(double));
    if (!c->mean || !c->m2 || !c->vsum || !c->w || !c->bmean)
        return mva_error_set(err, MVA_ENOMEM,
                             "out of memory for a %zu x %zu covariance matrix", p, p);
    c->pix_w = m->pix_weight;
    mva_accum *accs = malloc((nextra + 1) * sizeof *accs);
    if (accs == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    accs[0] = (mva_accum){c, NULL, cov_consume, NULL};
    for (size_t i = 0; i < nextra; i++)
        accs[i + 1] = extra[i];
    int rc = mva_pass_run(s, accs, nextra + 1, popts, err);
    free(accs);
    return rc;
}

/* Normalises c->m2 into the covariance of the scaled data, applies the Poisson variable
 * weights, and fills mean, scaled_mean, var_weight, total_variance. */
static void finish_cov(cov_acc *c, mva_pca_model *m)
{
    size_t p = m->p;
    double inv = 1.0 / (double)(c->n - 1);
    for (size_t j = 0; j < p; j++) {
        m->mean[j] = c->vsum[j] / (double)c->n;
        double cw = 1.0;
        if (m->var_weight) {
            cw = c->vsum[j] > 0.0 ? 1.0 / sqrt(c->vsum[j]) : 0.0;
            m->var_weight[j] = cw;
        }
        m->scaled_mean[j] = c->mean[j] * cw;
    }
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

/* Takes eigenvector v (p values of the scaled problem) as component q: un-weights it and
 * flips both so that the un-weighted eigenspectrum's largest-|value| entry is positive. */
static void orient_component(mva_pca_model *m, const double *v, size_t q, double *comp_w)
{
    size_t p = m->p, big = 0;
    double *c = m->components + q * p, *cw = comp_w + q * p;
    for (size_t j = 0; j < p; j++) {
        double w = m->var_weight ? m->var_weight[j] : 1.0;
        cw[j] = v[j];
        c[j] = w > 0.0 ? cw[j] / w : 0.0;
        if (fabs(c[j]) > fabs(c[big]))
            big = j;
    }
    if (c[big] < 0.0) {
        for (size_t j = 0; j < p; j++) {
            c[j] = -c[j];
            cw[j] = -cw[j];
        }
    }
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
static int eigen(double *cov, mva_pca_model *m, double *comp_w, mva_error *err)
{
    lapack_int p = (lapack_int)m->p, k = (lapack_int)m->k, found = 0, tryrac = 1, info;
    size_t pz = m->p;
    double *d = malloc(pz * sizeof *d), *e = malloc(pz * sizeof *e);
    double *d2 = malloc(pz * sizeof *d2), *e2 = malloc(pz * sizeof *e2);
    double *tau = malloc(pz * sizeof *tau), *w = malloc(pz * sizeof *w);
    double *z = malloc(pz * m->k * sizeof *z);
    lapack_int *isuppz = malloc(2 * (size_t)k * sizeof *isuppz);
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
        orient_component(m, z + (m->k - 1 - q) * pz, q, comp_w);
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

static int run_score_pass(mva_stack *s, const pca_vars *v, mva_pca_model *m,
                          const double *comp_w, const mva_pass_opts *popts, mva_error *err)
{
    score_acc a = {v, m, comp_w, m->rows * m->cols, NULL, NULL, NULL};
    a.u = malloc((size_t)SUB_ROWS * m->p * sizeof(double));
    a.s = malloc((size_t)SUB_ROWS * m->k * sizeof(double));
    a.idx = malloc((size_t)SUB_ROWS * sizeof(size_t));
    int rc;
    if (!a.u || !a.s || !a.idx) {
        rc = mva_error_set(err, MVA_ENOMEM, "out of memory");
    } else {
        mva_accum acc = {&a, NULL, score_consume, NULL};
        rc = mva_pass_run(s, &acc, 1, popts, err);
    }
    free(a.u);
    free(a.s);
    free(a.idx);
    return rc;
}

static void cov_free(cov_acc *c)
{
    free(c->mean);
    free(c->m2);
    free(c->vsum);
    free(c->w);
    free(c->bmean);
    c->mean = c->m2 = c->vsum = c->w = c->bmean = NULL;
}

/* Map-wide bookkeeping: mask of excluded pixels, variable channels and energies. */
static void describe_vars(const mva_stack_info *info, const pca_vars *v, mva_pca_model *m)
{
    m->bin = v->bin;
    for (size_t j = 0; j < v->p; j++) {
        m->var_ch0[j] = v->var_ch0[j];
        if (m->var_energy)
            m->var_energy[j] = mva_calib_energy(&info->calib,
                                                (double)v->var_ch0[j] + 0.5 * (double)(v->bin - 1));
    }
}

int mva_pca_fit(mva_stack *s, const mva_pca_opts *opts, const mva_accum *extra, size_t nextra,
                const mva_pass_opts *popts, mva_pca_model **out, mva_error *err)
{
    double t0 = now_seconds();
    const mva_stack_info *info = mva_stack_get_info(s);
    pca_vars v;
    cov_acc c;
    memset(&c, 0, sizeof c);
    mva_pca_model *m = NULL;
    double *comp_w = NULL;
    int rc = check_opts(info, opts, err);
    if (rc != MVA_OK)
        return rc;
    rc = pca_vars_init(&v, info->channels, opts, err);
    if (rc != MVA_OK)
        return rc;
    if (opts->k > v.p) {
        rc = mva_error_set(err, MVA_EINVAL, "%zu components asked, but only %zu variables "
                           "(channels after range, mask and binning)", opts->k, v.p);
        goto done;
    }
    rc = mva_pca_model_alloc(&m, info->rows, info->cols, info->channels, v.p, opts->k,
                             info->calib.known, opts->poisson, err);
    if (rc != MVA_OK)
        goto done;
    m->uncentred = opts->uncentred;
    m->method = opts->method;
    describe_vars(info, &v, m);
    c.v = &v;
    c.poisson = opts->poisson;
    rc = run_cov_pass(s, &c, m, extra, nextra, popts, err);
    if (rc != MVA_OK)
        goto done;
    m->n_valid = c.n;
    if (c.n < 2) {
        rc = mva_error_set(err, MVA_EINVAL, "%s: PCA needs at least 2 valid pixels, found %zu "
                           "(the others hold NaN or Inf)", info->source, c.n);
        goto done;
    }
    finish_cov(&c, m);
    comp_w = malloc(m->k * m->p * sizeof *comp_w);
    if (comp_w == NULL) {
        rc = mva_error_set(err, MVA_ENOMEM, "out of memory");
        goto done;
    }
    rc = eigen(c.m2, m, comp_w, err);
    cov_free(&c); /* the p x p matrices are not needed by the score pass */
    if (rc == MVA_OK)
        rc = run_score_pass(s, &v, m, comp_w, popts, err);
    if (rc == MVA_OK) {
        for (size_t i = 0; i < m->rows * m->cols; i++)
            m->mask[i] = isnan(m->scores[i]) ? 1 : 0;
    }
done:
    cov_free(&c);
    free(comp_w);
    pca_vars_free(&v);
    if (rc != MVA_OK) {
        mva_pca_model_free(m);
        return rc;
    }
    m->seconds = now_seconds() - t0;
    *out = m;
    return MVA_OK;
}
