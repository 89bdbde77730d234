/* Rebuilding pixels from a PCA model, and one pass measuring how far they are from the
 * stack: Frobenius error, largest error, and the Poisson reduced chi-square per pixel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mva/compress.h"

void mva_pca_reconstruct(const mva_pca_model *m, size_t i, double *out)
{
    size_t n = m->rows * m->cols;
    double inv_w = 1.0;
    if (m->pix_weight)
        inv_w = m->pix_weight[i] > 0.0 ? 1.0 / m->pix_weight[i] : 0.0;
    for (size_t j = 0; j < m->p; j++) {
        double base = 0.0;
        if (!m->uncentred) {
            if (m->var_weight) /* scaled mean, un-weighted for this pixel */
                base = m->var_weight[j] > 0.0 ? m->scaled_mean[j] / m->var_weight[j] * inv_w : 0;
            else
                base = m->mean[j];
        }
        out[j] = base;
    }
    for (size_t q = 0; q < m->k; q++) {
        double t = m->scores[q * n + i];
        const double *c = m->components + q * m->p;
        for (size_t j = 0; j < m->p; j++)
            out[j] += t * c[j];
    }
}

typedef struct {
    const mva_pca_model *m;
    pca_vars v;
    double *x, *xh;        /* p: the pixel's variables, its reconstruction */
    double sum_sq, sum_err;
    mva_compress_stats *r;
} recon_acc;

static int recon_consume(void *self, const mva_block *b, mva_error *err)
{
    (void)err;
    recon_acc *a = self;
    const mva_pca_model *m = a->m;
    double keep = m->p > m->k ? (double)(m->p - m->k) / (double)m->p : 1.0;
    for (size_t t = 0; t < b->npix; t++) {
        size_t i = b->first + t;
        if (!b->valid[t] || m->mask[i]) {
            a->r->chi2[i] = NAN;
            continue;
        }
        pca_vars_apply(&a->v, b->x + t * b->p, a->x);
        mva_pca_reconstruct(m, i, a->xh);
        /* Pearson's statistic with the variance floored at 1 count, where the model predicts
         * almost nothing; E[(x - mu)^2 / max(mu, 1)] = min(mu, 1), so the degrees of freedom
         * are the sum of min(mu, 1) (less the k fitted per pixel, pro rata): 1 = pure noise. */
        double chi = 0.0, dof = 0.0;
        for (size_t j = 0; j < m->p; j++) {
            double d = a->x[j] - a->xh[j], mu = a->xh[j] > 0.0 ? a->xh[j] : 0.0;
            a->sum_sq += a->x[j] * a->x[j];
            a->sum_err += d * d;
            if (fabs(d) > a->r->max_abs)
                a->r->max_abs = fabs(d);
            chi += d * d / (mu > 1.0 ? mu : 1.0);
            dof += mu < 1.0 ? mu : 1.0;
        }
        dof *= keep;
        a->r->chi2[i] = dof > 0.0 ? chi / dof : NAN;
        if (!isnan(a->r->chi2[i]))
            a->r->chi2_mean += a->r->chi2[i];
        a->r->n_valid++;
    }
    return MVA_OK;
}

void mva_compress_stats_free(mva_compress_stats *r)
{
    if (r == NULL)
        return;
    free(r->chi2);
    free(r);
}

int mva_compress_measure(mva_stack *s, const mva_pca_model *m, const mva_pca_opts *o,
                         const mva_pass_opts *popts, mva_compress_stats **out, mva_error *err)
{
    const mva_stack_info *info = mva_stack_get_info(s);
    size_t n = m->rows * m->cols;
    if (info->rows != m->rows || info->cols != m->cols || info->channels != m->channels)
        return mva_error_set(err, MVA_EINVAL, "%s: the stack (%zu x %zu x %zu) is not the one "
                             "the model was fitted on (%zu x %zu x %zu)", info->source,
                             info->rows, info->cols, info->channels, m->rows, m->cols,
                             m->channels);
    recon_acc a;
    memset(&a, 0, sizeof a);
    a.m = m;
    int rc = pca_vars_init(&a.v, info->channels, o, err);
    if (rc != MVA_OK)
        return rc;
    a.r = calloc(1, sizeof *a.r);
    a.x = malloc(m->p * sizeof *a.x);
    a.xh = malloc(m->p * sizeof *a.xh);
    if (a.r)
        a.r->chi2 = malloc(n * sizeof *a.r->chi2);
    if (!a.r || !a.r->chi2 || !a.x || !a.xh) {
        rc = mva_error_set(err, MVA_ENOMEM, "out of memory");
    } else {
        mva_accum acc = {&a, NULL, recon_consume, NULL};
        rc = mva_pass_run(s, &acc, 1, popts, err);
    }
    if (rc == MVA_OK) {
        mva_compress_stats *r = a.r;
        r->rel_frobenius = a.sum_sq > 0 ? sqrt(a.sum_err / a.sum_sq) : 0.0;
        r->chi2_mean = r->n_valid ? r->chi2_mean / (double)r->n_valid : NAN;
        double np = (double)n * (double)m->p, kp = (double)m->k * ((double)n + (double)m->p);
        r->values_ratio = np / (kp + 2.0 * (double)m->p);
        r->bytes_ratio = (double)n * (double)m->channels *
                         (double)mva_dtype_size(info->dtype) / ((kp + 2.0 * (double)m->p) * 8.0);
        *out = r;
        a.r = NULL;
    }
    mva_compress_stats_free(a.r);
    free(a.x);
    free(a.xh);
    pca_vars_free(&a.v);
    return rc;
}
