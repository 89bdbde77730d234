/* Reading PCA, ROI and NMF results back from a result file (layout: write.c). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "entry.h"
#include "internal.h"
/* ---------------------------------------------------------------------------------------- */
/* Reading                                                                                  */
/* ---------------------------------------------------------------------------------------- */

typedef struct rctx {
    hid_t file;
    const char *path;
    char entry[ENTRY_MAX + 2]; /* "/name" */
    mva_error *err;
} rctx;

static void full_path(const rctx *r, const char *rel, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", r->entry, rel);
}

static int r_missing(rctx *r, const char *rel)
{
    char full[1024];
    full_path(r, rel, full, sizeof full);
    return mva_error_set(r->err, MVA_ENOTFOUND, "%s: %s missing", r->path, full);
}

/* Opens dataset entry/rel and checks its rank; dims receives the shape. */
static int r_open(rctx *r, const char *rel, int rank, hsize_t *dims, hid_t *d)
{
    char full[1024];
    full_path(r, rel, full, sizeof full);
    *d = -1;
    if (!h5u_exists(r->file, full))
        return r_missing(r, rel);
    *d = H5Dopen2(r->file, full, H5P_DEFAULT);
    if (*d < 0)
        return mva_error_set(r->err, MVA_EFORMAT, "%s: %s is not a dataset", r->path, full);
    hid_t sp = H5Dget_space(*d);
    int got = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    hsize_t tmp[H5S_MAX_RANK];
    if (got >= 0 && got <= H5S_MAX_RANK)
        H5Sget_simple_extent_dims(sp, tmp, NULL);
    h5u_close(sp);
    /* A scalar may also be stored as a one-element 1-D array. */
    if (rank == 0 && got == 1 && tmp[0] == 1)
        got = 0;
    if (got != rank)
        return mva_error_set(r->err, MVA_EFORMAT, "%s: %s has %d dimensions, expected %d",
                             r->path, full, got, rank);
    for (int i = 0; i < rank; i++)
        dims[i] = tmp[i];
    return MVA_OK;
}

static void shape_text(int rank, const hsize_t *dims, char *buf, size_t cap)
{
    size_t at = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < rank && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%llu", i ? ", " : "",
                               (unsigned long long)dims[i]);
    if (at < cap)
        snprintf(buf + at, cap - at, ")");
}

/* Reads dataset entry/rel, which must have exactly the shape want, as mtype into buf. */
static int r_read(rctx *r, const char *rel, hid_t mtype, int rank, const hsize_t *want,
                  void *buf)
{
    hid_t d = -1;
    hsize_t dims[H5S_MAX_RANK], n = 1;
    int rc = r_open(r, rel, rank, dims, &d);
    for (int i = 0; rc == MVA_OK && i < rank; i++) {
        n *= dims[i];
        if (dims[i] != want[i]) {
            char got[128], exp[128], full[1024];
            shape_text(rank, dims, got, sizeof got);
            shape_text(rank, want, exp, sizeof exp);
            full_path(r, rel, full, sizeof full);
            rc = mva_error_set(r->err, MVA_EFORMAT, "%s: %s has shape %s, expected %s", r->path,
                               full, got, exp);
        }
    }
    if (rc == MVA_OK && n > 0 && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        char full[1024], why[300];
        full_path(r, rel, full, sizeof full);
        h5u_reason(why, sizeof why);
        rc = mva_error_set(r->err, MVA_EFORMAT, "%s: cannot read %s as numbers%s", r->path, full,
                           why);
    }
    h5u_close(d);
    return rc;
}

/* Length of the 1-D dataset entry/rel, or the shape of a 2-D one. */
static int r_dims(rctx *r, const char *rel, int rank, hsize_t *dims)
{
    hid_t d = -1;
    int rc = r_open(r, rel, rank, dims, &d);
    h5u_close(d);
    return rc;
}

static int r_size(rctx *r, const char *rel, size_t *v)
{
    uint64_t u = 0;
    int rc = r_read(r, rel, H5T_NATIVE_UINT64, 0, NULL, &u);
    if (rc == MVA_OK && u > SIZE_MAX)
        rc = mva_error_set(r->err, MVA_ERANGE, "%s: %s/%s = %llu is too large", r->path,
                           r->entry, rel, (unsigned long long)u);
    *v = (size_t)u;
    return rc;
}

static int has(rctx *r, const char *rel)
{
    char full[1024];
    full_path(r, rel, full, sizeof full);
    return h5u_exists(r->file, full);
}

static int r_open_file(rctx *r, const char *path, mva_error *err)
{
    r->path = path;
    r->err = err;
    r->file = -1;
    if (path == NULL)
        return mva_error_set(err, MVA_EINVAL, "mva_result_read: no result file given");
    if (access(path, F_OK) != 0)
        return mva_error_set(err, errno == ENOENT ? MVA_ENOTFOUND : MVA_EIO, "%s: %s", path,
                             strerror(errno));
    if (H5Fis_hdf5(path) <= 0)
        return mva_error_set(err, MVA_EFORMAT, "%s: not an HDF5 file", path);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0)
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    r->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    h5u_close(fapl);
    if (r->file < 0) {
        char why[300];
        h5u_reason(why, sizeof why);
        return mva_error_set(err, MVA_EIO, "%s: cannot open%s", path, why);
    }
    return MVA_OK;
}

/* Chooses the entry holding marker (results/entry.c); "what" names the kind in messages. */
static int find_entry(rctx *r, const char *entry, const char *marker, const char *what)
{
    char name[RES_ENTRY_MAX + 1];
    int rc = res_find_entry(r->file, r->path, entry, &marker, 1, what, name, r->err);
    if (rc == MVA_OK)
        snprintf(r->entry, sizeof r->entry, "/%s", name);
    return rc;
}

/* Reads process/<group> of the entry into model, field by field of the schema. */
static int read_fields(rctx *r, const res_schema *s, void *model)
{
    char rel[128];
    int rc = MVA_OK;
    for (size_t i = 0; rc == MVA_OK && i < s->n; i++) {
        const res_field *f = &s->fields[i];
        void *v = (char *)model + f->offset;
        snprintf(rel, sizeof rel, "process/%s/%s", s->group, f->name);
        if ((f->flags & RES_OPTIONAL) && !has(r, rel))
            continue;
        size_t z = 0;
        switch (f->type) {
        case RES_SIZE: rc = r_size(r, rel, v); break;
        case RES_U64: rc = r_size(r, rel, &z); *(uint64_t *)v = z; break;
        case RES_INT: rc = r_read(r, rel, H5T_NATIVE_INT, 0, NULL, v); break;
        default: rc = r_read(r, rel, H5T_NATIVE_DOUBLE, 0, NULL, v); break;
        }
    }
    return rc;
}

/* Whether the entry holds the model's spectral axis (energy), by the schema's axis row. */
static int has_axis(rctx *r, const res_schema *s)
{
    for (size_t i = 0; i < s->narrays; i++)
        if (s->arrays[i].place == RES_NX_AXIS)
            return has(r, s->arrays[i].path);
    return 0;
}

static int bad_shape(rctx *r, const char *group, size_t rows, size_t cols, size_t p, size_t k)
{
    return mva_error_set(r->err, MVA_EFORMAT,
                         "%s: %s/process/%s: inconsistent shape (rows %zu, cols %zu, p %zu, "
                         "k %zu)", r->path, r->entry, group, rows, cols, p, k);
}

/* The model's scalars from process/pca; allocates the model. */
static int read_pca_shape(rctx *r, mva_pca_model **out)
{
    mva_pca_model t;
    memset(&t, 0, sizeof t);
    size_t n;
    int rc = read_fields(r, &res_pca_schema, &t);
    if (rc != MVA_OK)
        return rc;
    if (t.k > t.p || mva_size_mul(t.rows, t.cols, &n) != MVA_OK ||
        mva_size_mul(n, t.k, &n) != MVA_OK)
        return bad_shape(r, "pca", t.rows, t.cols, t.p, t.k);
    rc = mva_pca_model_new(out, t.rows, t.cols, t.channels, t.p, t.k,
                             has_axis(r, &res_pca_schema), t.poisson != 0, r->err);
    if (rc == MVA_OK)
        res_copy_fields(&res_pca_schema, *out, &t);
    return rc;
}

/* Reads every array of the schema present in the model (allocated for its shape). */
static int read_arrays(rctx *r, const res_schema *s, void *m)
{
    int rc = MVA_OK;
    for (size_t i = 0; rc == MVA_OK && i < s->narrays; i++) {
        const res_array *a = &s->arrays[i];
        void *at = (char *)m + a->offset;
        if (!res_array_present(s, m, a))
            continue;
        hsize_t dims[3];
        int rank = res_array_dims(s, m, a->shape, dims);
        void *buf = rank == 0 ? at : *(void **)at;
        if (a->type == RES_SIZE && rank == 0)
            rc = r_size(r, a->path, buf);
        else
            rc = r_read(r, a->path, a->type == RES_F64  ? H5T_NATIVE_DOUBLE
                                    : a->type == RES_U8 ? H5T_NATIVE_UCHAR
                                                        : h5u_native_size(),
                        rank, dims, buf);
    }
    return rc;
}

int mva_result_read_pca(const char *path, const char *entry, mva_pca_model **out,
                        mva_error *err)
{
    h5u_quiet q;
    h5u_quiet_on(&q);
    rctx r = {-1, path, "", err};
    mva_pca_model *m = NULL;
    int rc = out != NULL ? r_open_file(&r, path, err)
                         : mva_error_set(err, MVA_EINVAL, "mva_result_read_pca: out is NULL");
    if (rc == MVA_OK)
        rc = find_entry(&r, entry, MVA_RESULT_PCA, "PCA");
    if (rc == MVA_OK)
        rc = read_pca_shape(&r, &m);
    if (rc == MVA_OK)
        rc = read_arrays(&r, &res_pca_schema, m);
    if (rc == MVA_OK)
        *out = m;
    else
        mva_pca_model_free(m);
    h5u_close(r.file);
    h5u_quiet_off(&q);
    return rc;
}

static int roi_alloc(mva_roi_result **out, size_t rows, size_t cols, size_t p, size_t nroi)
{
    size_t npix, n, nimg;
    if (mva_size_mul(rows, cols, &npix) != MVA_OK || mva_size_mul(npix, nroi, &nimg) != MVA_OK ||
        mva_size_mul(nimg, sizeof(double), &nimg) != MVA_OK ||
        mva_size_mul(npix, sizeof(double), &n) != MVA_OK)
        return MVA_ERANGE;
    mva_roi_result *r = calloc(1, sizeof *r);
    if (r == NULL)
        return MVA_ENOMEM;
    r->rows = rows;
    r->cols = cols;
    r->p = p;
    r->nroi = nroi;
    size_t k = nroi ? nroi : 1;
    r->defs = calloc(k, sizeof *r->defs);
    r->ch0 = calloc(k, sizeof *r->ch0);
    r->ch1 = calloc(k, sizeof *r->ch1);
    r->raw = malloc(nimg ? nimg : 1);
    r->net = malloc(nimg ? nimg : 1);
    r->total = malloc(n ? n : 1);
    r->sum_spectrum = calloc(p ? p : 1, sizeof(double));
    r->avg_spectrum = calloc(p ? p : 1, sizeof(double));
    r->max_spectrum = calloc(p ? p : 1, sizeof(double));
    r->mask = calloc(npix ? npix : 1, 1);
    *out = r;
    if (!r->defs || !r->ch0 || !r->ch1 || !r->raw || !r->net || !r->total || !r->sum_spectrum ||
        !r->avg_spectrum || !r->max_spectrum || !r->mask)
        return MVA_ENOMEM;
    return MVA_OK;
}

/* Reads n strings of entry/rel into rows of width bytes. */
static int r_strings(rctx *r, const char *rel, size_t n, char *out, size_t width)
{
    hid_t d = -1;
    hsize_t dims[1] = {0};
    char full[1024];
    full_path(r, rel, full, sizeof full);
    int rc = r_open(r, rel, 1, dims, &d);
    if (rc == MVA_OK && dims[0] != n)
        rc = mva_error_set(r->err, MVA_EFORMAT, "%s: %s has %llu strings, expected %zu",
                           r->path, full, (unsigned long long)dims[0], n);
    if (rc == MVA_OK) {
        rc = h5u_read_strings(d, 0, n, out, width);
        if (rc != MVA_OK)
            rc = mva_error_set(r->err, rc == MVA_ENOMEM ? MVA_ENOMEM : MVA_EFORMAT,
                               "%s: cannot read %s as strings of at most %zu bytes", r->path,
                               full, width - 1);
    }
    h5u_close(d);
    return rc;
}

static int read_roi_defs(rctx *r, mva_roi_result *res)
{
    size_t n = res->nroi;
    hsize_t dims[1] = {n};
    char(*names)[MVA_ROI_NAME_MAX] = calloc(n ? n : 1, sizeof *names);
    char(*units)[16] = calloc(n ? n : 1, sizeof *units);
    double *from = calloc(n ? n : 1, sizeof *from), *to = calloc(n ? n : 1, sizeof *to);
    int rc = names && units && from && to
                 ? MVA_OK
                 : mva_error_set(r->err, MVA_ENOMEM, "%s: out of memory", r->path);
    if (rc == MVA_OK)
        rc = r_strings(r, "roi_definitions/names", n, names[0], sizeof names[0]);
    if (rc == MVA_OK)
        rc = r_strings(r, "roi_definitions/unit", n, units[0], sizeof units[0]);
    if (rc == MVA_OK)
        rc = r_read(r, "roi_definitions/from", H5T_NATIVE_DOUBLE, 1, dims, from);
    if (rc == MVA_OK)
        rc = r_read(r, "roi_definitions/to", H5T_NATIVE_DOUBLE, 1, dims, to);
    if (rc == MVA_OK)
        rc = r_read(r, "roi_definitions/ch0", h5u_native_size(), 1, dims, res->ch0);
    if (rc == MVA_OK)
        rc = r_read(r, "roi_definitions/ch1", h5u_native_size(), 1, dims, res->ch1);
    for (size_t i = 0; rc == MVA_OK && i < n; i++) {
        mva_roi_def *d = &res->defs[i];
        memcpy(d->name, names[i], sizeof d->name);
        d->from = from[i];
        d->to = to[i];
        if (strcmp(units[i], "keV") == 0)
            d->unit = MVA_ROI_KEV;
        else if (strcmp(units[i], "channel") == 0)
            d->unit = MVA_ROI_CHANNEL;
        else
            rc = mva_error_set(r->err, MVA_EFORMAT,
                               "%s: %s/roi_definitions/unit[%zu] is \"%s\", expected "
                               "\"channel\" or \"keV\"",
                               r->path, r->entry, i, units[i]);
    }
    free(names);
    free(units);
    free(from);
    free(to);
    return rc;
}

static int read_roi_arrays(rctx *r, mva_roi_result *res)
{
    hsize_t p[1] = {res->p}, img[2] = {res->rows, res->cols};
    hsize_t stack[3] = {res->nroi, res->rows, res->cols};
    const hid_t f64 = H5T_NATIVE_DOUBLE;
    /* The ROI's own mask when it differs from the PCA's in the same entry. */
    int own = has(r, "roi_mask");
    int rc = read_roi_defs(r, res);
    if (rc == MVA_OK && res->nroi > 0)
        rc = r_read(r, "roi_raw/data", f64, 3, stack, res->raw);
    if (rc == MVA_OK && res->nroi > 0)
        rc = r_read(r, "roi_net/data", f64, 3, stack, res->net);
    if (rc == MVA_OK)
        rc = r_read(r, "total_counts/data", f64, 2, img, res->total);
    if (rc == MVA_OK)
        rc = r_read(r, "sum_spectrum/data", f64, 1, p, res->sum_spectrum);
    if (rc == MVA_OK)
        rc = r_read(r, "average_spectrum/data", f64, 1, p, res->avg_spectrum);
    if (rc == MVA_OK)
        rc = r_read(r, "max_spectrum/data", f64, 1, p, res->max_spectrum);
    if (rc == MVA_OK)
        rc = r_read(r, own ? "roi_mask" : "mask", H5T_NATIVE_UCHAR, 2, img, res->mask);
    if (rc == MVA_OK)
        rc = r_size(r, own ? "roi_n_valid_pixels" : "n_valid_pixels", &res->n_valid);
    return rc;
}

int mva_result_read_roi(const char *path, const char *entry, mva_roi_result **out,
                        mva_error *err)
{
    h5u_quiet q;
    h5u_quiet_on(&q);
    rctx r = {-1, path, "", err};
    mva_roi_result *res = NULL;
    hsize_t img[2] = {0, 0}, p[1] = {0}, nroi[1] = {0};
    int rc = out != NULL ? r_open_file(&r, path, err)
                         : mva_error_set(err, MVA_EINVAL, "mva_result_read_roi: out is NULL");
    if (rc == MVA_OK)
        rc = find_entry(&r, entry, MVA_RESULT_ROI, "ROI result");
    /* The shape comes from the data themselves: map from total_counts, channels from the
     * sum spectrum, ROI count from the definitions. */
    if (rc == MVA_OK)
        rc = r_dims(&r, "total_counts/data", 2, img);
    if (rc == MVA_OK)
        rc = r_dims(&r, "sum_spectrum/data", 1, p);
    if (rc == MVA_OK)
        rc = r_dims(&r, "roi_definitions/names", 1, nroi);
    if (rc == MVA_OK) {
        rc = roi_alloc(&res, img[0], img[1], p[0], nroi[0]);
        if (rc != MVA_OK)
            rc = mva_error_set(err, rc, "%s: %s: cannot allocate a %llu x %llu x %llu ROI result",
                               path, r.entry, (unsigned long long)nroi[0],
                               (unsigned long long)img[0], (unsigned long long)img[1]);
    }
    if (rc == MVA_OK)
        rc = read_roi_arrays(&r, res);
    if (rc == MVA_OK)
        *out = res;
    else
        mva_roi_result_free(res);
    h5u_close(r.file);
    h5u_quiet_off(&q);
    return rc;
}

/* The NMF model's scalars from process/nmf; allocates the model. */
static int read_nmf_shape(rctx *r, mva_nmf_model **out)
{
    mva_nmf_model t;
    memset(&t, 0, sizeof t);
    size_t n;
    int rc = read_fields(r, &res_nmf_schema, &t);
    if (rc != MVA_OK)
        return rc;
    if (t.k == 0 || t.k > t.p || mva_size_mul(t.rows, t.cols, &n) != MVA_OK ||
        mva_size_mul(n, t.k, &n) != MVA_OK)
        return bad_shape(r, "nmf", t.rows, t.cols, t.p, t.k);
    /* The history is as long as the passes done, whatever max_iter was. */
    rc = mva_nmf_model_new(out, t.rows, t.cols, t.p, t.k, t.iterations, has_axis(r, &res_nmf_schema),
                             r->err);
    if (rc == MVA_OK)
        res_copy_fields(&res_nmf_schema, *out, &t);
    return rc;
}

int mva_result_read_nmf(const char *path, const char *entry, mva_nmf_model **out,
                        mva_error *err)
{
    h5u_quiet q;
    h5u_quiet_on(&q);
    rctx r = {-1, path, "", err};
    mva_nmf_model *m = NULL;
    int rc = out != NULL ? r_open_file(&r, path, err)
                         : mva_error_set(err, MVA_EINVAL, "mva_result_read_nmf: out is NULL");
    if (rc == MVA_OK)
        rc = find_entry(&r, entry, MVA_RESULT_NMF, "NMF");
    if (rc == MVA_OK)
        rc = read_nmf_shape(&r, &m);
    if (rc == MVA_OK)
        rc = read_arrays(&r, &res_nmf_schema, m);
    if (rc == MVA_OK)
        *out = m;
    else
        mva_nmf_model_free(m);
    h5u_close(r.file);
    h5u_quiet_off(&q);
    return rc;
}

