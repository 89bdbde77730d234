/*
 * Exact PCA, streamed in two passes.
 *
 * Pass 1 (covariance) has two accumulators, and each row goes to one of them:
 *
 * - Integer rows (counts): the exact Gram of src/igram.c, sum d d^T and sum d of the rows
 *   shifted by an integer vector mu0, in single precision and without rounding; the centred
 *   Gram G - s s^T / n then costs one rounding per entry, on a term of the size of the spread
 *   of the counts around mu0.
 * - Other rows (non-integer data, counts far from mu0, Poisson-weighted rows): centred on their
 *   sub-block mean and multiplied out with dsyrk; each sub-block's centred Gram is merged into
 *   the running one with Chan, Golub & LeVeque's pairwise update (1979):
 *   M2 += G_b + (n_a n_b / (n_a + n_b)) d d^T,  d = mean_b - mean_a.
 *
 * Neither ever forms X^T X - n mu mu^T, which loses every digit the counts share; the two are
 * merged the same way at the end of the pass.
 * The Poisson variable weights 1/sqrt(variable total) need the whole pass, but they scale the
 * covariance on both sides, Cov(D P C) = C Cov(P D) C, so they are applied after it.
 * Eigen-decomposition: LAPACK (dsytrd, dsterf, dstemr, dormtr).  The scores pass is shared
 * with the randomized method (pca/common.c); with a fixed k, the scree (all eigenvalues, which
 * nothing before the end needs) is computed in a thread of its own meanwhile.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "igram.h"
#include "internal.h"
#include "mva/pca.h"

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
    size_t nw;         /* rows in w waiting for merge_rows (exact path on) */
    int int_path;      /* the exact path (not under Poisson scaling) */
    mva_igram ig;
    double *g;         /* p x p: the exact path's sum d d^T */
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

static void apply_vars(const void *ctx, const double *x, double *out)
{
    pca_vars_apply(ctx, x, out);
}

/* One pixel's variables x: onto the exact path, or into the rows for merge_rows (with their
 * channel totals: the exact path's come from mu0 and dsum at the end). */
static int int_pixel(cov_acc *c, const double *x)
{
    size_t p = c->v->p;
    if (mva_igram_add(&c->ig, x))
        return MVA_OK;
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
    if (c->int_path && !c->ig.shift_set && b->nvalid)
        rc = mva_igram_shift_from_block(&c->ig, b, apply_vars, c->v, c->w);
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
        double w = pca_load_row(c->v, c->poisson, b->x + t * b->p, c->w + nb * p, c->vsum,
                                PCA_NOISE(b, t));
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
    mva_igram_flush(&c->ig);
    const double *mu0 = c->ig.mu0, *dsum = c->ig.dsum;
    for (size_t j = 0; j < p; j++)
        c->vsum[j] += (double)c->ig.n * mu0[j] + dsum[j];
    if (c->ig.n == 0) {
        free(c->g);
        c->g = NULL;
        return MVA_OK;
    }
    double ni = (double)c->ig.n;
    for (size_t i = 0; i < p; i++) {
        double si = dsum[i] / ni;
        for (size_t j = i; j < p; j++)
            c->g[i * p + j] -= si * dsum[j];
    }
    double na = (double)c->n, ntot = na + ni;
    for (size_t j = 0; j < p; j++) /* d = mean_int - mean_a */
        c->bmean[j] = mu0[j] + dsum[j] / ni - c->mean[j];
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
    c->n += c->ig.n;
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
    double n_int = (double)c->ig.n;
    int rc = mva_comm_sum(comm, c->m2, p * p, err);
    if (rc == MVA_OK)
        rc = mva_comm_sum(comm, &n_int, 1, err);
    c->ig.n = (size_t)n_int;
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
        c->g = calloc(pp, sizeof(double));
        ok = c->g && mva_igram_init(&c->ig, p, c->g, 0) == MVA_OK;
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
 * Variables of zero variance (dead channels: a zero row and column) take no part in the
 * decomposition: the nl live ones are packed, in place, into the leading nl x nl matrix (lda
 * nl, same triangle), and the dead ones get eigenvalue 0 and no weight in any leading
 * eigenvector.  dsytrd costs p^3: channels above the beam energy or below the detector's
 * threshold are often dead.  Returns nl; live[0..nl) the live variables.
 */
static size_t pack_live(double *cov, size_t p, size_t *live)
{
    size_t nl = 0;
    for (size_t i = 0; i < p; i++)
        if (cov[i * p + i] != 0.0)
            live[nl++] = i;
    if (nl == p)
        return p;
    /* destination a nl + b <= source live[a] p + live[b], both increasing: nothing is
     * overwritten before it is read */
    for (size_t a = 0; a < nl; a++)
        for (size_t b = a; b < nl; b++)
            cov[a * nl + b] = cov[live[a] * p + live[b]];
    return nl;
}

/* All eigenvalues of the tridiagonal matrix (d, e) of the nl live variables, by dsterf. */
struct pca_scree {
    pthread_t th;
    double *d, *e; /* owned */
    size_t nl;
    lapack_int info;
};

static void *scree_main(void *arg)
{
    pca_scree *sc = arg;
    sc->info = LAPACKE_dsterf((lapack_int)sc->nl, sc->d, sc->e);
    return NULL;
}

/* The eigenvalues in descending order, the dead variables' zeros in their place among the
 * live ones (ascending from LAPACK), and their share of the total variance. */
static void put_scree(mva_pca_model *m, const double *d2, size_t nl)
{
    size_t pz = m->p;
    for (size_t j = 0, a = nl, zeros = pz - nl; j < pz; j++) {
        if (zeros && (a == 0 || d2[a - 1] < 0.0)) {
            m->eigenvalues[j] = 0.0;
            zeros--;
        } else {
            m->eigenvalues[j] = d2[--a];
        }
        m->explained[j] = m->total_variance > 0 ? m->eigenvalues[j] / m->total_variance : 0;
    }
}

static void scree_free(pca_scree *sc)
{
    free(sc->d);
    free(sc->e);
    free(sc);
}

int pca_scree_finish(pca_scree *sc, mva_pca_model *m, mva_error *err)
{
    if (sc == NULL)
        return MVA_OK;
    pthread_join(sc->th, NULL);
    int rc = MVA_OK;
    if (sc->info != 0)
        rc = mva_error_set(err, MVA_ENUMERIC, "LAPACKE_dsterf failed (info %d)", (int)sc->info);
    else if (m != NULL)
        put_scree(m, sc->d, sc->nl);
    scree_free(sc);
    return rc;
}

/*
 * The scree from the tridiagonal matrix (d2, e2 of nl live variables; taken over): computed
 * here, or, when *later is not NULL and k is fixed, started in a thread and handed over in
 * *later for pca_scree_finish.
 */
static int scree(mva_pca_model *m, const mva_pca_opts *o, double **d2, double **e2, size_t nl,
                 pca_scree **later, mva_error *err)
{
    pca_scree *sc = malloc(sizeof *sc);
    if (sc == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory for the eigen-decomposition");
    *sc = (pca_scree){.d = *d2, .e = *e2, .nl = nl};
    *d2 = *e2 = NULL;
    if (later != NULL && o->k_rule == MVA_PCA_K_FIXED &&
        pthread_create(&sc->th, NULL, scree_main, sc) == 0) {
        *later = sc;
        return MVA_OK;
    }
    scree_main(sc);
    int rc = sc->info == 0 ? MVA_OK
                           : mva_error_set(err, MVA_ENUMERIC, "LAPACKE_dsterf failed (info %d)",
                                           (int)sc->info);
    if (rc == MVA_OK)
        put_scree(m, sc->d, nl);
    scree_free(sc);
    return rc;
}

/*
 * Eigen-decomposition of the covariance, the way LAPACK's dsyevr does it, unrolled so that
 * the one expensive step is done once: dsytrd reduces the matrix to tridiagonal form in place
 * (Q kept as reflectors), dsterf gives all p eigenvalues (for the scree; see scree()), dstemr
 * (MRRR, as in dsyevr) the k leading eigenvectors of the tridiagonal matrix, and dormtr maps
 * them back.  One reduction instead of two (eigenvalues, then vectors) and no p x p copy: the
 * row-major upper triangle is handed to LAPACK as the column-major lower one, which LAPACKE
 * passes through without the transposed copy it makes for row-major input.  Dead variables
 * are packed out first (pack_live).
 */
static int eigen(double *cov, mva_pca_model *m, const mva_pca_opts *o, double *comp_w,
                 pca_scree **later, mva_error *err)
{
    lapack_int k, found = 0, tryrac = 1, info;
    size_t pz = m->p;
    double *d = malloc(pz * sizeof *d), *e = malloc(pz * sizeof *e);
    double *d2 = malloc(pz * sizeof *d2), *e2 = malloc(pz * sizeof *e2);
    double *tau = malloc(pz * sizeof *tau), *w = malloc(pz * sizeof *w);
    double *z = malloc(pz * m->k * sizeof *z), *full = malloc(pz * sizeof *full);
    size_t *live = malloc(pz * sizeof *live);
    lapack_int *isuppz = malloc(2 * m->k * sizeof *isuppz);
    int rc = MVA_OK;
    if (!d || !e || !d2 || !e2 || !tau || !w || !z || !full || !live || !isuppz) {
        rc = mva_error_set(err, MVA_ENOMEM, "out of memory for the eigen-decomposition");
        goto done;
    }
    size_t nl = pack_live(cov, pz, live);
    if (nl < m->k) { /* fewer live variables than components: decompose them all */
        nl = pz;
        for (size_t j = 0; j < pz; j++)
            live[j] = j;
    }
    lapack_int p = (lapack_int)nl;
    info = LAPACKE_dsytrd(LAPACK_COL_MAJOR, 'L', p, cov, p, d, e, tau);
    if (info != 0) {
        rc = mva_error_set(err, MVA_ENUMERIC, "LAPACKE_dsytrd failed (info %d)", (int)info);
        goto done;
    }
    memcpy(d2, d, nl * sizeof *d);
    memcpy(e2, e, (nl - 1) * sizeof *e);
    rc = scree(m, o, &d2, &e2, nl, later, err);
    if (rc != MVA_OK)
        goto done;
    pca_select_k(m, o); /* all eigenvalues known, unless k is fixed: the rule may lower k */
    k = (lapack_int)m->k;
    e[nl - 1] = 0.0;
    info = LAPACKE_dstemr(LAPACK_COL_MAJOR, 'V', 'I', p, d, e, 0.0, 0.0, p - k + 1, p, &found,
                          w, z, p, k, isuppz, &tryrac);
    if (info == 0 && found == k)
        info = LAPACKE_dormtr(LAPACK_COL_MAJOR, 'L', 'L', 'N', p, k, cov, p, tau, z, p);
    if (info != 0 || found != k) {
        rc = mva_error_set(err, MVA_ENUMERIC, "LAPACK eigenvectors failed (info %d, %d of %d)",
                           (int)info, (int)found, (int)k);
        goto done;
    }
    for (size_t q = 0; q < m->k; q++) {
        const double *v = z + (m->k - 1 - q) * nl;
        memset(full, 0, pz * sizeof *full);
        for (size_t a = 0; a < nl; a++)
            full[live[a]] = v[a];
        pca_orient_component(m, full, q, comp_w);
    }
done:
    free(d);
    free(e);
    free(d2);
    free(e2);
    free(tau);
    free(w);
    free(z);
    free(full);
    free(live);
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
    free(c->g);
    mva_igram_free(&c->ig);
    memset(c, 0, sizeof *c);
}

int pca_fit_exact(mva_stack *s, const pca_vars *v, const mva_pca_opts *o, mva_pca_model *m,
                  const mva_accum *extra, size_t nextra, const mva_pass_opts *popts,
                  double *comp_w, pca_scree **later, mva_error *err)
{
    cov_acc c;
    memset(&c, 0, sizeof c);
    c.v = v;
    c.poisson = o->poisson;
    c.int_path = !o->poisson;
    int rc = run_cov_pass(s, &c, m, extra, nextra, popts, err);
    if (rc == MVA_OK) {
        m->n_valid = c.n;
        m->n_exact = c.ig.n;
        m->converged = 1; /* nothing iterates */
        if (c.n < 2)
            rc = mva_error_set(err, MVA_EINVAL, "%s: PCA needs at least 2 valid pixels, found "
                               "%zu (the others hold NaN or Inf)",
                               mva_stack_get_info(s)->source, c.n);
    }
    if (rc == MVA_OK) {
        m->passes = 1;
        finish_cov(&c, m);
        rc = eigen(c.m2, m, o, comp_w, later, err);
    }
    cov_free(&c);
    return rc;
}
