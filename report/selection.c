/*
 * The report of a selection entry (mva-select): what the selected pixels have that the map
 * has not.
 *
 * Files:
 *   selection.svg   average spectrum of the selected pixels against the map's average (both
 *                   counts per pixel, so they compare), element lines at the peaks where the
 *                   selection is most enriched relative to the map
 *   mask.png        the selected pixels (bright end of viridis) among the others (dark end)
 *   index.html      summary and both, written last
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_MARKS 5       /* enriched peaks marked at most */
#define MAX_CANDIDATES 12 /* lines near peaks of the ratio looked at */
#define MIN_SHARE 0.25    /* a peak is marked when it rises at least this share of the highest */

typedef struct mark {
    const mva_report_line *line;
    double ratio;         /* smoothed (sel + 1) / (map + 1) at the line */
    char label[64];       /* "Pb La / As Ka" when the detector cannot separate them */
} mark;

typedef struct sel_report {
    const char *results, *dir;
    const rpt_info *info;
    const mva_report_opts *o;
    rpt_selection s;
    mark marks[MAX_MARKS];
    size_t nmarks;
    size_t scale;
    mva_error *err;
} sel_report;

/* The enrichment (sel + 1) / (map + 1): the +1 (a count per channel) keeps channels that
 * are empty in the map from dominating.  Averaged over +-tol/2 keV, less than the width of a
 * peak, so that one noisy channel does not make a peak. */
static double *enrichment(const rpt_selection *s, double tol)
{
    double *r = malloc(s->p * sizeof *r), *m = malloc(s->p * sizeof *m);
    if (r == NULL || m == NULL) {
        free(r);
        free(m);
        return NULL;
    }
    for (size_t j = 0; j < s->p; j++)
        r[j] = (s->avg[j] + 1) / (s->map_avg[j] + 1);
    for (size_t j = 0, a = 0, b = 0; j < s->p; j++) {
        while (a < j && s->axis[j] - s->axis[a] > tol / 2)
            a++;
        while (b + 1 < s->p && s->axis[b + 1] - s->axis[j] <= tol / 2)
            b++;
        double sum = 0;
        size_t n = 0;
        for (size_t i = a; i <= b; i++)
            if (isfinite(r[i]))
                sum += r[i], n++;
        m[j] = n ? sum / (double)n : NAN;
    }
    free(r);
    return m;
}

/* Highest value of r within tol keV of e. */
static double height_near(const rpt_selection *s, const double *r, double e, double tol)
{
    double h = NAN;
    for (size_t j = 0; j < s->p; j++)
        if (fabs(s->axis[j] - e) <= tol && isfinite(r[j]) && !(r[j] <= h))
            h = r[j];
    return h;
}

static int has_element(const sel_report *x, const char *element, const mva_report_line *not)
{
    for (size_t i = 0; i < x->nmarks; i++)
        if (x->marks[i].line != not && strcmp(x->marks[i].line->element, element) == 0)
            return 1;
    return 0;
}

/* "As Ka / Pb La": the matched line and the alpha lines within the detector's reach of it,
 * an element with another enriched line first. */
static void label_marks(sel_report *x)
{
    for (size_t i = 0; i < x->nmarks; i++) {
        mark *k = &x->marks[i];
        const mva_report_line *alt[4];
        size_t na = rpt_line_overlaps(k->line, alt, 4);
        const mva_report_line *first = k->line;
        for (size_t a = 0; a < na; a++)
            if (!has_element(x, first->element, first) && has_element(x, alt[a]->element, NULL))
                first = alt[a];
        size_t len = (size_t)snprintf(k->label, sizeof k->label, "%s %s", first->element,
                                      first->line);
        for (size_t a = 0; a <= na && len < sizeof k->label; a++) {
            const mva_report_line *l = a < na ? alt[a] : k->line;
            if (l != first)
                len += (size_t)snprintf(k->label + len, sizeof k->label - len, " / %s %s",
                                        l->element, l->line);
        }
    }
}

/* The element lines near the few peaks where the selection rises most above the map. */
static int find_marks(sel_report *x)
{
    double tol = x->o->line_tol;
    if (!x->s.axis_kev || !x->o->markers)
        return MVA_OK;
    double *r = enrichment(&x->s, tol);
    if (r == NULL)
        return mva_error_set(x->err, MVA_ENOMEM, "report: out of memory");
    const mva_report_line *cand[MAX_CANDIDATES];
    size_t nc = 0;
    int rc = mva_report_find_lines(x->s.axis, r, x->s.p, tol, cand, MAX_CANDIDATES, &nc,
                                   x->err);
    double top = 1;
    for (size_t j = 0; j < x->s.p; j++)
        if (isfinite(r[j]) && r[j] > top)
            top = r[j];
    for (size_t i = 0; rc == MVA_OK && i < nc && x->nmarks < MAX_MARKS; i++) {
        double h = height_near(&x->s, r, cand[i]->kev, tol);
        if (h > 1 && h - 1 >= MIN_SHARE * (top - 1))
            x->marks[x->nmarks++] = (mark){cand[i], h, ""};
    }
    free(r);
    label_marks(x);
    return rc;
}

static int by_x(const void *a, const void *b)
{
    double x = ((const rpt_marker *)a)->x, y = ((const rpt_marker *)b)->x;
    return (x > y) - (x < y);
}

/* With a log axis, values <= 0 (channels where nothing was counted) are drawn at the
 * smallest positive value of either curve rather than dropped. */
static void clip_positive(double *y, size_t n, double floor)
{
    for (size_t j = 0; j < n; j++)
        if (!(y[j] > 0) && !isnan(y[j]))
            y[j] = floor;
}

static int write_plot(sel_report *x)
{
    const rpt_selection *s = &x->s;
    double *a = malloc(s->p * sizeof *a), *m = malloc(s->p * sizeof *m);
    int rc = MVA_OK;
    if (a == NULL || m == NULL) {
        rc = mva_error_set(x->err, MVA_ENOMEM, "report: out of memory");
        goto done;
    }
    memcpy(a, s->avg, s->p * sizeof *a);
    memcpy(m, s->map_avg, s->p * sizeof *m);
    if (x->o->log) {
        double floor = INFINITY;
        for (size_t j = 0; j < s->p; j++) {
            if (a[j] > 0 && a[j] < floor)
                floor = a[j];
            if (m[j] > 0 && m[j] < floor)
                floor = m[j];
        }
        clip_positive(a, s->p, isfinite(floor) ? floor : 1);
        clip_positive(m, s->p, isfinite(floor) ? floor : 1);
    }
    char la[96], lm[96];
    snprintf(la, sizeof la, "selection (%.0f px)", s->n_selected);
    snprintf(lm, sizeof lm, "map (%.0f px)", s->n_valid);
    rpt_series sr[2] = {{s->axis, a, s->p, la}, {s->axis, m, s->p, lm}};
    rpt_marker mk[MAX_MARKS];
    for (size_t i = 0; i < x->nmarks; i++) {
        mk[i].x = x->marks[i].line->kev;
        snprintf(mk[i].label, sizeof mk[i].label, "%s", x->marks[i].label);
    }
    qsort(mk, x->nmarks, sizeof *mk, by_x);
    rpt_plot p = {"Average spectrum: selected pixels vs the map",
                  s->axis_kev ? "energy (keV)" : "channel",
                  x->o->log ? "counts per pixel (log scale)" : "counts per pixel", x->o->log, 4,
                  sr, 2, NULL, 0, mk, x->nmarks, NAN};
    rpt_buf b = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s/selection.svg", x->dir);
    rpt_svg_plot(&b, &p);
    rc = rpt_write_text(path, &b, x->err);
    rpt_buf_free(&b);
done:
    free(a);
    free(m);
    return rc;
}

static int write_mask(sel_report *x)
{
    size_t n = x->s.rows * x->s.cols;
    double *v = malloc(n * sizeof *v);
    if (v == NULL)
        return mva_error_set(x->err, MVA_ENOMEM, "report: out of memory");
    for (size_t i = 0; i < n; i++)
        v[i] = x->s.mask[i] ? 1.0 : 0.0;
    char path[4096];
    snprintf(path, sizeof path, "%s/mask.png", x->dir);
    int rc = mva_report_png_image(path, v, x->s.rows, x->s.cols, MVA_REPORT_CMAP_VIRIDIS, 0, 1,
                                  x->scale, x->err);
    free(v);
    return rc;
}

static double total(const double *v, size_t n)
{
    double t = 0;
    for (size_t j = 0; j < n; j++)
        if (isfinite(v[j]))
            t += v[j];
    return t;
}

static void summary(rpt_buf *b, const sel_report *x)
{
    const rpt_info *in = x->info;
    const rpt_selection *s = &x->s;
    char t[4200];
    rpt_printf(b, "<table class=\"summary\">\n");
    rpt_row(b, "results", x->results);
    snprintf(t, sizeof t, "/%s", in->entry);
    rpt_row(b, "entry", t);
    rpt_row(b, "selection", in->selection);
    snprintf(t, sizeof t, "%.0f of %.0f valid pixels (%.2f %%); map %zu x %zu pixels",
             s->n_selected, s->n_valid, s->n_valid > 0 ? 100 * s->n_selected / s->n_valid : 0.0,
             s->rows, s->cols);
    rpt_row(b, "pixels selected / valid", t);
    double sum = total(s->sum, s->p), avg = total(s->avg, s->p), map = total(s->map_avg, s->p);
    snprintf(t, sizeof t, "%.6g counts (cumulative spectrum: sum over the selected pixels); "
             "%.6g per selected pixel, %.6g per pixel of the map", sum, avg, map);
    rpt_row(b, "counts", t);
    rpt_input_row(b, in);
    snprintf(t, sizeof t, "%s %s", in->program, in->version);
    rpt_row(b, "program", t);
    rpt_row(b, "date", in->date);
    rpt_printf(b, "</table>\n");
}

static void lines_note(rpt_buf *b, const sel_report *x)
{
    if (!x->s.axis_kev) {
        rpt_printf(b, "<p class=\"note\">No energy calibration: no element lines.</p>\n");
        return;
    }
    if (x->nmarks == 0) {
        rpt_printf(b, "<p class=\"note\">No peak where the selection is enriched relative to "
                      "the map lies near an element line.</p>\n");
        return;
    }
    rpt_printf(b, "<p class=\"note\">Element lines within %.2f keV of the peaks where the "
                  "selection is most enriched relative to the map (ratio (selected + 1) / "
                  "(map + 1), smoothed):", x->o->line_tol);
    for (size_t i = 0; i < x->nmarks; i++) {
        rpt_printf(b, " ");
        rpt_escape(b, x->marks[i].label);
        rpt_printf(b, " (%.3f keV, ratio %.2f)%s", x->marks[i].line->kev, x->marks[i].ratio,
                   i + 1 < x->nmarks ? "," : ".");
    }
    rpt_printf(b, " Lines separated by a slash are too close for the detector to tell "
                  "apart.</p>\n");
}

static int write_index(sel_report *x)
{
    rpt_buf b = {0};
    rpt_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<title>mva selection report: ");
    rpt_escape(&b, x->info->entry);
    rpt_printf(&b, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>Selection ", rpt_css);
    rpt_escape(&b, x->results);
    rpt_printf(&b, " /");
    rpt_escape(&b, x->info->entry);
    rpt_printf(&b, "</h1>\n");
    summary(&b, x);
    rpt_printf(&b, "<h2>Selected pixels vs the map</h2>\n<p><a href=\"selection.svg\"><img "
                   "class=\"plot\" src=\"selection.svg\" alt=\"average spectrum of the "
                   "selected pixels against the map's\"></a></p>\n");
    lines_note(&b, x);
    rpt_printf(&b, "<h2>Mask</h2>\n<p class=\"note\">Selected pixels bright (yellow), the "
                   "others dark. %zu x %zu pixels, shown x%zu.</p>\n<div class=\"grid\">"
                   "<figure><a href=\"mask.png\"><img src=\"mask.png\" alt=\"selected pixels\">"
                   "</a><figcaption>selected pixels</figcaption></figure></div>\n",
               x->s.rows, x->s.cols, x->scale);
    rpt_printf(&b, "<p class=\"note\">Written by mva %s.</p>\n</body>\n</html>\n", mva_version());
    char path[4096];
    snprintf(path, sizeof path, "%s/index.html", x->dir);
    int rc = rpt_write_text(path, &b, x->err);
    rpt_buf_free(&b);
    return rc;
}

int rpt_selection_report(const char *results, const rpt_info *info, const char *dir,
                         const mva_report_opts *o, mva_error *err)
{
    sel_report x;
    memset(&x, 0, sizeof x);
    x.results = results;
    x.dir = dir;
    x.info = info;
    x.o = o;
    x.err = err;
    int rc = rpt_selection_read(results, info, &x.s, err);
    if (rc != MVA_OK)
        return rc;
    x.scale = o->scale ? o->scale
                       : mva_report_auto_scale(x.s.rows, x.s.cols, o->min_side, RPT_MAX_SIDE);
    rc = find_marks(&x);
    if (rc == MVA_OK)
        rc = write_plot(&x);
    if (rc == MVA_OK)
        rc = write_mask(&x);
    if (rc == MVA_OK)
        rc = write_index(&x);
    rpt_selection_free(&x.s);
    return rc;
}
