/*
 * --norm NAME on a SPEC file: NAME is a counter of the scans' #L line, its value per point a
 * per-pixel factor, combined by combine.h's norm expressions.  See specread.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "combine.h"
#include "specread.h"

/* ---- counters as normalisation: --norm NAME ---- */

/* The next label of a "#L" line at *q: labels are separated by two blanks or more, or a tab
 * (silx splits #L the same way: "DCM theta" is one label).  1 and its bounds, 0 at the end. */
static int next_label(const char **q, const char *e, const char **t, size_t *len)
{
    const char *s = *q;
    while (s < e && is_blank(*s))
        s++;
    if (s == e)
        return 0;
    *t = s;
    while (s < e && *s != '\t' && *s != '\r' && !(s[0] == ' ' && s + 1 < e && s[1] == ' '))
        s++;
    *len = (size_t)(s - *t);
    while (*len > 0 && (*t)[*len - 1] == ' ')
        (*len)--;
    *q = s;
    return 1;
}

/* Case-insensitive equality of [t, t + len) and the NUL-terminated name. */
static int same_label(const char *t, size_t len, const char *name, int fold)
{
    if (strlen(name) != len)
        return 0;
    for (size_t k = 0; k < len; k++) {
        char a = t[k], b = name[k];
        if (fold && a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (fold && b >= 'A' && b <= 'Z')
            b = (char)(b - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

int spec_counter_columns(const spec_reader *r, const spec_scan *sc, const char *name,
                         size_t *col, char *all, size_t cap)
{
    if (sc->labels == SIZE_MAX)
        return -1;
    int found = 0;
    for (int fold = 0; fold < 2 && found == 0; fold++) {
        const char *q = r->map + sc->labels + 2, *e = line_end(r, q), *t;
        size_t len, k = 0, used = 0;
        all[0] = '\0';
        for (; next_label(&q, e, &t, &len); k++) {
            if (same_label(t, len, name, fold) && found < COLS_MAX)
                col[found++] = k;
            int w = snprintf(all + used, cap - used, "%s%.*s", k ? ", " : "", (int)len, t);
            if (w > 0 && (size_t)w < cap - used)
                used += (size_t)w;
        }
    }
    return found;
}

int spec_counter_value(const spec_reader *r, const char *s, size_t col, double *v,
                       const char **at)
{
    const char *e = line_end(r, s), *t = NULL;
    size_t len = 0;
    for (size_t k = 0; k <= col; k++)
        if (!spec_next_token(&s, e, &t, &len))
            return 1;
    *at = t;
    while (len > 0 && t[len - 1] == '\r')
        len--;
    return spec_parse_decimal(r->c_locale, t, len, v) == 0 ? 0 : 2;
}

/* The counter's value for every point of one scan into v (points values). */
static int scan_counter(const spec_reader *r, const spec_scan *sc, const char *name, double *v,
                        mva_error *err)
{
    size_t col[COLS_MAX], line, c;
    char all[768], key[LABEL_MAX];
    int n = spec_counter_columns(r, sc, name, col, all, sizeof all);
    spec_scan_key(&r->ix, sc, key);
    if (n <= 0 || sc->ndata == 0) {
        spec_locate(r->map, r->map + (n < 0 ? sc->hdr : sc->labels), &line, &c);
        if (n < 0 || sc->ndata == 0)
            return mva_error_set(err, MVA_EFORMAT,
                                 "%s: line %zu (scan %s): %s: --norm %s needs a counter of "
                                 "that name on every point",
                                 r->file_name, line, key,
                                 n < 0 ? "no #L line (counter names)" : "no counter lines",
                                 name);
        return mva_error_set(err, MVA_ENOTFOUND,
                             "%s: line %zu (scan %s): no counter '%s' in #L; its counters: %s",
                             r->file_name, line, key, name, all);
    }
    for (size_t j = 0; j < sc->points; j++) {
        const char *s = r->map + r->ix.data[sc->data0 + j], *at = s;
        for (int k = 0; k < n; k++) {
            double x;
            int rc = spec_counter_value(r, s, col[k], &x, &at);
            if (rc != 0) {
                char place[FILE_CAP + 96];
                spec_where(r, rc == 1 ? s : at, rc == 2, place, sizeof place);
                return mva_error_set(err, MVA_EFORMAT,
                                     "%s: counter '%s' (column %zu of #L): %s", place, name,
                                     col[k] + 1,
                                     rc == 1 ? "the counter line is shorter" : "not a number");
            }
            if (k == 0)
                v[j] = x;
            else if (x != v[j] && !(x != x && v[j] != v[j])) {
                char place[FILE_CAP + 96];
                spec_where(r, s, 0, place, sizeof place);
                return mva_error_set(err, MVA_EINVAL,
                                     "%s: #L names '%s' in columns %zu and %zu and they differ "
                                     "here (%.17g, %.17g): which one is meant cannot be told",
                                     place, name, col[0] + 1, col[k] + 1, v[j], x);
            }
        }
    }
    return MVA_OK;
}

typedef struct norm_ctx {
    const spec_reader *r;
    const plan *pl;
    size_t rows, cols; /* the map; more pixels than spectra for an aborted mesh */
} norm_ctx;

/* mva_norm_resolve_fn: a name of --norm is a counter of the scans' #L line. */
static int resolve_counter(void *ctx, const mva_norm_term *t, double **v, size_t *vnel,
                           char *source, size_t source_cap, mva_error *err)
{
    const norm_ctx *c = ctx;
    const spec_reader *r = c->r;
    size_t npix = c->rows * c->cols > r->n ? c->rows * c->cols : r->n;
    double *x = malloc((npix ? npix : 1) * sizeof *x);
    if (x == NULL)
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory", r->file_name);
    for (size_t j = r->n; j < npix; j++) /* pixels an aborted mesh did not reach */
        x[j] = NAN;
    size_t i = 0, col[COLS_MAX];
    char all[768];
    for (size_t k = 0; k < c->pl->nscan; k++) {
        const spec_scan *sc = &r->ix.scan[c->pl->scan[k]];
        int rc = scan_counter(r, sc, t->name, x + i, err);
        if (rc != MVA_OK) {
            free(x);
            return rc;
        }
        i += sc->points;
    }
    const spec_scan *first = &r->ix.scan[c->pl->scan[0]];
    int n = spec_counter_columns(r, first, t->name, col, all, sizeof all);
    char label[64] = "";
    if (n > 0) {
        const char *q = r->map + first->labels + 2, *e = line_end(r, q), *lt = NULL;
        size_t len = 0;
        for (size_t k = 0; k <= col[0] && next_label(&q, e, &lt, &len); k++)
            ;
        snprintf(label, sizeof label, "%.*s", (int)(len < 63 ? len : 63), lt);
    }
    snprintf(source, source_cap, "counter %s (#L column %zu)", label, n > 0 ? col[0] + 1 : 0);
    *v = x;
    *vnel = 1;
    return MVA_OK;
}

/* --norm: per-pixel weights from the counters (or datasets), applied as the spectra are read. */
int spec_set_norm(spec_reader *r, const plan *pl, const mva_open_opts *opts,
                  mva_stack_info *info, mva_error *err)
{
    if (opts->norm == NULL)
        return MVA_OK;
    norm_ctx ctx = {r, pl, info->rows, info->cols};
    return mva_norm_build_factors(opts->norm, r->file_name, info->rows, info->cols, 1, NULL,
                                  resolve_counter, &ctx, &r->weight, &r->factors, info->norm,
                                  sizeof info->norm, err);
}

/* Maps and indexes the file. */
