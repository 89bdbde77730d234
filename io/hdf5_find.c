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
        found = h5_join_path(out, cap, gpath, name) && h5_object_type(file, out) == H5I_DATASET;
    } else if (h5_attr_str(g, "default", 0, name, sizeof name, NULL)) {
        found = h5_join_path(child, sizeof child, gpath, name) &&
                nexus_follow(file, child, out, cap, depth + 1);
    } else if (h5_attr_str(g, "NX_class", 0, cls, sizeof cls, NULL) &&
               (strcmp(cls, "NXentry") == 0 || strcmp(cls, "NXsubentry") == 0) &&
               first_nxdata(g, name, sizeof name)) {
        found = h5_join_path(child, sizeof child, gpath, name) &&
                nexus_follow(file, child, out, cap, depth + 1);
    }
    H5Gclose(g);
    return found;
}

/* Shape and class of a dataset without judging them; returns 0 when it cannot be opened. */
static int peek_dataset(hid_t file, const char *path, H5T_class_t *cls, int *rank)
{
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0)
        return 0;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    *cls = H5Tget_class(t);
    *rank = H5Sget_simple_extent_ndims(s);
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    return 1;
}

/* A NeXus default is taken only when it looks like a stack: numeric and 3-D, or 2-D marked
 * as a list of spectra.  A default plot is often an image or a sum spectrum; then the walk
 * for the 3-D dataset decides instead. */
static int nexus_usable(hid_t file, const char *path)
{
    H5T_class_t cls;
    int rank;
    char interp[64];
    if (!peek_dataset(file, path, &cls, &rank) || (cls != H5T_INTEGER && cls != H5T_FLOAT))
        return 0;
    if (rank == 3)
        return 1;
    if (rank != 2)
        return 0;
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    int ok = h5_attr_str(d, "interpretation", 0, interp, sizeof interp, NULL) &&
             strcmp(interp, "spectrum") == 0;
    H5Dclose(d);
    return ok;
}

/* ---- finding the dataset: the only 3-D numeric one ---- */

typedef struct {
    size_t n;
    char first[PATH_CAP];
    char list[700];     /* ", "-separated paths for the message, cut with "..." */
} candidates;

static herr_t collect_3d(hid_t root, const char *name, const H5L_info_t *info, void *data)
{
    candidates *c = data;
    H5T_class_t cls;
    int rank;
    /* Hard links only: soft and external links would list a dataset twice or open other
     * files. */
    if (info->type != H5L_TYPE_HARD || !peek_dataset(root, name, &cls, &rank) || rank != 3 ||
        (cls != H5T_INTEGER && cls != H5T_FLOAT))
        return 0;
    if (c->n++ == 0)
        snprintf(c->first, sizeof c->first, "/%s", name);
    size_t used = strlen(c->list), room = sizeof c->list - used;
    if (room > 5 && (size_t)snprintf(c->list + used, room, "%s/%s", used ? ", " : "", name) >= room)
        snprintf(c->list + sizeof c->list - 5, 5, "...");
    return 0;
}

static int walk_for_3d(h5_reader *r, mva_error *err)
{
    candidates c;
    memset(&c, 0, sizeof c);
    if (H5Lvisit(r->file, H5_INDEX_NAME, H5_ITER_INC, collect_3d, &c) < 0) {
        char e[H5_MSG];
        return mva_error_set(err, MVA_EIO, "%s: cannot list the datasets in the file (%s)",
                             r->file_name, h5_error_text(e));
    }
    if (c.n == 1) {
        snprintf(r->path, sizeof r->path, "%s", c.first);
        return MVA_OK;
    }
    if (c.n == 0)
        return mva_error_set(err, MVA_ENOTFOUND,
                             "%s: no 3-D numeric dataset found and no NeXus @default/@signal "
                             "leads to one; name the dataset with %s::/path",
                             r->file_name, r->file_name);
    return mva_error_set(err, MVA_EINVAL,
                         "%s: %zu three-dimensional datasets, name one with %s::/path: %s",
                         r->file_name, c.n, r->file_name, c.list);
}

/* Sets r->path: the explicit path (a group there is followed the NeXus way), else the
 * NeXus default from the root, else the only 3-D numeric dataset. */
int h5_locate_dataset(h5_reader *r, const char *want, mva_error *err)
{
    if (want[0] == '\0') {
        if (nexus_follow(r->file, "/", r->path, sizeof r->path, 0) &&
            nexus_usable(r->file, r->path))
            return MVA_OK;
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
    if (t == H5I_GROUP && nexus_follow(r->file, abs, r->path, sizeof r->path, 0))
        return MVA_OK;
    return mva_error_set(err, MVA_EINVAL,
                         "%s: %s is a %s, not a dataset, and names no NeXus @signal "
                         "(path from %s::%s)",
                         r->file_name, abs, t == H5I_GROUP ? "group" : "named datatype",
                         r->file_name, want);
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

/* Reads a small 1-D numeric dataset of exactly want values (or 2..3 when want is 0). */
static size_t read_small(hid_t g, const char *name, double *v, size_t want)
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

/* A 1-D energy axis of p values named by @axes: E = a + b ch from its first and last value
 * (linear), in keV; an axis in eV is divided by 1000, other units are not energies. */
static int calib_from_axis(const h5_reader *r, hid_t g, mva_calib *cal)
{
    char name[256], units[32] = "";
    int ax = r->chfirst ? 0 : r->rank - 1;
    if (!axis_name(g, ax, r->rank, name, sizeof name))
        return 0;
    double *v = malloc(r->p * sizeof *v);
    if (v == NULL || read_small(g, name, v, r->p) != r->p) {
        free(v);
        return 0;
    }
    double e[2] = {v[0], r->p > 1 ? (v[r->p - 1] - v[0]) / (double)(r->p - 1) : 0.0};
    free(v);
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    h5_attr_str(d, "units", 0, units, sizeof units, NULL);
    H5Dclose(d);
    if (units[0] == '\0' || strcmp(units, "keV") == 0)
        return calib_set(cal, e, 2, 1.0);
    if (strcmp(units, "eV") == 0)
        return calib_set(cal, e, 2, 1e-3);
    return 0;
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
    if ((n = read_small(g, "calibration", v, 0)) && calib_set(cal, v, n, 1.0))
        goto done;
    calib_from_axis(r, g, cal);
done:
    H5Gclose(g);
}

