/* What mva_result_write checks before it touches the file: the parts go together, and each
 * part is complete and consistent (shapes, arrays present, names terminated). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static int check_pca(const char *path, const mva_pca_model *m, mva_error *err)
{
    if (m->rows == 0 || m->cols == 0 || m->p == 0 || m->k > m->p || m->bin == 0)
        return mva_error_set(err, MVA_EINVAL,
                             "%s: PCA model has an invalid shape (rows %zu, cols %zu, p %zu, "
                             "k %zu, bin %zu)",
                             path, m->rows, m->cols, m->p, m->k, m->bin);
    size_t n;
    if (mva_size_mul(m->rows, m->cols, &n) != MVA_OK)
        return mva_error_set(err, MVA_ERANGE, "%s: PCA map shape overflows", path);
    if (!m->var_ch0 || !m->mean || !m->eigenvalues || !m->explained || !m->components ||
        !m->scores || !m->scaled_mean || !m->mask ||
        (m->poisson && (!m->var_weight || !m->pix_weight)))
        return mva_error_set(err, MVA_EINVAL, "%s: PCA model has a missing array", path);
    return MVA_OK;
}

static int check_roi(const char *path, const mva_roi_result *r, mva_error *err)
{
    size_t n;
    if (r->rows == 0 || r->cols == 0 || r->p == 0)
        return mva_error_set(err, MVA_EINVAL,
                             "%s: ROI result has an invalid shape (rows %zu, cols %zu, p %zu)",
                             path, r->rows, r->cols, r->p);
    if (mva_size_mul(r->rows, r->cols, &n) != MVA_OK)
        return mva_error_set(err, MVA_ERANGE, "%s: ROI map shape overflows", path);
    if (!r->total || !r->sum_spectrum || !r->avg_spectrum || !r->max_spectrum || !r->mask ||
        (r->nroi > 0 && (!r->defs || !r->ch0 || !r->ch1 || !r->raw || !r->net)))
        return mva_error_set(err, MVA_EINVAL, "%s: ROI result has a missing array", path);
    for (size_t i = 0; i < r->nroi; i++) {
        if (memchr(r->defs[i].name, '\0', sizeof r->defs[i].name) == NULL)
            return mva_error_set(err, MVA_EINVAL, "%s: ROI %zu name is not terminated", path,
                                 i);
        if (r->defs[i].unit != MVA_ROI_CHANNEL && r->defs[i].unit != MVA_ROI_KEV)
            return mva_error_set(err, MVA_EINVAL, "%s: ROI %zu has an unknown unit %d", path, i,
                                 r->defs[i].unit);
    }
    return MVA_OK;
}

static int check_nmf(const char *path, const mva_nmf_model *m, mva_error *err)
{
    size_t n;
    if (m->rows == 0 || m->cols == 0 || m->p == 0 || m->k == 0 || m->k > m->p)
        return mva_error_set(err, MVA_EINVAL,
                             "%s: NMF model has an invalid shape (rows %zu, cols %zu, p %zu, "
                             "k %zu)", path, m->rows, m->cols, m->p, m->k);
    if (mva_size_mul(m->rows, m->cols, &n) != MVA_OK)
        return mva_error_set(err, MVA_ERANGE, "%s: NMF map shape overflows", path);
    if (!m->spectra || !m->abundances || !m->share || !m->mask ||
        (m->iterations > 0 && !m->history))
        return mva_error_set(err, MVA_EINVAL, "%s: NMF model has a missing array", path);
    return MVA_OK;
}

static int check_selection(const char *path, const mva_select_output *o, mva_error *err)
{
    const mva_select_spectra_result *r = o->spectra;
    size_t n;
    if (r == NULL || o->mask == NULL || o->rows == 0 || o->cols == 0 || r->p == 0 ||
        mva_size_mul(o->rows, o->cols, &n) != MVA_OK)
        return mva_error_set(err, MVA_EINVAL, "%s: the selection has no spectra, no mask or "
                             "an invalid map shape (%zu x %zu)", path, o->rows, o->cols);
    if (!r->sum || !r->avg || !r->max || !r->map_avg)
        return mva_error_set(err, MVA_EINVAL, "%s: the selection has a missing spectrum",
                             path);
    return MVA_OK;
}

static int check_cluster(const char *path, const mva_cluster_output *o, mva_error *err)
{
    if (o->km == NULL || o->rows * o->cols != o->km->n ||
        (o->spectra && o->spectra->nclass != o->km->clusters))
        return mva_error_set(err, MVA_EINVAL, "%s: the clustering does not match the map "
                             "shape or its spectra", path);
    if (o->silhouette != NULL && (o->c_min > o->c_max))
        return mva_error_set(err, MVA_EINVAL, "%s: the silhouette's cluster counts %zu..%zu "
                             "are not a range", path, o->c_min, o->c_max);
    return MVA_OK;
}

/* Which parts go together: pca and/or roi (+ recon with pca), or one of nmf, selection,
 * cluster alone. */
static int check_mix(const char *path, const mva_result_parts *s, mva_error *err)
{
    int analysis = s->pca != NULL || s->roi != NULL;
    int kinds = analysis + (s->nmf != NULL) + (s->selection != NULL) + (s->cluster != NULL);
    if (kinds == 0)
        return mva_error_set(err, MVA_EINVAL, "%s: nothing to write (no result part)", path);
    if (kinds > 1)
        return mva_error_set(err, MVA_EINVAL, "%s: an NMF, a selection and a clustering are "
                             "each written as an entry of their own (PCA and ROI share one)",
                             path);
    if (s->recon != NULL && s->pca == NULL)
        return mva_error_set(err, MVA_EINVAL, "%s: reconstruction statistics need the PCA "
                             "model they measure", path);
    if ((analysis || s->nmf != NULL) && s->input == NULL)
        return mva_error_set(err, MVA_EINVAL, "%s: nothing to write (no input or no result)",
                             path);
    return MVA_OK;
}

static int check_common(const char *path, const mva_result_parts *s, mva_error *err)
{
    if (s->entry != NULL && !valid_entry_name(s->entry))
        return mva_error_set(err, MVA_EINVAL,
                             "%s: invalid entry name \"%s\" (empty, '/', '.' or too long)", path,
                             s->entry);
    if (s->nparams > 0 && s->params == NULL)
        return mva_error_set(err, MVA_EINVAL, "%s: %zu parameters but no array", path,
                             s->nparams);
    for (size_t i = 0; i < s->nparams; i++)
        if (s->params[i].key == NULL || s->params[i].key[0] == '\0')
            return mva_error_set(err, MVA_EINVAL, "%s: parameter %zu has no key", path, i);
    return MVA_OK;
}

int res_check_parts(const char *path, const mva_result_parts *s, mva_error *err)
{
    if (path == NULL || path[0] == '\0' || s == NULL)
        return mva_error_set(err, MVA_EINVAL, "mva_result_write: no output path or parts");
    int rc = check_mix(path, s, err);
    if (rc == MVA_OK)
        rc = check_common(path, s, err);
    if (rc == MVA_OK && s->pca)
        rc = check_pca(path, s->pca, err);
    if (rc == MVA_OK && s->roi)
        rc = check_roi(path, s->roi, err);
    if (rc == MVA_OK && s->nmf)
        rc = check_nmf(path, s->nmf, err);
    if (rc == MVA_OK && s->selection)
        rc = check_selection(path, s->selection, err);
    if (rc == MVA_OK && s->cluster)
        rc = check_cluster(path, s->cluster, err);
    if (rc == MVA_OK && s->pca && s->roi &&
        (s->pca->rows != s->roi->rows || s->pca->cols != s->roi->cols))
        rc = mva_error_set(err, MVA_EINVAL,
                           "%s: PCA map %zu x %zu and ROI map %zu x %zu differ", path,
                           s->pca->rows, s->pca->cols, s->roi->rows, s->roi->cols);
    if (rc == MVA_OK && s->recon && s->recon->chi2 == NULL)
        rc = mva_error_set(err, MVA_EINVAL, "%s: reconstruction statistics without the chi2 "
                           "image", path);
    return rc;
}
