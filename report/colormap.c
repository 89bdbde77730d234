/* Colormaps and contrast limits of the report images. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* An anchor colour at position t of a colormap; between anchors the colour is interpolated
 * linearly in sRGB. */
typedef struct anchor {
    double t;
    unsigned char r, g, b;
} anchor;

/* viridis (van der Walt & Smith, matplotlib 1.5), sampled at ten equally spaced points as
 * published in R's viridisLite viridis(10): #440154 #482878 #3E4A89 #31688E #26828E
 * #1F9E89 #35B779 #6DCD59 #B4DE2C #FDE725.  Linear interpolation between them stays within
 * a few units of the full 256-entry table and keeps the lightness monotonic. */
static const anchor viridis[] = {
    {0.0 / 9, 0x44, 0x01, 0x54}, {1.0 / 9, 0x48, 0x28, 0x78}, {2.0 / 9, 0x3E, 0x4A, 0x89},
    {3.0 / 9, 0x31, 0x68, 0x8E}, {4.0 / 9, 0x26, 0x82, 0x8E}, {5.0 / 9, 0x1F, 0x9E, 0x89},
    {6.0 / 9, 0x35, 0xB7, 0x79}, {7.0 / 9, 0x6D, 0xCD, 0x59}, {8.0 / 9, 0xB4, 0xDE, 0x2C},
    {9.0 / 9, 0xFD, 0xE7, 0x25}};

/* Blue - white - red after ColorBrewer's RdBu (Brewer 2003), with pure white in the middle
 * so that a zero score is exactly white, negative blue, positive red. */
static const anchor diverging[] = {{0.00, 0x21, 0x66, 0xAC},
                                   {0.25, 0x92, 0xC5, 0xDE},
                                   {0.50, 0xFF, 0xFF, 0xFF},
                                   {0.75, 0xF4, 0xA5, 0x82},
                                   {1.00, 0xB2, 0x18, 0x2B}};

static unsigned char lerp(unsigned char a, unsigned char b, double f)
{
    double v = (double)a + f * ((double)b - (double)a);
    return (unsigned char)lround(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void interpolate(const anchor *a, size_t n, double t, unsigned char rgb[3])
{
    size_t i = 0;
    while (i + 2 < n && t > a[i + 1].t)
        i++;
    double f = (t - a[i].t) / (a[i + 1].t - a[i].t);
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    rgb[0] = lerp(a[i].r, a[i + 1].r, f);
    rgb[1] = lerp(a[i].g, a[i + 1].g, f);
    rgb[2] = lerp(a[i].b, a[i + 1].b, f);
}

int mva_report_colormap(mva_report_cmap cmap, double t, unsigned char rgb[3])
{
    if (cmap != MVA_REPORT_CMAP_VIRIDIS && cmap != MVA_REPORT_CMAP_DIVERGING)
        return MVA_EINVAL;
    if (isnan(t)) {
        rgb[0] = rgb[1] = rgb[2] = MVA_REPORT_NAN_GREY;
        return MVA_OK;
    }
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    if (cmap == MVA_REPORT_CMAP_VIRIDIS)
        interpolate(viridis, sizeof viridis / sizeof viridis[0], t, rgb);
    else
        interpolate(diverging, sizeof diverging / sizeof diverging[0], t, rgb);
    return MVA_OK;
}

int mva_report_colormap_from_name(const char *name)
{
    if (name != NULL && strcmp(name, "viridis") == 0)
        return MVA_REPORT_CMAP_VIRIDIS;
    if (name != NULL && strcmp(name, "diverging") == 0)
        return MVA_REPORT_CMAP_DIVERGING;
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The finite values of v (as |v| when absolute), sorted, into a new array. */
static int sorted_finite(const double *v, size_t n, int absolute, double **out, size_t *m,
                         mva_error *err)
{
    *m = 0;
    *out = malloc((n ? n : 1) * sizeof **out);
    if (*out == NULL)
        return mva_error_set(err, MVA_ENOMEM, "report: no memory to sort %zu values", n);
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]))
            (*out)[(*m)++] = absolute ? fabs(v[i]) : v[i];
    qsort(*out, *m, sizeof **out, cmp_double);
    return MVA_OK;
}

/* Percentile of sorted s[0..m) by linear interpolation between order statistics (the
 * "linear" method of numpy.percentile, Hyndman & Fan type 7). */
static double percentile(const double *s, size_t m, double pct)
{
    if (m == 0)
        return 0;
    double pos = pct / 100.0 * (double)(m - 1);
    size_t i = (size_t)floor(pos);
    if (i + 1 >= m)
        return s[m - 1];
    return s[i] + (pos - (double)i) * (s[i + 1] - s[i]);
}

int mva_report_limits(const double *v, size_t n, double lo_pct, double hi_pct, double *lo,
                      double *hi, mva_error *err)
{
    if (!(lo_pct >= 0 && lo_pct <= hi_pct && hi_pct <= 100) || (v == NULL && n > 0))
        return mva_error_set(err, MVA_EINVAL,
                             "report: percentiles %g, %g: expected 0 <= lo <= hi <= 100", lo_pct,
                             hi_pct);
    double *s = NULL;
    size_t m = 0;
    int rc = sorted_finite(v, n, 0, &s, &m, err);
    if (rc == MVA_OK) {
        *lo = percentile(s, m, lo_pct);
        *hi = percentile(s, m, hi_pct);
    }
    free(s);
    return rc;
}

int mva_report_limits_symmetric(const double *v, size_t n, double pct, double *lim,
                                mva_error *err)
{
    if (!(pct >= 0 && pct <= 100) || (v == NULL && n > 0))
        return mva_error_set(err, MVA_EINVAL, "report: percentile %g: expected 0..100", pct);
    double *s = NULL;
    size_t m = 0;
    int rc = sorted_finite(v, n, 1, &s, &m, err);
    if (rc == MVA_OK)
        *lim = percentile(s, m, pct);
    free(s);
    return rc;
}

size_t mva_report_auto_scale(size_t rows, size_t cols, size_t min_side, size_t max_side)
{
    size_t short_side = rows < cols ? rows : cols, long_side = rows < cols ? cols : rows;
    if (short_side == 0 || short_side >= min_side)
        return 1;
    size_t s = (min_side + short_side - 1) / short_side;
    if (max_side > 0 && s * long_side > max_side)
        s = max_side / long_side;
    return s ? s : 1;
}
