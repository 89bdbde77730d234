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
 *
 * The parts are in spec_text.c (numbers, spectra), spec_scan.c (a scan's header),
 * spec_map.c (the scans of the map) and spec_norm.c (--norm); specread.h lists them.
 */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mva/spec.h"
#include "combine.h"
#include "mva/stack.h"
#include "specread.h"
#include "stackint.h"

#define SNIFF_BYTES (64 * 1024)

/* ---- the reader ---- */

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
            int rc = spec_parse_spectrum(r, r->map + r->ix.mca[m + r->det[d]], o, d > 0, err);
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
    free(r->factors);
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
    int rc, snake = 0;
    *out = NULL;
    memset(&pl, 0, sizeof pl);
    if (opts == NULL)
        opts = &defaults;
    if ((rc = spec_reader_new(&r, input, err)) != MVA_OK)
        return rc;
    memset(&info, 0, sizeof info);
    if ((rc = spec_choose_scans(r, opts->scan, &p, &np, err)) != MVA_OK ||
        (rc = spec_plan_map(r, p, np, opts, &pl, err)) != MVA_OK ||
        (rc = spec_index_pixels(r, &pl, err)) != MVA_OK ||
        (rc = spec_set_channels(r, &pl, opts, &info, err)) != MVA_OK ||
        (rc = spec_set_shape(r, &pl, opts, &info, err)) != MVA_OK ||
        (rc = spec_set_norm(r, &pl, opts, &info, err)) != MVA_OK ||
        (rc = spec_check_grid(r, &pl, opts, &info, &snake, err)) != MVA_OK)
        goto done;
    spec_say_left_out(r, &pl);
    spec_describe(r, &pl, &info);
    free(p);
    spec_plan_free(&pl);
    /* mva_stack_new owns r from here, also when it fails; the stack keeps the factors. */
    mva_norm_factors *f = r->factors;
    r->factors = NULL;
    if ((rc = mva_stack_new(out, &spec_ops, r, &info, err)) != MVA_OK) {
        free(f);
        return rc;
    }
    mva_stack_set_norm(*out, f);
    if (snake && (rc = mva_snake_wrap(*out, err)) != MVA_OK) {
        mva_stack_close(*out);
        *out = NULL;
    }
    return rc;
done:
    free(p);
    spec_plan_free(&pl);
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
        spec_fault_text(r, sc, &f, text, sizeof text);
        snprintf(d->note, sizeof d->note, "%s", sc->problem == SPEC_SCAN_NO_MCA ? "" : text);
        return;
    }
    d->detectors = sc->ndet;
    chan_info ch;
    fault f;
    if (spec_scan_channels(r, sc, 0, &ch, &f) != 0) {
        char text[WHY_CAP + 64];
        spec_fault_text(r, sc, &f, text, sizeof text);
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
