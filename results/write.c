/*
 * Analysis results in NeXus HDF5: the writer, mva_result_write (one new NXentry per call from
 * the parts given, written through the commit helper, src/commit.h).  The pieces: check.c
 * (which parts go together, each complete), nexus.c (datasets, attributes, NXdata),
 * analyses.c (the PCA, ROI and NMF parts), select.c and cluster.c (the entries of a selection
 * and of a clustering, laid out at the top of each), expand.c (the reconstruction part),
 * unmix.c (rotations and ICA added to a PCA entry), schema.c (the fields of each model,
 * walked by writer and reader), read.c (the readers).
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
 *                            input_shape (rows, cols, channels), input_calibration (a, b, c),
 *                            input_axes (stored axis order); the reader stage when it acted:
 *                            input_layout, input_elements, input_normalisation (terms, the
 *                            factors' source paths, references, masked pixels), input_snake,
 *                            input_warnings; normalisation (NXdata: the factors of --norm
 *                            per pixel, their kind, source and reference; see norm.c)
 *                            @units=keV when the input has one.  The entries of a selection
 *                            and of a clustering record the map they read with the same
 *                            input_* fields (write_input; see select.c, cluster.c), or
 *                            when they read none, those of the entry they came from
 *       parameters           NXparameters: one string dataset per mva_param ('/' in a key
 *                            becomes '_', a repeated key gets _1, _2, ...)
 *       configuration        NXnote: type = "text/plain", data = "key = value" lines, in order
 *       pca                  NXcollection, the PCA model's scalars: rows, cols, channels, p,
 *                            k, bin, n_eigenvalues, passes, n_exact_pixels (pixels
 *                            whose covariance was summed in exact integer arithmetic),
 *                            oversample, seed (uint64),
 *                            poisson, uncentred, method (int32, @name), final_change,
 *                            converged (int32: exact, or randomized that reached its
 *                            tolerance), seconds (float64 @units=s),
 *                            auto_randomized_passes, auto_randomized_change (the passes
 *                            and change of auto's randomized run before it fell back to
 *                            exact; 0 when it did not)
 *   PCA (parts->pca):
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
 *     reconstruction         (parts->recon, mva-compress) NXcollection: relative_frobenius_error,
 *                            max_abs_error, reduced_chi2_mean, compression_ratio_values,
 *                            compression_ratio_bytes; chi2 NXdata (rows, cols) @title
 *   ROI (parts->roi), spectra over energy (keV, from the input calibration) or channel 0..p-1:
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
 *   NMF (parts->nmf; an entry of its own, default name mva_nmf, @default = abundances):
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

#include "commit.h"
#include "internal.h"
#include "mva/hdf5.h"
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
    int rc = text ? res_group_new(c, proc, "parameters", "NXparameters", &g)
                            : mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
    size_t at = 0;
    if (text)
        text[0] = '\0';
    for (size_t i = 0; rc == MVA_OK && i < n; i++) {
        const char *v = params[i].value ? params[i].value : "";
        at += (size_t)sprintf(text + at, "%s = %s\n", params[i].key, v);
        /* A repeated key (--roi given twice) keeps every value: roi, roi_1, ... */
        rc = res_unique_link(c, g, params[i].key, name, sizeof name);
        if (rc == MVA_OK)
            rc = res_dset_str(c, g, name, v);
    }
    if (rc == MVA_OK)
        rc = res_group_new(c, proc, "configuration", "NXnote", &note);
    if (rc == MVA_OK)
        rc = res_dset_str(c, note, "type", "text/plain");
    if (rc == MVA_OK)
        rc = res_dset_str(c, note, "data", text);
    h5u_close(note);
    h5u_close(g);
    free(text);
    return rc;
}

/* What the reader stage did (mva_stack_info): each text that is not empty. */
static int write_stage(wctx *c, hid_t g, const mva_stack_info *in)
{
    const struct {
        const char *name, *text;
    } rows[] = {{"input_axes", in->layout},
                {"input_layout", in->layout_name},
                {"input_elements", in->elements},
                {"input_normalisation", in->norm},
                {"input_snake", in->snake == MVA_SNAKE_ON ? "odd rows reversed" : ""},
                {"input_warnings", in->warnings}};
    int rc = MVA_OK;
    for (size_t k = 0; k < sizeof rows / sizeof rows[0] && rc == MVA_OK; k++)
        if (rows[k].text[0] != '\0')
            rc = res_dset_str(c, g, rows[k].name, rows[k].text);
    return rc;
}

/* The NXprocess group of every entry with what all of them record: program, version, date
 * and the command line when given. */
static int process_head(wctx *c, hid_t entry, const mva_result_parts *s, const char *now,
                        hid_t *g)
{
    int rc = res_group_new(c, entry, "process", "NXprocess", g);
    if (rc == MVA_OK)
        rc = res_dset_str(c, *g, "program", s->program ? s->program : "mva");
    if (rc == MVA_OK)
        rc = res_dset_str(c, *g, "version", mva_version());
    if (rc == MVA_OK)
        rc = res_dset_str(c, *g, "date", now);
    if (rc == MVA_OK && s->command_line != NULL)
        rc = res_dset_str(c, *g, "command_line", s->command_line);
    return rc;
}

/* The map read, in g (a process group): input_file, input_dataset, input_format,
 * input_dtype, input_shape, the reader stage (write_stage), the normalisation factors and
 * input_calibration when known.  Every entry made from a map records it (PCA, ROI, NMF,
 * selection, clustering). */
static int write_input(wctx *c, hid_t g, const mva_stack_info *in)
{
    size_t shape[3] = {in->rows, in->cols, in->channels};
    hsize_t three[1] = {3};
    int rc = res_dset_str(c, g, "input_file", in->source);
    if (rc == MVA_OK)
        rc = res_dset_str(c, g, "input_dataset", in->path);
    if (rc == MVA_OK)
        rc = res_dset_str(c, g, "input_format", in->format);
    if (rc == MVA_OK)
        rc = res_dset_str(c, g, "input_dtype", mva_dtype_name(in->dtype));
    if (rc == MVA_OK)
        rc = res_dset_sizes(c, g, "input_shape", 1, three, shape);
    if (rc == MVA_OK)
        rc = write_stage(c, g, in);
    if (rc == MVA_OK)
        rc = res_write_norm(c, g, in);
    if (rc == MVA_OK && in->calib.known) {
        double abc[3] = {in->calib.a, in->calib.b, in->calib.c};
        rc = res_dset_f64(c, g, "input_calibration", 1, three, abc);
        if (rc == MVA_OK)
            rc = res_attr_str(c, g, "input_calibration", "units", "keV");
        if (rc == MVA_OK)
            rc = res_attr_str(c, g, "input_calibration", "description",
                          "E = a + b * channel + c * channel^2");
    }
    return rc;
}

static int write_process(wctx *c, hid_t entry, const mva_result_parts *s, const char *now)
{
    hid_t g = -1;
    int rc = process_head(c, entry, s, now, &g);
    if (rc == MVA_OK)
        rc = write_input(c, g, s->input);
    if (rc == MVA_OK)
        rc = write_params(c, g, s->params, s->nparams);
    if (rc == MVA_OK && s->pca != NULL)
        rc = res_write_fields(c, g, &res_pca_schema, s->pca);
    if (rc == MVA_OK && s->nmf != NULL)
        rc = res_write_fields(c, g, &res_nmf_schema, s->nmf);
    h5u_close(g);
    return rc;
}

/* No map read: the input_* fields and the normalisation group of the process group of the
 * results entry from ("file::/entry", the entry the scores came from), copied into g.
 * *copied = 0 when that entry records no input_file. */
static int copy_input(wctx *c, hid_t g, const char *from, int *copied)
{
    char file[4096], entry[1024], path[1100], rec[1200], name[256];
    *copied = 0;
    if (mva_hdf5_split_input(from, file, sizeof file, entry, sizeof entry) != MVA_OK ||
        entry[0] == '\0')
        return MVA_OK;
    h5u_quiet q;
    h5u_quiet_on(&q);
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT), src = -1;
    snprintf(path, sizeof path, "%s/process", entry);
    snprintf(rec, sizeof rec, "%s/input_file", path);
    int rc = f < 0 ? mva_error_set(c->err, MVA_EIO, "%s: cannot open %s to copy the record of "
                                   "its map", c->path, file)
                   : MVA_OK;
    if (rc == MVA_OK && h5u_exists(f, path) && h5u_exists(f, rec)) {
        src = H5Gopen2(f, path, H5P_DEFAULT);
        H5G_info_t gi = {.nlinks = 0};
        if (src < 0 || H5Gget_info(src, &gi) < 0)
            rc = mva_error_set(c->err, MVA_EIO, "%s: cannot read %s::%s", c->path, file, path);
        for (hsize_t i = 0; rc == MVA_OK && i < gi.nlinks; i++) {
            ssize_t len = H5Lget_name_by_idx(src, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                             sizeof name, H5P_DEFAULT);
            if (len <= 0 || (size_t)len >= sizeof name ||
                (strncmp(name, "input_", 6) != 0 && strcmp(name, "normalisation") != 0))
                continue;
            if (H5Ocopy(src, name, g, name, H5P_DEFAULT, H5P_DEFAULT) < 0)
                rc = res_wfail(c, g, name, "copy the map's record into");
        }
        *copied = rc == MVA_OK;
    }
    h5u_close(src);
    h5u_close(f);
    h5u_quiet_off(&q);
    return rc;
}

/* The process group of a selection or a clustering: program, version, date, the command line
 * when given, the map read (write_input, as a PCA entry records it) or, when none was read,
 * the record of the map in the results entry from ("file::/entry", may be NULL) or else
 * input_file = input_name, the part's own strings (NULL = ""), and the parameters when
 * there are any. */
int res_write_short_process(wctx *c, hid_t entry, const mva_result_parts *s, const char *from,
                            const char *const *names, const char *const *values, size_t n)
{
    hid_t g = -1;
    char date[32];
    int copied = 0;
    iso_time(time(NULL), date, sizeof date);
    int rc = process_head(c, entry, s, date, &g);
    if (rc == MVA_OK && s->input != NULL) /* the map read, as a PCA entry records it */
        rc = write_input(c, g, s->input);
    else if (rc == MVA_OK && from != NULL)
        rc = copy_input(c, g, from, &copied);
    if (rc == MVA_OK && s->input == NULL && !copied) /* the name of the map, if any */
        rc = res_dset_str(c, g, "input_file", s->input_name ? s->input_name : "");
    for (size_t i = 0; rc == MVA_OK && i < n; i++)
        rc = res_dset_str(c, g, names[i], values[i] ? values[i] : "");
    if (rc == MVA_OK && s->nparams > 0) /* mva-cluster's reader options, to reopen the map */
        rc = write_params(c, g, s->params, s->nparams);
    h5u_close(g);
    return rc;
}

static const char *entry_default(const mva_result_parts *s)
{
    if (s->nmf != NULL)
        return "abundances";
    if (s->pca != NULL)
        return s->pca->k > 0 ? "eigenimages" : "scree";
    return s->roi->nroi > 0 ? "roi_raw" : "total_counts";
}

static int write_entry_info(wctx *c, hid_t e, const mva_result_parts *s, time_t now)
{
    char title[8192], t0[32], t1[32];
    const mva_stack_info *in = s->input;
    char what[64] = "";
    if (s->nmf != NULL)
        snprintf(what, sizeof what, "NMF (k = %zu, %s)", s->nmf->k,
                 mva_nmf_method_name(s->nmf->method));
    else if (s->pca != NULL)
        snprintf(what, sizeof what, "PCA (k = %zu)%s", s->pca->k, s->roi ? " and ROIs" : "");
    else
        snprintf(what, sizeof what, "ROI images");
    snprintf(title, sizeof title, "%s of %s%s%s", what, in->source, in->path[0] ? "::" : "",
             in->path);
    double secs = s->pca != NULL && s->pca->seconds > 0 ? s->pca->seconds : 0.0;
    if (s->nmf != NULL && s->nmf->seconds > 0)
        secs = s->nmf->seconds;
    iso_time(now - (time_t)(secs + 0.5), t0, sizeof t0);
    iso_time(now, t1, sizeof t1);
    int rc = res_dset_str(c, e, "title", title);
    if (rc == MVA_OK)
        rc = res_dset_str(c, e, "start_time", t0);
    if (rc == MVA_OK)
        rc = res_dset_str(c, e, "end_time", t1);
    if (rc == MVA_OK)
        rc = res_dset_str(c, e, "program_name", s->program ? s->program : "mva");
    if (rc == MVA_OK)
        rc = res_attr_str(c, e, "program_name", "version", mva_version());
    return rc;
}

/* An entry of the analyses (PCA and ROI, or NMF): full provenance and the models. */
static int write_analysis(wctx *c, hid_t e, const mva_result_parts *s, time_t now)
{
    char date[32];
    iso_time(now, date, sizeof date);
    /* One mask for the entry when PCA and ROI agree (same stack, same non-finite pixels). */
    int share = -1;
    if (s->pca != NULL && s->roi != NULL)
        share = s->pca->n_valid == s->roi->n_valid &&
                memcmp(s->pca->mask, s->roi->mask, s->roi->rows * s->roi->cols) == 0;
    int rc = res_attr_str(c, e, ".", "default", entry_default(s));
    if (rc == MVA_OK)
        rc = write_entry_info(c, e, s, now);
    if (rc == MVA_OK)
        rc = write_process(c, e, s, date);
    if (rc == MVA_OK && s->pca != NULL)
        rc = res_write_pca(c, e, s->pca);
    if (rc == MVA_OK && s->recon != NULL)
        rc = res_write_recon(c, e, s->recon, s->pca->rows, s->pca->cols);
    if (rc == MVA_OK && s->roi != NULL)
        rc = res_write_roi(c, e, s->roi, &s->input->calib, share);
    if (rc == MVA_OK && s->nmf != NULL)
        rc = res_write_nmf(c, e, s->nmf);
    return rc;
}

static int write_entry(wctx *c, const char *name, const mva_result_parts *s, time_t now)
{
    hid_t e = -1;
    int rc = res_group_new(c, c->file, name, "NXentry", &e);
    if (rc == MVA_OK)
        rc = s->selection ? res_write_selection(c, e, s)
             : s->cluster ? res_write_cluster(c, e, s)
                          : write_analysis(c, e, s, now);
    h5u_close(e);
    return rc;
}

/* The root's attributes.  A selection or a clustering sets only @default, as it always
 * has (their files stay as they were); an analysis stamps the NXroot attributes too. */
static int write_root(wctx *c, const char *entry, const char *path, int stamp, time_t now)
{
    hid_t root = H5Gopen2(c->file, "/", H5P_DEFAULT);
    char t[32], creator[64], hv[32];
    unsigned maj = 0, min = 0, rel = 0;
    if (root < 0)
        return res_wfail(c, c->file, "/", "open");
    iso_time(now, t, sizeof t);
    snprintf(creator, sizeof creator, "mva %s", mva_version());
    H5get_libversion(&maj, &min, &rel);
    snprintf(hv, sizeof hv, "%u.%u.%u", maj, min, rel);
    int rc = stamp ? res_attr_str_once(c, root, "NX_class", "NXroot") : MVA_OK;
    if (rc == MVA_OK && stamp)
        rc = res_attr_str_once(c, root, "creator", creator);
    if (rc == MVA_OK && stamp)
        rc = res_attr_str_once(c, root, "file_name", path);
    if (rc == MVA_OK && stamp)
        rc = res_attr_str_once(c, root, "file_time", t);
    if (rc == MVA_OK && stamp)
        rc = res_attr_str_once(c, root, "HDF5_Version", hv);
    if (rc == MVA_OK && stamp)
        rc = res_attr_str(c, root, ".", "file_update_time", t);
    if (rc == MVA_OK)
        rc = res_attr_str(c, root, ".", "default", entry);
    H5Gclose(root);
    return rc;
}

/* The entry name: the caller's or the part's default, made unique with _1, _2, ...  A name
 * the caller gave must be new for an analysis (results are never overwritten); a selection
 * or a clustering takes the next free one, as mva-select and mva-cluster always have. */
static int choose_entry(wctx *c, const mva_result_parts *s, char *name, size_t cap)
{
    const char *base = s->entry            ? s->entry
                       : s->selection != NULL ? "mva_select"
                       : s->cluster != NULL   ? "mva_cluster"
                       : s->nmf != NULL       ? "mva_nmf"
                       : s->pca != NULL       ? "mva_pca"
                                              : "mva_roi";
    int strict = s->entry != NULL && s->selection == NULL && s->cluster == NULL;
    for (unsigned u = 0; u < 1000000; u++) {
        if (u == 0)
            snprintf(name, cap, "%s", base);
        else
            snprintf(name, cap, "%s_%u", base, u);
        htri_t ex = H5Lexists(c->file, name, H5P_DEFAULT);
        if (ex < 0)
            return res_wfail(c, c->file, name, "look up");
        if (ex == 0)
            return MVA_OK;
        if (strict)
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
    if (in != NULL && in->source[0] != '\0' && stat(in->source, &ist) == 0 && ist.st_dev == st->st_dev &&
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
static int write_hdf5(wctx *c, const char *tmp, int existed, const mva_result_parts *s,
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
        rc = write_root(c, name, c->path, s->selection == NULL && s->cluster == NULL, now);
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

int mva_result_write(const char *path, const mva_result_parts *parts, char *entry_out,
                     size_t entry_cap, mva_error *err)
{
    int rc = res_check_parts(path, parts, err);
    if (rc != MVA_OK)
        return rc;
    h5u_quiet q;
    h5u_quiet_on(&q);
    wctx c = {-1, path, err, h5u_utf8_type(), 0};
    /* Selections and clusterings have always been written uncompressed: kept, so that their
     * files stay as they were. */
    c.gzip = parts->selection == NULL && parts->cluster == NULL &&
             H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0 && H5Zfilter_avail(H5Z_FILTER_SHUFFLE) > 0;
    char name[ENTRY_MAX + 16];
    struct stat st;
    int exists = 0;
    mva_commit cm = {0};
    if (c.str_t < 0) {
        rc = mva_error_set(err, MVA_EIO, "%s: cannot start writing", path);
        goto done;
    }
    rc = check_target(path, parts->input, &st, &exists, err);
    if (rc == MVA_OK)
        rc = mva_commit_begin(&cm, path, MVA_COMMIT_ADD, err);
    if (rc != MVA_OK)
        goto done;
    /* What the lock found decides, not the look before it: another writer may have made the
     * file in between. */
    rc = write_hdf5(&c, cm.tmp, cm.existed, parts, name, sizeof name);
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
