/*
 * The Gram of integer rows (detector counts), exact and at single-precision speed.
 *
 * Rows are shifted by an integer vector mu0 (the rounded median of a sample of them), and
 * d = x - mu0 is multiplied out with ssyrk, twice as fast as dsyrk.  The products and every
 * partial sum the kernel forms are integers bounded by fbound = sum over the rows of
 * max_j d_j^2 (|d_j d_k| <= max(d_j^2, d_k^2)); while fbound <= 2^24 every one of them is a
 * float, so the float Gram is exact.  Before a row would break the bound, the float Gram is
 * added to the caller's double one (exact up to 2^53) and restarted.  In raw mode it is added
 * as sum x x^T = F + s mu0^T + mu0 s^T + m mu0 mu0^T (s, m: sum of d and rows since the last
 * flush), also exact.  A row with a fraction or |d| > 4096 is refused, for the caller's own
 * double-precision path.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mva/error.h"
#include "igram.h"

/* Largest integer up to which every integer is a float. */
#define FLT_EXACT 16777216.0

int mva_igram_init(mva_igram *a, size_t p, double *g, int raw)
{
    memset(a, 0, sizeof *a);
    a->p = p;
    a->g = g;
    a->raw = raw;
    a->f_fresh = 1;
    a->mu0 = calloc(p, sizeof *a->mu0);
    a->dsum = calloc(p, sizeof *a->dsum);
    a->fsum = calloc(p, sizeof *a->fsum);
    a->f = malloc(p * p * sizeof *a->f);
    a->fw = malloc((size_t)MVA_IGRAM_ROWS * p * sizeof *a->fw);
    if (!a->mu0 || !a->dsum || !a->fsum || !a->f || !a->fw) {
        mva_igram_free(a);
        return MVA_ENOMEM;
    }
    return MVA_OK;
}

void mva_igram_free(mva_igram *a)
{
    free(a->mu0);
    free(a->dsum);
    free(a->fsum);
    free(a->f);
    free(a->fw);
    a->mu0 = a->dsum = a->fsum = NULL;
    a->f = a->fw = NULL;
}

static int cmp_double(const void *x, const void *y)
{
    double u = *(const double *)x, v = *(const double *)y;
    return (u > v) - (u < v);
}

int mva_igram_set_shift(mva_igram *a, const double *sample, size_t ns)
{
    size_t p = a->p;
    double *col = malloc((ns ? ns : 1) * sizeof *col);
    if (col == NULL)
        return MVA_ENOMEM;
    for (size_t j = 0; j < p; j++) {
        double m = 0.0;
        if (ns) {
            for (size_t r = 0; r < ns; r++)
                col[r] = sample[r * p + j];
            qsort(col, ns, sizeof *col, cmp_double);
            m = col[ns / 2];
        }
        a->mu0[j] = isfinite(m) && fabs(m) < 1e15 ? nearbyint(m) : 0.0;
    }
    free(col);
    a->shift_set = 1;
    return MVA_OK;
}

int mva_igram_shift_from_block(mva_igram *a, const mva_block *b,
                               void (*vars)(const void *ctx, const double *x, double *out),
                               const void *ctx, double *buf)
{
    size_t p = a->p, ns = b->nvalid < MVA_IGRAM_SAMPLE ? b->nvalid : MVA_IGRAM_SAMPLE;
    size_t step = ns ? b->nvalid / ns : 1, seen = 0, taken = 0;
    for (size_t t = 0; t < b->npix && taken < ns; t++) {
        if (!b->valid[t] || seen++ % step != 0)
            continue;
        if (vars)
            vars(ctx, b->x + t * b->p, buf + taken * p);
        else
            memcpy(buf + taken * p, b->x + t * b->p, p * sizeof *buf);
        taken++;
    }
    return mva_igram_set_shift(a, buf, taken);
}

/* The pending float rows into f. */
static void syrk_pending(mva_igram *a)
{
    if (a->nf == 0)
        return;
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)a->p, (int)a->nf, 1.0f, a->fw,
                (int)a->p, a->f_fresh ? 0.0f : 1.0f, a->f, (int)a->p);
    a->f_fresh = 0;
    a->nf = 0;
}

void mva_igram_flush(mva_igram *a)
{
    size_t p = a->p;
    syrk_pending(a);
    if (!a->f_fresh) {
        for (size_t i = 0; i < p; i++)
            for (size_t j = i; j < p; j++)
                a->g[i * p + j] += a->f[i * p + j];
        if (a->raw) {
            cblas_dsyr2(CblasRowMajor, CblasUpper, (int)p, 1.0, a->fsum, 1, a->mu0, 1, a->g,
                        (int)p);
            cblas_dsyr(CblasRowMajor, CblasUpper, (int)p, (double)a->fn, a->mu0, 1, a->g,
                       (int)p);
        }
    }
    memset(a->fsum, 0, p * sizeof *a->fsum);
    a->fn = 0;
    a->f_fresh = 1;
    a->fbound = 0.0;
}

/* Row x shifted by mu0 into out: 1 and the largest d_j^2 in *big if every d_j is an integer,
 * else 0 (NaN included). */
static int shifted(const mva_igram *a, const double *x, float *out, double *big)
{
    const double round = 6755399441055744.0; /* 1.5 * 2^52: (d + round) - round = rint(d) */
    const double *mu0 = a->mu0;
    double b = 0.0;
    int fraction = 0;
    for (size_t j = 0; j < a->p; j++) {
        double d = x[j] - mu0[j], q = d * d;
        fraction |= (d + round) - round != d;
        b = q > b ? q : b;
        out[j] = (float)d;
    }
    *big = b;
    return !fraction;
}

int mva_igram_add(mva_igram *a, const double *x)
{
    size_t p = a->p;
    float *out = a->fw + a->nf * p;
    double big;
    if (!shifted(a, x, out, &big) || big > FLT_EXACT)
        return 0;
    if (a->fbound + big > FLT_EXACT) {
        mva_igram_flush(a);
        memmove(a->fw, out, p * sizeof *out);
        out = a->fw;
    }
    a->fbound += big;
    for (size_t j = 0; j < p; j++)
        a->dsum[j] += out[j];
    if (a->raw) /* the flush's s mu0^T terms */
        for (size_t j = 0; j < p; j++)
            a->fsum[j] += out[j];
    a->n++;
    a->fn++;
    if (++a->nf == MVA_IGRAM_ROWS)
        syrk_pending(a);
    return 1;
}
