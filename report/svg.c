/* SVG line plots: axes with round-number ticks, one <polyline> per series, shaded bands,
 * dashed labelled markers.  Plain SVG 1.1, no script, no external resource. */
#include <math.h>
#include <string.h>

#include "internal.h"

enum { W = 860, H = 440, ML = 90, MR = 24, MT = 40, MB = 56, MAX_TICKS = 20 };

/* A categorical palette (matplotlib's tab10, Vega category10) for the curves. */
static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

typedef struct frame {
    double x0, x1, y0, y1;
    int xint; /* every x is a whole number (passes, components): no fractional x ticks */
} frame;

static double ty(const rpt_plot *p, double y)
{
    return p->logy ? (y > 0 ? log10(y) : NAN) : y;
}

static void widen(double *lo, double *hi, double v)
{
    if (!isfinite(v))
        return;
    if (v < *lo)
        *lo = v;
    if (v > *hi)
        *hi = v;
}

/* Data limits of every series (x also of bands and markers), padded a little in y. */
static frame limits(const rpt_plot *p)
{
    frame f = {INFINITY, -INFINITY, INFINITY, -INFINITY, 1};
    for (size_t s = 0; s < p->nseries; s++)
        for (size_t i = 0; i < p->series[s].n; i++) {
            double y = ty(p, p->series[s].y[i]);
            if (isfinite(y) && isfinite(p->series[s].x[i])) {
                f.xint = f.xint && p->series[s].x[i] == floor(p->series[s].x[i]);
                widen(&f.x0, &f.x1, p->series[s].x[i]);
                widen(&f.y0, &f.y1, y);
            }
        }
    if (!(f.x0 <= f.x1))
        f.x0 = 0, f.x1 = 1;
    if (!(f.y0 <= f.y1))
        f.y0 = 0, f.y1 = 1;
    if (f.x1 == f.x0)
        f.x0 -= 0.5, f.x1 += 0.5;
    if (p->logy && p->logy_span > 0 && f.y1 - f.y0 > p->logy_span)
        f.y0 = f.y1 - p->logy_span;
    double pad = f.y1 > f.y0 ? 0.05 * (f.y1 - f.y0) : (fabs(f.y0) > 0 ? 0.1 * fabs(f.y0) : 1);
    f.y0 -= pad;
    f.y1 += pad;
    return f;
}

static double sx(const frame *f, double x)
{
    return ML + (x - f->x0) / (f->x1 - f->x0) * (W - ML - MR);
}

static double sy(const frame *f, double y)
{
    return H - MB - (y - f->y0) / (f->y1 - f->y0) * (H - MT - MB);
}

/* A round tick step (1, 2 or 5 times a power of ten) giving about n ticks over span. */
static double nice_step(double span, int n)
{
    double raw = span / n, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

/* Significant digits that tell ticks st apart near v (at least 4, at most 12): a narrow
 * range far from 0 (an objective settling at 9.6869e6) needs more than the usual 4. */
static int tick_digits(double v, double st)
{
    if (!(st > 0) || !(fabs(v) > st))
        return 4;
    int d = (int)ceil(log10(fabs(v) / st)) + 1;
    return d < 4 ? 4 : d > 12 ? 12 : d;
}

/* One y tick at plot coordinate y (log10 of the value on a log axis), labelled with v,
 * or "1e<y>" for a whole decade when decade is set. */
static void ytick(rpt_buf *b, const frame *f, double y, double v, int digits, int decade)
{
    rpt_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#444\"/>",
               ML - 5, sy(f, y), ML, sy(f, y));
    rpt_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", ML - 8, sy(f, y) + 4);
    if (decade)
        rpt_printf(b, "1e%.0f", y);
    else
        rpt_num(b, v, digits);
    rpt_printf(b, "</text>\n");
}

/* Linear y: round steps.  Log y over a decade or more: whole decades, labelled 10^n.  Log y
 * over less than a decade (an objective settling): round steps of the values themselves,
 * placed at their logarithms, so that the labels read 1.2, 1.4 rather than 10^0.1 steps. */
static void yticks(rpt_buf *b, const rpt_plot *p, const frame *f)
{
    /* Ticks counted by an integer (at most MAX_TICKS), as for x. */
    int values = p->logy && f->y1 - f->y0 < 1;
    double lo = values ? pow(10, f->y0) : f->y0, hi = values ? pow(10, f->y1) : f->y1;
    double st = nice_step(hi - lo, 6);
    if (p->logy && !values && st < 1)
        st = 1;
    double first = ceil(lo / st);
    int digits = tick_digits(fmax(fabs(lo), fabs(hi)), st);
    for (int i = 0; i < MAX_TICKS && isfinite(first); i++) {
        double v = (first + i) * st;
        if (v > hi + 1e-9 * st)
            break;
        if (fabs(v) < 1e-9 * st)
            v = 0;
        if (values && !(v > 0))
            continue;
        ytick(b, f, values ? log10(v) : v, v, digits, p->logy && !values);
    }
}

static void axes(rpt_buf *b, const rpt_plot *p, const frame *f)
{
    rpt_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                  "stroke=\"#444\"/>\n", ML, MT, W - ML - MR, H - MT - MB);
    /* Ticks counted by an integer (at most MAX_TICKS): x += st could stall when st is below
     * the spacing of doubles near x. */
    double st = nice_step(f->x1 - f->x0, 8), first;
    if (f->xint && st < 1)
        st = 1;
    first = ceil(f->x0 / st);
    for (int i = 0; i < MAX_TICKS && isfinite(first); i++) {
        double x = (first + i) * st;
        if (x > f->x1 + 1e-9 * st)
            break;
        rpt_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#444\"/>",
                   sx(f, x), H - MB, sx(f, x), H - MB + 5);
        rpt_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", sx(f, x), H - MB + 19);
        rpt_num(b, fabs(x) < 1e-9 * st ? 0 : x, 6);
        rpt_printf(b, "</text>\n");
    }
    yticks(b, p, f);
    rpt_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (ML + W - MR) / 2, H - 14);
    rpt_escape(b, p->xlabel);
    rpt_printf(b, "</text>\n<text transform=\"translate(18,%d) rotate(-90)\" "
                  "text-anchor=\"middle\">", (MT + H - MB) / 2);
    rpt_escape(b, p->ylabel);
    rpt_printf(b, "</text>\n<text x=\"%d\" y=\"24\" font-size=\"16\" font-weight=\"bold\">", ML);
    rpt_escape(b, p->title);
    rpt_printf(b, "</text>\n");
}

static void bands(rpt_buf *b, const rpt_plot *p, const frame *f)
{
    for (size_t i = 0; i < p->nbands; i++) {
        double a = sx(f, p->bands[i].x0), c = sx(f, p->bands[i].x1);
        if (c - a < 1)
            c = a + 1;
        rpt_printf(b, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#ffd54f\" "
                      "fill-opacity=\"0.35\"/>", a, MT, c - a, H - MT - MB);
        rpt_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#8a6d00\">",
                   (a + c) / 2, H - MB - 6);
        rpt_escape(b, p->bands[i].label);
        rpt_printf(b, "</text>\n");
    }
}

static void markers(rpt_buf *b, const rpt_plot *p, const frame *f)
{
    for (size_t i = 0; i < p->nmarkers; i++) {
        double x = sx(f, p->markers[i].x);
        /* Labels cycle through three heights so that neighbouring lines stay readable. */
        int y = MT + 14 + 14 * (int)(i % 3);
        rpt_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#555\" "
                      "stroke-dasharray=\"4 3\"/>", x, y + 4, x, H - MB);
        rpt_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#333\">", x, y);
        rpt_escape(b, p->markers[i].label);
        rpt_printf(b, "</text>\n");
    }
}

static void series(rpt_buf *b, const rpt_plot *p, const frame *f, size_t s)
{
    const rpt_series *r = &p->series[s];
    rpt_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"",
               palette[s % (sizeof palette / sizeof palette[0])]);
    for (size_t i = 0; i < r->n; i++) {
        double y = ty(p, r->y[i]);
        if (isfinite(y) && isfinite(r->x[i]))
            rpt_printf(b, "%.2f,%.2f ", sx(f, r->x[i]), sy(f, y));
    }
    rpt_printf(b, "\"/>\n");
}

static void legend(rpt_buf *b, const rpt_plot *p)
{
    /* Room for the longest label at about 7 pixels a character (12 px sans-serif). */
    int row = 0, room = 90;
    for (size_t s = 0; s < p->nseries; s++)
        if (p->series[s].label != NULL && 7 * (int)strlen(p->series[s].label) + 8 > room)
            room = 7 * (int)strlen(p->series[s].label) + 8;
    if (room > (W - ML - MR) / 2)
        room = (W - ML - MR) / 2;
    for (size_t s = 0; s < p->nseries; s++) {
        if (p->series[s].label == NULL)
            continue;
        int y = MT + 16 + 16 * row++;
        rpt_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                      "stroke-width=\"3\"/><text x=\"%d\" y=\"%d\">", W - MR - room - 30,
                   y - 4, W - MR - room - 6, y - 4,
                   palette[s % (sizeof palette / sizeof palette[0])], W - MR - room, y);
        rpt_escape(b, p->series[s].label);
        rpt_printf(b, "</text>\n");
    }
}

static void mark_point(rpt_buf *b, const rpt_plot *p, const frame *f)
{
    if (isnan(p->mark_x) || p->nseries == 0)
        return;
    const rpt_series *r = &p->series[0];
    for (size_t i = 0; i < r->n; i++) {
        double y = ty(p, r->y[i]);
        if (r->x[i] == p->mark_x && isfinite(y)) {
            rpt_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"7\" fill=\"none\" stroke=\"#d62728\" "
                          "stroke-width=\"2\"/><text x=\"%.2f\" y=\"%.2f\" fill=\"#d62728\">"
                          "chosen k</text>\n", sx(f, r->x[i]), sy(f, y), sx(f, r->x[i]) + 10,
                       sy(f, y) - 10);
            return;
        }
    }
}

void rpt_svg_plot(rpt_buf *b, const rpt_plot *p)
{
    frame f = limits(p);
    rpt_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
                  "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
                  "font-size=\"12\">\n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
               W, H, W, H, W, H);
    /* Bands and curves are clipped to the plot area. */
    rpt_printf(b, "<defs><clipPath id=\"area\"><rect x=\"%d\" y=\"%d\" width=\"%d\" "
                  "height=\"%d\"/></clipPath></defs>\n<g clip-path=\"url(#area)\">\n",
               ML, MT, W - ML - MR, H - MT - MB);
    bands(b, p, &f);
    rpt_printf(b, "</g>\n");
    axes(b, p, &f);
    markers(b, p, &f);
    rpt_printf(b, "<g clip-path=\"url(#area)\">\n");
    for (size_t s = 0; s < p->nseries; s++)
        series(b, p, &f, s);
    rpt_printf(b, "</g>\n");
    mark_point(b, p, &f);
    legend(b, p);
    rpt_printf(b, "</svg>\n");
}
