/* Exact PCA against LAPACK on the in-memory matrix: eigenvalues, eigenvectors, scores,
 * block-size independence, Poisson scaling, masks, binning, channel ranges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mva.h"

enum { ROWS = 13, COLS = 11, N = ROWS * COLS, P = 17 };

/* Deterministic pseudo-random numbers (xorshift), so the test data never change. */
static uint64_t rng_state = 88172645463325252ull;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* A stack with three spectral components, mixed smoothly over the map, plus noise, on top of
 * an offset (large offsets are what breaks the naive X^T X - n mu mu^T). */
static void make_data(double *x, size_t n, size_t p, double offset)
{
    for (size_t i = 0; i < n; i++) {
        double a = urand(), b = urand() * 0.5, c = urand() * 0.25;
        for (size_t j = 0; j < p; j++) {
            double s1 = exp(-0.5 * pow(((double)j - 4.0) / 1.5, 2));
            double s2 = exp(-0.5 * pow(((double)j - 10.0) / 2.0, 2));
            double s3 = (double)j / (double)p;
            x[i * p + j] = offset + 100.0 * (a * s1 + b * s2 + c * s3) + urand();
        }
    }
}

/* Reference: eigenvalues (descending) and right singular vectors (p x p row-major, row q =
 * component q) of the centred n x p matrix, by LAPACKE_dgesdd. */
static void reference_pca(const double *x, size_t n, size_t p, int centred, double *evals,
                          double *vt, double *mean)
{
    double *a = malloc(n * p * sizeof *a), *s = malloc(p * sizeof *s);
    for (size_t j = 0; j < p; j++) {
        mean[j] = 0;
        for (size_t i = 0; i < n; i++)
            mean[j] += x[i * p + j];
        mean[j] /= (double)n;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++)
            a[i * p + j] = x[i * p + j] - (centred ? mean[j] : 0.0);
    double *u = malloc(n * n * sizeof *u);
    assert_int_equal(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'A', (lapack_int)n, (lapack_int)p, a,
                                    (lapack_int)p, s, u, (lapack_int)n, vt, (lapack_int)p),
                     0);
    for (size_t j = 0; j < p; j++)
        evals[j] = s[j] * s[j] / (double)(n - 1);
    free(a);
    free(s);
    free(u);
}

static mva_pca_opts exact_opts(void)
{
    mva_pca_opts o = mva_pca_opts_default();
    o.method = MVA_PCA_EXACT;
    return o;
}

static mva_pca_model *fit(const double *x, size_t rows, size_t cols, size_t p,
                          const mva_pca_opts *o, size_t block)
{
    mva_stack *s = NULL;
    mva_error err;
    assert_int_equal(mva_stack_from_memory(&s, x, rows, cols, p, &err), MVA_OK);
    mva_pass_opts po;
    memset(&po, 0, sizeof po);
    po.block_pixels = block;
    mva_pca_model *m = NULL;
    int rc = mva_pca_fit(s, o, NULL, 0, &po, &m, &err);
    if (rc != MVA_OK)
        fail_msg("mva_pca_fit: %s", err.msg);
    mva_stack_close(s);
    return m;
}

/* |cos| of the angle between model component q and reference vector v. */
static double alignment(const double *a, const double *b, size_t p)
{
    double d = 0, na = 0, nb = 0;
    for (size_t j = 0; j < p; j++) {
        d += a[j] * b[j];
        na += a[j] * a[j];
        nb += b[j] * b[j];
    }
    return fabs(d) / sqrt(na * nb);
}

static void test_exact_pca_matches_lapack_gesdd(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), ev[P], vt[P * P], mean[P];
    make_data(x, N, P, 1000.0);
    reference_pca(x, N, P, 1, ev, vt, mean);
    mva_pca_opts o = exact_opts();
    o.k = 3;
    mva_pca_model *m = fit(x, ROWS, COLS, P, &o, 0);
    assert_int_equal(m->p, P);
    assert_int_equal(m->n_valid, N);
    for (size_t j = 0; j < P; j++) {
        /* relative to each eigenvalue, and to the largest for the ones near zero */
        double tol = 1e-10 * (fabs(ev[j]) > 1e-6 * ev[0] ? fabs(ev[j]) : ev[0]);
        assert_true(fabs(m->eigenvalues[j] - ev[j]) <= tol);
    }
    for (size_t j = 0; j < P; j++)
        assert_true(fabs(m->mean[j] - mean[j]) <= 1e-12 * fabs(mean[j]));
    for (size_t q = 0; q < 3; q++)
        assert_true(alignment(m->components + q * P, vt + q * P, P) > 1.0 - 1e-12);
    /* Scores: centred data times the component. */
    for (size_t i = 0; i < N; i++) {
        double sc = 0;
        for (size_t j = 0; j < P; j++)
            sc += (x[i * P + j] - mean[j]) * m->components[j];
        assert_true(fabs(m->scores[i] - sc) <= 1e-9 * (1.0 + fabs(sc)));
    }
    double sum = 0;
    for (size_t j = 0; j < P; j++)
        sum += m->explained[j];
    assert_true(fabs(sum - 1.0) < 1e-12);
    mva_pca_model_free(m);
    free(x);
}

static void test_exact_pca_same_for_every_block_size(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x);
    make_data(x, N, P, 50.0);
    mva_pca_opts o = exact_opts();
    o.k = 4;
    mva_pca_model *ref = fit(x, ROWS, COLS, P, &o, N);
    size_t blocks[] = {1, 7, 1000};
    for (size_t b = 0; b < 3; b++) {
        mva_pca_model *m = fit(x, ROWS, COLS, P, &o, blocks[b]);
        for (size_t j = 0; j < P; j++)
            assert_true(fabs(m->eigenvalues[j] - ref->eigenvalues[j]) <=
                        1e-11 * ref->eigenvalues[0]);
        for (size_t q = 0; q < 4 * N; q++)
            assert_true(fabs(m->scores[q] - ref->scores[q]) <= 1e-9 * (1 + fabs(ref->scores[q])));
        for (size_t q = 0; q < 4 * P; q++)
            assert_true(fabs(m->components[q] - ref->components[q]) <= 1e-9);
        mva_pca_model_free(m);
    }
    mva_pca_model_free(ref);
    free(x);
}

/* Counts of ~1e9 with a spread of ~1: the naive formula would lose about all digits. */
static void test_exact_pca_keeps_precision_under_large_offset(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), ev[P], vt[P * P], mean[P];
    make_data(x, N, P, 1e9);
    reference_pca(x, N, P, 1, ev, vt, mean);
    mva_pca_opts o = exact_opts();
    o.k = 2;
    mva_pca_model *m = fit(x, ROWS, COLS, P, &o, 5);
    for (size_t j = 0; j < 3; j++)
        assert_true(fabs(m->eigenvalues[j] - ev[j]) <= 1e-7 * ev[j]);
    mva_pca_model_free(m);
    free(x);
}

/* Integer counts offset + floor(scale * make_data): what detectors write. */
static void make_counts(double *x, size_t n, size_t p, double offset, double scale)
{
    make_data(x, n, p, 0.0);
    for (size_t i = 0; i < n * p; i++)
        x[i] = offset + floor(scale * x[i]);
}

static void assert_eigenvalues_near(const mva_pca_model *m, const double *ev, size_t p,
                                    double rel)
{
    for (size_t j = 0; j < p; j++) {
        double tol = rel * (fabs(ev[j]) > 1e-6 * ev[0] ? fabs(ev[j]) : ev[0]);
        if (!(fabs(m->eigenvalues[j] - ev[j]) <= tol))
            fail_msg("eigenvalue %zu: %.17g, LAPACK %.17g", j, m->eigenvalues[j], ev[j]);
    }
}

/* Integer counts take the exact single-precision path (and say so): the same answer as
 * LAPACK for every block size, and under an offset of 1e9 counts (where the double path
 * keeps 1e-7) to 1e-10, because the shifted counts are summed without rounding. */
static void test_exact_integer_counts_match_lapack_gesdd(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), *y = malloc(N * P * sizeof *y);
    double ev[P], vt[P * P], mean[P];
    make_counts(x, N, P, 0.0, 1.0);
    reference_pca(x, N, P, 1, ev, vt, mean);
    mva_pca_opts o = exact_opts();
    o.k = 3;
    size_t blocks[] = {0, 1, 7, N};
    for (size_t b = 0; b < 4; b++) {
        mva_pca_model *m = fit(x, ROWS, COLS, P, &o, blocks[b]);
        assert_int_equal(m->n_exact, N);
        assert_eigenvalues_near(m, ev, P, 1e-10);
        for (size_t j = 0; j < P; j++)
            assert_true(fabs(m->mean[j] - mean[j]) <= 1e-13 * fabs(mean[j]));
        for (size_t q = 0; q < 3; q++)
            assert_true(alignment(m->components + q * P, vt + q * P, P) > 1.0 - 1e-12);
        mva_pca_model_free(m);
    }
    for (size_t i = 0; i < N * P; i++) /* the reference on the unshifted counts */
        y[i] = x[i] + 1e9;
    mva_pca_model *m = fit(y, ROWS, COLS, P, &o, 5);
    assert_int_equal(m->n_exact, N);
    assert_eigenvalues_near(m, ev, P, 1e-10);
    mva_pca_model_free(m);
    free(x);
    free(y);
}

/* Counts in the thousands fill the float Gram after a few pixels (flushes to double all
 * along); a pixel 10^7 above the others (beyond the 2^22 the exact Gram takes) and two with
 * fractions cannot be summed exactly and take the double path: the merge of both is still LAPACK's answer. */
static void test_exact_integer_path_flushes_and_falls_back(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), ev[P], vt[P * P], mean[P];
    make_counts(x, N, P, 0.0, 30.0);
    x[3 * P + 5] += 1e7;
    x[40 * P + 2] += 0.5;
    x[100 * P + 16] += 0.25;
    reference_pca(x, N, P, 1, ev, vt, mean);
    mva_pca_opts o = exact_opts();
    o.k = 3;
    size_t blocks[] = {0, 1, 7};
    for (size_t b = 0; b < 3; b++) {
        mva_pca_model *m = fit(x, ROWS, COLS, P, &o, blocks[b]);
        assert_int_equal(m->n_exact, N - 3);
        assert_eigenvalues_near(m, ev, P, 1e-10);
        for (size_t q = 0; q < 3; q++)
            assert_true(alignment(m->components + q * P, vt + q * P, P) > 1.0 - 1e-12);
        mva_pca_model_free(m);
    }
    free(x);
}

/* Constant channels (zero variance: a detector's dead channels) are left out of the
 * eigen-decomposition: they get eigenvalues exactly 0 and no weight in any component; the
 * rest is LAPACK's answer on the whole matrix. */
static void test_dead_channels_are_deflated(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), ev[P], vt[P * P], mean[P];
    make_counts(x, N, P, 0.0, 1.0);
    for (size_t i = 0; i < N; i++) {
        x[i * P + 0] = 0.0;
        x[i * P + 9] = 7.0;
    }
    reference_pca(x, N, P, 1, ev, vt, mean);
    mva_pca_opts o = exact_opts();
    o.k = 4;
    mva_pca_model *m = fit(x, ROWS, COLS, P, &o, 0);
    assert_eigenvalues_near(m, ev, P, 1e-10);
    assert_true(m->eigenvalues[P - 1] == 0.0 && m->eigenvalues[P - 2] == 0.0);
    for (size_t j = 1; j < P; j++)
        assert_true(m->eigenvalues[j] <= m->eigenvalues[j - 1]);
    for (size_t q = 0; q < 4; q++) {
        assert_true(m->components[q * P + 0] == 0.0 && m->components[q * P + 9] == 0.0);
        assert_true(alignment(m->components + q * P, vt + q * P, P) > 1.0 - 1e-12);
    }
    mva_pca_model_free(m);
    free(x);
}

static void test_sign_convention_largest_entry_positive(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x);
    make_data(x, N, P, 10.0);
    mva_pca_opts o = exact_opts();
    o.k = 5;
    mva_pca_model *m = fit(x, ROWS, COLS, P, &o, 0);
    for (size_t q = 0; q < 5; q++) {
        double big = 0;
        for (size_t j = 0; j < P; j++)
            if (fabs(m->components[q * P + j]) > fabs(big))
                big = m->components[q * P + j];
        assert_true(big > 0);
        if (q)
            assert_true(m->eigenvalues[q] <= m->eigenvalues[q - 1]);
    }
    mva_pca_model_free(m);
    free(x);
}

static void test_uncentred_scores_project_raw_data(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x);
    make_data(x, N, P, 10.0);
    mva_pca_opts o = exact_opts();
    o.k = 2;
    o.uncentred = 1;
    mva_pca_model *m = fit(x, ROWS, COLS, P, &o, 0);
    for (size_t q = 0; q < 2; q++)
        for (size_t i = 0; i < N; i++) {
            double sc = 0;
            for (size_t j = 0; j < P; j++)
                sc += x[i * P + j] * m->components[q * P + j];
            assert_true(fabs(m->scores[q * N + i] - sc) <= 1e-9 * (1 + fabs(sc)));
        }
    mva_pca_model_free(m);
    free(x);
}

static void test_nan_pixels_are_masked_and_left_out(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), *y = malloc(N * P * sizeof *y);
    double ev[P], vt[P * P], mean[P];
    make_data(x, N, P, 10.0);
    /* Pixel 5 gets a NaN, pixel 77 an Inf; the reference is the matrix without them. */
    size_t ny = 0;
    for (size_t i = 0; i < N; i++) {
        if (i == 5 || i == 77)
            continue;
        memcpy(y + ny * P, x + i * P, P * sizeof *y);
        ny++;
    }
    x[5 * P + 3] = NAN;
    x[77 * P + 16] = INFINITY;
    reference_pca(y, ny, P, 1, ev, vt, mean);
    mva_pca_opts o = exact_opts();
    o.k = 2;
    mva_pca_model *m = fit(x, ROWS, COLS, P, &o, 10);
    assert_int_equal(m->n_valid, N - 2);
    for (size_t j = 0; j < 3; j++)
        assert_true(fabs(m->eigenvalues[j] - ev[j]) <= 1e-10 * ev[j]);
    assert_int_equal(m->mask[5], 1);
    assert_int_equal(m->mask[77], 1);
    assert_int_equal(m->mask[6], 0);
    assert_true(isnan(m->scores[5]) && isnan(m->scores[N + 77]));
    assert_true(isfinite(m->scores[6]));
    mva_pca_model_free(m);
    free(x);
    free(y);
}

/* Reference for Poisson scaling: weight the matrix in memory exactly as Keenan & Kotula. */
static void test_poisson_scaling_matches_weighted_matrix(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), *y = malloc(N * P * sizeof *y);
    double ev[P], vt[P * P], mean[P], ct[P] = {0}, cw[P], pw[N];
    make_data(x, N, P, 5.0);
    for (size_t i = 0; i < N; i++) /* a dead channel and a dead pixel */
        x[i * P + 2] = 0.0;
    for (size_t j = 0; j < P; j++)
        x[9 * P + j] = 0.0;
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++)
            ct[j] += x[i * P + j];
    for (size_t j = 0; j < P; j++)
        cw[j] = ct[j] > 0 ? 1 / sqrt(ct[j]) : 0;
    for (size_t i = 0; i < N; i++) {
        double t = 0;
        for (size_t j = 0; j < P; j++)
            t += x[i * P + j];
        pw[i] = t > 0 ? 1 / sqrt(t) : 0;
        for (size_t j = 0; j < P; j++)
            y[i * P + j] = x[i * P + j] * pw[i] * cw[j];
    }
    reference_pca(y, N, P, 1, ev, vt, mean);
    mva_pca_opts o = exact_opts();
    o.k = 3;
    o.poisson = 1;
    mva_pca_model *m = fit(x, ROWS, COLS, P, &o, 6);
    for (size_t j = 0; j < 4; j++)
        assert_true(fabs(m->eigenvalues[j] - ev[j]) <= 1e-10 * ev[0]);
    for (size_t q = 0; q < 3; q++) {
        /* Un-weighted eigenspectrum = weighted one / channel weight (0 on the dead channel). */
        double wv[P];
        for (size_t j = 0; j < P; j++)
            wv[j] = m->components[q * P + j] * cw[j];
        assert_true(alignment(wv, vt + q * P, P) > 1 - 1e-10);
        assert_true(m->components[q * P + 2] == 0.0);
        for (size_t i = 0; i < N; i++)
            assert_true(isfinite(m->scores[q * N + i]));
        assert_true(m->scores[q * N + 9] == 0.0);
    }
    mva_pca_model_free(m);
    free(x);
    free(y);
}

static void test_binning_and_channel_range_match_reduced_matrix(void **state)
{
    (void)state;
    const size_t b = 3, c0 = 2, c1 = 16, pv = (c1 - c0) / b; /* 4 variables */
    double *x = malloc(N * P * sizeof *x), *y = malloc(N * pv * sizeof *y);
    double ev[4], vt[16], mean[4];
    make_data(x, N, P, 5.0);
    for (size_t i = 0; i < N; i++)
        for (size_t v = 0; v < pv; v++) {
            y[i * pv + v] = 0;
            for (size_t c = c0 + v * b; c < c0 + (v + 1) * b; c++)
                y[i * pv + v] += x[i * P + c];
        }
    reference_pca(y, N, pv, 1, ev, vt, mean);
    mva_pca_opts o = exact_opts();
    o.k = 2;
    o.bin = b;
    o.ch_begin = c0;
    o.ch_end = c1;
    mva_pca_model *m = fit(x, ROWS, COLS, P, &o, 0);
    assert_int_equal(m->p, pv);
    assert_int_equal(m->var_ch0[1], c0 + b);
    for (size_t j = 0; j < pv; j++)
        assert_true(fabs(m->eigenvalues[j] - ev[j]) <= 1e-10 * ev[0]);
    mva_pca_model_free(m);
    free(x);
    free(y);
}

static void test_rejects_more_components_than_variables(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x);
    make_data(x, N, P, 1.0);
    mva_stack *s = NULL;
    mva_error err;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    mva_pca_opts o = exact_opts();
    o.k = 18;
    mva_pca_model *m = NULL;
    assert_int_equal(mva_pca_fit(s, &o, NULL, 0, NULL, &m, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "18 components asked, but only 17 variables"));
    assert_null(m);
    o.k = 2;
    o.ch_begin = 10;
    o.ch_end = 30;
    assert_int_equal(mva_pca_fit(s, &o, NULL, 0, NULL, &m, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "30"));
    mva_stack_close(s);
    free(x);
}

/* ---- randomized method against the exact one ---- */

enum { RR = 20, RC = 21, RN = RR * RC, RP = 60 };

/* Largest sine of the principal angles between the spans of the k rows of a and of b
 * (p values each, orthonormal rows), from the singular values of a b^T. */
static double subspace_sine(const double *a, const double *b, size_t k, size_t p)
{
    double *g = malloc(k * k * sizeof *g), *sv = malloc(k * sizeof *sv);
    double *u = malloc(k * k * sizeof *u), *vt = malloc(k * k * sizeof *vt);
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < k; j++) {
            g[i * k + j] = 0;
            for (size_t c = 0; c < p; c++)
                g[i * k + j] += a[i * p + c] * b[j * p + c];
        }
    assert_int_equal(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'A', (lapack_int)k, (lapack_int)k, g,
                                    (lapack_int)k, sv, u, (lapack_int)k, vt, (lapack_int)k),
                     0);
    double smin = sv[k - 1] > 1 ? 1 : sv[k - 1];
    free(g);
    free(sv);
    free(u);
    free(vt);
    return sqrt(1 - smin * smin);
}

static mva_pca_opts randomized_opts(size_t k, size_t passes)
{
    mva_pca_opts o = mva_pca_opts_default();
    o.method = MVA_PCA_RANDOMIZED;
    o.k = k;
    o.max_passes = passes;
    o.tol = 0; /* run every pass */
    return o;
}

static void test_randomized_matches_exact_with_spectral_gap(void **state)
{
    (void)state;
    double *x = malloc(RN * RP * sizeof *x);
    make_data(x, RN, RP, 200.0);
    mva_pca_opts e = exact_opts();
    e.k = 3;
    mva_pca_model *ref = fit(x, RR, RC, RP, &e, 0);
    mva_pca_opts o = randomized_opts(3, 6);
    mva_pca_model *m = fit(x, RR, RC, RP, &o, 37);
    assert_int_equal(m->method, MVA_PCA_RANDOMIZED);
    assert_int_equal(m->passes, 7); /* 6 range-finder passes + the scores pass */
    assert_true(subspace_sine(m->components, ref->components, 3, RP) <= 1e-4);
    for (size_t j = 0; j < 3; j++)
        assert_true(fabs(m->eigenvalues[j] - ref->eigenvalues[j]) <= 1e-6 * ref->eigenvalues[j]);
    assert_true(fabs(m->total_variance - ref->total_variance) <= 1e-10 * ref->total_variance);
    for (size_t q = 0; q < 3 * RN; q++) /* same sign convention, same eigenimages */
        assert_true(fabs(m->scores[q] - ref->scores[q]) <= 1e-3 * (1 + fabs(ref->scores[q])));
    assert_int_equal(m->n_eigenvalues, 13);
    assert_true(isnan(m->eigenvalues[13]));
    mva_pca_model_free(m);
    mva_pca_model_free(ref);
    free(x);
}

/* On data without a gap the subspace is ill-defined; what must hold is the reconstruction:
 * ||C - C V V^T||_F^2 = trace - sum_q v_q^T Cov v_q within 0.3% of the optimum
 * sum_{j>k} lambda_j (Halko et al. 2011, Thm 10.8 bounds it). */
static void test_randomized_reconstruction_near_optimal_without_gap(void **state)
{
    (void)state;
    double *x = malloc(RN * RP * sizeof *x), *cov = calloc(RP * RP, sizeof *cov);
    double mean[RP] = {0};
    for (size_t i = 0; i < RN * RP; i++)
        x[i] = 10.0 + urand() * (1.0 + (double)(i % RP) / RP);
    for (size_t i = 0; i < RN; i++)
        for (size_t j = 0; j < RP; j++)
            mean[j] += x[i * RP + j] / RN;
    for (size_t i = 0; i < RN; i++)
        for (size_t a = 0; a < RP; a++)
            for (size_t b = 0; b < RP; b++)
                cov[a * RP + b] += (x[i * RP + a] - mean[a]) * (x[i * RP + b] - mean[b]) / (RN - 1);
    mva_pca_opts e = exact_opts();
    e.k = 5;
    mva_pca_model *ref = fit(x, RR, RC, RP, &e, 0);
    mva_pca_opts o = randomized_opts(5, 6);
    mva_pca_model *m = fit(x, RR, RC, RP, &o, 0);
    double optimal = 0, captured = 0;
    for (size_t j = 5; j < RP; j++)
        optimal += ref->eigenvalues[j];
    for (size_t q = 0; q < 5; q++) {
        const double *v = m->components + q * RP;
        for (size_t a = 0; a < RP; a++)
            for (size_t b = 0; b < RP; b++)
                captured += v[a] * cov[a * RP + b] * v[b];
    }
    double got = ref->total_variance - captured;
    assert_true(got >= optimal * (1 - 1e-9));
    assert_true(got <= 1.003 * optimal);
    mva_pca_model_free(m);
    mva_pca_model_free(ref);
    free(x);
    free(cov);
}

static void test_randomized_is_reproducible_and_block_independent(void **state)
{
    (void)state;
    double *x = malloc(RN * RP * sizeof *x);
    make_data(x, RN, RP, 20.0);
    mva_pca_opts o = randomized_opts(3, 5);
    mva_pca_model *a = fit(x, RR, RC, RP, &o, 0);
    mva_pca_model *b = fit(x, RR, RC, RP, &o, 0);
    mva_pca_model *c = fit(x, RR, RC, RP, &o, 1);
    assert_memory_equal(a->components, b->components, 3 * RP * sizeof(double));
    assert_true(a->seed == MVA_PCA_DEFAULT_SEED);
    /* 1e-7: sqrt(1 - s^2) cannot resolve smaller sines */
    assert_true(subspace_sine(a->components, c->components, 3, RP) <= 1e-7);
    o.seed = 7;
    mva_pca_model *d = fit(x, RR, RC, RP, &o, 0);
    assert_true(subspace_sine(a->components, d->components, 3, RP) <= 1e-4);
    mva_pca_model_free(a);
    mva_pca_model_free(b);
    mva_pca_model_free(c);
    mva_pca_model_free(d);
    free(x);
}

static void test_randomized_poisson_and_binning_match_exact(void **state)
{
    (void)state;
    double *x = malloc(RN * RP * sizeof *x);
    make_data(x, RN, RP, 30.0);
    for (size_t i = 0; i < RN; i++) /* a dead channel */
        x[i * RP + 7] = 0;
    mva_pca_opts e = exact_opts();
    e.k = 3;
    e.poisson = 1;
    e.bin = 2;
    e.ch_begin = 2;
    mva_pca_model *ref = fit(x, RR, RC, RP, &e, 0);
    mva_pca_opts o = randomized_opts(3, 8);
    o.poisson = 1;
    o.bin = 2;
    o.ch_begin = 2;
    mva_pca_model *m = fit(x, RR, RC, RP, &o, 50);
    double *wr = malloc(3 * ref->p * sizeof *wr), *wm = malloc(3 * ref->p * sizeof *wm);
    for (size_t q = 0; q < 3; q++) /* compare in the scaled space, where they are orthonormal */
        for (size_t j = 0; j < ref->p; j++) {
            wr[q * ref->p + j] = ref->components[q * ref->p + j] * ref->var_weight[j];
            wm[q * ref->p + j] = m->components[q * ref->p + j] * m->var_weight[j];
        }
    assert_true(subspace_sine(wm, wr, 3, ref->p) <= 1e-4);
    for (size_t j = 0; j < 3; j++)
        assert_true(fabs(m->eigenvalues[j] - ref->eigenvalues[j]) <= 1e-6 * ref->eigenvalues[j]);
    free(wr);
    free(wm);
    mva_pca_model_free(m);
    mva_pca_model_free(ref);
    free(x);
}

/* The in-place path (plain channel range): Poisson weights, a range not starting at 0 and
 * NaN pixels that cut the runs of valid rows. */
static void test_randomized_in_place_path_matches_exact(void **state)
{
    (void)state;
    double *x = malloc(RN * RP * sizeof *x);
    make_data(x, RN, RP, 30.0);
    x[17 * RP + 4] = NAN;
    x[200 * RP + 40] = INFINITY;
    mva_pca_opts e = exact_opts();
    e.k = 3;
    e.poisson = 1;
    e.ch_begin = 3;
    e.ch_end = 55;
    mva_pca_model *ref = fit(x, RR, RC, RP, &e, 0);
    mva_pca_opts o = randomized_opts(3, 8);
    o.poisson = 1;
    o.ch_begin = 3;
    o.ch_end = 55;
    mva_pca_model *m = fit(x, RR, RC, RP, &o, 100);
    assert_int_equal(m->n_valid, RN - 2);
    for (size_t j = 0; j < 3; j++)
        assert_true(fabs(m->eigenvalues[j] - ref->eigenvalues[j]) <= 1e-6 * ref->eigenvalues[j]);
    assert_true(fabs(m->total_variance - ref->total_variance) <= 1e-10 * ref->total_variance);
    for (size_t q = 0; q < 3 * RN; q++) {
        if (isnan(ref->scores[q])) {
            assert_true(isnan(m->scores[q]));
            continue;
        }
        assert_true(fabs(m->scores[q] - ref->scores[q]) <= 1e-4 * (1 + fabs(ref->scores[q])));
    }
    mva_pca_model_free(m);
    mva_pca_model_free(ref);
    free(x);
}

static void test_randomized_stops_when_ritz_values_settle(void **state)
{
    (void)state;
    double *x = malloc(RN * RP * sizeof *x);
    make_data(x, RN, RP, 5.0);
    mva_pca_opts o = randomized_opts(2, 20);
    o.tol = 1e-10;
    mva_pca_model *m = fit(x, RR, RC, RP, &o, 0);
    assert_true(m->passes < 21);
    assert_true(m->final_change <= 1e-10);
    mva_pca_model_free(m);
    free(x);
}

/* Converged or not is said, with the change: settled with tol reached, unsettled with 2
 * passes; a converged run's eigenvalues above the noise are within 1e-6 of LAPACK's. */
static void test_randomized_says_whether_it_converged(void **state)
{
    (void)state;
    double *x = malloc(RN * RP * sizeof *x), ev[RP], vt[RP * RP], mean[RP];
    make_data(x, RN, RP, 5.0);
    reference_pca(x, RN, RP, 1, ev, vt, mean);
    mva_pca_opts o = randomized_opts(3, 40);
    o.tol = 1e-8;
    mva_pca_model *m = fit(x, RR, RC, RP, &o, 0);
    assert_int_equal(m->converged, 1);
    assert_true(m->final_change <= 1e-8);
    for (size_t j = 0; j < 3; j++) /* the three components; the rest is noise */
        assert_true(fabs(m->eigenvalues[j] - ev[j]) <= 1e-6 * ev[j]);
    mva_pca_model_free(m);
    o.max_passes = 2;
    m = fit(x, RR, RC, RP, &o, 0);
    assert_int_equal(m->converged, 0);
    assert_true(m->final_change > 1e-8);
    assert_int_equal(m->auto_passes, 0);
    mva_pca_model_free(m);
    free(x);
}

/* Block Krylov: with 7 of its 10 components in the noise (near-degenerate eigenvalues, where
 * plain subspace iteration was still moving by 1e-4 after 8 passes), the default options
 * converge to 1e-8 and every one of the 10 eigenvalues is LAPACK's to 1e-6, relative; on 60
 * variables the basis (13 vectors a block) fills after 4 blocks and restarts from its Ritz
 * vectors, still converging; on 30 pixels (rank 29 < the 52 vectors of 4 blocks) the Krylov
 * space runs out and is topped up with random directions, and the answer is LAPACK's. */
static void test_randomized_krylov_converges_restarts_and_runs_out(void **state)
{
    (void)state;
    double *x = malloc(RN * RP * sizeof *x), ev[RP], vt[RP * RP], mean[RP];
    make_data(x, RN, RP, 5.0);
    reference_pca(x, RN, RP, 1, ev, vt, mean);
    mva_pca_opts o = mva_pca_opts_default();
    o.method = MVA_PCA_RANDOMIZED;
    o.k = 10;
    mva_pca_model *m = fit(x, RR, RC, RP, &o, 0);
    assert_int_equal(m->converged, 1);
    assert_true(m->final_error <= 1e-8);
    for (size_t j = 0; j < 10; j++) /* the estimate holds: every eigenvalue within it */
        assert_true(fabs(m->eigenvalues[j] - ev[j]) <= fmax(m->final_error, 1e-12) * ev[j]);
    mva_pca_model_free(m);
    o.max_passes = 14; /* past 4 blocks: restarts (twice) */
    o.tol = 0;
    m = fit(x, RR, RC, RP, &o, 0);
    assert_int_equal(m->passes, 15);
    for (size_t j = 0; j < 10; j++)
        assert_true(fabs(m->eigenvalues[j] - ev[j]) <= 1e-9 * ev[j]);
    assert_true(subspace_sine(m->components, vt, 3, RP) <= 1e-6); /* the sine's own floor: sqrt(eps) */
    mva_pca_model_free(m);
    enum { SR = 5, SC = 6, SN = SR * SC };
    double ev2[RP], vt2[RP * RP];
    reference_pca(x, SN, RP, 1, ev2, vt2, mean);
    o = randomized_opts(3, 8);
    m = fit(x, SR, SC, RP, &o, 0);
    for (size_t j = 0; j < 13; j++)
        assert_true(fabs(m->eigenvalues[j] - ev2[j]) <= 1e-9 * ev2[0]);
    assert_true(subspace_sine(m->components, vt2, 3, RP) <= 1e-6);
    for (size_t a = 0; a < 3; a++) /* orthonormal components */
        for (size_t b = 0; b < 3; b++) {
            double d = 0;
            for (size_t j = 0; j < RP; j++)
                d += m->components[a * RP + j] * m->components[b * RP + j];
            assert_true(fabs(d - (a == b)) <= 1e-10);
        }
    mva_pca_model_free(m);
    free(x);
}

/* AUTO never hands back an unconverged randomized result: on 64 pixels of 2400 channels it
 * picks randomized (its cost model: LAPACK on 2400^2 is dear), which cannot settle 3 noise
 * components in 3 passes; it falls back to exact, LAPACK's answer to 1e-10, and says so. */
static void test_auto_falls_back_to_exact_when_randomized_does_not_converge(void **state)
{
    (void)state;
    enum { FR = 8, FC = 8, FN = FR * FC, FP = 2400 };
    double *x = malloc((size_t)FN * FP * sizeof *x), *vt = malloc((size_t)FP * FP * sizeof *vt);
    double *ev = malloc(FP * sizeof *ev), *mean = malloc(FP * sizeof *mean);
    for (size_t i = 0; i < (size_t)FN * FP; i++)
        x[i] = 10.0 + urand();
    reference_pca(x, FN, FP, 1, ev, vt, mean);
    mva_stack_info info;
    memset(&info, 0, sizeof info);
    info.dtype = MVA_DTYPE_FLOAT64, info.rows = FR, info.cols = FC, info.channels = FP;
    mva_pca_opts o = mva_pca_opts_default();
    o.k = 3;
    o.max_passes = 3;
    assert_int_equal(mva_pca_choose_method(&info, &o), MVA_PCA_RANDOMIZED);
    mva_pca_model *m = fit(x, FR, FC, FP, &o, 0);
    assert_int_equal(m->method, MVA_PCA_EXACT);
    assert_int_equal(m->converged, 1);
    assert_int_equal(m->auto_passes, 3);
    assert_true(m->auto_change > o.tol);
    assert_int_equal(m->passes, 3 + 2); /* randomized's, then the covariance and scores */
    for (size_t j = 0; j < 3; j++)
        assert_true(fabs(m->eigenvalues[j] - ev[j]) <= 1e-10 * ev[0]);
    mva_pca_model_free(m);
    free(x);
    free(vt);
    free(ev);
    free(mean);
}

static void test_k_rules_choose_and_explain(void **state)
{
    (void)state;
    double *x = malloc(RN * RP * sizeof *x);
    make_data(x, RN, RP, 200.0);
    for (int method = MVA_PCA_EXACT; method <= MVA_PCA_RANDOMIZED; method++) {
        mva_pca_opts o = mva_pca_opts_default();
        o.method = method;
        o.k = 12;
        o.k_rule = MVA_PCA_K_VARIANCE;
        o.k_variance = 0.9;
        mva_pca_model *m = fit(x, RR, RC, RP, &o, 0);
        double cum = 0;
        for (size_t q = 0; q < m->k; q++)
            cum += m->explained[q];
        assert_true(cum >= 0.9 && cum - m->explained[m->k - 1] < 0.9);
        assert_non_null(strstr(m->k_reason, "of the variance explained"));
        assert_true(isfinite(m->scores[(m->k - 1) * RN]));
        mva_pca_model_free(m);
        o.k_rule = MVA_PCA_K_ELBOW; /* three strong components over noise: the bend is at 4 */
        m = fit(x, RR, RC, RP, &o, 0);
        assert_int_equal(m->k, 3);
        mva_pca_model_free(m);
    }
    mva_stack *s = NULL;
    mva_error err;
    assert_int_equal(mva_stack_from_memory(&s, x, RR, RC, RP, &err), MVA_OK);
    mva_pca_opts o = mva_pca_opts_default();
    o.k_rule = MVA_PCA_K_NOISE;
    mva_pca_model *m = NULL;
    assert_int_equal(mva_pca_fit(s, &o, NULL, 0, NULL, &m, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "needs Poisson scaling"));
    o.k_rule = MVA_PCA_K_VARIANCE;
    o.k_variance = 1.5;
    assert_int_equal(mva_pca_fit(s, &o, NULL, 0, NULL, &m, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "between 0 and 1"));
    mva_stack_close(s);
    free(x);
}

static void test_auto_picks_exact_for_small_and_randomized_for_large_maps(void **state)
{
    (void)state;
    mva_stack_info info;
    memset(&info, 0, sizeof info);
    info.dtype = MVA_DTYPE_UINT32;
    mva_pca_opts o = mva_pca_opts_default();
    info.rows = 101, info.cols = 200, info.channels = 2000;
    info.stored_bytes = 12000000; /* gzip */
    assert_int_equal(mva_pca_choose_method(&info, &o), MVA_PCA_EXACT);
    info.rows = 400, info.cols = 640, info.channels = 2048, info.stored_bytes = 0;
    assert_int_equal(mva_pca_choose_method(&info, &o), MVA_PCA_EXACT); /* measured: a tie */
    info.rows = 1000, info.cols = 1000, info.channels = 4096;
    assert_int_equal(mva_pca_choose_method(&info, &o), MVA_PCA_EXACT); /* counts: a tie */
    info.dtype = MVA_DTYPE_FLOAT32; /* no exact single-precision Gram for floats */
    assert_int_equal(mva_pca_choose_method(&info, &o), MVA_PCA_RANDOMIZED);
    info.dtype = MVA_DTYPE_UINT16;
    o.poisson = 1; /* nor for Poisson-weighted counts */
    assert_int_equal(mva_pca_choose_method(&info, &o), MVA_PCA_RANDOMIZED);
    o.poisson = 0;
    info.channels = 8192;
    assert_int_equal(mva_pca_choose_method(&info, &o), MVA_PCA_RANDOMIZED);
    o.k = 2; /* fewer components, smaller basis: still randomized */
    assert_int_equal(mva_pca_choose_method(&info, &o), MVA_PCA_RANDOMIZED);
    o.k = 10;
    info.channels = 16; /* l = k + 10 >= p: nothing to gain */
    assert_int_equal(mva_pca_choose_method(&info, &o), MVA_PCA_EXACT);
    info.channels = 2000; /* small maps, 99 to 560 pixels: exact is cheap there */
    info.dtype = MVA_DTYPE_UINT32;
    info.rows = 11, info.cols = 9;
    assert_int_equal(mva_pca_choose_method(&info, &o), MVA_PCA_EXACT);
    info.rows = 20, info.cols = 28;
    assert_int_equal(mva_pca_choose_method(&info, &o), MVA_PCA_EXACT);
    info.dtype = MVA_DTYPE_FLOAT32;
    assert_int_equal(mva_pca_choose_method(&info, &o), MVA_PCA_EXACT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_pca_matches_lapack_gesdd),
        cmocka_unit_test(test_exact_pca_same_for_every_block_size),
        cmocka_unit_test(test_exact_pca_keeps_precision_under_large_offset),
        cmocka_unit_test(test_exact_integer_counts_match_lapack_gesdd),
        cmocka_unit_test(test_exact_integer_path_flushes_and_falls_back),
        cmocka_unit_test(test_dead_channels_are_deflated),
        cmocka_unit_test(test_sign_convention_largest_entry_positive),
        cmocka_unit_test(test_uncentred_scores_project_raw_data),
        cmocka_unit_test(test_nan_pixels_are_masked_and_left_out),
        cmocka_unit_test(test_poisson_scaling_matches_weighted_matrix),
        cmocka_unit_test(test_binning_and_channel_range_match_reduced_matrix),
        cmocka_unit_test(test_rejects_more_components_than_variables),
        cmocka_unit_test(test_randomized_matches_exact_with_spectral_gap),
        cmocka_unit_test(test_randomized_says_whether_it_converged),
        cmocka_unit_test(test_randomized_krylov_converges_restarts_and_runs_out),
        cmocka_unit_test(test_auto_falls_back_to_exact_when_randomized_does_not_converge),
        cmocka_unit_test(test_randomized_reconstruction_near_optimal_without_gap),
        cmocka_unit_test(test_randomized_is_reproducible_and_block_independent),
        cmocka_unit_test(test_randomized_poisson_and_binning_match_exact),
        cmocka_unit_test(test_randomized_in_place_path_matches_exact),
        cmocka_unit_test(test_randomized_stops_when_ritz_values_settle),
        cmocka_unit_test(test_k_rules_choose_and_explain),
        cmocka_unit_test(test_auto_picks_exact_for_small_and_randomized_for_large_maps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
