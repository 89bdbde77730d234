/* Pixel selections from images, and the spectra of a selection in one pass. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mva/select.h"

size_t mva_select_range(const double *img, size_t n, double lo, double hi, unsigned char *mask)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        mask[i] = img[i] >= lo && img[i] <= hi; /* false for NaN */
        count += mask[i];
    }
    return count;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The finite values of img, sorted (caller frees); *m gets how many. */
static double *sorted_finite(const double *img, size_t n, size_t *m)
{
    double *v = malloc((n ? n : 1) * sizeof *v);
    if (v == NULL)
        return NULL;
    *m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(img[i]))
            v[(*m)++] = img[i];
    qsort(v, *m, sizeof *v, cmp_double);
    return v;
}

size_t mva_select_sigma(const double *img, size_t n, double nsigma, int above,
                        unsigned char *mask, double *threshold)
{
    size_t m = 0;
    double *v = sorted_finite(img, n, &m);
    memset(mask, 0, n);
    if (v == NULL || m == 0) {
        free(v);
        return 0;
    }
    double median = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]), mean = 0, var = 0;
    for (size_t i = 0; i < m; i++)
        mean += v[i] / (double)m;
    for (size_t i = 0; i < m; i++)
        var += (v[i] - mean) * (v[i] - mean) / (double)(m > 1 ? m - 1 : 1);
    free(v);
    double t = median + nsigma * sqrt(var);
    if (threshold)
        *threshold = t;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        mask[i] = isfinite(img[i]) && (above ? img[i] >= t : img[i] <= t);
        count += mask[i];
    }
    return count;
}

size_t mva_select_top(const double *img, size_t n, double fraction, unsigned char *mask,
                      double *threshold)
{
    size_t m = 0;
    double *v = sorted_finite(img, n, &m);
    memset(mask, 0, n);
    if (v == NULL || m == 0 || !(fraction > 0)) {
        free(v);
        return 0;
    }
    size_t keep = (size_t)ceil(fraction * (double)m);
    if (keep > m)
        keep = m;
    double t = v[m - (keep ? keep : 1)];
    free(v);
    if (threshold)
        *threshold = t;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        mask[i] = isfinite(img[i]) && img[i] >= t;
        count += mask[i];
    }
    return count;
}

size_t mva_select_combine(unsigned char *dst, const unsigned char *src, size_t n,
                          mva_select_op op)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = dst[i] != 0, b = src[i] != 0;
        dst[i] = op == MVA_SEL_OR ? (a | b) : op == MVA_SEL_AND_NOT ? (a & !b)
                 : op == MVA_SEL_SET ? b : (a & b);
        count += dst[i];
    }
    return count;
}

void mva_select_spectra_free(mva_select_spectra_result *r)
{
    if (r == NULL)
        return;
    free(r->sum);
    free(r->avg);
    free(r->max);
    free(r->map_avg);
    free(r);
}

void mva_select_label_spectra_free(mva_select_label_spectra *r)
{
    if (r == NULL)
        return;
    free(r->count);
    free(r->sum);
    free(r->avg);
    free(r->max);
    free(r->map_avg);
    free(r);
}

/* One pass, two views: a selection is the labelling "selected = class 0, the rest none". */
typedef struct {
    const unsigned char *mask; /* or */
    const int32_t *labels;
    mva_select_label_spectra *r;
} label_acc;

static int label_consume(void *self, const mva_block *b, mva_error *err)
{
    (void)err;
    label_acc *a = self;
    mva_select_label_spectra *r = a->r;
    for (size_t t = 0; t < b->npix; t++) {
        if (!b->valid[t])
            continue;
        const double *y = b->x + t * b->p;
        for (size_t j = 0; j < b->p; j++)
            r->map_avg[j] += y[j];
        r->n_valid++;
        size_t i = b->first + t;
        int32_t c = a->labels ? a->labels[i] : a->mask[i] ? 0 : -1;
        if (c < 0 || (size_t)c >= r->nclass)
            continue;
        double *sum = r->sum + (size_t)c * b->p, *max = r->max + (size_t)c * b->p;
        for (size_t j = 0; j < b->p; j++) {
            sum[j] += y[j];
            if (y[j] > max[j])
                max[j] = y[j];
        }
        r->count[c]++;
    }
    return MVA_OK;
}

/* Several processes, each over its own pixels: the sums and counts are added and the maxima
 * taken over the processes, so every process holds the whole map's figures.  Counts travel
 * as doubles (exact below 2^53 pixels). */
static int combine_ranks(mva_select_label_spectra *r, const mva_comm *comm, mva_error *err)
{
    if (comm == NULL || comm->size <= 1)
        return MVA_OK;
    size_t nc = r->nclass ? r->nclass : 1, cp = nc * r->p;
    double *counts = malloc((nc + 1) * sizeof *counts);
    if (counts == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    for (size_t c = 0; c < r->nclass; c++)
        counts[c] = (double)r->count[c];
    counts[r->nclass] = (double)r->n_valid;
    int rc = mva_comm_sum(comm, counts, r->nclass + 1, err);
    if (rc == MVA_OK)
        rc = mva_comm_sum(comm, r->sum, cp, err);
    if (rc == MVA_OK)
        rc = mva_comm_sum(comm, r->map_avg, r->p, err);
    if (rc == MVA_OK)
        rc = mva_comm_max(comm, r->max, cp, err);
    if (rc == MVA_OK) {
        for (size_t c = 0; c < r->nclass; c++)
            r->count[c] = (size_t)counts[c];
        r->n_valid = (size_t)counts[r->nclass];
    }
    free(counts);
    return rc;
}

static int label_spectra(mva_stack *s, const unsigned char *mask, const int32_t *labels,
                         size_t nclass, const mva_pass_opts *popts, mva_select_label_spectra **out,
                         mva_error *err)
{
    size_t p = mva_stack_get_info(s)->channels, cp;
    if (mva_size_mul(nclass ? nclass : 1, p, &cp) != MVA_OK)
        return mva_error_set(err, MVA_ERANGE, "%zu classes x %zu channels overflow", nclass, p);
    mva_select_label_spectra *r = calloc(1, sizeof *r);
    if (r) {
        r->p = p;
        r->nclass = nclass;
        r->count = calloc(nclass ? nclass : 1, sizeof *r->count);
        r->sum = calloc(cp, sizeof(double));
        r->avg = calloc(cp, sizeof(double));
        r->max = malloc(cp * sizeof(double));
        r->map_avg = calloc(p, sizeof(double));
    }
    if (!r || !r->count || !r->sum || !r->avg || !r->max || !r->map_avg) {
        mva_select_label_spectra_free(r);
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    }
    for (size_t j = 0; j < cp; j++)
        r->max[j] = -INFINITY;
    label_acc a = {mask, labels, r};
    mva_accum acc = {&a, NULL, label_consume, NULL};
    int rc = mva_pass_run(s, &acc, 1, popts, err);
    if (rc == MVA_OK)
        rc = combine_ranks(r, popts ? popts->comm : NULL, err);
    if (rc != MVA_OK) {
        mva_select_label_spectra_free(r);
        return rc;
    }
    for (size_t c = 0; c < nclass; c++)
        for (size_t j = 0; j < p; j++) {
            size_t at = c * p + j;
            r->avg[at] = r->count[c] ? r->sum[at] / (double)r->count[c] : 0.0;
            if (r->count[c] == 0)
                r->max[at] = 0.0;
        }
    for (size_t j = 0; j < p; j++)
        r->map_avg[j] = r->n_valid ? r->map_avg[j] / (double)r->n_valid : 0.0;
    *out = r;
    return MVA_OK;
}

int mva_select_labels(mva_stack *s, const int32_t *labels, size_t nclass,
                      const mva_pass_opts *popts, mva_select_label_spectra **out,
                      mva_error *err)
{
    return label_spectra(s, NULL, labels, nclass, popts, out, err);
}

int mva_select_spectra(mva_stack *s, const unsigned char *mask, const mva_pass_opts *popts,
                       mva_select_spectra_result **out, mva_error *err)
{
    mva_select_label_spectra *l = NULL;
    int rc = label_spectra(s, mask, NULL, 1, popts, &l, err);
    if (rc != MVA_OK)
        return rc;
    mva_select_spectra_result *r = calloc(1, sizeof *r);
    if (r == NULL) {
        mva_select_label_spectra_free(l);
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    }
    r->p = l->p;
    r->n_selected = l->count[0];
    r->n_valid = l->n_valid;
    r->sum = l->sum; /* the arrays move over */
    r->avg = l->avg;
    r->max = l->max;
    r->map_avg = l->map_avg;
    free(l->count);
    free(l);
    *out = r;
    return MVA_OK;
}
