/*
 * Randomized PCA, streamed: subspace iteration on the p x p Gram operator G = C^T C of the
 * centred (and scaled) data C, one pass per iteration, never storing anything n x l
 * (Halko, Martinsson & Tropp 2011, Alg. 4.4, with Rayleigh-Ritz; Saad, "Numerical methods for
 * large eigenvalue problems", 5.1).
 *
 * Pass 1 applies G to a Gaussian start Omega while the mean is still unknown: rows are
 * shifted by a provisional mean m0 (the first rows' mean), D = U - 1 m0^T, and since
 * D^T D = C^T C + n d d^T with d = mean - m0, the centred product is
 * Z = D^T D Omega - n d (d^T Omega): no cancellation beyond what the shift leaves.  The
 * Poisson variable weights W are unknown during pass 1 too, but the start is random anyway:
 * taking it as W^-1 Omega gives G_w (W^-1 Omega) = W C^T C Omega, so pass 1 is exact for the
 * weighted operator G_w = W C^T C W.
 * Each later pass computes Z = G_w Q block by block (Y_b = C_b W Q, Z += W C_b^T Y_b); then
 * M = Q^T Z (l x l) gives the Ritz values and vectors (dsyevr), Q <- qr(Z) (dgeqrf, dorgqr).
 * Stops when the k leading Ritz values move by less than tol, relative, or after max_passes.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blasctl.h"
#include "internal.h"

typedef struct {
    const pca_vars *v;
    int poisson;
    size_t p, l;
    int first_pass;       /* shift by a provisional mean (pass 1) or centre exactly */
    int have_shift;
    size_t n;             /* valid pixels seen */
    double *shift;        /* p: m0 in pass 1, the mean in later passes */
    const double *basis;  /* p x l: Omega (pass 1) or W Q */
    double *dsum;         /* p: sum of the shifted rows (pass 1) */
    double *ss;           /* p: sum of squares of the shifted rows (pass 1) */
    double *vsum;         /* p: unweighted variable totals */
    double *z;            /* p x l accumulated products */
    double *w, *y;        /* PCA_SUB_ROWS x p rows, PCA_SUB_ROWS x l projections */
    double *pix_w;        /* n: Poisson pixel weights (pass 1), or NULL */
    double *wt;           /* PCA_SUB_ROWS row weights (direct path) */
    double *sb, *cs;      /* l: shift^T basis, column sums of Y (direct path) */
    int sb_ready;         /* sb computed for this pass's shift and basis */
} rf_acc;

/* Folds nb loaded rows into the product: Y = D basis, Z += D^T Y. */
static void rf_rows(rf_acc *a, size_t nb)
{
    size_t p = a->p, l = a->l;
    if (!a->have_shift) { /* provisional mean: the first rows' */
        memset(a->shift, 0, p * sizeof *a->shift);
        for (size_t r = 0; r < nb; r++)
            for (size_t j = 0; j < p; j++)
                a->shift[j] += a->w[r * p + j] / (double)nb;
        a->have_shift = 1;
    }
    for (size_t r = 0; r < nb; r++) {
        double *d = a->w + r * p;
        for (size_t j = 0; j < p; j++) {
            d[j] -= a->shift[j];
            if (a->first_pass) {
                a->dsum[j] += d[j];
                a->ss[j] += d[j] * d[j];
            }
        }
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, (int)l, (int)p, 1.0, a->w,
                (int)p, a->basis, (int)l, 0.0, a->y, (int)l);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p, (int)l, (int)nb, 1.0, a->w,
                (int)p, a->y, (int)l, 1.0, a->z, (int)l);
    a->n += nb;
}

/* shift^T basis, once per pass (both are fixed once the pass has its shift). */
static void rf_shift_basis(rf_acc *a)
{
    if (a->sb_ready)
        return;
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)a->p, (int)a->l, 1.0, a->basis, (int)a->l,
                a->shift, 1, 0.0, a->sb, 1);
    a->sb_ready = 1;
}

/*
 * Direct path, for a variable map that is a plain channel range: nb rows x (leading
 * dimension ld, already offset to the first channel) used in place, without copying the
 * block.  Row r counts with weight wt[r] (Poisson, else 1).  The shift s is folded into the
 * products: with D = diag(wt) X - 1 s^T,
 *   Y = D B = diag(wt) (X B) - 1 (s^T B)   and   D^T Y = X^T diag(wt) Y - s (1^T Y).
 */
static void rf_direct(rf_acc *a, const double *x, size_t ld, size_t nb)
{
    size_t p = a->p, l = a->l;
    if (!a->have_shift) { /* provisional mean: the first rows' */
        memset(a->shift, 0, p * sizeof *a->shift);
        for (size_t r = 0; r < nb; r++)
            for (size_t j = 0; j < p; j++)
                a->shift[j] += a->wt[r] * x[r * ld + j] / (double)nb;
        a->have_shift = 1;
    }
    if (a->first_pass) {
        for (size_t r = 0; r < nb; r++)
            for (size_t j = 0; j < p; j++) {
                double d = a->wt[r] * x[r * ld + j] - a->shift[j];
                a->dsum[j] += d;
                a->ss[j] += d * d;
            }
    }
    rf_shift_basis(a);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, (int)l, (int)p, 1.0, x,
                (int)ld, a->basis, (int)l, 0.0, a->y, (int)l);
    memset(a->cs, 0, l * sizeof *a->cs);
    for (size_t r = 0; r < nb; r++)
        for (size_t c = 0; c < l; c++) {
            double v = a->wt[r] * a->y[r * l + c] - a->sb[c];
            a->cs[c] += v;
            a->y[r * l + c] = v * a->wt[r];
        }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p, (int)l, (int)nb, 1.0, x,
                (int)ld, a->y, (int)l, 1.0, a->z, (int)l);
    cblas_dger(CblasRowMajor, (int)p, (int)l, -1.0, a->shift, 1, a->cs, 1, a->z, (int)l);
    a->n += nb;
}

/* Row weights (and, in pass 1, variable totals and pixel weights) of the valid run of rows
 * [t0, t0 + nb) of block b, for the direct path. */
static void rf_weigh(rf_acc *a, const mva_block *b, size_t t0, size_t nb)
{
    const double *x = b->x + t0 * b->p + a->v->c0;
    for (size_t r = 0; r < nb; r++) {
        double w = 1.0;
        if (a->poisson || a->first_pass) {
            double t = 0.0;
            for (size_t j = 0; j < a->p; j++) {
                t += x[r * b->p + j];
                if (a->first_pass)
                    a->vsum[j] += x[r * b->p + j];
            }
            t *= PCA_NOISE(b, t0 + r); /* the variance of a normalised total */
            if (a->poisson)
                w = t > 0.0 ? 1.0 / sqrt(t) : 0.0;
        }
        a->wt[r] = w;
        if (a->pix_w)
            a->pix_w[b->first + t0 + r] = w;
    }
}

static int rf_consume(void *self, const mva_block *b, mva_error *err)
{
    (void)err;
    rf_acc *a = self;
    size_t nb = 0;
    for (size_t t = 0; t < b->npix; t++) {
        if (a->v->identity) { /* runs of valid pixels, used in place */
            size_t run = 0;
            while (t + run < b->npix && b->valid[t + run] && run < PCA_DIRECT_ROWS)
                run++;
            if (run) {
                rf_weigh(a, b, t, run);
                rf_direct(a, b->x + t * b->p + a->v->c0, b->p, run);
                t += run - 1;
            }
            continue;
        }
        if (!b->valid[t])
            continue;
        double wgt = pca_load_row(a->v, a->poisson, b->x + t * b->p, a->w + nb * a->p, a->vsum,
                                  PCA_NOISE(b, t));
        if (a->pix_w)
            a->pix_w[b->first + t] = wgt;
        if (++nb == PCA_SUB_ROWS) {
            rf_rows(a, nb);
            nb = 0;
        }
    }
    if (nb)
        rf_rows(a, nb);
    return MVA_OK;
}

static void rf_free(rf_acc *a)
{
    free(a->shift);
    free(a->dsum);
    free(a->ss);
    free(a->vsum);
    free(a->z);
    free(a->w);
    free(a->y);
    free(a->wt);
    free(a->sb);
    free(a->cs);
}

static int rf_alloc(rf_acc *a, const pca_vars *v, int poisson, size_t l, mva_error *err)
{
    memset(a, 0, sizeof *a);
    a->v = v;
    a->poisson = poisson;
    a->p = v->p;
    a->l = l;
    a->shift = calloc(a->p, sizeof(double));
    a->dsum = calloc(a->p, sizeof(double));
    a->ss = calloc(a->p, sizeof(double));
    a->vsum = calloc(a->p, sizeof(double));
    a->z = calloc(a->p * l, sizeof(double));
    a->w = malloc((size_t)PCA_SUB_ROWS * a->p * sizeof(double));
    a->y = malloc((size_t)PCA_SUB_ROWS * l * sizeof(double));
    a->wt = malloc((size_t)PCA_SUB_ROWS * sizeof(double));
    a->sb = malloc(l * sizeof(double));
    a->cs = malloc(l * sizeof(double));
    if (!a->shift || !a->dsum || !a->ss || !a->vsum || !a->z || !a->w || !a->y || !a->wt ||
        !a->sb || !a->cs) {
        rf_free(a);
        return mva_error_set(err, MVA_ENOMEM, "out of memory for the randomized PCA");
    }
    return MVA_OK;
}

/* Orthonormal basis of the columns of z (p x l, row-major) into q. */
static int orthonormalize(const double *z, size_t p, size_t l, double *q, mva_error *err)
{
    double *tau = malloc(l * sizeof *tau);
    if (tau == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    memcpy(q, z, p * l * sizeof *q);
    lapack_int info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)p, (lapack_int)l, q,
                                     (lapack_int)l, tau);
    if (info == 0)
        info = LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)p, (lapack_int)l, (lapack_int)l, q,
                              (lapack_int)l, tau);
    free(tau);
    if (info != 0)
        return mva_error_set(err, MVA_ENUMERIC, "QR of the %zu x %zu basis failed (info %d)",
                             p, l, (int)info);
    return MVA_OK;
}

/* Rayleigh-Ritz: eigenpairs of M = Q^T Z (l x l) into theta (ascending) and s (l x l,
 * column j = vector j, row-major). */
static int ritz(const double *q, const double *z, size_t p, size_t l, double *theta,
                double *s, mva_error *err)
{
    double *mm = malloc(l * l * sizeof *mm);
    lapack_int *isuppz = malloc(2 * l * sizeof *isuppz), found = 0;
    if (!mm || !isuppz) {
        free(mm);
        free(isuppz);
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)l, (int)l, (int)p, 1.0, q,
                (int)l, z, (int)l, 0.0, mm, (int)l);
    for (size_t i = 0; i < l; i++) /* symmetrise what rounding left */
        for (size_t j = i + 1; j < l; j++)
            mm[i * l + j] = mm[j * l + i] = 0.5 * (mm[i * l + j] + mm[j * l + i]);
    lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'A', 'U', (lapack_int)l, mm,
                                     (lapack_int)l, 0.0, 0.0, 0, 0, 0.0, &found, theta, s,
                                     (lapack_int)l, isuppz);
    free(mm);
    free(isuppz);
    if (info != 0 || (size_t)found != l)
        return mva_error_set(err, MVA_ENUMERIC, "dsyevr on the %zu x %zu Ritz matrix failed "
                             "(info %d)", l, l, (int)info);
    return MVA_OK;
}

typedef struct {
    size_t p, l, k;
    double *q;     /* p x l current orthonormal basis */
    double *wq;    /* p x l: W Q, what the pass multiplies by */
    double *theta; /* l Ritz values, ascending */
    double *prev;  /* l previous Ritz values */
    double *s;     /* l x l Ritz vectors */
} rr_state;

/* W Q (W = the Poisson variable weights, or identity). */
static void weight_basis(const mva_pca_model *m, rr_state *st)
{
    for (size_t j = 0; j < st->p; j++) {
        double c = m->var_weight ? m->var_weight[j] : 1.0;
        for (size_t c2 = 0; c2 < st->l; c2++)
            st->wq[j * st->l + c2] = st->q[j * st->l + c2] * c;
    }
}

/* Z <- W Z (the left weight of G_w). */
static void weight_rows(const mva_pca_model *m, double *z, size_t p, size_t l)
{
    if (m->var_weight == NULL)
        return;
    for (size_t j = 0; j < p; j++)
        for (size_t c = 0; c < l; c++)
            z[j * l + c] *= m->var_weight[j];
}

/*
 * Centres this process's pass-1 sums on its own mean: d = dsum / n is the mean's offset from
 * the shift, Z -= n d (d^T Omega), ss -= n d^2 (then the centred sums of squares), and
 * mean = shift + d.  No valid pixel: everything stays 0.
 */
static void centre_local(rf_acc *a, const double *omega, double *mean, double *dt)
{
    size_t p = a->p, l = a->l;
    double n = (double)a->n;
    if (a->n == 0) {
        memset(mean, 0, p * sizeof *mean);
        return;
    }
    for (size_t j = 0; j < p; j++) {
        double d = a->dsum[j] / n;
        mean[j] = a->shift[j] + d;
        a->dsum[j] = d; /* now the mean's offset from the shift */
        a->ss[j] -= n * d * d;
    }
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)p, (int)l, 1.0, omega, (int)l, a->dsum, 1, 0.0,
                dt, 1);
    cblas_dger(CblasRowMajor, (int)p, (int)l, -n, a->dsum, 1, dt, 1, a->z, (int)l);
}

/*
 * Several processes: the centred products and sums of squares merged the way Chan et al.
 * merge covariances, with the global mean: Z = sum Z_r + sum n_r e_r (e_r^T Omega),
 * ss = sum ss_r + sum n_r e_r^2, e_r = mean_r - mean; every sum in rank order.  Sends
 * (1 + p) + p l + 2 p doubles per process.
 */
static int rf_reduce(rf_acc *a, const mva_comm *comm, const double *omega, double *mean,
                     double *dt, mva_error *err)
{
    if (comm == NULL || comm->size <= 1)
        return MVA_OK;
    size_t p = a->p, l = a->l, len = p + 1;
    double *off = NULL, ntot = 0;
    int rc = mva_comm_sum(comm, a->z, p * l, err);
    if (rc == MVA_OK)
        rc = mva_comm_sum(comm, a->ss, p, err);
    if (rc == MVA_OK)
        rc = mva_comm_sum(comm, a->vsum, p, err);
    if (rc == MVA_OK)
        rc = pca_comm_means(comm, a->n, mean, p, &off, &ntot, err);
    for (size_t r = 0; rc == MVA_OK && r < (size_t)comm->size; r++) {
        double nr = off[r * len], *e = off + r * len + 1;
        if (nr == 0)
            continue;
        for (size_t j = 0; j < p; j++)
            a->ss[j] += nr * e[j] * e[j];
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)p, (int)l, 1.0, omega, (int)l, e, 1, 0.0,
                    dt, 1);
        cblas_dger(CblasRowMajor, (int)p, (int)l, nr, e, 1, dt, 1, a->z, (int)l);
    }
    if (rc == MVA_OK)
        a->n = (size_t)ntot;
    free(off);
    return rc;
}

/* Pass 1: Z = G_w (W^-1 Omega), the mean, the weights, the trace. */
static int first_pass(mva_stack *s, rf_acc *a, const mva_pca_opts *o, mva_pca_model *m,
                      const mva_accum *extra, size_t nextra, const mva_pass_opts *popts,
                      double *omega, mva_error *err)
{
    if (pca_gaussian_fill(omega, a->p * a->l, o->seed) != MVA_OK)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    a->first_pass = 1;
    a->sb_ready = 0;
    a->basis = omega;
    a->pix_w = m->pix_weight;
    mva_accum acc = {a, NULL, rf_consume, NULL};
    int rc = pca_run_pass(s, acc, extra, nextra, popts, err);
    if (rc != MVA_OK)
        return rc;
    size_t p = a->p, l = a->l;
    double *mean = malloc(p * sizeof *mean), *dt = malloc(l * sizeof *dt);
    if (!mean || !dt) {
        free(mean);
        free(dt);
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    }
    centre_local(a, omega, mean, dt);
    rc = rf_reduce(a, popts ? popts->comm : NULL, omega, mean, dt, err);
    m->n_valid = a->n;
    if (rc == MVA_OK && a->n < 2)
        rc = mva_error_set(err, MVA_EINVAL, "%s: PCA needs at least 2 valid pixels, found "
                           "%zu (the others hold NaN or Inf)",
                           mva_stack_get_info(s)->source, a->n);
    if (rc == MVA_OK) {
        double trace = 0;
        pca_set_means(m, a->vsum, mean, a->n);
        for (size_t j = 0; j < p; j++) {
            double c = m->var_weight ? m->var_weight[j] : 1.0;
            trace += c * c * a->ss[j];
        }
        m->total_variance = trace / (double)(a->n - 1);
        weight_rows(m, a->z, p, l);
        memcpy(a->shift, mean, p * sizeof *mean); /* later passes centre on the mean */
        a->have_shift = 1;
    }
    free(mean);
    free(dt);
    return rc;
}

/* One later pass: Z = G_w Q. */
static int iterate(mva_stack *s, rf_acc *a, const mva_pca_model *m, rr_state *st,
                   const mva_pass_opts *popts, mva_error *err)
{
    weight_basis(m, st);
    memset(a->z, 0, a->p * a->l * sizeof *a->z);
    memset(a->vsum, 0, a->p * sizeof *a->vsum);
    a->first_pass = 0;
    a->sb_ready = 0;
    a->basis = st->wq;
    a->pix_w = NULL;
    a->n = 0;
    mva_accum acc = {a, NULL, rf_consume, NULL};
    int rc = mva_pass_run(s, &acc, 1, popts, err);
    if (rc == MVA_OK && popts)
        rc = mva_comm_sum(popts->comm, a->z, a->p * a->l, err);
    if (rc == MVA_OK)
        weight_rows(m, a->z, a->p, a->l);
    return rc;
}

/* Largest relative change of the k leading Ritz values. */
static double ritz_change(const rr_state *st)
{
    double worst = 0;
    for (size_t q = 0; q < st->k; q++) {
        size_t i = st->l - 1 - q;
        double d = fabs(st->theta[i] - st->prev[i]) / fmax(fabs(st->theta[i]), 1e-300);
        worst = fmax(worst, d);
    }
    return worst;
}

/* Ritz values -> eigenvalues; Ritz vectors Q S -> the k components. */
static int finish(mva_pca_model *m, const rr_state *st, const mva_pca_opts *o, double *comp_w,
                  mva_error *err)
{
    size_t p = st->p, l = st->l;
    double *v = malloc(p * sizeof *v), inv = 1.0 / (double)(m->n_valid - 1);
    if (v == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    for (size_t j = 0; j < m->p; j++)
        m->eigenvalues[j] = m->explained[j] = NAN;
    for (size_t j = 0; j < l; j++) {
        m->eigenvalues[j] = st->theta[l - 1 - j] * inv;
        m->explained[j] = m->total_variance > 0 ? m->eigenvalues[j] / m->total_variance : 0;
    }
    m->n_eigenvalues = l;
    pca_select_k(m, o);
    for (size_t q = 0; q < m->k; q++) {
        size_t col = l - 1 - q;
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)p, (int)l, 1.0, st->q, (int)l,
                    st->s + col, (int)l, 0.0, v, 1);
        pca_orient_component(m, v, q, comp_w);
    }
    free(v);
    return MVA_OK;
}

static void rr_free(rr_state *st)
{
    free(st->q);
    free(st->wq);
    free(st->theta);
    free(st->prev);
    free(st->s);
}

/* Several processes: every one takes rank 0's small dense results (basis, Ritz pairs), so
 * that they go on with the same basis and stop after the same pass even if their BLAS
 * rounded differently (different machines). */
static int share_rank0(const mva_pass_opts *popts, double *x, size_t count, mva_error *err)
{
    return mva_comm_bcast(popts ? popts->comm : NULL, x, count, err);
}

int pca_fit_randomized(mva_stack *s, const pca_vars *v, const mva_pca_opts *o,
                       mva_pca_model *m, const mva_accum *extra, size_t nextra,
                       const mva_pass_opts *popts, double *comp_w, mva_error *err)
{
    size_t p = v->p, l = o->k + o->oversample;
    if (l > p)
        l = p;
    rf_acc a;
    rr_state st = {p, l, o->k, NULL, NULL, NULL, NULL, NULL};
    int rc = rf_alloc(&a, v, o->poisson, l, err);
    if (rc != MVA_OK)
        return rc;
    int blas_threads = mva_blas_leave_reader_a_core();
    st.q = malloc(p * l * sizeof(double));
    st.wq = malloc(p * l * sizeof(double));
    st.theta = malloc(l * sizeof(double));
    st.prev = malloc(l * sizeof(double));
    st.s = malloc(l * l * sizeof(double));
    if (!st.q || !st.wq || !st.theta || !st.prev || !st.s) {
        rc = mva_error_set(err, MVA_ENOMEM, "out of memory for the randomized PCA");
        goto done;
    }
    m->seed = o->seed;
    m->oversample = l - o->k;
    rc = first_pass(s, &a, o, m, extra, nextra, popts, st.wq, err);
    m->passes = 1;
    if (rc == MVA_OK)
        rc = orthonormalize(a.z, p, l, st.q, err);
    if (rc == MVA_OK)
        rc = share_rank0(popts, st.q, p * l, err);
    m->final_change = INFINITY;
    while (rc == MVA_OK && m->passes < o->max_passes) {
        rc = iterate(s, &a, m, &st, popts, err);
        if (rc != MVA_OK)
            break;
        m->passes++;
        memcpy(st.prev, st.theta, l * sizeof *st.theta);
        rc = ritz(st.q, a.z, p, l, st.theta, st.s, err);
        if (rc == MVA_OK)
            rc = share_rank0(popts, st.theta, l, err);
        if (rc == MVA_OK)
            rc = share_rank0(popts, st.s, l * l, err);
        if (rc != MVA_OK)
            break;
        if (m->passes > 2)
            m->final_change = ritz_change(&st);
        /* The Ritz vectors are Q S for this Q: keep it when stopping. */
        if (m->final_change <= o->tol || m->passes == o->max_passes)
            break;
        rc = orthonormalize(a.z, p, l, st.q, err);
        if (rc == MVA_OK)
            rc = share_rank0(popts, st.q, p * l, err);
    }
    if (rc == MVA_OK && m->passes < 2)
        rc = mva_error_set(err, MVA_EINVAL, "randomized PCA needs at least 2 passes");
    m->converged = m->final_change <= o->tol;
    if (rc == MVA_OK)
        rc = finish(m, &st, o, comp_w, err);
done:
    mva_blas_restore(blas_threads);
    rf_free(&a);
    rr_free(&st);
    return rc;
}
