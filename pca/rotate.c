/* Orthomax rotation (varimax, quartimax, ...) of a model's eigenspectra.  See mva/rotate.h. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mva/rotate.h"

void mva_rotate_result_free(mva_rotate_result *r)
{
    if (r == NULL)
        return;
    free(r->rotation);
    free(r->spectra);
    free(r->images);
    free(r);
}

/* One orthomax step: R <- U V^T of svd(C B), B = L^3 - gamma/p L diag(L^T L), L = C^T R.
 * l, b: p x k scratch; g, u, vt, s, sup: k x k (s, sup: k).  Returns sum of singular values,
 * or NaN when the SVD fails. */
static double orthomax_step(const double *c, size_t k, size_t p, double gamma, double *r,
                            double *l, double *b, double *g, double *u, double *vt,
                            double *s, double *sup)
{
    int K = (int)k, P = (int)p;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, P, K, K, 1.0, c, P, r, K, 0.0, l, K);
    for (size_t q = 0; q < k; q++) {
        double ss = 0;
        for (size_t j = 0; j < p; j++)
            ss += l[j * k + q] * l[j * k + q];
        for (size_t j = 0; j < p; j++) {
            double v = l[j * k + q];
            b[j * k + q] = v * v * v - gamma / (double)p * v * ss;
        }
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, K, P, 1.0, c, P, b, K, 0.0, g, K);
    if (LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'A', 'A', K, K, g, K, s, u, K, vt, K, sup) != 0)
        return NAN;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, K, K, 1.0, u, K, vt, K, 0.0, r, K);
    double sum = 0;
    for (size_t q = 0; q < k; q++)
        sum += s[q];
    return sum;
}

/* Iterates from R = I until no entry of R moves by more than 1e-12. */
static int orthomax_iterate(const double *c, size_t k, size_t p, double gamma, size_t max_iter,
                            mva_rotate_result *rot, mva_error *err)
{
    size_t kk = k * k;
    double *l = malloc(2 * p * k * sizeof *l), *w = malloc((5 * kk + 2 * k) * sizeof *w);
    int rc = MVA_OK;
    if (l == NULL || w == NULL) {
        rc = mva_error_set(err, MVA_ENOMEM, "orthomax: out of memory (%zu x %zu)", k, p);
        goto done;
    }
    double *g = w, *u = w + kk, *vt = w + 2 * kk, *prev = w + 3 * kk, *s = w + 5 * kk;
    double *r = rot->rotation;
    for (size_t i = 0; i < kk; i++)
        r[i] = i % (k + 1) == 0;
    for (rot->iterations = 0; rot->iterations < max_iter;) {
        memcpy(prev, r, kk * sizeof *r);
        rot->criterion = orthomax_step(c, k, p, gamma, r, l, l + p * k, g, u, vt, s, s + k);
        rot->iterations++;
        if (isnan(rot->criterion)) {
            rc = mva_error_set(err, MVA_ENUMERIC, "orthomax: the SVD of iteration %zu failed",
                               rot->iterations);
            goto done;
        }
        double change = 0;
        for (size_t i = 0; i < kk; i++)
            change = fmax(change, fabs(r[i] - prev[i]));
        if (change <= 1e-12) {
            rot->converged = 1;
            break;
        }
    }
done:
    free(l);
    free(w);
    return rc;
}

int mva_rotate_orthomax(const double *spectra, const double *images, size_t k, size_t p,
                        size_t n, double gamma, size_t max_iter, mva_rotate_result **out,
                        mva_error *err)
{
    if (k == 0 || p == 0 || k > p || !(gamma >= 0) || p > (size_t)INT32_MAX ||
        n > (size_t)INT32_MAX)
        return mva_error_set(err, MVA_EINVAL,
                             "orthomax: needs 1 <= k <= p components (k %zu, p %zu) and "
                             "gamma >= 0 (%g)", k, p, gamma);
    mva_rotate_result *r = calloc(1, sizeof *r);
    int rc = MVA_ENOMEM;
    if (r == NULL)
        return mva_error_set(err, rc, "orthomax: out of memory");
    r->k = k;
    r->p = p;
    r->n = images ? n : 0;
    r->gamma = gamma;
    r->rotation = malloc(k * k * sizeof *r->rotation);
    r->spectra = malloc(k * p * sizeof *r->spectra);
    if (images)
        r->images = malloc((n ? n : 1) * k * sizeof *r->images);
    if (!r->rotation || !r->spectra || (images && !r->images)) {
        mva_error_set(err, rc, "orthomax: out of memory");
        goto done;
    }
    rc = orthomax_iterate(spectra, k, p, gamma, max_iter ? max_iter : 1000, r, err);
    if (rc != MVA_OK)
        goto done;
    int K = (int)k;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)p, K, 1.0, r->rotation, K,
                spectra, (int)p, 0.0, r->spectra, (int)p);
    for (size_t q = 0; q < k; q++) { /* sign: the largest |value| of each spectrum > 0 */
        double *row = r->spectra + q * p;
        size_t arg = 0;
        for (size_t j = 1; j < p; j++)
            if (fabs(row[j]) > fabs(row[arg]))
                arg = j;
        if (row[arg] >= 0)
            continue;
        for (size_t j = 0; j < p; j++)
            row[j] = -row[j];
        for (size_t i = 0; i < k; i++)
            r->rotation[i * k + q] = -r->rotation[i * k + q];
    }
    if (images && n > 0)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)n, K, 1.0, r->rotation, K,
                    images, (int)n, 0.0, r->images, (int)n);
    for (size_t i = 0; images && i < n; i++) /* a pixel without scores stays without */
        for (size_t q = 0; q < k; q++)
            if (!isfinite(images[q * n + i])) {
                for (size_t t = 0; t < k; t++)
                    r->images[t * n + i] = NAN;
                break;
            }
    *out = r;
    r = NULL;
    rc = MVA_OK;
done:
    mva_rotate_result_free(r);
    return rc;
}
