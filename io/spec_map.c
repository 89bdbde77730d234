/*
 * The map of a SPEC file: which scans form it (all, or --scan's list and ranges), which of
 * them can be read, per pixel its first MCA line, the map shape, the channels and their
 * calibration, the warnings and the description of the input.  See specread.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "combine.h"
#include "specread.h"

/* ---- which scans form the map ---- */

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
    if (spec_token_size(t, nlen, &n) != 0 ||
        (dot && spec_token_size(dot + 1, len - nlen - 1, &k) != 0) || (dot && k == 0))
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
int spec_choose_scans(const spec_reader *r, const char *spec, pick **out, size_t *nout,
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

void spec_plan_free(plan *pl)
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
        return spec_set_fault(f, sc->hdr, "%zu MCAs per point, the map's first scan (%s) has %zu",
                              sc->ndet, key, r->ndet);
    }
    int rc;
    if (pl->nscan == 0 && (rc = choose_detectors(r, sc, opts, err)) != MVA_OK)
        return rc;
    chan_info ch;
    if (spec_scan_channels(r, sc, r->det[0], &ch, f) != 0)
        return 1;
    if (pl->nscan > 0 && ch.p != pl->ch.p) {
        spec_scan_key(&r->ix, &r->ix.scan[pl->scan[0]], key);
        return spec_set_fault(f, sc->body,
                              "spectra of %zu channels, the map's first scan (%s) has %zu", ch.p,
                              key, pl->ch.p);
    }
    if (pl->nscan == 0)
        pl->ch = ch;
    return 0;
}

/* Goes through the chosen scans: a named scan that cannot be read is an error; one of the
 * whole file is skipped and said in the warnings; scans without MCA data are left out. */
int spec_plan_map(spec_reader *r, const pick *p, size_t np, const mva_open_opts *opts,
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
        spec_fault_text(r, sc, &f, text, sizeof text);
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
/* Per pixel, the index of its point's first MCA line, scan after scan. */
int spec_index_pixels(spec_reader *r, const plan *pl, mva_error *err)
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
/* Scans of one motor (rows of a map) of different lengths: the last one stopped short gives
 * the map its rows, the pixels it did not reach masked; any other difference is refused.
 * Scans of different motors or meshes stay one row (*rows, *cols unchanged). */
static int row_lengths(spec_reader *r, const plan *pl, size_t *rows, size_t *cols,
                       mva_error *err)
{
    char motor[64], list[512], key[LABEL_MAX];
    if (!spec_row_scans(r, pl, motor, sizeof motor))
        return MVA_OK;
    const spec_scan *first = &r->ix.scan[pl->scan[0]], *last = &r->ix.scan[pl->scan[pl->nscan - 1]];
    int aborted = last->points < first->points;
    for (size_t k = 1; k + 1 < pl->nscan; k++)
        aborted = aborted && r->ix.scan[pl->scan[k]].points == first->points;
    if (aborted) {
        spec_scan_key(&r->ix, last, key);
        *rows = pl->nscan;
        *cols = first->points;
        warn(r, "scan %s, the last row, stopped after %zu of %zu points; the %zu pixels it did "
             "not reach are masked (NaN)", key, last->points, first->points,
             first->points - last->points);
        return MVA_OK;
    }
    size_t len = 0;
    for (size_t k = 0; k < pl->nscan && k < LIST_MAX; k++) {
        const spec_scan *sc = &r->ix.scan[pl->scan[k]];
        spec_scan_key(&r->ix, sc, key);
        int w = snprintf(list + len, sizeof list - len, "%sscan %s: %zu", k ? ", " : "", key,
                         sc->points);
        if (w > 0 && (size_t)w < sizeof list - len)
            len += (size_t)w;
    }
    if (pl->nscan > LIST_MAX)
        snprintf(list + len, sizeof list - len, ", ... (%zu scans)", pl->nscan);
    return mva_error_set(err, MVA_EFORMAT,
                         "%s: the scans move %s, one scan a row of the map, but their lengths "
                         "differ (%s points) and not only in the last row (a scan stopped "
                         "short): the positions are not on a grid; read them as one row with "
                         "--shape 1x%zu, or name the scans of one map with --scan",
                         r->file_name, motor, list, r->n);
}

int spec_set_shape(spec_reader *r, const plan *pl, const mva_open_opts *opts,
                   mva_stack_info *info, mva_error *err)
{
    size_t rows = 1, cols = r->n;
    int rc;
    const spec_scan *first = &r->ix.scan[pl->scan[0]];
    int equal = 1;
    for (size_t k = 1; k < pl->nscan; k++)
        equal = equal && r->ix.scan[pl->scan[k]].points == first->points;
    if (pl->nscan == 1 && spec_mesh_shape(r, r->map + first->hdr, r->n, &rows, &cols)) {
        char key[LABEL_MAX] = "?";
        spec_scan_key(&r->ix, first, key);
        if (rows * cols > r->n)
            warn(r, "scan %s: the mesh stopped after %zu points, in row %zu of %zu points; "
                 "the %zu pixels it did not reach are masked (NaN)", key, r->n, rows, cols,
                 rows * cols - r->n);
    } else if (pl->nscan > 1 && equal) {
        rows = pl->nscan;
        cols = first->points;
    } else if (opts->rows == 0 && opts->cols == 0 &&
               (rc = row_lengths(r, pl, &rows, &cols, err)) != MVA_OK) {
        return rc;
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
int spec_set_channels(spec_reader *r, const plan *pl, const mva_open_opts *opts,
                      mva_stack_info *info, mva_error *err)
{
    const spec_scan *sc = &r->ix.scan[pl->scan[0]];
    scan_head h;
    fault f;
    r->p = pl->ch.p;
    r->p_from_chann = pl->ch.from_chann;
    info->channels = r->p;
    spec_pick_header(r, sc, r->det[0], &h);
    if (opts->calib.known) {
        info->calib = opts->calib;
        return MVA_OK;
    }
    if (h.calib != NULL && spec_read_calib(r, h.calib, &pl->ch, &info->calib, f.why) != 0) {
        char text[WHY_CAP + 64];
        f.at = (size_t)(h.calib - r->map);
        spec_fault_text(r, sc, &f, text, sizeof text);
        return mva_error_set(err, MVA_EFORMAT, "%s: %s", r->file_name, text);
    }
    for (size_t d = 1; d < r->ndet_read && h.calib != NULL; d++) {
        scan_head o;
        mva_calib other;
        spec_pick_header(r, sc, r->det[d], &o);
        if (o.calib == h.calib || spec_read_calib(r, o.calib, &pl->ch, &other, f.why) != 0)
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
void spec_say_left_out(spec_reader *r, const plan *pl)
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

void spec_describe(const spec_reader *r, const plan *pl, mva_stack_info *info)
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
