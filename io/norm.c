/* Normalisation factors read from HDF5 datasets, and the weights of a whole --norm spec.
 * See src/combine.h for the contract. */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "combine.h"

/* "(4, 11, 9)" */
static void shape_text(int rank, const hsize_t *d, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < rank && len + 1 < cap; k++) {
        int m = snprintf(buf + len, cap - len, "%s%llu", k ? ", " : "(", (unsigned long long)d[k]);
        if (m < 0)
            break;
        len += (size_t)m;
    }
    if (len + 2 < cap)
        snprintf(buf + len, cap - len, "%s", rank ? ")" : "()");
}

/* How the dataset's shape maps to (element, pixel): 0 no match, 1 (n) or (rows, cols),
 * 2 (nel, rows, cols), 3 (rows, cols, nel) or (n, nel) (pixel-major: Odin's meta file holds
 * (frames, elements)).  -1 when both 3-D readings fit.  (rows, cols) and (n, nel) cannot both
 * fit: that needs cols = 1 = nel. */
static int match_shape(int rank, const hsize_t *d, size_t rows, size_t cols, size_t nel)
{
    size_t n = rows * cols;
    if (rank == 1 && d[0] == n)
        return 1;
    if (rank == 2 && d[0] == rows && d[1] == cols)
        return 1;
    if (rank == 2 && nel >= 2 && d[0] == n && d[1] == nel)
        return 3;
    if (rank != 3 || nel < 2)
        return 0;
    int first = d[0] == nel && d[1] == rows && d[2] == cols;
    int last = d[0] == rows && d[1] == cols && d[2] == nel;
    if (first && last)
        return -1;
    return first ? 2 : last ? 3 : 0;
}

/* Transposes (rows, cols, nel) values into element-major (nel, n). */
static int to_element_major(double **v, size_t n, size_t nel)
{
    double *t = malloc(n * nel * sizeof *t);
    if (t == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        for (size_t e = 0; e < nel; e++)
            t[e * n + i] = (*v)[i * nel + e];
    free(*v);
    *v = t;
    return 0;
}

/* Element e of a per-element dataset: (E, rows, cols) -> 2, (rows, cols, E) or (n, E) -> 3,
 * 0 when none fits or e is out of range, -1 when both 3-D readings fit. */
static int match_element(int rank, const hsize_t *d, size_t rows, size_t cols, long e,
                         size_t *nel)
{
    if (rank == 2 && d[0] == rows * cols && (hsize_t)e < d[1]) {
        *nel = (size_t)d[1];
        return 3;
    }
    if (rank != 3)
        return 0;
    int first = d[1] == rows && d[2] == cols && (hsize_t)e < d[0];
    int last = d[0] == rows && d[1] == cols && (hsize_t)e < d[2];
    if (first && last && d[0] != d[2])
        return -1;
    *nel = (size_t)(first ? d[0] : d[2]);
    return first ? 2 : last ? 3 : 0;
}

/* Keeps element e of the element-major (nel, n) values at the front of *v. */
static void keep_element(double *v, size_t n, size_t e)
{
    if (e > 0)
        memmove(v, v + e * n, n * sizeof *v);
}

int mva_norm_read_dataset(const char *file, const char *path, long element, size_t rows,
                          size_t cols, size_t nel, double **v, size_t *vnel, mva_error *err)
{
    int rc = MVA_OK;
    hid_t f = -1, d = -1, sp = -1;
    hsize_t dims[8];
    *v = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if ((f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
        rc = mva_error_set(err, MVA_ENOTFOUND, "--norm: %s: cannot open as HDF5", file);
        goto done;
    }
    if (H5Lexists(f, path, H5P_DEFAULT) <= 0 || (d = H5Dopen2(f, path, H5P_DEFAULT)) < 0) {
        rc = mva_error_set(err, MVA_ENOTFOUND, "--norm: %s: no dataset %s", file, path);
        goto done;
    }
    sp = H5Dget_space(d);
    int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (rank < 0 || rank > 8 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
        rc = mva_error_set(err, MVA_EFORMAT, "--norm: %s::%s: cannot read its shape", file, path);
        goto done;
    }
    hid_t ty = H5Dget_type(d);
    H5T_class_t cls = ty < 0 ? H5T_NO_CLASS : H5Tget_class(ty);
    if (ty >= 0)
        H5Tclose(ty);
    size_t dnel = nel;
    int how = element >= 0 ? match_element(rank, dims, rows, cols, element, &dnel)
                           : match_shape(rank, dims, rows, cols, nel);
    char found[128];
    shape_text(rank, dims, found, sizeof found);
    if (element >= 0 && how == 0) {
        rc = mva_error_set(err, MVA_EFORMAT,
                           "--norm: %s::%s[%ld] has shape %s; element %ld of a per-element "
                           "factor of this %zu x %zu map needs (E, %zu, %zu), (%zu, %zu, E) "
                           "or (%zu, E) with E > %ld", file, path, element, found, element,
                           rows, cols, rows, cols, rows, cols, rows * cols, element);
        goto done;
    }
    if (how == -1) {
        rc = mva_error_set(err, MVA_EFORMAT,
                           "--norm: %s::%s: shape %s reads as (elements, rows, cols) and as "
                           "(rows, cols, elements); write the factors of one element per "
                           "dataset", file, path, found);
        goto done;
    }
    if (how == 0) {
        char el[160] = "";
        if (nel > 1)
            snprintf(el, sizeof el, ", (%zu, %zu, %zu), (%zu, %zu, %zu) or (%zu, %zu) (pixels, "
                     "elements)", nel, rows, cols, rows, cols, nel, rows * cols, nel);
        rc = mva_error_set(err, MVA_EFORMAT,
                           "--norm: %s::%s has shape %s; a per-pixel factor of this %zu x %zu "
                           "map must be (%zu), (%zu, %zu)%s", file, path, found, rows, cols,
                           rows * cols, rows, cols, el);
        goto done;
    }
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        rc = mva_error_set(err, MVA_EFORMAT, "--norm: %s::%s is not numeric", file, path);
        goto done;
    }
    size_t n = rows * cols, count = how == 1 ? n : n * dnel;
    if ((*v = malloc(count * sizeof **v)) == NULL) {
        rc = mva_error_set(err, MVA_ENOMEM, "--norm: out of memory reading %s::%s", file, path);
        goto done;
    }
    if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *v) < 0) {
        rc = mva_error_set(err, MVA_EIO, "--norm: %s::%s: read failed", file, path);
        goto done;
    }
    if (how == 3 && to_element_major(v, n, dnel) != 0) {
        rc = mva_error_set(err, MVA_ENOMEM, "--norm: out of memory reading %s::%s", file, path);
        goto done;
    }
    *vnel = how == 1 ? 1 : dnel;
    if (element >= 0) {
        keep_element(*v, n, (size_t)element);
        *vnel = 1;
    }
done:
    if (rc != MVA_OK) {
        free(*v);
        *v = NULL;
    }
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    if (f >= 0)
        H5Fclose(f);
    return rc;
}

static const char *kind_word(mva_norm_kind k)
{
    return k == MVA_NORM_DTC ? "dead-time factors" : k == MVA_NORM_LIVETIME ? "live time"
                                                                             : "monitor";
}

/* The values of one term: read from its dataset, or resolved by the layout. */
static int term_values(const mva_norm_term *t, const char *input_file, size_t rows,
                       size_t cols, size_t nel, mva_norm_resolve_fn resolve, void *ctx,
                       double **v, size_t *vnel, char *src, size_t cap, mva_error *err)
{
    if (t->path[0] != '\0') {
        const char *file = t->file[0] ? t->file : input_file;
        char el[32] = "";
        if (t->element >= 0)
            snprintf(el, sizeof el, "[%ld]", t->element);
        if (t->file[0])
            snprintf(src, cap, "%s::%s%s", t->file, t->path, el);
        else
            snprintf(src, cap, "%s%s", t->path, el);
        return mva_norm_read_dataset(file, t->path, t->element, rows, cols, nel, v, vnel, err);
    }
    if (resolve == NULL)
        return mva_error_set(err, MVA_EINVAL,
                             "--norm %s: %s has no recognised layout to find '%s' in; name the "
                             "dataset instead, e.g. --norm %s:/path/to/%s or "
                             "--norm %s:other.h5::/path",
                             t->name, input_file, t->name,
                             t->kind == MVA_NORM_DTC ? "dtc" : t->kind == MVA_NORM_LIVETIME
                                                                   ? "livetime" : "monitor",
                             t->name, t->kind == MVA_NORM_DTC ? "dtc" : "monitor");
    return resolve(ctx, t, v, vnel, src, cap, err);
}

/* Keeps the used elements' rows of w (nel x n) at its front. */
static size_t compact(double *w, size_t n, size_t nel, const unsigned char *use)
{
    size_t k = 0;
    for (size_t e = 0; e < nel; e++)
        if (use == NULL || use[e]) {
            if (k != e)
                memmove(w + k * n, w + e * n, n * sizeof *w);
            k++;
        }
    return k;
}

/* Appends one term's description to desc. */
static void describe_term(const mva_norm_term *t, const char *src, size_t vnel, double ref,
                          char *desc, size_t cap)
{
    size_t len = strlen(desc);
    if (len + 1 >= cap)
        return;
    const char *sep = len ? "; " : "";
    char per[48] = "";
    if (vnel > 1)
        snprintf(per, sizeof per, " (one per element)");
    if (t->kind == MVA_NORM_DTC)
        snprintf(desc + len, cap - len, "%smultiplied by %s %s%s", sep, kind_word(t->kind), src,
                 per);
    else
        snprintf(desc + len, cap - len, "%sdivided by %s %s%s, times %.6g (%s)", sep,
                 kind_word(t->kind), src, per, ref, t->has_ref ? "given" : "its mean");
}

/* Two weight rows equal (NaN equal to NaN)? */
static int same_row(const double *a, const double *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i]))))
            return 0;
    return 1;
}

/* The record of the weights ww (nused x n) of the terms in rec: one image when every used
 * element has the same weights, else one per used element (use NULL = all nel). */
static mva_norm_factors *record(const double *ww, size_t rows, size_t cols, size_t nel,
                                size_t nused, const unsigned char *use,
                                const mva_norm_factors *rec)
{
    size_t n = rows * cols, keep = 1;
    for (size_t e = 1; e < nused && keep == 1; e++)
        if (!same_row(ww, ww + e * n, n))
            keep = nused;
    double *v;
    size_t *el;
    mva_norm_factors *f = mva_norm_factors_new(rows, cols, keep, &v, &el);
    if (f == NULL)
        return NULL;
    for (size_t e = 0, k = 0; e < nel && k < keep; e++)
        if (use == NULL || use[e])
            el[k++] = e;
    memcpy(v, ww, keep * n * sizeof *v);
    f->nterms = rec->nterms;
    memcpy(f->term, rec->term, sizeof f->term);
    return f;
}

int mva_norm_build(const char *spec, const char *input_file, size_t rows, size_t cols,
                   size_t nel, const unsigned char *use, mva_norm_resolve_fn resolve, void *ctx,
                   double **w, char *desc, size_t desc_cap, mva_error *err)
{
    return mva_norm_build_factors(spec, input_file, rows, cols, nel, use, resolve, ctx, w, NULL,
                                  desc, desc_cap, err);
}

int mva_norm_build_factors(const char *spec, const char *input_file, size_t rows, size_t cols,
                           size_t nel, const unsigned char *use, mva_norm_resolve_fn resolve,
                           void *ctx, double **w, mva_norm_factors **factors, char *desc,
                           size_t desc_cap, mva_error *err)
{
    mva_norm_spec ns;
    mva_norm_factors rec;
    int rc;
    size_t n = rows * cols, masked = 0;
    *w = NULL;
    memset(&rec, 0, sizeof rec);
    if (factors != NULL)
        *factors = NULL;
    if (desc_cap)
        desc[0] = '\0';
    if (spec == NULL)
        return MVA_OK;
    if ((rc = mva_norm_parse(spec, &ns, err)) != MVA_OK)
        return rc;
    if (n == 0 || nel == 0 || n > SIZE_MAX / sizeof(double) / nel)
        return mva_error_set(err, MVA_ERANGE, "--norm: invalid map of %zu x %zu x %zu elements",
                             rows, cols, nel);
    double *ww = malloc(n * nel * sizeof *ww);
    if (ww == NULL)
        return mva_error_set(err, MVA_ENOMEM, "--norm: out of memory");
    for (size_t i = 0; i < n * nel; i++)
        ww[i] = 1.0;
    for (size_t k = 0; k < ns.nterms; k++) {
        const mva_norm_term *t = &ns.term[k];
        double *v = NULL, ref = 0;
        size_t vnel = 1, bad = 0;
        char src[1200] = "";
        rc = term_values(t, input_file, rows, cols, nel, resolve, ctx, &v, &vnel, src,
                         sizeof src, err);
        if (rc == MVA_OK && (rc = mva_norm_factor(t, v, n, vnel, nel, ww, &ref, &bad, err)) !=
                                MVA_OK)
            mva_error_prefix(err, rc, "--norm: %s: ", src);
        free(v);
        if (rc != MVA_OK) {
            free(ww);
            return rc;
        }
        describe_term(t, src, vnel, ref, desc, desc_cap);
        snprintf(rec.term[k].kind, sizeof rec.term[k].kind, "%s", kind_word(t->kind));
        snprintf(rec.term[k].source, sizeof rec.term[k].source, "%s", src);
        rec.term[k].reference = t->kind == MVA_NORM_DTC ? NAN : ref;
        rec.nterms = k + 1;
        masked += bad;
    }
    size_t nused = compact(ww, n, nel, use);
    size_t masked_pixels = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t e = 0; e < nused; e++)
            if (isnan(ww[e * n + i])) {
                masked_pixels++;
                break;
            }
    (void)masked;
    if (masked_pixels > 0 && desc_cap) {
        size_t len = strlen(desc);
        snprintf(desc + len, desc_cap - len,
                 "; %zu pixel%s masked (factor zero, negative or not a number)", masked_pixels,
                 masked_pixels == 1 ? "" : "s");
    }
    if (factors != NULL &&
        (*factors = record(ww, rows, cols, nel, nused, use, &rec)) == NULL) {
        free(ww);
        return mva_error_set(err, MVA_ENOMEM, "--norm: out of memory");
    }
    *w = ww;
    return MVA_OK;
}
