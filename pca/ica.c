/* FastICA of a model's leading scores: whitening, then Hyvarinen's symmetric fixed point with
 * G = log cosh.  See mva/rotate.h. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mva/rotate.h"

mva_ica_opts mva_ica_opts_default(void)
{
    mva_ica_opts o = {1000, 1e-10, MVA_ICA_DEFAULT_SEED, NULL};
    return o;
}

void mva_ica_free(mva_ica *r)
{
    if (r == NULL)
        return;
    free(r->mean);
    free(r->whitening);
    free(r->w_init);
    free(r->w);
    free(r->unmixing);
    free(r->mixing);
    free(r->sources);
    free(r);
}

/* Eigen-decomposition of the symmetric k x k a (overwritten by the eigenvectors, one per
 * column, eigenvalues ascending in d). */
static int eigh(double *a, size_t k, double *d)
{
    return LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', (int)k, a, (int)k, d) == 0 ? MVA_OK
                                                                               : MVA_ENUMERIC;
}

/* W <- (W W^T)^-1/2 W, the symmetric decorrelation.  t: 3 k x k scratch + k. */
static int sym_decorrelate(double *w, size_t k, double *t)
{
    int K = (int)k;
    double *m = t, *e = t + k * k, *out = t + 2 * k * k, *d = t + 3 * k * k;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, K, K, 1.0, w, K, w, K, 0.0, m, K);
    if (eigh(m, k, d) != MVA_OK)
        return MVA_ENUMERIC;
    for (size_t i = 0; i < k; i++) /* e = E diag(d^-1/2) */
        for (size_t j = 0; j < k; j++)
            e[i * k + j] = m[i * k + j] / sqrt(fmax(d[j], 1e-300));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, K, K, 1.0, e, K, m, K, 0.0, out, K);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, K, K, 1.0, out, K, w, K, 0.0, m,
                K);
    memcpy(w, m, k * k * sizeof *w);
    return MVA_OK;
}

/* Centres the used pixels' signals into xc (k x m) and forms K = D^-1/2 E^T, each
 * eigenvector signed so that its largest |entry| is positive, largest eigenvalue first. */
static int whiten(double *xc, size_t k, size_t m, mva_ica *r, double *t, mva_error *err)
{
    int K = (int)k;
    for (size_t q = 0; q < k; q++) {
        double s = 0;
        for (size_t i = 0; i < m; i++)
            s += xc[q * m + i];
        r->mean[q] = s / (double)m;
        for (size_t i = 0; i < m; i++)
            xc[q * m + i] -= r->mean[q];
    }
    double *cov = t, *d = t + k * k;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, K, (int)m, 1.0 / (double)m, xc,
                (int)m, 0.0, cov, K);
    if (eigh(cov, k, d) != MVA_OK)
        return mva_error_set(err, MVA_ENUMERIC, "FastICA: the eigen-decomposition of the "
                             "%zu x %zu covariance failed", k, k);
    if (!(d[0] > 1e-12 * d[k - 1]))
        return mva_error_set(err, MVA_ENUMERIC, "FastICA: the %zu signals are linearly "
                             "dependent over the %zu pixels (covariance eigenvalue %g of %g); "
                             "use fewer components", k, m, d[0], d[k - 1]);
    for (size_t a = 0; a < k; a++) {
        size_t col = k - 1 - a, arg = 0;
        for (size_t i = 1; i < k; i++)
            if (fabs(cov[i * k + col]) > fabs(cov[arg * k + col]))
                arg = i;
        double sign = cov[arg * k + col] < 0 ? -1.0 : 1.0;
        for (size_t i = 0; i < k; i++)
            r->whitening[a * k + i] = sign * cov[i * k + col] / sqrt(d[col]);
    }
    return MVA_OK;
}

/* The fixed point: W <- E{g(WZ) Z^T} - diag(E{g'(WZ)}) W, decorrelated, until every row
 * stops moving.  wz: k x m scratch. */
static int fastica_iterate(const double *z, size_t k, size_t m, const mva_ica_opts *o,
                           mva_ica *r, double *wz, double *t, mva_error *err)
{
    int K = (int)k, M = (int)m;
    double *w1 = t, *gp = t + k * k, *scratch = t + k * k + k;
    double *w = r->w;
    for (r->iterations = 0; r->iterations < o->max_iter;) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, M, K, 1.0, w, K, z, M, 0.0,
                    wz, M);
        for (size_t q = 0; q < k; q++) {
            double s = 0;
            for (size_t i = 0; i < m; i++) {
                double g = tanh(wz[q * m + i]);
                wz[q * m + i] = g;
                s += 1.0 - g * g;
            }
            gp[q] = s / (double)m;
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, K, M, 1.0 / (double)m, wz, M,
                    z, M, 0.0, w1, K);
        for (size_t q = 0; q < k; q++)
            for (size_t j = 0; j < k; j++)
                w1[q * k + j] -= gp[q] * w[q * k + j];
        if (sym_decorrelate(w1, k, scratch) != MVA_OK)
            return mva_error_set(err, MVA_ENUMERIC, "FastICA: decorrelation failed at "
                                 "iteration %zu", r->iterations + 1);
        double lim = 0; /* largest move of an entry, each row's sign aligned first */
        for (size_t q = 0; q < k; q++) {
            double dot = 0;
            for (size_t j = 0; j < k; j++)
                dot += w1[q * k + j] * w[q * k + j];
            for (size_t j = 0; j < k; j++)
                lim = fmax(lim, fabs((dot < 0 ? -w1[q * k + j] : w1[q * k + j]) - w[q * k + j]));
        }
        memcpy(w, w1, k * k * sizeof *w);
        r->iterations++;
        r->final_change = lim;
        if (lim < o->tol) {
            r->converged = 1;
            break;
        }
    }
    return MVA_OK;
}

/* unmixing = W K and mixing = its inverse. */
static int unmix(mva_ica *r, double *t)
{
    size_t k = r->k;
    int K = (int)k;
    lapack_int ipiv[64];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, K, K, 1.0, r->w, K,
                r->whitening, K, 0.0, r->unmixing, K);
    memcpy(r->mixing, r->unmixing, k * k * sizeof *t);
    if (LAPACKE_dgetrf(LAPACK_ROW_MAJOR, K, K, r->mixing, K, ipiv) != 0 ||
        LAPACKE_dgetri(LAPACK_ROW_MAJOR, K, r->mixing, K, ipiv) != 0)
        return MVA_ENUMERIC;
    return MVA_OK;
}

/* Signs W's rows so that every source has positive skewness and orders them by the norm of
 * their mixing column, largest first.  src: the sources of the current W (k x m). */
static void orient_and_order(mva_ica *r, const double *src, size_t m, double *t)
{
    size_t k = r->k, ord[64];
    double *key = t, *sign = t + k, *tmp = t + 2 * k;
    for (size_t q = 0; q < k; q++) {
        double s3 = 0, a2 = 0;
        for (size_t i = 0; i < m; i++)
            s3 += src[q * m + i] * src[q * m + i] * src[q * m + i];
        for (size_t i = 0; i < k; i++)
            a2 += r->mixing[i * k + q] * r->mixing[i * k + q];
        key[q] = a2;
        sign[q] = s3 < 0 ? -1.0 : 1.0;
        ord[q] = q;
    }
    for (size_t a = 1; a < k; a++)
        for (size_t b = a; b > 0 && key[ord[b]] > key[ord[b - 1]]; b--) {
            size_t x = ord[b];
            ord[b] = ord[b - 1];
            ord[b - 1] = x;
        }
    memcpy(tmp, r->w, k * k * sizeof *tmp);
    for (size_t q = 0; q < k; q++)
        for (size_t j = 0; j < k; j++)
            r->w[q * k + j] = sign[ord[q]] * tmp[ord[q] * k + j];
}

static int ica_alloc(mva_ica **out, size_t k, size_t n)
{
    mva_ica *r = calloc(1, sizeof *r);
    if (r == NULL)
        return MVA_ENOMEM;
    r->k = k;
    r->n = n;
    size_t kk = k * k;
    r->mean = malloc(k * sizeof(double));
    r->whitening = malloc(kk * sizeof(double));
    r->w_init = malloc(kk * sizeof(double));
    r->w = malloc(kk * sizeof(double));
    r->unmixing = malloc(kk * sizeof(double));
    r->mixing = malloc(kk * sizeof(double));
    r->sources = malloc((n ? n : 1) * k * sizeof(double));
    *out = r;
    return r->mean && r->whitening && r->w_init && r->w && r->unmixing && r->mixing &&
                   r->sources
               ? MVA_OK
               : MVA_ENOMEM;
}

int mva_ica_fit(const double *x, size_t k, size_t n, const unsigned char *mask,
                const mva_ica_opts *opts, mva_ica **out, mva_error *err)
{
    mva_ica_opts o = opts ? *opts : mva_ica_opts_default();
    if (k == 0 || k > 64 || n > (size_t)INT32_MAX)
        return mva_error_set(err, MVA_EINVAL, "FastICA: needs 1 to 64 signals (%zu given) of "
                             "at most 2^31 pixels", k);
    mva_ica *r = NULL;
    double *xc = NULL, *wz = NULL, *t = malloc((4 * k * k + 4 * k) * sizeof *t);
    size_t m = 0, kk = k * k;
    int rc = ica_alloc(&r, k, n);
    if (rc == MVA_OK && t != NULL) {
        xc = malloc((n ? n : 1) * k * sizeof *xc);
        wz = malloc((n ? n : 1) * k * sizeof *wz);
    }
    if (rc != MVA_OK || t == NULL || xc == NULL || wz == NULL) {
        rc = mva_error_set(err, MVA_ENOMEM, "FastICA: out of memory for %zu x %zu signals",
                           k, n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) { /* the used pixels, compacted: xc is k x m */
        int ok = !(mask && mask[i]);
        for (size_t q = 0; q < k && ok; q++)
            ok = isfinite(x[q * n + i]);
        r->sources[i] = ok; /* scratch flag, overwritten below */
        m += ok;
    }
    if (m < 2 * k) {
        rc = mva_error_set(err, MVA_EINVAL, "FastICA: %zu usable pixels for %zu signals", m,
                           k);
        goto done;
    }
    for (size_t i = 0, a = 0; i < n; i++)
        if (r->sources[i] != 0) {
            for (size_t q = 0; q < k; q++)
                xc[q * m + a] = x[q * n + i];
            a++;
        }
    r->n_used = m;
    r->seed = o.seed;
    if ((rc = whiten(xc, k, m, r, t, err)) != MVA_OK)
        goto done;
    double *z = wz; /* z = K xc, then xc becomes the iteration's scratch */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)k, (int)m, (int)k, 1.0,
                r->whitening, (int)k, xc, (int)m, 0.0, z, (int)m);
    if (o.w_init)
        memcpy(r->w_init, o.w_init, kk * sizeof *r->w_init);
    else if (pca_gaussian_fill(r->w_init, kk, o.seed) != MVA_OK) {
        rc = mva_error_set(err, MVA_ENOMEM, "FastICA: out of memory");
        goto done;
    }
    memcpy(r->w, r->w_init, kk * sizeof *r->w);
    if (sym_decorrelate(r->w, k, t) != MVA_OK ||
        (rc = fastica_iterate(z, k, m, &o, r, xc, t, err)) != MVA_OK) {
        rc = rc != MVA_OK ? rc : mva_error_set(err, MVA_ENUMERIC, "FastICA: the start could "
                                               "not be decorrelated");
        goto done;
    }
    for (int pass = 0; pass < 2; pass++) { /* sources of W, then of the oriented, ordered W */
        if (unmix(r, t) != MVA_OK) {
            rc = mva_error_set(err, MVA_ENUMERIC, "FastICA: the unmixing matrix is singular");
            goto done;
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)k, (int)m, (int)k, 1.0,
                    r->w, (int)k, z, (int)m, 0.0, xc, (int)m);
        if (pass == 0)
            orient_and_order(r, xc, m, t);
    }
    for (size_t i = n, a = m; i-- > 0;) /* scatter back; the flags are still in row 0 */
        if (r->sources[i] != 0) {
            a--;
            for (size_t q = 0; q < k; q++)
                r->sources[q * n + i] = xc[q * m + a];
        } else {
            for (size_t q = 0; q < k; q++)
                r->sources[q * n + i] = NAN;
        }
    *out = r;
    r = NULL;
done:
    mva_ica_free(r);
    free(xc);
    free(wz);
    free(t);
    return rc;
}
