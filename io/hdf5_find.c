/*
 * Discovery for the HDF5 reader: which dataset is the stack (an explicit path, the NeXus
 * default plot, or the only 3-D numeric dataset) and its energy calibration.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdf5int.h"

#define NEXUS_DEPTH 8    /* @default chains longer than this are taken as a cycle */

/* ---- finding the dataset: NeXus defaults ---- */

typedef struct {
    char name[256];
    int found;
} nxdata_search;

static herr_t find_nxdata(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    nxdata_search *s = data;
    char cls[64];
    (void)info;
    hid_t c = H5Gopen2(g, name, H5P_DEFAULT);
    if (c < 0)
        return 0;
    int is_nxdata = h5_attr_str(c, "NX_class", 0, cls, sizeof cls, NULL) && strcmp(cls, "NXdata") == 0;
    H5Gclose(c);
    if (!is_nxdata)
        return 0;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->found = 1;
    return 1;
}

/* The first NXdata member of g, in creation order when the file tracks it, else by name. */
static int first_nxdata(hid_t g, char *name, size_t cap)
{
    nxdata_search s = {{0}, 0};
    if (H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, find_nxdata, &s) < 0 && !s.found)
        H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, find_nxdata, &s);
    if (s.found)
        snprintf(name, cap, "%s", s.name);
    return s.found;
}

/*
 * NeXus "default plot" rules (NeXus manual, "Find the plottable data"): a group's @default
 * names the member to follow (root -> NXentry -> NXdata), an NXdata's @signal names the
 * dataset.  An NXentry without @default falls back to its first NXdata.  Writes the
 * dataset path into out and returns 1 when the chain ends at a dataset.
 */
static int nexus_follow(hid_t file, const char *gpath, char *out, size_t cap, int depth)
{
    char name[256], child[PATH_CAP], cls[64];
    int found = 0;
    if (depth > NEXUS_DEPTH)
        return 0;
    hid_t g = H5Gopen2(file, gpath, H5P_DEFAULT);
    if (g < 0)
        return 0;
    if (h5_attr_str(g, "signal", 0, name, sizeof name, NULL)) {
        /* A @signal that names nothing usable is a broken chain (-1), not "no chain". */
        found = h5_join_path(out, cap, gpath, name) && h5_object_type(file, out) == H5I_DATASET
                    ? 1 : -1;
    } else if (h5_attr_str(g, "default", 0, name, sizeof name, NULL)) {
        found = h5_join_path(child, sizeof child, gpath, name)
                    ? nexus_follow(file, child, out, cap, depth + 1) : 0;
    } else if (h5_attr_str(g, "NX_class", 0, cls, sizeof cls, NULL) &&
               (strcmp(cls, "NXentry") == 0 || strcmp(cls, "NXsubentry") == 0) &&
               first_nxdata(g, name, sizeof name)) {
        found = h5_join_path(child, sizeof child, gpath, name)
                    ? nexus_follow(file, child, out, cap, depth + 1) : 0;
    }
    H5Gclose(g);
    return found;
}

/* Shape and class of a dataset without judging them; returns 0 when it cannot be opened. */
static int peek_dataset(hid_t file, const char *path, H5T_class_t *cls, int *rank, hsize_t *dims)
{
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0)
        return 0;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    *cls = H5Tget_class(t);
    *rank = H5Sget_simple_extent_ndims(s);
    if (*rank >= 1 && *rank <= H5S_MAX_RANK)
        H5Sget_simple_extent_dims(s, dims, NULL);
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    return 1;
}

/* ---- finding the dataset: the only 3-D numeric one ---- */

#define SEEN_MAX 512

typedef struct {
    size_t n;           /* 3-D numeric datasets */
    size_t n2;          /* 2-D numeric datasets of at least 64 columns (pixels, channels) */
    char first[PATH_CAP];
    char list[900];     /* "path (shape)" of each, ", "-separated, cut with "..." */
    unsigned char seen[SEEN_MAX][16];
    size_t nseen;
} candidates;

/* A key that is the same for every hard link to one object. */
static int object_key(hid_t root, const char *name, unsigned char key[16])
{
    memset(key, 0, 16);
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t oi;
    if (H5Oget_info_by_name3(root, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
        return 0;
    memcpy(key, &oi.token, sizeof oi.token < 16 ? sizeof oi.token : 16);
#else
    H5O_info_t oi;
    if (H5Oget_info_by_name2(root, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
        return 0;
    memcpy(key, &oi.addr, sizeof oi.addr < 16 ? sizeof oi.addr : 16);
#endif
    return 1;
}

/* 1 when the object was met already under another name (then it is skipped). */
static int seen_before(candidates *c, hid_t root, const char *name)
{
    unsigned char key[16];
    if (!object_key(root, name, key))
        return 0;
    for (size_t k = 0; k < c->nseen; k++)
        if (memcmp(c->seen[k], key, 16) == 0)
            return 1;
    if (c->nseen < SEEN_MAX)
        memcpy(c->seen[c->nseen++], key, 16);
    return 0;
}

static herr_t collect_candidates(hid_t root, const char *name, const H5L_info_t *info,
                                 void *data)
{
    candidates *c = data;
    H5T_class_t cls;
    int rank;
    hsize_t dims[H5S_MAX_RANK];
    /* Hard links only: soft and external links would list a dataset twice or open other
     * files; an object with several hard links is listed once. */
    if (info->type != H5L_TYPE_HARD || !peek_dataset(root, name, &cls, &rank, dims) ||
        (cls != H5T_INTEGER && cls != H5T_FLOAT) || !(rank == 3 || (rank == 2 && dims[1] >= 64)))
        return 0;
    if (seen_before(c, root, name))
        return 0;
    if (rank == 3 && c->n++ == 0)
        snprintf(c->first, sizeof c->first, "/%s", name);
    if (rank == 2)
        c->n2++;
    char shape[96];
    h5_fmt_dims(shape, sizeof shape, dims, rank);
    size_t used = strlen(c->list), room = sizeof c->list - used;
    if (room > 5 &&
        (size_t)snprintf(c->list + used, room, "%s/%s (%s)", used ? ", " : "", name, shape) >= room)
        snprintf(c->list + sizeof c->list - 5, 5, "...");
    return 0;
}

static int walk_for_3d(h5_reader *r, mva_error *err)
{
    candidates *c = calloc(1, sizeof *c);
    if (c == NULL)
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory", r->file_name);
    int rc = MVA_OK;
    if (H5Lvisit(r->file, H5_INDEX_NAME, H5_ITER_INC, collect_candidates, c) < 0) {
        char e[H5_MSG];
        rc = mva_error_set(err, MVA_EIO, "%s: cannot list the datasets in the file (%s)",
                           r->file_name, h5_error_text(e));
    } else if (c->n == 1) {
        snprintf(r->path, sizeof r->path, "%s", c->first);
    } else if (c->n == 0 && c->n2 == 0) {
        rc = mva_error_set(err, MVA_ENOTFOUND,
                           "%s: no 3-D numeric dataset found, no 2-D one of 64 or more "
                           "channels, and no NeXus @default/@signal leads to one; name the "
                           "dataset with %s::/path",
                           r->file_name, r->file_name);
    } else {
        rc = mva_error_set(err, MVA_EINVAL,
                           "%s: no recognised layout and %zu candidate datasets (%zu 3-D, %zu "
                           "2-D (pixels, channels)); name one with %s::/path: %s",
                           r->file_name, c->n + c->n2, c->n, c->n2, r->file_name, c->list);
    }
    free(c);
    return rc;
}

/* Sets r->path: the explicit path (a group there is followed the NeXus way), else the
 * NeXus default from the root, else the only 3-D numeric dataset. */
int h5_locate_dataset(h5_reader *r, const char *want, mva_error *err)
{
    if (want[0] == '\0') {
        int f = nexus_follow(r->file, "/", r->path, sizeof r->path, 0);
        r->nexus = f != 0;
        if (f > 0)
            return MVA_OK;
        if (f < 0)
            return mva_error_set(err, MVA_ENOTFOUND,
                                 "%s: the NeXus default plot (@default/@signal chain from the "
                                 "root) names %s, which is not a dataset in the file; name the "
                                 "stack with %s::/path",
                                 r->file_name, r->path, r->file_name);
        return walk_for_3d(r, err);
    }
    char abs[PATH_CAP];
    if (!h5_join_path(abs, sizeof abs, "/", want))
        return mva_error_set(err, MVA_ERANGE, "%s: dataset path too long: %s", r->file_name,
                             want);
    H5I_type_t t = h5_object_type(r->file, abs);
    if (t == H5I_DATASET) {
        snprintf(r->path, sizeof r->path, "%s", abs);
        return MVA_OK;
    }
    if (t == H5I_BADID)
        return mva_error_set(err, MVA_ENOTFOUND, "%s: no dataset %s (path from %s::%s)",
                             r->file_name, abs, r->file_name, want);
    if (t == H5I_GROUP && nexus_follow(r->file, abs, r->path, sizeof r->path, 0) > 0)
        return MVA_OK;
    return mva_error_set(err, MVA_EINVAL,
                         "%s: %s is a %s, not a dataset, and names no NeXus @signal "
                         "(path from %s::%s)",
                         r->file_name, abs, t == H5I_GROUP ? "group" : "named datatype",
                         r->file_name, want);
}

int h5_nexus_follow(hid_t file, const char *gpath, char *out, size_t cap)
{
    return nexus_follow(file, gpath, out, cap, 0);
}

/* ---- calibration ---- */

static int calib_set(mva_calib *cal, const double *v, size_t n, double scale)
{
    if (n < 2 || n > 3 || !isfinite(v[0]) || !isfinite(v[1]) || (n == 3 && !isfinite(v[2])))
        return 0;
    cal->a = v[0] * scale;
    cal->b = v[1] * scale;
    cal->c = n == 3 ? v[2] * scale : 0.0;
    cal->known = 1;
    return 1;
}

size_t h5_read_small(hid_t g, const char *name, double *v, size_t want)
{
    size_t got = 0;
    if (H5Lexists(g, name, H5P_DEFAULT) <= 0)
        return 0;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0)
        return 0;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    H5T_class_t cls = H5Tget_class(t);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    int ok = (cls == H5T_INTEGER || cls == H5T_FLOAT) && H5Sget_simple_extent_ndims(s) == 1 &&
             (want ? n == (hssize_t)want : (n >= 2 && n <= 3));
    if (ok && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0)
        got = (size_t)n;
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    return got;
}

/* Name of the NXdata @axes entry for axis ax of a rank-axis signal: an array of names, or
 * one string "y:x:energy" (older NeXus) split on ':' or ','. */
static int axis_name(hid_t g, int ax, int rank, char *name, size_t cap)
{
    char all[256];
    size_t n;
    if (!h5_attr_str(g, "axes", 0, all, sizeof all, &n))
        return 0;
    if (n == (size_t)rank)
        return h5_attr_str(g, "axes", (size_t)ax, name, cap, NULL) && strcmp(name, ".") != 0;
    if (n != 1)
        return 0;
    char *toks[3] = {NULL, NULL, NULL}, *save = NULL;
    int k = 0;
    for (char *t = strtok_r(all, ":,", &save); t != NULL; t = strtok_r(NULL, ":,", &save))
        if (k++ < 3)
            toks[k - 1] = t;
    if (k != rank || strcmp(toks[ax], ".") == 0)
        return 0;
    snprintf(name, cap, "%s", toks[ax]);
    return 1;
}

/* The units of an energy: 1 keV, 1e-3 eV, 0 anything else (none included). */
static double energy_scale(hid_t g, const char *name)
{
    char units[32] = "";
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0)
        return 0;
    h5_attr_str(d, "units", 0, units, sizeof units, NULL);
    H5Dclose(d);
    return strcmp(units, "keV") == 0 ? 1.0 : strcmp(units, "eV") == 0 ? 1e-3 : 0.0;
}

/* A 1-D energy axis of p values named by @axes: E = a + b ch from its first and last value
 * (linear), in keV (an axis in eV is divided by 1000).  An axis without energy @units, or
 * holding 0, 1, ..., p-1, is a channel index (PyMca writes one): no calibration. */
static int calib_from_axis(const h5_reader *r, hid_t g, mva_calib *cal)
{
    char name[256];
    int ax = r->chfirst ? 0 : r->rank - 1;
    if (!axis_name(g, ax, r->rank, name, sizeof name))
        return 0;
    double scale = energy_scale(g, name);
    double *v = malloc(r->p * sizeof *v);
    if (scale == 0 || v == NULL || h5_read_small(g, name, v, r->p) != r->p) {
        free(v);
        return 0;
    }
    int index = 1;
    for (size_t k = 0; k < r->p && index; k++)
        index = v[k] == (double)k;
    double e[2] = {v[0], r->p > 1 ? (v[r->p - 1] - v[0]) / (double)(r->p - 1) : 0.0};
    free(v);
    return !index && calib_set(cal, e, 2, scale);
}

int h5_energy_axis(const h5_reader *r)
{
    char gpath[PATH_CAP], name[256];
    h5_parent_path(r->path, gpath, sizeof gpath);
    hid_t g = H5Gopen2(r->file, gpath, H5P_DEFAULT);
    if (g < 0)
        return -1;
    int found = -1;
    const int axes[2] = {r->rank - 1, 0};
    for (int k = 0; k < 2 && found < 0; k++) {
        if (!axis_name(g, axes[k], r->rank, name, sizeof name) ||
            H5Lexists(g, name, H5P_DEFAULT) <= 0)
            continue;
        hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
        hid_t sp = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
        hsize_t len = 0;
        int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 &&
                 H5Sget_simple_extent_dims(sp, &len, NULL) == 1 && len == r->dims[axes[k]];
        if (sp >= 0)
            H5Sclose(sp);
        if (d >= 0)
            H5Dclose(d);
        if (ok && (energy_scale(g, name) != 0 || strcmp(name, "energy") == 0 ||
                   strcmp(name, "channels") == 0 || strcmp(name, "channel") == 0))
            found = axes[k];
    }
    H5Gclose(g);
    return found;
}

/* In order: @calibration (2 or 3 values a, b[, c]) on the dataset, then on its group; a
 * sibling dataset "calibration"; the NXdata energy axis.  Unknown when none applies. */
void h5_find_calibration(const h5_reader *r, hid_t d, mva_calib *cal)
{
    double v[3];
    size_t n;
    char gpath[PATH_CAP];
    memset(cal, 0, sizeof *cal);
    if ((n = h5_attr_nums(d, "calibration", v, 3)) && calib_set(cal, v, n, 1.0))
        return;
    h5_parent_path(r->path, gpath, sizeof gpath);
    hid_t g = H5Gopen2(r->file, gpath, H5P_DEFAULT);
    if (g < 0)
        return;
    if ((n = h5_attr_nums(g, "calibration", v, 3)) && calib_set(cal, v, n, 1.0))
        goto done;
    if ((n = h5_read_small(g, "calibration", v, 0)) && calib_set(cal, v, n, 1.0))
        goto done;
    calib_from_axis(r, g, cal);
done:
    H5Gclose(g);
}

