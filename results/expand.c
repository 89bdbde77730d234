/*
 * The stack rebuilt from a PCA model (mva-expand), and the reconstruction statistics added to
 * a results file (mva-compress).  Plain HDF5: NeXus groups, datasets chunked by map row and
 * gzip-compressed, variable-length UTF-8 strings as h5py writes them.
 */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commit.h"
#include "internal.h"
#include "mva/compress.h"

/* The Python mirror (python/mva/_lib.py) holds mva_expand_opts.dtype as a c_int. */
_Static_assert(sizeof(mva_dtype) == sizeof(int), "enum size");

/* <entry>/reconstruction: the scalars and the chi2 image (its title an attribute).  Written
 * uncompressed, as it always has been, so that files stay as they were. */
int res_write_recon(wctx *c, hid_t entry, const mva_compress_stats *r, size_t rows, size_t cols)
{
    const struct {
        const char *name;
        double v;
    } v[] = {{"relative_frobenius_error", r->rel_frobenius},
             {"max_abs_error", r->max_abs},
             {"reduced_chi2_mean", r->chi2_mean},
             {"compression_ratio_values", r->values_ratio},
             {"compression_ratio_bytes", r->bytes_ratio}};
    hsize_t dims[2] = {rows, cols};
    const char *axes[2] = {".", "."};
    hid_t g = -1, img = -1;
    int gzip = c->gzip;
    c->gzip = 0;
    int rc = res_group_new(c, entry, "reconstruction", "NXcollection", &g);
    if (rc == MVA_OK)
        rc = res_group_new(c, g, "chi2", "NXdata", &img);
    for (size_t i = 0; rc == MVA_OK && i < sizeof v / sizeof v[0]; i++)
        rc = res_scalar_f64(c, g, v[i].name, v[i].v);
    if (rc == MVA_OK)
        rc = res_dset_f64(c, img, "data", 2, dims, r->chi2);
    if (rc == MVA_OK)
        rc = res_attr_str(c, img, ".", "signal", "data");
    if (rc == MVA_OK)
        rc = res_attr_strv(c, img, ".", "axes", axes, 2);
    if (rc == MVA_OK)
        rc = res_attr_str(c, img, ".", "title", "reduced chi-square per pixel (Poisson)");
    c->gzip = gzip;
    h5u_close(img);
    h5u_close(g);
    return rc;
}

/* ---- expansion ---- */

typedef struct {
    hid_t data, fspace, memtype, filetype;
} out_file;

/* The NeXus skeleton: /expanded (NXentry) / data (NXdata) with the stack and its axis. */
static int create_layout(wctx *c, out_file *o, const mva_pca_model *m, size_t rows,
                         size_t cols)
{
    hid_t e = -1, g = -1, dcpl = -1;
    spec_axis ax;
    double *axis = NULL;
    int rc = res_pca_axis(c, m, &ax, &axis);
    const char *axes[3] = {".", ".", ax.name};
    if (rc == MVA_OK)
        rc = res_attr_str(c, c->file, ".", "default", "expanded");
    if (rc == MVA_OK)
        rc = res_group_new(c, c->file, "expanded", "NXentry", &e);
    if (rc == MVA_OK)
        rc = res_attr_str(c, e, ".", "default", "data");
    if (rc == MVA_OK)
        rc = res_group_new(c, e, "data", "NXdata", &g);
    if (rc == MVA_OK)
        rc = res_attr_str(c, g, ".", "signal", "data");
    if (rc == MVA_OK)
        rc = res_attr_strv(c, g, ".", "axes", axes, 3);
    if (rc == MVA_OK)
        rc = res_axis_write(c, g, &ax);
    /* Chunked by map row, so that it is written row by row: not res_dset_write's rule. */
    hsize_t dims[3] = {rows, cols, m->p}, chunk[3] = {1, cols, m->p};
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    o->fspace = H5Screate_simple(3, dims, NULL);
    if (rc == MVA_OK &&
        (dcpl < 0 || o->fspace < 0 || H5Pset_chunk(dcpl, 3, chunk) < 0 ||
         H5Pset_shuffle(dcpl) < 0 ||
         H5Pset_deflate(dcpl, 1) < 0)) /* level 1: rebuilt doubles barely compress better at
                                          4, 3x slower */
        rc = res_wfail(c, g, "data", "set the chunks of");
    if (rc == MVA_OK) {
        o->data = H5Dcreate2(g, "data", o->filetype, o->fspace, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        rc = o->data < 0 ? res_wfail(c, g, "data", "create dataset")
                         : res_attr_str(c, g, "data", "interpretation", "spectrum");
    }
    h5u_close(dcpl);
    h5u_close(g);
    h5u_close(e);
    free(axis);
    return rc;
}

/* Row r of the region into buf (ncols x p doubles), converted as asked. */
static void expand_row(const mva_pca_model *m, const mva_expand_opts *o, size_t r, size_t c0,
                       size_t ncols, double *buf)
{
    for (size_t c = 0; c < ncols; c++) {
        double *x = buf + c * m->p;
        mva_pca_reconstruct(m, r * m->cols + c0 + c, x);
        for (size_t j = 0; j < m->p; j++) {
            if (o->round)
                x[j] = nearbyint(x[j]);
            if (o->dtype == MVA_DTYPE_UINT32)
                x[j] = x[j] < 0 ? 0 : x[j] > 4294967295.0 ? 4294967295.0 : x[j];
        }
    }
}

int mva_expand_write(const mva_pca_model *m, const mva_expand_opts *opt, const char *path,
                     mva_error *err)
{
    mva_expand_opts o = opt ? *opt : (mva_expand_opts){0, 0, 0, 0, 0, 0};
    if (o.r1 == 0)
        o.r1 = m->rows;
    if (o.c1 == 0)
        o.c1 = m->cols;
    if (o.r0 >= o.r1 || o.r1 > m->rows || o.c0 >= o.c1 || o.c1 > m->cols)
        return mva_error_set(err, MVA_EINVAL, "region %zu:%zu,%zu:%zu is outside the %zu x %zu "
                             "map", o.r0, o.r1, o.c0, o.c1, m->rows, m->cols);
    if (o.dtype != 0 && o.dtype != MVA_DTYPE_FLOAT64 && o.dtype != MVA_DTYPE_FLOAT32 &&
        o.dtype != MVA_DTYPE_UINT32)
        return mva_error_set(err, MVA_EINVAL, "expand: dtype %s: expected float64, float32 "
                             "or uint32", mva_dtype_name(o.dtype));
    out_file f = {-1, -1, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE};
    if (o.dtype == MVA_DTYPE_FLOAT32)
        f.filetype = H5T_IEEE_F32LE;
    else if (o.dtype == MVA_DTYPE_UINT32)
        f.filetype = H5T_STD_U32LE;
    mva_commit cm;
    int rc = mva_commit_begin(&cm, path, MVA_COMMIT_NEW, err);
    if (rc != MVA_OK)
        return rc;
    h5u_quiet q;
    h5u_quiet_on(&q);
    size_t rows = o.r1 - o.r0, cols = o.c1 - o.c0;
    double *buf = malloc(cols * m->p * sizeof *buf);
    /* Uncompressed small datasets; the stack itself is chunked by row (create_layout). */
    wctx c = {H5Fcreate(cm.tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), path, err,
              h5u_utf8_type(), 0};
    if (buf == NULL)
        rc = mva_error_set(err, MVA_ENOMEM, "%s: out of memory", path);
    else if (c.file < 0 || c.str_t < 0)
        rc = mva_error_set(err, MVA_EIO, "%s: cannot create the output file", path);
    else
        rc = create_layout(&c, &f, m, rows, cols);
    hsize_t count[3] = {1, cols, m->p};
    hid_t ms = H5Screate_simple(3, count, NULL);
    for (size_t r = 0; rc == MVA_OK && r < rows; r++) {
        expand_row(m, &o, o.r0 + r, o.c0, cols, buf);
        hsize_t start[3] = {r, 0, 0};
        H5Sselect_hyperslab(f.fspace, H5S_SELECT_SET, start, NULL, count, NULL);
        if (H5Dwrite(f.data, H5T_NATIVE_DOUBLE, ms, f.fspace, H5P_DEFAULT, buf) < 0)
            rc = mva_error_set(err, MVA_EIO, "%s: writing row %zu failed", path, r);
    }
    H5Sclose(ms);
    h5u_close(f.data);
    h5u_close(f.fspace);
    if (c.file >= 0 && H5Fclose(c.file) < 0 && rc == MVA_OK)
        rc = mva_error_set(err, MVA_EIO, "%s: closing failed", path);
    h5u_close(c.str_t);
    free(buf);
    if (rc == MVA_OK)
        rc = mva_commit_finish(&cm, err);
    mva_commit_abort(&cm);
    h5u_quiet_off(&q);
    return rc;
}
