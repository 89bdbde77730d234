/*
 * The NMF parts of a report (an NMF entry of mva_result_write); report.c draws the abundance
 * maps with the other images and calls these for the rest.
 *
 * Files:
 *   nmf_spectra.svg   the component spectra (each sums to 1) over energy or channel, one
 *                     curve per component, dashed lines at the element lines of the
 *                     strongest peaks of each component's own spectrum (not of their sum:
 *                     a minor component's peaks would drown in the major ones)
 *   convergence.svg   the objective after each pass of updates, relative to the final one
 *                     (log y)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_MARKERS 16 /* element lines marked on nmf_spectra.svg at most */

int rpt_nmf_find_lines(const mva_nmf_model *m, double tol, rpt_nmf_lines *out, mva_error *err)
{
    memset(out, 0, sizeof *out);
    if (m->energy == NULL)
        return MVA_OK; /* no calibration: no energies to match */
    out->line = calloc(m->k, sizeof *out->line);
    out->n = calloc(m->k, sizeof *out->n);
    if (out->line == NULL || out->n == NULL) {
        rpt_nmf_lines_free(out);
        return mva_error_set(err, MVA_ENOMEM, "report: out of memory");
    }
    for (size_t q = 0; q < m->k; q++)
        if (mva_report_find_lines(m->energy, m->spectra + q * m->p, m->p, tol, out->line[q],
                                  RPT_NMF_LINES, &out->n[q], NULL) != MVA_OK)
            out->n[q] = 0;
    return MVA_OK;
}

void rpt_nmf_lines_free(rpt_nmf_lines *l)
{
    free(l->line);
    free(l->n);
    memset(l, 0, sizeof *l);
}

static int by_x(const void *a, const void *b)
{
    double x = ((const rpt_marker *)a)->x, y = ((const rpt_marker *)b)->x;
    return (x > y) - (x < y);
}

/* The lines of all components as plot markers, each once: the strongest of every component
 * first, then the second..., so that every component gets its main line marked before the
 * major ones get their minor lines.  Sorted by energy, as rpt_plot asks. */
static size_t markers(const mva_nmf_model *m, const rpt_nmf_lines *l, rpt_marker *mk)
{
    const mva_report_line *seen[MAX_MARKERS];
    size_t n = 0;
    for (size_t r = 0; l->n != NULL && r < RPT_NMF_LINES; r++)
        for (size_t q = 0; q < m->k && n < MAX_MARKERS; q++) {
            if (r >= l->n[q])
                continue;
            const mva_report_line *x = l->line[q][r];
            int dup = 0;
            for (size_t i = 0; i < n && !dup; i++)
                dup = seen[i] == x;
            if (dup)
                continue;
            seen[n] = x;
            mk[n].x = x->kev;
            snprintf(mk[n].label, sizeof mk[n].label, "%s %s", x->element, x->line);
            n++;
        }
    qsort(mk, n, sizeof *mk, by_x);
    return n;
}

static int write_svg(const char *dir, const char *name, const rpt_plot *p, mva_error *err)
{
    char path[4096];
    rpt_buf b = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    rpt_svg_plot(&b, p);
    int rc = rpt_write_text(path, &b, err);
    rpt_buf_free(&b);
    return rc;
}

static int write_spectra(const mva_nmf_model *m, const rpt_nmf_lines *l, const char *dir,
                         int with_markers, mva_error *err)
{
    double *x = malloc(m->p * sizeof *x);
    rpt_series *s = calloc(m->k, sizeof *s);
    char(*labels)[24] = calloc(m->k, sizeof *labels);
    int rc = x && s && labels ? MVA_OK : mva_error_set(err, MVA_ENOMEM, "report: out of memory");
    for (size_t j = 0; rc == MVA_OK && j < m->p; j++)
        x[j] = m->energy ? m->energy[j] : (double)j;
    for (size_t q = 0; rc == MVA_OK && q < m->k; q++) {
        snprintf(labels[q], sizeof labels[q], "NMF%zu", q + 1);
        s[q] = (rpt_series){x, m->spectra + q * m->p, m->p, labels[q]};
    }
    if (rc == MVA_OK) {
        rpt_marker mk[MAX_MARKERS];
        size_t nm = with_markers ? markers(m, l, mk) : 0;
        rpt_plot p = {"NMF component spectra (each sums to 1)",
                      m->energy ? "energy (keV)" : "channel", "fraction of the component's counts",
                      0, 0, s, m->k, NULL, 0, mk, nm, NAN};
        rc = write_svg(dir, "nmf_spectra.svg", &p, err);
    }
    free(x);
    free(s);
    free(labels);
    return rc;
}

/* The objective after each pass relative to the final one (when that is positive), so that
 * the axis reads "how far above the end" however large ||X||^2 is: a warm start that
 * converges in two passes spans 1.0001 to 1, a random start decades. */
static int write_convergence(const mva_nmf_model *m, const char *dir, mva_error *err)
{
    size_t n = m->iterations;
    double *x = malloc(2 * n * sizeof *x), *y = x + n;
    if (x == NULL)
        return mva_error_set(err, MVA_ENOMEM, "report: out of memory");
    double last = m->history[n - 1];
    int rel = isfinite(last) && last > 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = (double)(i + 1);
        y[i] = rel ? m->history[i] / last : m->history[i];
    }
    rpt_series s = {x, y, n, NULL};
    char title[160], ylabel[96];
    snprintf(title, sizeof title, "Convergence: %s after each pass, final %.6g (%s)",
             m->method == MVA_NMF_KL ? "KL divergence" : "||X - WH||^2", last,
             m->converged ? "converged" : "stopped at the pass limit");
    snprintf(ylabel, sizeof ylabel, "%s (log scale)", rel ? "objective / final objective"
                                                          : "objective");
    rpt_plot p = {title, "pass of updates", ylabel, 1, 0, &s, 1, NULL, 0, NULL, 0, NAN};
    int rc = write_svg(dir, "convergence.svg", &p, err);
    free(x);
    return rc;
}

int rpt_nmf_plots(const mva_nmf_model *m, const rpt_nmf_lines *l, const char *dir,
                  const mva_report_opts *o, int *spectra, int *convergence, mva_error *err)
{
    *spectra = *convergence = 0;
    int rc = write_spectra(m, l, dir, o->markers, err);
    *spectra = rc == MVA_OK;
    if (rc == MVA_OK && m->iterations > 0 && m->history != NULL) {
        rc = write_convergence(m, dir, err);
        *convergence = rc == MVA_OK;
    }
    return rc;
}

void rpt_nmf_summary(rpt_buf *b, const mva_nmf_model *m)
{
    char t[256];
    snprintf(t, sizeof t, "NMF, %s, start %s%s", mva_nmf_method_name(m->method),
             mva_nmf_init_name(m->init), m->poisson ? ", Poisson scaling" : "");
    if (m->init == MVA_NMF_INIT_RANDOM)
        snprintf(t + strlen(t), sizeof t - strlen(t), " (seed %llu)",
                 (unsigned long long)m->seed);
    rpt_row(b, "method", t);
    snprintf(t, sizeof t, "%zu", m->k);
    rpt_row(b, "k", t);
    snprintf(t, sizeof t, "%zu passes of updates (%zu passes over the data in all)",
             m->iterations, m->passes);
    rpt_row(b, "passes", t);
    if (m->converged)
        snprintf(t, sizeof t, "yes: relative change below %g", m->tol);
    else
        snprintf(t, sizeof t, "no: stopped after %zu passes (tolerance %g)", m->max_iter, m->tol);
    rpt_row(b, "converged", t);
    if (m->method == MVA_NMF_KL)
        snprintf(t, sizeof t, "KL divergence %.6g", m->objective);
    else
        snprintf(t, sizeof t, "||X - WH||^2 = %.6g, relative error ||X - WH|| / ||X|| = %.4g%s",
                 m->objective, m->rel_error, m->poisson ? " (scaled data)" : "");
    rpt_row(b, "final objective", t);
    snprintf(t, sizeof t, "%zu of %zu", m->n_valid, m->rows * m->cols);
    rpt_row(b, "valid pixels", t);
    snprintf(t, sizeof t, "%.3f s", m->seconds);
    rpt_row(b, "time", t);
}

/* Per component: share of the modelled counts, the counts themselves (sum of the abundance
 * map over the valid pixels) and the element lines of its spectrum's strongest peaks. */
static void share_table(rpt_buf *b, const mva_nmf_model *m, const rpt_nmf_lines *l)
{
    size_t n = m->rows * m->cols;
    rpt_printf(b, "<h2>Components</h2>\n<table class=\"num\">\n<tr><th>component</th>"
                  "<th>share of counts</th><th>counts</th>%s</tr>\n",
               l->n ? "<th>element lines (strongest peaks)</th>" : "");
    for (size_t q = 0; q < m->k; q++) {
        double sum = 0;
        for (size_t i = 0; i < n; i++)
            if (isfinite(m->abundances[q * n + i]))
                sum += m->abundances[q * n + i];
        rpt_printf(b, "<tr><td>NMF%zu</td><td>%.3f %%</td><td>", q + 1, 100 * m->share[q]);
        rpt_num(b, sum, 6);
        rpt_printf(b, "</td>");
        if (l->n != NULL) {
            rpt_printf(b, "<td style=\"text-align:left\">");
            for (size_t i = 0; i < l->n[q]; i++)
                rpt_printf(b, "%s%s %s (%.3f keV)", i ? ", " : "", l->line[q][i]->element,
                           l->line[q][i]->line, l->line[q][i]->kev);
            rpt_printf(b, "%s</td>", l->n[q] ? "" : "&ndash;");
        }
        rpt_printf(b, "</tr>\n");
    }
    rpt_printf(b, "</table>\n");
}

void rpt_nmf_html(rpt_buf *b, const mva_nmf_model *m, const rpt_nmf_lines *l, int spectra,
                  int convergence, double line_tol)
{
    share_table(b, m, l);
    if (spectra) {
        rpt_printf(b, "<h2>NMF component spectra</h2>\n<p><a href=\"nmf_spectra.svg\"><img "
                      "class=\"plot\" src=\"nmf_spectra.svg\" alt=\"NMF component spectra\">"
                      "</a></p>\n");
        if (l->n != NULL)
            rpt_printf(b, "<p class=\"note\">Dashed: element lines within %.2f keV of the "
                          "strongest peaks of each component's spectrum.</p>\n", line_tol);
        else
            rpt_printf(b, "<p class=\"note\">No energy calibration: spectra over channels, "
                          "no element lines.</p>\n");
    }
    if (convergence)
        rpt_printf(b, "<h2>Convergence</h2>\n<p><a href=\"convergence.svg\"><img "
                      "class=\"plot\" src=\"convergence.svg\" alt=\"objective per pass\">"
                      "</a></p>\n");
}
