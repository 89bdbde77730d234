/*
 * A clustering as an entry of its own (a part of mva_result_write; fields in mva/cluster.h):
 *
 *   /mva_cluster                NXentry  @default="labels"
 *     labels                    NXdata: data int32 (rows, cols), -1 = no label
 *     distance                  NXdata: data float64 (rows, cols), to the own centroid
 *     clusters_vs_map           NXdata: cluster_0 .. cluster_{c-1} (average spectra, the
 *                               first as @signal, the rest @auxiliary_signals), map_average
 *     cumulative_spectra, average_spectra, max_spectra
 *                               NXdata: data float64 (c, p), @axes [".", "energy"]
 *     map_average_spectrum      NXdata: data float64 (p)
 *     silhouette                NXdata (-c auto): data (candidates) over clusters
 *     cluster_sizes int64 (c), centroids float64 (c, dim), inertia, iterations, converged,
 *     restarts, seed, n_labelled, n_valid_pixels
 *     process                   NXprocess: program, version, date, command_line, the map
 *                               read for the spectra with the input_* fields of a PCA entry
 *                               (write.c; with --no-spectra, copied from the scores'
 *                               entry), source (results file::/entry of the scores),
 *                               scores, clusters_rule, parameters (reader options)
 *
 * The spectra axis is "energy" (keV) when the stack is calibrated, else "channel".
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* Every cluster's average spectrum and the map's, as curves silx draws together. */
static int overlay(wctx *c, hid_t e, const mva_select_label_spectra *s, const spec_axis *ax)
{
    size_t n = s->nclass + 1;
    char(*names)[32] = malloc(n * sizeof *names);
    const char **np = malloc(n * sizeof *np);
    const double **v = malloc(n * sizeof *v);
    int rc = names && np && v ? MVA_OK
                              : mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
    for (size_t k = 0; rc == MVA_OK && k < n; k++) {
        if (k < s->nclass)
            snprintf(names[k], sizeof names[k], "cluster_%zu", k);
        else
            snprintf(names[k], sizeof names[k], "map_average");
        np[k] = names[k];
        v[k] = k < s->nclass ? s->avg + k * s->p : s->map_avg;
    }
    if (rc == MVA_OK)
        rc = res_curves_nxdata(c, e, "clusters_vs_map",
                               "average spectrum of each cluster and of the map", np, v, n, 0,
                               ax);
    free(names);
    free(np);
    free(v);
    return rc;
}

static int cluster_spectra(wctx *c, hid_t e, const mva_select_label_spectra *s,
                           const mva_calib *cal)
{
    double *axis = NULL;
    spec_axis ax;
    const char *data[1] = {"data"};
    int rc = res_calib_axis(c, cal, s->p, &ax, &axis);
    if (rc == MVA_OK)
        rc = overlay(c, e, s, &ax);
    if (rc == MVA_OK)
        rc = res_curves_nxdata(c, e, "cumulative_spectra", "sum spectrum of each cluster", data,
                               (const double *const[]){s->sum}, 1, s->nclass, &ax);
    if (rc == MVA_OK)
        rc = res_curves_nxdata(c, e, "average_spectra", "average spectrum of each cluster",
                               data, (const double *const[]){s->avg}, 1, s->nclass, &ax);
    if (rc == MVA_OK)
        rc = res_curves_nxdata(c, e, "max_spectra", "per-channel maximum of each cluster", data,
                               (const double *const[]){s->max}, 1, s->nclass, &ax);
    if (rc == MVA_OK)
        rc = res_curves_nxdata(c, e, "map_average_spectrum", "average of every valid pixel",
                               data, (const double *const[]){s->map_avg}, 1, 0, &ax);
    if (rc == MVA_OK)
        rc = res_scalar_f64(c, e, "n_valid_pixels", (double)s->n_valid);
    free(axis);
    return rc;
}

static int silhouette(wctx *c, hid_t e, const mva_cluster_output *o)
{
    size_t m = o->c_max - o->c_min + 1;
    double *counts = malloc(m * sizeof *counts);
    if (counts == NULL)
        return mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
    for (size_t i = 0; i < m; i++)
        counts[i] = (double)(o->c_min + i);
    spec_axis ax = {"clusters", counts, m};
    const char *data[1] = {"data"};
    int rc = res_curves_nxdata(c, e, "silhouette",
                               "mean silhouette of the sampled pixels, per cluster count", data,
                               (const double *const[]){o->silhouette}, 1, 0, &ax);
    free(counts);
    return rc;
}

static int fit_datasets(wctx *c, hid_t e, const mva_kmeans_result *km)
{
    int64_t *sizes = malloc((km->clusters ? km->clusters : 1) * sizeof *sizes);
    if (sizes == NULL)
        return mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
    for (size_t k = 0; k < km->clusters; k++)
        sizes[k] = (int64_t)km->sizes[k];
    hsize_t n[1] = {km->clusters}, dims[2] = {km->clusters, km->dim};
    const struct {
        const char *name;
        int64_t v;
    } counts[] = {{"iterations", (int64_t)km->iterations}, {"converged", km->converged},
                  {"restarts", (int64_t)km->restarts},     {"seed", (int64_t)km->seed},
                  {"n_labelled", (int64_t)km->n_labelled}};
    int rc = res_dset_i64(c, e, "cluster_sizes", 1, n, sizes);
    if (rc == MVA_OK)
        rc = res_dset_f64(c, e, "centroids", 2, dims, km->centroids);
    if (rc == MVA_OK)
        rc = res_scalar_f64(c, e, "inertia", km->inertia);
    for (size_t i = 0; rc == MVA_OK && i < sizeof counts / sizeof counts[0]; i++)
        rc = res_dset_i64(c, e, counts[i].name, 0, NULL, &counts[i].v);
    free(sizes);
    return rc;
}

int res_write_cluster(wctx *c, hid_t e, const mva_result_parts *s)
{
    const mva_cluster_output *o = s->cluster;
    hsize_t dims[2] = {o->rows, o->cols};
    const char *what[3] = {"source", "scores", "clusters_rule"};
    const char *text[3] = {o->source, o->scores, o->rule};
    int rc = res_attr_str(c, e, ".", "default", "labels");
    if (rc == MVA_OK)
        rc = res_plain_nxdata(c, e, "labels", "cluster of each pixel (-1: no label)",
                              H5T_STD_I32LE, H5T_NATIVE_INT32, 2, dims, o->km->labels);
    if (rc == MVA_OK)
        rc = res_plain_nxdata(c, e, "distance",
                              "distance of each pixel to its cluster's centroid",
                              H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims, o->km->distance);
    if (rc == MVA_OK)
        rc = fit_datasets(c, e, o->km);
    if (rc == MVA_OK)
        rc = res_write_short_process(c, e, s, o->source, what, text, 3);
    if (rc == MVA_OK && o->spectra)
        rc = cluster_spectra(c, e, o->spectra, o->cal);
    if (rc == MVA_OK && o->silhouette)
        rc = silhouette(c, e, o);
    return rc;
}
