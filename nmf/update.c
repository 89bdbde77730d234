/* The update passes.  Frobenius (HALS, MU): per run of pixels A = X~_b H^T, the rows of W
 * updated from A and H H^T, then C += W_b^T X~_b and D += W_b^T W_b; after the pass H is
 * updated from C and D, and the objective ||X~||^2 - 2 <H, C> + <H H^T, D> is exact for the
 * new (W, H) since C and D hold the new W.  KL: Lee & Seung's updates, the ratio X / WH formed
 * per run of pixels. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blasctl.h"
#include "internal.h"

typedef struct {
    nmf_state *st;
    double *hc;  /* k x p: H D_c */
    double *hht; /* k x k: H H^T */
    double *c;   /* k x p: W~^T X~, accumulated as (D_a W~)^T X, times D_c after the pass;
                    KL: W^T (X / WH) */
    double *d;   /* k x k: W^T W */
    double *a;   /* NMF_SUB_ROWS x k: X~ H^T for the run; then D_a W for the run */
    double *y;   /* KL: NMF_SUB_ROWS x p: W H, then the ratio X / W H */
    double *wsum;/* KL: k column sums of W */
    double *hsum;/* KL: k row sums of H */
    double *tmp; /* k scratch (MU) */
    double kl;   /* KL: sum over entries of wh - x log wh (the rest is constant) */
    double *wb;  /* the block's rows of W (nmf_w_get), from pixel wfirst */
    size_t wfirst;
} upd_acc;

/* Cichocki & Phan 2009: coordinate q set to the minimiser of the objective in it alone,
 * clipped at 0; a zero row of H (b_qq = 0) leaves w_q alone. */
void nmf_hals_row(double *w, const double *a, const double *b, size_t k, size_t sweeps)
{
    for (size_t s = 0; s < sweeps; s++)
        for (size_t q = 0; q < k; q++) {
            if (!(b[q * k + q] > 0.0))
                continue;
            double g = a[q];
            for (size_t l = 0; l < k; l++)
                g -= w[l] * b[l * k + q];
            double v = w[q] + g / b[q * k + q];
            w[q] = v > 0.0 ? v : 0.0;
        }
}

/* nmf_hals_row on four rows at once: the same operations in the same order for each row (so
 * the same bits), interleaved so that the four dependency chains overlap in the CPU. */
static void hals_row4(double *w, const double *a, const double *b, size_t k, size_t sweeps)
{
    double *w0 = w, *w1 = w + k, *w2 = w + 2 * k, *w3 = w + 3 * k;
    const double *a0 = a, *a1 = a + k, *a2 = a + 2 * k, *a3 = a + 3 * k;
    for (size_t s = 0; s < sweeps; s++)
        for (size_t q = 0; q < k; q++) {
            double bqq = b[q * k + q];
            if (!(bqq > 0.0))
                continue;
            double g0 = a0[q], g1 = a1[q], g2 = a2[q], g3 = a3[q];
            for (size_t l = 0; l < k; l++) {
                double bl = b[l * k + q];
                g0 -= w0[l] * bl;
                g1 -= w1[l] * bl;
                g2 -= w2[l] * bl;
                g3 -= w3[l] * bl;
            }
            double v0 = w0[q] + g0 / bqq, v1 = w1[q] + g1 / bqq;
            double v2 = w2[q] + g2 / bqq, v3 = w3[q] + g3 / bqq;
            w0[q] = v0 > 0.0 ? v0 : 0.0;
            w1[q] = v1 > 0.0 ? v1 : 0.0;
            w2[q] = v2 > 0.0 ? v2 : 0.0;
            w3[q] = v3 > 0.0 ? v3 : 0.0;
        }
}

void nmf_hals_rows(double *w, const double *a, const double *b, size_t k, size_t sweeps,
                   size_t nrows)
{
    size_t r = 0;
    for (; r + 4 <= nrows; r += 4)
        hals_row4(w + r * k, a + r * k, b, k, sweeps);
    for (; r < nrows; r++)
        nmf_hals_row(w + r * k, a + r * k, b, k, sweeps);
}

/* Lee & Seung's multiplicative update of one row: w <- w * a / (w B). */
static void mu_row(double *w, const double *a, const double *b, size_t k, size_t sweeps,
                   double *tmp)
{
    for (size_t s = 0; s < sweeps; s++) {
        for (size_t q = 0; q < k; q++) {
            tmp[q] = 0.0;
            for (size_t l = 0; l < k; l++)
                tmp[q] += w[l] * b[l * k + q];
        }
        for (size_t q = 0; q < k; q++)
            w[q] = tmp[q] > 0.0 ? w[q] * a[q] / tmp[q] : 0.0;
    }
}

static void frob_run(void *self, const double *x, size_t first, size_t nb)
{
    upd_acc *u = self;
    nmf_state *st = u->st;
    size_t p = st->p, k = st->k;
    double *w = u->wb + (first - u->wfirst) * k;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)k, (int)p, 1.0, x,
                (int)p, u->hc, (int)p, 0.0, u->a, (int)k);
    for (size_t r = 0; r < nb; r++)
        for (size_t q = 0; q < k; q++)
            u->a[r * k + q] *= st->pixw[first + r];
    if (st->o->method == MVA_NMF_HALS)
        nmf_hals_rows(w, u->a, u->hht, k, st->o->inner, nb);
    else
        for (size_t r = 0; r < nb; r++)
            mu_row(w + r * k, u->a + r * k, u->hht, k, st->o->inner, u->tmp);
    for (size_t r = 0; r < nb; r++)
        for (size_t q = 0; q < k; q++)
            u->a[r * k + q] = st->pixw[first + r] * w[r * k + q];
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)p, (int)nb, 1.0, u->a,
                (int)k, x, (int)p, 1.0, u->c, (int)p);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)k, (int)nb, 1.0, w,
                (int)k, w, (int)k, 1.0, u->d, (int)k);
}

/* The block's rows of W in, through fn, and out again. */
static int with_w_rows(upd_acc *u, const mva_block *b, nmf_run_fn fn, mva_error *err)
{
    int rc = nmf_w_get(u->st, b->first, b->npix, &u->wb, err);
    if (rc != MVA_OK)
        return rc;
    u->wfirst = b->first;
    nmf_for_runs(b, fn, u);
    return nmf_w_put(u->st, b->first, b->npix, err);
}

static int frob_consume(void *self, const mva_block *b, mva_error *err)
{
    return with_w_rows(self, b, frob_run, err);
}

/* H H^T into hht, H D_c into hc. */
static void prepare_h(upd_acc *u)
{
    nmf_state *st = u->st;
    size_t p = st->p, k = st->k;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)k, (int)k, (int)p, 1.0, st->H,
                (int)p, st->H, (int)p, 0.0, u->hht, (int)k);
    for (size_t q = 0; q < k; q++)
        for (size_t j = 0; j < p; j++)
            u->hc[q * p + j] = st->H[q * p + j] * st->chw[j];
}

void nmf_update_h(nmf_state *st, const double *c, const double *d, double *tmp)
{
    size_t p = st->p, k = st->k;
    double *h = st->H;
    for (size_t s = 0; s < st->o->inner; s++) {
        if (st->o->method == MVA_NMF_HALS) {
            for (size_t q = 0; q < k; q++) {
                if (!(d[q * k + q] > 0.0))
                    continue;
                double inv = 1.0 / d[q * k + q];
                for (size_t j = 0; j < p; j++) {
                    double g = c[q * p + j];
                    for (size_t l = 0; l < k; l++)
                        g -= d[q * k + l] * h[l * p + j];
                    double v = h[q * p + j] + g * inv;
                    h[q * p + j] = v > 0.0 ? v : 0.0;
                }
            }
        } else {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)k, (int)p, (int)k, 1.0,
                        d, (int)k, h, (int)p, 0.0, tmp, (int)p);
            for (size_t e = 0; e < k * p; e++)
                h[e] = tmp[e] > 0.0 ? h[e] * c[e] / tmp[e] : 0.0;
        }
    }
}

/* ||X~||^2 - 2 <H, C> + <H H^T, D>, never below 0 (rounding near an exact fit). */
static double frob_objective(const nmf_state *st, const double *c, const double *d,
                             const double *hht)
{
    size_t kp = st->k * st->p, kk = st->k * st->k;
    double f = st->norm_x2;
    for (size_t e = 0; e < kp; e++)
        f -= 2.0 * st->H[e] * c[e];
    for (size_t e = 0; e < kk; e++)
        f += hht[e] * d[e];
    return f > 0.0 ? f : 0.0;
}

static int alloc_acc(upd_acc *u, nmf_state *st, int kl)
{
    size_t p = st->p, k = st->k;
    memset(u, 0, sizeof *u);
    u->st = st;
    u->hc = malloc(k * p * sizeof(double));
    u->hht = malloc(k * k * sizeof(double));
    u->c = calloc(k * p, sizeof(double));
    u->d = calloc(k * k, sizeof(double));
    u->a = malloc((size_t)NMF_SUB_ROWS * (kl ? p : k) * sizeof(double));
    u->wsum = calloc(k, sizeof(double));
    u->hsum = calloc(k, sizeof(double));
    u->tmp = calloc(k, sizeof(double));
    if (kl)
        u->y = malloc((size_t)NMF_SUB_ROWS * p * sizeof(double));
    return u->hc && u->hht && u->c && u->d && u->a && u->wsum && u->hsum && u->tmp && (!kl || u->y) ? MVA_OK
                                                                            : MVA_ENOMEM;
}

static void free_acc(upd_acc *u)
{
    free(u->hc);
    free(u->hht);
    free(u->c);
    free(u->d);
    free(u->a);
    free(u->y);
    free(u->wsum);
    free(u->hsum);
    free(u->tmp);
}

int nmf_iterate_frobenius(mva_stack *s, nmf_state *st, mva_error *err, double *obj)
{
    upd_acc u;
    int rc = alloc_acc(&u, st, 0);
    if (rc != MVA_OK) {
        rc = mva_error_set(err, MVA_ENOMEM, "NMF update: out of memory");
        goto done;
    }
    prepare_h(&u);
    mva_accum acc = {&u, NULL, frob_consume, NULL};
    int threads = mva_blas_leave_reader_a_core();
    rc = mva_pass_run(s, &acc, 1, st->popts, err);
    mva_blas_restore(threads);
    if (rc != MVA_OK)
        goto done;
    st->passes++;
    rc = nmf_comm_sum(st, u.c, st->k * st->p, err); /* each process: its own pixels' rows */
    if (rc == MVA_OK)
        rc = nmf_comm_sum(st, u.d, st->k * st->k, err);
    if (rc != MVA_OK)
        goto done;
    for (size_t q = 0; q < st->k; q++) /* C = W~^T X~: the channel weights, once */
        for (size_t j = 0; j < st->p; j++)
            u.c[q * st->p + j] *= st->chw[j];
    nmf_update_h(st, u.c, u.d, u.hc); /* hc is free again: scratch of MU */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)st->k, (int)st->k, (int)st->p,
                1.0, st->H, (int)st->p, st->H, (int)st->p, 0.0, u.hht, (int)st->k);
    *obj = frob_objective(st, u.c, u.d, u.hht);
done:
    free_acc(&u);
    return rc;
}

/* ---- KL ----------------------------------------------------------------------------------- */

/* y = W_run H (nb x p), then y = x / y (0 where x = 0; an entry with x > 0 and wh = 0 gets a
 * huge ratio, as it should: the model misses counts there). */
static void kl_ratio(upd_acc *u, const double *x, const double *w, size_t nb, double *klsum)
{
    nmf_state *st = u->st;
    size_t p = st->p, k = st->k;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb, (int)p, (int)k, 1.0, w,
                (int)k, st->H, (int)p, 0.0, u->y, (int)p);
    for (size_t e = 0; e < nb * p; e++) {
        double wh = u->y[e], xv = x[e]; /* the run's rows are contiguous, stride p */
        if (klsum != NULL)
            *klsum += wh - (xv > 0.0 ? xv * log(wh > 1e-300 ? wh : 1e-300) : 0.0);
        u->y[e] = xv > 0.0 ? xv / (wh > 1e-300 ? wh : 1e-300) : 0.0;
    }
}

static void kl_run(void *self, const double *x, size_t first, size_t nb)
{
    upd_acc *u = self;
    nmf_state *st = u->st;
    size_t p = st->p, k = st->k;
    double *w = u->wb + (first - u->wfirst) * k, *hsum = u->hsum;
    /* W <- W * ((X / WH) H^T) / (1 H^T) */
    kl_ratio(u, x, w, nb, NULL);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)k, (int)p, 1.0, u->y,
                (int)p, st->H, (int)p, 0.0, u->a, (int)k);
    for (size_t e = 0; e < nb * k; e++)
        w[e] = hsum[e % k] > 0.0 ? w[e] * u->a[e] / hsum[e % k] : 0.0;
    /* With the new W: the objective at (W, H) and the products for H. */
    kl_ratio(u, x, w, nb, &u->kl);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)p, (int)nb, 1.0, w,
                (int)k, u->y, (int)p, 1.0, u->c, (int)p);
    for (size_t e = 0; e < nb * k; e++)
        u->wsum[e % k] += w[e];
}

static int kl_consume(void *self, const mva_block *b, mva_error *err)
{
    return with_w_rows(self, b, kl_run, err);
}

int nmf_iterate_kl(mva_stack *s, nmf_state *st, mva_error *err, double *obj)
{
    upd_acc u;
    int rc = alloc_acc(&u, st, 1);
    if (rc != MVA_OK) {
        rc = mva_error_set(err, MVA_ENOMEM, "NMF update: out of memory");
        goto done;
    }
    for (size_t q = 0; q < st->k; q++)
        for (size_t j = 0; j < st->p; j++)
            u.hsum[q] += st->H[q * st->p + j];
    mva_accum acc = {&u, NULL, kl_consume, NULL};
    int threads = mva_blas_leave_reader_a_core();
    rc = mva_pass_run(s, &acc, 1, st->popts, err);
    mva_blas_restore(threads);
    if (rc != MVA_OK)
        goto done;
    st->passes++;
    rc = nmf_comm_sum(st, u.c, st->k * st->p, err); /* each process: its own pixels' rows */
    if (rc == MVA_OK)
        rc = nmf_comm_sum(st, u.wsum, st->k, err);
    if (rc == MVA_OK)
        rc = nmf_comm_sum(st, &u.kl, 1, err);
    if (rc != MVA_OK)
        goto done;
    /* H <- H * (W^T (X / WH)) / (W^T 1) */
    for (size_t q = 0; q < st->k; q++)
        for (size_t j = 0; j < st->p; j++) {
            double *h = st->H + q * st->p + j;
            *h = u.wsum[q] > 0.0 ? *h * u.c[q * st->p + j] / u.wsum[q] : 0.0;
        }
    /* D(X || WH) = sum x log x - x + wh - x log wh; sum x = n_valid p mean. */
    double f = st->xlogx - st->mean_x * (double)st->n_valid * (double)st->p + u.kl;
    *obj = f > 0.0 ? f : 0.0;
done:
    free_acc(&u);
    return rc;
}
