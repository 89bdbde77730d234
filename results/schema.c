/* The scalar fields of each analysis's model, named once: the writer (res_write_fields) and
 * the reader (res_read_fields) both walk these tables.  Adding a scalar to a result is one
 * row here plus the field in the model's struct.  File types: RES_SIZE and RES_U64 as uint64,
 * RES_INT as int32, RES_F64 as float64. */
#include <stddef.h>

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
const res_schema res_pca_schema = {"pca", pca_fields, sizeof pca_fields / sizeof pca_fields[0]};

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
const res_schema res_nmf_schema = {"nmf", nmf_fields, sizeof nmf_fields / sizeof nmf_fields[0]};

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
    static const size_t size[] = {sizeof(size_t), sizeof(uint64_t), sizeof(int), sizeof(double)};
    for (size_t i = 0; i < s->n; i++)
        memcpy((char *)to + s->fields[i].offset, (const char *)from + s->fields[i].offset,
               size[s->fields[i].type]);
}
