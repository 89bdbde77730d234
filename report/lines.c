/* Element lines: a small table of K and L emission energies, and the peaks of a spectrum
 * that lie near one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Emission energies (keV) of the lines most seen in XRF maps of cultural heritage, geology
 * and biology: Ka1 / Kb1 for light elements, La1 / Lb1 for heavy ones, from the X-ray Data
 * Booklet (Thompson et al., LBNL, table 1-2), rounded to the eV. */
static const mva_report_line table[] = {
    {"Si", "Ka", 1.740},  {"P", "Ka", 2.014},   {"S", "Ka", 2.308},   {"Cl", "Ka", 2.622},
    {"Ar", "Ka", 2.958},  {"K", "Ka", 3.314},   {"K", "Kb", 3.590},   {"Ca", "Ka", 3.692},
    {"Ca", "Kb", 4.013},  {"Ti", "Ka", 4.511},  {"Ti", "Kb", 4.932},  {"V", "Ka", 4.952},
    {"Cr", "Ka", 5.415},  {"Cr", "Kb", 5.947},  {"Mn", "Ka", 5.899},  {"Mn", "Kb", 6.490},
    {"Fe", "Ka", 6.404},  {"Fe", "Kb", 7.058},  {"Co", "Ka", 6.930},  {"Co", "Kb", 7.649},
    {"Ni", "Ka", 7.478},  {"Ni", "Kb", 8.265},  {"Cu", "Ka", 8.048},  {"Cu", "Kb", 8.905},
    {"Zn", "Ka", 8.639},  {"Zn", "Kb", 9.572},  {"As", "Ka", 10.544}, {"As", "Kb", 11.726},
    {"Se", "Ka", 11.222}, {"Se", "Kb", 12.496}, {"Br", "Ka", 11.924}, {"Br", "Kb", 13.291},
    {"Sr", "Ka", 14.165}, {"Sr", "Kb", 15.836}, {"Ag", "La", 2.984},  {"Sn", "La", 3.444},
    {"Sn", "Lb", 3.663},  {"Ba", "La", 4.466},  {"Ba", "Lb", 4.828},  {"W", "La", 8.398},
    {"W", "Lb", 9.672},   {"Au", "La", 9.713},  {"Au", "Lb", 11.443}, {"Hg", "La", 9.989},
    {"Hg", "Lb", 11.823}, {"Pb", "La", 10.551}, {"Pb", "Lb", 12.614}, {"Bi", "La", 10.839},
    {"Bi", "Lb", 13.024}};

const mva_report_line *mva_report_lines(size_t *n)
{
    if (n != NULL)
        *n = sizeof table / sizeof table[0];
    return table;
}

typedef struct peak {
    size_t i;
    double prominence;
} peak;

static int by_prominence(const void *a, const void *b)
{
    double x = ((const peak *)a)->prominence, y = ((const peak *)b)->prominence;
    return (x < y) - (x > y);
}

/* Index range of the points within w keV of kev[i] (kev increasing). */
static void window(const double *kev, size_t n, size_t i, double w, size_t *a, size_t *b)
{
    *a = i;
    *b = i;
    while (*a > 0 && kev[i] - kev[*a - 1] <= w)
        (*a)--;
    while (*b + 1 < n && kev[*b + 1] - kev[i] <= w)
        (*b)++;
}

/*
 * Local maxima of y within +-tol keV, with their prominence over the lowest point within
 * +-4 tol (a peak rises above its local continuum by more than the detector resolution
 * spreads it).  Maxima less prominent than 1% of the largest value are noise and dropped.
 */
static size_t find_peaks(const double *kev, const double *y, size_t n, double tol, peak *pk)
{
    double top = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(y[i]) && y[i] > top)
            top = y[i];
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        size_t a, b, c, d;
        if (!isfinite(y[i]) || !isfinite(kev[i]))
            continue;
        window(kev, n, i, tol, &a, &b);
        int is_max = 1;
        for (size_t j = a; j <= b && is_max; j++)
            if (isfinite(y[j]) && (y[j] > y[i] || (y[j] == y[i] && j < i)))
                is_max = 0;
        if (!is_max || a == i || b == i)
            continue;
        window(kev, n, i, 4 * tol, &c, &d);
        double low = y[i];
        for (size_t j = c; j <= d; j++)
            if (isfinite(y[j]) && y[j] < low)
                low = y[j];
        if (y[i] - low > 0.01 * top)
            pk[np++] = (peak){i, y[i] - low};
    }
    qsort(pk, np, sizeof *pk, by_prominence);
    return np;
}

/* 1 when the alpha line of l's element is already matched: a beta line is several times
 * weaker than its alpha, so a peak is named after a beta line only when the stronger alpha
 * peak has been found (otherwise Sn Lb would take the Ca Ka peak 29 eV away).  A peak named
 * after a line the detector cannot separate from that alpha (Pb La for As Ka) counts too. */
static int alpha_seen(const mva_report_line *l, const unsigned char *used)
{
    if (l->line[1] != 'b')
        return 1;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].line[0] == l->line[0] && table[i].line[1] == 'a' &&
            strcmp(table[i].element, l->element) == 0)
            for (size_t u = 0; u < sizeof table / sizeof table[0]; u++)
                if (used[u] && fabs(table[u].kev - table[i].kev) <= RPT_OVERLAP)
                    return 1;
    return 0;
}

size_t rpt_line_overlaps(const mva_report_line *l, const mva_report_line **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0] && n < cap; i++)
        if (&table[i] != l && table[i].line[1] == 'a' &&
            fabs(table[i].kev - l->kev) <= RPT_OVERLAP)
            out[n++] = &table[i];
    return n;
}

static const mva_report_line *nearest_line(double e, double tol, const unsigned char *used)
{
    const mva_report_line *best = NULL;
    double bd = tol;
    for (size_t l = 0; l < sizeof table / sizeof table[0]; l++) {
        double d = fabs(table[l].kev - e);
        if (!used[l] && d <= bd && alpha_seen(&table[l], used)) {
            best = &table[l];
            bd = d;
        }
    }
    return best;
}

int mva_report_find_lines(const double *kev, const double *y, size_t n, double tol,
                          const mva_report_line **out, size_t cap, size_t *nout,
                          mva_error *err)
{
    *nout = 0;
    if ((n > 0 && (kev == NULL || y == NULL)) || !(tol > 0) || (cap > 0 && out == NULL))
        return mva_error_set(err, MVA_EINVAL,
                             "mva_report_find_lines: need energies, values and tol > 0");
    peak *pk = malloc((n ? n : 1) * sizeof *pk);
    if (pk == NULL)
        return mva_error_set(err, MVA_ENOMEM, "report: no memory for %zu peaks", n);
    unsigned char used[sizeof table / sizeof table[0]] = {0};
    size_t np = find_peaks(kev, y, n, tol, pk);
    for (size_t q = 0; q < np && *nout < cap; q++) {
        const mva_report_line *l = nearest_line(kev[pk[q].i], tol, used);
        if (l != NULL) {
            used[l - table] = 1;
            out[(*nout)++] = l;
        }
    }
    free(pk);
    return MVA_OK;
}
