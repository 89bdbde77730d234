/*
 * Randomized PCA, streamed: block Krylov on the p x p Gram operator G = C^T C of the centred
 * (and scaled) data C, one pass per block, never storing anything n x l (Halko, Martinsson &
 * Tropp 2011, with Rayleigh-Ritz; Saad, "Numerical methods for large eigenvalue problems",
 * 6.2 on block Lanczos).
 *
 * Pass 1 applies G to a Gaussian start Omega while the mean is still unknown: rows are
 * shifted by a provisional mean m0 (the first rows' mean), D = U - 1 m0^T, and since
 * D^T D = C^T C + n d d^T with d = mean - m0, the centred product is
 * Z = D^T D Omega - n d (d^T Omega): no cancellation beyond what the shift leaves.  The
 * Poisson variable weights W are unknown during pass 1 too, but the start is random anyway:
 * taking it as W^-1 Omega gives G_w (W^-1 Omega) = W C^T C Omega, so pass 1 is exact for the
 * weighted operator G_w = W C^T C W.
 * Each later pass computes Z_j = G_w Q_j block by block (Y_b = C_b W Q_j, Z_j += W C_b^T Y_b).
 * The blocks are kept: the basis K = [Q_0 .. Q_j] spans the block Krylov space of G_w, each
 * new block being Z_{j-1} orthogonalised against K (twice), and since G_w K = [Z_0 .. Z_j] is
 * known, the Rayleigh-Ritz matrix K^T G_w K costs no extra pass (block Lanczos with full
 * reorthogonalisation; Musco & Musco 2015 for its randomized analysis: far fewer passes than
 * subspace iteration for the same accuracy, the leading Ritz values converging at a rate set
 * by the square root of the gaps).
 * Stops when the k leading Ritz values' estimated error is below tol, relative, or after
 * max_passes.  Ritz values from nested spaces only grow toward the eigenvalues, so the error
 * left after a change c is the sum of the changes still to come: c r / (1 - r) for a rate
 * r = c / c_prev, i.e. c^2 / (c_prev - c).  On the bench maps r is ~1/100 a pass, and this
 * stops one pass earlier than "c <= tol" at an error a hundred times below tol.
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
    if (q != z)
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

/* Blocks the Krylov basis holds at most before it restarts (p x 16 l doubles, twice). */
#define RF_MAX_BLOCKS 16

typedef struct {
    size_t p, l, k;
    size_t maxb;   /* blocks the basis can hold (one a pass after the first) */
    size_t nb;     /* blocks in it */
    size_t ld;     /* maxb * l: leading dimension of kb, kz */
    double *q;     /* p x l: the newest block Q_j (orthonormal, orthogonal to the others) */
    double *wq;    /* p x l: W Q_j, what the pass multiplies by */
    double *kb;    /* p x ld: K = [Q_0 .. Q_{nb-1}] */
    double *kz;    /* p x ld: G_w K = [Z_0 .. Z_{nb-1}] */
    double *theta; /* m = nb l Ritz values, ascending */
    double *prev;  /* the previous pass's Ritz values, ascending (pm of them) */
    size_t m, pm;
    double *s;     /* m x m Ritz vectors (row-major, column i = vector i) */
    double *tmp;   /* ld x l scratch */
} rr_state;

/* Appends Q_j (st->q) and Z_j = G_w Q_j to the basis. */
static void append_block(rr_state *st, const double *z)
{
    size_t off = st->nb * st->l;
    for (size_t i = 0; i < st->p; i++) {
        memcpy(st->kb + i * st->ld + off, st->q + i * st->l, st->l * sizeof(double));
        memcpy(st->kz + i * st->ld + off, z + i * st->l, st->l * sizeof(double));
    }
    st->nb++;
}

/*
 * Rayleigh-Ritz on the whole basis: eigenpairs of H = K^T (G_w K) (m x m, m = nb l) into
 * theta (ascending) and s.
 */
static int ritz(rr_state *st, mva_error *err)
{
    size_t m = st->nb * st->l, p = st->p, ld = st->ld;
    double *h = malloc(m * m * sizeof *h);
    lapack_int *isuppz = malloc(2 * m * sizeof *isuppz), found = 0;
    if (!h || !isuppz) {
        free(h);
        free(isuppz);
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)m, (int)p, 1.0, st->kb,
                (int)ld, st->kz, (int)ld, 0.0, h, (int)m);
    for (size_t i = 0; i < m; i++) /* symmetrise what rounding left */
        for (size_t j = i + 1; j < m; j++)
            h[i * m + j] = h[j * m + i] = 0.5 * (h[i * m + j] + h[j * m + i]);
    memcpy(st->prev, st->theta, st->m * sizeof *st->prev);
    st->pm = st->m;
    lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'A', 'U', (lapack_int)m, h,
                                     (lapack_int)m, 0.0, 0.0, 0, 0, 0.0, &found, st->theta,
                                     st->s, (lapack_int)m, isuppz);
    free(h);
    free(isuppz);
    if (info != 0 || (size_t)found != m)
        return mva_error_set(err, MVA_ENUMERIC, "dsyevr on the %zu x %zu Ritz matrix failed "
                             "(info %d)", m, m, (int)info);
    st->m = m;
    return MVA_OK;
}

/* x (p x l) -= K (K^T x): x projected out of the basis. */
static void project_out(rr_state *st, double *x)
{
    size_t m = st->nb * st->l;
    if (m == 0)
        return;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)st->l, (int)st->p, 1.0,
                st->kb, (int)st->ld, x, (int)st->l, 0.0, st->tmp, (int)st->l);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)st->p, (int)st->l, (int)m, -1.0,
                st->kb, (int)st->ld, st->tmp, (int)st->l, 1.0, x, (int)st->l);
}

/*
 * The next block: Z_j orthogonalised against the basis (twice: classical Gram-Schmidt loses
 * orthogonality once), then within itself.  A column left with almost nothing (the Krylov
 * space is exhausted in that direction: a map of few pixels, a rank-deficient G) is replaced
 * by a Gaussian one drawn from seed, so the basis keeps l new orthonormal columns.
 */
static int next_block(rr_state *st, const double *z, uint64_t seed, mva_error *err)
{
    size_t p = st->p, l = st->l;
    double *x = st->q, *g = NULL;
    memcpy(x, z, p * l * sizeof *x);
    double *norm0 = calloc(l, sizeof *norm0);
    if (norm0 == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    for (size_t c = 0; c < l; c++)
        norm0[c] = cblas_dnrm2((int)p, x + c, (int)l);
    for (int round = 0; round < 2; round++)
        project_out(st, x);
    int rc = MVA_OK;
    for (size_t c = 0; c < l; c++) {
        if (norm0[c] > 0 && cblas_dnrm2((int)p, x + c, (int)l) > 1e-10 * norm0[c])
            continue;
        if (g == NULL && (g = malloc(p * sizeof *g)) == NULL) {
            rc = mva_error_set(err, MVA_ENOMEM, "out of memory");
            break;
        }
        if (pca_gaussian_fill(g, p, seed + 0x9e3779b97f4a7c15ULL * (st->nb * l + c + 1)) !=
            MVA_OK) {
            rc = mva_error_set(err, MVA_ENOMEM, "out of memory");
            break;
        }
        for (size_t i = 0; i < p; i++)
            x[i * l + c] = g[i];
    }
    free(g);
    free(norm0);
    for (int round = 0; round < 2 && rc == MVA_OK; round++) {
        project_out(st, x);
        rc = orthonormalize(x, p, l, x, err);
    }
    return rc;
}

/*
 * A full basis restarts thickly: K <- K S_l and G_w K <- (G_w K) S_l keep the l leading Ritz
 * vectors with their products, and the next block is made from their residuals
 * G_w v - theta v, which are orthogonal to the whole old basis.  Memory stays at maxb blocks
 * whatever the number of passes.
 */
static int restart(rr_state *st, uint64_t seed, mva_error *err)
{
    size_t p = st->p, l = st->l, m = st->m, ld = st->ld;
    const double *top = st->s + (m - l); /* the l leading columns of s, ascending */
    double *nk = malloc(p * l * sizeof *nk), *nz = malloc(p * l * sizeof *nz);
    if (!nk || !nz) {
        free(nk);
        free(nz);
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)p, (int)l, (int)m, 1.0, st->kb,
                (int)ld, top, (int)m, 0.0, nk, (int)l);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)p, (int)l, (int)m, 1.0, st->kz,
                (int)ld, top, (int)m, 0.0, nz, (int)l);
    for (size_t i = 0; i < p; i++) {
        memcpy(st->kb + i * ld, nk + i * l, l * sizeof(double));
        memcpy(st->kz + i * ld, nz + i * l, l * sizeof(double));
        for (size_t c = 0; c < l; c++) /* the residual block */
            nz[i * l + c] -= st->theta[m - l + c] * nk[i * l + c];
    }
    st->nb = 1;
    int rc = next_block(st, nz, seed, err);
    free(nk);
    free(nz);
    return rc;
}

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

/* Largest relative change of the k leading Ritz values since the previous pass. */
static double ritz_change(const rr_state *st)
{
    double worst = 0;
    for (size_t q = 0; q < st->k && q < st->pm; q++) {
        double t = st->theta[st->m - 1 - q], was = st->prev[st->pm - 1 - q];
        worst = fmax(worst, fabs(t - was) / fmax(fabs(t), 1e-300));
    }
    return worst;
}

/* Ritz values -> eigenvalues (the l leading ones); Ritz vectors K s -> the k components. */
static int finish(mva_pca_model *m, const rr_state *st, const mva_pca_opts *o, double *comp_w,
                  mva_error *err)
{
    size_t p = st->p, l = st->l, mm = st->m;
    double *v = malloc(p * sizeof *v), inv = 1.0 / (double)(m->n_valid - 1);
    if (v == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    for (size_t j = 0; j < m->p; j++)
        m->eigenvalues[j] = m->explained[j] = NAN;
    for (size_t j = 0; j < l; j++) {
        m->eigenvalues[j] = st->theta[mm - 1 - j] * inv;
        m->explained[j] = m->total_variance > 0 ? m->eigenvalues[j] / m->total_variance : 0;
    }
    m->n_eigenvalues = l;
    pca_select_k(m, o);
    for (size_t q = 0; q < m->k; q++) {
        size_t col = mm - 1 - q;
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)p, (int)mm, 1.0, st->kb, (int)st->ld,
                    st->s + col, (int)mm, 0.0, v, 1);
        pca_orient_component(m, v, q, comp_w);
    }
    free(v);
    return MVA_OK;
}

static void rr_free(rr_state *st)
{
    free(st->q);
    free(st->wq);
    free(st->kb);
    free(st->kz);
    free(st->theta);
    free(st->prev);
    free(st->s);
    free(st->tmp);
}

static int rr_alloc(rr_state *st, size_t p, size_t l, size_t k, size_t maxb, mva_error *err)
{
    memset(st, 0, sizeof *st);
    st->p = p;
    st->l = l;
    st->k = k;
    st->maxb = maxb;
    st->ld = maxb * l;
    st->q = malloc(p * l * sizeof(double));
    st->wq = malloc(p * l * sizeof(double));
    st->kb = malloc(p * st->ld * sizeof(double));
    st->kz = malloc(p * st->ld * sizeof(double));
    st->theta = calloc(st->ld, sizeof(double));
    st->prev = calloc(st->ld, sizeof(double));
    st->s = malloc(st->ld * st->ld * sizeof(double));
    st->tmp = malloc(st->ld * l * sizeof(double));
    if (!st->q || !st->wq || !st->kb || !st->kz || !st->theta || !st->prev || !st->s ||
        !st->tmp) {
        rr_free(st);
        return mva_error_set(err, MVA_ENOMEM, "out of memory for the randomized PCA");
    }
    return MVA_OK;
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
    if (2 * l > p) /* no room for a second block: the first spans the whole space */
        l = p;
    size_t maxb = o->max_passes > 1 ? o->max_passes - 1 : 1;
    if (maxb > RF_MAX_BLOCKS)
        maxb = RF_MAX_BLOCKS;
    if (maxb * l > p) /* the basis cannot outgrow the space */
        maxb = p / l;
    rf_acc a;
    rr_state st;
    int rc = rf_alloc(&a, v, o->poisson, l, err);
    if (rc != MVA_OK)
        return rc;
    rc = rr_alloc(&st, p, l, o->k, maxb, err);
    if (rc != MVA_OK) {
        rf_free(&a);
        return rc;
    }
    int blas_threads = mva_blas_leave_reader_a_core();
    m->seed = o->seed;
    m->oversample = l - o->k;
    rc = first_pass(s, &a, o, m, extra, nextra, popts, st.wq, err);
    m->passes = 1;
    if (rc == MVA_OK)
        rc = orthonormalize(a.z, p, l, st.q, err);
    if (rc == MVA_OK)
        rc = share_rank0(popts, st.q, p * l, err);
    m->final_change = m->final_error = INFINITY;
    while (rc == MVA_OK && m->passes < o->max_passes) {
        rc = iterate(s, &a, m, &st, popts, err);
        if (rc != MVA_OK)
            break;
        m->passes++;
        append_block(&st, a.z);
        rc = ritz(&st, err);
        if (rc == MVA_OK)
            rc = share_rank0(popts, st.theta, st.m, err);
        if (rc == MVA_OK)
            rc = share_rank0(popts, st.s, st.m * st.m, err);
        if (rc != MVA_OK)
            break;
        if (st.nb > 1) {
            double was = m->final_change;
            m->final_change = ritz_change(&st);
            m->final_error = isfinite(was) && m->final_change < was
                                 ? m->final_change * m->final_change / (was - m->final_change)
                                 : m->final_change;
        }
        /* tol 0 runs every pass, even once the Ritz values stop moving */
        if ((o->tol > 0 && m->final_error <= o->tol) || m->passes == o->max_passes || l == p)
            break;
        if (st.nb == st.maxb)
            rc = restart(&st, o->seed, err);
        else
            rc = next_block(&st, a.z, o->seed, err);
        if (rc == MVA_OK)
            rc = share_rank0(popts, st.q, p * l, err);
    }
    if (rc == MVA_OK && m->passes < 2)
        rc = mva_error_set(err, MVA_EINVAL, "randomized PCA needs at least 2 passes");
    m->converged = m->final_error <= o->tol;
    if (rc == MVA_OK)
        rc = finish(m, &st, o, comp_w, err);
    mva_blas_restore(blas_threads);
    rf_free(&a);
    rr_free(&st);
    return rc;
}
