/* Internal to results/: what the writer's parts share (see write.c for the file layout). */
#ifndef MVA_RESULTS_INTERNAL_H
#define MVA_RESULTS_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include <hdf5.h>

#include "h5util.h"
#include "mva/result.h"

#include "entry.h"

#define ENTRY_MAX RES_ENTRY_MAX

static inline int valid_entry_name(const char *e)
{
    return e[0] != '\0' && strlen(e) < ENTRY_MAX && strchr(e, '/') == NULL &&
           strcmp(e, ".") != 0 && strcmp(e, "..") != 0;
}

/* ---- writing (nexus.c): datasets, attributes, groups, NXdata ---- */

typedef struct wctx {
    hid_t file;
    const char *path; /* the requested file name: messages never show the temporary name */
    mva_error *err;
    hid_t str_t;      /* variable-length UTF-8 string */
    int gzip;         /* compress datasets that pay (shuffle and deflate are available) */
} wctx;

typedef struct spec_axis {
    const char *name; /* "energy" or "channel" */
    const double *v;  /* p values */
    size_t p;
} spec_axis;

/* Records "<file>: cannot <what> <object path>/<name> (HDF5: reason)". */
int res_wfail(wctx *c, hid_t loc, const char *name, const char *what);

/* Writes (replacing) attribute name on object obj relative to loc ("." = loc itself): a
 * scalar when n == 0, else a 1-D array of n elements. */
int res_attr_write(wctx *c, hid_t loc, const char *obj, const char *name, hid_t ftype,
                   hid_t mtype, hsize_t n, const void *buf);

int res_attr_str(wctx *c, hid_t loc, const char *obj, const char *name, const char *value);

int res_attr_strv(wctx *c, hid_t loc, const char *obj, const char *name,
                  const char *const *v, size_t n);

/* Sets a root attribute only when the file does not have it yet (a file written by another
 * program keeps its own creator and creation time). */
int res_attr_str_once(wctx *c, hid_t loc, const char *name, const char *value);

/* Creates dataset name in loc (rank 0 = scalar) and writes buf into it. */
int res_dset_write(wctx *c, hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                   const hsize_t *dims, const void *buf);

int res_dset_f64(wctx *c, hid_t loc, const char *name, int rank, const hsize_t *dims,
                 const double *v);

int res_dset_sizes(wctx *c, hid_t loc, const char *name, int rank, const hsize_t *dims,
                   const size_t *v);

int res_scalar_f64(wctx *c, hid_t loc, const char *name, double v);

int res_scalar_size(wctx *c, hid_t loc, const char *name, size_t v);

int res_scalar_int(wctx *c, hid_t loc, const char *name, int v);

int res_dset_str(wctx *c, hid_t loc, const char *name, const char *value);

int res_dset_strv(wctx *c, hid_t loc, const char *name, const char *const *v, size_t n);

int res_dset_mask(wctx *c, hid_t loc, const char *name, size_t rows, size_t cols,
                  const unsigned char *mask);

/* Index axis first, first + 1, ..., first + n - 1 as int64. */
int res_dset_index(wctx *c, hid_t loc, const char *name, size_t n, int64_t first);

int res_group_new(wctx *c, hid_t loc, const char *name, const char *nxclass, hid_t *g);

/* An NXdata group with its @signal, @axes and a title dataset (silx uses it as plot title). */
int res_nxdata_new(wctx *c, hid_t loc, const char *name, const char *title,
                   const char *signal, const char *const *axes, size_t naxes, hid_t *g);

/* The spectral axis of a p-point spectrum: energy in keV or (fractional) channel. */
int res_axis_write(wctx *c, hid_t g, const spec_axis *ax);

int res_pixel_axes(wctx *c, hid_t g, size_t rows, size_t cols);

/* NXdata name: one spectrum (p) over ax. */
int res_spectrum_nxdata(wctx *c, hid_t entry, const char *name, const char *title,
                        const double *y, const spec_axis *ax);

/* NXdata name: a stack of nimg images (nimg, rows, cols) whose first axis is "component"
 * (1..nimg) or "." (none), with the extra string dataset names (nimg) when given; or, when
 * first_axis is NULL, one image (rows, cols). */
int res_images_nxdata(wctx *c, hid_t entry, const char *name, const char *title,
                      const double *v, size_t nimg, size_t rows, size_t cols,
                      const char *first_axis, const char *const *names);

/* process/normalisation (norm.c): the factors of in->norm_factors, when there are any. */
int res_write_norm(wctx *c, hid_t proc, const mva_stack_info *in);

int res_dset_i64(wctx *c, hid_t loc, const char *name, int rank, const hsize_t *dims,
                 const int64_t *v);

/* Curves over a spectral axis: names[0] is the @signal, the others @auxiliary_signals; each
 * v[i] holds nrows x ax->p values (one curve when nrows is 0, else rank 2 with @axes
 * [".", axis]).  The axis has no @units (selections, clusterings and rotations). */
int res_curves_nxdata(wctx *c, hid_t entry, const char *name, const char *title,
                      const char *const *names, const double *const *v, size_t nv,
                      size_t nrows, const spec_axis *ax);

/* An image or a stack of images (rank 2 or 3) without axes: @signal data, @axes all ".". */
int res_plain_nxdata(wctx *c, hid_t entry, const char *name, const char *title, hid_t ftype,
                     hid_t mtype, int rank, const hsize_t *dims, const void *v);

/* The energy axis of cal over p channels, or channels 0..p-1 when unknown (cal may be NULL);
 * *buf is the caller's to free. */
int res_calib_axis(wctx *c, const mva_calib *cal, size_t p, spec_axis *ax, double **buf);

/* NXdata name: a stack of k spectra (k, p) over ax, with a component axis 1..k. */
int res_spectra_nxdata(wctx *c, hid_t entry, const char *name, const char *title,
                       const double *v, size_t k, const spec_axis *ax);

/* NXdata name: the curve v (n values) as @signal signal over an index axis 1..n, on a log
 * scale in silx. */
int res_log_curve_nxdata(wctx *c, hid_t entry, const char *name, const char *title,
                         const char *signal, const char *axis, const double *v, size_t n);

/* ---- schemas (schema.c): each model's fields, named once ---- */

typedef enum res_type { RES_SIZE, RES_U64, RES_INT, RES_F64, RES_U8 } res_type;
#define RES_OPTIONAL 1 /* older files may lack it: the reader leaves the model's value */

/* One scalar of a model: dataset name in the collection, memory type, where it lives in the
 * model, the @name of an enum value (or NULL), @units (or NULL), flags. */
typedef struct res_field {
    const char *name;
    res_type type;
    size_t offset;
    const char *(*label)(int value);
    const char *units;
    int flags;
} res_field;

/* The shape of an array, from the model's sizes: (), (p), (k), (k, p), (rows, cols),
 * (k, rows, cols), (iterations). */
typedef enum res_shape {
    RES_SCALAR, RES_P, RES_K, RES_KP, RES_IMAGE, RES_KIMAGE, RES_ITER
} res_shape;

/* How the writer places an array: a dataset of the entry, or the signal "data" of an NXdata
 * group (images with component/y/x axes; spectra over the spectral axis with a component
 * axis; one spectrum; a log-scale curve over an index axis), or that group's spectral axis
 * (written with the group; the row tells the reader where it is). */
typedef enum res_place {
    RES_PLAIN, RES_NX_IMAGES, RES_NX_SPECTRA, RES_NX_SPECTRUM, RES_NX_CURVE, RES_NX_AXIS
} res_place;

#define RES_POISSON 2 /* only in a model with poisson set */
#define RES_IF_SET 4  /* only when the model's pointer is set (the energy axis) */

/* One array (or entry-level scalar) of a model: path in the entry, type, shape, where it
 * lives in the model (a pointer; the value itself for RES_SCALAR), how it is placed, the
 * NXdata title (or the index axis of a curve), flags. */
typedef struct res_array {
    const char *path;
    res_type type;
    res_shape shape;
    size_t offset;
    res_place place;
    const char *title;
    int flags;
} res_array;

/* One analysis: its scalars (NXcollection process/<group>), its arrays, and where its sizes
 * live in the model (offsets of size_t fields; iter may be NONE; poisson an int). */
#define RES_NONE ((size_t)-1)
typedef struct res_schema {
    const char *group;
    const res_field *fields;
    size_t n;
    const res_array *arrays;
    size_t narrays;
    size_t rows, cols, p, k, iter, poisson;
} res_schema;

/* The rank and dims of one array of model (at most 3). */
int res_array_dims(const res_schema *s, const void *model, res_shape shape, hsize_t *dims);

/* Whether the row applies to this model (RES_POISSON, RES_IF_SET). */
int res_array_present(const res_schema *s, const void *model, const res_array *a);

/* Writes every array of the schema into entry; ax is the spectral axis of the model. */
int res_write_arrays(wctx *c, hid_t entry, const res_schema *s, const void *model,
                     const spec_axis *ax);

extern const res_schema res_pca_schema, res_nmf_schema;

/* Writes process/<group> of proc with every field of model (an mva_*_model). */
int res_write_fields(wctx *c, hid_t proc, const res_schema *s, const void *model);

/* Copies every field of the schema from one model to another of the same type. */
void res_copy_fields(const res_schema *s, void *to, const void *from);

/* ---- writing (analyses.c): one analysis's part of an entry ---- */

#define LINK_MAX 544 /* bytes of a link name made by res_unique_link */

int res_write_pca(wctx *c, hid_t entry, const mva_pca_model *m);

/* The spectral axis of a PCA's variables: its energy, or the centre channel of each (binned)
 * variable; *ch (the channels, or NULL) is the caller's to free. */
int res_pca_axis(wctx *c, const mva_pca_model *m, spec_axis *ax, double **ch);

int res_unique_link(wctx *c, hid_t g, const char *want, char *out, size_t cap);

/* share_mask: -1 no PCA in the entry (write mask, n_valid_pixels); 1 the PCA already wrote
 * an identical mask and count; 0 they differ (write roi_mask, roi_n_valid_pixels). */
int res_write_roi(wctx *c, hid_t entry, const mva_roi_result *r, const mva_calib *cal,
                  int share_mask);

int res_write_nmf(wctx *c, hid_t entry, const mva_nmf_model *m);

/* <entry>/reconstruction of mva-compress (expand.c). */
int res_write_recon(wctx *c, hid_t entry, const mva_compress_stats *r, size_t rows, size_t cols);

/* The entries of their own (select.c, cluster.c): everything inside the NXentry e. */
int res_write_selection(wctx *c, hid_t e, const mva_result_parts *s);
int res_write_cluster(wctx *c, hid_t e, const mva_result_parts *s);

/* ---- the writer (write.c, check.c) ---- */

/* The process group of a selection or a clustering: program, version, date, the command line
 * when given, the map read with the fields of a PCA entry's process (input_file,
 * input_dataset, ..., input_layout, the normalisation); without a map, those fields copied
 * from the results entry from ("file::/entry" the part was computed from, may be NULL) or,
 * when it records none, input_file = the input's name; then names[i] = values[i] (NULL
 * values written as ""). */
int res_write_short_process(wctx *c, hid_t entry, const mva_result_parts *s, const char *from,
                            const char *const *names, const char *const *values, size_t n);

/* Whether the parts go together and each is complete (mva_result_write's first step). */
int res_check_parts(const char *path, const mva_result_parts *s, mva_error *err);

#endif
