/* The fields of each analysis's model, named once: the writer (res_write_fields,
 * res_write_arrays) and the reader (read.c: read_fields, read_arrays) both walk these
 * tables.  Adding a scalar to a result is one row in the analysis's fields plus the field in
 * the model's struct; adding an array is one row in its arrays (with the allocation in the
 * model's _new).  File types: RES_SIZE and RES_U64 as uint64, RES_INT as int32, RES_F64 as
 * float64, RES_U8 as uint8. */
#include <stddef.h>
#include <string.h>

#include "internal.h"
#include "mva/nmf.h"
#include "mva/pca.h"

/* Enum fields are stored as int32: the typed enums must have the size of an int. */
_Static_assert(sizeof(mva_pca_method) == sizeof(int), "enum size");
_Static_assert(sizeof(mva_nmf_method) == sizeof(int), "enum size");
_Static_assert(sizeof(mva_nmf_init) == sizeof(int), "enum size");

static const char *pca_method(int v) { return mva_pca_method_name((mva_pca_method)v); }
static const char *nmf_method(int v) { return mva_nmf_method_name((mva_nmf_method)v); }
static const char *nmf_init(int v) { return mva_nmf_init_name((mva_nmf_init)v); }

#define PCA(name, type, field) {name, type, offsetof(mva_pca_model, field), NULL, NULL, 0}
static const res_field pca_fields[] = {
    PCA("rows", RES_SIZE, rows),
    PCA("cols", RES_SIZE, cols),
    PCA("channels", RES_SIZE, channels),
    PCA("p", RES_SIZE, p),
    PCA("k", RES_SIZE, k),
    PCA("bin", RES_SIZE, bin),
    PCA("n_eigenvalues", RES_SIZE, n_eigenvalues),
    PCA("passes", RES_SIZE, passes),
    {"n_exact_pixels", RES_SIZE, offsetof(mva_pca_model, n_exact), NULL, NULL, RES_OPTIONAL},
    PCA("oversample", RES_SIZE, oversample),
    PCA("seed", RES_U64, seed),
    PCA("poisson", RES_INT, poisson),
    PCA("uncentred", RES_INT, uncentred),
    {"method", RES_INT, offsetof(mva_pca_model, method), pca_method, NULL, 0},
    PCA("final_change", RES_F64, final_change),
    {"final_error", RES_F64, offsetof(mva_pca_model, final_error), NULL, NULL, RES_OPTIONAL},
    {"seconds", RES_F64, offsetof(mva_pca_model, seconds), NULL, "s", RES_OPTIONAL},
    {"converged", RES_INT, offsetof(mva_pca_model, converged), NULL, NULL, RES_OPTIONAL},
    {"auto_randomized_passes", RES_SIZE, offsetof(mva_pca_model, auto_passes), NULL, NULL,
     RES_OPTIONAL},
    {"auto_randomized_change", RES_F64, offsetof(mva_pca_model, auto_change), NULL, NULL,
     RES_OPTIONAL},
};

/* The PCA's arrays.  Its NXdata groups; eigenvalues also get the scree (analyses.c). */
#define PCA_A(path, type, shape, field, place, title, flags) \
    {path, type, shape, offsetof(mva_pca_model, field), place, title, flags}
static const res_array pca_arrays[] = {
    PCA_A("eigenimages/data", RES_F64, RES_KIMAGE, scores, RES_NX_IMAGES,
          "PCA eigenimages (scores)", 0),
    PCA_A("eigenspectra/data", RES_F64, RES_KP, components, RES_NX_SPECTRA,
          "PCA eigenspectra (loadings)", 0),
    PCA_A("eigenspectra/energy", RES_F64, RES_P, var_energy, RES_NX_AXIS, NULL, RES_IF_SET),
    PCA_A("mean_spectrum/data", RES_F64, RES_P, mean, RES_NX_SPECTRUM,
          "Mean spectrum of the valid pixels", 0),
    PCA_A("eigenvalues", RES_F64, RES_P, eigenvalues, RES_PLAIN, NULL, 0),
    PCA_A("explained_variance_ratio", RES_F64, RES_P, explained, RES_PLAIN, NULL, 0),
    PCA_A("total_variance", RES_F64, RES_SCALAR, total_variance, RES_PLAIN, NULL, 0),
    PCA_A("n_valid_pixels", RES_SIZE, RES_SCALAR, n_valid, RES_PLAIN, NULL, 0),
    PCA_A("mask", RES_U8, RES_IMAGE, mask, RES_PLAIN, NULL, 0),
    PCA_A("var_ch0", RES_SIZE, RES_P, var_ch0, RES_PLAIN, NULL, 0),
    PCA_A("scaled_mean", RES_F64, RES_P, scaled_mean, RES_PLAIN, NULL, 0),
    PCA_A("var_weight", RES_F64, RES_P, var_weight, RES_PLAIN, NULL, RES_POISSON),
    PCA_A("pix_weight", RES_F64, RES_IMAGE, pix_weight, RES_PLAIN, NULL, RES_POISSON),
};

#define PCA_SIZE(f) offsetof(mva_pca_model, f)
const res_schema res_pca_schema = {"pca",
                                   pca_fields,
                                   sizeof pca_fields / sizeof pca_fields[0],
                                   pca_arrays,
                                   sizeof pca_arrays / sizeof pca_arrays[0],
                                   PCA_SIZE(rows),
                                   PCA_SIZE(cols),
                                   PCA_SIZE(p),
                                   PCA_SIZE(k),
                                   RES_NONE,
                                   PCA_SIZE(poisson)};

#define NMF(name, type, field) {name, type, offsetof(mva_nmf_model, field), NULL, NULL, 0}
static const res_field nmf_fields[] = {
    NMF("rows", RES_SIZE, rows),
    NMF("cols", RES_SIZE, cols),
    NMF("p", RES_SIZE, p),
    NMF("k", RES_SIZE, k),
    NMF("seed", RES_U64, seed),
    NMF("max_iter", RES_SIZE, max_iter),
    NMF("inner", RES_SIZE, inner),
    NMF("iterations", RES_SIZE, iterations),
    NMF("passes", RES_SIZE, passes),
    NMF("tol", RES_F64, tol),
    NMF("objective", RES_F64, objective),
    NMF("norm_x2", RES_F64, norm_x2),
    NMF("rel_error", RES_F64, rel_error),
    {"seconds", RES_F64, offsetof(mva_nmf_model, seconds), NULL, "s", 0},
    {"method", RES_INT, offsetof(mva_nmf_model, method), nmf_method, NULL, 0},
    {"w_scratch", RES_INT, offsetof(mva_nmf_model, w_scratch), NULL, NULL, RES_OPTIONAL},
    {"init", RES_INT, offsetof(mva_nmf_model, init), nmf_init, NULL, 0},
    NMF("poisson", RES_INT, poisson),
    NMF("converged", RES_INT, converged),
};

/* The NMF's arrays.  A curve's title field names its index axis after a '|'. */
#define NMF_A(path, type, shape, field, place, title, flags) \
    {path, type, shape, offsetof(mva_nmf_model, field), place, title, flags}
static const res_array nmf_arrays[] = {
    NMF_A("abundances/data", RES_F64, RES_KIMAGE, abundances, RES_NX_IMAGES,
          "NMF abundances (counts per component)", 0),
    NMF_A("spectra/data", RES_F64, RES_KP, spectra, RES_NX_SPECTRA,
          "NMF component spectra (each sums to 1)", 0),
    NMF_A("spectra/energy", RES_F64, RES_P, energy, RES_NX_AXIS, NULL, RES_IF_SET),
    NMF_A("convergence/objective", RES_F64, RES_ITER, history, RES_NX_CURVE,
          "NMF objective after each pass|iteration", 0),
    NMF_A("share", RES_F64, RES_K, share, RES_PLAIN, NULL, 0),
    NMF_A("n_valid_pixels", RES_SIZE, RES_SCALAR, n_valid, RES_PLAIN, NULL, 0),
    NMF_A("mask", RES_U8, RES_IMAGE, mask, RES_PLAIN, NULL, 0),
};

#define NMF_SIZE(f) offsetof(mva_nmf_model, f)
const res_schema res_nmf_schema = {"nmf",
                                   nmf_fields,
                                   sizeof nmf_fields / sizeof nmf_fields[0],
                                   nmf_arrays,
                                   sizeof nmf_arrays / sizeof nmf_arrays[0],
                                   NMF_SIZE(rows),
                                   NMF_SIZE(cols),
                                   NMF_SIZE(p),
                                   NMF_SIZE(k),
                                   NMF_SIZE(iterations),
                                   NMF_SIZE(poisson)};

static int write_field(wctx *c, hid_t g, const res_field *f, const char *m)
{
    const void *v = m + f->offset;
    int rc;
    switch (f->type) {
    case RES_SIZE: rc = res_scalar_size(c, g, f->name, *(const size_t *)v); break;
    case RES_U64: rc = res_scalar_size(c, g, f->name, (size_t) * (const uint64_t *)v); break;
    case RES_INT: rc = res_scalar_int(c, g, f->name, *(const int *)v); break;
    default: rc = res_scalar_f64(c, g, f->name, *(const double *)v); break;
    }
    if (rc == MVA_OK && f->label != NULL)
        rc = res_attr_str(c, g, f->name, "name", f->label(*(const int *)v));
    if (rc == MVA_OK && f->units != NULL)
        rc = res_attr_str(c, g, f->name, "units", f->units);
    return rc;
}

int res_write_fields(wctx *c, hid_t proc, const res_schema *s, const void *model)
{
    hid_t g = -1;
    int rc = res_group_new(c, proc, s->group, "NXcollection", &g);
    for (size_t i = 0; rc == MVA_OK && i < s->n; i++)
        rc = write_field(c, g, &s->fields[i], model);
    h5u_close(g);
    return rc;
}

void res_copy_fields(const res_schema *s, void *to, const void *from)
{
    static const size_t size[] = {sizeof(size_t), sizeof(uint64_t), sizeof(int), sizeof(double),
                                  1};
    for (size_t i = 0; i < s->n; i++)
        memcpy((char *)to + s->fields[i].offset, (const char *)from + s->fields[i].offset,
               size[s->fields[i].type]);
}

/* ---- arrays ---- */

static size_t size_at(const void *model, size_t offset)
{
    return *(const size_t *)((const char *)model + offset);
}

int res_array_dims(const res_schema *s, const void *m, res_shape shape, hsize_t *dims)
{
    hsize_t rows = size_at(m, s->rows), cols = size_at(m, s->cols), k = size_at(m, s->k);
    hsize_t p = size_at(m, s->p), it = s->iter == RES_NONE ? 0 : size_at(m, s->iter);
    switch (shape) {
    case RES_SCALAR: return 0;
    case RES_P: dims[0] = p; return 1;
    case RES_K: dims[0] = k; return 1;
    case RES_ITER: dims[0] = it; return 1;
    case RES_KP: dims[0] = k; dims[1] = p; return 2;
    case RES_IMAGE: dims[0] = rows; dims[1] = cols; return 2;
    default: dims[0] = k; dims[1] = rows; dims[2] = cols; return 3;
    }
}

int res_array_present(const res_schema *s, const void *m, const res_array *a)
{
    const void *ptr = *(const void *const *)((const char *)m + a->offset);
    if ((a->flags & RES_POISSON) && !*(const int *)((const char *)m + s->poisson))
        return 0;
    return !(a->flags & RES_IF_SET) || ptr != NULL;
}

static void file_types(res_type t, hid_t *ftype, hid_t *mtype)
{
    switch (t) {
    case RES_SIZE:
    case RES_U64: *ftype = H5T_STD_U64LE; *mtype = h5u_native_size(); break;
    case RES_INT: *ftype = H5T_STD_I32LE; *mtype = H5T_NATIVE_INT; break;
    case RES_U8: *ftype = H5T_STD_U8LE; *mtype = H5T_NATIVE_UCHAR; break;
    default: *ftype = H5T_IEEE_F64LE; *mtype = H5T_NATIVE_DOUBLE; break;
    }
}

/* An array that is the signal of an NXdata group (path "group/signal"). */
static int write_nxdata(wctx *c, hid_t entry, const res_schema *s, const void *m,
                        const res_array *a, const double *v, const spec_axis *ax)
{
    char group[128], title[256];
    const char *slash = strchr(a->path, '/'), *bar = a->title ? strchr(a->title, '|') : NULL;
    if (slash == NULL || (size_t)(slash - a->path) >= sizeof group)
        return mva_error_set(c->err, MVA_EINVAL, "%s: schema row %s is not group/signal",
                             c->path, a->path);
    if (a->place != RES_NX_CURVE && strcmp(slash + 1, "data") != 0)
        return mva_error_set(c->err, MVA_EINVAL, "%s: schema row %s: an NXdata signal of "
                             "this kind is named data", c->path, a->path);
    memcpy(group, a->path, (size_t)(slash - a->path));
    group[slash - a->path] = '\0';
    snprintf(title, sizeof title, "%.*s", bar ? (int)(bar - a->title) : 255, a->title);
    size_t k = size_at(m, s->k);
    switch (a->place) {
    case RES_NX_IMAGES:
        return res_images_nxdata(c, entry, group, title, v, k, size_at(m, s->rows),
                                 size_at(m, s->cols), "component", NULL);
    case RES_NX_SPECTRA: return res_spectra_nxdata(c, entry, group, title, v, k, ax);
    case RES_NX_SPECTRUM: return res_spectrum_nxdata(c, entry, group, title, v, ax);
    default:
        return res_log_curve_nxdata(c, entry, group, title, slash + 1, bar ? bar + 1 : "index",
                                    v, size_at(m, s->iter));
    }
}

int res_write_arrays(wctx *c, hid_t entry, const res_schema *s, const void *m,
                     const spec_axis *ax)
{
    int rc = MVA_OK;
    for (size_t i = 0; rc == MVA_OK && i < s->narrays; i++) {
        const res_array *a = &s->arrays[i];
        const void *at = (const char *)m + a->offset;
        if (a->place == RES_NX_AXIS || !res_array_present(s, m, a))
            continue; /* an axis is written with its group */
        hsize_t dims[3];
        hid_t ftype, mtype;
        int rank = res_array_dims(s, m, a->shape, dims);
        const void *v = rank == 0 ? at : *(const void *const *)at;
        file_types(a->type, &ftype, &mtype);
        rc = a->place == RES_PLAIN ? res_dset_write(c, entry, a->path, ftype, mtype, rank, dims, v)
                                   : write_nxdata(c, entry, s, m, a, v, ax);
    }
    return rc;
}
