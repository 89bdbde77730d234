/*
 * mva_report_write: one results entry -> a directory of PNG images, SVG plots and index.html.
 *
 * Files (names fixed, so that a report can be refreshed in place):
 *   pcNN.png                eigenimage NN (diverging colormap, symmetric robust limits)
 *   total_counts.png        total counts per pixel (viridis, robust limits)
 *   roiNN_<name>_raw.png    ROI images, raw and background-subtracted (viridis)
 *   roiNN_<name>_net.png
 *   nmfNN.png               NMF abundance map NN: counts of component NN per pixel (viridis,
 *                           robust limits)
 *   montage.png             all of the above tiled, in that order
 *   colorbar_viridis.png, colorbar_diverging.png   the colour scales used
 *   scree.svg, eigenspectra.svg, spectrum.svg   (each when there is something to plot)
 *   nmf_spectra.svg, convergence.svg   of an NMF entry: report/nmf.c
 *   index.html              written last: when it exists, every file it names does too
 * A selection entry (mva-select) has a report of its own: report/selection.c.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "mva/result.h"

#define MONTAGE_WIDTH 1600 /* pixels the montage aims not to exceed */
#define MONTAGE_GAP 8
#define MONTAGE_TILE 400   /* longest side of a montage tile, larger maps are thinned */
#define MONTAGE_LABEL 16   /* pixels under each tile for its label (5 x 2 font + margins) */
#define MAX_SIDE RPT_MAX_SIDE
#define SCREE_MAX 100      /* eigenvalues shown in the scree */
#define MAX_LINES 16       /* element lines marked at most */

mva_report_opts mva_report_opts_default(void)
{
    mva_report_opts o = {0, 200, 1.0, 99.0, 99.0, 1, 0.15, 0};
    return o;
}

/* One map of the report: its file, caption, values and how they are coloured. */
enum { GROUP_PCA, GROUP_ROI, GROUP_NMF };

typedef struct tile {
    int group;      /* GROUP_*: the gallery of index.html that shows it */
    char file[96];
    char caption[160];
    char label[40];  /* short, for the montage */
    const double *v;
    int cmap;
    double lo, hi;
} tile;

typedef struct report {
    const char *results, *dir;
    mva_report_opts o;
    rpt_info info;
    mva_pca_model *pca;
    mva_roi_result *roi;
    mva_nmf_model *nmf;
    rpt_nmf_lines nmf_lines;
    int nmf_spectra, convergence;
    size_t rows, cols, scale;
    tile *tiles;
    size_t ntiles;
    int montage, scree, eigenspectra, spectrum;
    unsigned bars;  /* 1 << cmap for each colormap used: its colour bar is written */
    const mva_report_line *lines[MAX_LINES];
    size_t nlines;
    mva_error *err;
} report;

static void out_path(const report *r, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", r->dir, name);
}

static int make_dir(const char *dir, mva_error *err)
{
    struct stat st;
    if (mkdir(dir, 0777) == 0)
        return MVA_OK;
    int e = errno;
    if (e == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return MVA_OK;
    return mva_error_set(err, e == ENOENT ? MVA_ENOTFOUND : MVA_EIO,
                         "%s: cannot create the report directory: %s", dir,
                         e == EEXIST ? "exists and is not a directory" : strerror(e));
}

/* A file-name-safe version of a ROI name ("Cu/K" -> "Cu_K"). */
static void safe_name(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 1 < cap && n < 32; s++)
        out[n++] = ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                    (*s >= '0' && *s <= '9') || *s == '-')
                       ? *s
                       : '_';
    out[n] = '\0';
}

/* ---- images ---- */

static tile *add_tile(report *r, int group, const double *v, int cmap)
{
    tile *t = &r->tiles[r->ntiles++];
    memset(t, 0, sizeof *t);
    t->group = group;
    t->v = v;
    t->cmap = cmap;
    return t;
}

static int tile_limits(report *r, tile *t)
{
    size_t n = r->rows * r->cols;
    if (t->cmap == MVA_REPORT_CMAP_DIVERGING) {
        double lim = 0;
        int rc = mva_report_limits_symmetric(t->v, n, r->o.div_pct, &lim, r->err);
        t->lo = -lim;
        t->hi = lim;
        return rc;
    }
    return mva_report_limits(t->v, n, r->o.lo_pct, r->o.hi_pct, &t->lo, &t->hi, r->err);
}

static void collect_pca_tiles(report *r)
{
    const mva_pca_model *m = r->pca;
    for (size_t q = 0; m != NULL && q < m->k; q++) {
        tile *t = add_tile(r, GROUP_PCA, m->scores + q * m->rows * m->cols,
                           MVA_REPORT_CMAP_DIVERGING);
        snprintf(t->file, sizeof t->file, "pc%02zu.png", q + 1);
        snprintf(t->label, sizeof t->label, "PC%zu", q + 1);
        if (q < m->n_eigenvalues && isfinite(m->explained[q]))
            snprintf(t->caption, sizeof t->caption, "PC%zu (%.2f %% of the variance)", q + 1,
                     100 * m->explained[q]);
        else
            snprintf(t->caption, sizeof t->caption, "PC%zu", q + 1);
    }
}

static void collect_roi_tiles(report *r)
{
    const mva_roi_result *x = r->roi;
    if (x == NULL)
        return;
    size_t n = x->rows * x->cols;
    tile *t = add_tile(r, GROUP_ROI, x->total, MVA_REPORT_CMAP_VIRIDIS);
    snprintf(t->file, sizeof t->file, "total_counts.png");
    snprintf(t->caption, sizeof t->caption, "total counts");
    snprintf(t->label, sizeof t->label, "total");
    for (size_t i = 0; i < x->nroi; i++) {
        char name[40];
        safe_name(x->defs[i].name, name, sizeof name);
        for (int net = 0; net < 2; net++) {
            t = add_tile(r, GROUP_ROI, (net ? x->net : x->raw) + i * n,
                         MVA_REPORT_CMAP_VIRIDIS);
            snprintf(t->file, sizeof t->file, "roi%02zu_%s_%s.png", i + 1, name,
                     net ? "net" : "raw");
            snprintf(t->caption, sizeof t->caption, "%.64s %s (channels %zu-%zu)",
                     x->defs[i].name, net ? "net" : "raw", x->ch0[i], x->ch1[i]);
            snprintf(t->label, sizeof t->label, "%.24s %s", x->defs[i].name,
                     net ? "net" : "raw");
        }
    }
}

/* NMF abundance maps: counts, non-negative, so viridis with robust limits. */
static void collect_nmf_tiles(report *r)
{
    const mva_nmf_model *m = r->nmf;
    for (size_t q = 0; m != NULL && q < m->k; q++) {
        tile *t = add_tile(r, GROUP_NMF, m->abundances + q * m->rows * m->cols,
                           MVA_REPORT_CMAP_VIRIDIS);
        snprintf(t->file, sizeof t->file, "nmf%02zu.png", q + 1);
        snprintf(t->label, sizeof t->label, "NMF%zu", q + 1);
        snprintf(t->caption, sizeof t->caption, "NMF%zu (%.2f %% of the counts)", q + 1,
                 100 * m->share[q]);
    }
}

/* A 256 x 14 ramp of a colormap, low on the left, for the legends of index.html. */
static int write_colorbar(report *r, int cmap, const char *name)
{
    enum { BAR_W = 256, BAR_H = 14 };
    double *v = malloc(BAR_W * BAR_H * sizeof *v);
    if (v == NULL)
        return mva_error_set(r->err, MVA_ENOMEM, "report: out of memory");
    for (size_t i = 0; i < BAR_W * BAR_H; i++)
        v[i] = (double)(i % BAR_W) / (BAR_W - 1);
    char path[4096];
    out_path(r, name, path, sizeof path);
    int rc = mva_report_png_image(path, v, BAR_H, BAR_W, cmap, 0, 1, 1, r->err);
    free(v);
    return rc;
}

static int write_images(report *r)
{
    size_t cap = (r->pca ? r->pca->k : 0) + (r->roi ? 1 + 2 * r->roi->nroi : 0) +
                 (r->nmf ? r->nmf->k : 0) + 1;
    r->tiles = calloc(cap, sizeof *r->tiles);
    if (r->tiles == NULL)
        return mva_error_set(r->err, MVA_ENOMEM, "report: out of memory");
    collect_pca_tiles(r);
    collect_roi_tiles(r);
    collect_nmf_tiles(r);
    for (size_t i = 0; i < r->ntiles; i++) {
        char path[4096];
        tile *t = &r->tiles[i];
        out_path(r, t->file, path, sizeof path);
        int rc = tile_limits(r, t);
        if (rc == MVA_OK)
            rc = mva_report_png_image(path, t->v, r->rows, r->cols, t->cmap, t->lo, t->hi,
                                      r->scale, r->err);
        if (rc != MVA_OK)
            return rc;
        r->bars |= 1 << t->cmap;
    }
    int rc = MVA_OK;
    if (r->bars & (1 << MVA_REPORT_CMAP_VIRIDIS))
        rc = write_colorbar(r, MVA_REPORT_CMAP_VIRIDIS, "colorbar_viridis.png");
    if (rc == MVA_OK && (r->bars & (1 << MVA_REPORT_CMAP_DIVERGING)))
        rc = write_colorbar(r, MVA_REPORT_CMAP_DIVERGING, "colorbar_diverging.png");
    return rc;
}

/* Every d-th pixel of every d-th row of a rows x cols image (nearest-neighbour thumbnail),
 * into a new array of ceil(rows / d) x ceil(cols / d). */
static double *shrink(const double *v, size_t rows, size_t cols, size_t d)
{
    size_t h = (rows + d - 1) / d, w = (cols + d - 1) / d;
    double *out = malloc(h * w * sizeof *out);
    for (size_t i = 0; out != NULL && i < h; i++)
        for (size_t j = 0; j < w; j++)
            out[i * w + j] = v[i * d * cols + j * d];
    return out;
}

/* All tiles in one PNG, each labelled, in rows of as many as fit MONTAGE_WIDTH, on white.  Small maps are
 * upscaled (at most as much as the single images), large ones thinned to MONTAGE_TILE pixels
 * per side, so that the montage stays a few MB whatever the map. */
static int write_montage(report *r)
{
    if (r->ntiles == 0)
        return MVA_OK;
    size_t s = mva_report_auto_scale(r->rows, r->cols, 120, MONTAGE_TILE);
    size_t big = r->rows > r->cols ? r->rows : r->cols;
    size_t d = big > MONTAGE_TILE ? (big + MONTAGE_TILE - 1) / MONTAGE_TILE : 1;
    if (s > r->scale)
        s = r->scale;
    size_t th = (r->rows + d - 1) / d, tw = (r->cols + d - 1) / d;
    size_t per_row = (MONTAGE_WIDTH - MONTAGE_GAP) / (tw * s + MONTAGE_GAP);
    per_row = per_row < 1 ? 1 : per_row > r->ntiles ? r->ntiles : per_row;
    size_t nrow = (r->ntiles + per_row - 1) / per_row;
    size_t cell_h = th * s + MONTAGE_LABEL + MONTAGE_GAP;
    rpt_raster img;
    int rc = rpt_raster_new(&img, MONTAGE_GAP + per_row * (tw * s + MONTAGE_GAP),
                            MONTAGE_GAP + nrow * cell_h, 255, r->err);
    if (rc != MVA_OK)
        return mva_error_prefix(r->err, rc, "%s/montage.png: ", r->dir);
    for (size_t i = 0; rc == MVA_OK && i < r->ntiles; i++) {
        const tile *t = &r->tiles[i];
        double *thin = d > 1 ? shrink(t->v, r->rows, r->cols, d) : NULL;
        if (d > 1 && thin == NULL)
            rc = mva_error_set(r->err, MVA_ENOMEM, "%s/montage.png: out of memory", r->dir);
        size_t x = MONTAGE_GAP + (i % per_row) * (tw * s + MONTAGE_GAP);
        size_t y = MONTAGE_GAP + (i / per_row) * cell_h;
        if (rc == MVA_OK) {
            rpt_raster_paint(&img, x, y, thin ? thin : t->v, th, tw, t->cmap, t->lo, t->hi, s);
            rpt_raster_text(&img, x, y + th * s + 4, t->label, 2, tw * s);
        }
        free(thin);
    }
    char path[4096];
    out_path(r, "montage.png", path, sizeof path);
    if (rc == MVA_OK)
        rc = rpt_raster_write_png(&img, path, r->err);
    rpt_raster_free(&img);
    r->montage = rc == MVA_OK;
    return rc;
}

/* ---- plots ---- */

static int write_svg(report *r, const char *name, const rpt_plot *p)
{
    char path[4096];
    rpt_buf b = {0};
    out_path(r, name, path, sizeof path);
    rpt_svg_plot(&b, p);
    int rc = rpt_write_text(path, &b, r->err);
    rpt_buf_free(&b);
    return rc;
}

/* The axis of the PCA variables: energy (keV) when known, else the centre channel. */
static double *pca_axis(const mva_pca_model *m, int *kev)
{
    double *x = malloc((m->p ? m->p : 1) * sizeof *x);
    *kev = m->var_energy != NULL;
    for (size_t j = 0; x != NULL && j < m->p; j++)
        x[j] = *kev ? m->var_energy[j] : (double)m->var_ch0[j] + 0.5 * (double)(m->bin - 1);
    return x;
}

static int write_scree(report *r)
{
    const mva_pca_model *m = r->pca;
    size_t n = m->p < SCREE_MAX ? m->p : SCREE_MAX;
    double *x = malloc((n ? n : 1) * sizeof *x);
    if (x == NULL)
        return mva_error_set(r->err, MVA_ENOMEM, "report: out of memory");
    for (size_t q = 0; q < n; q++)
        x[q] = (double)(q + 1);
    rpt_series s = {x, m->eigenvalues, n, NULL};
    char title[96];
    snprintf(title, sizeof title, "Scree: eigenvalues 1-%zu of %zu", n, m->p);
    rpt_plot p = {title, "component", "eigenvalue (log scale)", 1, 0, &s, 1, NULL, 0, NULL, 0,
                  m->k > 0 ? (double)m->k : NAN};
    int rc = write_svg(r, "scree.svg", &p);
    free(x);
    r->scree = rc == MVA_OK;
    return rc;
}

static int write_eigenspectra(report *r)
{
    const mva_pca_model *m = r->pca;
    if (m->k == 0)
        return MVA_OK;
    int kev = 0;
    double *x = pca_axis(m, &kev);
    rpt_series *s = calloc(m->k, sizeof *s);
    char(*labels)[24] = calloc(m->k, sizeof *labels);
    int rc = x && s && labels ? MVA_OK : mva_error_set(r->err, MVA_ENOMEM, "report: out of memory");
    for (size_t q = 0; rc == MVA_OK && q < m->k; q++) {
        snprintf(labels[q], sizeof labels[q], "PC%zu", q + 1);
        s[q] = (rpt_series){x, m->components + q * m->p, m->p, labels[q]};
    }
    if (rc == MVA_OK) {
        rpt_plot p = {"Eigenspectra (loadings)", kev ? "energy (keV)" : "channel", "loading", 0,
                      0, s, m->k, NULL, 0, NULL, 0, NAN};
        rc = write_svg(r, "eigenspectra.svg", &p);
    }
    free(x);
    free(s);
    free(labels);
    r->eigenspectra = rc == MVA_OK;
    return rc;
}

static int by_x(const void *a, const void *b)
{
    double x = ((const rpt_marker *)a)->x, y = ((const rpt_marker *)b)->x;
    return (x > y) - (x < y);
}

/* Element lines near the strongest peaks, as plot markers (sorted by energy). */
static size_t line_markers(report *r, const double *x, const double *y, size_t n,
                           rpt_marker *mk)
{
    if (mva_report_find_lines(x, y, n, r->o.line_tol, r->lines, MAX_LINES, &r->nlines,
                              NULL) != MVA_OK)
        r->nlines = 0;
    for (size_t i = 0; i < r->nlines; i++) {
        mk[i].x = r->lines[i]->kev;
        snprintf(mk[i].label, sizeof mk[i].label, "%s %s", r->lines[i]->element,
                 r->lines[i]->line);
    }
    qsort(mk, r->nlines, sizeof *mk, by_x);
    return r->nlines;
}

/* The average spectrum (of the ROI pass, over all channels, else the PCA mean over the
 * variables) with the ROI bands and the element lines. */
static int write_spectrum(report *r)
{
    const double *y;
    double *x = NULL;
    size_t n;
    int kev = 0, rc = MVA_OK;
    if (r->roi != NULL) {
        n = r->roi->p;
        y = r->roi->avg_spectrum;
        kev = r->info.roi_axis != NULL && r->info.roi_axis_n == n;
        x = malloc((n ? n : 1) * sizeof *x);
        for (size_t j = 0; x != NULL && j < n; j++)
            x[j] = kev ? r->info.roi_axis[j] : (double)j;
    } else {
        n = r->pca->p;
        y = r->pca->mean;
        x = pca_axis(r->pca, &kev);
    }
    size_t nb = r->roi ? r->roi->nroi : 0;
    rpt_band *bands = calloc(nb + 1, sizeof *bands);
    rpt_marker mk[MAX_LINES];
    if (x == NULL || bands == NULL) {
        rc = mva_error_set(r->err, MVA_ENOMEM, "report: out of memory");
        goto done;
    }
    for (size_t i = 0; i < nb; i++) {
        size_t a = r->roi->ch0[i] < n ? r->roi->ch0[i] : n - 1;
        size_t b = r->roi->ch1[i] < n ? r->roi->ch1[i] : n - 1;
        bands[i] = (rpt_band){x[a], x[b], r->roi->defs[i].name};
    }
    size_t nm = kev && r->o.markers ? line_markers(r, x, y, n, mk) : 0;
    rpt_plot p = {r->roi ? "Average spectrum" : "Mean spectrum", kev ? "energy (keV)" : "channel",
                  "counts per pixel (log scale)", 1, 5, &(rpt_series){x, y, n, NULL}, 1, bands, nb,
                  mk, nm, NAN};
    rc = write_svg(r, "spectrum.svg", &p);
    r->spectrum = rc == MVA_OK;
done:
    free(x);
    free(bands);
    return rc;
}

static int write_plots(report *r)
{
    int rc = MVA_OK;
    if (r->pca != NULL)
        rc = write_scree(r);
    if (rc == MVA_OK && r->pca != NULL)
        rc = write_eigenspectra(r);
    if (rc == MVA_OK && (r->roi != NULL || r->pca != NULL))
        rc = write_spectrum(r);
    if (rc == MVA_OK && r->nmf != NULL && r->o.markers)
        rc = rpt_nmf_find_lines(r->nmf, r->o.line_tol, &r->nmf_lines, r->err);
    if (rc == MVA_OK && r->nmf != NULL)
        rc = rpt_nmf_plots(r->nmf, &r->nmf_lines, r->dir, &r->o, &r->nmf_spectra,
                           &r->convergence, r->err);
    return rc;
}

/* ---- index.html ---- */

void rpt_row(rpt_buf *b, const char *key, const char *value)
{
    rpt_printf(b, "<tr><th>");
    rpt_escape(b, key);
    rpt_printf(b, "</th><td>");
    rpt_escape(b, value);
    rpt_printf(b, "</td></tr>\n");
}

void rpt_input_row(rpt_buf *b, const rpt_info *in)
{
    char t[4096 + 1100];
    snprintf(t, sizeof t, "%s%s%s", in->input_file, in->input_dataset[0] ? "::" : "",
             in->input_dataset);
    rpt_row(b, "input", t);
}

static void summary(rpt_buf *b, const report *r)
{
    const rpt_info *in = &r->info;
    char t[4096 + 1100];
    rpt_printf(b, "<table class=\"summary\">\n");
    rpt_input_row(b, in);
    snprintf(t, sizeof t, "%zu x %zu pixels x %zu channels (%s, %s)", in->shape[0], in->shape[1],
             in->shape[2], in->input_dtype, in->input_format);
    rpt_row(b, "shape", t);
    if (in->has_calib) {
        snprintf(t, sizeof t, "E = %g + %g ch + %g ch^2 keV", in->calib[0], in->calib[1],
                 in->calib[2]);
        rpt_row(b, "calibration", t);
    }
    snprintf(t, sizeof t, "%s", r->results);
    rpt_row(b, "results", t);
    snprintf(t, sizeof t, "/%s", in->entry);
    rpt_row(b, "entry", t);
    if (r->pca != NULL) {
        const mva_pca_model *m = r->pca;
        snprintf(t, sizeof t, "PCA, %s%s%s, %zu variables (bin %zu), %zu passes",
                 mva_pca_method_name(m->method), m->poisson ? ", Poisson scaling" : "",
                 m->uncentred ? ", uncentred scores" : "", m->p, m->bin, m->passes);
        rpt_row(b, "method", t);
        snprintf(t, sizeof t, "%zu", m->k);
        rpt_row(b, "k", t);
        snprintf(t, sizeof t, "%zu of %zu", m->n_valid, m->rows * m->cols);
        rpt_row(b, "valid pixels", t);
        snprintf(t, sizeof t, "%.3f s", m->seconds);
        rpt_row(b, "time", t);
    } else if (r->nmf != NULL) {
        rpt_nmf_summary(b, r->nmf);
    } else {
        snprintf(t, sizeof t, "ROI images, %zu ROIs", r->roi->nroi);
        rpt_row(b, "method", t);
    }
    snprintf(t, sizeof t, "%s %s", in->program, in->version);
    rpt_row(b, "program", t);
    rpt_row(b, "date", in->date);
    if (in->command_line[0])
        rpt_row(b, "command line", in->command_line);
    rpt_printf(b, "</table>\n");
}

static void variance_table(rpt_buf *b, const mva_pca_model *m)
{
    rpt_printf(b, "<h2>Explained variance</h2>\n<table class=\"num\">\n<tr><th>component</th>"
                  "<th>eigenvalue</th><th>explained</th><th>cumulative</th></tr>\n");
    double cum = 0;
    for (size_t q = 0; q < m->k && q < m->n_eigenvalues; q++) {
        cum += m->explained[q];
        rpt_printf(b, "<tr><td>PC%zu</td><td>", q + 1);
        rpt_num(b, m->eigenvalues[q], 6);
        rpt_printf(b, "</td><td>%.3f %%</td><td>%.3f %%</td></tr>\n", 100 * m->explained[q],
                   100 * cum);
    }
    rpt_printf(b, "</table>\n");
}

static void params_table(rpt_buf *b, const rpt_info *in)
{
    if (in->nparams == 0)
        return;
    rpt_printf(b, "<h2>Parameters</h2>\n<table class=\"summary\">\n");
    for (size_t i = 0; i < in->nparams; i++)
        rpt_row(b, in->params[i].key, in->params[i].value);
    rpt_printf(b, "</table>\n");
}

static void figure(rpt_buf *b, const tile *t)
{
    rpt_printf(b, "<figure><a href=\"");
    rpt_escape(b, t->file);
    rpt_printf(b, "\"><img src=\"");
    rpt_escape(b, t->file);
    rpt_printf(b, "\" alt=\"");
    rpt_escape(b, t->caption);
    rpt_printf(b, "\"></a><figcaption>");
    rpt_escape(b, t->caption);
    rpt_printf(b, "<br><span class=\"note\">colour limits ");
    rpt_num(b, t->lo, 4);
    rpt_printf(b, " to ");
    rpt_num(b, t->hi, 4);
    rpt_printf(b, "</span></figcaption></figure>\n");
}

/* The tiles of one group as a grid of figures under a heading, after the colour bar. */
static void gallery(rpt_buf *b, const report *r, int group, const char *heading,
                    const char *note, const char *bar)
{
    size_t n = 0;
    for (size_t i = 0; i < r->ntiles; i++)
        n += r->tiles[i].group == group;
    if (n == 0)
        return;
    rpt_printf(b, "<h2>%s</h2>\n<p class=\"note\">low <img class=\"bar\" src=\"%s\" "
                  "alt=\"colour bar\"> high. %s</p>\n<div class=\"grid\">\n", heading, bar, note);
    for (size_t i = 0; i < r->ntiles; i++)
        if (r->tiles[i].group == group)
            figure(b, &r->tiles[i]);
    rpt_printf(b, "</div>\n");
}

const char *const rpt_css =
    "body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1300px}"
    "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:3px 8px;"
    "text-align:left;vertical-align:top}table.num td{text-align:right}"
    "th{background:#f0f0f0}.grid{display:flex;flex-wrap:wrap;gap:12px}"
    "figure{margin:0}figcaption{font-size:90%;text-align:center}"
    ".grid img{max-width:380px;max-height:380px;image-rendering:pixelated}"
    "img.plot{max-width:100%}.note{color:#555;font-size:90%}"
    "img.bar{vertical-align:middle;height:14px;width:256px;border:1px solid #999}";

static void html_plots(rpt_buf *b, const report *r)
{
    if (r->scree)
        rpt_printf(b, "<h2>Scree</h2>\n<p><a href=\"scree.svg\"><img class=\"plot\" "
                      "src=\"scree.svg\" alt=\"scree plot\"></a></p>\n");
    if (r->eigenspectra)
        rpt_printf(b, "<h2>Eigenspectra</h2>\n<p><a href=\"eigenspectra.svg\"><img class=\"plot\" "
                      "src=\"eigenspectra.svg\" alt=\"eigenspectra\"></a></p>\n");
    if (r->spectrum) {
        rpt_printf(b, "<h2>%s spectrum</h2>\n<p><a href=\"spectrum.svg\"><img class=\"plot\" "
                      "src=\"spectrum.svg\" alt=\"average spectrum\"></a></p>\n",
                   r->roi ? "Average" : "Mean");
        if (r->nlines > 0) {
            rpt_printf(b, "<p class=\"note\">Element lines within %.2f keV of the strongest "
                          "peaks:", r->o.line_tol);
            for (size_t i = 0; i < r->nlines; i++)
                rpt_printf(b, " %s %s (%.3f keV)%s", r->lines[i]->element, r->lines[i]->line,
                           r->lines[i]->kev, i + 1 < r->nlines ? "," : ".");
            rpt_printf(b, "</p>\n");
        }
    }
}

static int write_index(report *r)
{
    rpt_buf b = {0};
    rpt_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<title>mva report: ");
    rpt_escape(&b, r->info.entry);
    rpt_printf(&b, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>Report of ", rpt_css);
    rpt_escape(&b, r->results);
    rpt_printf(&b, " /");
    rpt_escape(&b, r->info.entry);
    rpt_printf(&b, "</h1>\n");
    summary(&b, r);
    if (r->pca != NULL)
        variance_table(&b, r->pca);
    if (r->nmf != NULL)
        rpt_nmf_html(&b, r->nmf, &r->nmf_lines, r->nmf_spectra, r->convergence,
                     r->o.line_tol);
    html_plots(&b, r);
    char note[384];
    snprintf(note, sizeof note, "Scores in blue (negative), white (0), red (positive); limits "
             "&plusmn; the %g-th percentile of |score|. Masked pixels grey. %zu x %zu pixels, "
             "shown x%zu.", r->o.div_pct, r->rows, r->cols, r->scale);
    gallery(&b, r, GROUP_PCA, "Eigenimages", note, "colorbar_diverging.png");
    snprintf(note, sizeof note, "viridis, limits at the %g and %g percentiles. Masked pixels "
             "grey.", r->o.lo_pct, r->o.hi_pct);
    gallery(&b, r, GROUP_ROI, "Total counts and ROI images", note, "colorbar_viridis.png");
    snprintf(note, sizeof note, "Counts of each component per pixel (its abundance, the "
             "spectrum summing to 1). viridis, limits at the %g and %g percentiles. Masked "
             "pixels grey. %zu x %zu pixels, shown x%zu.", r->o.lo_pct, r->o.hi_pct, r->rows,
             r->cols, r->scale);
    gallery(&b, r, GROUP_NMF, "NMF abundances", note, "colorbar_viridis.png");
    if (r->montage) {
        rpt_printf(&b, "<h2>Montage</h2>\n<p class=\"note\">Left to right, top to bottom:");
        for (size_t i = 0; i < r->ntiles; i++) {
            rpt_printf(&b, " ");
            rpt_escape(&b, r->tiles[i].caption);
            rpt_printf(&b, "%s", i + 1 < r->ntiles ? ";" : ".");
        }
        rpt_printf(&b, "</p>\n<p><a href=\"montage.png\"><img class=\"plot\" src=\"montage.png\" "
                       "alt=\"montage of all images\"></a></p>\n");
    }
    params_table(&b, &r->info);
    rpt_printf(&b, "<p class=\"note\">Written by mva %s.</p>\n</body>\n</html>\n", mva_version());
    char path[4096];
    out_path(r, "index.html", path, sizeof path);
    int rc = rpt_write_text(path, &b, r->err);
    rpt_buf_free(&b);
    return rc;
}

/* ---- the whole report ---- */

static int check_opts(const mva_report_opts *o, mva_error *err)
{
    if (!(o->lo_pct >= 0 && o->lo_pct < o->hi_pct && o->hi_pct <= 100) ||
        !(o->div_pct > 0 && o->div_pct <= 100) || !(o->line_tol > 0) || o->scale > 1000)
        return mva_error_set(err, MVA_EINVAL,
                             "mva_report_write: options out of range (percentiles %g, %g, %g; "
                             "line tolerance %g keV; scale %zu)",
                             o->lo_pct, o->hi_pct, o->div_pct, o->line_tol, o->scale);
    return MVA_OK;
}

static int run(report *r, const char *entry)
{
    int rc = rpt_info_read(r->results, entry, &r->info, r->err);
    if (rc == MVA_OK && r->info.has_cluster) {
        rc = make_dir(r->dir, r->err);
        return rc == MVA_OK ? rpt_cluster_report(r->results, &r->info, r->dir, &r->o, r->err)
                            : rc;
    }
    if (rc == MVA_OK && r->info.has_select) {
        rc = make_dir(r->dir, r->err);
        return rc == MVA_OK ? rpt_selection_report(r->results, &r->info, r->dir, &r->o, r->err)
                            : rc;
    }
    if (rc == MVA_OK && r->info.has_pca)
        rc = mva_result_read_pca(r->results, r->info.entry, &r->pca, r->err);
    if (rc == MVA_OK && r->info.has_roi)
        rc = mva_result_read_roi(r->results, r->info.entry, &r->roi, r->err);
    if (rc == MVA_OK && r->info.has_nmf)
        rc = mva_result_read_nmf(r->results, r->info.entry, &r->nmf, r->err);
    if (rc != MVA_OK)
        return rc;
    r->rows = r->pca ? r->pca->rows : r->roi ? r->roi->rows : r->nmf->rows;
    r->cols = r->pca ? r->pca->cols : r->roi ? r->roi->cols : r->nmf->cols;
    r->scale = r->o.scale ? r->o.scale
                          : mva_report_auto_scale(r->rows, r->cols, r->o.min_side, MAX_SIDE);
    rc = make_dir(r->dir, r->err);
    if (rc == MVA_OK)
        rc = write_images(r);
    if (rc == MVA_OK)
        rc = write_montage(r);
    if (rc == MVA_OK)
        rc = write_plots(r);
    if (rc == MVA_OK)
        rc = write_index(r);
    return rc;
}

int mva_report_write(const char *results, const char *entry, const char *dir,
                     const mva_report_opts *opts, mva_error *err)
{
    if (results == NULL || dir == NULL || dir[0] == '\0')
        return mva_error_set(err, MVA_EINVAL, "mva_report_write: need a results file and a "
                                              "directory");
    report r;
    memset(&r, 0, sizeof r);
    r.results = results;
    r.dir = dir;
    r.err = err;
    r.o = opts ? *opts : mva_report_opts_default();
    int rc = check_opts(&r.o, err);
    if (rc != MVA_OK)
        return rc;
    /* SVG and HTML numbers need a '.' whatever LC_NUMERIC the program chose: switch this
     * thread (only) to the C locale while writing. */
    locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    locale_t old = c != (locale_t)0 ? uselocale(c) : (locale_t)0;
    rc = run(&r, entry);
    if (c != (locale_t)0) {
        uselocale(old);
        freelocale(c);
    }
    rpt_info_free(&r.info);
    mva_pca_model_free(r.pca);
    mva_roi_result_free(r.roi);
    mva_nmf_model_free(r.nmf);
    rpt_nmf_lines_free(&r.nmf_lines);
    free(r.tiles);
    return rc;
}
