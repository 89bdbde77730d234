/*
 * The SPEC file stack reader: one MCA spectrum (or the sum of several) per pixel.
 *
 * A SPEC data file is text: '#' header lines (#F file, #S scan, #L counter names, #@CHANN,
 * #@CALIB, ...), counter lines of numbers, and MCA lines "@A v v v ...", a spectrum
 * continued on the next line while a line ends with '\'.
 *
 * Open maps the file (read-only; the pages stay evictable, nothing is copied) and indexes it
 * in one memchr pass over the lines (specindex.c: every MCA and counter line's offset, what
 * each scan's points are), then chooses the scans of the map (all, or opts->scan), checks
 * each one's header and first spectrum, and keeps per pixel the index of its point's first
 * MCA line.  Read parses only the requested spectra, with an integer fast path and an exact
 * decimal fast path for floats.  Numbers never go through the process locale.
 */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <locale.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "combine.h"
#include "mva/spec.h"
#include "mva/stack.h"
#include "specint.h"

#define FILE_CAP 4096         /* = sizeof(mva_stack_info.source) */
#define SNIFF_BYTES (64 * 1024)
#define TOKEN_MAX 128         /* longest number accepted */
#define LABEL_MAX SPEC_LABEL_MAX
#define SHOW_MAX 24           /* characters of a bad token quoted in a message */
#define WARN_CAP 1024         /* = sizeof(mva_stack_info.warnings) */
#define WHY_CAP 512           /* one reason a scan is not read */
#define LIST_MAX 8            /* scans named in one grouped warning */
#define MVA_SPEC_DET_MAX 256  /* MCAs per point described one by one */

typedef struct spec_reader {
    const char *map;          /* the whole file, PROT_READ */
    size_t size;
    int fd;                   /* kept open to notice a file truncated under the map */
    spec_index ix;
    uint64_t *pt;             /* per pixel: index in ix.mca of its point's first MCA line */
    size_t n;                 /* pixels */
    size_t p;                 /* channels */
    size_t ndet;              /* MCA lines per point in the chosen scans */
    size_t *det;              /* the MCAs read (added) of each point, ascending */
    size_t ndet_read;
    double *weight;           /* --norm: per pixel factor (NaN masks), NULL when none */
    int p_from_chann;         /* p was given by #@CHANN (else by the first spectrum) */
    locale_t c_locale;        /* for the rare strtod fallback */
    char file_name[FILE_CAP];
    char warn[WARN_CAP];      /* "; "-separated sentences */
} spec_reader;

/* ---- characters and numbers ---- */

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* What may follow a value: a blank, the end of the line, or the continuation mark. */
static int ends_value(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\\';
}

static int is_digit(char c)
{
    return (unsigned char)(c - '0') < 10;
}

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
static int parse_decimal(locale_t loc, const char *t, size_t len, double *v)
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
 * parse_decimal.  Returns the end of the value, NULL when it is not a number. */
static const char *parse_other(locale_t loc, const char *q, const char *end, double *v)
{
    const char *t = q;
    while (t < end && !ends_value(*t))
        t++;
    return parse_decimal(loc, q, (size_t)(t - q), v) == 0 ? t : NULL;
}

/* ---- places in the file, for messages ---- */
/* ---- places in the file, for messages ---- */

static const char *line_end(const spec_reader *r, const char *s)
{
    return spec_line_end(&r->ix, s);
}

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
static void where(const spec_reader *r, const char *p, int with_col, char *buf, size_t cap)
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
static void show_token(const char *p, const char *end, char *buf)
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
    where(r, at, 1, place, sizeof place);
    show_token(at, r->map + r->size, tok);
    return mva_error_set(err, MVA_EFORMAT, "%s: '%s' is not a number", place, tok);
}

static int truncated(const spec_reader *r, const char *at, mva_error *err)
{
    char place[FILE_CAP + 96];
    where(r, at, 0, place, sizeof place);
    return mva_error_set(err, MVA_EFORMAT,
                         "%s: MCA spectrum continued with '\\' at the end of the file "
                         "(truncated?)",
                         place);
}

enum { WALK_OK = 0, WALK_BAD, WALK_TRUNC };

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
static int wrong_length(const spec_reader *r, const char *q, size_t k, mva_error *err)
{
    char place[FILE_CAP + 96];
    where(r, q, 0, place, sizeof place);
    return mva_error_set(err, MVA_EFORMAT, "%s: spectrum has %zu values, expected %zu (%s)",
                         place, k, r->p,
                         r->p_from_chann ? "from #@CHANN" : "as the first spectrum");
}

/* Parses the spectrum at q into out (p values, added when add), checking its length. */
static int parse_spectrum(const spec_reader *r, const char *q, double *out, int add,
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

static int spec_read(void *self, size_t first, size_t count, double *out, mva_error *err)
{
    spec_reader *r = self;
    /* Touching a mapped page past a new end of file raises SIGBUS: a file truncated since
     * open is reported before the map is read. */
    struct stat st = {0};
    if (count > 0 && (fstat(r->fd, &st) != 0 || (uint64_t)st.st_size < r->size))
        return mva_error_set(err, MVA_EIO,
                             "%s: file truncated after it was opened (%zu bytes at open, "
                             "%lld now): cannot read pixel %zu at byte offset %llu",
                             r->file_name, r->size, (long long)st.st_size, first,
                             (unsigned long long)r->ix.mca[r->pt[first]]);
    for (size_t i = 0; i < count; i++) {
        double *o = out + i * r->p;
        if (first + i >= r->n) { /* not reached by an aborted mesh: masked */
            for (size_t c = 0; c < r->p; c++)
                o[c] = NAN;
            continue;
        }
        uint64_t m = r->pt[first + i];
        for (size_t d = 0; d < r->ndet_read; d++) {
            int rc = parse_spectrum(r, r->map + r->ix.mca[m + r->det[d]], o, d > 0, err);
            if (rc != MVA_OK)
                return rc;
        }
        if (r->weight != NULL) {
            double w = r->weight[first + i];
            for (size_t c = 0; c < r->p; c++)
                o[c] *= w;
        }
    }
    return MVA_OK;
}

static void spec_close(void *self)
{
    spec_reader *r = self;
    if (r == NULL)
        return;
    if (r->map != NULL)
        munmap((void *)r->map, r->size);
    if (r->fd >= 0)
        close(r->fd);
    if (r->c_locale != (locale_t)0)
        freelocale(r->c_locale);
    spec_index_free(&r->ix);
    free(r->pt);
    free(r->det);
    free(r->weight);
    free(r);
}

/* mva_reader_ops.noise: one weight scales a pixel (the sum of its detectors), so its Poisson
 * variance factor is that weight; raw counts (no --norm) have 1. */
static int spec_noise(void *self, size_t first, size_t count, double *factor, mva_error *err)
{
    (void)err;
    const spec_reader *r = self;
    for (size_t i = 0; i < count; i++) {
        double w = r->weight != NULL && first + i < r->n ? r->weight[first + i] : 1.0;
        factor[i] = isfinite(w) && w > 0.0 ? w : 1.0;
    }
    return MVA_OK;
}

static const mva_reader_ops spec_ops = {"spec", spec_read, spec_close, spec_noise};

/* ---- content check ---- */

/* SPEC by content: the first line is a '#' line, and it is "#F"/"#S" or a "#S " scan line
 * follows within the bytes given (the first 64 KiB). */
static int is_scan_line(const char *s, const char *end)
{
    return end - s >= 3 && s[0] == '#' && s[1] == 'S' && (s[2] == ' ' || s[2] == '\t');
}

static int sniff(const char *buf, size_t len)
{
    const char *end = buf + len;
    if (len < 2 || buf[0] != '#')
        return 0;
    if (is_scan_line(buf, end) || (buf[1] == 'F' && (len == 2 || ends_value(buf[2]))))
        return 1;
    for (const char *q = buf; q < end;) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        if (nl == NULL)
            break;
        q = nl + 1;
        if (is_scan_line(q, end))
            return 1;
    }
    return 0;
}

int mva_spec_is_spec(const char *file)
{
    char *buf = malloc(SNIFF_BYTES);
    FILE *f = buf ? fopen(file, "rb") : NULL;
    int yes = 0;
    if (f != NULL) {
        size_t got = fread(buf, 1, SNIFF_BYTES, f);
        yes = sniff(buf, got);
        fclose(f);
    }
    free(buf);
    return yes;
}

/* ---- what open takes from the scan header: #@CHANN, #@CALIB, a mesh command ---- */

/* Next blank-separated token of [*q, e): 1 and its bounds, or 0 at the end. */
static int next_token(const char **q, const char *e, const char **t, size_t *len)
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

static int token_number(const spec_reader *r, const char *t, size_t len, double *v)
{
    return parse_decimal(r->c_locale, t, len, v);
}

/* A non-negative integer token that fits size_t. */
static int token_size(const char *t, size_t len, size_t *v)
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
static int line_numbers(const spec_reader *r, const char *s, const char *e, double *v, int max)
{
    const char *t;
    size_t len;
    int k = 0;
    next_token(&s, e, &t, &len);
    while (k < max && next_token(&s, e, &t, &len))
        if (token_number(r, t, len, &v[k++]) != 0)
            return -1;
    return k;
}

/* The header lines of a scan for detector det: its own #@CHANN / #@CALIB line when the scan
 * has one per detector (PyMca writes them so), else the first; NULL when there is none. */
typedef struct scan_head {
    const char *chann, *calib;
} scan_head;

static void pick_header(const spec_reader *r, const spec_scan *sc, size_t det, scan_head *h)
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

/* What #@CHANN says of the stored spectra: p values, of channels first, first + step, ... */
typedef struct chan_info {
    size_t p, first, step;
    int from_chann;
} chan_info;

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
    int k = line_numbers(r, s, line_end(r, s), v, 4);
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
static int read_calib(const spec_reader *r, const char *s, const chan_info *ch, mva_calib *cal,
                      char *why)
{
    double v[3] = {0, 0, 0};
    int k = line_numbers(r, s, line_end(r, s), v, 3);
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

/* Why a scan is not read: the line at fault and one sentence. */
typedef struct fault {
    size_t at;
    char why[WHY_CAP];
} fault;

static int set_fault(fault *f, size_t at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int set_fault(fault *f, size_t at, const char *fmt, ...)
{
    va_list ap;
    f->at = at;
    va_start(ap, fmt);
    vsnprintf(f->why, sizeof f->why, fmt, ap);
    va_end(ap);
    return 1;
}

/* "line L (scan K): why" into buf. */
static void fault_text(const spec_reader *r, const spec_scan *sc, const fault *f, char *buf,
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
static int scan_channels(const spec_reader *r, const spec_scan *sc, size_t det, chan_info *c,
                         fault *f)
{
    scan_head h;
    size_t k;
    const char *stop;
    pick_header(r, sc, det, &h);
    memset(c, 0, sizeof *c);
    if (h.chann != NULL && read_chann(r, h.chann, c, f->why) != 0) {
        f->at = (size_t)(h.chann - r->map);
        return 1;
    }
    const char *q = r->map + r->ix.mca[sc->mca0 + det];
    int w = walk_set(r, q, NULL, 0, &k, &stop);
    if (w == WALK_BAD) {
        size_t line, col;
        char tok[SHOW_MAX + 1];
        spec_locate(r->map, stop, &line, &col);
        show_token(stop, r->map + r->size, tok);
        return set_fault(f, (size_t)(stop - r->map), "column %zu: '%s' is not a number", col,
                         tok);
    }
    if (w == WALK_TRUNC)
        return set_fault(f, (size_t)(q - r->map),
                         "MCA spectrum continued with '\\' at the end of the file (truncated?)");
    if (!c->from_chann) {
        if (k == 0)
            return set_fault(f, (size_t)(q - r->map), "MCA spectrum without values");
        c->p = k;
        c->step = 1;
    } else if (k != c->p) {
        return set_fault(f, (size_t)(q - r->map), "spectrum has %zu values, expected %zu (from "
                                                  "#@CHANN)",
                         k, c->p);
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
static int mesh_shape(const spec_reader *r, const char *s, size_t points, size_t *rows,
                      size_t *cols)
{
    enum { HASH_S, NUMBER, CMD, M1, A, B, N1, M2, C, D, N2, T, NTOK };
    const char *e = line_end(r, s), *t[NTOK];
    size_t len[NTOK], n1, n2, full;
    double v;
    int k = 0;
    while (k < NTOK && next_token(&s, e, &t[k], &len[k]))
        k++;
    if (k < NTOK || len[CMD] < 4 || memcmp(t[CMD] + len[CMD] - 4, "mesh", 4) != 0)
        return 0;
    if (token_number(r, t[M1], len[M1], &v) == 0 || token_number(r, t[M2], len[M2], &v) == 0)
        return 0;
    static const int nums[] = {A, B, C, D, T};
    for (size_t j = 0; j < sizeof nums / sizeof nums[0]; j++)
        if (token_number(r, t[nums[j]], len[nums[j]], &v) != 0)
            return 0;
    if (token_size(t[N1], len[N1], &n1) != 0 || token_size(t[N2], len[N2], &n2) != 0 ||
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

/* ---- which scans form the map ---- */

/* A scan chosen for the map, and how: from the whole file, named, or inside a named range. */
enum { FROM_FILE = 0, NAMED, IN_RANGE };

typedef struct pick {
    size_t scan; /* index in ix.scan */
    int how;
} pick;

static int scan_syntax(const char *spec, mva_error *err)
{
    return mva_error_set(err, MVA_EINVAL,
                         "--scan '%s': expected a scan number N (as in '#S N'), N.K for the K-th "
                         "scan numbered N, a list N,M,... or a range N:M",
                         spec);
}

/* The scan named by [t, t + len): "N" or silx's "N.K". */
static int find_scan(const spec_reader *r, const char *spec, const char *t, size_t len,
                     size_t *index, mva_error *err)
{
    const spec_index *ix = &r->ix;
    const char *dot = memchr(t, '.', len);
    size_t n, k = 0, nlen = dot ? (size_t)(dot - t) : len;
    if (token_size(t, nlen, &n) != 0 || (dot && token_size(dot + 1, len - nlen - 1, &k) != 0) ||
        (dot && k == 0))
        return scan_syntax(spec, err);
    size_t found = SIZE_MAX, copies = 0, last = 0;
    for (size_t i = 0; i < ix->nscan; i++) {
        if (ix->scan[i].number < 0 || (size_t)ix->scan[i].number != n)
            continue;
        copies++;
        last = i;
        if (dot && ix->scan[i].order == k)
            found = i;
    }
    if (copies == 0) {
        char a[LABEL_MAX] = "?", b[LABEL_MAX] = "?";
        if (ix->nscan > 0) {
            spec_scan_key(ix, &ix->scan[0], a);
            spec_scan_key(ix, &ix->scan[ix->nscan - 1], b);
        }
        return mva_error_set(err, MVA_ENOTFOUND,
                             "%s: no scan %zu (its %zu scans run from %s to %s; mva-info "
                             "lists them)",
                             r->file_name, n, ix->nscan, a, b);
    }
    if (!dot && copies > 1)
        return mva_error_set(err, MVA_EINVAL,
                             "%s: %zu scans are numbered %zu (the file restarted its "
                             "numbering): name one as %zu.1 ... %zu.%zu (silx's numbering: "
                             "N.K is the K-th scan numbered N in the file)",
                             r->file_name, copies, n, n, n, copies);
    if (dot && found == SIZE_MAX && copies == 1)
        return mva_error_set(err, MVA_ENOTFOUND,
                             "%s: no scan %zu.%zu: only one scan is numbered %zu (%zu, or "
                             "%zu.1)",
                             r->file_name, n, k, n, n, n);
    if (dot && found == SIZE_MAX)
        return mva_error_set(err, MVA_ENOTFOUND,
                             "%s: no scan %zu.%zu: %zu scans are numbered %zu (%zu.1 ... %zu.%zu)",
                             r->file_name, n, k, copies, n, n, n, copies);
    *index = dot ? found : last;
    return MVA_OK;
}

static int push_pick(pick **p, size_t *n, size_t *cap, size_t scan, int how)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        pick *g = c > SIZE_MAX / sizeof *g ? NULL : realloc(*p, c * sizeof *g);
        if (g == NULL)
            return MVA_ENOMEM;
        *p = g;
        *cap = c;
    }
    (*p)[*n].scan = scan;
    (*p)[(*n)++].how = how;
    return MVA_OK;
}

/* The scans of "N", "N.K", "N,M,..." and "N:M" (file order from N to M), or of the whole
 * file when spec is NULL or empty.  A scan named twice is an error. */
static int choose_scans(const spec_reader *r, const char *spec, pick **out, size_t *nout,
                        mva_error *err)
{
    const spec_index *ix = &r->ix;
    size_t n = 0, cap = 0;
    pick *p = NULL;
    int rc = MVA_OK;
    if (spec == NULL || spec[0] == '\0') {
        for (size_t i = 0; i < ix->nscan && rc == MVA_OK; i++)
            rc = push_pick(&p, &n, &cap, i, FROM_FILE);
    } else {
        for (const char *t = spec; rc == MVA_OK;) {
            const char *e = strchr(t, ','), *end = e ? e : t + strlen(t);
            const char *colon = memchr(t, ':', (size_t)(end - t));
            size_t a, b;
            if (end == t)
                rc = scan_syntax(spec, err);
            else if (colon == NULL) {
                if ((rc = find_scan(r, spec, t, (size_t)(end - t), &a, err)) == MVA_OK)
                    rc = push_pick(&p, &n, &cap, a, NAMED);
            } else if ((rc = find_scan(r, spec, t, (size_t)(colon - t), &a, err)) == MVA_OK &&
                       (rc = find_scan(r, spec, colon + 1, (size_t)(end - colon - 1), &b,
                                       err)) == MVA_OK) {
                if (b < a)
                    rc = mva_error_set(err, MVA_EINVAL,
                                       "--scan %.*s: the first scan comes after the last in "
                                       "the file (a range runs in file order)",
                                       (int)(end - t), t);
                for (size_t i = a; i <= b && rc == MVA_OK; i++)
                    rc = push_pick(&p, &n, &cap, i, i == a || i == b ? NAMED : IN_RANGE);
            }
            if (e == NULL)
                break;
            t = e + 1;
        }
        unsigned char *seen = rc == MVA_OK ? calloc(ix->nscan ? ix->nscan : 1, 1) : NULL;
        if (rc == MVA_OK && seen == NULL)
            rc = MVA_ENOMEM;
        for (size_t i = 0; i < n && rc == MVA_OK; i++)
            if (seen[p[i].scan]++) {
                char key[LABEL_MAX];
                spec_scan_key(ix, &ix->scan[p[i].scan], key);
                rc = mva_error_set(err, MVA_EINVAL, "--scan %s: scan %s is named twice", spec,
                                   key);
            }
        free(seen);
    }
    if (rc == MVA_ENOMEM)
        rc = mva_error_set(err, MVA_ENOMEM, "%s: out of memory", r->file_name);
    if (rc != MVA_OK) {
        free(p);
        return rc;
    }
    *out = p;
    *nout = n;
    return MVA_OK;
}

/* ---- the map: the chosen scans that can be read ---- */

typedef struct plan {
    size_t *scan;      /* the scans of the map, in map order (indices in ix.scan) */
    size_t nscan;
    chan_info ch;      /* channels of the first, for detector det[0] */
    size_t *no_mca;    /* scans of the whole file or a range without MCA data */
    size_t nno_mca;
    size_t *extra;     /* scans of the map with MCA lines after their last point */
    size_t nextra;
    size_t skipped;    /* scans of the whole file skipped as malformed */
    char first_skip[WHY_CAP + 64];
} plan;

static void plan_free(plan *pl)
{
    free(pl->scan);
    free(pl->no_mca);
    free(pl->extra);
}

/* Appends a sentence to the reader's warnings (one a line). */
static void warn(spec_reader *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void warn(spec_reader *r, const char *fmt, ...)
{
    size_t len = strlen(r->warn);
    if (len + 2 >= sizeof r->warn)
        return;
    if (len > 0)
        r->warn[len++] = '\n';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->warn + len, sizeof r->warn - len, fmt, ap);
    va_end(ap);
}

/* The MCAs of each point to read: opts->detector (combine.h's syntax) against the ndet of
 * scan sc, the first of the map; its default is the sum of all. */
static int choose_detectors(spec_reader *r, const spec_scan *sc, const mva_open_opts *opts,
                            mva_error *err)
{
    free(r->det);
    r->det = NULL;
    r->ndet = sc->ndet;
    unsigned char *use = malloc(sc->ndet);
    if (use == NULL)
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory", r->file_name);
    int rc = mva_detector_select(opts->detector, sc->ndet, use, err);
    if (rc < 0) {
        size_t line, col;
        char key[LABEL_MAX];
        spec_locate(r->map, r->map + sc->hdr, &line, &col);
        spec_scan_key(&r->ix, sc, key);
        free(use);
        return mva_error_prefix(err, rc, "%s: scan %s (line %zu) has %zu MCA%s per point: ",
                                r->file_name, key, line, sc->ndet, sc->ndet == 1 ? "" : "s");
    }
    r->det = malloc((size_t)rc * sizeof *r->det);
    if (r->det == NULL) {
        free(use);
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory", r->file_name);
    }
    r->ndet_read = 0;
    for (size_t d = 0; d < sc->ndet; d++)
        if (use[d])
            r->det[r->ndet_read++] = d;
    free(use);
    return MVA_OK;
}

/* Whether scan sc can join the map planned so far (choosing the detectors on the first):
 * 0 when it can, 1 when not (why in f), a negative status on an error. */
static int check_scan(spec_reader *r, plan *pl, const spec_scan *sc, const mva_open_opts *opts,
                      fault *f, mva_error *err)
{
    if (sc->problem != SPEC_SCAN_OK) {
        spec_scan_problem(&r->ix, sc, f->why, sizeof f->why, &f->at);
        return 1;
    }
    char key[LABEL_MAX];
    if (pl->nscan > 0 && sc->ndet != r->ndet) {
        spec_scan_key(&r->ix, &r->ix.scan[pl->scan[0]], key);
        return set_fault(f, sc->hdr, "%zu MCAs per point, the map's first scan (%s) has %zu",
                         sc->ndet, key, r->ndet);
    }
    int rc;
    if (pl->nscan == 0 && (rc = choose_detectors(r, sc, opts, err)) != MVA_OK)
        return rc;
    chan_info ch;
    if (scan_channels(r, sc, r->det[0], &ch, f) != 0)
        return 1;
    if (pl->nscan > 0 && ch.p != pl->ch.p) {
        spec_scan_key(&r->ix, &r->ix.scan[pl->scan[0]], key);
        return set_fault(f, sc->body, "spectra of %zu channels, the map's first scan (%s) has "
                                      "%zu",
                         ch.p, key, pl->ch.p);
    }
    if (pl->nscan == 0)
        pl->ch = ch;
    return 0;
}

/* Goes through the chosen scans: a named scan that cannot be read is an error; one of the
 * whole file is skipped and said in the warnings; scans without MCA data are left out. */
static int plan_map(spec_reader *r, const pick *p, size_t np, const mva_open_opts *opts,
                    plan *pl, mva_error *err)
{
    memset(pl, 0, sizeof *pl);
    pl->scan = malloc((np ? np : 1) * sizeof *pl->scan);
    pl->no_mca = malloc((np ? np : 1) * sizeof *pl->no_mca);
    pl->extra = malloc((np ? np : 1) * sizeof *pl->extra);
    if (pl->scan == NULL || pl->no_mca == NULL || pl->extra == NULL)
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory", r->file_name);
    for (size_t k = 0; k < np; k++) {
        const spec_scan *sc = &r->ix.scan[p[k].scan];
        if (sc->problem == SPEC_SCAN_NO_MCA && p[k].how != NAMED) {
            pl->no_mca[pl->nno_mca++] = p[k].scan;
            continue;
        }
        fault f;
        char text[WHY_CAP + 64];
        int rc = check_scan(r, pl, sc, opts, &f, err);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            if (sc->extra > 0)
                pl->extra[pl->nextra++] = p[k].scan;
            pl->scan[pl->nscan++] = p[k].scan;
            continue;
        }
        fault_text(r, sc, &f, text, sizeof text);
        if (p[k].how != FROM_FILE)
            return mva_error_set(err, MVA_EFORMAT, "%s: %s", r->file_name, text);
        if (pl->skipped++ == 0)
            snprintf(pl->first_skip, sizeof pl->first_skip, "%s", text);
        warn(r, "%s: scan skipped", text);
    }
    if (pl->nscan > 0)
        return MVA_OK;
    if (pl->skipped > 0)
        return mva_error_set(err, MVA_EFORMAT, "%s: %s%s", r->file_name, pl->first_skip,
                             pl->skipped > 1 ? " (and other scans that cannot be read)" : "");
    return mva_error_set(err, MVA_EFORMAT, "%s: no MCA data: no %s has '@A' spectrum lines",
                         r->file_name, np == r->ix.nscan ? "scan" : "scan chosen");
}


/* Maps the file after checking that it is a non-empty regular file with SPEC content. */
static int map_file(spec_reader *r, mva_error *err)
{
    int fd = open(r->file_name, O_RDONLY);
    if (fd < 0)
        return mva_error_set(err, errno == ENOENT ? MVA_ENOTFOUND : MVA_EIO,
                             "%s: cannot open: %s", r->file_name, strerror(errno));
    struct stat st;
    int rc = MVA_OK;
    if (fstat(fd, &st) != 0)
        rc = mva_error_set(err, MVA_EIO, "%s: cannot stat: %s", r->file_name, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = mva_error_set(err, MVA_EFORMAT, "%s: not a regular file", r->file_name);
    else if (st.st_size == 0 || (uint64_t)st.st_size > SIZE_MAX)
        rc = mva_error_set(err, MVA_EFORMAT, "%s: %s", r->file_name,
                           st.st_size == 0 ? "empty file" : "file too large for this machine");
    if (rc == MVA_OK) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            rc = mva_error_set(err, MVA_EIO, "%s: cannot map: %s", r->file_name,
                               strerror(errno));
        else {
            r->map = m;
            r->size = (size_t)st.st_size;
        }
    }
    if (rc == MVA_OK)
        r->fd = fd;
    else
        close(fd);
    if (rc == MVA_OK &&
        !sniff(r->map, r->size < SNIFF_BYTES ? r->size : SNIFF_BYTES))
        rc = mva_error_set(err, MVA_EFORMAT,
                           "%s: not a SPEC file (it must start with a '#' line and have a '#S' "
                           "scan line within the first 64 KiB)",
                           r->file_name);
    return rc;
}

/* Per pixel, the index of its point's first MCA line, scan after scan. */
static int index_pixels(spec_reader *r, const plan *pl, mva_error *err)
{
    size_t n = 0;
    for (size_t k = 0; k < pl->nscan; k++)
        n += r->ix.scan[pl->scan[k]].points; /* <= MCA lines of the file: no overflow */
    r->pt = malloc(n * sizeof *r->pt);
    if (r->pt == NULL)
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory indexing %zu spectra",
                             r->file_name, n);
    size_t i = 0;
    for (size_t k = 0; k < pl->nscan; k++) {
        const spec_scan *sc = &r->ix.scan[pl->scan[k]];
        for (size_t j = 0; j < sc->points; j++)
            r->pt[i++] = sc->mca0 + j * sc->ndet;
    }
    r->n = n;
    return MVA_OK;
}

/* The map shape: a single chosen scan's mesh command, else one row per scan when the chosen
 * scans have the same length, else one row; opts->rows x cols overrides. */
static int set_shape(spec_reader *r, const plan *pl, const mva_open_opts *opts,
                     mva_stack_info *info, mva_error *err)
{
    size_t rows = 1, cols = r->n;
    const spec_scan *first = &r->ix.scan[pl->scan[0]];
    int equal = 1;
    for (size_t k = 1; k < pl->nscan; k++)
        equal = equal && r->ix.scan[pl->scan[k]].points == first->points;
    if (pl->nscan == 1 && mesh_shape(r, r->map + first->hdr, r->n, &rows, &cols)) {
        char key[LABEL_MAX] = "?";
        spec_scan_key(&r->ix, first, key);
        if (rows * cols > r->n)
            warn(r, "scan %s: the mesh stopped after %zu points, in row %zu of %zu points; "
                 "the %zu pixels it did not reach are masked (NaN)", key, r->n, rows, cols,
                 rows * cols - r->n);
    } else if (pl->nscan > 1 && equal) {
        rows = pl->nscan;
        cols = first->points;
    }
    if (opts->rows != 0 || opts->cols != 0) {
        size_t want = 0;
        int over = mva_size_mul(opts->rows, opts->cols, &want) != MVA_OK;
        if (over || want != r->n) {
            char gives[64];
            if (over)
                snprintf(gives, sizeof gives, "more than %zu", (size_t)SIZE_MAX);
            else
                snprintf(gives, sizeof gives, "%zu", want);
            return mva_error_set(err, MVA_EINVAL,
                                 "--shape %zux%zu gives %s pixels, %s has %zu spectra",
                                 opts->rows, opts->cols, gives, r->file_name, r->n);
        }
        rows = opts->rows;
        cols = opts->cols;
    }
    info->rows = rows;
    info->cols = cols;
    return MVA_OK;
}

/* Channel count and calibration, from the first scan of the map; a warning when the
 * detectors summed carry different #@CALIB lines. */
static int set_channels(spec_reader *r, const plan *pl, const mva_open_opts *opts,
                        mva_stack_info *info, mva_error *err)
{
    const spec_scan *sc = &r->ix.scan[pl->scan[0]];
    scan_head h;
    fault f;
    r->p = pl->ch.p;
    r->p_from_chann = pl->ch.from_chann;
    info->channels = r->p;
    pick_header(r, sc, r->det[0], &h);
    if (opts->calib.known) {
        info->calib = opts->calib;
        return MVA_OK;
    }
    if (h.calib != NULL && read_calib(r, h.calib, &pl->ch, &info->calib, f.why) != 0) {
        char text[WHY_CAP + 64];
        f.at = (size_t)(h.calib - r->map);
        fault_text(r, sc, &f, text, sizeof text);
        return mva_error_set(err, MVA_EFORMAT, "%s: %s", r->file_name, text);
    }
    for (size_t d = 1; d < r->ndet_read && h.calib != NULL; d++) {
        scan_head o;
        mva_calib other;
        pick_header(r, sc, r->det[d], &o);
        if (o.calib == h.calib || read_calib(r, o.calib, &pl->ch, &other, f.why) != 0)
            continue;
        if (other.known != info->calib.known || other.a != info->calib.a ||
            other.b != info->calib.b || other.c != info->calib.c) {
            size_t l0, l1, col;
            spec_locate(r->map, h.calib, &l0, &col);
            spec_locate(r->map, o.calib, &l1, &col);
            warn(r,
                 "the detectors summed have different calibrations (#@CALIB of detector %zu on "
                 "line %zu, of detector %zu on line %zu): the sum blurs the peaks; the "
                 "calibration used is detector %zu's (line %zu); --detector N reads one",
                 r->det[0], l0, r->det[d], l1, r->det[0], l0);
            break;
        }
    }
    return MVA_OK;
}

/* "26 (3 from line 8123), 27 (1 from line 9000), ... and 40 more" */
static void list_extra(const spec_reader *r, const plan *pl, char *buf, size_t cap)
{
    size_t len = 0, total = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < pl->nextra; k++) {
        const spec_scan *sc = &r->ix.scan[pl->extra[k]];
        total += sc->extra;
        if (k >= LIST_MAX)
            continue;
        char key[LABEL_MAX];
        size_t line, col;
        spec_scan_key(&r->ix, sc, key);
        spec_locate(r->map, r->map + r->ix.mca[sc->mca0 + sc->nmca - sc->extra], &line, &col);
        int w = snprintf(buf + len, cap - len, "%s%s (%zu from line %zu)", k ? ", " : "", key,
                         sc->extra, line);
        if (w > 0 && (size_t)w < cap - len)
            len += (size_t)w;
    }
    if (pl->nextra > LIST_MAX)
        snprintf(buf + len, cap - len, " and %zu more scans", pl->nextra - LIST_MAX);
    (void)total;
}

/* The grouped warnings: scans without MCA data, spectra that belong to no point. */
static void say_left_out(spec_reader *r, const plan *pl)
{
    char list[768];
    if (pl->nextra > 0) {
        size_t total = 0;
        for (size_t k = 0; k < pl->nextra; k++)
            total += r->ix.scan[pl->extra[k]].extra;
        list_extra(r, pl, list, sizeof list);
        warn(r,
             "%zu MCA spectr%s after the last counter line of %s belong to no scan point "
             "(SPEC writes a spectrum for every count, also a 'ct' after the scan) and %s not "
             "read: scan%s %s",
             total, total == 1 ? "um" : "a", pl->nextra == 1 ? "a scan" : "their scans",
             total == 1 ? "is" : "are", pl->nextra == 1 ? "" : "s", list);
    }
    if (pl->nno_mca > 0) {
        size_t len = 0;
        list[0] = '\0';
        for (size_t k = 0; k < pl->nno_mca && k < LIST_MAX; k++) {
            char key[LABEL_MAX];
            spec_scan_key(&r->ix, &r->ix.scan[pl->no_mca[k]], key);
            int w = snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "", key);
            if (w > 0 && (size_t)w < sizeof list - len)
                len += (size_t)w;
        }
        if (pl->nno_mca > LIST_MAX)
            snprintf(list + len, sizeof list - len, " and %zu more", pl->nno_mca - LIST_MAX);
        warn(r, "scan%s %s: no MCA spectra, not in the map", pl->nno_mca == 1 ? "" : "s", list);
    }
}

/* "scan 7", "scans 1..106" (consecutive in the file) or "scans 3, 5, 9 (...)". */
static void describe_scans(const spec_reader *r, const plan *pl, char *buf, size_t cap)
{
    char a[LABEL_MAX], b[LABEL_MAX];
    int run = 1;
    for (size_t k = 1; k < pl->nscan; k++)
        run = run && pl->scan[k] == pl->scan[k - 1] + 1;
    spec_scan_key(&r->ix, &r->ix.scan[pl->scan[0]], a);
    spec_scan_key(&r->ix, &r->ix.scan[pl->scan[pl->nscan - 1]], b);
    if (pl->nscan == 1) {
        snprintf(buf, cap, "scan %s", a);
        return;
    }
    if (run) {
        snprintf(buf, cap, "scans %s..%s", a, b);
        return;
    }
    size_t len = (size_t)snprintf(buf, cap, "scans ");
    for (size_t k = 0; k < pl->nscan && k < LIST_MAX && len < cap; k++) {
        spec_scan_key(&r->ix, &r->ix.scan[pl->scan[k]], a);
        int w = snprintf(buf + len, cap - len, "%s%s", k ? "," : "", a);
        len += w > 0 ? (size_t)w : 0;
    }
    if (pl->nscan > LIST_MAX && len < cap)
        snprintf(buf + len, cap - len, ",... (%zu scans)", pl->nscan);
}

static void describe(const spec_reader *r, const plan *pl, mva_stack_info *info)
{
    char scans[160], dets[96];
    describe_scans(r, pl, scans, sizeof scans);
    if (r->ndet_read == 1)
        snprintf(dets, sizeof dets, "detector %zu of %zu", r->det[0], r->ndet);
    else if (r->ndet_read == r->ndet)
        snprintf(dets, sizeof dets, "sum of %zu detectors", r->ndet);
    else {
        size_t len = (size_t)snprintf(dets, sizeof dets, "sum of detectors ");
        for (size_t d = 0; d < r->ndet_read && len < sizeof dets; d++) {
            int w = snprintf(dets + len, sizeof dets - len, "%s%zu", d ? "," : "", r->det[d]);
            len += w > 0 ? (size_t)w : 0;
        }
        if (len < sizeof dets)
            snprintf(dets + len, sizeof dets - len, " of %zu", r->ndet);
    }
    snprintf(info->path, sizeof info->path, "%s, %s", scans, dets);
    if (r->ndet > 1) {
        unsigned char use[MVA_SPEC_DET_MAX];
        memset(use, 0, sizeof use);
        for (size_t d = 0; d < r->ndet_read && r->det[d] < MVA_SPEC_DET_MAX; d++)
            use[r->det[d]] = 1;
        if (r->ndet <= MVA_SPEC_DET_MAX)
            mva_detector_describe(use, r->ndet, NULL, info->elements, sizeof info->elements);
        else
            snprintf(info->elements, sizeof info->elements, "%s", dets);
    }
    snprintf(info->warnings, sizeof info->warnings, "%s", r->warn);
    snprintf(info->format, sizeof info->format, "spec");
    snprintf(info->source, sizeof info->source, "%s", r->file_name);
    snprintf(info->layout, sizeof info->layout, "rows,cols,channels");
    snprintf(info->storage, sizeof info->storage, "text, %zu spectra in %zu scan%s", r->n,
             pl->nscan, pl->nscan == 1 ? "" : "s");
    info->dtype = MVA_DTYPE_FLOAT64;
    info->chunk_pixels = 0;
    info->stored_bytes = r->size;
}

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

#define COLS_MAX 8 /* columns of one name compared */

/* The columns (0-based) of counter `name` in the scan's #L line: the exact name, else the
 * name in any case (so that --norm i0 finds I0).  Returns how many (<= COLS_MAX), -1 when
 * the scan has no #L line; all gets the labels, ", "-separated, for a message. */
static int counter_columns(const spec_reader *r, const spec_scan *sc, const char *name,
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

/* Value of column col (0-based, blank-separated) of the counter line at s.  0, or 1 when the
 * line is shorter, 2 when the value is not a number (*at: the token). */
static int counter_value(const spec_reader *r, const char *s, size_t col, double *v,
                         const char **at)
{
    const char *e = line_end(r, s), *t = NULL;
    size_t len = 0;
    for (size_t k = 0; k <= col; k++)
        if (!next_token(&s, e, &t, &len))
            return 1;
    *at = t;
    while (len > 0 && t[len - 1] == '\r')
        len--;
    return parse_decimal(r->c_locale, t, len, v) == 0 ? 0 : 2;
}

/* The counter's value for every point of one scan into v (points values). */
static int scan_counter(const spec_reader *r, const spec_scan *sc, const char *name, double *v,
                        mva_error *err)
{
    size_t col[COLS_MAX], line, c;
    char all[768], key[LABEL_MAX];
    int n = counter_columns(r, sc, name, col, all, sizeof all);
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
            int rc = counter_value(r, s, col[k], &x, &at);
            if (rc != 0) {
                char place[FILE_CAP + 96];
                where(r, rc == 1 ? s : at, rc == 2, place, sizeof place);
                return mva_error_set(err, MVA_EFORMAT,
                                     "%s: counter '%s' (column %zu of #L): %s", place, name,
                                     col[k] + 1,
                                     rc == 1 ? "the counter line is shorter" : "not a number");
            }
            if (k == 0)
                v[j] = x;
            else if (x != v[j] && !(x != x && v[j] != v[j])) {
                char place[FILE_CAP + 96];
                where(r, s, 0, place, sizeof place);
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
    int n = counter_columns(r, first, t->name, col, all, sizeof all);
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
static int set_norm(spec_reader *r, const plan *pl, const mva_open_opts *opts,
                    mva_stack_info *info, mva_error *err)
{
    if (opts->norm == NULL)
        return MVA_OK;
    norm_ctx ctx = {r, pl, info->rows, info->cols};
    return mva_norm_build(opts->norm, r->file_name, info->rows, info->cols, 1, NULL,
                          resolve_counter, &ctx, &r->weight, info->norm, sizeof info->norm,
                          err);
}

/* Maps and indexes the file. */
static int spec_reader_new(spec_reader **out, const char *input, mva_error *err)
{
    *out = NULL;
    if (strlen(input) >= FILE_CAP)
        return mva_error_set(err, MVA_ERANGE, "%s: input name too long", input);
    spec_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory", input);
    snprintf(r->file_name, sizeof r->file_name, "%s", input);
    r->fd = -1;
    int rc = MVA_OK;
    r->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (r->c_locale == (locale_t)0)
        rc = mva_error_set(err, MVA_ENOMEM, "%s: cannot create the C locale", input);
    if (rc == MVA_OK && (rc = map_file(r, err)) == MVA_OK) {
        /* The index pass reads the file once from start to end. */
        posix_madvise((void *)r->map, r->size, POSIX_MADV_SEQUENTIAL);
        rc = spec_index_build(&r->ix, r->map, r->size, r->file_name, err);
        posix_madvise((void *)r->map, r->size, POSIX_MADV_NORMAL);
    }
    if (rc != MVA_OK) {
        spec_close(r);
        return rc;
    }
    *out = r;
    return MVA_OK;
}

int mva_spec_open(mva_stack **out, const char *input, const mva_open_opts *opts,
                  mva_error *err)
{
    static const mva_open_opts defaults;
    mva_stack_info info;
    spec_reader *r = NULL;
    pick *p = NULL;
    size_t np = 0;
    plan pl;
    int rc;
    *out = NULL;
    memset(&pl, 0, sizeof pl);
    if (opts == NULL)
        opts = &defaults;
    if ((rc = spec_reader_new(&r, input, err)) != MVA_OK)
        return rc;
    memset(&info, 0, sizeof info);
    if ((rc = choose_scans(r, opts->scan, &p, &np, err)) != MVA_OK ||
        (rc = plan_map(r, p, np, opts, &pl, err)) != MVA_OK ||
        (rc = index_pixels(r, &pl, err)) != MVA_OK ||
        (rc = set_channels(r, &pl, opts, &info, err)) != MVA_OK ||
        (rc = set_shape(r, &pl, opts, &info, err)) != MVA_OK ||
        (rc = set_norm(r, &pl, opts, &info, err)) != MVA_OK)
        goto done;
    say_left_out(r, &pl);
    describe(r, &pl, &info);
    free(p);
    plan_free(&pl);
    /* mva_stack_new owns r from here, also when it fails. */
    return mva_stack_new(out, &spec_ops, r, &info, err);
done:
    free(p);
    plan_free(&pl);
    spec_close(r);
    return rc;
}

/* ---- the scans of a file, for mva-info ---- */

/* The #S line after its number, blanks squeezed, into buf. */
static void scan_command(const spec_reader *r, const spec_scan *sc, char *buf, size_t cap)
{
    const char *s = r->map + sc->hdr + 2, *e = line_end(r, s);
    size_t k = 0;
    while (s < e && is_blank(*s))
        s++;
    while (s < e && !is_blank(*s))
        s++;
    while (s < e && k + 1 < cap) {
        while (s < e && is_blank(*s))
            s++;
        while (s < e && !is_blank(*s) && k + 1 < cap)
            buf[k++] = (*s >= ' ' && *s < 127) ? *s : '?', s++;
        if (s < e && k + 1 < cap && k > 0)
            buf[k++] = ' ';
    }
    while (k > 0 && buf[k - 1] == ' ')
        k--;
    buf[k] = '\0';
}

static void describe_scan(const spec_reader *r, const spec_scan *sc, mva_spec_scan *d)
{
    size_t col;
    memset(d, 0, sizeof *d);
    spec_scan_key(&r->ix, sc, d->key);
    scan_command(r, sc, d->command, sizeof d->command);
    spec_locate(r->map, r->map + sc->hdr, &d->line, &col);
    d->mca = sc->nmca;
    d->points = sc->problem == SPEC_SCAN_OK ? sc->points : sc->ndata;
    if (sc->problem != SPEC_SCAN_OK) {
        fault f;
        char text[WHY_CAP + 64];
        spec_scan_problem(&r->ix, sc, f.why, sizeof f.why, &f.at);
        fault_text(r, sc, &f, text, sizeof text);
        snprintf(d->note, sizeof d->note, "%s", sc->problem == SPEC_SCAN_NO_MCA ? "" : text);
        return;
    }
    d->detectors = sc->ndet;
    chan_info ch;
    fault f;
    if (scan_channels(r, sc, 0, &ch, &f) != 0) {
        char text[WHY_CAP + 64];
        fault_text(r, sc, &f, text, sizeof text);
        snprintf(d->note, sizeof d->note, "%s", text);
        return;
    }
    d->channels = ch.p;
    if (sc->extra > 0) {
        size_t line;
        spec_locate(r->map, r->map + r->ix.mca[sc->mca0 + sc->nmca - sc->extra], &line, &col);
        snprintf(d->note, sizeof d->note,
                 "%zu MCA spectr%s after the last counter line (from line %zu), not read",
                 sc->extra, sc->extra == 1 ? "um" : "a", line);
    }
}

int mva_spec_list(const char *file, mva_spec_list_fn fn, void *ctx, mva_error *err)
{
    spec_reader *r;
    int rc = spec_reader_new(&r, file, err);
    for (size_t k = 0; rc == MVA_OK && k < r->ix.nscan; k++) {
        mva_spec_scan d;
        describe_scan(r, &r->ix.scan[k], &d);
        rc = fn(ctx, &d);
    }
    if (r != NULL)
        spec_close(r);
    return rc;
}
