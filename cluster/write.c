/*
 * The phase-map results: a clustering as an NXentry of its own, and the rotated or
 * independent components added to a PCA entry (layout in mva/rotate.h).
 *
 * A clustering as an NXentry of a results file (layout in mva/cluster.h):
 *
 *   /mva_cluster                NXentry  @default="labels"
 *     labels                    NXdata: data int32 (rows, cols), -1 = no label
 *     distance                  NXdata: data float64 (rows, cols), to the own centroid
 *     clusters_vs_map           NXdata: cluster_0 .. cluster_{c-1} (average spectra, the
 *                               first as @signal, the rest @auxiliary_signals), map_average
 *     cumulative_spectra, average_spectra, max_spectra
 *                               NXdata: data float64 (c, p), @axes [".", "energy"]
 *     map_average_spectrum      NXdata: data float64 (p)
 *     silhouette                NXdata (-c auto): data (candidates) over clusters (int64)
 *     cluster_sizes int64 (c), centroids float64 (c, dim), inertia, iterations, converged,
 *     restarts, seed, n_labelled, n_valid_pixels
 *     process                   NXprocess: program, version, date, command_line, input_file,
 *                               source, scores, clusters_rule
 *
 * The spectra axis is "energy" (keV) when the stack is calibrated, else "channel".
 */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "h5util.h"
#include "commit.h"
#include "mva/cluster.h"
#include "mva/hdf5.h"
#include "mva/rotate.h"

/* NXdata with one signal "data" over the given axes (rank 1 or 2), float64. */
static int nxdata_doubles(hid_t e, const char *name, const char *title, int rank,
                          const hsize_t *dims, const double *v, const char *axis_name,
                          const double *axis)
{
    const char *axes[3] = {".", ".", "."};
    if (axis)
        axes[rank - 1] = axis_name;
    hid_t g = h5u_group(e, name, "NXdata");
    int bad = g < 0 || h5u_str_attr(g, "signal", "data") ||
              h5u_str_array_attr(g, "axes", axes, (hsize_t)rank) ||
              h5u_doubles(g, "data", rank, dims, v) || h5u_string(g, "title", title);
    if (!bad && axis)
        bad = h5u_doubles(g, axis_name, 1, &dims[rank - 1], axis);
    if (g >= 0)
        H5Gclose(g);
    return bad ? -1 : 0;
}

static int labels_nxdata(hid_t e, const mva_cluster_output *o)
{
    hsize_t dims[2] = {o->rows, o->cols};
    const char *axes[2] = {".", "."};
    hid_t g = h5u_group(e, "labels", "NXdata");
    int bad = g < 0 || h5u_str_attr(g, "signal", "data") ||
              h5u_str_array_attr(g, "axes", axes, 2) ||
              h5u_int32s(g, "data", 2, dims, o->km->labels) ||
              h5u_string(g, "title", "cluster of each pixel (-1: no label)");
    if (g >= 0)
        H5Gclose(g);
    return bad ? -1 : 0;
}

/* Every cluster's average spectrum and the map's, as curves silx draws together. */
static int overlay_nxdata(hid_t e, const mva_label_spectra *s, const char *axis_name,
                          const double *axis)
{
    size_t c = s->nclass;
    hsize_t p = s->p;
    char (*names)[32] = malloc((c + 1) * sizeof *names);
    const char **aux = malloc((c + 1) * sizeof *aux), *axes[1] = {axis_name};
    hid_t g = names && aux ? h5u_group(e, "clusters_vs_map", "NXdata") : -1;
    int bad = g < 0;
    for (size_t k = 0; k <= c && !bad; k++) {
        if (k < c)
            snprintf(names[k], sizeof names[k], "cluster_%zu", k);
        else
            snprintf(names[k], sizeof names[k], "map_average");
        aux[k] = names[k];
        bad = h5u_doubles(g, names[k], 1, &p, k < c ? s->avg + k * s->p : s->map_avg);
    }
    if (!bad)
        bad = h5u_str_attr(g, "signal", names[0]) ||
              h5u_str_array_attr(g, "auxiliary_signals", aux + 1, c) ||
              h5u_str_array_attr(g, "axes", axes, 1) || h5u_doubles(g, axis_name, 1, &p, axis) ||
              h5u_string(g, "title", "average spectrum of each cluster and of the map");
    if (g >= 0)
        H5Gclose(g);
    free(names);
    free(aux);
    return bad ? -1 : 0;
}

static int spectra_groups(hid_t e, const mva_label_spectra *s, const mva_calib *cal)
{
    double *axis = malloc(s->p * sizeof *axis);
    const char *axis_name = cal && cal->known ? "energy" : "channel";
    if (axis == NULL)
        return -1;
    for (size_t j = 0; j < s->p; j++)
        axis[j] = cal && cal->known ? mva_calib_energy(cal, (double)j) : (double)j;
    hsize_t dims[2] = {s->nclass, s->p};
    double nv = (double)s->n_valid;
    int bad = overlay_nxdata(e, s, axis_name, axis) ||
              nxdata_doubles(e, "cumulative_spectra", "sum spectrum of each cluster", 2, dims,
                             s->sum, axis_name, axis) ||
              nxdata_doubles(e, "average_spectra", "average spectrum of each cluster", 2, dims,
                             s->avg, axis_name, axis) ||
              nxdata_doubles(e, "max_spectra", "per-channel maximum of each cluster", 2, dims,
                             s->max, axis_name, axis) ||
              nxdata_doubles(e, "map_average_spectrum", "average of every valid pixel", 1,
                             &dims[1], s->map_avg, axis_name, axis) ||
              h5u_doubles(e, "n_valid_pixels", 0, NULL, &nv);
    free(axis);
    return bad ? -1 : 0;
}

static int silhouette_nxdata(hid_t e, const mva_cluster_output *o)
{
    size_t m = o->c_max - o->c_min + 1;
    double *c = malloc(m * sizeof *c);
    if (c == NULL)
        return -1;
    for (size_t i = 0; i < m; i++)
        c[i] = (double)(o->c_min + i);
    hsize_t dim = m;
    const char *axes[1] = {"clusters"};
    hid_t g = h5u_group(e, "silhouette", "NXdata");
    int bad = g < 0 || h5u_str_attr(g, "signal", "data") ||
              h5u_str_array_attr(g, "axes", axes, 1) ||
              h5u_doubles(g, "data", 1, &dim, o->silhouette) ||
              h5u_doubles(g, "clusters", 1, &dim, c) ||
              h5u_string(g, "title", "mean silhouette of the sampled pixels, per cluster count");
    if (g >= 0)
        H5Gclose(g);
    free(c);
    return bad ? -1 : 0;
}

static int fit_datasets(hid_t e, const mva_kmeans_result *km)
{
    int64_t *sizes = malloc(km->clusters * sizeof *sizes);
    if (sizes == NULL)
        return -1;
    for (size_t k = 0; k < km->clusters; k++)
        sizes[k] = (int64_t)km->sizes[k];
    hsize_t c = km->clusters, dims[2] = {km->clusters, km->dim};
    int64_t it = (int64_t)km->iterations, conv = km->converged, rs = (int64_t)km->restarts;
    int64_t seed = (int64_t)km->seed, nl = (int64_t)km->n_labelled;
    int bad = h5u_int64s(e, "cluster_sizes", 1, &c, sizes) ||
              h5u_doubles(e, "centroids", 2, dims, km->centroids) ||
              h5u_doubles(e, "inertia", 0, NULL, &km->inertia) ||
              h5u_int64s(e, "iterations", 0, NULL, &it) ||
              h5u_int64s(e, "converged", 0, NULL, &conv) ||
              h5u_int64s(e, "restarts", 0, NULL, &rs) || h5u_int64s(e, "seed", 0, NULL, &seed) ||
              h5u_int64s(e, "n_labelled", 0, NULL, &nl);
    free(sizes);
    return bad ? -1 : 0;
}

static int process_group(hid_t e, const mva_cluster_output *o)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    hid_t g = h5u_group(e, "process", "NXprocess");
#define S(x) ((x) ? (x) : "")
    int bad = g < 0 || h5u_string(g, "program", "mva-cluster") ||
              h5u_string(g, "version", mva_version()) || h5u_string(g, "date", date) ||
              h5u_string(g, "command_line", S(o->command_line)) ||
              h5u_string(g, "input_file", S(o->input)) || h5u_string(g, "source", S(o->source)) ||
              h5u_string(g, "scores", S(o->scores)) ||
              h5u_string(g, "clusters_rule", S(o->rule));
#undef S
    if (g >= 0)
        H5Gclose(g);
    return bad ? -1 : 0;
}

static int write_entry(hid_t f, const char *name, const mva_cluster_output *o)
{
    hsize_t dims[2] = {o->rows, o->cols};
    hid_t e = h5u_group(f, name, "NXentry");
    int bad = e < 0 || h5u_str_attr(e, "default", "labels") || labels_nxdata(e, o) ||
              nxdata_doubles(e, "distance", "distance of each pixel to its cluster's centroid",
                             2, dims, o->km->distance, NULL, NULL) ||
              fit_datasets(e, o->km) || process_group(e, o) ||
              (o->spectra && spectra_groups(e, o->spectra, o->cal)) ||
              (o->silhouette && silhouette_nxdata(e, o));
    if (e >= 0)
        H5Gclose(e);
    return bad ? -1 : 0;
}

static void unique_name(hid_t f, const char *base, char *out, size_t cap)
{
    snprintf(out, cap, "%s", base);
    for (int i = 1; H5Lexists(f, out, H5P_DEFAULT) > 0 && i < 100000; i++)
        snprintf(out, cap, "%s_%d", base, i);
}

/* An open file being added to: the commit, the HDF5 handle of its temporary, and HDF5's
 * error printer (silenced: the library never prints). */
typedef struct {
    mva_commit cm;
    hid_t f;
    H5E_auto2_t efn;
    void *edata;
    int quiet; /* efn, edata saved, to be restored */
} adding;

static int add_begin(adding *a, const char *path, int create, mva_error *err)
{
    a->f = -1;
    if (access(path, F_OK) == 0 && !mva_hdf5_is_hdf5(path))
        return mva_error_set(err, MVA_EINVAL, "%s exists and is not an HDF5 file: not "
                             "overwritten", path);
    int rc = mva_commit_begin(&a->cm, path, MVA_COMMIT_ADD, err);
    if (rc != MVA_OK)
        return rc;
    H5Eget_auto2(H5E_DEFAULT, &a->efn, &a->edata);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    a->quiet = 1;
    if (a->cm.existed)
        a->f = H5Fopen(a->cm.tmp, H5F_ACC_RDWR, H5P_DEFAULT);
    else if (create)
        a->f = H5Fcreate(a->cm.tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    else
        return mva_error_set(err, MVA_ENOTFOUND, "%s: no such results file", path);
    if (a->f < 0)
        return mva_error_set(err, MVA_EIO, "%s: cannot write (temporary %s)", path, a->cm.tmp);
    return MVA_OK;
}

/* Closes, then renames into place when rc is MVA_OK; returns the final status. */
static int add_end(adding *a, const char *path, int rc, mva_error *err)
{
    if (a->f >= 0 && H5Fclose(a->f) < 0 && rc == MVA_OK)
        rc = mva_error_set(err, MVA_EIO, "%s: closing failed", path);
    if (a->quiet)
        H5Eset_auto2(H5E_DEFAULT, a->efn, a->edata);
    if (rc == MVA_OK)
        rc = mva_commit_finish(&a->cm, err);
    mva_commit_abort(&a->cm);
    return rc;
}

int mva_cluster_write(const char *path, const mva_cluster_output *o, char *entry_out,
                      size_t entry_cap, mva_error *err)
{
    if (o->km == NULL || o->rows * o->cols != o->km->n ||
        (o->spectra && o->spectra->nclass != o->km->clusters))
        return mva_error_set(err, MVA_EINVAL, "%s: the clustering does not match the map "
                             "shape or its spectra", path);
    char ent[256];
    adding a = {0};
    int rc = add_begin(&a, path, 1, err);
    if (rc == MVA_OK) {
        hid_t f = a.f;
        unique_name(f, o->entry ? o->entry : "mva_cluster", ent, sizeof ent);
        if (write_entry(f, ent, o) != 0)
            rc = mva_error_set(err, MVA_EIO, "%s: writing /%s failed", path, ent);
        if (rc == MVA_OK && H5Aexists(f, "default") > 0)
            H5Adelete(f, "default");
        if (rc == MVA_OK && h5u_str_attr(f, "default", ent) != 0)
            rc = mva_error_set(err, MVA_EIO, "%s: cannot set @default", path);
    }
    rc = add_end(&a, path, rc, err);
    if (rc == MVA_OK && entry_out)
        snprintf(entry_out, entry_cap, "%s", ent);
    return rc;
}

/* ---- rotated and independent components, beside a PCA's ---- */

/* k spectra (k x p) over the model's energy (or channel) axis, and k images. */
static int component_pair(hid_t e, const mva_pca_model *m, const char *spectra_name,
                          const char *images_name, const char *what, const double *spectra,
                          const double *images)
{
    double *axis = malloc(m->p * sizeof *axis);
    if (axis == NULL)
        return -1;
    for (size_t j = 0; j < m->p; j++)
        axis[j] = m->var_energy ? m->var_energy[j] : (double)m->var_ch0[j];
    char t1[128], t2[128];
    snprintf(t1, sizeof t1, "%s spectra", what);
    snprintf(t2, sizeof t2, "%s images", what);
    hsize_t ds[2] = {m->k, m->p}, di[3] = {m->k, m->rows, m->cols};
    int bad = nxdata_doubles(e, spectra_name, t1, 2, ds, spectra,
                             m->var_energy ? "energy" : "channel", axis) ||
              nxdata_doubles(e, images_name, t2, 3, di, images, NULL, NULL);
    free(axis);
    return bad ? -1 : 0;
}

static int rotation_group(hid_t e, const mva_pca_model *m, const mva_rotation *r,
                          const char *method)
{
    hsize_t kk[2] = {r->k, r->k};
    int64_t it = (int64_t)r->iterations, conv = r->converged;
    hid_t g = h5u_group(e, "rotation", "NXcollection");
    int bad = g < 0 || h5u_doubles(g, "matrix", 2, kk, r->rotation) ||
              h5u_string(g, "method", method) || h5u_doubles(g, "gamma", 0, NULL, &r->gamma) ||
              h5u_int64s(g, "iterations", 0, NULL, &it) ||
              h5u_int64s(g, "converged", 0, NULL, &conv) ||
              h5u_doubles(g, "criterion", 0, NULL, &r->criterion) ||
              h5u_string(g, "description", "orthomax rotation of the eigenspectra: rotated "
                         "spectra = matrix^T eigenspectra, rotated images = matrix^T "
                         "eigenimages");
    if (g >= 0)
        H5Gclose(g);
    return bad || component_pair(e, m, "rotated_eigenspectra", "rotated_eigenimages",
                                 method, r->spectra, r->images) ? -1 : 0;
}

static int ica_group(hid_t e, const mva_pca_model *m, const mva_ica *a, double tol)
{
    size_t k = a->k;
    double *spec = malloc(k * m->p * sizeof *spec);
    if (spec == NULL)
        return -1;
    for (size_t q = 0; q < k; q++) /* independent spectra = mixing^T C */
        for (size_t j = 0; j < m->p; j++) {
            double s = 0;
            for (size_t i = 0; i < k; i++)
                s += a->mixing[i * k + q] * m->components[i * m->p + j];
            spec[q * m->p + j] = s;
        }
    hsize_t kk[2] = {k, k}, k1 = k;
    int64_t it = (int64_t)a->iterations, conv = a->converged, seed = (int64_t)a->seed;
    int64_t used = (int64_t)a->n_used;
    hid_t g = h5u_group(e, "ica", "NXcollection");
    int bad = g < 0 || h5u_doubles(g, "unmixing", 2, kk, a->unmixing) ||
              h5u_doubles(g, "mixing", 2, kk, a->mixing) ||
              h5u_doubles(g, "whitening", 2, kk, a->whitening) ||
              h5u_doubles(g, "w", 2, kk, a->w) || h5u_doubles(g, "w_init", 2, kk, a->w_init) ||
              h5u_doubles(g, "mean", 1, &k1, a->mean) ||
              h5u_int64s(g, "iterations", 0, NULL, &it) ||
              h5u_int64s(g, "converged", 0, NULL, &conv) ||
              h5u_doubles(g, "final_change", 0, NULL, &a->final_change) ||
              h5u_doubles(g, "tol", 0, NULL, &tol) || h5u_int64s(g, "seed", 0, NULL, &seed) ||
              h5u_int64s(g, "n_used", 0, NULL, &used) ||
              h5u_string(g, "description", "FastICA (symmetric, G = log cosh) of the "
                         "eigenimages: sources = unmixing (eigenimages - mean), unmixing = w "
                         "whitening; independent spectra = mixing^T eigenspectra");
    if (g >= 0)
        H5Gclose(g);
    bad = bad || component_pair(e, m, "independent_spectra", "independent_images",
                                "independent component", spec, a->sources);
    free(spec);
    return bad ? -1 : 0;
}

int mva_rotate_write(const char *path, const char *entry, const mva_pca_model *m,
                     const mva_rotation *rot, const char *method, const mva_ica *ica,
                     double ica_tol, mva_error *err)
{
    if ((rot && (rot->k != m->k || rot->p != m->p || rot->n != m->rows * m->cols)) ||
        (ica && (ica->k != m->k || ica->n != m->rows * m->cols)))
        return mva_error_set(err, MVA_EINVAL, "%s: the rotation or ICA does not match the "
                             "model of /%s", path, entry);
    adding a = {0};
    int rc = add_begin(&a, path, 0, err);
    if (rc != MVA_OK)
        return add_end(&a, path, rc, err);
    hid_t e = H5Gopen2(a.f, entry, H5P_DEFAULT);
    if (e < 0)
        rc = mva_error_set(err, MVA_ENOTFOUND, "%s: no entry /%s to add components to", path,
                           entry);
    else if ((rot && H5Lexists(e, "rotation", H5P_DEFAULT) > 0) ||
             (ica && H5Lexists(e, "ica", H5P_DEFAULT) > 0))
        rc = mva_error_set(err, MVA_EINVAL, "%s: /%s already holds a %s", path, entry,
                           rot ? "rotation" : "ICA");
    if (rc == MVA_OK && ((rot && rotation_group(e, m, rot, method)) ||
                         (ica && ica_group(e, m, ica, ica_tol))))
        rc = mva_error_set(err, MVA_EIO, "%s: writing the components into /%s failed", path,
                           entry);
    if (e >= 0)
        H5Gclose(e);
    return add_end(&a, path, rc, err);
}
