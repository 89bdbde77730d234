/* mva_pca_fit: options, the choice of method, the model, then the method's passes and the
 * scores pass. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "igram.h"
#include "internal.h"

/* The Python mirror (python/mva/_lib.py) holds k_rule as a c_int. */
_Static_assert(sizeof(mva_pca_k_rule) == sizeof(int), "enum size");

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *mva_pca_method_name(mva_pca_method method)
{
    switch (method) {
    case MVA_PCA_EXACT: return "exact";
    case MVA_PCA_RANDOMIZED: return "randomized";
    case MVA_PCA_AUTO: return "auto";
    default: return "unknown";
    }
}

/*
 * Cost model, in seconds, calibrated on this project's 2-core test machine (make bench):
 *   a read     raw bytes / 0.7 GB/s when compressed (parallel inflate), / 4 GB/s otherwise;
 *   exact      2 reads + n p^2 / 1.4e11 for integer counts without Poisson scaling (the exact
 *              single-precision Gram, src/igram.c, at any count level: bright channels cost
 *              it ~10%), / 2.2e11 where its integer kernel runs (AVX-512 VNNI), / 7e10
 *              otherwise (dsyrk), + p^3 / 2.3e10 (LAPACK);
 *   randomized (P + 1) reads + (P + 1) n p 8 / 3e9: each pass streams the block of doubles
 *              through two skinny dgemms, memory-bound; P = max_passes (the block Krylov
 *              method converges in 7 of the default 8 on the bench maps: priced at the cap).
 * Exact wins outright below AUTO_EXACT_CHEAP seconds: small maps (a few hundred pixels)
 * leave the randomized method's noise-level Ritz values unsettled after its passes, and
 * AUTO never hands back an unconverged result (mva_pca_fit falls back to exact).
 * Measured (integer kernel): 101x200x2000 gzip exact 0.84-0.93 s (dim or bright); 400x640x2048
 * gzip exact 8.7 s vs randomized 17.8 s; 3200x640x2048 raw exact 33.5 s vs randomized 111 s
 * (randomized, single precision: 1.0-1.1 s vs 1.6 s; raw 400x640x2048 7.7 s vs 16.3 s); for
 * 10^6 pixels the randomized method wins from about 4096 channels of floats or 8192 channels
 * of counts.
 */
#define AUTO_EXACT_CHEAP 0.5

mva_pca_method mva_pca_choose_method(const mva_stack_info *info, const mva_pca_opts *o)
{
    double n = (double)info->rows * (double)info->cols;
    double bin = (double)(o->bin ? o->bin : 1);
    double p = (double)info->channels / bin;
    if (o->ch_end > o->ch_begin)
        p = (double)(o->ch_end - o->ch_begin) / bin;
    double l = (double)(o->k + o->oversample);
    if (l >= p)
        return MVA_PCA_EXACT;
    double raw = n * (double)info->channels * (double)mva_dtype_size(info->dtype);
    int compressed = info->stored_bytes && (double)info->stored_bytes < 0.9 * raw;
    double t_read = raw / (compressed ? 7e8 : 4e9);
    double passes = (double)o->max_passes + 1;
    int counts = info->dtype != MVA_DTYPE_FLOAT32 && info->dtype != MVA_DTYPE_FLOAT64;
    double gram_rate = !counts || o->poisson ? 7e10 : mva_igram_vnni_available() ? 2.2e11 : 1.4e11;
    double exact = 2 * t_read + n * p * p / gram_rate + p * p * p / 2.3e10;
    double randomized = passes * (t_read + n * p * 8 / 3e9);
    if (exact < AUTO_EXACT_CHEAP)
        return MVA_PCA_EXACT;
    return randomized < exact ? MVA_PCA_RANDOMIZED : MVA_PCA_EXACT;
}

static int check_opts(const mva_stack_info *info, const mva_pca_opts *o, mva_error *err)
{
    if (o->method != MVA_PCA_EXACT && o->method != MVA_PCA_RANDOMIZED &&
        o->method != MVA_PCA_AUTO)
        return mva_error_set(err, MVA_EINVAL, "unknown PCA method %d", o->method);
    if (o->k == 0)
        return mva_error_set(err, MVA_EINVAL, "number of components must be at least 1");
    if (o->ch_end > info->channels)
        return mva_error_set(err, MVA_EINVAL,
                             "%s: channel range ends at %zu, the stack has %zu channels",
                             info->source, o->ch_end, info->channels);
    if (o->k_rule < MVA_PCA_K_FIXED || o->k_rule > MVA_PCA_K_ELBOW)
        return mva_error_set(err, MVA_EINVAL, "unknown rule %d for choosing k", o->k_rule);
    if (o->k_rule == MVA_PCA_K_NOISE && !o->poisson)
        return mva_error_set(err, MVA_EINVAL, "choosing k from the noise edge needs Poisson "
                             "scaling (counts data): its noise level is known only then");
    if (o->k_rule == MVA_PCA_K_VARIANCE && !(o->k_variance > 0 && o->k_variance < 1))
        return mva_error_set(err, MVA_EINVAL, "explained-variance target %g: expected a "
                             "fraction between 0 and 1, e.g. 0.99", o->k_variance);
    if (o->method != MVA_PCA_EXACT && (o->max_passes < 2 || !(o->tol >= 0)))
        return mva_error_set(err, MVA_EINVAL, "randomized PCA needs at least 2 passes and a "
                             "tolerance >= 0 (got %zu passes, tolerance %g)",
                             o->max_passes, o->tol);
    return MVA_OK;
}

/* Variable channels and energies. */
static void describe_vars(const mva_stack_info *info, const pca_vars *v, mva_pca_model *m)
{
    m->bin = v->bin;
    for (size_t j = 0; j < v->p; j++) {
        m->var_ch0[j] = v->var_ch0[j];
        if (m->var_energy)
            m->var_energy[j] = mva_calib_energy(
                &info->calib, (double)v->var_ch0[j] + 0.5 * (double)(v->bin - 1));
    }
}

/* A rule may have chosen fewer components than were allocated for: give the rest back
 * (the scores were never touched, so they never cost resident memory). */
static int shrink_to_k(mva_pca_model *m, mva_error *err)
{
    size_t n = m->rows * m->cols;
    double *c = realloc(m->components, m->k * m->p * sizeof *c);
    if (c == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    m->components = c;
    double *sc = realloc(m->scores, m->k * n * sizeof *sc);
    if (sc == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    m->scores = sc;
    return MVA_OK;
}

/* Several processes: all score with rank 0's components (the same k and vectors even if
 * their LAPACK rounded differently). */
static int share_components(const mva_pass_opts *popts, mva_pca_model *m, size_t kmax,
                            double *comp_w, mva_error *err)
{
    const mva_comm *comm = popts ? popts->comm : NULL;
    if (comm == NULL || comm->size <= 1)
        return MVA_OK;
    double k = (double)m->k;
    int rc = mva_comm_bcast(comm, &k, 1, err);
    if (rc == MVA_OK)
        rc = mva_comm_bcast(comm, comp_w, kmax * m->p, err);
    m->k = (size_t)k;
    return rc;
}

/* Several processes: each scored its own slab; every one gets the whole eigenimages (and
 * the Poisson pixel weights) by position. */
static int gather_images(mva_stack *s, const mva_pass_opts *popts, mva_pca_model *m,
                         mva_error *err)
{
    const mva_comm *comm = popts ? popts->comm : NULL;
    if (comm == NULL || comm->size <= 1)
        return MVA_OK;
    size_t first, count, n = m->rows * m->cols;
    mva_pass_range(s, popts, &first, &count);
    int rc = mva_comm_gather_pixels(comm, m->scores, m->k, n, first, count, err);
    if (rc == MVA_OK && m->pix_weight)
        rc = mva_comm_gather_pixels(comm, m->pix_weight, 1, n, first, count, err);
    return rc;
}

/* AUTO's randomized run stopped short of its tolerance: the exact method instead, on a
 * fresh model that remembers the passes spent and the change they reached.  The extra
 * accumulators had their pass already. */
static int fall_back_to_exact(mva_stack *s, const pca_vars *v, const mva_pca_opts *opts,
                              const mva_pass_opts *popts, mva_pca_model **mp, double *comp_w,
                              pca_scree **scree, mva_error *err)
{
    mva_pca_model *r = *mp, *m = NULL;
    const mva_stack_info *info = mva_stack_get_info(s);
    int rc = mva_pca_model_new(&m, info->rows, info->cols, info->channels, v->p, opts->k,
                                 info->calib.known, opts->poisson, err);
    if (rc != MVA_OK)
        return rc;
    m->uncentred = opts->uncentred;
    m->method = MVA_PCA_EXACT;
    describe_vars(info, v, m);
    m->auto_passes = r->passes;
    m->auto_change = r->final_change;
    mva_pca_model_free(r);
    *mp = m;
    rc = pca_fit_exact(s, v, opts, m, NULL, 0, popts, comp_w, scree, err);
    m->passes += m->auto_passes;
    return rc;
}

int mva_pca_fit(mva_stack *s, const mva_pca_opts *opts, const mva_accum *extra, size_t nextra,
                const mva_pass_opts *popts, mva_pca_model **out, mva_error *err)
{
    double t0 = now_seconds();
    const mva_stack_info *info = mva_stack_get_info(s);
    pca_vars v;
    mva_pca_model *m = NULL;
    double *comp_w = NULL;
    pca_scree *scree = NULL;
    int rc = check_opts(info, opts, err);
    if (rc != MVA_OK)
        return rc;
    rc = pca_vars_init(&v, info->channels, opts, err);
    if (rc != MVA_OK)
        return rc;
    if (opts->k > v.p) {
        rc = mva_error_set(err, MVA_EINVAL, "%zu components asked, but only %zu variables "
                           "(channels after range, mask and binning)", opts->k, v.p);
        goto done;
    }
    rc = mva_pca_model_new(&m, info->rows, info->cols, info->channels, v.p, opts->k,
                             info->calib.known, opts->poisson, err);
    if (rc != MVA_OK)
        goto done;
    m->uncentred = opts->uncentred;
    m->method = opts->method == MVA_PCA_AUTO ? mva_pca_choose_method(info, opts) : opts->method;
    describe_vars(info, &v, m);
    comp_w = malloc(m->k * m->p * sizeof *comp_w);
    if (comp_w == NULL) {
        rc = mva_error_set(err, MVA_ENOMEM, "out of memory");
        goto done;
    }
    if (m->method == MVA_PCA_EXACT)
        rc = pca_fit_exact(s, &v, opts, m, extra, nextra, popts, comp_w, &scree, err);
    else
        rc = pca_fit_randomized(s, &v, opts, m, extra, nextra, popts, comp_w, err);
    if (rc == MVA_OK && opts->method == MVA_PCA_AUTO && !m->converged)
        rc = fall_back_to_exact(s, &v, opts, popts, &m, comp_w, &scree, err);
    if (rc == MVA_OK)
        rc = share_components(popts, m, opts->k, comp_w, err);
    if (rc == MVA_OK)
        rc = shrink_to_k(m, err);
    if (rc == MVA_OK)
        rc = pca_score_pass(s, &v, m, comp_w, popts, err);
    int src = pca_scree_finish(scree, rc == MVA_OK ? m : NULL, rc == MVA_OK ? err : NULL);
    rc = rc == MVA_OK ? src : rc;
    if (rc == MVA_OK)
        rc = gather_images(s, popts, m, err);
    if (rc == MVA_OK) {
        m->passes++;
        for (size_t i = 0; i < m->rows * m->cols; i++)
            m->mask[i] = isnan(m->scores[i]) ? 1 : 0;
    }
done:
    free(comp_w);
    pca_vars_free(&v);
    if (rc != MVA_OK) {
        mva_pca_model_free(m);
        return rc;
    }
    m->seconds = now_seconds() - t0;
    *out = m;
    return MVA_OK;
}
