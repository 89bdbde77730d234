/* The compressed warm start: HALS on the projection X~ V V^T = Y V^T of the data onto its l
 * leading right singular vectors (Erichson, Mendible, Wihlborn & Kutz 2018, "Randomized
 * nonnegative matrix factorization"), in memory: an iteration costs about 4 n l k flops
 * instead of a pass over n p values.  Y = X~ V comes from the NNDSVDa pass at no extra cost.
 * The streamed passes then start near the optimum and only polish: the objective they report
 * is always the exact one, and the projection never enters the final model. */
#include <cblas.h>
#include <stdlib.h>

#include "internal.h"

typedef struct {
    double *b, *a, *hht, *e, *c, *d, *tmp;
} cwork;

static void cwork_free(cwork *w)
{
    free(w->b);
    free(w->a);
    free(w->hht);
    free(w->e);
    free(w->c);
    free(w->d);
    free(w->tmp);
}

/* One HALS iteration on Y V^T; returns ||Y||^2 - 2 <H, C> + <H H^T, D> at the new (W, H). */
static double compressed_step(nmf_state *st, const double *y, const double *v, size_t l,
                              double norm_y2, cwork *w)
{
    size_t n = st->n, p = st->p, k = st->k;
    const CBLAS_LAYOUT R = CblasRowMajor;
    /* X~ H^T ~ Y (H V)^T */
    cblas_dgemm(R, CblasNoTrans, CblasNoTrans, (int)k, (int)l, (int)p, 1.0, st->H, (int)p, v,
                (int)l, 0.0, w->b, (int)l);
    cblas_dgemm(R, CblasNoTrans, CblasTrans, (int)n, (int)k, (int)l, 1.0, y, (int)l, w->b,
                (int)l, 0.0, w->a, (int)k);
    cblas_dgemm(R, CblasNoTrans, CblasTrans, (int)k, (int)k, (int)p, 1.0, st->H, (int)p, st->H,
                (int)p, 0.0, w->hht, (int)k);
    /* Excluded pixels too: their rows of W and Y are 0, so a = 0 and they stay 0. */
    nmf_hals_rows(st->W, w->a, w->hht, k, st->o->inner, n);
    /* W^T X~ ~ (W^T Y) V^T */
    cblas_dgemm(R, CblasTrans, CblasNoTrans, (int)k, (int)l, (int)n, 1.0, st->W, (int)k, y,
                (int)l, 0.0, w->e, (int)l);
    cblas_dgemm(R, CblasNoTrans, CblasTrans, (int)k, (int)p, (int)l, 1.0, w->e, (int)l, v,
                (int)l, 0.0, w->c, (int)p);
    cblas_dgemm(R, CblasTrans, CblasNoTrans, (int)k, (int)k, (int)n, 1.0, st->W, (int)k, st->W,
                (int)k, 0.0, w->d, (int)k);
    nmf_update_h(st, w->c, w->d, w->tmp);
    cblas_dgemm(R, CblasNoTrans, CblasTrans, (int)k, (int)k, (int)p, 1.0, st->H, (int)p, st->H,
                (int)p, 0.0, w->hht, (int)k);
    double f = norm_y2;
    for (size_t e = 0; e < k * p; e++)
        f -= 2.0 * st->H[e] * w->c[e];
    for (size_t e = 0; e < k * k; e++)
        f += w->hht[e] * w->d[e];
    return f;
}

int nmf_compressed_hals(nmf_state *st, const double *y, const double *v, size_t l,
                        mva_error *err)
{
    size_t n = st->n, p = st->p, k = st->k;
    cwork w = {malloc(k * l * sizeof(double)), malloc(n * k * sizeof(double)),
               malloc(k * k * sizeof(double)), malloc(k * l * sizeof(double)),
               malloc(k * p * sizeof(double)), malloc(k * k * sizeof(double)),
               malloc(k * p * sizeof(double))};
    if (!w.b || !w.a || !w.hht || !w.e || !w.c || !w.d || !w.tmp) {
        cwork_free(&w);
        return mva_error_set(err, MVA_ENOMEM, "NMF warm start: out of memory");
    }
    double norm_y2 = 0.0, prev = 0.0;
    for (size_t e = 0; e < n * l; e++)
        norm_y2 += y[e] * y[e];
    /* A tenth of the passes' tolerance: the cheap iterations should do most of the work. */
    double tol = st->o->tol / 10;
    for (size_t it = 0; it < st->o->compressed_iter; it++) {
        double f = compressed_step(st, y, v, l, norm_y2, &w);
        if (it > 0 && prev - f < tol * prev)
            break;
        prev = f;
    }
    cwork_free(&w);
    return MVA_OK;
}
