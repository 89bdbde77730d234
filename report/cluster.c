/* The report of a clustering entry (results/cluster.c's layout): labels.png, the label map in
 * discrete colours with a legend; clusters.svg, each cluster's average spectrum against the
 * map's; index.html with the sizes. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mva/cluster.h"

/* Tableau 10 (the curves' colours in clusters.svg, so cluster c looks the same in both), then
 * its ten light variants (Tableau 20). */
static const unsigned char palette[20][3] = {
    {31, 119, 180},  {255, 127, 14},  {44, 160, 44},   {214, 39, 40},   {148, 103, 189},
    {140, 86, 75},   {227, 119, 194}, {127, 127, 127}, {188, 189, 34},  {23, 190, 207},
    {174, 199, 232}, {255, 187, 120}, {152, 223, 138}, {255, 152, 150}, {197, 176, 213},
    {196, 156, 148}, {247, 182, 210}, {199, 199, 199}, {219, 219, 141}, {158, 218, 229}};

/* Cluster c's colour (c < 0: no label, black, which no cluster takes: the NaN grey of the other
 * maps is too close to Tableau's grey).  After the 20 of the palette, the 6 x 6 x 6 cube of
 * multiples of 51 without black and white, walked with a stride prime to its 214 colours:
 * every one of the first 234 clusters has its own colour. */
static void cluster_rgb(int64_t c, unsigned char rgb[3])
{
    if (c < 0) {
        rgb[0] = rgb[1] = rgb[2] = 0;
    } else if (c < 20) {
        memcpy(rgb, palette[c], 3);
    } else {
        int64_t q = 1 + (c - 20) * 37 % 214;
        rgb[0] = (unsigned char)(51 * (q / 36));
        rgb[1] = (unsigned char)(51 * (q / 6 % 6));
        rgb[2] = (unsigned char)(51 * (q % 6));
    }
}

typedef struct {
    size_t rows, cols, c, p;
    int32_t *labels;
    int64_t *sizes;
    double *avg;      /* c x p, or NULL (no spectra written) */
    double *map_avg;  /* p */
    double *axis;     /* p */
    int axis_kev;
    char rule[512], scores[256];
} clu;

static void clu_free(clu *x)
{
    free(x->labels);
    free(x->sizes);
    free(x->avg);
    free(x->map_avg);
    free(x->axis);
}

/* Reads dataset rel of group g as mtype into a new buffer; its dims into dims (rank r). */
static void *read_all(hid_t g, const char *rel, hid_t mtype, int rank, hsize_t *dims)
{
    hid_t d = H5Dopen2(g, rel, H5P_DEFAULT);
    if (d < 0)
        return NULL;
    hid_t sp = H5Dget_space(d);
    void *buf = NULL;
    if (H5Sget_simple_extent_ndims(sp) == rank) {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        hsize_t n = 1;
        for (int i = 0; i < rank; i++)
            n *= dims[i];
        buf = malloc((n ? n : 1) * H5Tget_size(mtype));
        if (buf && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            free(buf);
            buf = NULL;
        }
    }
    H5Sclose(sp);
    H5Dclose(d);
    return buf;
}

static void read_string(hid_t g, const char *rel, char *out, size_t cap)
{
    out[0] = '\0';
    hid_t d = H5Dopen2(g, rel, H5P_DEFAULT);
    if (d < 0)
        return;
    hid_t t = H5Dget_type(d), mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5T_CSET_UTF8);
    char *s = NULL;
    if (H5Tis_variable_str(t) > 0 && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) >= 0 &&
        s) {
        snprintf(out, cap, "%s", s);
        H5free_memory(s);
    }
    H5Tclose(mt);
    H5Tclose(t);
    H5Dclose(d);
}

static int clu_read(const char *path, const char *entry, clu *x, mva_error *err)
{
    H5E_auto2_t fn;
    void *data;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t e = f >= 0 ? H5Gopen2(f, entry, H5P_DEFAULT) : -1;
    hsize_t d2[2], d1[1], dc[2];
    int rc = MVA_OK;
    if (e >= 0) {
        x->labels = read_all(e, "labels/data", H5T_NATIVE_INT32, 2, d2);
        x->sizes = read_all(e, "cluster_sizes", H5T_NATIVE_INT64, 1, d1);
    }
    if (e < 0 || !x->labels || !x->sizes) {
        rc = mva_error_set(err, MVA_EFORMAT, "%s: /%s/labels/data or cluster_sizes missing or "
                           "misshapen", path, entry);
        goto done;
    }
    x->rows = d2[0];
    x->cols = d2[1];
    x->c = d1[0];
    read_string(e, "process/clusters_rule", x->rule, sizeof x->rule);
    read_string(e, "process/scores", x->scores, sizeof x->scores);
    x->avg = read_all(e, "average_spectra/data", H5T_NATIVE_DOUBLE, 2, dc);
    if (x->avg) {
        hsize_t dp[1];
        x->p = dc[1];
        x->map_avg = read_all(e, "map_average_spectrum/data", H5T_NATIVE_DOUBLE, 1, dp);
        x->axis_kev = H5Lexists(e, "average_spectra/energy", H5P_DEFAULT) > 0;
        x->axis = read_all(e, x->axis_kev ? "average_spectra/energy" : "average_spectra/channel",
                           H5T_NATIVE_DOUBLE, 1, dp);
        if (dc[0] != x->c || !x->map_avg || !x->axis)
            rc = mva_error_set(err, MVA_EFORMAT, "%s: /%s: the spectra do not match the "
                               "clusters", path, entry);
    }
done:
    if (e >= 0)
        H5Gclose(e);
    if (f >= 0)
        H5Fclose(f);
    H5Eset_auto2(H5E_DEFAULT, fn, data);
    return rc;
}

/* The label map, scaled, with a legend column of swatches and cluster numbers. */
static int write_labels(const clu *x, const char *dir, size_t scale, mva_error *err)
{
    size_t px = 3, line = 7 * px, legend = 20 * 4 * px;
    size_t w = x->cols * scale + legend, hmap = x->rows * scale, hleg = (x->c + 1) * line + 8;
    rpt_raster r;
    int rc = rpt_raster_new(&r, w, hmap > hleg ? hmap : hleg, 255, err);
    if (rc != MVA_OK)
        return rc;
    for (size_t i = 0; i < x->rows * scale; i++)
        for (size_t j = 0; j < x->cols * scale; j++) {
            int32_t l = x->labels[(i / scale) * x->cols + j / scale];
            cluster_rgb(l, r.rgb + 3 * (i * w + j));
        }
    for (size_t c = 0; c <= x->c; c++) { /* the last row: unlabelled */
        size_t y0 = 4 + c * line, x0 = x->cols * scale + 6;
        for (size_t i = 0; i < 5 * px; i++)
            for (size_t j = 0; j < 5 * px; j++)
                cluster_rgb(c < x->c ? (int64_t)c : -1, r.rgb + 3 * ((y0 + i) * w + x0 + j));
        char text[32];
        if (c < x->c)
            snprintf(text, sizeof text, "%zu", c);
        else
            snprintf(text, sizeof text, "none");
        rpt_raster_text(&r, x0 + 7 * px, y0, text, px, legend - 7 * px - 8);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/labels.png", dir);
    rc = rpt_raster_write_png(&r, path, err);
    rpt_raster_free(&r);
    return rc;
}

static int write_plot(const clu *x, const char *dir, mva_error *err)
{
    rpt_series *s = malloc((x->c + 1) * sizeof *s);
    char (*lab)[48] = malloc((x->c + 1) * sizeof *lab);
    if (s == NULL || lab == NULL) {
        free(s);
        free(lab);
        return mva_error_set(err, MVA_ENOMEM, "report: out of memory");
    }
    for (size_t c = 0; c <= x->c; c++) {
        if (c < x->c)
            snprintf(lab[c], sizeof lab[c], "cluster %zu (%lld px)", c, (long long)x->sizes[c]);
        else
            snprintf(lab[c], sizeof lab[c], "map");
        s[c] = (rpt_series){x->axis, c < x->c ? x->avg + c * x->p : x->map_avg, x->p, lab[c]};
    }
    rpt_plot p = {"Average spectrum of each cluster and of the map",
                  x->axis_kev ? "energy (keV)" : "channel", "counts per pixel (log scale)", 1, 4,
                  s, x->c + 1, NULL, 0, NULL, 0, NAN};
    rpt_buf b = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s/clusters.svg", dir);
    rpt_svg_plot(&b, &p);
    int rc = rpt_write_text(path, &b, err);
    rpt_buf_free(&b);
    free(s);
    free(lab);
    return rc;
}

static int write_index(const clu *x, const char *results, const rpt_info *in, const char *dir,
                       size_t scale, mva_error *err)
{
    rpt_buf b = {0};
    char t[4400];
    rpt_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<title>mva cluster report: ");
    rpt_escape(&b, in->entry);
    rpt_printf(&b, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>Clusters ", rpt_css);
    rpt_escape(&b, results);
    rpt_printf(&b, " /");
    rpt_escape(&b, in->entry);
    rpt_printf(&b, "</h1>\n<table class=\"summary\">\n");
    rpt_row(&b, "scores", x->scores);
    rpt_row(&b, "number of clusters", x->rule);
    int64_t total = 0;
    for (size_t c = 0; c < x->c; c++)
        total += x->sizes[c];
    size_t used = 0;
    t[0] = '\0';
    for (size_t c = 0; c < x->c && used < sizeof t - 64; c++)
        used += (size_t)snprintf(t + used, sizeof t - used, "%s%zu: %lld (%.1f %%)",
                                 c ? ", " : "", c, (long long)x->sizes[c],
                                 total ? 100.0 * (double)x->sizes[c] / (double)total : 0.0);
    rpt_row(&b, "pixels per cluster", t);
    rpt_input_row(&b, in);
    snprintf(t, sizeof t, "%s %s, %s", in->program, in->version, in->date);
    rpt_row(&b, "program", t);
    rpt_printf(&b, "</table>\n<h2>Label map</h2>\n<p class=\"note\">Each cluster in its colour "
                   "(legend on the right), pixels without a label black. %zu x %zu pixels, "
                   "shown x%zu.</p>\n<p><a href=\"labels.png\"><img src=\"labels.png\" "
                   "alt=\"cluster of each pixel\"></a></p>\n", x->rows, x->cols, scale);
    if (x->avg)
        rpt_printf(&b, "<h2>Average spectra</h2>\n<p><a href=\"clusters.svg\"><img "
                       "class=\"plot\" src=\"clusters.svg\" alt=\"average spectrum of each "
                       "cluster against the map's\"></a></p>\n");
    else
        rpt_printf(&b, "<p class=\"note\">No spectra in this entry (--no-spectra).</p>\n");
    rpt_printf(&b, "<p class=\"note\">Written by mva %s.</p>\n</body>\n</html>\n", mva_version());
    char path[4096];
    snprintf(path, sizeof path, "%s/index.html", dir);
    int rc = rpt_write_text(path, &b, err);
    rpt_buf_free(&b);
    return rc;
}

int rpt_cluster_report(const char *results, const rpt_info *info, const char *dir,
                       const mva_report_opts *o, mva_error *err)
{
    clu x;
    memset(&x, 0, sizeof x);
    int rc = clu_read(results, info->entry, &x, err);
    size_t scale = 1;
    if (rc == MVA_OK) {
        scale = o->scale ? o->scale
                         : mva_report_auto_scale(x.rows, x.cols, o->min_side, RPT_MAX_SIDE);
        rc = write_labels(&x, dir, scale, err);
    }
    if (rc == MVA_OK && x.avg)
        rc = write_plot(&x, dir, err);
    if (rc == MVA_OK)
        rc = write_index(&x, results, info, dir, scale, err);
    clu_free(&x);
    return rc;
}
