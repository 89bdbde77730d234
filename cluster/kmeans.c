/* k-means of the pixels in score space: greedy k-means++ seeds, Lloyd iterations, restarts,
 * and the silhouette that chooses the number of clusters.  See mva/cluster.h. */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mva/cluster.h"
#include "gslinit.h"

mva_kmeans_opts mva_kmeans_opts_default(void)
{
    mva_kmeans_opts o = {5, 10, 300, MVA_KMEANS_DEFAULT_SEED};
    return o;
}

void mva_kmeans_result_free(mva_kmeans_result *r)
{
    if (r == NULL)
        return;
    free(r->labels);
    free(r->centroids);
    free(r->sizes);
    free(r->distance);
    free(r);
}

/* The labelled points, row-major m x dim, and the pixel each came from. */
typedef struct {
    size_t m, dim;
    double *pts;
    size_t *pix;
} points;

static void points_free(points *p)
{
    free(p->pts);
    free(p->pix);
}

static int points_gather(const double *x, size_t dim, size_t n, const unsigned char *mask,
                         points *p)
{
    size_t bytes;
    p->m = 0;
    p->dim = dim;
    if (mva_size_mul(n, dim * sizeof(double), &bytes) != MVA_OK)
        return MVA_ERANGE;
    p->pts = malloc(bytes ? bytes : 1);
    p->pix = malloc((n ? n : 1) * sizeof *p->pix);
    if (p->pts == NULL || p->pix == NULL)
        return MVA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (mask && mask[i])
            continue;
        int ok = 1;
        for (size_t d = 0; d < dim && ok; d++)
            ok = isfinite(x[d * n + i]);
        if (!ok)
            continue;
        for (size_t d = 0; d < dim; d++)
            p->pts[p->m * dim + d] = x[d * n + i];
        p->pix[p->m++] = i;
    }
    return MVA_OK;
}

static double dist2(const double *a, const double *b, size_t dim)
{
    double s = 0;
    for (size_t d = 0; d < dim; d++) {
        double t = a[d] - b[d];
        s += t * t;
    }
    return s;
}

/* Index of the first point whose cumulative weight exceeds r (r in [0, total)). */
static size_t pick_weighted(const double *w, size_t m, double r)
{
    double acc = 0;
    for (size_t i = 0; i < m; i++) {
        acc += w[i];
        if (r < acc)
            return i;
    }
    return m - 1; /* rounding: r landed on the total */
}

/* Greedy k-means++: each new centre is the best of 2 + ln c candidates drawn with probability
 * proportional to the squared distance to the nearest centre so far.  closest: m scratch. */
static void seed_plusplus(const points *p, size_t c, gsl_rng *rng, double *cent,
                          double *closest)
{
    size_t m = p->m, dim = p->dim, tries = 2 + (size_t)log((double)c);
    size_t first = (size_t)gsl_rng_uniform_int(rng, (unsigned long)m);
    memcpy(cent, p->pts + first * dim, dim * sizeof *cent);
    double pot = 0;
    for (size_t i = 0; i < m; i++)
        pot += closest[i] = dist2(p->pts + i * dim, cent, dim);
    for (size_t k = 1; k < c; k++) {
        size_t best = 0;
        double best_pot = INFINITY;
        for (size_t t = 0; t < tries; t++) {
            size_t cand = pot > 0 ? pick_weighted(closest, m, gsl_rng_uniform(rng) * pot)
                                  : (size_t)gsl_rng_uniform_int(rng, (unsigned long)m);
            const double *cp = p->pts + cand * dim;
            double np = 0;
            for (size_t i = 0; i < m; i++) {
                double d = dist2(p->pts + i * dim, cp, dim);
                np += d < closest[i] ? d : closest[i];
            }
            if (np < best_pot) {
                best_pot = np;
                best = cand;
            }
        }
        const double *bp = p->pts + best * dim;
        memcpy(cent + k * dim, bp, dim * sizeof *cent);
        pot = 0;
        for (size_t i = 0; i < m; i++) {
            double d = dist2(p->pts + i * dim, bp, dim);
            if (d < closest[i])
                closest[i] = d;
            pot += closest[i];
        }
    }
}

/* Nearest centre of every point (ties: the lower index); returns how many labels changed.
 * d2: each point's squared distance to its centre. */
static size_t assign(const points *p, const double *cent, size_t c, int32_t *lab, double *d2)
{
    size_t changed = 0, dim = p->dim;
    for (size_t i = 0; i < p->m; i++) {
        const double *x = p->pts + i * dim;
        int32_t best = 0;
        double bd = dist2(x, cent, dim);
        for (size_t k = 1; k < c; k++) {
            double d = dist2(x, cent + k * dim, dim);
            if (d < bd) {
                bd = d;
                best = (int32_t)k;
            }
        }
        changed += lab[i] != best;
        lab[i] = best;
        d2[i] = bd;
    }
    return changed;
}

/* Centres = means of their points.  An empty cluster takes the point farthest from its own
 * centre (which then leaves its cluster), so that c clusters survive. */
static void update(const points *p, size_t c, int32_t *lab, double *d2, double *cent,
                   size_t *size)
{
    size_t dim = p->dim;
    memset(cent, 0, c * dim * sizeof *cent);
    memset(size, 0, c * sizeof *size);
    for (size_t i = 0; i < p->m; i++) {
        size[lab[i]]++;
        for (size_t d = 0; d < dim; d++)
            cent[(size_t)lab[i] * dim + d] += p->pts[i * dim + d];
    }
    for (size_t k = 0; k < c; k++) {
        if (size[k] > 0)
            continue;
        size_t far = 0;
        for (size_t i = 1; i < p->m; i++)
            if (d2[i] > d2[far] && size[lab[i]] > 1)
                far = i;
        size_t from = (size_t)lab[far];
        for (size_t d = 0; d < dim; d++) {
            cent[from * dim + d] -= p->pts[far * dim + d];
            cent[k * dim + d] = p->pts[far * dim + d];
        }
        size[from]--;
        size[k] = 1;
        lab[far] = (int32_t)k;
        d2[far] = 0;
    }
    for (size_t k = 0; k < c; k++)
        for (size_t d = 0; d < dim; d++)
            cent[k * dim + d] /= (double)size[k];
}

/* One start: seeds, then Lloyd until no label changes or max_iter.  Returns the inertia. */
typedef struct {
    int32_t *lab;
    double *d2, *cent, *closest;
    size_t *size;
    size_t iterations;
    int converged;
} run_state;

static double run_once(const points *p, size_t c, size_t max_iter, gsl_rng *rng, run_state *s)
{
    seed_plusplus(p, c, rng, s->cent, s->closest);
    for (size_t i = 0; i < p->m; i++)
        s->lab[i] = -1;
    assign(p, s->cent, c, s->lab, s->d2);
    s->iterations = 0;
    s->converged = 0;
    while (s->iterations < max_iter) {
        update(p, c, s->lab, s->d2, s->cent, s->size);
        s->iterations++;
        if (assign(p, s->cent, c, s->lab, s->d2) == 0) {
            s->converged = 1;
            break;
        }
    }
    update(p, c, s->lab, s->d2, s->cent, s->size);
    double inertia = 0;
    for (size_t i = 0; i < p->m; i++)
        inertia += s->d2[i] = dist2(p->pts + i * p->dim, s->cent + (size_t)s->lab[i] * p->dim,
                                    p->dim);
    return inertia;
}

/* Renumbers clusters by decreasing size, ties by their first point. */
static void order_clusters(const points *p, size_t c, run_state *s)
{
    size_t *first = malloc(c * sizeof *first), *ord = malloc(c * sizeof *ord);
    int32_t *newid = malloc(c * sizeof *newid);
    double *cent = malloc(c * p->dim * sizeof *cent);
    size_t *size = malloc(c * sizeof *size);
    if (!first || !ord || !newid || !cent || !size)
        goto done; /* keep the order found: still deterministic */
    for (size_t k = 0; k < c; k++)
        first[k] = SIZE_MAX;
    for (size_t i = p->m; i-- > 0;)
        first[s->lab[i]] = i;
    for (size_t k = 0; k < c; k++)
        ord[k] = k;
    for (size_t a = 1; a < c; a++) /* insertion sort: c is small */
        for (size_t b = a; b > 0; b--) {
            size_t x = ord[b - 1], y = ord[b];
            int swap = s->size[y] > s->size[x] || (s->size[y] == s->size[x] && first[y] < first[x]);
            if (!swap)
                break;
            ord[b - 1] = y;
            ord[b] = x;
        }
    for (size_t k = 0; k < c; k++) {
        newid[ord[k]] = (int32_t)k;
        memcpy(cent + k * p->dim, s->cent + ord[k] * p->dim, p->dim * sizeof *cent);
        size[k] = s->size[ord[k]];
    }
    memcpy(s->cent, cent, c * p->dim * sizeof *cent);
    memcpy(s->size, size, c * sizeof *size);
    for (size_t i = 0; i < p->m; i++)
        s->lab[i] = newid[s->lab[i]];
done:
    free(first);
    free(ord);
    free(newid);
    free(cent);
    free(size);
}

static void run_state_free(run_state *s)
{
    free(s->lab);
    free(s->d2);
    free(s->cent);
    free(s->closest);
    free(s->size);
}

static int run_state_alloc(run_state *s, size_t m, size_t c, size_t dim)
{
    s->lab = malloc((m ? m : 1) * sizeof *s->lab);
    s->d2 = malloc((m ? m : 1) * sizeof *s->d2);
    s->closest = malloc((m ? m : 1) * sizeof *s->closest);
    s->cent = malloc(c * dim * sizeof *s->cent);
    s->size = malloc(c * sizeof *s->size);
    return s->lab && s->d2 && s->closest && s->cent && s->size ? MVA_OK : MVA_ENOMEM;
}

static int result_new(const points *p, size_t n, size_t c, mva_kmeans_result **out)
{
    mva_kmeans_result *r = calloc(1, sizeof *r);
    if (r == NULL)
        return MVA_ENOMEM;
    r->n = n;
    r->dim = p->dim;
    r->clusters = c;
    r->n_labelled = p->m;
    r->labels = malloc((n ? n : 1) * sizeof *r->labels);
    r->distance = malloc((n ? n : 1) * sizeof *r->distance);
    r->centroids = malloc(c * p->dim * sizeof *r->centroids);
    r->sizes = malloc(c * sizeof *r->sizes);
    if (!r->labels || !r->distance || !r->centroids || !r->sizes) {
        mva_kmeans_result_free(r);
        return MVA_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        r->labels[i] = -1;
        r->distance[i] = NAN;
    }
    *out = r;
    return MVA_OK;
}

static int fit_points(const points *p, size_t n, const mva_kmeans_opts *o,
                      mva_kmeans_result **out, mva_error *err)
{
    size_t c = o->clusters, dim = p->dim;
    if (c == 0 || p->m < c)
        return mva_error_set(err, MVA_EINVAL,
                             "k-means: %zu clusters asked for %zu labelled pixels (need at "
                             "least one pixel a cluster)", c, p->m);
    run_state cur = {0}, best = {0};
    mva_kmeans_result *r = NULL;
    mva_gsl_setup(); /* GSL must return errors, not abort */
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    int rc = MVA_ENOMEM;
    if (rng == NULL || run_state_alloc(&cur, p->m, c, dim) != MVA_OK ||
        run_state_alloc(&best, p->m, c, dim) != MVA_OK || result_new(p, n, c, &r) != MVA_OK)
        goto done;
    size_t restarts = o->restarts ? o->restarts : 1;
    double best_inertia = INFINITY;
    for (size_t t = 0; t < restarts; t++) {
        gsl_rng_set(rng, (unsigned long)(o->seed + t));
        double in = run_once(p, c, o->max_iter ? o->max_iter : 1, rng, &cur);
        if (in < best_inertia) {
            best_inertia = in;
            run_state tmp = best;
            best = cur;
            cur = tmp;
            r->best_restart = t;
        }
    }
    order_clusters(p, c, &best);
    for (size_t i = 0; i < p->m; i++) {
        r->labels[p->pix[i]] = best.lab[i];
        r->distance[p->pix[i]] = sqrt(best.d2[i]);
    }
    memcpy(r->centroids, best.cent, c * dim * sizeof *r->centroids);
    memcpy(r->sizes, best.size, c * sizeof *r->sizes);
    r->inertia = best_inertia;
    r->iterations = best.iterations;
    r->converged = best.converged;
    r->restarts = restarts;
    r->seed = o->seed;
    *out = r;
    r = NULL;
    rc = MVA_OK;
done:
    if (rc == MVA_ENOMEM)
        mva_error_set(err, rc, "k-means: out of memory for %zu points x %zu clusters", p->m, c);
    gsl_rng_free(rng);
    run_state_free(&cur);
    run_state_free(&best);
    mva_kmeans_result_free(r);
    return rc;
}

int mva_kmeans_fit(const double *x, size_t dim, size_t n, const unsigned char *mask,
                   const mva_kmeans_opts *opts, mva_kmeans_result **out, mva_error *err)
{
    mva_kmeans_opts o = opts ? *opts : mva_kmeans_opts_default();
    if (dim == 0)
        return mva_error_set(err, MVA_EINVAL, "k-means: no dimension (0 components)");
    points p = {0};
    int rc = points_gather(x, dim, n, mask, &p);
    if (rc != MVA_OK)
        rc = mva_error_set(err, rc, "k-means: out of memory for %zu x %zu scores", dim, n);
    else
        rc = fit_points(&p, n, &o, out, err);
    points_free(&p);
    return rc;
}

/* Silhouette of the sampled points idx[0..s): distances among the sample only. */
static double silhouette_of(const double *x, size_t dim, size_t n, const int32_t *labels,
                            const size_t *idx, size_t s, size_t c)
{
    double *sum = malloc(c * sizeof *sum);
    size_t *cnt = calloc(c, sizeof *cnt);
    double total = 0;
    size_t present = 0;
    if (sum == NULL || cnt == NULL) {
        free(sum);
        free(cnt);
        return NAN;
    }
    for (size_t a = 0; a < s; a++)
        cnt[labels[idx[a]]]++;
    for (size_t k = 0; k < c; k++)
        present += cnt[k] > 0;
    for (size_t a = 0; a < s && present >= 2; a++) {
        size_t i = idx[a], li = (size_t)labels[i];
        memset(sum, 0, c * sizeof *sum);
        for (size_t b = 0; b < s; b++) {
            size_t j = idx[b];
            double d2 = 0;
            for (size_t d = 0; d < dim; d++) {
                double t = x[d * n + i] - x[d * n + j];
                d2 += t * t;
            }
            sum[labels[j]] += sqrt(d2);
        }
        if (cnt[li] <= 1)
            continue; /* a lone point scores 0 (Rousseeuw) */
        double ai = sum[li] / (double)(cnt[li] - 1), bi = INFINITY;
        for (size_t k = 0; k < c; k++)
            if (k != li && cnt[k] > 0 && sum[k] / (double)cnt[k] < bi)
                bi = sum[k] / (double)cnt[k];
        double den = ai > bi ? ai : bi;
        total += den > 0 ? (bi - ai) / den : 0.0;
    }
    free(sum);
    free(cnt);
    return present >= 2 ? total / (double)s : NAN;
}

double mva_kmeans_silhouette(const double *x, size_t dim, size_t n, const int32_t *labels,
                             size_t sample, uint64_t seed)
{
    size_t m = 0, c = 0;
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    mva_gsl_setup(); /* GSL must return errors, not abort */
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    double result = NAN;
    if (idx == NULL || rng == NULL)
        goto done;
    for (size_t i = 0; i < n; i++)
        if (labels[i] >= 0) {
            idx[m++] = i;
            if ((size_t)labels[i] + 1 > c)
                c = (size_t)labels[i] + 1;
        }
    size_t s = sample == 0 || sample > m ? m : sample;
    gsl_rng_set(rng, (unsigned long)seed);
    for (size_t a = 0; a < s && s < m; a++) { /* partial Fisher-Yates: a uniform sample */
        size_t b = a + (size_t)gsl_rng_uniform_int(rng, (unsigned long)(m - a));
        size_t t = idx[a];
        idx[a] = idx[b];
        idx[b] = t;
    }
    if (s >= 2)
        result = silhouette_of(x, dim, n, labels, idx, s, c);
done:
    free(idx);
    gsl_rng_free(rng);
    return result;
}

int mva_kmeans_fit_auto(const double *x, size_t dim, size_t n, const unsigned char *mask,
                        const mva_kmeans_opts *opts, mva_kmeans_auto *a,
                        mva_kmeans_result **out, mva_error *err)
{
    mva_kmeans_opts o = opts ? *opts : mva_kmeans_opts_default();
    if (a->c_min < 2 || a->c_min > a->c_max)
        return mva_error_set(err, MVA_EINVAL,
                             "k-means: the cluster range %zu..%zu must start at 2 or more and "
                             "not be empty", a->c_min, a->c_max);
    if (dim == 0)
        return mva_error_set(err, MVA_EINVAL, "k-means: no dimension (0 components)");
    points p = {0};
    mva_kmeans_result *best = NULL;
    double best_s = -INFINITY;
    int rc = points_gather(x, dim, n, mask, &p);
    if (rc != MVA_OK) {
        rc = mva_error_set(err, rc, "k-means: out of memory for %zu x %zu scores", dim, n);
        goto done;
    }
    for (size_t c = a->c_min; c <= a->c_max; c++) {
        mva_kmeans_result *r = NULL;
        o.clusters = c;
        if ((rc = fit_points(&p, n, &o, &r, err)) != MVA_OK)
            goto done;
        double s = mva_kmeans_silhouette(x, dim, n, r->labels, a->sample, o.seed);
        if (a->silhouette)
            a->silhouette[c - a->c_min] = s;
        if (s > best_s || best == NULL) {
            mva_kmeans_result_free(best);
            best = r;
            best_s = isnan(s) ? -INFINITY : s;
        } else {
            mva_kmeans_result_free(r);
        }
    }
    *out = best;
    best = NULL;
done:
    mva_kmeans_result_free(best);
    points_free(&p);
    return rc;
}
