/* Pieces shared by the exact and randomized PCA: loading a pixel's variables with its
 * Poisson weight, the means and weights, the sign convention, and the scores pass. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "blasctl.h"
#include "internal.h"

double pca_load_row(const pca_vars *v, int poisson, const double *x, double *row,
                    double *vsum, double noise)
{
    pca_vars_apply(v, x, row);
    double t = 0.0;
    for (size_t j = 0; j < v->p; j++) {
        vsum[j] += row[j];
        t += row[j];
    }
    if (!poisson)
        return 1.0;
    /* Keenan & Kotula weight 1/sqrt(variance of the total): for a normalised pixel that is
     * noise * total (see mva_reader_ops.noise).  Empty pixel: weight 0, stays finite. */
    double var = t * noise;
    double w = var > 0.0 ? 1.0 / sqrt(var) : 0.0;
    for (size_t j = 0; j < v->p; j++)
        row[j] *= w;
    return w;
}

int pca_run_pass(mva_stack *s, mva_accum first, const mva_accum *extra, size_t nextra,
                 const mva_pass_opts *popts, mva_error *err)
{
    mva_accum *accs = malloc((nextra + 1) * sizeof *accs);
    if (accs == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    accs[0] = first;
    for (size_t i = 0; i < nextra; i++)
        accs[i + 1] = extra[i];
    int rc = mva_pass_run(s, accs, nextra + 1, popts, err);
    free(accs);
    return rc;
}

void pca_set_means(mva_pca_model *m, const double *vsum, const double *smean, size_t n)
{
    for (size_t j = 0; j < m->p; j++) {
        m->mean[j] = vsum[j] / (double)n;
        double cw = 1.0;
        if (m->var_weight) {
            cw = vsum[j] > 0.0 ? 1.0 / sqrt(vsum[j]) : 0.0; /* dead channel: weight 0 */
            m->var_weight[j] = cw;
        }
        m->scaled_mean[j] = smean[j] * cw;
    }
}

void pca_orient_component(mva_pca_model *m, const double *v, size_t q, double *comp_w)
{
    size_t p = m->p, big = 0;
    double *c = m->components + q * p, *cw = comp_w + q * p;
    for (size_t j = 0; j < p; j++) {
        double w = m->var_weight ? m->var_weight[j] : 1.0;
        cw[j] = v[j];
        c[j] = w > 0.0 ? cw[j] / w : 0.0;
        if (fabs(c[j]) > fabs(c[big]))
            big = j;
    }
    if (c[big] < 0.0) {
        for (size_t j = 0; j < p; j++) {
            c[j] = -c[j];
            cw[j] = -cw[j];
        }
    }
}

typedef struct {
    const pca_vars *v;
    const mva_pca_model *m;
    const double *comp_w; /* k x p eigenvectors of the scaled covariance */
    size_t n;
    double *u, *s;        /* PCA_SUB_ROWS x p scaled rows, PCA_SUB_ROWS x k scores */
    size_t *idx;          /* PCA_SUB_ROWS pixel indices */
    double *cw;           /* k x p: comp_w times the variable weights (direct path) */
    double *mc;           /* k: comp_w . scaled_mean (0 when uncentred) */
} score_acc;

/* Scores of the nb rows in a->u, un-weighted, scattered into the k x n eigenimages. */
static void score_rows(score_acc *a, size_t nb)
{
    const mva_pca_model *m = a->m;
    size_t p = m->p, k = m->k;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)k, (int)p, 1.0, a->u,
                (int)p, a->comp_w, (int)p, 0.0, a->s, (int)k);
    for (size_t r = 0; r < nb; r++) {
        size_t i = a->idx[r];
        /* Un-weight: multiply by sqrt(pixel total) = 1/w, 0 for an empty pixel. */
        double unw = 1.0;
        if (m->pix_weight)
            unw = m->pix_weight[i] > 0.0 ? 1.0 / m->pix_weight[i] : 0.0;
        for (size_t q = 0; q < k; q++)
            m->scores[q * a->n + i] = a->s[r * k + q] * unw;
    }
}

/*
 * Direct path for a plain channel range: the scores of pixel i are
 *   (w_i x_i * c - mu) . v_q  un-weighted by 1/w_i  =  x_i . (c * v_q) - (mu . v_q) / w_i,
 * one dgemm on the block in place, no copy.  (c: variable weights, w_i: pixel weight.)
 */
static void score_direct(score_acc *a, const mva_block *b, size_t t0, size_t nb)
{
    const mva_pca_model *m = a->m;
    size_t k = m->k;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)k, (int)m->p, 1.0,
                b->x + t0 * b->p + a->v->c0, (int)b->p, a->cw, (int)m->p, 0.0, a->s, (int)k);
    for (size_t r = 0; r < nb; r++) {
        size_t i = b->first + t0 + r;
        double unw = 1.0;
        if (m->pix_weight)
            unw = m->pix_weight[i] > 0.0 ? 1.0 / m->pix_weight[i] : 0.0;
        for (size_t q = 0; q < k; q++)
            m->scores[q * a->n + i] = unw > 0.0 ? a->s[r * k + q] - a->mc[q] * unw : 0.0;
    }
}

static int score_consume(void *self, const mva_block *b, mva_error *err)
{
    (void)err;
    score_acc *a = self;
    const mva_pca_model *m = a->m;
    size_t p = m->p, nb = 0;
    for (size_t t = 0; t < b->npix; t++) {
        size_t i = b->first + t;
        if (!b->valid[t]) {
            for (size_t q = 0; q < m->k; q++)
                m->scores[q * a->n + i] = NAN;
            continue;
        }
        if (a->v->identity) {
            size_t run = 1;
            while (t + run < b->npix && b->valid[t + run] && run < PCA_DIRECT_ROWS)
                run++;
            score_direct(a, b, t, run);
            t += run - 1;
            continue;
        }
        double *row = a->u + nb * p;
        pca_vars_apply(a->v, b->x + t * b->p, row);
        double w = m->pix_weight ? m->pix_weight[i] : 1.0;
        for (size_t j = 0; j < p; j++) {
            double s = row[j] * w;
            if (m->var_weight)
                s *= m->var_weight[j];
            row[j] = m->uncentred ? s : s - m->scaled_mean[j];
        }
        a->idx[nb] = i;
        if (++nb == PCA_SUB_ROWS) {
            score_rows(a, nb);
            nb = 0;
        }
    }
    if (nb)
        score_rows(a, nb);
    return MVA_OK;
}

/* The direct path's folded components and mean terms. */
static void score_prepare(score_acc *a)
{
    const mva_pca_model *m = a->m;
    for (size_t q = 0; q < m->k; q++) {
        a->mc[q] = 0.0;
        for (size_t j = 0; j < m->p; j++) {
            double c = m->var_weight ? m->var_weight[j] : 1.0;
            a->cw[q * m->p + j] = a->comp_w[q * m->p + j] * c;
            if (!m->uncentred)
                a->mc[q] += a->comp_w[q * m->p + j] * m->scaled_mean[j];
        }
    }
}

int pca_score_pass(mva_stack *s, const pca_vars *v, mva_pca_model *m, const double *comp_w,
                   const mva_pass_opts *popts, mva_error *err)
{
    score_acc a = {v, m, comp_w, m->rows * m->cols, NULL, NULL, NULL, NULL, NULL};
    a.u = malloc((size_t)PCA_SUB_ROWS * m->p * sizeof(double));
    a.s = malloc((size_t)PCA_SUB_ROWS * m->k * sizeof(double));
    a.idx = malloc((size_t)PCA_SUB_ROWS * sizeof(size_t));
    a.cw = malloc(m->k * m->p * sizeof(double));
    a.mc = malloc(m->k * sizeof(double));
    int rc;
    if (!a.u || !a.s || !a.idx || !a.cw || !a.mc) {
        rc = mva_error_set(err, MVA_ENOMEM, "out of memory");
    } else {
        score_prepare(&a);
        int threads = mva_blas_leave_reader_a_core();
        mva_accum acc = {&a, NULL, score_consume, NULL};
        rc = mva_pass_run(s, &acc, 1, popts, err);
        mva_blas_restore(threads);
    }
    free(a.u);
    free(a.s);
    free(a.idx);
    free(a.cw);
    free(a.mc);
    return rc;
}

/* Index of the bend of the log scree: the point farthest below the chord from the first to
 * the last positive eigenvalue (the "kneedle" idea, Satopaa et al. 2011). */
static size_t scree_elbow(const double *ev, size_t ne)
{
    size_t last = 0;
    while (last + 1 < ne && ev[last + 1] > 0 && isfinite(ev[last + 1]))
        last++;
    if (last < 2)
        return last + 1;
    double y0 = log10(ev[0]), y1 = log10(ev[last]), best = -1;
    size_t at = 1;
    for (size_t j = 1; j < last; j++) {
        double chord = y0 + (y1 - y0) * (double)j / (double)last;
        double below = chord - log10(ev[j]);
        if (below > best) {
            best = below;
            at = j;
        }
    }
    return at;
}

void pca_select_k(mva_pca_model *m, const mva_pca_opts *o)
{
    size_t kmax = m->k, ne = m->n_eigenvalues, k = kmax;
    double n = (double)m->n_valid, p = (double)m->p;
    m->k_rule = o->k_rule;
    if (o->k_rule == MVA_PCA_K_NOISE) {
        double total = 0;
        for (size_t j = 0; j < m->p; j++)
            total += m->mean[j] * n;
        m->noise_edge = 1.05 * (sqrt(n) + sqrt(p)) * (sqrt(n) + sqrt(p)) / (total * (n - 1));
        size_t above = 0;
        while (above < ne && m->eigenvalues[above] > m->noise_edge)
            above++;
        k = above < 1 ? 1 : above > kmax ? kmax : above;
        snprintf(m->k_reason, sizeof m->k_reason,
                 "k = %zu: %zu eigenvalue%s above the Poisson noise edge %.4g (Marchenko-Pastur, "
                 "1.05 (sqrt(n)+sqrt(p))^2 / (counts (n-1)))%s",
                 k, above, above == 1 ? "" : "s", m->noise_edge,
                 above > kmax ? ", capped at the maximum k" : "");
    } else if (o->k_rule == MVA_PCA_K_VARIANCE) {
        double cum = 0;
        size_t j = 0;
        while (j < ne && j < kmax && cum < o->k_variance)
            cum += m->explained[j++];
        k = j ? j : 1;
        snprintf(m->k_reason, sizeof m->k_reason,
                 "k = %zu: %.4f%% of the variance explained (target %.4f%%)%s", k, 100 * cum,
                 100 * o->k_variance, cum < o->k_variance ? ", capped at the maximum k" : "");
    } else if (o->k_rule == MVA_PCA_K_ELBOW) {
        size_t at = scree_elbow(m->eigenvalues, ne);
        k = at < 1 ? 1 : at > kmax ? kmax : at;
        snprintf(m->k_reason, sizeof m->k_reason,
                 "k = %zu: the log scree bends at component %zu", k, at + 1);
    } else {
        snprintf(m->k_reason, sizeof m->k_reason, "k = %zu as given", k);
    }
    m->k = k;
}

int pca_comm_means(const mva_comm *comm, size_t n, double *mean, size_t p, double **off,
                   double *ntot, mva_error *err)
{
    size_t size = (size_t)comm->size, len = p + 1;
    double *all = malloc(size * len * sizeof *all), *mine = malloc(len * sizeof *mine);
    size_t *counts = calloc(size ? size : 1, sizeof *counts);
    int rc = MVA_OK;
    *off = NULL;
    if (!all || !mine || !counts) {
        rc = mva_error_set(err, MVA_ENOMEM, "out of memory");
        goto done;
    }
    mine[0] = (double)n;
    memcpy(mine + 1, mean, p * sizeof *mine);
    for (size_t r = 0; r < size; r++)
        counts[r] = len;
    rc = comm->allgather(comm->user, mine, counts, all, err);
    if (rc != MVA_OK)
        goto done;
    *ntot = 0;
    for (size_t r = 0; r < size; r++)
        *ntot += all[r * len];
    for (size_t j = 0; j < p && *ntot > 0; j++) {
        double sum = 0;
        for (size_t r = 0; r < size; r++)
            sum += all[r * len] * all[r * len + 1 + j];
        mean[j] = sum / *ntot;
    }
    for (size_t r = 0; r < size; r++)
        for (size_t j = 0; j < p; j++)
            all[r * len + 1 + j] -= mean[j];
    *off = all;
    all = NULL;
done:
    free(all);
    free(mine);
    free(counts);
    return rc;
}
