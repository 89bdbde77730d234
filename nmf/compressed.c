/* The compressed warm start: HALS on the projection X~ V V^T = Y V^T of the data onto its l
 * leading right singular vectors (Erichson, Mendible, Wihlborn & Kutz 2018, "Randomized
 * nonnegative matrix factorization"), in memory: an iteration costs about 4 n l k flops
 * instead of a pass over n p values.  Y = X~ V comes from the NNDSVDa pass at no extra cost.
 * The streamed passes then start near the optimum and only polish: the objective they report
 * is always the exact one, and the projection never enters the final model. */
#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

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

/* The rows of W split between threads: each row's update depends on that row alone, so the
 * bits are those of one thread.  No pass runs here, so every core is free. */
#define HALS_THREADS_MAX 8
#define HALS_ROWS_PER_THREAD 4096

typedef struct {
    double *w;
    const double *a, *b;
    size_t k, sweeps, nrows;
} hals_part;

static void *hals_part_run(void *arg)
{
    hals_part *h = arg;
    nmf_hals_rows(h->w, h->a, h->b, h->k, h->sweeps, h->nrows);
    return NULL;
}

static void hals_rows_threaded(double *w, const double *a, const double *b, size_t k,
                               size_t sweeps, size_t n)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = cpus > 1 ? (size_t)cpus : 1;
    if (nt > HALS_THREADS_MAX)
        nt = HALS_THREADS_MAX;
    if (nt > n / HALS_ROWS_PER_THREAD)
        nt = n / HALS_ROWS_PER_THREAD;
    if (nt < 2) {
        nmf_hals_rows(w, a, b, k, sweeps, n);
        return;
    }
    hals_part part[HALS_THREADS_MAX];
    pthread_t th[HALS_THREADS_MAX];
    int started[HALS_THREADS_MAX] = {0};
    size_t per = (n + nt - 1) / nt;
    for (size_t t = 0; t < nt; t++) {
        size_t r0 = t * per, r1 = r0 + per < n ? r0 + per : n;
        part[t] = (hals_part){w + r0 * k, a + r0 * k, b, k, sweeps, r1 > r0 ? r1 - r0 : 0};
        if (t > 0)
            started[t] = pthread_create(&th[t], NULL, hals_part_run, &part[t]) == 0;
    }
    hals_part_run(&part[0]);
    for (size_t t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else /* no thread: do its rows here */
            hals_part_run(&part[t]);
    }
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
    hals_rows_threaded(st->W, w->a, w->hht, k, st->o->inner, n);
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
