/*
 * The SPEC file stack reader: one MCA spectrum per pixel.
 *
 * A SPEC data file is text: '#' header lines (#F file, #S scan, #@CHANN, #@CALIB, ...),
 * data lines of counters, and MCA lines "@A v v v ...", a spectrum continued on the next
 * line while a line ends with '\'.  Every scan point holds one MCA line per detector, in
 * detector order.
 *
 * Open maps the file (read-only; the pages stay evictable, nothing is copied) and indexes it
 * in one memchr pass over the lines: the byte offset of the MCA line of every pixel, 8 bytes
 * per pixel, and a few counts per scan.  Read parses only the requested spectra from those
 * offsets, with an integer fast path and an exact decimal fast path for floats.  Numbers
 * never go through the process locale.
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
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
#include "numparse.h"

#define FILE_CAP 4096         /* = sizeof(mva_stack_info.source) */
#define SNIFF_BYTES (64 * 1024)
#define TOKEN_MAX 128         /* longest number accepted */
#define LABEL_MAX 32          /* scan number as written after #S */
#define SHOW_MAX 24           /* characters of a bad token quoted in a message */
#define OFFSETS_MIN 4096
#define DET_SUM (-1)          /* several MCAs of a point added (all of them or a list) */

typedef struct spec_reader {
    const char *map;          /* the whole file, PROT_READ */
    size_t size;
    int fd;                   /* kept open to notice a file truncated under the map */
    uint64_t *off;            /* per pixel: offset of its MCA line (detector 0 when summing) */
    size_t n;                 /* pixels */
    size_t p;                 /* channels */
    int sum;                  /* add the used MCAs of each point */
    unsigned char *use;       /* when summing: which of the ndet MCAs (NULL = all) */
    double *skip;             /* one spectrum parsed only to reach the next MCA */
    size_t ndet_pick;         /* the detector read when not summing */
    size_t ndet;              /* MCAs per point (the same in every scan when summing) */
    int p_from_chann;         /* p was given by #@CHANN (else by the first spectrum) */
    locale_t c_locale;        /* for the rare strtod fallback */
    char file_name[FILE_CAP];
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

/* 1-based line and column of p.  Counts newlines from the start: messages only. */
static void locate(const spec_reader *r, const char *p, size_t *line, size_t *col)
{
    const char *q = r->map, *bol = r->map;
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

static int is_scan_line(const char *s, const char *end)
{
    return end - s >= 3 && s[0] == '#' && s[1] == 'S' && (s[2] == ' ' || s[2] == '\t');
}

/* The scan number written after "#S" on the line at s, e.g. "12" (or "?"). */
static void scan_label_at(const char *s, const char *end, char *label)
{
    size_t k = 0;
    s += 2;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (s < end && k < LABEL_MAX - 1 && *s > ' ' && *s < 127)
        label[k++] = *s++;
    if (k == 0)
        label[k++] = '?';
    label[k] = '\0';
}

/* The scan holding p: the nearest "#S" line before it (messages only). */
static void scan_of(const spec_reader *r, const char *p, char *label)
{
    const char *end = r->map + r->size, *q = p;
    for (;;) {
        const char *s = q;
        while (s > r->map && s[-1] != '\n')
            s--;
        if (is_scan_line(s, end)) {
            scan_label_at(s, end, label);
            return;
        }
        if (s == r->map)
            break;
        q = s - 1;
    }
    snprintf(label, LABEL_MAX, "?");
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
    size_t line, col;
    char scan[LABEL_MAX], tok[SHOW_MAX + 1];
    locate(r, at, &line, &col);
    scan_of(r, at, scan);
    show_token(at, r->map + r->size, tok);
    return mva_error_set(err, MVA_EFORMAT,
                         "%s: line %zu, column %zu (scan %s): '%s' is not a number",
                         r->file_name, line, col, scan, tok);
}

static int truncated(const spec_reader *r, const char *at, mva_error *err)
{
    size_t line, col;
    char scan[LABEL_MAX];
    locate(r, at, &line, &col);
    scan_of(r, at, scan);
    return mva_error_set(err, MVA_EFORMAT,
                         "%s: line %zu (scan %s): MCA spectrum continued with '\\' at the end of "
                         "the file (truncated?)",
                         r->file_name, line, scan);
}

/* ---- parsing one spectrum ---- */

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
    size_t line, col;
    char scan[LABEL_MAX];
    locate(r, q, &line, &col);
    scan_of(r, q, scan);
    return mva_error_set(err, MVA_EFORMAT,
                         "%s: line %zu (scan %s): spectrum has %zu values, expected %zu (%s)",
                         r->file_name, line, scan, k, r->p,
                         r->p_from_chann ? "from #@CHANN" : "as the first spectrum");
}

/* Parses the spectrum at q into out (p values, added when add), checking its length.
 * *stop gets the end of the spectrum. */
static int parse_spectrum(const spec_reader *r, const char *q, double *out, int add,
                          const char **stop, mva_error *err)
{
    size_t k;
    int w = add ? walk_add(r, q, out, r->p, &k, stop) : walk_set(r, q, out, r->p, &k, stop);
    if (w == WALK_BAD)
        return bad_value(r, *stop, err);
    if (w == WALK_TRUNC)
        return truncated(r, *stop, err);
    return k == r->p ? MVA_OK : wrong_length(r, q, k, err);
}

/* The next MCA line after q (the end of the previous spectrum), or NULL. */
static const char *next_mca(const spec_reader *r, const char *q)
{
    const char *end = r->map + r->size;
    while (q < end) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        if (nl == NULL)
            return NULL;
        q = nl + 1;
        if (q < end && *q == '@')
            return q;
    }
    return NULL;
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
                             (unsigned long long)r->off[first]);
    for (size_t i = 0; i < count; i++) {
        double *o = out + i * r->p;
        const char *q = r->map + r->off[first + i], *stop;
        int rc;
        if (!r->sum) {
            if ((rc = parse_spectrum(r, q, o, 0, &stop, err)) != MVA_OK)
                return rc;
            continue;
        }
        memset(o, 0, r->p * sizeof *o);
        for (size_t d = 0; d < r->ndet; d++) {
            if (d > 0 && (q = next_mca(r, stop)) == NULL)
                return mva_error_set(err, MVA_EIO,
                                     "%s: MCA %zu of pixel %zu not found (file changed since "
                                     "it was opened?)",
                                     r->file_name, d, first + i);
            int used = r->use == NULL || r->use[d];
            if ((rc = parse_spectrum(r, q, used ? o : r->skip, used, &stop, err)) != MVA_OK)
                return rc;
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
    free(r->off);
    free(r->use);
    free(r->skip);
    free(r);
}

static const mva_reader_ops spec_ops = {"spec", spec_read, spec_close, NULL};

/* ---- content check ---- */

/* SPEC by content: the first line is a '#' line, and it is "#F"/"#S" or a "#S " scan line
 * follows within the bytes given (the first 64 KiB). */
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

/* ---- the index ---- */

typedef struct scan_state {
    int open;                 /* inside a #S block */
    const char *hdr;          /* its #S line */
    size_t base;              /* its first MCA in r->off */
    size_t mca, data, chann;  /* MCA lines, counter lines, #@CHANN lines */
} scan_state;

typedef struct index_build {
    spec_reader *r;
    int det;                  /* detector asked for, or DET_SUM */
    size_t used, cap;         /* entries and capacity of r->off */
    scan_state cur;
    /* the scans with MCA data */
    size_t nscans;
    const char *first_hdr, *last_hdr;
    const char *first_mca;    /* the first MCA line of the first of them: its header ends here */
    size_t first_points, first_ndet, ndet_min, ndet_max;
    int equal;                /* all have first_points points */
} index_build;

static int push_offset(index_build *b, size_t off, mva_error *err)
{
    spec_reader *r = b->r;
    if (b->used == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : OFFSETS_MIN;
        uint64_t *o = cap > SIZE_MAX / sizeof *o ? NULL : realloc(r->off, cap * sizeof *o);
        if (o == NULL)
            return mva_error_set(err, MVA_ENOMEM, "%s: out of memory indexing %zu spectra",
                                 r->file_name, b->used);
        r->off = o;
        b->cap = cap;
    }
    r->off[b->used++] = off;
    return MVA_OK;
}

/* How many MCAs each point of the scan holds.  The rule of silx's spech5: MCA lines per
 * counter line; a scan without counter lines has one MCA per #@CHANN line (one detector
 * when there is none).  An aborted scan whose counts do not divide falls back on #@CHANN. */
static int detectors_of(index_build *b, size_t *ndet, mva_error *err)
{
    const scan_state *c = &b->cur;
    if (c->data > 0 && c->mca % c->data == 0)
        *ndet = c->mca / c->data;
    else if (c->chann > 0 && c->mca % c->chann == 0)
        *ndet = c->chann;
    else if (c->data == 0)
        *ndet = 1;
    else {
        size_t line, col;
        char scan[LABEL_MAX];
        locate(b->r, c->hdr, &line, &col);
        scan_label_at(c->hdr, b->r->map + b->r->size, scan);
        return mva_error_set(err, MVA_EFORMAT,
                             "%s: scan %s (line %zu): %zu MCA spectra for %zu counter lines, not "
                             "a whole number of MCAs per point",
                             b->r->file_name, scan, line, c->mca, c->data);
    }
    return MVA_OK;
}

/* Closes the scan being indexed: keeps the offset of the wanted MCA of every point. */
static int finish_scan(index_build *b, mva_error *err)
{
    scan_state *c = &b->cur;
    spec_reader *r = b->r;
    const char *end = r->map + r->size;
    size_t ndet;
    int rc;
    c->open = 0;
    if (c->mca == 0)
        return MVA_OK;
    if ((rc = detectors_of(b, &ndet, err)) != MVA_OK)
        return rc;
    char scan[LABEL_MAX], other[LABEL_MAX];
    size_t line, col;
    if (b->det != DET_SUM && (size_t)b->det >= ndet) {
        locate(r, c->hdr, &line, &col);
        scan_label_at(c->hdr, end, scan);
        return mva_error_set(err, MVA_EINVAL,
                             "%s: scan %s (line %zu) has %zu MCA%s per point, detector %d asked "
                             "for (detectors are 0..%zu)",
                             r->file_name, scan, line, ndet, ndet == 1 ? "" : "s", b->det,
                             ndet - 1);
    }
    if (b->det == DET_SUM && b->nscans > 0 && ndet != b->ndet_min) {
        scan_label_at(b->first_hdr, end, other);
        scan_label_at(c->hdr, end, scan);
        return mva_error_set(err, MVA_EFORMAT,
                             "%s: the detector sum needs the same number of MCAs per point in "
                             "every scan: scan %s has %zu, scan %s has %zu; pick one with "
                             "--detector N",
                             r->file_name, other, b->ndet_min, scan, ndet);
    }
    size_t points = c->mca / ndet, d = b->det == DET_SUM ? 0 : (size_t)b->det;
    const char *mca0 = r->map + r->off[c->base];
    for (size_t k = 0; k < points; k++)
        r->off[c->base + k] = r->off[c->base + k * ndet + d];
    b->used = c->base + points;
    if (b->nscans++ == 0) {
        b->first_hdr = c->hdr;
        b->first_mca = mca0;
        b->first_points = points;
        b->first_ndet = ndet;
        b->ndet_min = b->ndet_max = ndet;
        b->equal = 1;
    }
    b->last_hdr = c->hdr;
    b->equal = b->equal && points == b->first_points;
    b->ndet_min = ndet < b->ndet_min ? ndet : b->ndet_min;
    b->ndet_max = ndet > b->ndet_max ? ndet : b->ndet_max;
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

static int header_line(index_build *b, const char *s, const char *e, mva_error *err)
{
    if (is_scan_line(s, e)) {
        int rc = b->cur.open ? finish_scan(b, err) : MVA_OK;
        if (rc != MVA_OK)
            return rc;
        memset(&b->cur, 0, sizeof b->cur);
        b->cur.open = 1;
        b->cur.hdr = s;
        b->cur.base = b->used;
    } else if (e - s >= 2 && s[1] == 'F' && (e - s == 2 || is_blank(s[2]))) {
        /* A new file header ends the scan (silx: sfNewBlock). */
        return b->cur.open ? finish_scan(b, err) : MVA_OK;
    } else if (b->cur.open && e - s >= 7 && memcmp(s, "#@CHANN", 7) == 0) {
        b->cur.chann++;
    }
    return MVA_OK;
}

/* One pass over the lines of the file. */
static int build_index(index_build *b, mva_error *err)
{
    spec_reader *r = b->r;
    const char *s = r->map, *end = r->map + r->size, *cont_at = NULL;
    int cont = 0, rc = MVA_OK;
    while (s < end && rc == MVA_OK) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        if (cont) {
            if (s < e && (*s == '#' || *s == '@')) {
                size_t line, col;
                locate(r, s, &line, &col);
                return mva_error_set(err, MVA_EFORMAT,
                                     "%s: line %zu: MCA spectrum continued with '\\' on line "
                                     "%zu runs into a '%c' line",
                                     r->file_name, line, line - 1, *s);
            }
            if ((cont = continues(s, e)))
                cont_at = s;
        } else if (*s == '@') {
            if (b->cur.open) {
                rc = push_offset(b, (size_t)(s - r->map), err);
                b->cur.mca++;
            }
            if ((cont = continues(s, e)))
                cont_at = s;
        } else if (*s == '#') {
            rc = header_line(b, s, e, err);
        } else if (b->cur.open && is_data_line(s, e)) {
            b->cur.data++;
        }
        s = nl ? nl + 1 : end;
    }
    if (rc != MVA_OK)
        return rc;
    if (cont)
        return truncated(r, cont_at, err);
    return b->cur.open ? finish_scan(b, err) : MVA_OK;
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

/* The header lines the first MCA scan gives for one detector: the k-th of several
 * #@CHANN / #@CALIB lines when there is one per detector (PyMca), else the first. */
typedef struct header_pick {
    const char *chann, *calib;
} header_pick;

static void pick_header(const index_build *b, size_t want, header_pick *h)
{
    const char *s = b->first_hdr, *e, *end = b->first_mca;
    const char *chann[2] = {NULL, NULL}, *calib[2] = {NULL, NULL};
    size_t nchann = 0, ncalib = 0;
    for (; s < end; s = e + 1) {
        e = memchr(s, '\n', (size_t)(end - s));
        if (e == NULL)
            e = end;
        if (e - s >= 7 && memcmp(s, "#@CHANN", 7) == 0) {
            if (nchann == 0)
                chann[0] = s;
            if (nchann++ == want)
                chann[1] = s;
        } else if (e - s >= 7 && memcmp(s, "#@CALIB", 7) == 0) {
            if (ncalib == 0)
                calib[0] = s;
            if (ncalib++ == want)
                calib[1] = s;
        }
    }
    h->chann = nchann == b->first_ndet && chann[1] ? chann[1] : chann[0];
    h->calib = ncalib == b->first_ndet && calib[1] ? calib[1] : calib[0];
}

static const char *line_end(const spec_reader *r, const char *s)
{
    const char *e = memchr(s, '\n', (size_t)(r->map + r->size - s));
    return e ? e : r->map + r->size;
}

static int bad_header(const spec_reader *r, const char *s, const char *what, mva_error *err)
{
    size_t line, col;
    locate(r, s, &line, &col);
    return mva_error_set(err, MVA_EFORMAT, "%s: line %zu: malformed %s", r->file_name, line,
                         what);
}

/* "#@CHANN n first last step": n channels, numbered from first.  The spectra are then
 * checked against n; without the line, the first spectrum sets the count. */
static int read_chann(spec_reader *r, const char *s, size_t *first, mva_error *err)
{
    double v[4];
    int k = line_numbers(r, s, line_end(r, s), v, 4);
    if (k < 1 || v[0] < 1 || v[0] > 1e15 || v[0] != (double)(size_t)v[0] ||
        (k >= 2 && (v[1] < 0 || v[1] > 1e15 || v[1] != (double)(size_t)v[1])))
        return bad_header(r, s, "#@CHANN line (expected '#@CHANN n first last step')", err);
    r->p = (size_t)v[0];
    *first = k >= 2 ? (size_t)v[1] : 0;
    r->p_from_chann = 1;
    return MVA_OK;
}

/* "#@CALIB a b c": E = a + b ch + c ch^2 for channel number ch.  With channels numbered from
 * first, the calibration per array index i is that of ch = i + first.  "0 1 0" is what SPEC
 * writes for an uncalibrated MCA: it is not taken as a calibration. */
static int read_calib(const spec_reader *r, const char *s, size_t first, mva_calib *cal,
                      mva_error *err)
{
    double v[3] = {0, 0, 0};
    int k = line_numbers(r, s, line_end(r, s), v, 3);
    if (k < 2)
        return bad_header(r, s, "#@CALIB line (expected '#@CALIB a b c')", err);
    if (v[0] == 0 && v[1] == 1 && v[2] == 0)
        return MVA_OK;
    double f = (double)first;
    cal->known = 1;
    cal->a = v[0] + v[1] * f + v[2] * f * f;
    cal->b = v[1] + 2 * v[2] * f;
    cal->c = v[2];
    return MVA_OK;
}

/*
 * "mesh m1 a b n1 m2 c d n2 t": m1 moves fastest, n1 intervals, so (n2 + 1) rows of
 * (n1 + 1) points.  Only commands whose name ends in "mesh" (mesh, dmesh, amesh, ...) and
 * whose arguments have this structure count: motor names that are not numbers, numbers,
 * interval counts that are integers.  A mesh cut short counts when it stopped at the end of
 * a row.  Returns 1 and the shape, 0 when the command is not such a mesh.
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
    if (points < full && points % (n1 + 1) == 0) {
        *rows = points / (n1 + 1);
        *cols = n1 + 1;
        return 1;
    }
    return 0;
}

/* The map shape: a mesh command, else one row per scan when the scans have the same
 * length, else one row; opts->rows x cols overrides. */
static int set_shape(const index_build *b, const mva_open_opts *opts, mva_stack_info *info,
                     mva_error *err)
{
    const spec_reader *r = b->r;
    size_t rows = 1, cols = r->n;
    if (b->nscans == 1 && mesh_shape(r, b->first_hdr, r->n, &rows, &cols)) {
        /* shape from the command */
    } else if (b->nscans > 1 && b->equal) {
        rows = b->nscans;
        cols = b->first_points;
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

/* Channel count, first spectrum check and calibration, from the first scan with MCA data. */
static int set_channels(spec_reader *r, const index_build *b, const mva_open_opts *opts,
                        mva_stack_info *info, mva_error *err)
{
    header_pick h;
    size_t first = 0, k;
    const char *stop;
    int rc;
    pick_header(b, r->sum ? 0 : (size_t)b->det, &h);
    if (h.chann != NULL && (rc = read_chann(r, h.chann, &first, err)) != MVA_OK)
        return rc;
    const char *q = r->map + r->off[0];
    int w = walk_set(r, q, NULL, 0, &k, &stop);
    if (w == WALK_BAD)
        return bad_value(r, stop, err);
    if (w == WALK_TRUNC)
        return truncated(r, stop, err);
    if (!r->p_from_chann) {
        if (k == 0) {
            size_t line, col;
            locate(r, q, &line, &col);
            return mva_error_set(err, MVA_EFORMAT, "%s: line %zu: MCA spectrum without values",
                                 r->file_name, line);
        }
        r->p = k;
    } else if (k != r->p) {
        return wrong_length(r, q, k, err);
    }
    if (opts->calib.known)
        info->calib = opts->calib;
    else if (h.calib != NULL && (rc = read_calib(r, h.calib, first, &info->calib, err)) != MVA_OK)
        return rc;
    info->channels = r->p;
    return MVA_OK;
}

/* ---- open ---- */

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

/* Indexes the file: every pixel's MCA offset, and what the shape and channels need. */
static int index_file(spec_reader *r, index_build *b, mva_error *err)
{
    /* The index pass reads the file once from start to end. */
    posix_madvise((void *)r->map, r->size, POSIX_MADV_SEQUENTIAL);
    int rc = build_index(b, err);
    posix_madvise((void *)r->map, r->size, POSIX_MADV_NORMAL);
    if (rc != MVA_OK)
        return rc;
    r->n = b->used;
    if (r->n == 0)
        return mva_error_set(err, MVA_EFORMAT,
                             "%s: no MCA data: no scan has '@A' spectrum lines", r->file_name);
    uint64_t *o = realloc(r->off, r->n * sizeof *o);
    if (o != NULL)
        r->off = o;
    r->ndet = b->ndet_min;
    return MVA_OK;
}

/* --detector against the MCAs per point found: a list or "sum" picks the MCAs added; by
 * default the sum of all (the one MCA when there is one); any --detector on a file of one
 * MCA per point is an error. */
static int select_detectors(spec_reader *r, const index_build *b, const char *spec,
                            mva_error *err)
{
    int rc;
    if (!r->sum) {
        if (b->ndet_max > 1)
            return MVA_OK;
        unsigned char one;
        rc = mva_detector_select(spec, 1, &one, err);
        return mva_error_prefix(err, rc, "%s: ", r->file_name);
    }
    if ((r->use = malloc(r->ndet)) == NULL)
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory", r->file_name);
    rc = mva_detector_select(spec, r->ndet, r->use, err);
    if (rc < 0)
        return mva_error_prefix(err, rc, "%s: ", r->file_name);
    if (r->ndet == 1) /* the default on a file of one MCA per point: that one */
        r->sum = 0;
    return MVA_OK;
}

static void describe(const spec_reader *r, const index_build *b, mva_stack_info *info)
{
    const char *end = r->map + r->size;
    char first[LABEL_MAX], last[LABEL_MAX], scans[96], dets[256];
    scan_label_at(b->first_hdr, end, first);
    scan_label_at(b->last_hdr, end, last);
    if (b->nscans == 1)
        snprintf(scans, sizeof scans, "scan %s", first);
    else
        snprintf(scans, sizeof scans, "scans %s..%s", first, last);
    if (r->sum)
        mva_detector_describe(r->use, r->ndet, NULL, info->elements, sizeof info->elements);
    if (r->sum && memchr(r->use, 0, r->ndet) != NULL)
        snprintf(dets, sizeof dets, "%s", info->elements);
    else if (r->sum)
        snprintf(dets, sizeof dets, "sum of %zu detectors", r->ndet);
    else if (b->ndet_min == b->ndet_max)
        snprintf(dets, sizeof dets, "detector %zu of %zu", r->ndet_pick, b->ndet_min);
    else
        snprintf(dets, sizeof dets, "detector %zu of %zu..%zu", r->ndet_pick, b->ndet_min,
                 b->ndet_max);
    if (!r->sum && b->ndet_max > 1)
        snprintf(info->elements, sizeof info->elements, "element %zu of %zu", r->ndet_pick,
                 b->ndet_max);
    snprintf(info->path, sizeof info->path, "%s, %s", scans, dets);
    snprintf(info->format, sizeof info->format, "spec");
    snprintf(info->source, sizeof info->source, "%s", r->file_name);
    snprintf(info->layout, sizeof info->layout, "rows,cols,channels");
    snprintf(info->storage, sizeof info->storage, "text, %zu spectra in %zu scan%s", r->n,
             b->nscans, b->nscans == 1 ? "" : "s");
    info->dtype = MVA_DTYPE_FLOAT64;
    info->chunk_pixels = 0;
    info->stored_bytes = r->size;
}

int mva_spec_open(mva_stack **out, const char *input, const mva_open_opts *opts,
                  mva_error *err)
{
    static const mva_open_opts defaults;
    mva_stack_info info;
    index_build b;
    int rc;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    int det = DET_SUM;
    size_t pick;
    const char *spec = opts->detector;
    if (spec != NULL && spec[strspn(spec, "0123456789")] == '\0' &&
        mva_parse_size(spec, &pick) == 0 && pick <= 1000000)
        det = (int)pick;
    if (strlen(input) >= FILE_CAP)
        return mva_error_set(err, MVA_ERANGE, "%s: input name too long", input);
    spec_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory", input);
    snprintf(r->file_name, sizeof r->file_name, "%s", input);
    r->fd = -1;
    r->sum = det == DET_SUM;
    r->ndet_pick = r->sum ? 0 : (size_t)det;
    r->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (r->c_locale == (locale_t)0) {
        rc = mva_error_set(err, MVA_ENOMEM, "%s: cannot create the C locale", input);
        goto done;
    }
    memset(&b, 0, sizeof b);
    memset(&info, 0, sizeof info);
    b.r = r;
    b.det = det;
    if ((rc = map_file(r, err)) != MVA_OK || (rc = index_file(r, &b, err)) != MVA_OK ||
        (rc = select_detectors(r, &b, spec, err)) != MVA_OK ||
        (rc = set_channels(r, &b, opts, &info, err)) != MVA_OK ||
        (rc = set_shape(&b, opts, &info, err)) != MVA_OK)
        goto done;
    if (r->sum && (r->skip = malloc(r->p * sizeof *r->skip)) == NULL) {
        rc = mva_error_set(err, MVA_ENOMEM, "%s: out of memory", input);
        goto done;
    }
    describe(r, &b, &info);
    /* mva_stack_new owns r from here, also when it fails. */
    return mva_stack_new(out, &spec_ops, r, &info, err);
done:
    spec_close(r);
    return rc;
}
