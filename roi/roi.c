/*
 * ROI images and spectra in one pass.  For each ROI [ch0, ch1] (inclusive):
 *   raw = sum of y[ch0..ch1]
 *   net = raw - 0.5 * nch * (y[ch0] + y[ch1])      (PyMca's straight-line background,
 *                                                    PyMca5 RoiStackWidget / McaROIWidget)
 * Non-finite pixels: excluded from the spectra, NaN in every image, flagged in the mask.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mva/roi.h"
#include "numparse.h"

struct mva_roi_acc {
    mva_roi_result *r;
    const mva_comm *comm;   /* several processes: combine in finish */
    size_t first, count;    /* this process's pixels */
};

/* "keV" / "kev" suffix (case-insensitive) at the end of s[0..len). */
static int has_kev_suffix(const char *s, size_t len)
{
    return len >= 3 && tolower((unsigned char)s[len - 3]) == 'k' &&
           tolower((unsigned char)s[len - 2]) == 'e' && tolower((unsigned char)s[len - 1]) == 'v';
}

int mva_roi_parse(const char *text, mva_roi_def *def, mva_error *err)
{
    memset(def, 0, sizeof *def);
    const char *eq = strchr(text, '=');
    const char *range = eq ? eq + 1 : text;
    if (eq) {
        size_t nlen = (size_t)(eq - text);
        if (nlen == 0 || nlen >= sizeof def->name)
            return mva_error_set(err, MVA_EINVAL,
                                 "ROI '%s': the name before '=' must have 1 to %d characters",
                                 text, MVA_ROI_NAME_MAX - 1);
        memcpy(def->name, text, nlen);
    }
    size_t len = strlen(range);
    def->unit = MVA_ROI_CHANNEL;
    if (has_kev_suffix(range, len)) {
        def->unit = MVA_ROI_KEV;
        len -= 3;
    }
    char buf[128];
    if (len == 0 || len >= sizeof buf)
        goto bad;
    memcpy(buf, range, len);
    buf[len] = '\0';
    char *colon = strchr(buf, ':');
    if (colon == NULL)
        goto bad;
    *colon = '\0';
    if (mva_parse_double(buf, &def->from) != 0 || mva_parse_double(colon + 1, &def->to) != 0)
        goto bad;
    if (!(def->from <= def->to))
        return mva_error_set(err, MVA_EINVAL, "ROI '%s': first bound %g is above the last %g",
                             text, def->from, def->to);
    if (def->unit == MVA_ROI_CHANNEL && (def->from < 0 || def->from != floor(def->from) ||
                                         def->to != floor(def->to)))
        return mva_error_set(err, MVA_EINVAL,
                             "ROI '%s': channel bounds must be non-negative integers "
                             "(add 'keV' for energies)",
                             text);
    if (!eq)
        snprintf(def->name, sizeof def->name, "%.20g-%.20g%s", def->from, def->to,
                 def->unit == MVA_ROI_KEV ? "keV" : "");
    return MVA_OK;
bad:
    return mva_error_set(err, MVA_EINVAL,
                         "ROI '%s': expected [NAME=]FIRST:LAST (channels, e.g. Cu=640:700) or "
                         "[NAME=]E1:E2keV (e.g. Fe=6.2:6.6keV)",
                         text);
}

int mva_roi_resolve(const mva_roi_def *def, const mva_calib *cal, size_t p, size_t *ch0,
                    size_t *ch1, mva_error *err)
{
    double lo = def->from, hi = def->to;
    if (def->unit == MVA_ROI_KEV) {
        if (cal == NULL || !cal->known)
            return mva_error_set(err, MVA_EINVAL,
                                 "ROI %s is in keV but the stack has no energy calibration "
                                 "(give one with --calib A,B[,C] or use channels)",
                                 def->name);
        if (mva_calib_channel(cal, def->from, &lo) != MVA_OK ||
            mva_calib_channel(cal, def->to, &hi) != MVA_OK)
            return mva_error_set(err, MVA_EINVAL,
                                 "ROI %s: %g..%g keV is outside the calibration's range",
                                 def->name, def->from, def->to);
        /* Channels whose energy lies inside [from, to]. */
        lo = ceil(lo - 1e-9);
        hi = floor(hi + 1e-9);
    }
    if (lo < 0)
        lo = 0;
    if (hi > (double)p - 1)
        hi = (double)p - 1;
    if (lo > hi)
        return mva_error_set(err, MVA_EINVAL,
                             "ROI %s (%g..%g%s) holds no channel of the %zu-channel stack",
                             def->name, def->from, def->to,
                             def->unit == MVA_ROI_KEV ? " keV" : "", p);
    *ch0 = (size_t)lo;
    *ch1 = (size_t)hi;
    return MVA_OK;
}

void mva_roi_result_free(mva_roi_result *r)
{
    if (r == NULL)
        return;
    free(r->defs);
    free(r->ch0);
    free(r->ch1);
    free(r->raw);
    free(r->net);
    free(r->total);
    free(r->sum_spectrum);
    free(r->avg_spectrum);
    free(r->max_spectrum);
    free(r->mask);
    free(r);
}

static int result_alloc(mva_roi_result **out, size_t rows, size_t cols, size_t p, size_t nroi,
                        mva_error *err)
{
    size_t n, nimg;
    if (mva_size_mul(rows, cols, &n) != MVA_OK || mva_size_mul(n, nroi, &nimg) != MVA_OK ||
        nimg > SIZE_MAX / sizeof(double))
        return mva_error_set(err, MVA_ERANGE, "ROI images of %zu x %zu x %zu overflow", nroi,
                             rows, cols);
    mva_roi_result *r = calloc(1, sizeof *r);
    if (r == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    r->rows = rows;
    r->cols = cols;
    r->p = p;
    r->nroi = nroi;
    r->defs = calloc(nroi + 1, sizeof *r->defs);
    r->ch0 = calloc(nroi + 1, sizeof *r->ch0);
    r->ch1 = calloc(nroi + 1, sizeof *r->ch1);
    r->raw = calloc(nimg + 1, sizeof(double));
    r->net = calloc(nimg + 1, sizeof(double));
    r->total = calloc(n, sizeof(double));
    r->sum_spectrum = calloc(p, sizeof(double));
    r->avg_spectrum = calloc(p, sizeof(double));
    r->max_spectrum = calloc(p, sizeof(double));
    r->mask = calloc(n, 1);
    if (!r->defs || !r->ch0 || !r->ch1 || !r->raw || !r->net || !r->total ||
        !r->sum_spectrum || !r->avg_spectrum || !r->max_spectrum || !r->mask) {
        mva_roi_result_free(r);
        return mva_error_set(err, MVA_ENOMEM, "out of memory for ROI images");
    }
    for (size_t j = 0; j < p; j++)
        r->max_spectrum[j] = -INFINITY;
    *out = r;
    return MVA_OK;
}

int mva_roi_acc_new(mva_roi_acc **out, const mva_stack_info *info, const mva_roi_def *defs,
                    size_t nroi, mva_error *err)
{
    mva_roi_acc *a = calloc(1, sizeof *a);
    if (a == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    int rc = result_alloc(&a->r, info->rows, info->cols, info->channels, nroi, err);
    for (size_t i = 0; rc == MVA_OK && i < nroi; i++) {
        a->r->defs[i] = defs[i];
        rc = mva_roi_resolve(&defs[i], &info->calib, info->channels, &a->r->ch0[i],
                             &a->r->ch1[i], err);
    }
    if (rc != MVA_OK) {
        mva_roi_acc_free(a);
        return rc;
    }
    *out = a;
    return MVA_OK;
}

/* Images of one valid pixel y (p channels) at index i. */
static void roi_pixel(mva_roi_result *r, const double *y, size_t i, size_t n)
{
    double tot = 0.0;
    for (size_t j = 0; j < r->p; j++) {
        tot += y[j];
        r->sum_spectrum[j] += y[j];
        if (y[j] > r->max_spectrum[j])
            r->max_spectrum[j] = y[j];
    }
    r->total[i] = tot;
    for (size_t q = 0; q < r->nroi; q++) {
        size_t c0 = r->ch0[q], c1 = r->ch1[q];
        double s = 0.0;
        for (size_t j = c0; j <= c1; j++)
            s += y[j];
        r->raw[q * n + i] = s;
        r->net[q * n + i] = s - 0.5 * (double)(c1 - c0 + 1) * (y[c0] + y[c1]);
    }
}

static int roi_consume(void *self, const mva_block *b, mva_error *err)
{
    (void)err;
    mva_roi_result *r = ((mva_roi_acc *)self)->r;
    size_t n = r->rows * r->cols;
    for (size_t t = 0; t < b->npix; t++) {
        size_t i = b->first + t;
        if (b->valid[t]) {
            roi_pixel(r, b->x + t * b->p, i, n);
            r->n_valid++;
            continue;
        }
        r->mask[i] = 1;
        r->total[i] = NAN;
        for (size_t q = 0; q < r->nroi; q++)
            r->raw[q * n + i] = r->net[q * n + i] = NAN;
    }
    return MVA_OK;
}

/* Several processes: spectra summed (maxima taken) in rank order, images and mask gathered
 * by position.  Sends 3 p + 1 doubles and this process's share of (2 nroi + 2) images. */
static int roi_reduce(mva_roi_acc *a, mva_error *err)
{
    mva_roi_result *r = a->r;
    size_t n = r->rows * r->cols;
    double nv = (double)r->n_valid;
    double *mask = malloc((n ? n : 1) * sizeof *mask);
    if (mask == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        mask[i] = r->mask[i];
    int rc = mva_comm_sum(a->comm, r->sum_spectrum, r->p, err);
    if (rc == MVA_OK)
        rc = mva_comm_max(a->comm, r->max_spectrum, r->p, err);
    if (rc == MVA_OK)
        rc = mva_comm_sum(a->comm, &nv, 1, err);
    if (rc == MVA_OK)
        rc = mva_comm_gather_pixels(a->comm, r->raw, r->nroi, n, a->first, a->count, err);
    if (rc == MVA_OK)
        rc = mva_comm_gather_pixels(a->comm, r->net, r->nroi, n, a->first, a->count, err);
    if (rc == MVA_OK)
        rc = mva_comm_gather_pixels(a->comm, r->total, 1, n, a->first, a->count, err);
    if (rc == MVA_OK)
        rc = mva_comm_gather_pixels(a->comm, mask, 1, n, a->first, a->count, err);
    for (size_t i = 0; rc == MVA_OK && i < n; i++)
        r->mask[i] = mask[i] != 0.0;
    r->n_valid = (size_t)nv;
    free(mask);
    return rc;
}

static int roi_finish(void *self, mva_error *err)
{
    mva_roi_acc *a = self;
    mva_roi_result *r = a->r;
    if (a->comm && a->comm->size > 1) {
        int rc = roi_reduce(a, err);
        if (rc != MVA_OK)
            return rc;
    }
    for (size_t j = 0; j < r->p; j++) {
        r->avg_spectrum[j] = r->n_valid ? r->sum_spectrum[j] / (double)r->n_valid : 0.0;
        if (r->n_valid == 0)
            r->max_spectrum[j] = 0.0;
    }
    return MVA_OK;
}

mva_accum mva_roi_acc_accum(mva_roi_acc *a)
{
    mva_accum acc = {a, NULL, roi_consume, roi_finish};
    return acc;
}

void mva_roi_acc_share(mva_roi_acc *a, mva_stack *s, const mva_pass_opts *popts)
{
    a->comm = popts ? popts->comm : NULL;
    mva_pass_range(s, popts, &a->first, &a->count);
}

int mva_roi_acc_take(mva_roi_acc *a, mva_roi_result **out, mva_error *err)
{
    if (a->r == NULL)
        return mva_error_set(err, MVA_EINVAL, "ROI result already taken");
    *out = a->r;
    a->r = NULL;
    return MVA_OK;
}

void mva_roi_acc_free(mva_roi_acc *a)
{
    if (a == NULL)
        return;
    mva_roi_result_free(a->r);
    free(a);
}

int mva_roi_fit(mva_stack *s, const mva_roi_def *defs, size_t nroi,
                const mva_pass_opts *popts, mva_roi_result **out, mva_error *err)
{
    mva_roi_acc *a = NULL;
    int rc = mva_roi_acc_new(&a, mva_stack_get_info(s), defs, nroi, err);
    if (rc != MVA_OK)
        return rc;
    mva_roi_acc_share(a, s, popts);
    mva_accum acc = mva_roi_acc_accum(a);
    rc = mva_pass_run(s, &acc, 1, popts, err);
    if (rc == MVA_OK)
        rc = mva_roi_acc_take(a, out, err);
    mva_roi_acc_free(a);
    return rc;
}
