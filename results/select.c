/*
 * Selections and files: images read from results files, masks read from HDF5, PNG or text,
 * and the spectra of a selection written as a new NXentry of a results file.
 */
#include <errno.h>
#include <stddef.h>
#include <hdf5.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "mva/hdf5.h"
#include "mva/select.h"
#include "numparse.h"

static int split_spec(const char *spec, char *path, size_t cap, long *index)
{
    const char *br = strchr(spec, '[');
    *index = -1;
    size_t len = br ? (size_t)(br - spec) : strlen(spec);
    if (len == 0 || len >= cap)
        return -1;
    memcpy(path, spec, len);
    path[len] = '\0';
    if (br) {
        char *end;
        *index = strtol(br + 1, &end, 10);
        if (end == br + 1 || *end != ']' || end[1] != '\0' || *index < 0)
            return -1;
    }
    return 0;
}

static int read_image_data(hid_t d, long index, const char *where, double **img, size_t *rows,
                           size_t *cols, mva_error *err)
{
    hid_t sp = H5Dget_space(d);
    hsize_t dims[3] = {0, 0, 0};
    int rank = H5Sget_simple_extent_ndims(sp), rc = MVA_OK;
    if (rank < 2 || rank > 3) {
        H5Sclose(sp);
        return mva_error_set(err, MVA_EFORMAT, "%s: expected an image (2-D) or a stack of "
                             "images (3-D), found %d-D", where, rank);
    }
    H5Sget_simple_extent_dims(sp, dims, NULL);
    hsize_t start[3] = {0, 0, 0}, count[3] = {dims[0], dims[1], dims[2]};
    if (rank == 3) {
        if (index < 0 || (hsize_t)index >= dims[0]) {
            H5Sclose(sp);
            return mva_error_set(err, MVA_EINVAL, "%s holds %llu images: give one of [0] to "
                                 "[%llu]", where, (unsigned long long)dims[0],
                                 (unsigned long long)dims[0] - 1);
        }
        start[0] = (hsize_t)index;
        count[0] = 1;
    }
    *rows = rank == 3 ? dims[1] : dims[0];
    *cols = rank == 3 ? dims[2] : dims[1];
    *img = malloc(*rows * *cols * sizeof **img);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
    if (*img == NULL)
        rc = mva_error_set(err, MVA_ENOMEM, "out of memory");
    else if (H5Dread(d, H5T_NATIVE_DOUBLE, ms, sp, H5P_DEFAULT, *img) < 0)
        rc = mva_error_set(err, MVA_EIO, "%s: read failed", where);
    H5Sclose(ms);
    H5Sclose(sp);
    if (rc != MVA_OK) {
        free(*img);
        *img = NULL;
    }
    return rc;
}

int mva_result_image_read(const char *results, const char *entry, const char *spec,
                          double **img, size_t *rows, size_t *cols, mva_error *err)
{
    char path[1024], ent[RES_ENTRY_MAX + 1], where[1600];
    long index;
    if (split_spec(spec, path, sizeof path, &index) != 0)
        return mva_error_set(err, MVA_EINVAL, "image '%s': expected DATASET or DATASET[INDEX] "
                             "inside the entry, e.g. eigenimages/data[1]", spec);
    h5u_quiet q;
    h5u_quiet_on(&q);
    hid_t f = H5Fopen(results, H5F_ACC_RDONLY, H5P_DEFAULT), d = -1;
    int rc = MVA_OK;
    if (f < 0)
        rc = mva_error_set(err, MVA_EIO, "%s: cannot open as HDF5", results);
    else {
        const char *holds = path;
        rc = res_find_entry(f, results, entry, &holds, 1, path, ent, err);
    }
    if (rc == MVA_OK) {
        snprintf(where, sizeof where, "%s: /%s/%s", results, ent, path);
        char full[1400];
        snprintf(full, sizeof full, "/%s/%s", ent, path);
        d = H5Oexists_by_name(f, full, H5P_DEFAULT) > 0 ? H5Dopen2(f, full, H5P_DEFAULT) : -1;
        if (d < 0)
            rc = mva_error_set(err, MVA_ENOTFOUND, "%s: no such dataset", where);
    }
    if (rc == MVA_OK)
        rc = read_image_data(d, index, where, img, rows, cols, err);
    if (d >= 0)
        H5Dclose(d);
    if (f >= 0)
        H5Fclose(f);
    h5u_quiet_off(&q);
    return rc;
}

/* A recorded reader option, into text; NULL when the entry has none. */
static const char *recorded(hid_t f, const char *ent, const char *key, char **text,
                            size_t *left)
{
    char path[1400];
    snprintf(path, sizeof path, "/%s/process/parameters/reader_%s", ent, key);
    if (*left < 2 || !h5u_exists(f, path) || h5u_dset_str_read(f, path, *text, *left) != 0)
        return NULL;
    const char *v = *text;
    size_t len = strlen(v) + 1;
    *text += len;
    *left -= len;
    return v;
}

static int bad_option(const char *results, const char *ent, const char *key, const char *v,
                      mva_error *err)
{
    return mva_error_set(err, MVA_EFORMAT, "%s: /%s/process/parameters/reader_%s: '%s' is "
                         "not a reader option mva wrote", results, ent, key, v);
}

/* The recorded reader options into the fields of o the caller left unset. */
static int read_reader_opts(hid_t f, const char *results, const char *ent, mva_open_opts *o,
                            char *text, size_t left, mva_error *err)
{
    const char *v;
    if (o->detector == NULL)
        o->detector = recorded(f, ent, "detector", &text, &left);
    if (o->norm == NULL)
        o->norm = recorded(f, ent, "norm", &text, &left);
    if (o->scan == NULL)
        o->scan = recorded(f, ent, "scan", &text, &left);
    if (o->snake == MVA_SNAKE_AUTO && (v = recorded(f, ent, "snake", &text, &left)) != NULL) {
        if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
            return bad_option(results, ent, "snake", v, err);
        o->snake = v[1] == 'n' ? MVA_SNAKE_ON : MVA_SNAKE_OFF;
    }
    if (o->channel_axis == MVA_STACK_AXIS_AUTO &&
        (v = recorded(f, ent, "channel_axis", &text, &left)) != NULL) {
        if (strcmp(v, "first") != 0 && strcmp(v, "last") != 0)
            return bad_option(results, ent, "channel_axis", v, err);
        o->channel_axis = v[0] == 'f' ? MVA_STACK_AXIS_FIRST : MVA_STACK_AXIS_LAST;
    }
    if (o->rows == 0 && o->cols == 0 && (v = recorded(f, ent, "shape", &text, &left)) != NULL) {
        char r[32], c[32];
        const char *x = strchr(v, 'x');
        if (x == NULL || (size_t)(x - v) >= sizeof r || strlen(x + 1) >= sizeof c)
            return bad_option(results, ent, "shape", v, err);
        memcpy(r, v, (size_t)(x - v));
        r[x - v] = '\0';
        memcpy(c, x + 1, strlen(x + 1) + 1);
        if (mva_parse_size(r, &o->rows) != 0 || mva_parse_size(c, &o->cols) != 0)
            return bad_option(results, ent, "shape", v, err);
    }
    if (!o->calib.known && (v = recorded(f, ent, "calib", &text, &left)) != NULL) {
        double abc[3];
        char part[3][40];
        const char *at = v;
        for (int k = 0; k < 3; k++) {
            const char *end = k < 2 ? strchr(at, ',') : at + strlen(at);
            if (end == NULL || (size_t)(end - at) >= sizeof part[k])
                return bad_option(results, ent, "calib", v, err);
            memcpy(part[k], at, (size_t)(end - at));
            part[k][end - at] = '\0';
            if (mva_parse_double(part[k], &abc[k]) != 0)
                return bad_option(results, ent, "calib", v, err);
            at = end + 1;
        }
        o->calib = (mva_calib){1, abc[0], abc[1], abc[2]};
    }
    return MVA_OK;
}

int mva_result_input(const char *results, const char *entry, char *input, size_t cap,
                     mva_error *err)
{
    return mva_result_input_opts(results, entry, input, cap, NULL, NULL, 0, err);
}

int mva_result_input_opts(const char *results, const char *entry, char *input, size_t cap,
                          mva_open_opts *opts, char *text, size_t text_cap, mva_error *err)
{
    char ent[RES_ENTRY_MAX + 1], file[4096], dset[1024] = "", fmt[32] = "", path[1400];
    h5u_quiet q;
    h5u_quiet_on(&q);
    hid_t f = H5Fopen(results, H5F_ACC_RDONLY, H5P_DEFAULT);
    int rc = MVA_OK;
    if (f < 0)
        rc = mva_error_set(err, MVA_EIO, "%s: cannot open as HDF5", results);
    else {
        const char *holds = "process/input_file";
        rc = res_find_entry(f, results, entry, &holds, 1, "record of its input", ent, err);
    }
    if (rc == MVA_OK) {
        snprintf(path, sizeof path, "/%s/process/input_file", ent);
        if (h5u_dset_str_read(f, path, file, sizeof file) != 0)
            rc = mva_error_set(err, MVA_ENOTFOUND, "%s: %s missing: give the stack with "
                               "--stack", results, path);
    }
    if (rc == MVA_OK) {
        snprintf(path, sizeof path, "/%s/process/input_dataset", ent);
        h5u_dset_str_read(f, path, dset, sizeof dset);
        snprintf(path, sizeof path, "/%s/process/input_format", ent);
        h5u_dset_str_read(f, path, fmt, sizeof fmt);
        /* The input as the user typed it wins: a recognised layout (several element
         * datasets, a BLISS scan) has no single dataset path to append. */
        snprintf(path, sizeof path, "/%s/process/parameters/reader_input", ent);
        char typed[4096] = "";
        if (h5u_exists(f, path))
            h5u_dset_str_read(f, path, typed, sizeof typed);
        if (typed[0])
            snprintf(input, cap, "%s", typed);
        else if (strcmp(fmt, "hdf5") == 0 && dset[0])
            snprintf(input, cap, "%s::%s", file, dset);
        else
            snprintf(input, cap, "%s", file);
    }
    if (rc == MVA_OK && opts != NULL)
        rc = read_reader_opts(f, results, ent, opts, text, text_cap, err);
    if (f >= 0)
        H5Fclose(f);
    h5u_quiet_off(&q);
    return rc;
}

/* ---- masks from files ---- */

static int mask_from_hdf5(const char *input, size_t rows, size_t cols, unsigned char *mask,
                          mva_error *err)
{
    char file[4096], path[1024];
    if (mva_hdf5_split_input(input, file, sizeof file, path, sizeof path) != MVA_OK ||
        path[0] == '\0')
        return mva_error_set(err, MVA_EINVAL, "%s: an HDF5 mask needs the dataset: "
                             "FILE.h5::/path/to/mask", input);
    h5u_quiet q;
    h5u_quiet_on(&q);
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 && H5Oexists_by_name(f, path, H5P_DEFAULT) > 0
                  ? H5Dopen2(f, path, H5P_DEFAULT) : -1;
    double *img = NULL;
    size_t r = 0, c = 0;
    char where[5200];
    snprintf(where, sizeof where, "%s: %s", file, path);
    int rc = d < 0 ? mva_error_set(err, MVA_ENOTFOUND, "%s: no such dataset", where)
                   : read_image_data(d, 0, where, &img, &r, &c, err);
    if (rc == MVA_OK && (r != rows || c != cols))
        rc = mva_error_set(err, MVA_EINVAL, "%s: mask is %zu x %zu, the map is %zu x %zu",
                           where, r, c, rows, cols);
    for (size_t i = 0; rc == MVA_OK && i < rows * cols; i++)
        mask[i] = img[i] != 0.0 && img[i] == img[i];
    free(img);
    if (d >= 0)
        H5Dclose(d);
    if (f >= 0)
        H5Fclose(f);
    h5u_quiet_off(&q);
    return rc;
}

static int mask_from_png(const char *path, size_t rows, size_t cols, unsigned char *mask,
                         mva_error *err)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path))
        return mva_error_set(err, MVA_EFORMAT, "%s: not a readable PNG: %s", path, im.message);
    if (im.width != cols || im.height != rows) {
        png_image_free(&im);
        return mva_error_set(err, MVA_EINVAL, "%s: mask is %u x %u pixels (width x height), "
                             "the map is %zu x %zu (cols x rows)", path, im.width, im.height,
                             cols, rows);
    }
    im.format = PNG_FORMAT_GRAY;
    if (!png_image_finish_read(&im, NULL, mask, (png_int_32)cols, NULL))
        return mva_error_set(err, MVA_EFORMAT, "%s: %s", path, im.message);
    for (size_t i = 0; i < rows * cols; i++)
        mask[i] = mask[i] != 0;
    return MVA_OK;
}

static int mask_from_text(const char *path, size_t rows, size_t cols, unsigned char *mask,
                          mva_error *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return mva_error_set(err, MVA_ENOTFOUND, "%s: cannot open: %s", path, strerror(errno));
    char tok[64];
    size_t k = 0, n = rows * cols;
    int rc = MVA_OK;
    while (rc == MVA_OK && fscanf(f, "%63s", tok) == 1) {
        double v;
        if (mva_parse_double(tok, &v) != 0)
            rc = mva_error_set(err, MVA_EFORMAT, "%s: value %zu ('%s') is not a number",
                               path, k + 1, tok);
        else if (k >= n)
            rc = mva_error_set(err, MVA_EFORMAT, "%s: more than rows x cols = %zu values",
                               path, n);
        else
            mask[k++] = v != 0.0;
    }
    fclose(f);
    if (rc == MVA_OK && k != n)
        rc = mva_error_set(err, MVA_EFORMAT, "%s: %zu values, expected rows x cols = %zu x %zu "
                           "= %zu", path, k, rows, cols, n);
    return rc;
}

int mva_select_mask_read(const char *path, size_t rows, size_t cols, unsigned char *mask,
                         mva_error *err)
{
    char file[4096], dpath[1024];
    if (mva_hdf5_split_input(path, file, sizeof file, dpath, sizeof dpath) == MVA_OK &&
        mva_hdf5_is_hdf5(file))
        return mask_from_hdf5(path, rows, cols, mask, err);
    unsigned char sig[8] = {0};
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return mva_error_set(err, MVA_ENOTFOUND, "%s: cannot open: %s", path, strerror(errno));
    size_t got = fread(sig, 1, sizeof sig, f);
    fclose(f);
    if (got == 8 && png_sig_cmp(sig, 0, 8) == 0)
        return mask_from_png(path, rows, cols, mask, err);
    return mask_from_text(path, rows, cols, mask, err);
}

/* ---- writing a selection (a part of mva_result_write) ----
 *
 *   /mva_select                 NXentry  @default="selected_vs_map"
 *     selected_vs_map           NXdata: the selection's average spectrum against the map's
 *     cumulative_spectrum, average_spectrum, max_spectrum, map_average_spectrum   NXdata
 *     mask                      NXdata: uint8 (rows, cols), 1 = selected
 *     n_selected, n_valid_pixels
 *     process                   NXprocess: program, version, date, the map read with the
 *                               input_* fields of a PCA entry (write.c), selection (the
 *                               tests, as the summary prints them), source (the results
 *                               entries of the images tested, "file::/entry[, ...]")
 */

static int selection_spectra(wctx *c, hid_t e, const mva_select_spectra_result *r,
                             const spec_axis *ax)
{
    static const struct {
        const char *name, *title;
        size_t field;
    } one[] = {
        {"cumulative_spectrum", "sum of the selected pixels",
         offsetof(mva_select_spectra_result, sum)},
        {"average_spectrum", "average of the selected pixels",
         offsetof(mva_select_spectra_result, avg)},
        {"max_spectrum", "maximum of the selected pixels",
         offsetof(mva_select_spectra_result, max)},
        {"map_average_spectrum", "average of every valid pixel",
         offsetof(mva_select_spectra_result, map_avg)},
    };
    const char *names[2] = {"data", "map_average"};
    const double *v[2] = {r->avg, r->map_avg};
    int rc = res_curves_nxdata(c, e, "selected_vs_map", "average spectrum: selected pixels vs map",
                               names, v, 2, 0, ax);
    for (size_t i = 0; rc == MVA_OK && i < sizeof one / sizeof one[0]; i++) {
        v[0] = *(const double *const *)((const char *)r + one[i].field);
        rc = res_curves_nxdata(c, e, one[i].name, one[i].title, names, v, 1, 0, ax);
    }
    return rc;
}

int res_write_selection(wctx *c, hid_t e, const mva_result_parts *s)
{
    const mva_select_output *o = s->selection;
    const mva_select_spectra_result *r = o->spectra;
    hsize_t dims[2] = {o->rows, o->cols};
    double *axis = NULL;
    spec_axis ax;
    const char *what[2] = {"selection", "source"}, *text[2] = {o->description, o->source};
    int rc = res_calib_axis(c, o->cal, r->p, &ax, &axis);
    if (rc == MVA_OK)
        rc = res_attr_str(c, e, ".", "default", MVA_RESULT_SELECTION);
    if (rc == MVA_OK)
        rc = selection_spectra(c, e, r, &ax);
    if (rc == MVA_OK)
        rc = res_plain_nxdata(c, e, "mask", "selected pixels (1)", H5T_STD_U8LE,
                              H5T_NATIVE_UCHAR, 2, dims, o->mask);
    if (rc == MVA_OK)
        rc = res_scalar_f64(c, e, "n_selected", (double)r->n_selected);
    if (rc == MVA_OK)
        rc = res_scalar_f64(c, e, "n_valid_pixels", (double)r->n_valid);
    if (rc == MVA_OK)
        rc = res_write_short_process(c, e, s, NULL, what, text, o->source ? 2 : 1);
    free(axis);
    return rc;
}
