/*
 * Analysis results in NeXus HDF5: the writer (one new NXentry per call, written under a
 * temporary name and renamed) and the readers of PCA, NMF and ROI results.
 *
 * Layout of one entry (NeXus base classes; "@x" is an attribute; strings are variable-length
 * UTF-8 as h5py writes them; arrays of size_t are uint64, images are rows x cols row-major;
 * every NXdata also holds a string "title", which silx shows as the plot title):
 *
 *   /                        @NX_class=NXroot @default=<newest entry> @creator="mva <version>"
 *                            @file_name @file_time @HDF5_Version (set once, when missing)
 *                            @file_update_time (every write)
 *   /<entry>                 NXentry  @default = eigenimages | scree (k = 0) | roi_raw |
 *                            total_counts (no ROI)
 *     title, start_time, end_time (ISO 8601 UTC; start = end - fit seconds), program_name
 *     (@version)
 *     process                NXprocess: program, version, date, command_line (when given),
 *                            input_file, input_dataset, input_format, input_dtype,
 *                            input_shape (rows, cols, channels), input_calibration (a, b, c)
 *                            @units=keV when the input has one
 *       parameters           NXparameters: one string dataset per mva_param ('/' in a key
 *                            becomes '_', a repeated key gets _1, _2, ...)
 *       configuration        NXnote: type = "text/plain", data = "key = value" lines, in order
 *       pca                  NXcollection, the PCA model's scalars: rows, cols, channels, p,
 *                            k, bin, n_eigenvalues, passes, n_exact_pixels (pixels
 *                            whose covariance was summed in exact integer arithmetic),
 *                            oversample, seed (uint64),
 *                            poisson, uncentred, method (int32, @name), final_change, seconds
 *                            (float64 @units=s)
 *   PCA (spec->pca):
 *     eigenimages            NXdata @signal=data @axes=[component, y, x]:
 *                            data (k, rows, cols) @interpretation=image, component (k) 1..k,
 *                            y (rows), x (cols) pixel indices (int64)
 *     eigenspectra           NXdata @signal=data @axes=[component, energy|channel]:
 *                            data (k, p) @interpretation=spectrum, component (k), and
 *                            energy (p) @units=keV (model var_energy) or channel (p) = var_ch0
 *                            + (bin - 1) / 2, the centre of each binned variable
 *     mean_spectrum          NXdata: data (p) over the same energy|channel axis
 *     scree                  NXdata @signal=eigenvalues @axes=[component] @SILX_style (log
 *                            scale): eigenvalues is a hard link to ../eigenvalues,
 *                            component (p) 1..p
 *     eigenvalues (p), explained_variance_ratio (p), total_variance (scalar),
 *     n_valid_pixels (scalar uint64), mask (rows, cols) uint8 (1 = excluded, always stored),
 *     var_ch0 (p) uint64, scaled_mean (p, always stored), and when poisson: var_weight (p),
 *     pix_weight (rows, cols).  The PCA model's scalars are in process/pca (above).
 *   ROI (spec->roi), spectra over energy (keV, from the input calibration) or channel 0..p-1:
 *     roi_definitions        NXcollection: names, from, to, unit ("channel" | "keV") as given,
 *                            ch0, ch1 (resolved, inclusive)
 *     roi_raw, roi_net       NXdata (only when nroi > 0) @axes=[., y, x]: data (nroi, rows,
 *                            cols) @interpretation=image, names (nroi), y, x
 *     roi                    NXcollection (nroi > 0) of one NXdata per ROI, named after it:
 *                            raw (signal), net (@auxiliary_signals), y, x; title = the
 *                            ROI name ('/' in it becomes '_' in the group name, repeats
 *                            get _1, _2, ...)
 *     total_counts           NXdata: data (rows, cols), y, x
 *     sum_spectrum, average_spectrum, max_spectrum    NXdata: data (p) + axis
 *     mask, n_valid_pixels   shared with the PCA when both are present and equal; otherwise
 *                            the ROI's own are roi_mask and roi_n_valid_pixels
 *
 *   NMF (mva_result_write_nmf; an entry of its own, default name mva_nmf, @default =
 *   abundances):
 *     abundances             NXdata @axes=[component, y, x]: data (k, rows, cols) counts per
 *                            component @interpretation=image (NaN where masked), component
 *                            (k) 1..k, y, x
 *     spectra                NXdata @axes=[component, energy|channel]: data (k, p), each row
 *                            summing to 1, @interpretation=spectrum, component, energy (p,
 *                            keV) or channel (p) 0..p-1
 *     convergence            NXdata @signal=objective @axes=[iteration] @SILX_style (log):
 *                            objective (iterations) after each pass, iteration 1..iterations
 *     share (k) fraction of the modelled counts, n_valid_pixels, mask (rows, cols) uint8
 *     process/nmf            NXcollection: rows, cols, p, k, seed, max_iter, inner,
 *                            iterations, passes (uint64); method, init (int32, @name),
 *                            poisson, converged, w_scratch (int32: W lived in a scratch
 *                            file); tol, objective, norm_x2, rel_error,
 *                            seconds (float64, @units=s)
 *
 * Readers find an entry's PCA by its eigenspectra group, its NMF by process/nmf and its ROI
 * result by its roi_definitions group; the ROI shape is taken from total_counts, sum_spectrum and
 * roi_definitions/names.
 *
 * Datasets above COMPRESS_MIN bytes are chunked (one image per chunk for image stacks, at
 * most CHUNK_BYTES) with shuffle + gzip, floating-point ones only when a sample shows that
 * this pays (floats_compress); the others are contiguous.  The per-ROI images
 * under roi/ are copies of slices of roi_raw/roi_net: a few rows x cols images, cheap next to
 * the stack, and they give silx users one titled image per element.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>
#include <zlib.h>

#include "commit.h"
#include "h5util.h"
#include "mva/result.h"

#define ENTRY_MAX 256                   /* longest entry name created or accepted */
#define COMPRESS_MIN 4096               /* bytes; smaller datasets stay contiguous */
#define CHUNK_BYTES ((size_t)1 << 20)   /* the HDF Group's advice: chunks up to ~1 MiB */
#define GZIP_LEVEL 4
#define PROBE_BYTES ((size_t)64 << 10) /* sample deflated to decide whether floats compress */

/* ---------------------------------------------------------------------------------------- */
/* Shared helpers                                                                           */
/* ---------------------------------------------------------------------------------------- */

static int valid_entry_name(const char *e)
{
    return e[0] != '\0' && strlen(e) < ENTRY_MAX && strchr(e, '/') == NULL &&
           strcmp(e, ".") != 0 && strcmp(e, "..") != 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing: datasets, attributes, groups                                                    */
/* ---------------------------------------------------------------------------------------- */

typedef struct wctx {
    hid_t file;
    const char *path; /* the requested file name: messages never show the temporary name */
    mva_error *err;
    hid_t str_t;      /* variable-length UTF-8 string */
    int gzip;         /* shuffle and deflate filters are available */
    const mva_nmf_model *nmf; /* mva_result_write_nmf: the entry's NMF */
} wctx;

/* Records "<file>: cannot <what> <object path>/<name> (HDF5: reason)". */
static int wfail(wctx *c, hid_t loc, const char *name, const char *what)
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
static int attr_write(wctx *c, hid_t loc, const char *obj, const char *name, hid_t ftype,
                      hid_t mtype, hsize_t n, const void *buf)
{
    int rc = MVA_OK;
    hid_t sp = -1, a = -1;
    htri_t ex = H5Aexists_by_name(loc, obj, name, H5P_DEFAULT);
    if (ex < 0 || (ex > 0 && H5Adelete_by_name(loc, obj, name, H5P_DEFAULT) < 0)) {
        rc = wfail(c, loc, obj, "replace an attribute of");
        goto done;
    }
    sp = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
    if (sp >= 0)
        a = H5Acreate_by_name(loc, obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mtype, buf) < 0) {
        char what[128];
        snprintf(what, sizeof what, "write attribute @%s of", name);
        rc = wfail(c, loc, obj, what);
    }
done:
    h5u_close(a);
    h5u_close(sp);
    return rc;
}

static int attr_str(wctx *c, hid_t loc, const char *obj, const char *name, const char *value)
{
    return attr_write(c, loc, obj, name, c->str_t, c->str_t, 0, &value);
}

static int attr_strv(wctx *c, hid_t loc, const char *obj, const char *name,
                     const char *const *v, size_t n)
{
    return attr_write(c, loc, obj, name, c->str_t, c->str_t, n, v);
}

/* Sets a root attribute only when the file does not have it yet (a file written by another
 * program keeps its own creator and creation time). */
static int attr_str_once(wctx *c, hid_t loc, const char *name, const char *value)
{
    htri_t ex = H5Aexists(loc, name);
    if (ex < 0)
        return wfail(c, loc, ".", "inspect attributes of");
    return ex ? MVA_OK : attr_str(c, loc, ".", name, value);
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
 * Whether shuffle + deflate pays for the nbytes of floating-point values at buf: a sample of
 * their first PROBE_BYTES, shuffled as HDF5 would, must deflate (level 1) to at most 4/5 of
 * itself.  Eigenimages and eigenspectra are noise down to the last mantissa bit: they shrink
 * by ~12% while deflate crawls through them at ~50 MB/s (a tenth of the run time on the sample
 * map: that was the whole write).  Images of counts kept as floats (ROI sums) halve, and
 * stay compressed.
 */
static int floats_compress(const void *buf, size_t nbytes, size_t esize)
{
    size_t n = (nbytes < PROBE_BYTES ? nbytes : PROBE_BYTES) / esize, len = n * esize;
    uLongf out_len = compressBound((uLong)len);
    unsigned char *sh = malloc(len), *out = malloc(out_len);
    int yes = 1;
    if (sh != NULL && out != NULL) {
        const unsigned char *b = buf;
        for (size_t j = 0; j < n; j++)
            for (size_t k = 0; k < esize; k++)
                sh[k * n + j] = b[j * esize + k];
        if (compress2(out, &out_len, sh, (uLong)len, 1) == Z_OK)
            yes = (size_t)out_len * 5 <= len * 4;
    }
    free(sh);
    free(out);
    return yes;
}

/* Creates dataset name in loc (rank 0 = scalar) and writes buf into it. */
static int dset_write(wctx *c, hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
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
        rc = wfail(c, loc, name, "create dataset");
        goto done;
    }
    H5T_class_t cls = H5Tget_class(ftype);
    if (c->gzip && rank > 0 && cls != H5T_STRING && nelem > 0 && nelem * esize > COMPRESS_MIN &&
        (cls != H5T_FLOAT ||
         floats_compress(buf, nelem * H5Tget_size(mtype), H5Tget_size(mtype)))) {
        chunk_shape(rank, dims, esize, chunk);
        if (H5Pset_chunk(dcpl, rank, chunk) < 0 || H5Pset_shuffle(dcpl) < 0 ||
            H5Pset_deflate(dcpl, GZIP_LEVEL) < 0) {
            rc = wfail(c, loc, name, "set compression of");
            goto done;
        }
    }
    d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) {
        rc = wfail(c, loc, name, "create dataset");
        goto done;
    }
    if (nelem > 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = wfail(c, loc, name, "write dataset");
done:
    h5u_close(d);
    h5u_close(dcpl);
    h5u_close(sp);
    return rc;
}

static int dset_f64(wctx *c, hid_t loc, const char *name, int rank, const hsize_t *dims,
                    const double *v)
{
    return dset_write(c, loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, rank, dims, v);
}

static int dset_sizes(wctx *c, hid_t loc, const char *name, int rank, const hsize_t *dims,
                      const size_t *v)
{
    return dset_write(c, loc, name, H5T_STD_U64LE, h5u_native_size(), rank, dims, v);
}

static int scalar_f64(wctx *c, hid_t loc, const char *name, double v)
{
    return dset_f64(c, loc, name, 0, NULL, &v);
}

static int scalar_size(wctx *c, hid_t loc, const char *name, size_t v)
{
    return dset_sizes(c, loc, name, 0, NULL, &v);
}

static int scalar_int(wctx *c, hid_t loc, const char *name, int v)
{
    return dset_write(c, loc, name, H5T_STD_I32LE, H5T_NATIVE_INT, 0, NULL, &v);
}

static int dset_str(wctx *c, hid_t loc, const char *name, const char *value)
{
    return dset_write(c, loc, name, c->str_t, c->str_t, 0, NULL, &value);
}

static int dset_strv(wctx *c, hid_t loc, const char *name, const char *const *v, size_t n)
{
    hsize_t dims[1] = {n};
    return dset_write(c, loc, name, c->str_t, c->str_t, 1, dims, v);
}

static int dset_mask(wctx *c, hid_t loc, const char *name, size_t rows, size_t cols,
                     const unsigned char *mask)
{
    hsize_t dims[2] = {rows, cols};
    return dset_write(c, loc, name, H5T_STD_U8LE, H5T_NATIVE_UCHAR, 2, dims, mask);
}

/* Index axis first, first + 1, ..., first + n - 1 as int64. */
static int dset_index(wctx *c, hid_t loc, const char *name, size_t n, int64_t first)
{
    int64_t *v = malloc((n ? n : 1) * sizeof *v);
    if (v == NULL)
        return mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory writing %s", c->path, name);
    for (size_t i = 0; i < n; i++)
        v[i] = first + (int64_t)i;
    hsize_t dims[1] = {n};
    int rc = dset_write(c, loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims, v);
    free(v);
    return rc;
}

static int group_new(wctx *c, hid_t loc, const char *name, const char *nxclass, hid_t *g)
{
    *g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (*g < 0)
        return wfail(c, loc, name, "create group");
    return attr_str(c, *g, ".", "NX_class", nxclass);
}

/* An NXdata group with its @signal, @axes and a title dataset (silx uses it as plot title). */
static int nxdata_new(wctx *c, hid_t loc, const char *name, const char *title,
                      const char *signal, const char *const *axes, size_t naxes, hid_t *g)
{
    int rc = group_new(c, loc, name, "NXdata", g);
    if (rc == MVA_OK)
        rc = attr_str(c, *g, ".", "signal", signal);
    if (rc == MVA_OK)
        rc = attr_strv(c, *g, ".", "axes", axes, naxes);
    if (rc == MVA_OK)
        rc = dset_str(c, *g, "title", title);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing: NXdata groups                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* The spectral axis of a p-point spectrum: energy in keV or (fractional) channel. */
typedef struct spec_axis {
    const char *name; /* "energy" or "channel" */
    const double *v;  /* p values */
    size_t p;
} spec_axis;

static int axis_write(wctx *c, hid_t g, const spec_axis *ax)
{
    hsize_t dims[1] = {ax->p};
    int rc = dset_f64(c, g, ax->name, 1, dims, ax->v);
    if (rc == MVA_OK && strcmp(ax->name, "energy") == 0)
        rc = attr_str(c, g, ax->name, "units", "keV");
    return rc;
}

static int pixel_axes(wctx *c, hid_t g, size_t rows, size_t cols)
{
    int rc = dset_index(c, g, "y", rows, 0);
    return rc == MVA_OK ? dset_index(c, g, "x", cols, 0) : rc;
}

/* NXdata name: one spectrum (p) over ax. */
static int spectrum_nxdata(wctx *c, hid_t entry, const char *name, const char *title,
                           const double *y, const spec_axis *ax)
{
    hid_t g = -1;
    const char *axes[1] = {ax->name};
    hsize_t dims[1] = {ax->p};
    int rc = nxdata_new(c, entry, name, title, "data", axes, 1, &g);
    if (rc == MVA_OK)
        rc = dset_f64(c, g, "data", 1, dims, y);
    if (rc == MVA_OK)
        rc = attr_str(c, g, "data", "interpretation", "spectrum");
    if (rc == MVA_OK)
        rc = axis_write(c, g, ax);
    h5u_close(g);
    return rc;
}

/* NXdata name: a stack of nimg images (nimg, rows, cols) whose first axis is "component"
 * (1..nimg) or "." (none), with the extra string dataset names (nimg) when given; or, when
 * first_axis is NULL, one image (rows, cols). */
static int images_nxdata(wctx *c, hid_t entry, const char *name, const char *title,
                         const double *v, size_t nimg, size_t rows, size_t cols,
                         const char *first_axis, const char *const *names)
{
    hid_t g = -1;
    int stack = first_axis != NULL;
    const char *axes3[3] = {first_axis, "y", "x"};
    hsize_t dims[3] = {nimg, rows, cols};
    int rc = nxdata_new(c, entry, name, title, "data", stack ? axes3 : axes3 + 1,
                        stack ? 3 : 2, &g);
    if (rc == MVA_OK)
        rc = dset_f64(c, g, "data", stack ? 3 : 2, stack ? dims : dims + 1, v);
    if (rc == MVA_OK)
        rc = attr_str(c, g, "data", "interpretation", "image");
    if (rc == MVA_OK)
        rc = pixel_axes(c, g, rows, cols);
    if (rc == MVA_OK && stack && strcmp(first_axis, "component") == 0)
        rc = dset_index(c, g, "component", nimg, 1);
    if (rc == MVA_OK && names != NULL)
        rc = dset_strv(c, g, "names", names, nimg);
    h5u_close(g);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing: the PCA                                                                         */
/* ---------------------------------------------------------------------------------------- */

static int pca_spectra(wctx *c, hid_t entry, const mva_pca_model *m)
{
    hid_t g = -1;
    double *ch = NULL;
    spec_axis ax = {"energy", m->var_energy, m->p};
    if (m->var_energy == NULL) {
        /* Variable j sums channels var_ch0[j] .. var_ch0[j] + bin - 1: plot it at the centre. */
        ch = malloc(m->p * sizeof *ch);
        if (ch == NULL)
            return mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
        for (size_t j = 0; j < m->p; j++)
            ch[j] = (double)m->var_ch0[j] + ((double)m->bin - 1.0) / 2.0;
        ax.name = "channel";
        ax.v = ch;
    }
    const char *axes[2] = {"component", ax.name};
    hsize_t dims[2] = {m->k, m->p};
    int rc = nxdata_new(c, entry, "eigenspectra", "PCA eigenspectra (loadings)", "data", axes, 2,
                        &g);
    if (rc == MVA_OK)
        rc = dset_f64(c, g, "data", 2, dims, m->components);
    if (rc == MVA_OK)
        rc = attr_str(c, g, "data", "interpretation", "spectrum");
    if (rc == MVA_OK)
        rc = dset_index(c, g, "component", m->k, 1);
    if (rc == MVA_OK)
        rc = axis_write(c, g, &ax);
    if (rc == MVA_OK)
        rc = spectrum_nxdata(c, entry, "mean_spectrum", "Mean spectrum of the valid pixels",
                             m->mean, &ax);
    h5u_close(g);
    free(ch);
    return rc;
}

/* The scree plot: eigenvalue against component index, on a log scale in silx.  Its signal
 * is a hard link to the entry's eigenvalues, so the values are stored once. */
static int pca_scree(wctx *c, hid_t entry, const mva_pca_model *m)
{
    hid_t g = -1;
    const char *axes[1] = {"component"};
    int rc = nxdata_new(c, entry, "scree", "Scree: eigenvalues of the covariance", "eigenvalues",
                        axes, 1, &g);
    if (rc == MVA_OK && H5Lcreate_hard(entry, "eigenvalues", g, "eigenvalues", H5P_DEFAULT,
                                       H5P_DEFAULT) < 0)
        rc = wfail(c, g, "eigenvalues", "link");
    if (rc == MVA_OK)
        rc = dset_index(c, g, "component", m->p, 1);
    if (rc == MVA_OK)
        rc = attr_str(c, g, ".", "SILX_style", "{\"signal_scale_type\": \"log\"}");
    h5u_close(g);
    return rc;
}

static int pca_arrays(wctx *c, hid_t entry, const mva_pca_model *m)
{
    hsize_t p[1] = {m->p}, img[2] = {m->rows, m->cols};
    int rc = dset_f64(c, entry, "eigenvalues", 1, p, m->eigenvalues);
    if (rc == MVA_OK)
        rc = dset_f64(c, entry, "explained_variance_ratio", 1, p, m->explained);
    if (rc == MVA_OK)
        rc = scalar_f64(c, entry, "total_variance", m->total_variance);
    if (rc == MVA_OK)
        rc = scalar_size(c, entry, "n_valid_pixels", m->n_valid);
    if (rc == MVA_OK)
        rc = dset_mask(c, entry, "mask", m->rows, m->cols, m->mask);
    if (rc == MVA_OK)
        rc = dset_sizes(c, entry, "var_ch0", 1, p, m->var_ch0);
    if (rc == MVA_OK)
        rc = dset_f64(c, entry, "scaled_mean", 1, p, m->scaled_mean);
    if (rc == MVA_OK && m->poisson)
        rc = dset_f64(c, entry, "var_weight", 1, p, m->var_weight);
    if (rc == MVA_OK && m->poisson)
        rc = dset_f64(c, entry, "pix_weight", 2, img, m->pix_weight);
    return rc;
}

static int write_pca(wctx *c, hid_t entry, const mva_pca_model *m)
{
    /* With k = 0 the stack is empty (0, rows, cols) but present, so that reading back never
     * special-cases it; the entry then defaults to the scree. */
    int rc = images_nxdata(c, entry, "eigenimages", "PCA eigenimages (scores)", m->scores,
                           m->k, m->rows, m->cols, "component", NULL);
    if (rc == MVA_OK)
        rc = pca_spectra(c, entry, m);
    if (rc == MVA_OK)
        rc = pca_arrays(c, entry, m);
    if (rc == MVA_OK)
        rc = pca_scree(c, entry, m);
    return rc;
}

/* process/pca: the model's scalars. */
static int pca_scalars(wctx *c, hid_t proc, const mva_pca_model *m)
{
    hid_t g = -1;
    int rc = group_new(c, proc, "pca", "NXcollection", &g);
    const struct {
        const char *name;
        size_t v;
    } sizes[] = {{"rows", m->rows},
                 {"cols", m->cols},
                 {"channels", m->channels},
                 {"p", m->p},
                 {"k", m->k},
                 {"bin", m->bin},
                 {"n_eigenvalues", m->n_eigenvalues},
                 {"passes", m->passes},
                 {"n_exact_pixels", m->n_exact},
                 {"oversample", m->oversample},
                 {"seed", (size_t)m->seed}};
    for (size_t i = 0; rc == MVA_OK && i < sizeof sizes / sizeof sizes[0]; i++)
        rc = scalar_size(c, g, sizes[i].name, sizes[i].v);
    if (rc == MVA_OK)
        rc = scalar_int(c, g, "poisson", m->poisson);
    if (rc == MVA_OK)
        rc = scalar_int(c, g, "uncentred", m->uncentred);
    if (rc == MVA_OK)
        rc = scalar_int(c, g, "method", m->method);
    if (rc == MVA_OK)
        rc = attr_str(c, g, "method", "name", mva_pca_method_name(m->method));
    if (rc == MVA_OK)
        rc = scalar_f64(c, g, "final_change", m->final_change);
    if (rc == MVA_OK)
        rc = scalar_f64(c, g, "seconds", m->seconds);
    if (rc == MVA_OK)
        rc = attr_str(c, g, "seconds", "units", "s");
    h5u_close(g);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing: the ROI result                                                                  */
/* ---------------------------------------------------------------------------------------- */

static int roi_definitions(wctx *c, hid_t entry, const mva_roi_result *r, const char **names)
{
    hid_t g = -1;
    int rc = MVA_OK;
    size_t n = r->nroi;
    double *from = malloc((n ? n : 1) * sizeof *from), *to = malloc((n ? n : 1) * sizeof *to);
    const char **unit = malloc((n ? n : 1) * sizeof *unit);
    if (from == NULL || to == NULL || unit == NULL) {
        rc = mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        from[i] = r->defs[i].from;
        to[i] = r->defs[i].to;
        unit[i] = r->defs[i].unit == MVA_ROI_KEV ? "keV" : "channel";
    }
    hsize_t dims[1] = {n};
    rc = group_new(c, entry, "roi_definitions", "NXcollection", &g);
    if (rc == MVA_OK)
        rc = dset_strv(c, g, "names", names, n);
    if (rc == MVA_OK)
        rc = dset_f64(c, g, "from", 1, dims, from);
    if (rc == MVA_OK)
        rc = dset_f64(c, g, "to", 1, dims, to);
    if (rc == MVA_OK)
        rc = dset_strv(c, g, "unit", unit, n);
    if (rc == MVA_OK)
        rc = dset_sizes(c, g, "ch0", 1, dims, r->ch0);
    if (rc == MVA_OK)
        rc = dset_sizes(c, g, "ch1", 1, dims, r->ch1);
done:
    h5u_close(g);
    free(from);
    free(to);
    free(unit);
    return rc;
}

/* A link name in g for want (an ROI name, a parameter key): '/' (forbidden in HDF5 link
 * names) replaced, made unique by a suffix _1, _2, ...  out holds LINK_MAX bytes. */
#define LINK_MAX 544
static int unique_link(wctx *c, hid_t g, const char *want, char *out, size_t cap)
{
    char base[512];
    if (want[0] == '\0' || strcmp(want, ".") == 0 || strcmp(want, "..") == 0)
        snprintf(base, sizeof base, "unnamed");
    else
        snprintf(base, sizeof base, "%s", want);
    for (char *s = base; *s; s++)
        if (*s == '/')
            *s = '_';
    for (unsigned u = 0;; u++) {
        if (u == 0)
            snprintf(out, cap, "%s", base);
        else
            snprintf(out, cap, "%s_%u", base, u);
        htri_t ex = H5Lexists(g, out, H5P_DEFAULT);
        if (ex < 0)
            return wfail(c, g, out, "look up");
        if (ex == 0)
            return MVA_OK;
    }
}

/* roi/<name>: one titled NXdata per ROI, raw image as signal and net as auxiliary signal. */
static int roi_images(wctx *c, hid_t entry, const mva_roi_result *r)
{
    hid_t coll = -1, g = -1;
    size_t n = r->rows * r->cols;
    hsize_t dims[2] = {r->rows, r->cols};
    const char *axes[2] = {"y", "x"}, *aux[1] = {"net"};
    int rc = group_new(c, entry, "roi", "NXcollection", &coll);
    for (size_t i = 0; rc == MVA_OK && i < r->nroi; i++) {
        char name[LINK_MAX];
        rc = unique_link(c, coll, r->defs[i].name, name, sizeof name);
        if (rc == MVA_OK)
            rc = nxdata_new(c, coll, name, r->defs[i].name, "raw", axes, 2, &g);
        if (rc == MVA_OK)
            rc = attr_strv(c, g, ".", "auxiliary_signals", aux, 1);
        if (rc == MVA_OK)
            rc = dset_f64(c, g, "raw", 2, dims, r->raw + i * n);
        if (rc == MVA_OK)
            rc = dset_f64(c, g, "net", 2, dims, r->net + i * n);
        if (rc == MVA_OK)
            rc = attr_str(c, g, "raw", "interpretation", "image");
        if (rc == MVA_OK)
            rc = pixel_axes(c, g, r->rows, r->cols);
        h5u_close(g);
        g = -1;
    }
    h5u_close(coll);
    return rc;
}

static int roi_spectra(wctx *c, hid_t entry, const mva_roi_result *r, const mva_calib *cal)
{
    double *v = malloc(r->p * sizeof *v);
    if (v == NULL)
        return mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
    int kev = cal != NULL && cal->known;
    for (size_t j = 0; j < r->p; j++)
        v[j] = kev ? mva_calib_energy(cal, (double)j) : (double)j;
    spec_axis ax = {kev ? "energy" : "channel", v, r->p};
    int rc = spectrum_nxdata(c, entry, "sum_spectrum", "Sum spectrum of the valid pixels",
                             r->sum_spectrum, &ax);
    if (rc == MVA_OK)
        rc = spectrum_nxdata(c, entry, "average_spectrum",
                             "Average spectrum of the valid pixels", r->avg_spectrum, &ax);
    if (rc == MVA_OK)
        rc = spectrum_nxdata(c, entry, "max_spectrum",
                             "Per-channel maximum over the valid pixels", r->max_spectrum, &ax);
    free(v);
    return rc;
}

/* share_mask: -1 no PCA in the entry (write mask, n_valid_pixels); 1 the PCA already wrote
 * an identical mask and count; 0 they differ (write roi_mask, roi_n_valid_pixels). */
static int write_roi(wctx *c, hid_t entry, const mva_roi_result *r, const mva_calib *cal,
                     int share_mask)
{
    int rc = MVA_OK;
    const char **names = malloc((r->nroi ? r->nroi : 1) * sizeof *names);
    if (names == NULL)
        return mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
    for (size_t i = 0; i < r->nroi; i++)
        names[i] = r->defs[i].name;
    rc = roi_definitions(c, entry, r, names);
    if (rc == MVA_OK && r->nroi > 0)
        rc = images_nxdata(c, entry, "roi_raw", "ROI images (raw counts)", r->raw, r->nroi,
                           r->rows, r->cols, ".", names);
    if (rc == MVA_OK && r->nroi > 0)
        rc = images_nxdata(c, entry, "roi_net", "ROI images (background subtracted)", r->net,
                           r->nroi, r->rows, r->cols, ".", names);
    if (rc == MVA_OK && r->nroi > 0)
        rc = roi_images(c, entry, r);
    if (rc == MVA_OK)
        rc = images_nxdata(c, entry, "total_counts", "Total counts", r->total, 0, r->rows,
                           r->cols, NULL, NULL);
    if (rc == MVA_OK)
        rc = roi_spectra(c, entry, r, cal);
    if (rc == MVA_OK && share_mask != 1)
        rc = dset_mask(c, entry, share_mask < 0 ? "mask" : "roi_mask", r->rows, r->cols,
                       r->mask);
    if (rc == MVA_OK && share_mask != 1)
        rc = scalar_size(c, entry, share_mask < 0 ? "n_valid_pixels" : "roi_n_valid_pixels",
                         r->n_valid);
    free(names);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing: the NMF                                                                         */
/* ---------------------------------------------------------------------------------------- */

static int nmf_spectra(wctx *c, hid_t entry, const mva_nmf_model *m)
{
    hid_t g = -1;
    double *ch = NULL;
    spec_axis ax = {"energy", m->energy, m->p};
    if (m->energy == NULL) {
        ch = malloc(m->p * sizeof *ch);
        if (ch == NULL)
            return mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
        for (size_t j = 0; j < m->p; j++)
            ch[j] = (double)j;
        ax.name = "channel";
        ax.v = ch;
    }
    const char *axes[2] = {"component", ax.name};
    hsize_t dims[2] = {m->k, m->p};
    int rc = nxdata_new(c, entry, "spectra", "NMF component spectra (each sums to 1)", "data",
                        axes, 2, &g);
    if (rc == MVA_OK)
        rc = dset_f64(c, g, "data", 2, dims, m->spectra);
    if (rc == MVA_OK)
        rc = attr_str(c, g, "data", "interpretation", "spectrum");
    if (rc == MVA_OK)
        rc = dset_index(c, g, "component", m->k, 1);
    if (rc == MVA_OK)
        rc = axis_write(c, g, &ax);
    h5u_close(g);
    free(ch);
    return rc;
}

/* The objective after each pass against the pass number, log scale in silx. */
static int nmf_convergence(wctx *c, hid_t entry, const mva_nmf_model *m)
{
    hid_t g = -1;
    const char *axes[1] = {"iteration"};
    hsize_t dims[1] = {m->iterations};
    int rc = nxdata_new(c, entry, "convergence", "NMF objective after each pass", "objective",
                        axes, 1, &g);
    if (rc == MVA_OK)
        rc = dset_f64(c, g, "objective", 1, dims, m->history);
    if (rc == MVA_OK)
        rc = dset_index(c, g, "iteration", m->iterations, 1);
    if (rc == MVA_OK)
        rc = attr_str(c, g, ".", "SILX_style", "{\"signal_scale_type\": \"log\"}");
    h5u_close(g);
    return rc;
}

static int write_nmf(wctx *c, hid_t entry, const mva_nmf_model *m)
{
    hsize_t k[1] = {m->k};
    int rc = images_nxdata(c, entry, "abundances", "NMF abundances (counts per component)",
                           m->abundances, m->k, m->rows, m->cols, "component", NULL);
    if (rc == MVA_OK)
        rc = nmf_spectra(c, entry, m);
    if (rc == MVA_OK)
        rc = nmf_convergence(c, entry, m);
    if (rc == MVA_OK)
        rc = dset_f64(c, entry, "share", 1, k, m->share);
    if (rc == MVA_OK)
        rc = scalar_size(c, entry, "n_valid_pixels", m->n_valid);
    if (rc == MVA_OK)
        rc = dset_mask(c, entry, "mask", m->rows, m->cols, m->mask);
    return rc;
}

/* process/nmf: the model's scalars. */
static int nmf_scalars(wctx *c, hid_t proc, const mva_nmf_model *m)
{
    hid_t g = -1;
    int rc = group_new(c, proc, "nmf", "NXcollection", &g);
    const struct {
        const char *name;
        size_t v;
    } sizes[] = {{"rows", m->rows},           {"cols", m->cols},
                 {"p", m->p},                 {"k", m->k},
                 {"seed", (size_t)m->seed},   {"max_iter", m->max_iter},
                 {"inner", m->inner},         {"iterations", m->iterations},
                 {"passes", m->passes}};
    for (size_t i = 0; rc == MVA_OK && i < sizeof sizes / sizeof sizes[0]; i++)
        rc = scalar_size(c, g, sizes[i].name, sizes[i].v);
    const struct {
        const char *name;
        double v;
    } reals[] = {{"tol", m->tol},
                 {"objective", m->objective},
                 {"norm_x2", m->norm_x2},
                 {"rel_error", m->rel_error},
                 {"seconds", m->seconds}};
    for (size_t i = 0; rc == MVA_OK && i < sizeof reals / sizeof reals[0]; i++)
        rc = scalar_f64(c, g, reals[i].name, reals[i].v);
    if (rc == MVA_OK)
        rc = attr_str(c, g, "seconds", "units", "s");
    if (rc == MVA_OK)
        rc = scalar_int(c, g, "method", m->method);
    if (rc == MVA_OK)
        rc = attr_str(c, g, "method", "name", mva_nmf_method_name(m->method));
    if (rc == MVA_OK)
        rc = scalar_int(c, g, "w_scratch", m->w_scratch);
    if (rc == MVA_OK)
        rc = scalar_int(c, g, "init", m->init);
    if (rc == MVA_OK)
        rc = attr_str(c, g, "init", "name", mva_nmf_init_name(m->init));
    if (rc == MVA_OK)
        rc = scalar_int(c, g, "poisson", m->poisson);
    if (rc == MVA_OK)
        rc = scalar_int(c, g, "converged", m->converged);
    h5u_close(g);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing: process, entry, root                                                            */
/* ---------------------------------------------------------------------------------------- */

static void iso_time(time_t t, char *buf, size_t cap)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, cap, "1970-01-01T00:00:00Z");
}

/* process/parameters (one dataset per key) and process/configuration (the same as text). */
static int write_params(wctx *c, hid_t proc, const mva_param *params, size_t n)
{
    hid_t g = -1, note = -1;
    char *text = NULL, name[LINK_MAX];
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(params[i].key) + strlen(params[i].value ? params[i].value : "") + 4;
    text = malloc(len);
    int rc = text ? group_new(c, proc, "parameters", "NXparameters", &g)
                            : mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
    size_t at = 0;
    if (text)
        text[0] = '\0';
    for (size_t i = 0; rc == MVA_OK && i < n; i++) {
        const char *v = params[i].value ? params[i].value : "";
        at += (size_t)sprintf(text + at, "%s = %s\n", params[i].key, v);
        /* A repeated key (--roi given twice) keeps every value: roi, roi_1, ... */
        rc = unique_link(c, g, params[i].key, name, sizeof name);
        if (rc == MVA_OK)
            rc = dset_str(c, g, name, v);
    }
    if (rc == MVA_OK)
        rc = group_new(c, proc, "configuration", "NXnote", &note);
    if (rc == MVA_OK)
        rc = dset_str(c, note, "type", "text/plain");
    if (rc == MVA_OK)
        rc = dset_str(c, note, "data", text);
    h5u_close(note);
    h5u_close(g);
    free(text);
    return rc;
}

static int write_process(wctx *c, hid_t entry, const mva_result_spec *s, const char *now)
{
    hid_t g = -1;
    const mva_stack_info *in = s->input;
    size_t shape[3] = {in->rows, in->cols, in->channels};
    hsize_t three[1] = {3};
    int rc = group_new(c, entry, "process", "NXprocess", &g);
    if (rc == MVA_OK)
        rc = dset_str(c, g, "program", s->program ? s->program : "mva");
    if (rc == MVA_OK)
        rc = dset_str(c, g, "version", mva_version());
    if (rc == MVA_OK)
        rc = dset_str(c, g, "date", now);
    if (rc == MVA_OK && s->command_line != NULL)
        rc = dset_str(c, g, "command_line", s->command_line);
    if (rc == MVA_OK)
        rc = dset_str(c, g, "input_file", in->source);
    if (rc == MVA_OK)
        rc = dset_str(c, g, "input_dataset", in->path);
    if (rc == MVA_OK)
        rc = dset_str(c, g, "input_format", in->format);
    if (rc == MVA_OK)
        rc = dset_str(c, g, "input_dtype", mva_dtype_name(in->dtype));
    if (rc == MVA_OK)
        rc = dset_sizes(c, g, "input_shape", 1, three, shape);
    if (rc == MVA_OK && in->calib.known) {
        double abc[3] = {in->calib.a, in->calib.b, in->calib.c};
        rc = dset_f64(c, g, "input_calibration", 1, three, abc);
        if (rc == MVA_OK)
            rc = attr_str(c, g, "input_calibration", "units", "keV");
        if (rc == MVA_OK)
            rc = attr_str(c, g, "input_calibration", "description",
                          "E = a + b * channel + c * channel^2");
    }
    if (rc == MVA_OK)
        rc = write_params(c, g, s->params, s->nparams);
    if (rc == MVA_OK && s->pca != NULL)
        rc = pca_scalars(c, g, s->pca);
    if (rc == MVA_OK && c->nmf != NULL)
        rc = nmf_scalars(c, g, c->nmf);
    h5u_close(g);
    return rc;
}

static const char *entry_default(const wctx *c, const mva_result_spec *s)
{
    if (c->nmf != NULL)
        return "abundances";
    if (s->pca != NULL)
        return s->pca->k > 0 ? "eigenimages" : "scree";
    return s->roi->nroi > 0 ? "roi_raw" : "total_counts";
}

static int write_entry_info(wctx *c, hid_t e, const mva_result_spec *s, time_t now)
{
    char title[8192], t0[32], t1[32];
    const mva_stack_info *in = s->input;
    char what[64] = "";
    if (c->nmf != NULL)
        snprintf(what, sizeof what, "NMF (k = %zu, %s)", c->nmf->k,
                 mva_nmf_method_name(c->nmf->method));
    else if (s->pca != NULL)
        snprintf(what, sizeof what, "PCA (k = %zu)%s", s->pca->k, s->roi ? " and ROIs" : "");
    else
        snprintf(what, sizeof what, "ROI images");
    snprintf(title, sizeof title, "%s of %s%s%s", what, in->source, in->path[0] ? "::" : "",
             in->path);
    double secs = s->pca != NULL && s->pca->seconds > 0 ? s->pca->seconds : 0.0;
    if (c->nmf != NULL && c->nmf->seconds > 0)
        secs = c->nmf->seconds;
    iso_time(now - (time_t)(secs + 0.5), t0, sizeof t0);
    iso_time(now, t1, sizeof t1);
    int rc = dset_str(c, e, "title", title);
    if (rc == MVA_OK)
        rc = dset_str(c, e, "start_time", t0);
    if (rc == MVA_OK)
        rc = dset_str(c, e, "end_time", t1);
    if (rc == MVA_OK)
        rc = dset_str(c, e, "program_name", s->program ? s->program : "mva");
    if (rc == MVA_OK)
        rc = attr_str(c, e, "program_name", "version", mva_version());
    return rc;
}

static int write_entry(wctx *c, const char *name, const mva_result_spec *s, time_t now)
{
    hid_t e = -1;
    char date[32];
    iso_time(now, date, sizeof date);
    /* One mask for the entry when PCA and ROI agree (same stack, same non-finite pixels). */
    int share = -1;
    if (s->pca != NULL && s->roi != NULL)
        share = s->pca->n_valid == s->roi->n_valid &&
                memcmp(s->pca->mask, s->roi->mask, s->roi->rows * s->roi->cols) == 0;
    int rc = group_new(c, c->file, name, "NXentry", &e);
    if (rc == MVA_OK)
        rc = attr_str(c, e, ".", "default", entry_default(c, s));
    if (rc == MVA_OK)
        rc = write_entry_info(c, e, s, now);
    if (rc == MVA_OK)
        rc = write_process(c, e, s, date);
    if (rc == MVA_OK && s->pca != NULL)
        rc = write_pca(c, e, s->pca);
    if (rc == MVA_OK && s->roi != NULL)
        rc = write_roi(c, e, s->roi, &s->input->calib, share);
    if (rc == MVA_OK && c->nmf != NULL)
        rc = write_nmf(c, e, c->nmf);
    h5u_close(e);
    return rc;
}

static int write_root(wctx *c, const char *entry, const char *path, time_t now)
{
    hid_t root = H5Gopen2(c->file, "/", H5P_DEFAULT);
    char t[32], creator[64], hv[32];
    unsigned maj = 0, min = 0, rel = 0;
    if (root < 0)
        return wfail(c, c->file, "/", "open");
    iso_time(now, t, sizeof t);
    snprintf(creator, sizeof creator, "mva %s", mva_version());
    H5get_libversion(&maj, &min, &rel);
    snprintf(hv, sizeof hv, "%u.%u.%u", maj, min, rel);
    int rc = attr_str_once(c, root, "NX_class", "NXroot");
    if (rc == MVA_OK)
        rc = attr_str_once(c, root, "creator", creator);
    if (rc == MVA_OK)
        rc = attr_str_once(c, root, "file_name", path);
    if (rc == MVA_OK)
        rc = attr_str_once(c, root, "file_time", t);
    if (rc == MVA_OK)
        rc = attr_str_once(c, root, "HDF5_Version", hv);
    if (rc == MVA_OK)
        rc = attr_str(c, root, ".", "file_update_time", t);
    if (rc == MVA_OK)
        rc = attr_str(c, root, ".", "default", entry);
    H5Gclose(root);
    return rc;
}

/* The entry name: the caller's (which must not exist: results are never overwritten) or
 * mva_pca / mva_roi, made unique with _1, _2, ... */
static int choose_entry(wctx *c, const mva_result_spec *s, char *name, size_t cap)
{
    const char *base = s->entry ? s->entry : c->nmf ? "mva_nmf" : s->pca ? "mva_pca" : "mva_roi";
    for (unsigned u = 0; u < 1000000; u++) {
        if (u == 0)
            snprintf(name, cap, "%s", base);
        else
            snprintf(name, cap, "%s_%u", base, u);
        htri_t ex = H5Lexists(c->file, name, H5P_DEFAULT);
        if (ex < 0)
            return wfail(c, c->file, name, "look up");
        if (ex == 0)
            return MVA_OK;
        if (s->entry != NULL)
            return mva_error_set(c->err, MVA_EINVAL,
                                 "%s: entry /%s already exists (results are never overwritten; "
                                 "choose another entry name)",
                                 c->path, name);
    }
    return mva_error_set(c->err, MVA_ERANGE, "%s: too many entries named %s_N", c->path, base);
}

/* ---------------------------------------------------------------------------------------- */
/* Writing: checks and the atomic file dance                                                */
/* ---------------------------------------------------------------------------------------- */

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

static int check_spec(const char *path, const mva_result_spec *s, const mva_nmf_model *nmf,
                      mva_error *err)
{
    if (path == NULL || path[0] == '\0' || s == NULL)
        return mva_error_set(err, MVA_EINVAL, "mva_result_write: no output path or spec");
    if (nmf != NULL && (s->pca != NULL || s->roi != NULL))
        return mva_error_set(err, MVA_EINVAL, "%s: an NMF result is written as an entry of its "
                             "own (spec->pca and spec->roi must be NULL)", path);
    if (nmf != NULL && s->input != NULL)
        return check_nmf(path, nmf, err);
    if (s->input == NULL || (s->pca == NULL && s->roi == NULL))
        return mva_error_set(err, MVA_EINVAL, "%s: nothing to write (no input or no result)",
                             path);
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
    int rc = s->pca ? check_pca(path, s->pca, err) : MVA_OK;
    if (rc == MVA_OK && s->roi)
        rc = check_roi(path, s->roi, err);
    if (rc == MVA_OK && s->pca && s->roi &&
        (s->pca->rows != s->roi->rows || s->pca->cols != s->roi->cols))
        rc = mva_error_set(err, MVA_EINVAL,
                           "%s: PCA map %zu x %zu and ROI map %zu x %zu differ", path,
                           s->pca->rows, s->pca->cols, s->roi->rows, s->roi->cols);
    return rc;
}

/* Looks at what is at path now: nothing (*exists = 0), an HDF5 file to add to (*exists = 1,
 * *st filled), or something that must not be replaced (error). */
static int check_target(const char *path, const mva_stack_info *in, struct stat *st,
                        int *exists, mva_error *err)
{
    *exists = 0;
    if (stat(path, st) != 0) {
        if (errno == ENOENT)
            return MVA_OK;
        return mva_error_set(err, MVA_EIO, "%s: %s", path, strerror(errno));
    }
    if (!S_ISREG(st->st_mode))
        return mva_error_set(err, MVA_EINVAL, "%s: exists and is not a regular file", path);
    struct stat ist;
    if (in->source[0] != '\0' && stat(in->source, &ist) == 0 && ist.st_dev == st->st_dev &&
        ist.st_ino == st->st_ino)
        return mva_error_set(err, MVA_EINVAL,
                             "%s: is the input file; results are never written into the input",
                             path);
    htri_t h5 = H5Fis_hdf5(path);
    if (h5 < 0)
        return mva_error_set(err, MVA_EIO, "%s: exists but cannot be read", path);
    if (h5 == 0)
        return mva_error_set(err, MVA_EINVAL,
                             "%s: exists and is not an HDF5 file; refusing to overwrite it",
                             path);
    *exists = 1;
    return MVA_OK;
}

/* Opens the temporary as HDF5 (new or copied) and writes the new entry into it. */
static int write_hdf5(wctx *c, const char *tmp, int existed, const mva_result_spec *s,
                      char *name, size_t cap)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    time_t now = time(NULL);
    int rc = MVA_OK;
    /* STRONG: closing the file closes anything left open, so the bytes are all out before
     * the fsync and rename. */
    if (fapl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        rc = mva_error_set(c->err, MVA_EIO, "%s: HDF5 property lists unavailable", c->path);
        goto done;
    }
    c->file = existed ? H5Fopen(tmp, H5F_ACC_RDWR, fapl)
                      : H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (c->file < 0) {
        char why[300];
        h5u_reason(why, sizeof why);
        rc = mva_error_set(c->err, MVA_EIO, "%s: cannot %s HDF5 file %s%s", c->path,
                           existed ? "open a copy of the" : "create the", tmp, why);
        goto done;
    }
    rc = choose_entry(c, s, name, cap);
    if (rc == MVA_OK)
        rc = write_root(c, name, c->path, now);
    if (rc == MVA_OK)
        rc = write_entry(c, name, s, now);
    /* The id is gone even when H5Fclose fails (data flushed at close hit a write error such
     * as EFBIG or ENOSPC): report without asking HDF5 about it again. */
    if (H5Fclose(c->file) < 0 && rc == MVA_OK) {
        char why[300];
        h5u_reason(why, sizeof why);
        rc = mva_error_set(c->err, MVA_EIO, "%s: cannot write the file (flushing at close "
                           "failed)%s", c->path, why);
    }
    c->file = -1;
done:
    h5u_close(fapl);
    return rc;
}

static int result_write(const char *path, const mva_result_spec *spec,
                        const mva_nmf_model *nmf, char *entry_out, size_t entry_cap,
                        mva_error *err)
{
    int rc = check_spec(path, spec, nmf, err);
    if (rc != MVA_OK)
        return rc;
    h5u_quiet q;
    h5u_quiet_on(&q);
    wctx c = {-1, path, err, h5u_utf8_type(), 0, nmf};
    c.gzip = H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0 && H5Zfilter_avail(H5Z_FILTER_SHUFFLE) > 0;
    char name[ENTRY_MAX + 16];
    struct stat st;
    int exists = 0;
    mva_commit cm = {0};
    if (c.str_t < 0) {
        rc = mva_error_set(err, MVA_EIO, "%s: cannot start writing", path);
        goto done;
    }
    rc = check_target(path, spec->input, &st, &exists, err);
    if (rc == MVA_OK)
        rc = mva_commit_begin(&cm, path, MVA_COMMIT_ADD, err);
    if (rc != MVA_OK)
        goto done;
    /* What the lock found decides, not the look before it: another writer may have made the
     * file in between. */
    rc = write_hdf5(&c, cm.tmp, cm.existed, spec, name, sizeof name);
    if (rc == MVA_OK && entry_out != NULL && strlen(name) >= entry_cap)
        rc = mva_error_set(err, MVA_ERANGE, "%s: entry name %s does not fit in %zu bytes", path,
                           name, entry_cap);
    if (rc == MVA_OK)
        rc = mva_commit_finish(&cm, err);
    if (rc == MVA_OK && entry_out != NULL)
        memcpy(entry_out, name, strlen(name) + 1);
done:
    mva_commit_abort(&cm);
    h5u_close(c.str_t);
    h5u_quiet_off(&q);
    return rc;
}

int mva_result_write(const char *path, const mva_result_spec *spec, char *entry_out,
                     size_t entry_cap, mva_error *err)
{
    return result_write(path, spec, NULL, entry_out, entry_cap, err);
}

int mva_result_write_nmf(const char *path, const mva_result_spec *spec,
                         const mva_nmf_model *nmf, char *entry_out, size_t entry_cap,
                         mva_error *err)
{
    if (nmf == NULL)
        return mva_error_set(err, MVA_EINVAL, "%s: no NMF model to write",
                             path ? path : "mva_result_write_nmf");
    return result_write(path, spec, nmf, entry_out, entry_cap, err);
}

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

/* 1 when /name is a group holding marker. */
static int entry_holds(rctx *r, const char *name, const char *marker)
{
    char full[1024];
    snprintf(full, sizeof full, "/%s/%s", name, marker);
    return valid_entry_name(name) && h5u_exists(r->file, full);
}

/*
 * Chooses the entry: the caller's, else the root's @default when it holds marker (it names
 * the newest entry), else the first entry by name that does.  "what" names the result kind
 * in messages.
 */
static int find_entry(rctx *r, const char *entry, const char *marker, const char *what)
{
    char name[ENTRY_MAX + 1] = "";
    if (entry != NULL) {
        if (entry[0] == '/')
            entry++;
        char full[ENTRY_MAX + 2];
        snprintf(full, sizeof full, "/%s", entry);
        if (!valid_entry_name(entry) || !h5u_exists(r->file, full))
            return mva_error_set(r->err, MVA_ENOTFOUND, "%s: entry /%s not found", r->path,
                                 entry);
        if (!entry_holds(r, entry, marker))
            return mva_error_set(r->err, MVA_ENOTFOUND,
                                 "%s: entry /%s holds no %s (/%s/%s missing)", r->path, entry,
                                 what, entry, marker);
        snprintf(r->entry, sizeof r->entry, "/%s", entry);
        return MVA_OK;
    }
    hid_t root = H5Gopen2(r->file, "/", H5P_DEFAULT);
    H5G_info_t info;
    int found = 0;
    if (root >= 0 && h5u_attr_str_read(root, "default", name, sizeof name) == MVA_OK &&
        entry_holds(r, name, marker))
        found = 1;
    if (!found && root >= 0 && H5Gget_info(root, &info) >= 0) {
        for (hsize_t i = 0; !found && i < info.nlinks; i++) {
            ssize_t len = H5Lget_name_by_idx(root, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                             sizeof name, H5P_DEFAULT);
            found = len > 0 && (size_t)len < sizeof name && entry_holds(r, name, marker);
        }
    }
    h5u_close(root);
    if (!found)
        return mva_error_set(r->err, MVA_ENOTFOUND, "%s: no entry holds a %s (no /*/%s)",
                             r->path, what, marker);
    snprintf(r->entry, sizeof r->entry, "/%s", name);
    return MVA_OK;
}

/* The model's scalars from process/pca; allocates the model. */
static int read_pca_shape(rctx *r, mva_pca_model **out)
{
    size_t rows, cols, channels, p, k, bin, n;
    int poisson = 0, uncentred = 0, method = 0;
    int rc = r_size(r, "process/pca/rows", &rows);
    if (rc == MVA_OK)
        rc = r_size(r, "process/pca/cols", &cols);
    if (rc == MVA_OK)
        rc = r_size(r, "process/pca/channels", &channels);
    if (rc == MVA_OK)
        rc = r_size(r, "process/pca/p", &p);
    if (rc == MVA_OK)
        rc = r_size(r, "process/pca/k", &k);
    if (rc == MVA_OK)
        rc = r_size(r, "process/pca/bin", &bin);
    if (rc == MVA_OK)
        rc = r_read(r, "process/pca/poisson", H5T_NATIVE_INT, 0, NULL, &poisson);
    if (rc == MVA_OK)
        rc = r_read(r, "process/pca/uncentred", H5T_NATIVE_INT, 0, NULL, &uncentred);
    if (rc == MVA_OK)
        rc = r_read(r, "process/pca/method", H5T_NATIVE_INT, 0, NULL, &method);
    if (rc != MVA_OK)
        return rc;
    if (k > p || mva_size_mul(rows, cols, &n) != MVA_OK || mva_size_mul(n, k, &n) != MVA_OK)
        return mva_error_set(r->err, MVA_EFORMAT,
                             "%s: %s/process/pca: inconsistent shape (rows %zu, cols %zu, p %zu, "
                             "k %zu)",
                             r->path, r->entry, rows, cols, p, k);
    rc = mva_pca_model_alloc(out, rows, cols, channels, p, k, has(r, "eigenspectra/energy"),
                             poisson != 0, r->err);
    if (rc != MVA_OK)
        return rc;
    (*out)->bin = bin;
    (*out)->poisson = poisson;
    (*out)->uncentred = uncentred;
    (*out)->method = method;
    size_t ne = 0, passes = 0, over = 0, seed = 0;
    rc = r_size(r, "process/pca/n_eigenvalues", &ne);
    if (rc == MVA_OK)
        rc = r_size(r, "process/pca/passes", &passes);
    if (rc == MVA_OK)
        rc = r_size(r, "process/pca/oversample", &over);
    if (rc == MVA_OK)
        rc = r_size(r, "process/pca/seed", &seed);
    if (rc == MVA_OK)
        rc = r_read(r, "process/pca/final_change", H5T_NATIVE_DOUBLE, 0, NULL,
                    &(*out)->final_change);
    (*out)->n_eigenvalues = ne;
    (*out)->passes = passes;
    (*out)->oversample = over;
    (*out)->seed = seed;
    return rc;
}

static int read_pca_arrays(rctx *r, mva_pca_model *m)
{
    hsize_t p[1] = {m->p}, kp[2] = {m->k, m->p}, img[2] = {m->rows, m->cols};
    hsize_t stack[3] = {m->k, m->rows, m->cols};
    const hid_t f64 = H5T_NATIVE_DOUBLE;
    int rc = r_read(r, "eigenimages/data", f64, 3, stack, m->scores);
    if (rc == MVA_OK)
        rc = r_read(r, "eigenspectra/data", f64, 2, kp, m->components);
    if (rc == MVA_OK && m->var_energy != NULL)
        rc = r_read(r, "eigenspectra/energy", f64, 1, p, m->var_energy);
    if (rc == MVA_OK)
        rc = r_read(r, "mean_spectrum/data", f64, 1, p, m->mean);
    if (rc == MVA_OK)
        rc = r_read(r, "eigenvalues", f64, 1, p, m->eigenvalues);
    if (rc == MVA_OK)
        rc = r_read(r, "explained_variance_ratio", f64, 1, p, m->explained);
    if (rc == MVA_OK)
        rc = r_read(r, "total_variance", f64, 0, NULL, &m->total_variance);
    if (rc == MVA_OK)
        rc = r_size(r, "n_valid_pixels", &m->n_valid);
    if (rc == MVA_OK)
        rc = r_read(r, "mask", H5T_NATIVE_UCHAR, 2, img, m->mask);
    if (rc == MVA_OK)
        rc = r_read(r, "var_ch0", h5u_native_size(), 1, p, m->var_ch0);
    if (rc == MVA_OK)
        rc = r_read(r, "scaled_mean", f64, 1, p, m->scaled_mean);
    if (rc == MVA_OK && m->poisson)
        rc = r_read(r, "var_weight", f64, 1, p, m->var_weight);
    if (rc == MVA_OK && m->poisson)
        rc = r_read(r, "pix_weight", f64, 2, img, m->pix_weight);
    if (rc == MVA_OK)
        rc = r_read(r, "process/pca/seconds", f64, 0, NULL, &m->seconds);
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
        rc = find_entry(&r, entry, "eigenspectra", "PCA");
    if (rc == MVA_OK)
        rc = read_pca_shape(&r, &m);
    if (rc == MVA_OK)
        rc = read_pca_arrays(&r, m);
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
        rc = find_entry(&r, entry, "roi_definitions", "ROI result");
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
    size_t rows, cols, p, k, it, n;
    int rc = r_size(r, "process/nmf/rows", &rows);
    if (rc == MVA_OK)
        rc = r_size(r, "process/nmf/cols", &cols);
    if (rc == MVA_OK)
        rc = r_size(r, "process/nmf/p", &p);
    if (rc == MVA_OK)
        rc = r_size(r, "process/nmf/k", &k);
    if (rc == MVA_OK)
        rc = r_size(r, "process/nmf/iterations", &it);
    if (rc != MVA_OK)
        return rc;
    if (k == 0 || k > p || mva_size_mul(rows, cols, &n) != MVA_OK ||
        mva_size_mul(n, k, &n) != MVA_OK)
        return mva_error_set(r->err, MVA_EFORMAT,
                             "%s: %s/process/nmf: inconsistent shape (rows %zu, cols %zu, p %zu, "
                             "k %zu)", r->path, r->entry, rows, cols, p, k);
    /* The history is as long as the passes done, whatever max_iter was. */
    rc = mva_nmf_model_alloc(out, rows, cols, p, k, it, has(r, "spectra/energy"), r->err);
    if (rc != MVA_OK)
        return rc;
    mva_nmf_model *m = *out;
    size_t seed = 0;
    m->iterations = it;
    rc = r_size(r, "process/nmf/seed", &seed);
    m->seed = seed;
    if (rc == MVA_OK)
        rc = r_size(r, "process/nmf/max_iter", &m->max_iter);
    if (rc == MVA_OK)
        rc = r_size(r, "process/nmf/inner", &m->inner);
    if (rc == MVA_OK)
        rc = r_size(r, "process/nmf/passes", &m->passes);
    const struct {
        const char *rel;
        int *v;
    } ints[] = {{"process/nmf/method", &m->method},
                {"process/nmf/init", &m->init},
                {"process/nmf/poisson", &m->poisson},
                {"process/nmf/converged", &m->converged}};
    for (size_t i = 0; rc == MVA_OK && i < sizeof ints / sizeof ints[0]; i++)
        rc = r_read(r, ints[i].rel, H5T_NATIVE_INT, 0, NULL, ints[i].v);
    const struct {
        const char *rel;
        double *v;
    } reals[] = {{"process/nmf/tol", &m->tol},
                 {"process/nmf/objective", &m->objective},
                 {"process/nmf/norm_x2", &m->norm_x2},
                 {"process/nmf/rel_error", &m->rel_error},
                 {"process/nmf/seconds", &m->seconds}};
    for (size_t i = 0; rc == MVA_OK && i < sizeof reals / sizeof reals[0]; i++)
        rc = r_read(r, reals[i].rel, H5T_NATIVE_DOUBLE, 0, NULL, reals[i].v);
    return rc;
}

static int read_nmf_arrays(rctx *r, mva_nmf_model *m)
{
    hsize_t p[1] = {m->p}, k[1] = {m->k}, kp[2] = {m->k, m->p}, img[2] = {m->rows, m->cols};
    hsize_t stack[3] = {m->k, m->rows, m->cols}, it[1] = {m->iterations};
    const hid_t f64 = H5T_NATIVE_DOUBLE;
    int rc = r_read(r, "abundances/data", f64, 3, stack, m->abundances);
    if (rc == MVA_OK)
        rc = r_read(r, "spectra/data", f64, 2, kp, m->spectra);
    if (rc == MVA_OK && m->energy != NULL)
        rc = r_read(r, "spectra/energy", f64, 1, p, m->energy);
    if (rc == MVA_OK)
        rc = r_read(r, "convergence/objective", f64, 1, it, m->history);
    if (rc == MVA_OK)
        rc = r_read(r, "share", f64, 1, k, m->share);
    if (rc == MVA_OK)
        rc = r_size(r, "n_valid_pixels", &m->n_valid);
    if (rc == MVA_OK)
        rc = r_read(r, "mask", H5T_NATIVE_UCHAR, 2, img, m->mask);
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
        rc = find_entry(&r, entry, "process/nmf", "NMF");
    if (rc == MVA_OK)
        rc = read_nmf_shape(&r, &m);
    if (rc == MVA_OK)
        rc = read_nmf_arrays(&r, m);
    if (rc == MVA_OK)
        *out = m;
    else
        mva_nmf_model_free(m);
    h5u_close(r.file);
    h5u_quiet_off(&q);
    return rc;
}
