/* Writing NeXus pieces of a result file: datasets (chunked and compressed when that pays),
 * attributes, groups, NXdata.  Layout of the whole file: write.c. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <zlib.h>

#include "internal.h"

#define COMPRESS_MIN 4096               /* bytes; smaller datasets stay contiguous */
#define CHUNK_BYTES ((size_t)1 << 20)   /* the HDF Group's advice: chunks up to ~1 MiB */
#define GZIP_LEVEL 4
#define PROBE_BYTES ((size_t)64 << 10) /* sample deflated to decide whether floats compress */

/* ---------------------------------------------------------------------------------------- */
/* Writing: datasets, attributes, groups                                                    */
/* ---------------------------------------------------------------------------------------- */


/* Records "<file>: cannot <what> <object path>/<name> (HDF5: reason)". */
int res_wfail(wctx *c, hid_t loc, const char *name, const char *what)
{
    char where[512] = "", why[300];
    h5u_reason(why, sizeof why); /* first: any HDF5 call below clears the error stack */
    if (H5Iget_name(loc, where, sizeof where) < 0)
        where[0] = '\0';
    int root = strcmp(where, "/") == 0 || where[0] == '\0';
    return mva_error_set(c->err, MVA_EIO, "%s: cannot %s %s%s%s%s", c->path, what, where,
                         root ? "" : "/", strcmp(name, ".") == 0 ? "" : name, why);
}

/* Writes (replacing) attribute name on object obj relative to loc ("." = loc itself): a
 * scalar when n == 0, else a 1-D array of n elements. */
int res_attr_write(wctx *c, hid_t loc, const char *obj, const char *name, hid_t ftype,
                   hid_t mtype, hsize_t n, const void *buf)
{
    int rc = MVA_OK;
    hid_t sp = -1, a = -1;
    htri_t ex = H5Aexists_by_name(loc, obj, name, H5P_DEFAULT);
    if (ex < 0 || (ex > 0 && H5Adelete_by_name(loc, obj, name, H5P_DEFAULT) < 0)) {
        rc = res_wfail(c, loc, obj, "replace an attribute of");
        goto done;
    }
    sp = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
    if (sp >= 0)
        a = H5Acreate_by_name(loc, obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mtype, buf) < 0) {
        char what[128];
        snprintf(what, sizeof what, "write attribute @%s of", name);
        rc = res_wfail(c, loc, obj, what);
    }
done:
    h5u_close(a);
    h5u_close(sp);
    return rc;
}

int res_attr_str(wctx *c, hid_t loc, const char *obj, const char *name, const char *value)
{
    return res_attr_write(c, loc, obj, name, c->str_t, c->str_t, 0, &value);
}

int res_attr_strv(wctx *c, hid_t loc, const char *obj, const char *name,
                  const char *const *v, size_t n)
{
    return res_attr_write(c, loc, obj, name, c->str_t, c->str_t, n, v);
}

/* Sets a root attribute only when the file does not have it yet (a file written by another
 * program keeps its own creator and creation time). */
int res_attr_str_once(wctx *c, hid_t loc, const char *name, const char *value)
{
    htri_t ex = H5Aexists(loc, name);
    if (ex < 0)
        return res_wfail(c, loc, ".", "inspect attributes of");
    return ex ? MVA_OK : res_attr_str(c, loc, ".", name, value);
}

/* Chunk shape: one image per chunk for a stack of images (rank 3), the whole dataset
 * otherwise, then halved along the slowest dimensions until it fits CHUNK_BYTES. */
static void chunk_shape(int rank, const hsize_t *dims, size_t esize, hsize_t *chunk)
{
    for (int i = 0; i < rank; i++)
        chunk[i] = dims[i];
    if (rank == 3)
        chunk[0] = 1;
    for (int i = 0; i < rank; i++) {
        for (;;) {
            size_t bytes = esize;
            for (int j = 0; j < rank; j++)
                bytes *= (size_t)chunk[j];
            if (bytes <= CHUNK_BYTES || chunk[i] == 1)
                break;
            chunk[i] = (chunk[i] + 1) / 2;
        }
    }
}

/*
 * Whether shuffle + deflate pays for the nbytes of floating-point values at buf: PROBE_BYTES
 * sampled in PROBE_SLICES slices spread over them, each shuffled as HDF5 would, must deflate
 * (level 1) to at most 4/5 of themselves.  Eigenimages and eigenspectra are noise down to the
 * last mantissa bit: they shrink by ~12% while deflate crawls through them at ~50 MB/s (a
 * tenth of the run time on the sample map: that was the whole write; 3.8 s of a 16.8 GB map's
 * 38 s).  Only the first, smooth eigenimage compresses better, so a sample of the first bytes
 * alone said yes.  Images of counts kept as floats (ROI sums) halve, and stay compressed.
 */
#define PROBE_SLICES 4
static int floats_compress(const void *buf, size_t nbytes, size_t esize)
{
    size_t total = nbytes / esize, per = PROBE_BYTES / PROBE_SLICES / esize;
    size_t slices = total <= PROBE_SLICES * per ? 1 : PROBE_SLICES;
    size_t n = slices == 1 ? (total < per * PROBE_SLICES ? total : per * PROBE_SLICES) : per;
    size_t len = n * esize, in = 0, outs = 0;
    uLongf cap = compressBound((uLong)len);
    unsigned char *sh = malloc(len), *out = malloc(cap);
    int ok = sh != NULL && out != NULL;
    for (size_t s = 0; s < slices && ok; s++) {
        /* slice s: n values around the middle of the s-th of `slices` equal parts */
        size_t first = slices > 1 ? (2 * s + 1) * total / (2 * slices) - n / 2 : 0;
        const unsigned char *b = (const unsigned char *)buf + first * esize;
        for (size_t j = 0; j < n; j++)
            for (size_t k = 0; k < esize; k++)
                sh[k * n + j] = b[j * esize + k];
        uLongf out_len = cap;
        ok = compress2(out, &out_len, sh, (uLong)len, 1) == Z_OK;
        in += len;
        outs += (size_t)out_len;
    }
    free(sh);
    free(out);
    return !ok || outs * 5 <= in * 4;
}

/* Creates dataset name in loc (rank 0 = scalar) and writes buf into it. */
int res_dset_write(wctx *c, hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                   const hsize_t *dims, const void *buf)
{
    int rc = MVA_OK;
    hid_t sp = -1, dcpl = -1, d = -1;
    hsize_t nelem = 1, chunk[H5S_MAX_RANK];
    for (int i = 0; i < rank; i++)
        nelem *= dims[i];
    size_t esize = H5Tget_size(ftype);
    sp = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (sp < 0 || dcpl < 0) {
        rc = res_wfail(c, loc, name, "create dataset");
        goto done;
    }
    H5T_class_t cls = H5Tget_class(ftype);
    if (c->gzip && rank > 0 && cls != H5T_STRING && nelem > 0 && nelem * esize > COMPRESS_MIN &&
        (cls != H5T_FLOAT ||
         floats_compress(buf, nelem * H5Tget_size(mtype), H5Tget_size(mtype)))) {
        chunk_shape(rank, dims, esize, chunk);
        if (H5Pset_chunk(dcpl, rank, chunk) < 0 || H5Pset_shuffle(dcpl) < 0 ||
            H5Pset_deflate(dcpl, GZIP_LEVEL) < 0) {
            rc = res_wfail(c, loc, name, "set compression of");
            goto done;
        }
    }
    d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) {
        rc = res_wfail(c, loc, name, "create dataset");
        goto done;
    }
    if (nelem > 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = res_wfail(c, loc, name, "write dataset");
done:
    h5u_close(d);
    h5u_close(dcpl);
    h5u_close(sp);
    return rc;
}

int res_dset_f64(wctx *c, hid_t loc, const char *name, int rank, const hsize_t *dims,
                 const double *v)
{
    return res_dset_write(c, loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, rank, dims, v);
}

int res_dset_sizes(wctx *c, hid_t loc, const char *name, int rank, const hsize_t *dims,
                   const size_t *v)
{
    return res_dset_write(c, loc, name, H5T_STD_U64LE, h5u_native_size(), rank, dims, v);
}

int res_scalar_f64(wctx *c, hid_t loc, const char *name, double v)
{
    return res_dset_f64(c, loc, name, 0, NULL, &v);
}

int res_scalar_size(wctx *c, hid_t loc, const char *name, size_t v)
{
    return res_dset_sizes(c, loc, name, 0, NULL, &v);
}

int res_scalar_int(wctx *c, hid_t loc, const char *name, int v)
{
    return res_dset_write(c, loc, name, H5T_STD_I32LE, H5T_NATIVE_INT, 0, NULL, &v);
}

int res_dset_str(wctx *c, hid_t loc, const char *name, const char *value)
{
    return res_dset_write(c, loc, name, c->str_t, c->str_t, 0, NULL, &value);
}

int res_dset_strv(wctx *c, hid_t loc, const char *name, const char *const *v, size_t n)
{
    hsize_t dims[1] = {n};
    return res_dset_write(c, loc, name, c->str_t, c->str_t, 1, dims, v);
}

int res_dset_mask(wctx *c, hid_t loc, const char *name, size_t rows, size_t cols,
                  const unsigned char *mask)
{
    hsize_t dims[2] = {rows, cols};
    return res_dset_write(c, loc, name, H5T_STD_U8LE, H5T_NATIVE_UCHAR, 2, dims, mask);
}

/* Index axis first, first + 1, ..., first + n - 1 as int64. */
int res_dset_index(wctx *c, hid_t loc, const char *name, size_t n, int64_t first)
{
    int64_t *v = malloc((n ? n : 1) * sizeof *v);
    if (v == NULL)
        return mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory writing %s", c->path, name);
    for (size_t i = 0; i < n; i++)
        v[i] = first + (int64_t)i;
    hsize_t dims[1] = {n};
    int rc = res_dset_write(c, loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims, v);
    free(v);
    return rc;
}

int res_group_new(wctx *c, hid_t loc, const char *name, const char *nxclass, hid_t *g)
{
    *g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (*g < 0)
        return res_wfail(c, loc, name, "create group");
    return res_attr_str(c, *g, ".", "NX_class", nxclass);
}

/* An NXdata group with its @signal, @axes and a title dataset (silx uses it as plot title). */
int res_nxdata_new(wctx *c, hid_t loc, const char *name, const char *title,
                   const char *signal, const char *const *axes, size_t naxes, hid_t *g)
{
    int rc = res_group_new(c, loc, name, "NXdata", g);
    if (rc == MVA_OK)
        rc = res_attr_str(c, *g, ".", "signal", signal);
    if (rc == MVA_OK)
        rc = res_attr_strv(c, *g, ".", "axes", axes, naxes);
    if (rc == MVA_OK)
        rc = res_dset_str(c, *g, "title", title);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing: NXdata groups                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* The spectral axis of a p-point spectrum: energy in keV or (fractional) channel. */

int res_axis_write(wctx *c, hid_t g, const spec_axis *ax)
{
    hsize_t dims[1] = {ax->p};
    int rc = res_dset_f64(c, g, ax->name, 1, dims, ax->v);
    if (rc == MVA_OK && strcmp(ax->name, "energy") == 0)
        rc = res_attr_str(c, g, ax->name, "units", "keV");
    return rc;
}

int res_pixel_axes(wctx *c, hid_t g, size_t rows, size_t cols)
{
    int rc = res_dset_index(c, g, "y", rows, 0);
    return rc == MVA_OK ? res_dset_index(c, g, "x", cols, 0) : rc;
}

/* NXdata name: one spectrum (p) over ax. */
int res_spectrum_nxdata(wctx *c, hid_t entry, const char *name, const char *title,
                        const double *y, const spec_axis *ax)
{
    hid_t g = -1;
    const char *axes[1] = {ax->name};
    hsize_t dims[1] = {ax->p};
    int rc = res_nxdata_new(c, entry, name, title, "data", axes, 1, &g);
    if (rc == MVA_OK)
        rc = res_dset_f64(c, g, "data", 1, dims, y);
    if (rc == MVA_OK)
        rc = res_attr_str(c, g, "data", "interpretation", "spectrum");
    if (rc == MVA_OK)
        rc = res_axis_write(c, g, ax);
    h5u_close(g);
    return rc;
}

/* NXdata name: a stack of nimg images (nimg, rows, cols) whose first axis is "component"
 * (1..nimg) or "." (none), with the extra string dataset names (nimg) when given; or, when
 * first_axis is NULL, one image (rows, cols). */
int res_images_nxdata(wctx *c, hid_t entry, const char *name, const char *title,
                      const double *v, size_t nimg, size_t rows, size_t cols,
                      const char *first_axis, const char *const *names)
{
    hid_t g = -1;
    int stack = first_axis != NULL;
    const char *axes3[3] = {first_axis, "y", "x"};
    hsize_t dims[3] = {nimg, rows, cols};
    int rc = res_nxdata_new(c, entry, name, title, "data", stack ? axes3 : axes3 + 1,
                        stack ? 3 : 2, &g);
    if (rc == MVA_OK)
        rc = res_dset_f64(c, g, "data", stack ? 3 : 2, stack ? dims : dims + 1, v);
    if (rc == MVA_OK)
        rc = res_attr_str(c, g, "data", "interpretation", "image");
    if (rc == MVA_OK)
        rc = res_pixel_axes(c, g, rows, cols);
    if (rc == MVA_OK && stack && strcmp(first_axis, "component") == 0)
        rc = res_dset_index(c, g, "component", nimg, 1);
    if (rc == MVA_OK && names != NULL)
        rc = res_dset_strv(c, g, "names", names, nimg);
    h5u_close(g);
    return rc;
}


/* ---------------------------------------------------------------------------------------- */
/* Writing: the plain NXdata of selections, clusterings and rotations                        */
/* ---------------------------------------------------------------------------------------- */

int res_dset_i64(wctx *c, hid_t loc, const char *name, int rank, const hsize_t *dims,
                 const int64_t *v)
{
    return res_dset_write(c, loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, rank, dims, v);
}

/* Curves over a spectral axis: names[0] is the @signal, the others @auxiliary_signals (silx
 * draws them together); each v[i] holds nrows x ax->p values, one curve (rank 1) when nrows is
 * 0, else a stack of nrows curves (rank 2, @axes [".", axis]).  The axis has no @units. */
int res_curves_nxdata(wctx *c, hid_t entry, const char *name, const char *title,
                      const char *const *names, const double *const *v, size_t nv,
                      size_t nrows, const spec_axis *ax)
{
    hid_t g = -1;
    const char *axes[2] = {".", ax->name};
    int rank = nrows ? 2 : 1;
    hsize_t dims[2] = {nrows, ax->p};
    int rc = res_nxdata_new(c, entry, name, title, names[0], rank == 2 ? axes : axes + 1,
                            (size_t)rank, &g);
    if (rc == MVA_OK && nv > 1)
        rc = res_attr_strv(c, g, ".", "auxiliary_signals", names + 1, nv - 1);
    for (size_t i = 0; rc == MVA_OK && i < nv; i++)
        rc = res_dset_f64(c, g, names[i], rank, rank == 2 ? dims : dims + 1, v[i]);
    if (rc == MVA_OK)
        rc = res_dset_f64(c, g, ax->name, 1, dims + 1, ax->v);
    h5u_close(g);
    return rc;
}

/* An image or a stack of images (rank 2 or 3) without axes: @signal data, @axes all ".". */
int res_plain_nxdata(wctx *c, hid_t entry, const char *name, const char *title, hid_t ftype,
                     hid_t mtype, int rank, const hsize_t *dims, const void *v)
{
    hid_t g = -1;
    const char *axes[3] = {".", ".", "."};
    int rc = res_nxdata_new(c, entry, name, title, "data", axes, (size_t)rank, &g);
    if (rc == MVA_OK)
        rc = res_dset_write(c, g, "data", ftype, mtype, rank, dims, v);
    h5u_close(g);
    return rc;
}

/* The energy axis of cal over p channels, or the channel numbers 0..p-1 when it is unknown
 * (cal NULL or not known); *buf is the caller's to free. */
int res_calib_axis(wctx *c, const mva_calib *cal, size_t p, spec_axis *ax, double **buf)
{
    int kev = cal != NULL && cal->known;
    *buf = malloc((p ? p : 1) * sizeof **buf);
    if (*buf == NULL)
        return mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
    for (size_t j = 0; j < p; j++)
        (*buf)[j] = kev ? mva_calib_energy(cal, (double)j) : (double)j;
    *ax = (spec_axis){kev ? "energy" : "channel", *buf, p};
    return MVA_OK;
}

/* NXdata name: a stack of k spectra (k, p) over ax, with a component axis 1..k. */
int res_spectra_nxdata(wctx *c, hid_t entry, const char *name, const char *title,
                       const double *v, size_t k, const spec_axis *ax)
{
    hid_t g = -1;
    const char *axes[2] = {"component", ax->name};
    hsize_t dims[2] = {k, ax->p};
    int rc = res_nxdata_new(c, entry, name, title, "data", axes, 2, &g);
    if (rc == MVA_OK)
        rc = res_dset_f64(c, g, "data", 2, dims, v);
    if (rc == MVA_OK)
        rc = res_attr_str(c, g, "data", "interpretation", "spectrum");
    if (rc == MVA_OK)
        rc = res_dset_index(c, g, "component", k, 1);
    if (rc == MVA_OK)
        rc = res_axis_write(c, g, ax);
    h5u_close(g);
    return rc;
}

/* NXdata name: the curve v (n values) as @signal signal over an index axis 1..n, on a log
 * scale in silx. */
int res_log_curve_nxdata(wctx *c, hid_t entry, const char *name, const char *title,
                         const char *signal, const char *axis, const double *v, size_t n)
{
    hid_t g = -1;
    const char *axes[1] = {axis};
    hsize_t dims[1] = {n};
    int rc = res_nxdata_new(c, entry, name, title, signal, axes, 1, &g);
    if (rc == MVA_OK)
        rc = res_dset_f64(c, g, signal, 1, dims, v);
    if (rc == MVA_OK)
        rc = res_dset_index(c, g, axis, n, 1);
    if (rc == MVA_OK)
        rc = res_attr_str(c, g, ".", "SILX_style", "{\"signal_scale_type\": \"log\"}");
    h5u_close(g);
    return rc;
}
