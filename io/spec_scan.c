/*
 * What open takes from a scan's header before the scan joins the map: its #@CHANN and #@CALIB
 * lines (one per detector or one for all), the mesh command of its #S line, and its first
 * spectrum, checked against #@CHANN.  See specread.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "specread.h"

void spec_pick_header(const spec_reader *r, const spec_scan *sc, size_t det, scan_head *h)
{
    const char *s = r->map + sc->hdr, *e, *end = r->map + sc->body;
    const char *chann[2] = {NULL, NULL}, *calib[2] = {NULL, NULL};
    size_t nchann = 0, ncalib = 0;
    for (; s < end; s = e + 1) {
        e = memchr(s, '\n', (size_t)(end - s));
        if (e == NULL)
            e = end;
        if (e - s >= 7 && memcmp(s, "#@CHANN", 7) == 0) {
            if (nchann == 0)
                chann[0] = s;
            if (nchann++ == det)
                chann[1] = s;
        } else if (e - s >= 7 && memcmp(s, "#@CALIB", 7) == 0) {
            if (ncalib == 0)
                calib[0] = s;
            if (ncalib++ == det)
                calib[1] = s;
        }
    }
    h->chann = nchann == sc->ndet && chann[1] ? chann[1] : chann[0];
    h->calib = ncalib == sc->ndet && calib[1] ? calib[1] : calib[0];
}

/* A whole number in [0, 1e15]. */
static int whole(double v)
{
    return v >= 0 && v <= 1e15 && v == (double)(size_t)v;
}

/*
 * "#@CHANN n first last step": the MCA has n channels, the spectra hold channels first,
 * first + step, ..., last (silx: range(first, last + 1, step)); e.g. APS 33-ID writes
 * "#@CHANN 1201 1110 1200 1" before spectra of 91 values.  "#@CHANN n" alone: n values
 * from channel 0.  0, or -1 with the reason in why.
 */
static int read_chann(const spec_reader *r, const char *s, chan_info *c, char *why)
{
    double v[4] = {0, 0, 0, 1};
    int k = spec_line_numbers(r, s, line_end(r, s), v, 4);
    c->from_chann = 1;
    c->first = 0;
    c->step = 1;
    c->p = 0;
    if (k < 1 || !whole(v[0]) || v[0] < 1 || (k >= 2 && !whole(v[1])))
        goto bad;
    c->p = (size_t)v[0]; /* only once checked: a negative double to size_t is undefined */
    c->first = k >= 2 ? (size_t)v[1] : 0;
    if (k >= 3) {
        if (!whole(v[2]) || v[2] < v[1] || !whole(v[3]) || v[3] < 1)
            goto bad;
        c->step = (size_t)v[3];
        c->p = ((size_t)v[2] - c->first) / c->step + 1;
    }
    return 0;
bad:
    snprintf(why, WHY_CAP, "malformed #@CHANN line (expected '#@CHANN n first last step', "
                           "whole numbers, last >= first, step >= 1)");
    return -1;
}

/* "#@CALIB a b c": E = a + b ch + c ch^2 for channel number ch; the spectrum's value i is
 * channel ch = first + step i, so the calibration per index is rewritten for i.  "0 1 0" is
 * what SPEC writes for an uncalibrated MCA: not a calibration.  0, or -1 with why. */
int spec_read_calib(const spec_reader *r, const char *s, const chan_info *ch, mva_calib *cal,
                    char *why)
{
    double v[3] = {0, 0, 0};
    int k = spec_line_numbers(r, s, line_end(r, s), v, 3);
    memset(cal, 0, sizeof *cal);
    if (k < 2) {
        snprintf(why, WHY_CAP, "malformed #@CALIB line (expected '#@CALIB a b c')");
        return -1;
    }
    if (v[0] == 0 && v[1] == 1 && v[2] == 0)
        return 0;
    double f = (double)ch->first, st = (double)ch->step;
    cal->known = 1;
    cal->a = v[0] + v[1] * f + v[2] * f * f;
    cal->b = (v[1] + 2 * v[2] * f) * st;
    cal->c = v[2] * st * st;
    return 0;
}

/* ---- checking a scan before it joins the map ---- */

int spec_set_fault(fault *f, size_t at, const char *fmt, ...)
{
    va_list ap;
    f->at = at;
    va_start(ap, fmt);
    vsnprintf(f->why, sizeof f->why, fmt, ap);
    va_end(ap);
    return 1;
}

/* "line L (scan K): why" into buf. */
void spec_fault_text(const spec_reader *r, const spec_scan *sc, const fault *f, char *buf,
                     size_t cap)
{
    size_t line, col;
    char key[LABEL_MAX];
    spec_locate(r->map, r->map + f->at, &line, &col);
    spec_scan_key(&r->ix, sc, key);
    snprintf(buf, cap, "line %zu (scan %s): %s", line, key, f->why);
}

/* The channels of a scan's spectra of detector det, from its #@CHANN line, else from its
 * first spectrum; that first spectrum must be numbers and agree.  0, or 1 with f set. */
int spec_scan_channels(const spec_reader *r, const spec_scan *sc, size_t det, chan_info *c,
                       fault *f)
{
    scan_head h;
    size_t k;
    const char *stop;
    spec_pick_header(r, sc, det, &h);
    memset(c, 0, sizeof *c);
    if (h.chann != NULL && read_chann(r, h.chann, c, f->why) != 0) {
        f->at = (size_t)(h.chann - r->map);
        return 1;
    }
    const char *q = r->map + r->ix.mca[sc->mca0 + det];
    int w = spec_count_values(r, q, &k, &stop);
    if (w == WALK_BAD) {
        size_t line, col;
        char tok[SHOW_MAX + 1];
        spec_locate(r->map, stop, &line, &col);
        spec_show_token(stop, r->map + r->size, tok);
        return spec_set_fault(f, (size_t)(stop - r->map), "column %zu: '%s' is not a number", col,
                              tok);
    }
    if (w == WALK_TRUNC)
        return spec_set_fault(f, (size_t)(q - r->map), "MCA spectrum continued with '\\' at the "
                              "end of the file (truncated?)");
    if (!c->from_chann) {
        if (k == 0)
            return spec_set_fault(f, (size_t)(q - r->map), "MCA spectrum without values");
        c->p = k;
        c->step = 1;
    } else if (k != c->p) {
        return spec_set_fault(f, (size_t)(q - r->map),
                              "spectrum has %zu values, expected %zu (from #@CHANN)", k, c->p);
    }
    return 0;
}

/*
 * "mesh m1 a b n1 m2 c d n2 t": m1 moves fastest, n1 intervals, so (n2 + 1) rows of
 * (n1 + 1) points.  Only commands whose name ends in "mesh" (mesh, dmesh, amesh, ...) and
 * whose arguments have this structure count: motor names that are not numbers, numbers,
 * interval counts that are integers.  A mesh cut short (an aborted scan) keeps whole rows:
 * the pixels it did not reach are read as NaN, which the pass engine masks.  Returns 1 and the
 * shape, 0 when the command is not such a mesh.
 */
int spec_mesh_shape(const spec_reader *r, const char *s, size_t points, size_t *rows,
                    size_t *cols)
{
    enum { HASH_S, NUMBER, CMD, M1, A, B, N1, M2, C, D, N2, T, NTOK };
    const char *e = line_end(r, s), *t[NTOK];
    size_t len[NTOK], n1, n2, full;
    double v;
    int k = 0;
    while (k < NTOK && spec_next_token(&s, e, &t[k], &len[k]))
        k++;
    if (k < NTOK || len[CMD] < 4 || memcmp(t[CMD] + len[CMD] - 4, "mesh", 4) != 0)
        return 0;
    if (spec_token_number(r, t[M1], len[M1], &v) == 0 ||
        spec_token_number(r, t[M2], len[M2], &v) == 0)
        return 0;
    static const int nums[] = {A, B, C, D, T};
    for (size_t j = 0; j < sizeof nums / sizeof nums[0]; j++)
        if (spec_token_number(r, t[nums[j]], len[nums[j]], &v) != 0)
            return 0;
    if (spec_token_size(t[N1], len[N1], &n1) != 0 || spec_token_size(t[N2], len[N2], &n2) != 0 ||
        mva_size_mul(n1 + 1, n2 + 1, &full) != MVA_OK)
        return 0;
    if (points == full) {
        *rows = n2 + 1;
        *cols = n1 + 1;
        return 1;
    }
    if (points < full) {
        *rows = points / (n1 + 1) + (points % (n1 + 1) != 0);
        *cols = n1 + 1;
        return 1;
    }
    return 0;
}
