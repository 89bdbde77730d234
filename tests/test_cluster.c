/* k-means (seeding, restarts, masks, determinism, silhouette and -c auto), orthomax rotation
 * and FastICA on data whose answer is known. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mva.h"

/* Deterministic numbers: erand48 from a fixed state (POSIX, the same on every run). */
static unsigned short rng_state[3] = {0x1234, 0x5678, 0x9abc};
static double urand(void)
{
    return erand48(rng_state);
}

static double nrand(void)
{
    double u = urand() + 1e-300, v = urand();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

enum { DIM = 3, NB = 4, PER = 150, NPTS = NB * PER };

/* NB well separated blobs of PER points in DIM dimensions, coordinate-major, interleaved;
 * truth[i] = the blob of point i. */
static void make_blobs(double *x, int *truth)
{
    static const double centre[NB][DIM] = {{0, 0, 0}, {10, 0, 0}, {0, 10, 0}, {0, 0, 10}};
    for (size_t i = 0; i < NPTS; i++) {
        int b = (int)((i * 7) % NB);
        truth[i] = b;
        for (size_t d = 0; d < DIM; d++)
            x[d * NPTS + i] = centre[b][d] + nrand();
    }
}

/* Labels equal truth up to a renaming of the clusters. */
static void assert_same_partition(const int32_t *lab, const int *truth, size_t n, size_t c)
{
    int map[16];
    for (size_t k = 0; k < c; k++)
        map[k] = -1;
    for (size_t i = 0; i < n; i++) {
        if (truth[i] < 0) {
            assert_int_equal(lab[i], -1);
            continue;
        }
        assert_true(lab[i] >= 0 && (size_t)lab[i] < c);
        if (map[lab[i]] < 0)
            map[lab[i]] = truth[i];
        assert_int_equal(map[lab[i]], truth[i]);
    }
}

static void test_kmeans_finds_separated_blobs(void **state)
{
    (void)state;
    double *x = malloc(DIM * NPTS * sizeof *x);
    int truth[NPTS];
    make_blobs(x, truth);
    mva_kmeans_opts o = mva_kmeans_opts_default();
    o.clusters = NB;
    mva_kmeans_result *r = NULL;
    mva_error err;
    assert_int_equal(mva_kmeans_fit(x, DIM, NPTS, NULL, &o, &r, &err), MVA_OK);
    assert_same_partition(r->labels, truth, NPTS, NB);
    assert_int_equal(r->n_labelled, NPTS);
    assert_true(r->converged);
    /* centroids are the means of their points, distances and inertia agree with them */
    double inertia = 0;
    for (size_t k = 0; k < NB; k++) {
        double mean[DIM] = {0};
        size_t cnt = 0;
        for (size_t i = 0; i < NPTS; i++)
            if (r->labels[i] == (int32_t)k) {
                cnt++;
                for (size_t d = 0; d < DIM; d++)
                    mean[d] += x[d * NPTS + i];
            }
        assert_int_equal(cnt, r->sizes[k]);
        for (size_t d = 0; d < DIM; d++)
            assert_true(fabs(mean[d] / (double)cnt - r->centroids[k * DIM + d]) < 1e-12);
    }
    for (size_t i = 0; i < NPTS; i++) {
        double d2 = 0;
        for (size_t d = 0; d < DIM; d++) {
            double t = x[d * NPTS + i] - r->centroids[(size_t)r->labels[i] * DIM + d];
            d2 += t * t;
        }
        assert_true(fabs(sqrt(d2) - r->distance[i]) < 1e-12);
        inertia += d2;
    }
    assert_true(fabs(inertia - r->inertia) < 1e-9 * inertia);
    /* numbered by decreasing size */
    for (size_t k = 1; k < NB; k++)
        assert_true(r->sizes[k - 1] >= r->sizes[k]);
    mva_kmeans_result_free(r);
    free(x);
}

static void test_kmeans_leaves_masked_and_nan_pixels_unlabelled(void **state)
{
    (void)state;
    double *x = malloc(DIM * NPTS * sizeof *x);
    int truth[NPTS];
    make_blobs(x, truth);
    unsigned char mask[NPTS] = {0};
    for (size_t i = 0; i < NPTS; i += 13) {
        mask[i] = 1;
        truth[i] = -1;
    }
    for (size_t i = 5; i < NPTS; i += 17) {
        x[2 * NPTS + i] = NAN;
        truth[i] = -1;
    }
    mva_kmeans_opts o = mva_kmeans_opts_default();
    o.clusters = NB;
    mva_kmeans_result *r = NULL;
    assert_int_equal(mva_kmeans_fit(x, DIM, NPTS, mask, &o, &r, NULL), MVA_OK);
    assert_same_partition(r->labels, truth, NPTS, NB);
    size_t lab = 0;
    for (size_t i = 0; i < NPTS; i++) {
        lab += truth[i] >= 0;
        if (truth[i] < 0)
            assert_true(isnan(r->distance[i]));
    }
    assert_int_equal(r->n_labelled, lab);
    mva_kmeans_result_free(r);
    free(x);
}

/* Overlapping clusters, so that starts differ: the same seed gives the same labels, the best
 * of several starts is no worse than any of those starts alone. */
static void test_kmeans_restarts_keep_best_and_seed_repeats(void **state)
{
    (void)state;
    enum { N = 800 };
    double *x = malloc(2 * N * sizeof *x);
    for (size_t i = 0; i < N; i++) {
        x[i] = nrand() * 3 + (double)(i % 3);
        x[N + i] = nrand() * 3;
    }
    mva_kmeans_opts o = mva_kmeans_opts_default();
    o.clusters = 6;
    o.restarts = 5;
    o.seed = 99;
    mva_kmeans_result *a = NULL, *b = NULL;
    assert_int_equal(mva_kmeans_fit(x, 2, N, NULL, &o, &a, NULL), MVA_OK);
    assert_int_equal(mva_kmeans_fit(x, 2, N, NULL, &o, &b, NULL), MVA_OK);
    assert_memory_equal(a->labels, b->labels, N * sizeof *a->labels);
    assert_memory_equal(a->centroids, b->centroids, 6 * 2 * sizeof(double));
    for (size_t t = 0; t < 5; t++) {
        mva_kmeans_opts one = o;
        one.restarts = 1;
        one.seed = o.seed + t;
        mva_kmeans_result *s = NULL;
        assert_int_equal(mva_kmeans_fit(x, 2, N, NULL, &one, &s, NULL), MVA_OK);
        assert_true(a->inertia <= s->inertia);
        if (t == a->best_restart)
            assert_memory_equal(a->labels, s->labels, N * sizeof *a->labels);
        mva_kmeans_result_free(s);
    }
    mva_kmeans_result_free(a);
    mva_kmeans_result_free(b);
    free(x);
}

static void test_kmeans_rejects_more_clusters_than_pixels(void **state)
{
    (void)state;
    double x[4] = {0, 1, 2, NAN};
    mva_kmeans_opts o = mva_kmeans_opts_default();
    o.clusters = 4;
    mva_kmeans_result *r = NULL;
    mva_error err;
    assert_int_equal(mva_kmeans_fit(x, 1, 4, NULL, &o, &r, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "4 clusters asked for 3 labelled pixels"));
    assert_null(r);
}

/* Brute-force silhouette on every point, and the sampled one is a sample of the same. */
static void test_silhouette_matches_definition_and_auto_picks_blobs(void **state)
{
    (void)state;
    double *x = malloc(DIM * NPTS * sizeof *x);
    int truth[NPTS];
    make_blobs(x, truth);
    int32_t lab[NPTS];
    for (size_t i = 0; i < NPTS; i++)
        lab[i] = truth[i];
    double total = 0;
    for (size_t i = 0; i < NPTS; i++) {
        double sum[NB] = {0};
        size_t cnt[NB] = {0};
        for (size_t j = 0; j < NPTS; j++) {
            double d2 = 0;
            for (size_t d = 0; d < DIM; d++)
                d2 += pow(x[d * NPTS + i] - x[d * NPTS + j], 2);
            sum[lab[j]] += sqrt(d2);
            cnt[lab[j]]++;
        }
        double a = sum[lab[i]] / (double)(cnt[lab[i]] - 1), b = INFINITY;
        for (int k = 0; k < NB; k++)
            if (k != lab[i])
                b = fmin(b, sum[k] / (double)cnt[k]);
        total += (b - a) / fmax(a, b);
    }
    double s = mva_kmeans_silhouette(x, DIM, NPTS, lab, 0, 1);
    assert_true(fabs(s - total / NPTS) < 1e-12);
    double sampled = mva_kmeans_silhouette(x, DIM, NPTS, lab, 200, 1);
    assert_true(fabs(sampled - s) < 0.05 && sampled != s);
    assert_true(sampled == mva_kmeans_silhouette(x, DIM, NPTS, lab, 200, 1));

    mva_kmeans_opts o = mva_kmeans_opts_default();
    double sil[7];
    mva_kmeans_auto a = {2, 8, 300, sil};
    mva_kmeans_result *r = NULL;
    assert_int_equal(mva_kmeans_fit_auto(x, DIM, NPTS, NULL, &o, &a, &r, NULL), MVA_OK);
    assert_int_equal(r->clusters, NB);
    assert_same_partition(r->labels, truth, NPTS, NB);
    for (size_t c = 2; c <= 8; c++)
        assert_true(c == NB || sil[c - 2] < sil[NB - 2]);
    mva_kmeans_result_free(r);
    mva_error err;
    a.c_min = 1;
    assert_int_equal(mva_kmeans_fit_auto(x, DIM, NPTS, NULL, &o, &a, &r, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "must start at 2"));
    free(x);
}

enum { K = 3, P = 40, NI = 500 };

/* Spectra with a simple structure (disjoint supports) hidden by a rotation: varimax finds the
 * simple structure again, up to order (signs: largest value positive). */
static void test_varimax_recovers_simple_structure(void **state)
{
    (void)state;
    double s[K * P] = {0}, c[K * P], t[K * NI];
    for (size_t q = 0; q < K; q++) {
        double norm = 0;
        for (size_t j = q * P / K; j < (q + 1) * P / K; j++)
            norm += pow(s[q * P + j] = 1.0 + 0.5 * sin((double)j), 2);
        for (size_t j = 0; j < P; j++)
            s[q * P + j] /= sqrt(norm);
    }
    /* an orthogonal mix: rotations in the (0,1) and (1,2) planes */
    double a = 0.6, b = 0.4;
    double r0[K * K] = {cos(a), -sin(a), 0, sin(a), cos(a), 0, 0, 0, 1};
    double r1[K * K] = {1, 0, 0, 0, cos(b), -sin(b), 0, sin(b), cos(b)}, m[K * K] = {0};
    for (size_t i = 0; i < K; i++)
        for (size_t j = 0; j < K; j++)
            for (size_t l = 0; l < K; l++)
                m[i * K + j] += r0[i * K + l] * r1[l * K + j];
    for (size_t i = 0; i < K; i++)
        for (size_t j = 0; j < P; j++) {
            c[i * P + j] = 0;
            for (size_t l = 0; l < K; l++)
                c[i * P + j] += m[i * K + l] * s[l * P + j];
        }
    for (size_t i = 0; i < K * NI; i++)
        t[i] = nrand();
    t[7] = NAN;
    mva_rotate_result *r = NULL;
    mva_error err;
    assert_int_equal(mva_rotate_orthomax(c, t, K, P, NI, MVA_ORTHOMAX_VARIMAX, 0, &r, &err),
                     MVA_OK);
    assert_true(r->converged);
    for (size_t q = 0; q < K; q++) { /* each rotated spectrum is one of the simple ones */
        double best = 0;
        for (size_t l = 0; l < K; l++) {
            double dot = 0;
            for (size_t j = 0; j < P; j++)
                dot += r->spectra[q * P + j] * s[l * P + j];
            best = fmax(best, dot);
        }
        assert_true(best > 1 - 1e-10);
    }
    for (size_t i = 0; i < K; i++) /* R orthogonal */
        for (size_t j = 0; j < K; j++) {
            double d = 0;
            for (size_t l = 0; l < K; l++)
                d += r->rotation[l * K + i] * r->rotation[l * K + j];
            assert_true(fabs(d - (i == j)) < 1e-12);
        }
    for (size_t i = 0; i < NI; i++) /* images: R^T T, and the reconstruction is unchanged */
        for (size_t j = 0; j < P; j += 7) {
            double x0 = 0, x1 = 0;
            for (size_t q = 0; q < K; q++) {
                x0 += t[q * NI + i] * c[q * P + j];
                x1 += r->images[q * NI + i] * r->spectra[q * P + j];
            }
            if (i == 7)
                assert_true(isnan(x1) && isnan(r->images[2 * NI + 7]));
            else
                assert_true(fabs(x0 - x1) < 1e-12);
        }
    mva_rotate_result_free(r);
    assert_int_equal(mva_rotate_orthomax(c, NULL, K + P, P, 0, 1.0, 0, &r, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "1 <= k <= p"));
}

/* Three non-Gaussian sources (uniform, sine, square wave), mixed: FastICA finds each with
 * |corr| >= 0.99, and the unmixing matrix inverts the mixing. */
static void test_fastica_recovers_independent_sources(void **state)
{
    (void)state;
    enum { N = 4000 };
    double *src = malloc(K * N * sizeof *src), *x = malloc(K * N * sizeof *x);
    double mix[K * K] = {1.0, 0.5, 0.3, 0.2, 1.0, 0.6, 0.4, 0.3, 1.0};
    for (size_t i = 0; i < N; i++) {
        src[i] = urand() * 2 - 1;
        src[N + i] = sin(0.013 * (double)i);
        src[2 * N + i] = fmod((double)i, 97.0) < 48 ? 1.0 : -1.0;
    }
    for (size_t q = 0; q < K; q++)
        for (size_t i = 0; i < N; i++) {
            x[q * N + i] = 5.0 * q;
            for (size_t l = 0; l < K; l++)
                x[q * N + i] += mix[q * K + l] * src[l * N + i];
        }
    x[N + 11] = NAN;
    mva_ica *r = NULL;
    mva_error err;
    mva_ica_opts o = mva_ica_opts_default();
    assert_int_equal(mva_ica_fit(x, K, N, NULL, &o, &r, &err), MVA_OK);
    assert_true(r->converged);
    assert_int_equal(r->n_used, N - 1);
    assert_true(isnan(r->sources[11]));
    for (size_t l = 0; l < K; l++) { /* each true source matches one found */
        double best = 0;
        for (size_t q = 0; q < K; q++) {
            double sxy = 0, sxx = 0, syy = 0, mx = 0, my = 0;
            for (size_t i = 0; i < N; i++)
                if (i != 11) {
                    mx += src[l * N + i] / (N - 1);
                    my += r->sources[q * N + i] / (N - 1);
                }
            for (size_t i = 0; i < N; i++)
                if (i != 11) {
                    double a = src[l * N + i] - mx, b = r->sources[q * N + i] - my;
                    sxy += a * b;
                    sxx += a * a;
                    syy += b * b;
                }
            best = fmax(best, fabs(sxy) / sqrt(sxx * syy));
        }
        print_message("source %zu: |corr| %.6f\n", l, best);
        assert_true(best >= 0.99);
    }
    for (size_t i = 0; i < K; i++) /* unmixing x mixing = I */
        for (size_t j = 0; j < K; j++) {
            double d = 0;
            for (size_t l = 0; l < K; l++)
                d += r->unmixing[i * K + l] * r->mixing[l * K + j];
            assert_true(fabs(d - (i == j)) < 1e-10);
        }
    /* the same start again: the same answer; a given start is recorded as given */
    mva_ica *r2 = NULL;
    o.w_init = r->w_init;
    o.seed = 5;
    assert_int_equal(mva_ica_fit(x, K, N, NULL, &o, &r2, &err), MVA_OK);
    assert_memory_equal(r->w, r2->w, K * K * sizeof(double));
    mva_ica_free(r2);
    mva_ica_free(r);
    /* rank deficient signals are refused */
    for (size_t i = 0; i < N; i++)
        x[2 * N + i] = x[i] + x[N + i];
    o.w_init = NULL;
    assert_int_equal(mva_ica_fit(x, K, N, NULL, &o, &r, &err), MVA_ENUMERIC);
    assert_non_null(strstr(err.msg, "linearly dependent"));
    free(src);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kmeans_finds_separated_blobs),
        cmocka_unit_test(test_kmeans_leaves_masked_and_nan_pixels_unlabelled),
        cmocka_unit_test(test_kmeans_restarts_keep_best_and_seed_repeats),
        cmocka_unit_test(test_kmeans_rejects_more_clusters_than_pixels),
        cmocka_unit_test(test_silhouette_matches_definition_and_auto_picks_blobs),
        cmocka_unit_test(test_varimax_recovers_simple_structure),
        cmocka_unit_test(test_fastica_recovers_independent_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
