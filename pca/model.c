/* The PCA model: allocation of every array with checked sizes, and its release. */
#include <stdlib.h>
#include <string.h>

#include "mva/pca.h"

mva_pca_opts mva_pca_opts_default(void)
{
    mva_pca_opts o;
    memset(&o, 0, sizeof o);
    o.k = 10;
    o.bin = 1;
    o.method = MVA_PCA_AUTO;
    o.oversample = 10;
    o.max_passes = 8;
    o.tol = 1e-8;
    o.seed = MVA_PCA_DEFAULT_SEED;
    return o;
}

/* calloc of a * b elements of size sz, or NULL when the product overflows. */
static void *alloc_array(size_t a, size_t b, size_t sz)
{
    size_t n;
    if (mva_size_mul(a, b, &n) != MVA_OK || mva_size_mul(n, sz, &n) != MVA_OK)
        return NULL;
    return calloc(n ? n : 1, 1);
}

int mva_pca_model_new(mva_pca_model **out, size_t rows, size_t cols, size_t channels,
                      size_t p, size_t k, int with_energy, int poisson, mva_error *err)
{
    size_t n;
    if (mva_size_mul(rows, cols, &n) != MVA_OK)
        return mva_error_set(err, MVA_ERANGE, "map shape %zu x %zu overflows", rows, cols);
    mva_pca_model *m = calloc(1, sizeof *m);
    if (m == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory allocating a PCA model");
    m->rows = rows;
    m->cols = cols;
    m->channels = channels;
    m->p = p;
    m->k = k;
    m->bin = 1;
    m->n_eigenvalues = p;
    m->var_ch0 = alloc_array(p, 1, sizeof *m->var_ch0);
    m->mean = alloc_array(p, 1, sizeof(double));
    m->scaled_mean = alloc_array(p, 1, sizeof(double));
    m->eigenvalues = alloc_array(p, 1, sizeof(double));
    m->explained = alloc_array(p, 1, sizeof(double));
    m->components = alloc_array(k, p, sizeof(double));
    m->scores = alloc_array(k, n, sizeof(double));
    m->mask = alloc_array(n, 1, 1);
    int ok = m->var_ch0 && m->mean && m->scaled_mean && m->eigenvalues && m->explained &&
             m->components && m->scores && m->mask;
    if (with_energy)
        ok = ok && (m->var_energy = alloc_array(p, 1, sizeof(double))) != NULL;
    if (poisson) {
        m->poisson = 1;
        ok = ok && (m->var_weight = alloc_array(p, 1, sizeof(double))) != NULL;
        ok = ok && (m->pix_weight = alloc_array(n, 1, sizeof(double))) != NULL;
    }
    if (!ok) {
        mva_pca_model_free(m);
        return mva_error_set(err, MVA_ENOMEM,
                             "out of memory allocating a PCA model (%zu pixels, %zu variables, "
                             "%zu components)",
                             n, p, k);
    }
    *out = m;
    return MVA_OK;
}

void mva_pca_model_free(mva_pca_model *m)
{
    if (m == NULL)
        return;
    free(m->var_ch0);
    free(m->var_energy);
    free(m->mean);
    free(m->scaled_mean);
    free(m->eigenvalues);
    free(m->explained);
    free(m->components);
    free(m->scores);
    free(m->var_weight);
    free(m->pix_weight);
    free(m->mask);
    free(m);
}
