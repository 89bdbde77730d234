/* The descriptive part of a results entry (process group, spectrum axis), read directly with
 * HDF5; the arrays come through mva_result_read_pca / _roi / _nmf.  Layout: io/result.c. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "h5util.h"
#include "mva/result.h"
#include "internal.h"

/* A string dataset of the entry into buf; buf empty when it is missing or unreadable. */
static void dset_str(hid_t file, const char *entry, const char *rel, char *buf, size_t cap)
{
    char path[1024];
    snprintf(path, sizeof path, "/%s/%s", entry, rel);
    if (h5u_dset_str_read(file, path, buf, cap) != MVA_OK)
        buf[0] = '\0';
}

/* Reads a 1-D numeric dataset of at most cap elements as mtype; returns its length (0 when
 * missing or unreadable). */
static size_t dset_vec(hid_t file, const char *entry, const char *rel, hid_t mtype, void *out,
                       size_t cap)
{
    char path[1024];
    snprintf(path, sizeof path, "/%s/%s", entry, rel);
    if (!h5u_exists(file, path))
        return 0;
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT), sp = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t dims[1] = {0};
    size_t n = 0;
    if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 &&
        H5Sget_simple_extent_dims(sp, dims, NULL) == 1 && dims[0] <= cap &&
        H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0)
        n = (size_t)dims[0];
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    return n;
}

/* A numeric scalar dataset (rank 0, or one element) as a double; NaN when missing. */
static double dset_scalar(hid_t file, const char *entry, const char *rel)
{
    char path[1024];
    double v = NAN;
    snprintf(path, sizeof path, "/%s/%s", entry, rel);
    if (!h5u_exists(file, path))
        return NAN;
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT), sp = d >= 0 ? H5Dget_space(d) : -1;
    if (sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1 &&
        H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0)
        v = NAN;
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    return v;
}

/* The parameters from process/configuration's "key = value" lines, which keep the order
 * and repeated keys that process/parameters (one dataset per key) cannot. */
static int read_params(hid_t file, rpt_info *in, mva_error *err)
{
    size_t cap = 1 << 16;
    char *text = malloc(cap);
    if (text == NULL)
        return mva_error_set(err, MVA_ENOMEM, "report: out of memory");
    dset_str(file, in->entry, "process/configuration/data", text, cap);
    size_t n = 0;
    for (const char *c = text; *c; c++)
        n += *c == '\n';
    in->params = calloc(n + 1, sizeof *in->params);
    if (in->params == NULL) {
        free(text);
        return mva_error_set(err, MVA_ENOMEM, "report: out of memory");
    }
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        char *eq = strstr(line, " = ");
        if (eq == NULL)
            continue;
        *eq = '\0';
        rpt_param *p = &in->params[in->nparams++];
        snprintf(p->key, sizeof p->key, "%s", line);
        snprintf(p->value, sizeof p->value, "%s", eq + 3);
    }
    free(text);
    return MVA_OK;
}

static int holds(hid_t file, const char *entry, const char *marker)
{
    char path[1024];
    snprintf(path, sizeof path, "/%s/%s", entry, marker);
    return h5u_exists(file, path);
}


static void read_process(hid_t file, rpt_info *in)
{
    dset_str(file, in->entry, "process/program", in->program, sizeof in->program);
    dset_str(file, in->entry, "process/version", in->version, sizeof in->version);
    dset_str(file, in->entry, "process/date", in->date, sizeof in->date);
    dset_str(file, in->entry, "process/command_line", in->command_line,
             sizeof in->command_line);
    dset_str(file, in->entry, "process/input_file", in->input_file, sizeof in->input_file);
    dset_str(file, in->entry, "process/input_dataset", in->input_dataset,
             sizeof in->input_dataset);
    dset_str(file, in->entry, "process/input_format", in->input_format,
             sizeof in->input_format);
    dset_str(file, in->entry, "process/input_dtype", in->input_dtype, sizeof in->input_dtype);
    uint64_t shape[3] = {0, 0, 0};
    if (dset_vec(file, in->entry, "process/input_shape", H5T_NATIVE_UINT64, shape, 3) == 3)
        for (int i = 0; i < 3; i++)
            in->shape[i] = (size_t)shape[i];
    in->has_calib =
        dset_vec(file, in->entry, "process/input_calibration", H5T_NATIVE_DOUBLE, in->calib, 3) ==
        3;
}

/* The axis of the ROI spectra: energy when the input was calibrated, else channels. */
static int read_roi_axis(hid_t file, rpt_info *in, mva_error *err)
{
    char path[1024];
    snprintf(path, sizeof path, "/%s/average_spectrum/energy", in->entry);
    if (!h5u_exists(file, path))
        return MVA_OK;
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT), sp = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t n = 0;
    int rc = MVA_OK;
    if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1)
        H5Sget_simple_extent_dims(sp, &n, NULL);
    if (n > 0) {
        in->roi_axis = malloc((size_t)n * sizeof(double));
        if (in->roi_axis == NULL)
            rc = mva_error_set(err, MVA_ENOMEM, "report: out of memory");
        else if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, in->roi_axis) >= 0) {
            in->roi_axis_n = (size_t)n;
            in->roi_axis_kev = 1;
        } else {
            free(in->roi_axis);
            in->roi_axis = NULL;
        }
    }
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    return rc;
}

int rpt_info_read(const char *path, const char *entry, rpt_info *in, mva_error *err)
{
    memset(in, 0, sizeof *in);
    if (access(path, R_OK) != 0)
        return mva_error_set(err, errno == ENOENT ? MVA_ENOTFOUND : MVA_EIO, "%s: %s", path,
                             strerror(errno));
    /* Silence HDF5's printing of its error stack, as io/result.c does: the library never
     * prints, the message goes into err. */
    H5E_auto2_t fn = NULL;
    void *data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = MVA_OK;
    hid_t file = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    if (file < 0) {
        rc = mva_error_set(err, MVA_EFORMAT, "%s: not an HDF5 file that can be read", path);
        goto done;
    }
    /* The caller's entry, else the root's @default, else the first entry by name holding a
     * result of any kind: the one rule of every reader of results. */
    rc = mva_result_find_entry(path, entry, NULL, in->entry, sizeof in->entry, err);
    if (rc != MVA_OK)
        goto done;
    in->has_pca = holds(file, in->entry, MVA_RESULT_PCA);
    in->has_roi = holds(file, in->entry, MVA_RESULT_ROI);
    in->has_nmf = holds(file, in->entry, MVA_RESULT_NMF);
    in->has_select =
        !in->has_pca && !in->has_roi && !in->has_nmf && holds(file, in->entry, MVA_RESULT_SELECTION) && holds(file, in->entry, "mask");
    in->has_cluster = !in->has_pca && !in->has_roi && !in->has_nmf &&
                      holds(file, in->entry, MVA_RESULT_CLUSTER);
    read_process(file, in);
    if (in->has_select)
        dset_str(file, in->entry, "process/selection", in->selection, sizeof in->selection);
    rc = read_params(file, in, err);
    if (rc == MVA_OK && in->has_roi)
        rc = read_roi_axis(file, in, err);
done:
    if (file >= 0)
        H5Fclose(file);
    H5Eset_auto2(H5E_DEFAULT, fn, data);
    return rc;
}

/* ---- a selection entry ---- */

/* Reads dataset rel of the entry as doubles into a new array; its rank and dimensions must
 * be rank and (when want[i] > 0) want[i].  dims receives them. */
static int read_doubles(hid_t file, const char *results, const char *entry, const char *rel,
                        int rank, const size_t *want, hid_t mtype, void **out, size_t *dims,
                        mva_error *err)
{
    char path[1024];
    snprintf(path, sizeof path, "/%s/%s", entry, rel);
    if (!h5u_exists(file, path))
        return mva_error_set(err, MVA_EFORMAT, "%s: %s missing", results, path);
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT), sp = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t h[2] = {0, 0};
    size_t n = 1;
    int rc = MVA_OK;
    if (sp < 0 || H5Sget_simple_extent_ndims(sp) != rank ||
        H5Sget_simple_extent_dims(sp, h, NULL) != rank)
        rc = mva_error_set(err, MVA_EFORMAT, "%s: %s: expected %d-D", results, path, rank);
    for (int i = 0; rc == MVA_OK && i < rank; i++) {
        dims[i] = (size_t)h[i];
        if (h[i] == 0 || (want[i] > 0 && dims[i] != want[i]) ||
            mva_size_mul(n, dims[i], &n) != MVA_OK)
            rc = mva_error_set(err, MVA_EFORMAT, "%s: %s: dimension %d is %zu, expected %zu",
                               results, path, i, dims[i], want[i]);
    }
    size_t bytes = H5Tget_size(mtype);
    if (rc == MVA_OK && (*out = malloc(n * bytes)) == NULL)
        rc = mva_error_set(err, MVA_ENOMEM, "report: out of memory");
    if (rc == MVA_OK && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0)
        rc = mva_error_set(err, MVA_EIO, "%s: %s: read failed", results, path);
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    return rc;
}

static int read_selection(hid_t file, const char *results, const char *entry,
                          rpt_selection *sel, mva_error *err)
{
    size_t dims[2], any[2] = {0, 0}, p[1];
    char axis[64] = "selected_vs_map/energy";
    char path[1024];
    snprintf(path, sizeof path, "/%s/%s", entry, axis);
    sel->axis_kev = h5u_exists(file, path);
    if (!sel->axis_kev)
        snprintf(axis, sizeof axis, "selected_vs_map/channel");
    int rc = read_doubles(file, results, entry, "selected_vs_map/data", 1, any,
                          H5T_NATIVE_DOUBLE, (void **)&sel->avg, dims, err);
    p[0] = sel->p = dims[0];
    if (rc == MVA_OK)
        rc = read_doubles(file, results, entry, "selected_vs_map/map_average", 1, p,
                          H5T_NATIVE_DOUBLE, (void **)&sel->map_avg, dims, err);
    if (rc == MVA_OK)
        rc = read_doubles(file, results, entry, axis, 1, p, H5T_NATIVE_DOUBLE,
                          (void **)&sel->axis, dims, err);
    if (rc == MVA_OK)
        rc = read_doubles(file, results, entry, "cumulative_spectrum/data", 1, p,
                          H5T_NATIVE_DOUBLE, (void **)&sel->sum, dims, err);
    if (rc == MVA_OK)
        rc = read_doubles(file, results, entry, "mask/data", 2, any, H5T_NATIVE_UCHAR,
                          (void **)&sel->mask, dims, err);
    if (rc == MVA_OK) {
        sel->rows = dims[0];
        sel->cols = dims[1];
        sel->n_selected = dset_scalar(file, entry, "n_selected");
        sel->n_valid = dset_scalar(file, entry, "n_valid_pixels");
    }
    return rc;
}

int rpt_selection_read(const char *path, const rpt_info *info, rpt_selection *sel,
                       mva_error *err)
{
    memset(sel, 0, sizeof *sel);
    H5E_auto2_t fn = NULL;
    void *data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int rc = file < 0 ? mva_error_set(err, MVA_EIO, "%s: cannot open", path)
                      : read_selection(file, path, info->entry, sel, err);
    if (file >= 0)
        H5Fclose(file);
    H5Eset_auto2(H5E_DEFAULT, fn, data);
    if (rc != MVA_OK)
        rpt_selection_free(sel);
    return rc;
}

void rpt_selection_free(rpt_selection *sel)
{
    free(sel->axis);
    free(sel->avg);
    free(sel->map_avg);
    free(sel->sum);
    free(sel->mask);
    memset(sel, 0, sizeof *sel);
}

void rpt_info_free(rpt_info *in)
{
    free(in->params);
    free(in->roi_axis);
    in->params = NULL;
    in->roi_axis = NULL;
}
