/*
 * ESRF BLISS scan files (the layout of BLISS's HDF5 writer): one NXentry per scan, named
 * "N.1" (scan N, first subscan), with a "title" such as "amesh sy 0 1 10 sz 0 2 5 0.1"
 * (command, fast motor, start, stop, intervals, slow motor, start, stop, intervals, count
 * time), and the data of every point in N.1/measurement: one (points, channels) dataset per
 * MCA element (mca_det0, mca_det1, ...), the counters (iodet, ...) and the motor positions,
 * with the MCA's live_time / real_time in N.1/instrument/mca_detK.
 *
 * The map is (intervals2 + 1) rows x (intervals1 + 1) cols, the fast motor along a row.  A
 * scan stopped early has fewer points: the missing pixels are NaN spectra (masked).  Rows
 * recorded back and forth (snake) are found from the fast motor's positions and put back in
 * order; positions that are not on the scan's grid are an error.  A scan whose title is no
 * mesh (a fly scan) takes its shape from the two motors it moved, allowing the slow one to
 * jitter along a row by a quarter of its step between rows.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "combine.h"
#include "h5util.h"
#include "hdf5int.h"
#include "stackint.h"

#define SCANS_MAX 64
#define EL_MAX 16

typedef struct {
    char name[32];      /* "2.1" */
    char title[256];
    size_t nel;         /* mca_det* datasets in measurement */
} scan_info;

typedef struct {
    scan_info s[SCANS_MAX];
    size_t n;
} scan_list;

static int is_scan_name(const char *name)
{
    const char *p = name;
    if (!isdigit((unsigned char)*p))
        return 0;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p++ != '.' || !isdigit((unsigned char)*p))
        return 0;
    while (isdigit((unsigned char)*p))
        p++;
    return *p == '\0';
}

/* A string dataset (scalar, fixed or variable length) into buf; 0 when absent. */
static int read_str(hid_t f, const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (h5_object_type(f, path) != H5I_DATASET)
        return 0;
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    hid_t ft = H5Dget_type(d), sp = H5Dget_space(d), mt = H5Tcopy(H5T_C_S1);
    int ok = 0;
    if (H5Tget_class(ft) == H5T_STRING && H5Sget_simple_extent_npoints(sp) == 1) {
        H5Tset_cset(mt, H5Tget_cset(ft));
        if (H5Tis_variable_str(ft) > 0) {
            char *v = NULL;
            H5Tset_size(mt, H5T_VARIABLE);
            if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) >= 0 && v != NULL) {
                snprintf(buf, cap, "%s", v);
                ok = 1;
            }
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, &v);
        } else {
            size_t size = H5Tget_size(ft);
            char *v = calloc(1, size + 1);
            H5Tset_size(mt, size);
            if (v != NULL && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0) {
                snprintf(buf, cap, "%s", v);
                ok = 1;
            }
            free(v);
        }
    }
    H5Tclose(mt);
    H5Sclose(sp);
    H5Tclose(ft);
    H5Dclose(d);
    return ok;
}

static size_t count_mca(hid_t f, const char *scan)
{
    size_t n = 0;
    for (; n < EL_MAX; n++) {
        char p[96];
        snprintf(p, sizeof p, "/%s/measurement/mca_det%zu", scan, n);
        if (h5_object_type(f, p) != H5I_DATASET)
            break;
    }
    return n;
}

static herr_t collect_scan(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    scan_list *L = data;
    (void)g, (void)info;
    if (!is_scan_name(name) || L->n >= SCANS_MAX || strlen(name) >= sizeof L->s[0].name)
        return 0;
    snprintf(L->s[L->n].name, sizeof L->s[0].name, "%s", name);
    L->n++;
    return 0;
}

/* The scans of the open file f (groups "N.M" at the root). */
static void list_scans(hid_t f, scan_list *L)
{
    memset(L, 0, sizeof *L);
    H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_scan, L);
}

/* Parses "amesh m1 s1 e1 n1 m2 s2 e2 n2 t" (also dmesh, mesh, a2scan-free forms): 1 with
 * the grid, 0 when the title is not a mesh. */
static int parse_mesh(const char *title, size_t *rows, size_t *cols, double *s1, double *e1,
                      char *fast, size_t fast_cap)
{
    char cmd[32], m1[64], m2[64];
    double a, b, c, d;
    unsigned long n1, n2;
    if (sscanf(title, "%31s %63s %lf %lf %lu %63s %lf %lf %lu", cmd, m1, &a, &b, &n1, m2, &c,
               &d, &n2) != 9)
        return 0;
    if (strcmp(cmd, "amesh") != 0 && strcmp(cmd, "dmesh") != 0 && strcmp(cmd, "mesh") != 0 &&
        strcmp(cmd, "amesh_backnforth") != 0)
        return 0;
    *cols = n1 + 1;
    *rows = n2 + 1;
    *s1 = a;
    *e1 = b;
    snprintf(fast, fast_cap, "%s", m1);
    return 1;
}

int h5_bliss_scans(const char *file, char *buf, size_t cap)
{
    buf[0] = '\0';
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return 0;
    scan_list L;
    list_scans(f, &L);
    int n = 0;
    for (size_t k = 0; k < L.n; k++) {
        char p[96], title[256];
        size_t nel = count_mca(f, L.s[k].name), used = strlen(buf);
        if (nel == 0)
            continue;
        snprintf(p, sizeof p, "/%s/title", L.s[k].name);
        read_str(f, p, title, sizeof title);
        snprintf(buf + used, cap - used, "%s%s (%s, %zu MCA element%s)", used ? "; " : "",
                 L.s[k].name, title[0] ? title : "no title", nel, nel == 1 ? "" : "s");
        n++;
    }
    H5Fclose(f);
    return n;
}

/* ---- an aborted scan: the points recorded, then NaN spectra up to the map's size ---- */

typedef struct {
    mva_stack *inner;
    size_t have, p;
} pad_reader;

static int pad_read(void *self, size_t first, size_t count, double *out, mva_error *err)
{
    pad_reader *pr = self;
    size_t got = first < pr->have ? (pr->have - first < count ? pr->have - first : count) : 0;
    if (got > 0) {
        int rc = mva_stack_read(pr->inner, first, got, out, err);
        if (rc != MVA_OK)
            return rc;
    }
    for (size_t k = got * pr->p; k < count * pr->p; k++)
        out[k] = NAN;
    return MVA_OK;
}

static int pad_noise(void *self, size_t first, size_t count, double *factor, mva_error *err)
{
    pad_reader *pr = self;
    const mva_reader_ops *ops;
    void *me;
    mva_stack_get_reader(pr->inner, &ops, &me);
    size_t got = first < pr->have ? (pr->have - first < count ? pr->have - first : count) : 0;
    for (size_t k = 0; k < count; k++)
        factor[k] = 1.0;
    if (got > 0 && ops->noise != NULL)
        return ops->noise(me, first, got, factor, err);
    return MVA_OK;
}

static void pad_close(void *self)
{
    pad_reader *pr = self;
    mva_stack_close(pr->inner);
    free(pr);
}

static const mva_reader_ops pad_ops = {"bliss-pad", pad_read, pad_close, pad_noise};

/* Makes inner (1 x have pixels) a rows x cols map, NaN after the points it has.  Takes inner. */
static int to_map(mva_stack **out, mva_stack *inner, size_t rows, size_t cols, mva_error *err)
{
    mva_stack_info info = *mva_stack_get_info(inner);
    size_t have = info.rows * info.cols;
    /* the normalisation factors as the map has them (NaN for the missing points) */
    const mva_norm_factors *f = info.norm_factors;
    mva_norm_factors *g = f ? mva_norm_factors_remap(f, rows, cols, 0) : NULL;
    pad_reader *pr = have == rows * cols ? NULL : calloc(1, sizeof *pr);
    if ((f != NULL && g == NULL) || (have != rows * cols && pr == NULL)) {
        free(g);
        mva_stack_close(inner);
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    }
    if (have == rows * cols) {
        mva_stack_info *in = mva_stack_info_edit(inner);
        in->rows = rows;
        in->cols = cols;
        if (g != NULL)
            mva_stack_set_norm(inner, g);
        *out = inner;
        return MVA_OK;
    }
    pr->inner = inner;
    pr->have = have;
    pr->p = info.channels;
    info.rows = rows;
    info.cols = cols;
    info.dtype = MVA_DTYPE_FLOAT64; /* NaN marks the missing pixels */
    size_t len = strlen(info.warnings);
    snprintf(info.warnings + len, sizeof info.warnings - len,
             "scan stopped after %zu of %zu points: the other %zu pixels are masked\n", have,
             rows * cols, rows * cols - have);
    int rc = mva_stack_new(out, &pad_ops, pr, &info, err);
    if (rc == MVA_OK && g != NULL)
        mva_stack_set_norm(*out, g);
    else
        free(g);
    return rc;
}

/* ---- normalisation ---- */

typedef struct {
    const char *file, *scan;
    size_t npts, nel;
} bliss_ctx;

/* A dataset of one value a point (n of them) as doubles, *v malloc()ed. */
static int read_points(const char *file, const char *path, size_t n, double **v,
                       mva_error *err)
{
    size_t vnel;
    return mva_norm_read_dataset(file, path, -1, 1, n, 1, v, &vnel, err);
}

static int resolve_bliss(void *vctx, const mva_norm_term *t, double **v, size_t *vnel,
                         char *src, size_t cap, mva_error *err)
{
    const bliss_ctx *c = vctx;
    char path[128];
    int per_element = strcmp(t->name, "livetime") == 0;
    *vnel = per_element ? c->nel : 1;
    if (strcmp(t->name, "dtc") == 0)
        return mva_error_set(err, MVA_ENOTFOUND, "--norm dtc: BLISS scan %s has no dead-time "
                             "factors; use --norm livetime (mca_detK/live_time)", c->scan);
    *v = malloc(*vnel * c->npts * sizeof **v);
    if (*v == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    for (size_t e = 0; e < *vnel; e++) {
        double *one = NULL;
        if (per_element)
            snprintf(path, sizeof path, "/%s/instrument/mca_det%zu/live_time", c->scan, e);
        else
            snprintf(path, sizeof path, "/%s/measurement/%s", c->scan,
                     strcmp(t->name, "i0") == 0 ? "iodet" : t->name);
        int rc = read_points(c->file, path, c->npts, &one, err);
        if (rc != MVA_OK) {
            free(*v);
            *v = NULL;
            return rc;
        }
        memcpy(*v + e * c->npts, one, c->npts * sizeof *one);
        free(one);
    }
    if (per_element)
        snprintf(src, cap, "/%s/instrument/mca_det*/live_time", c->scan);
    else
        snprintf(src, cap, "%s", path);
    return MVA_OK;
}

/* ---- what --norm can use, for the summary ---- */

/* 1 when scan's measurement/name is a dataset of one value a point (npts of them). */
static int is_per_point(hid_t f, const char *scan, const char *name, size_t npts)
{
    char path[256];
    hsize_t d[2];
    snprintf(path, sizeof path, "/%s/measurement/%s", scan, name);
    if (h5_object_type(f, path) != H5I_DATASET)
        return 0;
    hid_t ds = H5Dopen2(f, path, H5P_DEFAULT), sp = ds >= 0 ? H5Dget_space(ds) : -1;
    int one = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 &&
              H5Sget_simple_extent_dims(sp, d, NULL) == 1 && d[0] == npts;
    h5u_close(sp);
    h5u_close(ds);
    return one;
}

typedef struct {
    hid_t f;
    const char *scan;
    size_t npts;
    char list[400];
} counter_list;

/* A counter: a 1-D dataset of measurement of one value a point, not an MCA element. */
static herr_t add_counter(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    counter_list *c = data;
    (void)g, (void)info;
    if (strncmp(name, "mca_det", 7) == 0 || !is_per_point(c->f, c->scan, name, c->npts))
        return 0;
    size_t len = strlen(c->list);
    if (len + 1 < sizeof c->list)
        snprintf(c->list + len, sizeof c->list - len, "%s%s", len ? ", " : "", name);
    return 0;
}

/* "not normalised; this BLISS scan offers --norm livetime (...), i0 (...), monitor:NAME
 * (counters: ...)" into the warnings. */
static void note_norm_sources(const char *file, const char *scan, size_t npts,
                              mva_stack_info *info)
{
    char path[160], avail[700] = "";
    counter_list c = {-1, scan, npts, ""};
    if ((c.f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
        return;
    snprintf(path, sizeof path, "/%s/instrument/mca_det0/live_time", scan);
    if (h5_object_type(c.f, path) == H5I_DATASET)
        snprintf(avail, sizeof avail, " livetime (/%s/instrument/mca_det*/live_time)", scan);
    snprintf(path, sizeof path, "/%s/measurement", scan);
    H5Literate_by_name(c.f, path, H5_INDEX_NAME, H5_ITER_INC, NULL, add_counter, &c,
                       H5P_DEFAULT);
    H5Fclose(c.f);
    size_t len = strlen(avail);
    if (strstr(c.list, "iodet") != NULL)
        len += (size_t)snprintf(avail + len, sizeof avail - len, "%s i0 (/%s/measurement/iodet)",
                                len ? "," : "", scan);
    if (c.list[0] != '\0' && len < sizeof avail)
        snprintf(avail + len, sizeof avail - len, "%s monitor:NAME (counters: %s)",
                 len ? "," : "", c.list);
    len = strlen(info->warnings);
    if (avail[0] != '\0')
        snprintf(info->warnings + len, sizeof info->warnings - len,
                 "not normalised; this BLISS scan offers --norm%s\n", avail);
}

/* ---- scan geometry ---- */

/*
 * From the fast motor's positions (the complete rows only): *snake when odd rows run the
 * other way; MVA_EFORMAT when a position is more than half a step from the grid of the first
 * row (read in the same direction).  No positions: nothing said.
 */
static int check_grid(const char *file, const char *scan, const char *fast, size_t rows,
                      size_t cols, size_t npts, int *snake, mva_error *err)
{
    char path[160];
    *snake = 0;
    size_t full = npts / cols;
    if (full < 2 || cols < 2)
        return MVA_OK;
    snprintf(path, sizeof path, "/%s/measurement/%s", scan, fast);
    double *x = NULL;
    mva_error quiet;
    if (read_points(file, path, npts, &x, &quiet) != MVA_OK)
        return MVA_OK;
    double step = (x[cols - 1] - x[0]) / (double)(cols - 1);
    int rc = MVA_OK;
    *snake = (x[2 * cols - 1] - x[cols]) * step < 0;
    for (size_t r = 0; r < full && rc == MVA_OK; r++)
        for (size_t c = 0; c < cols && rc == MVA_OK; c++) {
            size_t at = r * cols + (*snake && r % 2 ? cols - 1 - c : c);
            if (fabs(x[at] - x[c]) > 0.5 * fabs(step))
                rc = mva_error_set(err, MVA_EFORMAT,
                                   "%s::%s: the positions are not on a grid: point %zu (row %zu) "
                                   "is at %g, its column %zu of row 0 at %g (step %g); mva reads "
                                   "maps on a grid only (%zu x %zu from the scan title)",
                                   file, path, at, r, x[at], c, x[c], step, rows, cols);
        }
    (void)rows;
    free(x);
    return rc;
}

/* ---- map shape from the scanned motors ---- */

typedef struct {
    hid_t f;
    const char *scan;
    size_t npts, n;
    char name[2][64];
} motor_search;

/* A positioner of instrument/positioners_start that measurement also holds (npts values):
 * a motor the scan moved (the rule of ESRF's ewoksfluo, get_scan_position_suburis). */
static herr_t find_motor(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    motor_search *m = data;
    (void)g, (void)info;
    int one = is_per_point(m->f, m->scan, name, m->npts);
    if (one && m->n < 2)
        snprintf(m->name[m->n], sizeof m->name[0], "%s", name);
    m->n += one;
    return 0;
}

/* Points a row: the fast motor x moves one way from point 0 to 1 and on; the row ends where
 * it stops doing so by at least half that first step (back to the start, or a snake's turn,
 * where it stays put but for its jitter).  0 when it does not move or never stops. */
static size_t row_length(const double *x, size_t npts)
{
    double dir = x[1] - x[0];
    size_t c = 1;
    if (dir == 0 || !isfinite(dir))
        return 0;
    while (c < npts && (x[c] - x[c - 1]) * dir > 0.5 * dir * dir)
        c++;
    return c < 2 || c >= npts ? 0 : c;
}

static double row_mean(const double *y, size_t first, size_t count)
{
    double s = 0;
    for (size_t i = 0; i < count; i++)
        s += y[first + i];
    return s / (double)count;
}

/*
 * With y the slow motor: rows of c points each (from the fast one) where y stays within a
 * quarter of its step between rows 0 and 1 (encoder jitter of a fly scan) and every row moves
 * y on, the same way, by more than half that step.  1 when it holds; else 0 and why.
 */
static int rows_hold(const double *y, const char *name, size_t npts, size_t c, char *why,
                     size_t cap)
{
    size_t rows = (npts + c - 1) / c;
    double m0 = row_mean(y, 0, c), step = row_mean(y, c, npts - c < c ? npts - c : c) - m0;
    double tol = 0.25 * fabs(step), prev = m0;
    if (!isfinite(step) || step == 0) {
        snprintf(why, cap, "%s does not move between rows", name);
        return 0;
    }
    for (size_t r = 0; r < rows; r++) {
        size_t first = r * c, count = npts - first < c ? npts - first : c;
        double m = row_mean(y, first, count);
        for (size_t i = first; i < first + count; i++)
            if (!(fabs(y[i] - m) <= tol)) {
                snprintf(why, cap, "%s is at %g at point %zu, %g from its row %zu's mean, more "
                         "than a quarter of its step %g between rows", name, y[i], i,
                         fabs(y[i] - m), r, fabs(step));
                return 0;
            }
        if (r > 0 && !((m - prev) * step > 0.5 * step * step)) {
            snprintf(why, cap, "%s moves by %g from row %zu to %zu, not on by its step %g",
                     name, m - prev, r - 1, r, step);
            return 0;
        }
        prev = m;
    }
    return 1;
}

/*
 * The map shape of a scan whose title is no mesh, from the two motors it moved: either may be
 * the fast one (moving from point 0 on, a row ending where it stops moving that way); the
 * other must keep still along a row up to a quarter of its step between rows (fly scans'
 * encoder jitter) and move on between rows.  1 with rows, cols and the fast motor's name when
 * exactly one of the two readings holds; 0 with why otherwise (also: not exactly two motors).
 */
static int shape_from_motors(const char *file, const char *scan, size_t npts, size_t *rows,
                             size_t *cols, char *fast, size_t cap, char *why, size_t wcap)
{
    char path[128], reason[2][256] = {"", ""};
    motor_search m = {-1, scan, npts, 0, {"", ""}};
    double *v[2] = {NULL, NULL};
    mva_error quiet;
    size_t c[2] = {0, 0};
    int ok = 0, holds[2] = {0, 0};
    why[0] = '\0';
    if (npts < 4 || (m.f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
        return 0;
    snprintf(path, sizeof path, "/%s/instrument/positioners_start", scan);
    if (h5_object_type(m.f, path) == H5I_GROUP)
        H5Literate_by_name(m.f, path, H5_INDEX_NAME, H5_ITER_INC, NULL, find_motor, &m,
                           H5P_DEFAULT);
    H5Fclose(m.f);
    for (int k = 0; k < 2 && m.n == 2; k++) {
        snprintf(path, sizeof path, "/%s/measurement/%s", scan, m.name[k]);
        if (read_points(file, path, npts, &v[k], &quiet) != MVA_OK)
            goto done;
    }
    if (m.n != 2)
        goto done;
    for (int f = 0; f < 2; f++) {
        c[f] = row_length(v[f], npts);
        if (c[f] == 0)
            snprintf(reason[f], sizeof reason[f], "it never turns back");
        else
            holds[f] = rows_hold(v[1 - f], m.name[1 - f], npts, c[f], reason[f],
                                 sizeof reason[f]);
    }
    if (holds[0] && holds[1]) {
        snprintf(why, wcap, " (they read two ways: %s fast, rows of %zu, or %s fast, rows of "
                 "%zu)", m.name[0], c[0], m.name[1], c[1]);
        goto done;
    }
    if (!holds[0] && !holds[1]) {
        snprintf(why, wcap, " (%s as the fast motor: %s; %s as the fast motor: %s)", m.name[0],
                 reason[0], m.name[1], reason[1]);
        goto done;
    }
    int f = holds[0] ? 0 : 1;
    *cols = c[f];
    *rows = (npts + c[f] - 1) / c[f];
    snprintf(fast, cap, "%s", m.name[f]);
    ok = 1;
done:
    free(v[0]);
    free(v[1]);
    return ok;
}

/* ---- which scan ---- */

int h5_bliss_pick(const char *file, const char *want, const mva_open_opts *opts, char *scan,
                  size_t cap, mva_error *err)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return 0;
    scan_list L;
    list_scans(f, &L);
    size_t with = 0, last = 0;
    for (size_t k = 0; k < L.n; k++)
        if (count_mca(f, L.s[k].name) > 0) {
            with++;
            last = k;
        }
    H5Fclose(f);
    if (with == 0)
        return 0;
    char name[64] = "";
    const char *w = want[0] == '/' ? want + 1 : want;
    if (w[0] != '\0' && is_scan_name(w))
        snprintf(name, sizeof name, "%s", w);
    else if (w[0] != '\0')
        return 0; /* a dataset path: read as asked */
    if (opts->scan != NULL) {
        if (name[0] != '\0')
            return mva_error_set(err, MVA_EINVAL, "%s: both ::/%s and --scan %s name a scan",
                                 file, name, opts->scan);
        snprintf(name, sizeof name, strchr(opts->scan, '.') ? "%s" : "%s.1", opts->scan);
    }
    if (name[0] == '\0' && with == 1)
        snprintf(name, sizeof name, "%s", L.s[last].name);
    char list[2048];
    h5_bliss_scans(file, list, sizeof list);
    if (name[0] == '\0')
        return mva_error_set(err, MVA_EINVAL, "%s: a BLISS file of %zu scans with MCA data: %s; "
                             "pick one with %s::/N.1 or --scan N", file, with, list, file);
    f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    size_t nel = count_mca(f, name);
    H5Fclose(f);
    if (nel == 0)
        return mva_error_set(err, MVA_ENOTFOUND, "%s: no scan %s with MCA data (the file has: "
                             "%s)", file, name, list);
    snprintf(scan, cap, "%s", name);
    return 1;
}

/* ---- opening ---- */

int h5_bliss_open(mva_stack **out, const char *file, const char *scan,
                  const mva_open_opts *opts, mva_error *err)
{
    unsigned char use[EL_MAX];
    mva_stack *st[EL_MAX] = {NULL};
    const char *names[EL_MAX];
    char nm[EL_MAX][32], title[256], fast[64] = "", path[128], desc[512] = "";
    size_t nused = 0, rows = 0, cols = 0;
    double s1 = 0, e1 = 0, *w = NULL;
    mva_norm_factors *factors = NULL;
    mva_stack *c = NULL;
    int rc, snake = 0;
    *out = NULL;
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    size_t nel = count_mca(f, scan);
    snprintf(path, sizeof path, "/%s/title", scan);
    read_str(f, path, title, sizeof title);
    H5Fclose(f);
    if ((rc = mva_detector_select(opts->detector, nel, use, err)) < 0) {
        mva_error_prefix(err, rc, "%s::/%s (BLISS): ", file, scan);
        return rc;
    }
    if (opts->channel_axis == MVA_STACK_AXIS_FIRST)
        return mva_error_set(err, MVA_EINVAL, "%s::/%s: --channel-axis first contradicts the "
                             "BLISS layout, whose measurement/mca_det* are (points, channels); "
                             "leave the option out", file, scan);
    mva_open_opts one = *opts;
    one.rows = one.cols = 0;
    one.channel_axis = MVA_STACK_AXIS_LAST;
    h5_select sel = {-1, 0, 0, NULL};
    for (size_t e = 0; e < nel; e++) {
        snprintf(nm[e], sizeof nm[e], "mca_det%u", (unsigned)e);
        names[e] = nm[e];
        if (!use[e])
            continue;
        snprintf(path, sizeof path, "/%s/measurement/mca_det%zu", scan, e);
        if ((rc = h5_open_one(&st[nused], file, path, &sel, &one, err)) != MVA_OK)
            goto done;
        nused++;
    }
    mva_stack_info info = *mva_stack_get_info(st[0]);
    size_t npts = info.rows * info.cols;
    int mesh = parse_mesh(title, &rows, &cols, &s1, &e1, fast, sizeof fast);
    int moved = 0;
    char why[1024] = "";
    if (opts->rows != 0) {
        rows = opts->rows;
        cols = opts->cols;
    } else if (!mesh && !(moved = shape_from_motors(file, scan, npts, &rows, &cols, fast,
                                                    sizeof fast, why, sizeof why))) {
        rc = mva_error_set(err, MVA_EINVAL, "%s::/%s: the map shape is not in the scan title "
                           "\"%s\" (not an amesh/dmesh/mesh), nor in the positions of two "
                           "motors it moved (instrument/positioners_start and measurement)%s: "
                           "give it with --shape ROWSxCOLS", file, scan, title, why);
        goto done;
    }
    if (npts > rows * cols) {
        rc = mva_error_set(err, MVA_EINVAL, "%s::/%s: %zu points recorded, more than the %zu x "
                           "%zu map%s", file, scan, npts, rows, cols,
                           opts->rows ? " given by --shape" : " of the scan title");
        goto done;
    }
    if ((mesh || moved) && opts->snake == MVA_SNAKE_AUTO &&
        (rc = check_grid(file, scan, fast, rows, cols, npts, &snake, err)) != MVA_OK)
        goto done;
    bliss_ctx bc = {file, scan, npts, nel};
    if ((rc = mva_norm_build_factors(opts->norm, file, 1, npts, nel, use, resolve_bliss, &bc,
                                     &w, &factors, desc, sizeof desc, err)) != MVA_OK)
        goto done;
    snprintf(info.layout_name, sizeof info.layout_name, "BLISS (ESRF) scan %s", scan);
    if (nel > 1)
        mva_detector_describe(use, nel, names, info.elements, sizeof info.elements);
    snprintf(info.norm, sizeof info.norm, "%s", desc);
    if (opts->norm == NULL)
        note_norm_sources(file, scan, npts, &info);
    if (nused > 1) {
        const char *used_names[EL_MAX];
        for (size_t e = 0, k = 0; e < nel; e++)
            if (use[e])
                used_names[k++] = names[e];
        h5_note_calibrations(st, nused, used_names, &info);
    }
    snprintf(info.path, sizeof info.path, "/%s/measurement/mca_det* (%s)", scan, title);
    char list[2048];
    if (h5_bliss_scans(file, list, sizeof list) > 1) {
        size_t len = strlen(info.warnings);
        snprintf(info.warnings + len, sizeof info.warnings - len,
                 "scans with MCA data in this file: %s (pick with FILE::/N.1 or --scan N)\n",
                 list);
    }
    if (nused > 1 || w != NULL) {
        rc = mva_combine_open(&c, st, nused, w, &info, err);
        w = NULL;
        if (rc == MVA_OK) {
            mva_stack_set_norm(c, factors);
            factors = NULL;
        }
    } else {
        *mva_stack_info_edit(st[0]) = info;
        c = st[0];
    }
    nused = 0;
    if (rc != MVA_OK)
        goto done;
    if ((rc = to_map(out, c, rows, cols, err)) != MVA_OK)
        goto done;
    if (snake && (rc = mva_snake_wrap(*out, err)) != MVA_OK) {
        mva_stack_close(*out);
        *out = NULL;
    }
done:
    for (size_t k = 0; k < nused; k++)
        mva_stack_close(st[k]);
    free(w);
    free(factors);
    return rc;
}
