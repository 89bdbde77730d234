/* mva_nmf_fit: options, the statistics pass, the start, the update passes until the objective
 * settles, then the model: un-weighted, spectra normalised to sum 1, sorted by share. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

mva_nmf_opts mva_nmf_opts_default(void)
{
    mva_nmf_opts o;
    memset(&o, 0, sizeof o);
    o.k = 4;
    o.method = MVA_NMF_HALS;
    o.init = MVA_NMF_INIT_NNDSVDA;
    o.seed = MVA_NMF_DEFAULT_SEED;
    o.max_iter = 200;
    o.tol = 1e-4;
    o.inner = 10;
    o.compressed_iter = 200;
    return o;
}

const char *mva_nmf_method_name(mva_nmf_method method)
{
    switch (method) {
    case MVA_NMF_HALS: return "hals";
    case MVA_NMF_MU: return "mu";
    case MVA_NMF_KL: return "kl";
    default: return "unknown";
    }
}

const char *mva_nmf_init_name(mva_nmf_init init)
{
    switch (init) {
    case MVA_NMF_INIT_NNDSVDA: return "nndsvda";
    case MVA_NMF_INIT_RANDOM: return "random";
    case MVA_NMF_INIT_CUSTOM: return "custom";
    default: return "unknown";
    }
}

static int check_opts(const mva_stack_info *info, const mva_nmf_opts *o, mva_error *err)
{
    if (o->method != MVA_NMF_HALS && o->method != MVA_NMF_MU && o->method != MVA_NMF_KL)
        return mva_error_set(err, MVA_EINVAL, "unknown NMF method %d (hals, mu or kl)",
                             o->method);
    if (o->init != MVA_NMF_INIT_NNDSVDA && o->init != MVA_NMF_INIT_RANDOM &&
        o->init != MVA_NMF_INIT_CUSTOM)
        return mva_error_set(err, MVA_EINVAL, "unknown NMF start %d (nndsvda, random or custom)",
                             o->init);
    if (o->k == 0 || o->k > info->channels)
        return mva_error_set(err, MVA_EINVAL, "%s: %zu NMF components asked, need 1 to %zu "
                             "(the channels)", info->source, o->k, info->channels);
    if (o->max_iter == 0 || !(o->tol >= 0.0) || o->inner == 0)
        return mva_error_set(err, MVA_EINVAL, "NMF needs at least 1 pass, 1 inner sweep and "
                             "a tolerance >= 0 (got %zu, %zu, %g)", o->max_iter, o->inner,
                             o->tol);
    if (o->poisson && o->method == MVA_NMF_KL)
        return mva_error_set(err, MVA_EINVAL, "Poisson scaling is for the Frobenius methods "
                             "(hals, mu); kl already models counts");
    if (o->init == MVA_NMF_INIT_CUSTOM && (o->w_init == NULL || o->h_init == NULL))
        return mva_error_set(err, MVA_EINVAL, "custom NMF start without w_init and h_init");
    return MVA_OK;
}

int mva_nmf_model_new(mva_nmf_model **out, size_t rows, size_t cols, size_t p, size_t k,
                      size_t max_iter, int with_energy, mva_error *err)
{
    size_t n, nk, kp;
    if (mva_size_mul(rows, cols, &n) != MVA_OK || mva_size_mul(n, k, &nk) != MVA_OK ||
        mva_size_mul(nk, sizeof(double), &nk) != MVA_OK || mva_size_mul(k, p, &kp) != MVA_OK ||
        mva_size_mul(kp, sizeof(double), &kp) != MVA_OK)
        return mva_error_set(err, MVA_ERANGE, "NMF model %zu x %zu x %zu, k = %zu: size "
                             "overflows", rows, cols, p, k);
    mva_nmf_model *m = calloc(1, sizeof *m);
    if (m == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    m->rows = rows;
    m->cols = cols;
    m->p = p;
    m->k = k;
    m->history = calloc(max_iter ? max_iter : 1, sizeof(double));
    m->spectra = calloc(kp ? kp / sizeof(double) : 1, sizeof(double));
    m->abundances = calloc(nk ? nk / sizeof(double) : 1, sizeof(double));
    m->share = calloc(k ? k : 1, sizeof(double));
    m->mask = calloc(n ? n : 1, 1);
    if (with_energy)
        m->energy = calloc(p ? p : 1, sizeof(double));
    if (!m->history || !m->spectra || !m->abundances || !m->share || !m->mask ||
        (with_energy && !m->energy)) {
        mva_nmf_model_free(m);
        return mva_error_set(err, MVA_ENOMEM, "out of memory for an NMF model of %zu x %zu "
                             "pixels, k = %zu", rows, cols, k);
    }
    *out = m;
    return MVA_OK;
}

void mva_nmf_model_free(mva_nmf_model *m)
{
    if (m == NULL)
        return;
    free(m->history);
    free(m->energy);
    free(m->spectra);
    free(m->abundances);
    free(m->share);
    free(m->mask);
    free(m);
}

/* Passes of updates until the relative change of the objective drops below tol. */
static int iterate(mva_stack *s, nmf_state *st, mva_nmf_model *m, mva_error *err)
{
    const mva_nmf_opts *o = st->o;
    double prev = 0.0;
    for (size_t it = 0; it < o->max_iter; it++) {
        double f = 0.0;
        int rc = o->method == MVA_NMF_KL ? nmf_iterate_kl(s, st, err, &f)
                                         : nmf_iterate_frobenius(s, st, err, &f);
        if (rc != MVA_OK)
            return rc;
        m->history[it] = f;
        m->iterations = it + 1;
        m->objective = f;
        if (o->on_iter)
            o->on_iter(o->iter_user, it + 1, f);
        if (f == 0.0 || (it > 0 && fabs(prev - f) < o->tol * prev)) {
            m->converged = 1;
            break;
        }
        prev = f;
    }
    return MVA_OK;
}

typedef struct {
    const nmf_state *st;
    mva_nmf_model *m;
    const double *sum; /* k: spectrum sums, moved into the abundances */
    double *tot;       /* k: abundance totals */
} abund_sweep;

/* Abundances of W's rows, in component order (NaN for excluded pixels), and their totals. */
static int abundance_rows(void *self, double *rows, size_t first, size_t count, mva_error *err)
{
    (void)err;
    abund_sweep *a = self;
    size_t k = a->st->k, n = a->st->n;
    for (size_t i = 0; i < count; i++) {
        double w = a->st->pixw[first + i];
        for (size_t q = 0; q < k; q++) {
            double v = w > 0.0 ? rows[i * k + q] / w * a->sum[q] : 0.0;
            a->tot[q] += v;
            a->m->abundances[q * n + first + i] = a->st->mask[first + i] ? NAN : v;
        }
    }
    return MVA_OK;
}

/* Model from the scaled factors: W = D_a^-1 W~, H = H~ D_c^-1 (0 where a weight is 0), each
 * spectrum scaled to sum 1 (its sum moved into the abundances), components by share. */
static int finish_model(const nmf_state *st, mva_nmf_model *m, mva_error *err)
{
    size_t n = st->n, p = st->p, k = st->k;
    double *tot = calloc(k, sizeof *tot), *sum = calloc(k, sizeof *sum), all = 0.0;
    double *spare = malloc(n * sizeof *spare);
    size_t *perm = malloc(k * sizeof *perm);
    unsigned char *done_row = calloc(k, 1);
    int rc = MVA_OK;
    if (!tot || !sum || !perm || !spare || !done_row) {
        rc = mva_error_set(err, MVA_ENOMEM, "NMF model: out of memory");
        goto done;
    }
    for (size_t q = 0; q < k; q++) {
        for (size_t j = 0; j < p; j++) {
            double c = st->chw[j], h = st->H[q * p + j];
            st->H[q * p + j] = c > 0.0 ? h / c : 0.0;
            sum[q] += st->H[q * p + j];
        }
        perm[q] = q;
    }
    abund_sweep a = {st, m, sum, tot};
    rc = nmf_w_sweep((nmf_state *)st, 0, n, 0, abundance_rows, &a, err);
    if (rc != MVA_OK)
        goto done;
    for (size_t q = 0; q < k; q++)
        all += tot[q];
    for (size_t q = 1; q < k; q++) /* insertion sort, stable: ties keep their order */
        for (size_t r = q; r > 0 && tot[perm[r]] > tot[perm[r - 1]]; r--) {
            size_t t = perm[r];
            perm[r] = perm[r - 1];
            perm[r - 1] = t;
        }
    /* abundance rows into the order of perm (cycles of the permutation, one spare row) */
    for (size_t q = 0; q < k; q++) {
        size_t src = perm[q];
        m->share[q] = all > 0.0 ? tot[src] / all : 0.0;
        for (size_t j = 0; j < p; j++)
            m->spectra[q * p + j] = sum[src] > 0.0 ? st->H[src * p + j] / sum[src] : 0.0;
    }
    for (size_t q = 0; q < k; q++) {
        if (done_row[q])
            continue;
        memcpy(spare, m->abundances + q * n, n * sizeof *spare);
        size_t at = q;
        while (perm[at] != q) {
            memcpy(m->abundances + at * n, m->abundances + perm[at] * n, n * sizeof *spare);
            done_row[at] = 1;
            at = perm[at];
        }
        memcpy(m->abundances + at * n, spare, n * sizeof *spare);
        done_row[at] = 1;
    }
done:
    free(tot);
    free(sum);
    free(perm);
    free(spare);
    free(done_row);
    return rc;
}

typedef struct {
    size_t n, k;
    double *img; /* (k + 2) x n: the k abundance rows, then the weights and the mask */
} gather_sweep;

static int rows_to_img(void *self, double *rows, size_t first, size_t count, mva_error *err)
{
    (void)err;
    gather_sweep *g = self;
    for (size_t i = 0; i < count; i++)
        for (size_t q = 0; q < g->k; q++)
            g->img[q * g->n + first + i] = rows[i * g->k + q];
    return MVA_OK;
}

static int img_to_rows(void *self, double *rows, size_t first, size_t count, mva_error *err)
{
    (void)err;
    gather_sweep *g = self;
    for (size_t i = 0; i < count; i++)
        for (size_t q = 0; q < g->k; q++)
            rows[i * g->k + q] = g->img[q * g->n + first + i];
    return MVA_OK;
}

/* Several processes: each updated the W rows (and set the weights and mask) of its own pixels;
 * every process gets all of them, by position, so that the model is the same everywhere. */
static int gather_rows(mva_stack *s, nmf_state *st, mva_error *err)
{
    if (!nmf_distributed(st))
        return MVA_OK;
    size_t n = st->n, k = st->k, first = 0, count = 0;
    mva_pass_range(s, st->popts, &first, &count);
    gather_sweep g = {n, k, calloc((k + 2) * n, sizeof(double))};
    if (g.img == NULL)
        return mva_error_set(err, MVA_ENOMEM, "NMF: out of memory gathering the abundances");
    int rc = nmf_w_sweep(st, first, count, 0, rows_to_img, &g, err);
    for (size_t i = first; i < first + count; i++) {
        g.img[k * n + i] = st->pixw[i];
        g.img[(k + 1) * n + i] = st->mask[i];
    }
    if (rc == MVA_OK)
        rc = mva_comm_gather_pixels(st->popts->comm, g.img, k + 2, n, first, count, err);
    if (rc == MVA_OK)
        rc = nmf_w_sweep(st, 0, n, 1, img_to_rows, &g, err);
    if (rc == MVA_OK)
        for (size_t i = 0; i < n; i++) {
            st->pixw[i] = g.img[k * n + i];
            st->mask[i] = g.img[(k + 1) * n + i] != 0.0;
        }
    free(g.img);
    return rc;
}

static void describe(const mva_stack_info *info, const nmf_state *st, mva_nmf_model *m)
{
    const mva_nmf_opts *o = st->o;
    m->method = o->method;
    m->init = o->init;
    m->poisson = o->poisson;
    m->seed = o->seed;
    m->max_iter = o->max_iter;
    m->inner = o->inner;
    m->tol = o->tol;
    m->n_valid = st->n_valid;
    m->passes = st->passes;
    m->norm_x2 = st->norm_x2;
    m->rel_error = o->method == MVA_NMF_KL || !(st->norm_x2 > 0.0)
                       ? NAN : sqrt(m->objective / st->norm_x2);
    memcpy(m->mask, st->mask, st->n);
    if (m->energy)
        for (size_t j = 0; j < st->p; j++)
            m->energy[j] = mva_calib_energy(&info->calib, (double)j);
}

static int alloc_state(nmf_state *st, size_t n, size_t p, const mva_nmf_opts *o,
                       const mva_pass_opts *popts)
{
    memset(st, 0, sizeof *st);
    st->n = n;
    st->p = p;
    st->k = o->k;
    st->o = o;
    st->popts = popts;
    st->budget = popts && popts->mem_budget ? popts->mem_budget : MVA_PASS_DEFAULT_BUDGET;
    st->H = calloc(o->k * p, sizeof(double));
    st->pixw = calloc(n, sizeof(double));
    st->chw = calloc(p, sizeof(double));
    st->mask = calloc(n, 1);
    if (o->init == MVA_NMF_INIT_NNDSVDA)
        st->gram = calloc(p * p, sizeof(double));
    return st->H && st->pixw && st->chw && st->mask &&
                   (o->init != MVA_NMF_INIT_NNDSVDA || st->gram)
               ? MVA_OK
               : MVA_ENOMEM;
}

static void free_state(nmf_state *st)
{
    nmf_w_close(st);
    free(st->H);
    free(st->pixw);
    free(st->chw);
    free(st->mask);
    free(st->gram);
}

int mva_nmf_fit(mva_stack *s, const mva_nmf_opts *opts, const mva_pass_opts *popts,
                mva_nmf_model **out, mva_error *err)
{
    if (s == NULL || opts == NULL || out == NULL)
        return mva_error_set(err, MVA_EINVAL, "mva_nmf_fit: stack, options or output is NULL");
    double t0 = now_seconds();
    const mva_stack_info *info = mva_stack_get_info(s);
    size_t n, pp, nk;
    nmf_state st;
    mva_nmf_model *m = NULL;
    int rc = check_opts(info, opts, err);
    if (rc != MVA_OK)
        return rc;
    if (mva_size_mul(info->rows, info->cols, &n) != MVA_OK ||
        mva_size_mul(n, opts->k, &nk) != MVA_OK || mva_size_mul(nk, 8, &nk) != MVA_OK ||
        mva_size_mul(info->channels, info->channels, &pp) != MVA_OK ||
        mva_size_mul(pp, 8, &pp) != MVA_OK)
        return mva_error_set(err, MVA_ERANGE, "%s: NMF sizes overflow", info->source);
    rc = alloc_state(&st, n, info->channels, opts, popts);
    if (rc == MVA_OK)
        rc = mva_nmf_model_new(&m, info->rows, info->cols, info->channels, opts->k,
                               opts->max_iter, info->calib.known, err);
    else
        rc = mva_error_set(err, MVA_ENOMEM, "out of memory for NMF state (n %zu, p %zu, k %zu)",
                           n, info->channels, opts->k);
    if (rc == MVA_OK)
        rc = nmf_w_open(&st, nk > st.budget, opts->scratch_dir, err);
    if (rc == MVA_OK)
        rc = nmf_stats_pass(s, &st, err);
    if (rc == MVA_OK)
        rc = nmf_init(s, &st, err);
    if (rc == MVA_OK)
        rc = iterate(s, &st, m, err);
    if (rc == MVA_OK)
        rc = gather_rows(s, &st, err);
    if (rc == MVA_OK) {
        describe(info, &st, m);
        m->w_scratch = st.wfile != NULL;
        rc = finish_model(&st, m, err);
    }
    if (rc == MVA_OK) {
        m->seconds = now_seconds() - t0;
        *out = m;
    } else {
        mva_nmf_model_free(m);
    }
    free_state(&st);
    return rc;
}
