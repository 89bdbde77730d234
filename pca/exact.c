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

typedef struct {
    const pca_vars *v;
    int poisson;
    size_t n;          /* pixels merged so far */
    double *mean;      /* p, running mean of the (pixel-weighted) variables */
    double *m2;        /* p x p, running centred Gram (upper triangle) */
    double *vsum;      /* p, sum of the unweighted variables (channel totals) */
    double *pix_w;     /* n map pixels: Poisson pixel weight, or NULL */
    double *w;         /* PCA_SUB_ROWS x p work rows */
    double *bmean;     /* p */
} cov_acc;

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
        double w = pca_load_row(c->v, c->poisson, b->x + t * b->p, c->w + nb * p, c->vsum);
        if (c->pix_w)
            c->pix_w[b->first + t] = w;
        if (++nb == PCA_SUB_ROWS) {
            merge_rows(c, nb);
            nb = 0;
        }
    }
    if (nb)
        merge_rows(c, nb);
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
    int rc = mva_comm_sum(comm, c->m2, p * p, err);
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
    c->m2 = calloc(pp, sizeof(double));
    c->vsum = calloc(p, sizeof(double));
    c->w = malloc((size_t)PCA_SUB_ROWS * p * sizeof(double));
    c->bmean = malloc(p * sizeof(double));
    if (!c->mean || !c->m2 || !c->vsum || !c->w || !c->bmean)
        return mva_error_set(err, MVA_ENOMEM,
                             "out of memory for a %zu x %zu covariance matrix", p, p);
    c->pix_w = m->pix_weight;
    mva_accum acc = {c, NULL, cov_consume, NULL};
    int rc = pca_run_pass(s, acc, extra, nextra, popts, err);
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
    c->mean = c->m2 = c->vsum = c->w = c->bmean = NULL;
}

int pca_fit_exact(mva_stack *s, const pca_vars *v, const mva_pca_opts *o, mva_pca_model *m,
                  const mva_accum *extra, size_t nextra, const mva_pass_opts *popts,
                  double *comp_w, mva_error *err)
{
    cov_acc c;
    memset(&c, 0, sizeof c);
    c.v = v;
    c.poisson = o->poisson;
    int rc = run_cov_pass(s, &c, m, extra, nextra, popts, err);
    if (rc == MVA_OK) {
        m->n_valid = c.n;
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
