/*
 * The text of a SPEC file as the reader sees it: numbers (an exact fast path, the C locale
 * for the rest), tokens, the values of an MCA spectrum with its '\' continuations, and
 * "file: line, column (scan)" places for messages.  Numbers never go through the process
 * locale.  See specread.h.
 */
#include <errno.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specread.h"

/* ---- characters and numbers ---- */

/* Exact powers of ten: every 10^k with k <= 22 is a double without rounding. */
static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* strtod on a NUL-terminated copy under the reader's own "C" locale (POSIX 2008 uselocale
 * is per thread), for the numbers the fast path cannot do exactly. */
static int strtod_c(locale_t loc, const char *t, size_t len, double *v)
{
    char buf[TOKEN_MAX + 1];
    if (len > TOKEN_MAX)
        return -1;
    memcpy(buf, t, len);
    buf[len] = '\0';
    locale_t old = uselocale(loc);
    char *e;
    errno = 0;
    *v = strtod(buf, &e);
    /* Underflow to a subnormal or zero is a value; overflow is not. */
    int bad = e != buf + len || (errno == ERANGE && (*v > 1.0 || *v < -1.0));
    uselocale(old);
    return bad ? -1 : 0;
}

/*
 * A decimal number [+-]digits[.digits][(e|E)[+-]digits] in t[0, len).  Clinger's fast path
 * (Clinger 1990, "How to read floating point numbers accurately"): a mantissa below 2^53
 * and a power of ten up to 22 are both exact doubles, so one multiplication or division
 * rounds correctly.  Anything else goes to strtod in the C locale.  0 on success.
 */
int spec_parse_decimal(locale_t loc, const char *t, size_t len, double *v)
{
    const char *q = t, *end = t + len;
    int neg = 0, digits = 0, sig = 0;
    uint64_t m = 0;
    long e10 = 0;
    if (q < end && (*q == '+' || *q == '-'))
        neg = *q++ == '-';
    for (; q < end && is_digit(*q); q++, digits++) {
        if (m == 0 && *q == '0')
            continue;
        if (++sig <= 19)
            m = m * 10 + (uint64_t)(*q - '0');
        else
            e10++;
    }
    if (q < end && *q == '.') {
        for (q++; q < end && is_digit(*q); q++, digits++) {
            if (m == 0 && *q == '0') {
                e10--;
                continue;
            }
            if (++sig <= 19) {
                m = m * 10 + (uint64_t)(*q - '0');
                e10--;
            }
        }
    }
    if (digits == 0)
        return -1;
    if (q < end && (*q == 'e' || *q == 'E')) {
        int eneg = 0, edigits = 0;
        long ex = 0;
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            eneg = *q++ == '-';
        for (; q < end && is_digit(*q); q++, edigits++)
            if (ex < 100000)
                ex = ex * 10 + (*q - '0');
        if (edigits == 0)
            return -1;
        e10 += eneg ? -ex : ex;
    }
    if (q != end)
        return -1;
    if (sig <= 19 && m <= ((uint64_t)1 << 53) && e10 >= -22 && e10 <= 22) {
        double d = (double)m;
        d = e10 >= 0 ? d * pow10_exact[e10] : d / pow10_exact[-e10];
        *v = neg ? -d : d;
        return 0;
    }
    return strtod_c(loc, t, len, v);
}

/* The rest of a value that is not a short integer: up to the next separator, through
 * spec_parse_decimal.  Returns the end of the value, NULL when it is not a number. */
static const char *parse_other(locale_t loc, const char *q, const char *end, double *v)
{
    const char *t = q;
    while (t < end && !ends_value(*t))
        t++;
    return spec_parse_decimal(loc, q, (size_t)(t - q), v) == 0 ? t : NULL;
}

/* ---- places in the file, for messages ---- */
/* The scan holding byte offset off: the last scan whose #S line is before it. */
static const spec_scan *scan_at(const spec_reader *r, size_t off)
{
    const spec_index *ix = &r->ix;
    size_t lo = 0, hi = ix->nscan;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->scan[mid].hdr <= off)
            lo = mid;
        else
            hi = mid;
    }
    return ix->nscan > 0 && ix->scan[lo].hdr <= off ? &ix->scan[lo] : NULL;
}

/* "FILE: line L[, column C] (scan K): " for the byte at p, into buf. */
void spec_where(const spec_reader *r, const char *p, int with_col, char *buf, size_t cap)
{
    size_t line, col;
    char key[LABEL_MAX] = "?";
    spec_locate(r->map, p, &line, &col);
    const spec_scan *sc = scan_at(r, (size_t)(p - r->map));
    if (sc != NULL)
        spec_scan_key(&r->ix, sc, key);
    if (with_col)
        snprintf(buf, cap, "%s: line %zu, column %zu (scan %s)", r->file_name, line, col, key);
    else
        snprintf(buf, cap, "%s: line %zu (scan %s)", r->file_name, line, key);
}

/* The token at p for a message, with unprintable bytes as '?'. */
void spec_show_token(const char *p, const char *end, char *buf)
{
    size_t k = 0;
    for (; p < end && k < SHOW_MAX && *p != '\n' && !is_blank(*p); p++)
        buf[k++] = (*p >= ' ' && *p < 127) ? *p : '?';
    if (k == 0 && p < end && *p != '\n')
        buf[k++] = '?';
    buf[k] = '\0';
}
static int bad_value(const spec_reader *r, const char *at, mva_error *err)
{
    char place[FILE_CAP + 96], tok[SHOW_MAX + 1];
    spec_where(r, at, 1, place, sizeof place);
    spec_show_token(at, r->map + r->size, tok);
    return mva_error_set(err, MVA_EFORMAT, "%s: '%s' is not a number", place, tok);
}

static int truncated(const spec_reader *r, const char *at, mva_error *err)
{
    char place[FILE_CAP + 96];
    spec_where(r, at, 0, place, sizeof place);
    return mva_error_set(err, MVA_EFORMAT,
                         "%s: MCA spectrum continued with '\\' at the end of the file "
                         "(truncated?)",
                         place);
}

/*
 * Walks the spectrum whose MCA line starts at q: the "@A" token (any name after '@', as
 * silx counts every '@' line), then values separated by blanks; '\' as the last non-blank
 * of a line continues the spectrum on the next line.  The first cap values go to out, set
 * or added (two copies of the loop, so that the store is fixed in each); *nval gets the
 * count of all values.  *stop is where the walk ended: the end of the spectrum's last line,
 * or the offending byte.  Integers of up to 19 digits, the usual case, are parsed inline
 * and stay in registers; everything else goes through parse_other.
 */
#define DEFINE_WALK(NAME, STORE)                                                               \
    static int NAME(const spec_reader *r, const char *q, double *out, size_t cap,             \
                    size_t *nval, const char **stop)                                           \
    {                                                                                          \
        const char *end = r->map + r->size;                                                    \
        size_t k = 0;                                                                          \
        while (q < end && !ends_value(*q))                                                     \
            q++;                                                                               \
        for (;;) {                                                                             \
            while (q < end && is_blank(*q))                                                    \
                q++;                                                                           \
            if (q == end || *q == '\n')                                                        \
                break;                                                                         \
            if (*q == '\\') {                                                                  \
                *stop = q++;                                                                   \
                while (q < end && is_blank(*q))                                                \
                    q++;                                                                       \
                if (q < end && *q != '\n')                                                     \
                    return WALK_BAD;                                                           \
                if (q == end || q + 1 == end)                                                  \
                    return WALK_TRUNC;                                                         \
                q++;                                                                           \
                continue;                                                                      \
            }                                                                                  \
            const char *t = q + (*q == '-' || *q == '+'), *d0 = t;                             \
            uint64_t m = 0;                                                                    \
            double v;                                                                          \
            while (t < end && is_digit(*t) && t - d0 < 19)                                     \
                m = m * 10 + (uint64_t)(*t++ - '0');                                           \
            if (t > d0 && (t == end || ends_value(*t))) {                                      \
                v = *q == '-' ? -(double)m : (double)m;                                        \
            } else {                                                                           \
                double slow;                                                                   \
                if ((t = parse_other(r->c_locale, q, end, &slow)) == NULL) {                   \
                    *stop = q;                                                                 \
                    return WALK_BAD;                                                           \
                }                                                                              \
                v = slow;                                                                      \
            }                                                                                  \
            if (k < cap)                                                                       \
                STORE;                                                                         \
            k++;                                                                               \
            q = t;                                                                             \
        }                                                                                      \
        *nval = k;                                                                             \
        *stop = q;                                                                             \
        return WALK_OK;                                                                        \
    }

DEFINE_WALK(walk_set, out[k] = v)
DEFINE_WALK(walk_add, out[k] += v)

int spec_count_values(const spec_reader *r, const char *q, size_t *nval, const char **stop)
{
    return walk_set(r, q, NULL, 0, nval, stop);
}

static int wrong_length(const spec_reader *r, const char *q, size_t k, mva_error *err)
{
    char place[FILE_CAP + 96];
    spec_where(r, q, 0, place, sizeof place);
    return mva_error_set(err, MVA_EFORMAT, "%s: spectrum has %zu values, expected %zu (%s)",
                         place, k, r->p,
                         r->p_from_chann ? "from #@CHANN" : "as the first spectrum");
}

/* Parses the spectrum at q into out (p values, added when add), checking its length. */
int spec_parse_spectrum(const spec_reader *r, const char *q, double *out, int add,
                        mva_error *err)
{
    size_t k;
    const char *stop;
    int w = add ? walk_add(r, q, out, r->p, &k, &stop) : walk_set(r, q, out, r->p, &k, &stop);
    if (w == WALK_BAD)
        return bad_value(r, stop, err);
    if (w == WALK_TRUNC)
        return truncated(r, stop, err);
    return k == r->p ? MVA_OK : wrong_length(r, q, k, err);
}
/* Next blank-separated token of [*q, e): 1 and its bounds, or 0 at the end. */
int spec_next_token(const char **q, const char *e, const char **t, size_t *len)
{
    const char *s = *q;
    while (s < e && is_blank(*s))
        s++;
    if (s == e)
        return 0;
    *t = s;
    while (s < e && !is_blank(*s))
        s++;
    *len = (size_t)(s - *t);
    *q = s;
    return 1;
}

int spec_token_number(const spec_reader *r, const char *t, size_t len, double *v)
{
    return spec_parse_decimal(r->c_locale, t, len, v);
}

/* A non-negative integer token that fits size_t. */
int spec_token_size(const char *t, size_t len, size_t *v)
{
    size_t x = 0;
    if (len == 0 || len > 18)
        return -1;
    for (size_t k = 0; k < len; k++) {
        if (!is_digit(t[k]))
            return -1;
        x = x * 10 + (size_t)(t[k] - '0');
    }
    *v = x;
    return 0;
}

/* Up to max numbers after the keyword of the line [s, e); returns how many, -1 when a
 * token is not a number. */
int spec_line_numbers(const spec_reader *r, const char *s, const char *e, double *v, int max)
{
    const char *t;
    size_t len;
    int k = 0;
    spec_next_token(&s, e, &t, &len);
    while (k < max && spec_next_token(&s, e, &t, &len))
        if (spec_token_number(r, t, len, &v[k++]) != 0)
            return -1;
    return k;
}
