/*
 * The index of a SPEC file: scans, their MCA lines and counter lines, and what their points
 * are.  See specint.h.
 *
 * How MCA lines belong to points (silx's specfile counts a scan's '@' lines and its counter
 * lines; spech5 then takes MCA lines / counter lines per point): SPEC's MCA macros write the
 * spectra of a point next to its counter line, all before it (the usual order, e.g. APS
 * 33-ID) or all after it.  So a point is a counter line with the run of MCA lines beside it,
 * and every point of a scan must have the same run.  MCA lines after the last counter line
 * of a scan whose spectra come first belong to no point: SPEC writes a spectrum for every
 * count, also for a "ct" typed after the scan ended.  They are counted (extra) and not read.
 * A scan without counter lines has one MCA per #@CHANN line per point (one when there is
 * none), silx's rule.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "specint.h"

#define GROW_MIN 1024

void spec_locate(const char *map, const char *p, size_t *line, size_t *col)
{
    const char *q = map, *bol = map;
    size_t n = 1;
    while (q < p) {
        const char *nl = memchr(q, '\n', (size_t)(p - q));
        if (nl == NULL)
            break;
        n++;
        q = bol = nl + 1;
    }
    *line = n;
    *col = (size_t)(p - bol) + 1;
}

const char *spec_line_end(const spec_index *ix, const char *s)
{
    const char *e = memchr(s, '\n', (size_t)(ix->map + ix->size - s));
    return e ? e : ix->map + ix->size;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static int is_digit(char c)
{
    return (unsigned char)(c - '0') < 10;
}

/* Appends v to a growing array of offsets. */
static int push(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : GROW_MIN;
        uint64_t *g = c > SIZE_MAX / sizeof *g ? NULL : realloc(*a, c * sizeof *g);
        if (g == NULL)
            return MVA_ENOMEM;
        *a = g;
        *cap = c;
    }
    (*a)[(*n)++] = v;
    return MVA_OK;
}

/* ---- what a scan's points are ---- */

static void set_problem(spec_scan *s, spec_problem p, size_t at, size_t got, size_t want)
{
    if (s->problem != SPEC_SCAN_OK)
        return; /* the first fault found is the one reported */
    s->problem = p;
    s->problem_at = at;
    s->got = got;
    s->want = want;
}

/* MCA lines of the scan before byte offset `before`, from MCA index *m on. */
static size_t run_before(const spec_index *ix, const spec_scan *s, size_t *m, uint64_t before)
{
    size_t k = 0;
    while (*m < s->mca0 + s->nmca && ix->mca[*m] < before) {
        (*m)++;
        k++;
    }
    return k;
}

/* Pairs the MCA lines of a scan with its counter lines (the rule at the top). */
static void pair_points(const spec_index *ix, spec_scan *s)
{
    size_t m = s->mca0, first = run_before(ix, s, &m, ix->data[s->data0]);
    int before = first > 0; /* the spectra of a point precede its counter line */
    size_t k = first;
    for (size_t j = 1; j < s->ndata; j++) {
        uint64_t at = ix->data[s->data0 + j];
        size_t run = run_before(ix, s, &m, at);
        if (!before && j == 1)
            k = run; /* spectra follow: the run before line 1 is point 0's */
        if (run != k || k == 0) {
            /* Point j (spectra first) or j - 1 (spectra after) holds `run` spectra. */
            uint64_t line = before ? at : ix->data[s->data0 + j - 1];
            set_problem(s, SPEC_SCAN_UNEVEN, (size_t)line, run, k);
            return;
        }
    }
    size_t tail = s->mca0 + s->nmca - m;
    if (before) {
        s->extra = tail;
    } else {
        if (s->ndata == 1)
            k = tail;
        if (tail != k || k == 0) {
            set_problem(s, SPEC_SCAN_UNEVEN, (size_t)ix->data[s->data0 + s->ndata - 1], tail,
                        k);
            return;
        }
    }
    s->ndet = k;
    s->points = s->ndata;
}

static void classify(const spec_index *ix, spec_scan *s)
{
    if (s->problem != SPEC_SCAN_OK)
        return;
    if (s->nmca == 0) {
        set_problem(s, SPEC_SCAN_NO_MCA, s->hdr, 0, 0);
        return;
    }
    if (s->number < 0) {
        set_problem(s, SPEC_SCAN_NO_NUMBER, s->hdr, 0, 0);
        return;
    }
    if (s->ndata > 0) {
        pair_points(ix, s);
        return;
    }
    size_t ndet = s->nchann > 0 ? s->nchann : 1;
    if (s->nmca % ndet != 0) {
        set_problem(s, SPEC_SCAN_UNDIVIDED, s->hdr, s->nmca, ndet);
        return;
    }
    s->ndet = ndet;
    s->points = s->nmca / ndet;
}

/* ---- the pass over the lines ---- */

typedef struct builder {
    spec_index *ix;
    spec_scan *cur;       /* the scan being indexed, NULL outside scans */
    const char *cont_at;  /* the line a '\' continues, NULL when none */
} builder;

/* "#S N ...": N, or -1 when it is not a number. */
static long scan_number(const char *s, const char *e)
{
    long n = 0;
    int digits = 0;
    for (s += 2; s < e && is_blank(*s); s++)
        ;
    for (; s < e && is_digit(*s) && digits < 15; s++, digits++)
        n = n * 10 + (*s - '0');
    return digits > 0 && (s == e || is_blank(*s)) ? n : -1;
}

static void finish_scan(builder *b)
{
    if (b->cur != NULL)
        classify(b->ix, b->cur);
    b->cur = NULL;
}

static int start_scan(builder *b, const char *s, const char *e)
{
    spec_index *ix = b->ix;
    finish_scan(b);
    if (ix->nscan == ix->scan_cap) {
        size_t c = ix->scan_cap ? 2 * ix->scan_cap : 64;
        spec_scan *g = c > SIZE_MAX / sizeof *g ? NULL : realloc(ix->scan, c * sizeof *g);
        if (g == NULL)
            return MVA_ENOMEM;
        ix->scan = g;
        ix->scan_cap = c;
    }
    spec_scan *sc = &ix->scan[ix->nscan++];
    memset(sc, 0, sizeof *sc);
    sc->hdr = (size_t)(s - ix->map);
    sc->labels = SIZE_MAX;
    sc->body = SIZE_MAX;
    sc->number = scan_number(s, e);
    sc->mca0 = ix->nmca;
    sc->data0 = ix->ndata;
    b->cur = sc;
    return MVA_OK;
}

static int is_scan_line(const char *s, const char *e)
{
    return e - s >= 3 && s[0] == '#' && s[1] == 'S' && is_blank(s[2]);
}

static int header_line(builder *b, const char *s, const char *e)
{
    if (is_scan_line(s, e))
        return start_scan(b, s, e);
    if (e - s >= 2 && s[1] == 'F' && (e - s == 2 || is_blank(s[2]))) {
        finish_scan(b); /* a new file header ends the scan (silx: sfNewBlock) */
    } else if (b->cur != NULL && e - s >= 7 && memcmp(s, "#@CHANN", 7) == 0) {
        b->cur->nchann++;
    } else if (b->cur != NULL && e - s >= 2 && s[1] == 'L' && (e - s == 2 || is_blank(s[2]))) {
        b->cur->labels = (size_t)(s - b->ix->map);
    }
    return MVA_OK;
}

/* The last non-blank byte of the line [s, e) is the continuation mark. */
static int continues(const char *s, const char *e)
{
    while (e > s && is_blank(e[-1]))
        e--;
    return e > s && e[-1] == '\\';
}

static int is_data_line(const char *s, const char *e)
{
    while (s < e && is_blank(*s))
        s++;
    return s < e && (is_digit(*s) || *s == '-' || *s == '+' || *s == '.');
}

static void mark_body(spec_scan *sc, size_t off)
{
    if (sc->body == SIZE_MAX)
        sc->body = off;
}

/* One line [s, e) of the file. */
static int index_line(builder *b, const char *s, const char *e)
{
    spec_index *ix = b->ix;
    size_t off = (size_t)(s - ix->map);
    if (b->cont_at != NULL) {
        if (s == e || (*s != '#' && *s != '@')) {
            if (!continues(s, e))
                b->cont_at = NULL;
            return MVA_OK;
        }
        /* The spectrum continued on the line before runs into a header or MCA line. */
        if (b->cur != NULL)
            set_problem(b->cur, SPEC_SCAN_CONTINUED, off, 0, 0);
        b->cont_at = NULL;
    }
    if (*s == '@') {
        if (continues(s, e))
            b->cont_at = s;
        if (b->cur == NULL)
            return MVA_OK;
        mark_body(b->cur, off);
        b->cur->nmca++;
        return push(&ix->mca, &ix->nmca, &ix->mca_cap, off);
    }
    if (*s == '#')
        return header_line(b, s, e);
    if (b->cur != NULL && is_data_line(s, e)) {
        mark_body(b->cur, off);
        b->cur->ndata++;
        return push(&ix->data, &ix->ndata, &ix->data_cap, off);
    }
    return MVA_OK;
}

static int by_number(const void *a, const void *b)
{
    const spec_scan *x = *(spec_scan *const *)a, *y = *(spec_scan *const *)b;
    if (x->number != y->number)
        return x->number < y->number ? -1 : 1;
    return x->hdr < y->hdr ? -1 : x->hdr > y->hdr;
}

/* silx's scan order: the k-th scan numbered N in the file is "N.k". */
static int number_scans(spec_index *ix)
{
    if (ix->nscan == 0)
        return MVA_OK;
    spec_scan **p = malloc(ix->nscan * sizeof *p);
    if (p == NULL)
        return MVA_ENOMEM;
    for (size_t i = 0; i < ix->nscan; i++)
        p[i] = &ix->scan[i];
    qsort(p, ix->nscan, sizeof *p, by_number);
    for (size_t i = 0, j; i < ix->nscan; i = j) {
        for (j = i; j < ix->nscan && p[j]->number == p[i]->number; j++)
            p[j]->order = (unsigned)(j - i + 1);
        for (size_t k = i; k < j; k++)
            p[k]->copies = (unsigned)(j - i);
    }
    free(p);
    return MVA_OK;
}

int spec_index_build(spec_index *ix, const char *map, size_t size, const char *name,
                     mva_error *err)
{
    memset(ix, 0, sizeof *ix);
    ix->map = map;
    ix->size = size;
    ix->name = name;
    builder b = {ix, NULL, NULL};
    const char *s = map, *end = map + size;
    int rc = MVA_OK;
    while (s < end && rc == MVA_OK) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        rc = index_line(&b, s, e);
        s = nl ? nl + 1 : end;
    }
    if (rc == MVA_OK && b.cont_at != NULL && b.cur != NULL)
        set_problem(b.cur, SPEC_SCAN_TRUNCATED, (size_t)(b.cont_at - map), 0, 0);
    if (rc == MVA_OK)
        finish_scan(&b);
    if (rc == MVA_OK)
        rc = number_scans(ix);
    if (rc != MVA_OK)
        return mva_error_set(err, rc, "%s: out of memory indexing %zu scans, %zu MCA lines",
                             name, ix->nscan, ix->nmca);
    return MVA_OK;
}

void spec_index_free(spec_index *ix)
{
    free(ix->scan);
    free(ix->mca);
    free(ix->data);
    memset(ix, 0, sizeof *ix);
}

void spec_scan_key(const spec_index *ix, const spec_scan *s, char *key)
{
    (void)ix;
    if (s->number < 0)
        snprintf(key, SPEC_LABEL_MAX, "?");
    else if (s->copies > 1)
        snprintf(key, SPEC_LABEL_MAX, "%ld.%u", s->number, s->order);
    else
        snprintf(key, SPEC_LABEL_MAX, "%ld", s->number);
}

void spec_scan_problem(const spec_index *ix, const spec_scan *s, char *buf, size_t cap,
                       size_t *at)
{
    size_t line, col;
    spec_locate(ix->map, ix->map + s->problem_at, &line, &col);
    *at = s->problem_at;
    switch (s->problem) {
    case SPEC_SCAN_OK:
        snprintf(buf, cap, "%s", "");
        break;
    case SPEC_SCAN_NO_MCA:
        snprintf(buf, cap, "no MCA spectra ('@A' lines) in the scan");
        break;
    case SPEC_SCAN_NO_NUMBER:
        snprintf(buf, cap, "'#S' is not followed by a scan number");
        break;
    case SPEC_SCAN_UNEVEN:
        if (s->want == 0)
            snprintf(buf, cap, "this counter line has no MCA spectrum beside it, other points "
                               "of the scan have some (every point must have the same number)");
        else
            snprintf(buf, cap,
                     "this counter line has %zu MCA spectr%s beside it, the points before it "
                     "%zu (every point must have the same number)",
                     s->got, s->got == 1 ? "um" : "a", s->want);
        break;
    case SPEC_SCAN_UNDIVIDED:
        snprintf(buf, cap,
                 "%zu MCA spectra and no counter lines: not a whole number of points of %zu "
                 "MCAs (one per #@CHANN line)",
                 s->got, s->want);
        break;
    case SPEC_SCAN_CONTINUED:
        snprintf(buf, cap, "MCA spectrum continued with '\\' on line %zu runs into a '%c' line",
                 line - 1, ix->map[s->problem_at]);
        break;
    case SPEC_SCAN_TRUNCATED:
        snprintf(buf, cap,
                 "MCA spectrum continued with '\\' at the end of the file (truncated?)");
        break;
    }
}
