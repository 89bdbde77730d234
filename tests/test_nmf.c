/* NMF: non-negativity, monotone objectives, block-size independence against an in-memory
 * HALS, exact recovery of known factors, determinism, results read back, bad options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mva.h"
#include "mva/nmf.h"
#include "util/tmpdir.h"

enum { ROWS = 11, COLS = 13, N = ROWS * COLS, P = 40, K = 3 };

static uint64_t rng_state = 88172645463325252ull;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Three Gaussian peaks over a flat background, as an XRF map of three phases. */
static void true_spectra(double *h)
{
    const double centre[K] = {8.0, 20.0, 31.0}, width[K] = {2.0, 3.0, 2.5};
    for (size_t q = 0; q < K; q++)
        for (size_t j = 0; j < P; j++)
            h[q * P + j] = exp(-0.5 * pow(((double)j - centre[q]) / width[q], 2)) +
                           (q == 2 ? 0.02 : 0.0);
}

/* Noiseless X = A S with a few pure pixels per phase (which makes the factorisation unique),
 * or the same plus uniform noise. */
static void make_data(double *x, double *a, double noise)
{
    double h[K * P];
    true_spectra(h);
    for (size_t i = 0; i < N; i++)
        for (size_t q = 0; q < K; q++)
            a[i * K + q] = (i % 17 < K) ? (i % 17 == q ? 50.0 : 0.0) : 50.0 * urand();
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++) {
            double v = 0;
            for (size_t q = 0; q < K; q++)
                v += a[i * K + q] * h[q * P + j];
            x[i * P + j] = v + noise * urand();
        }
}

static mva_nmf_model *fit(const double *x, const mva_nmf_opts *o, size_t block, int *rc_out,
                          mva_error *err)
{
    mva_stack *s = NULL;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, err), MVA_OK);
    mva_pass_opts po;
    memset(&po, 0, sizeof po);
    po.block_pixels = block;
    mva_nmf_model *m = NULL;
    int rc = mva_nmf_fit(s, o, &po, &m, err);
    mva_stack_close(s);
    if (rc_out != NULL)
        *rc_out = rc;
    else if (rc != MVA_OK)
        fail_msg("mva_nmf_fit: %s", err->msg);
    return m;
}

static mva_nmf_model *fit_ok(const double *x, const mva_nmf_opts *o, size_t block)
{
    mva_error err;
    return fit(x, o, block, NULL, &err);
}

static void test_nmf_factors_are_nonnegative_and_spectra_sum_to_one(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), a[N * K];
    make_data(x, a, 1.0);
    const int methods[3] = {MVA_NMF_HALS, MVA_NMF_MU, MVA_NMF_KL};
    for (int t = 0; t < 4; t++) {
        mva_nmf_opts o = mva_nmf_opts_default();
        o.k = K;
        o.max_iter = 30;
        o.method = methods[t % 3];
        o.poisson = t == 3;
        mva_nmf_model *m = fit_ok(x, &o, 0);
        assert_int_equal(m->k, K);
        assert_true(m->iterations >= 1 && m->iterations <= 30);
        for (size_t e = 0; e < K * N; e++)
            assert_true(m->abundances[e] >= 0.0);
        double shares = 0;
        for (size_t q = 0; q < K; q++) {
            double s = 0;
            for (size_t j = 0; j < P; j++) {
                assert_true(m->spectra[q * P + j] >= 0.0);
                s += m->spectra[q * P + j];
            }
            assert_true(fabs(s - 1.0) < 1e-12);
            shares += m->share[q];
            if (q > 0)
                assert_true(m->share[q] <= m->share[q - 1]);
        }
        assert_true(fabs(shares - 1.0) < 1e-12);
        mva_nmf_model_free(m);
    }
    free(x);
}

static void check_monotone(int method, int init)
{
    double *x = malloc(N * P * sizeof *x), a[N * K];
    make_data(x, a, 5.0);
    mva_nmf_opts o = mva_nmf_opts_default();
    o.k = 4;
    o.method = method;
    o.init = init;
    o.tol = 0.0;
    o.max_iter = 60;
    mva_nmf_model *m = fit_ok(x, &o, 7);
    assert_int_equal(m->iterations, 60);
    assert_false(m->converged);
    for (size_t t = 1; t < m->iterations; t++)
        if (m->history[t] > m->history[t - 1] * (1.0 + 1e-12))
            fail_msg("%s: objective rose at pass %zu: %.17g -> %.17g",
                     mva_nmf_method_name(method), t + 1, m->history[t - 1], m->history[t]);
    mva_nmf_model_free(m);
    free(x);
}

static void test_nmf_hals_objective_never_increases(void **state)
{
    (void)state;
    check_monotone(MVA_NMF_HALS, MVA_NMF_INIT_NNDSVDA);
    check_monotone(MVA_NMF_HALS, MVA_NMF_INIT_RANDOM);
}

static void test_nmf_mu_objective_never_increases(void **state)
{
    (void)state;
    check_monotone(MVA_NMF_MU, MVA_NMF_INIT_NNDSVDA);
    check_monotone(MVA_NMF_MU, MVA_NMF_INIT_RANDOM);
}

static void test_nmf_kl_objective_never_increases(void **state)
{
    (void)state;
    check_monotone(MVA_NMF_KL, MVA_NMF_INIT_RANDOM);
}

/* The reference: HALS on the whole matrix, same sweeps in the same order. */
static void reference_hals(const double *x, double *w, double *h, size_t iters, size_t inner)
{
    double *a = malloc(N * K * sizeof *a), *c = malloc(K * P * sizeof *c), b[K * K], d[K * K];
    for (size_t it = 0; it < iters; it++) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, K, P, 1.0, x, P, h, P, 0.0, a, K);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, K, P, 1.0, h, P, h, P, 0.0, b, K);
        for (size_t i = 0; i < N; i++)
            for (size_t s = 0; s < inner; s++)
                for (size_t q = 0; q < K; q++) {
                    double g = a[i * K + q];
                    for (size_t l = 0; l < K; l++)
                        g -= w[i * K + l] * b[l * K + q];
                    w[i * K + q] = fmax(0.0, w[i * K + q] + g / b[q * K + q]);
                }
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, N, 1.0, w, K, x, P, 0.0, c, P);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, K, N, 1.0, w, K, w, K, 0.0, d, K);
        for (size_t s = 0; s < inner; s++)
            for (size_t q = 0; q < K; q++)
                for (size_t j = 0; j < P; j++) {
                    double g = c[q * P + j];
                    for (size_t l = 0; l < K; l++)
                        g -= d[q * K + l] * h[l * P + j];
                    h[q * P + j] = fmax(0.0, h[q * P + j] + g / d[q * K + q]);
                }
    }
    free(a);
    free(c);
}

static void test_nmf_streamed_equals_in_memory_for_any_block_size(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), a[N * K], w0[N * K], h0[K * P];
    make_data(x, a, 2.0);
    for (size_t e = 0; e < N * K; e++)
        w0[e] = urand();
    for (size_t e = 0; e < K * P; e++)
        h0[e] = urand();
    double w[N * K], h[K * P];
    memcpy(w, w0, sizeof w);
    memcpy(h, h0, sizeof h);
    reference_hals(x, w, h, 15, 3);
    /* Normalise as the model does: spectra sum to 1, the sum moved into W. */
    double sum[K] = {0, 0, 0};
    for (size_t q = 0; q < K; q++)
        for (size_t j = 0; j < P; j++)
            sum[q] += h[q * P + j];
    const size_t blocks[3] = {1, 7, N};
    for (int b = 0; b < 3; b++) {
        mva_nmf_opts o = mva_nmf_opts_default();
        o.k = K;
        o.init = MVA_NMF_INIT_CUSTOM;
        o.w_init = w0;
        o.h_init = h0;
        o.tol = 0.0;
        o.max_iter = 15;
        o.inner = 3;
        mva_nmf_model *m = fit_ok(x, &o, blocks[b]);
        for (size_t q = 0; q < K; q++) {
            /* find the reference component (the model is sorted by share) */
            size_t best = 0;
            double bd = INFINITY;
            for (size_t r = 0; r < K; r++) {
                double dd = 0;
                for (size_t j = 0; j < P; j++)
                    dd += fabs(m->spectra[q * P + j] - h[r * P + j] / sum[r]);
                if (dd < bd) {
                    bd = dd;
                    best = r;
                }
            }
            for (size_t j = 0; j < P; j++)
                assert_true(fabs(m->spectra[q * P + j] - h[best * P + j] / sum[best]) <= 1e-12);
            for (size_t i = 0; i < N; i++) {
                double ref = w[i * K + best] * sum[best];
                assert_true(fabs(m->abundances[q * N + i] - ref) <= 1e-12 * (1.0 + fabs(ref)));
            }
        }
        mva_nmf_model_free(m);
    }
    free(x);
}

static double correlation(const double *u, const double *v, size_t p)
{
    double mu = 0, mv = 0, su = 0, sv = 0, c = 0;
    for (size_t j = 0; j < p; j++) {
        mu += u[j] / (double)p;
        mv += v[j] / (double)p;
    }
    for (size_t j = 0; j < p; j++) {
        c += (u[j] - mu) * (v[j] - mv);
        su += (u[j] - mu) * (u[j] - mu);
        sv += (v[j] - mv) * (v[j] - mv);
    }
    return c / sqrt(su * sv);
}

/* ||X - A S|| / ||X|| from the model itself. */
static double reconstruction_error(const double *x, const mva_nmf_model *m)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++) {
            double v = 0;
            for (size_t q = 0; q < m->k; q++)
                v += m->abundances[q * N + i] * m->spectra[q * P + j];
            num += (x[i * P + j] - v) * (x[i * P + j] - v);
            den += x[i * P + j] * x[i * P + j];
        }
    return sqrt(num / den);
}

static void test_nmf_recovers_known_spectra_from_noiseless_data(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), a[N * K], h[K * P];
    make_data(x, a, 0.0);
    true_spectra(h);
    const int methods[2] = {MVA_NMF_HALS, MVA_NMF_MU};
    for (int t = 0; t < 2; t++) {
        mva_nmf_opts o = mva_nmf_opts_default();
        o.k = K;
        o.method = methods[t];
        o.tol = 1e-14;
        o.max_iter = t == 0 ? 500 : 3000;
        mva_nmf_model *m = fit_ok(x, &o, 0);
        double e = reconstruction_error(x, m);
        if (t == 0 && !(e < 1e-6))
            fail_msg("HALS: relative error %g after %zu passes", e, m->iterations);
        for (size_t r = 0; r < K; r++) {
            double best = -1;
            for (size_t q = 0; q < K; q++)
                best = fmax(best, correlation(m->spectra + q * P, h + r * P, P));
            if (!(best >= 0.99))
                fail_msg("%s: spectrum %zu matched with correlation %g only",
                         mva_nmf_method_name(methods[t]), r, best);
        }
        mva_nmf_model_free(m);
    }
    free(x);
}

/* The compressed warm start: fewer passes over the data, and no worse a fit. */
static void test_nmf_warm_start_saves_passes(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), a[N * K];
    make_data(x, a, 2.0);
    mva_nmf_opts o = mva_nmf_opts_default();
    o.k = K;
    o.tol = 1e-6;
    o.compressed_iter = 0;
    mva_nmf_model *cold = fit_ok(x, &o, 0);
    o.compressed_iter = 200;
    mva_nmf_model *warm = fit_ok(x, &o, 0);
    if (!(warm->iterations < cold->iterations))
        fail_msg("warm start: %zu passes, cold %zu", warm->iterations, cold->iterations);
    assert_true(warm->objective <= cold->objective * (1.0 + 1e-4));
    assert_true(warm->rel_error < 0.05);
    mva_nmf_model_free(cold);
    mva_nmf_model_free(warm);
    free(x);
}

static void test_nmf_same_seed_same_result_bit_for_bit(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), a[N * K];
    make_data(x, a, 3.0);
    mva_nmf_opts o = mva_nmf_opts_default();
    o.k = K;
    o.init = MVA_NMF_INIT_RANDOM;
    o.seed = 42;
    o.max_iter = 20;
    mva_nmf_model *m1 = fit_ok(x, &o, 0), *m2 = fit_ok(x, &o, 0);
    assert_int_equal(m1->iterations, m2->iterations);
    assert_memory_equal(m1->spectra, m2->spectra, K * P * sizeof(double));
    assert_memory_equal(m1->abundances, m2->abundances, K * N * sizeof(double));
    o.seed = 43;
    mva_nmf_model *m3 = fit_ok(x, &o, 0);
    assert_true(memcmp(m1->spectra, m3->spectra, K * P * sizeof(double)) != 0);
    mva_nmf_model_free(m1);
    mva_nmf_model_free(m2);
    mva_nmf_model_free(m3);
    free(x);
}

static mva_nmf_model *fit_budget(const double *x, const mva_nmf_opts *o, size_t block,
                                 size_t budget)
{
    mva_stack *s = NULL;
    mva_error err;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    mva_pass_opts po;
    memset(&po, 0, sizeof po);
    po.block_pixels = block;
    po.mem_budget = budget;
    mva_nmf_model *m = NULL;
    if (mva_nmf_fit(s, o, &po, &m, &err) != MVA_OK)
        fail_msg("mva_nmf_fit: %s", err.msg);
    mva_stack_close(s);
    return m;
}

static size_t files_in(const char *dir)
{
    char cmd[600], line[64] = "";
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    pclose(f);
    return (size_t)strtoul(line, NULL, 10);
}

/* W larger than the memory budget lives in a scratch HDF5 file, read and written a block of
 * rows at a time: every method and start gives the same bits as with W in memory (same
 * blocks), a NaN pixel included, and the scratch directory is empty afterwards. */
static void test_nmf_w_in_scratch_file_gives_same_bits(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), a[N * K], w0[N * K], h0[K * P];
    make_data(x, a, 3.0);
    x[20 * P + 5] = NAN;
    for (size_t e = 0; e < N * K; e++)
        w0[e] = 1.0 + urand();
    for (size_t e = 0; e < K * P; e++)
        h0[e] = 0.1 + urand();
    char dir[512];
    tmp_path(dir, "scratch");
    assert_int_equal(mkdir(dir, 0700), 0);
    const int methods[] = {MVA_NMF_HALS, MVA_NMF_MU, MVA_NMF_KL};
    const int inits[] = {MVA_NMF_INIT_NNDSVDA, MVA_NMF_INIT_RANDOM, MVA_NMF_INIT_CUSTOM};
    for (size_t mi = 0; mi < 3; mi++)
        for (size_t ii = 0; ii < 3; ii++) {
            mva_nmf_opts o = mva_nmf_opts_default();
            o.k = K;
            o.method = methods[mi];
            o.init = inits[ii];
            o.w_init = w0;
            o.h_init = h0;
            o.max_iter = 6;
            o.tol = 0.0;
            o.compressed_iter = 0; /* the scratch run has no warm start either */
            o.scratch_dir = dir;
            mva_nmf_model *mem = fit_budget(x, &o, 7, 0);
            mva_nmf_model *disk = fit_budget(x, &o, 7, N * K * sizeof(double) - 1);
            assert_int_equal(mem->w_scratch, 0);
            assert_int_equal(disk->w_scratch, 1);
            assert_int_equal(mem->iterations, disk->iterations);
            assert_memory_equal(mem->history, disk->history, mem->iterations * sizeof(double));
            assert_memory_equal(mem->spectra, disk->spectra, K * P * sizeof(double));
            assert_memory_equal(mem->abundances, disk->abundances, K * N * sizeof(double));
            assert_true(isnan(disk->abundances[20]));
            mva_nmf_model_free(mem);
            mva_nmf_model_free(disk);
        }
    assert_int_equal(files_in(dir), 0);
    rmdir(dir);
    free(x);
}

static void test_nmf_scratch_directory_missing_is_a_clear_error(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), a[N * K];
    make_data(x, a, 0.0);
    mva_nmf_opts o = mva_nmf_opts_default();
    o.k = K;
    o.scratch_dir = "/nonexistent/mva-scratch";
    mva_stack *s = NULL;
    mva_error err;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    mva_pass_opts po;
    memset(&po, 0, sizeof po);
    po.mem_budget = 1000;
    mva_nmf_model *m = NULL;
    assert_int_equal(mva_nmf_fit(s, &o, &po, &m, &err), MVA_EIO);
    assert_null(m);
    if (!strstr(err.msg, "/nonexistent/mva-scratch") || !strstr(err.msg, "scratch"))
        fail_msg("unexpected message: %s", err.msg);
    mva_stack_close(s);
    free(x);
}

static void test_nmf_masks_pixels_holding_nan(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), a[N * K];
    make_data(x, a, 1.0);
    x[5 * P + 3] = NAN;
    x[40 * P + 0] = INFINITY;
    mva_nmf_opts o = mva_nmf_opts_default();
    o.k = K;
    o.max_iter = 20;
    mva_nmf_model *m = fit_ok(x, &o, 7);
    assert_int_equal(m->n_valid, N - 2);
    assert_int_equal(m->mask[5], 1);
    assert_int_equal(m->mask[40], 1);
    assert_true(isnan(m->abundances[5]) && isnan(m->abundances[40]));
    assert_true(isfinite(m->objective) && isfinite(m->abundances[6]));
    mva_nmf_model_free(m);
    free(x);
}

static void expect_einval(const double *x, mva_nmf_opts o, const char *needle)
{
    mva_error err;
    int rc;
    mva_nmf_model *m = fit(x, &o, 0, &rc, &err);
    assert_null(m);
    assert_int_equal(rc, MVA_EINVAL);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_nmf_rejects_bad_options(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), a[N * K];
    make_data(x, a, 1.0);
    mva_nmf_opts o = mva_nmf_opts_default();
    o.k = 0;
    expect_einval(x, o, "components");
    o.k = P + 1;
    expect_einval(x, o, "components");
    o = mva_nmf_opts_default();
    o.method = 7;
    expect_einval(x, o, "method");
    o = mva_nmf_opts_default();
    o.init = 9;
    expect_einval(x, o, "start");
    o = mva_nmf_opts_default();
    o.tol = -1;
    expect_einval(x, o, "tolerance");
    o = mva_nmf_opts_default();
    o.max_iter = 0;
    expect_einval(x, o, "pass");
    o = mva_nmf_opts_default();
    o.method = MVA_NMF_KL;
    o.poisson = 1;
    expect_einval(x, o, "Poisson");
    o = mva_nmf_opts_default();
    o.init = MVA_NMF_INIT_CUSTOM;
    expect_einval(x, o, "w_init");
    double w[N * 4], h[4 * P];
    for (size_t e = 0; e < N * 4; e++)
        w[e] = 1;
    for (size_t e = 0; e < 4 * P; e++)
        h[e] = 1;
    h[7] = -1;
    o.w_init = w;
    o.h_init = h;
    expect_einval(x, o, "h_init[7]");
    free(x);
}

static void test_nmf_result_read_back_equals_written(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x), a[N * K];
    make_data(x, a, 1.0);
    x[9 * P] = NAN;
    mva_nmf_opts o = mva_nmf_opts_default();
    o.k = K;
    o.max_iter = 25;
    o.poisson = 1;
    mva_nmf_model *m = fit_ok(x, &o, 0), *r = NULL;
    mva_stack *s = NULL;
    mva_error err;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    char path[512], entry[256];
    tmp_path(path, "nmf.h5");
    mva_param params[1] = {{"components", "3"}};
    mva_result_parts spec = {.program = "test_nmf", .input = mva_stack_get_info(s), .nmf = m,
                             .params = params, .nparams = 1};
    if (mva_result_write(path, &spec, entry, sizeof entry, &err) != MVA_OK)
        fail_msg("write: %s", err.msg);
    assert_string_equal(entry, "mva_nmf");
    if (mva_result_read_nmf(path, NULL, &r, &err) != MVA_OK)
        fail_msg("read: %s", err.msg);
    assert_int_equal(r->rows, ROWS);
    assert_int_equal(r->cols, COLS);
    assert_int_equal(r->p, P);
    assert_int_equal(r->k, K);
    assert_int_equal(r->method, m->method);
    assert_int_equal(r->init, m->init);
    assert_int_equal(r->poisson, 1);
    assert_int_equal(r->seed, m->seed);
    assert_int_equal(r->iterations, m->iterations);
    assert_int_equal(r->passes, m->passes);
    assert_int_equal(r->converged, m->converged);
    assert_int_equal(r->n_valid, N - 1);
    assert_int_equal(r->max_iter, m->max_iter);
    assert_int_equal(r->inner, m->inner);
    assert_true(r->tol == m->tol && r->objective == m->objective &&
                r->norm_x2 == m->norm_x2 && r->rel_error == m->rel_error);
    assert_memory_equal(r->history, m->history, m->iterations * sizeof(double));
    assert_memory_equal(r->spectra, m->spectra, K * P * sizeof(double));
    assert_memory_equal(r->abundances, m->abundances, K * N * sizeof(double));
    assert_memory_equal(r->share, m->share, K * sizeof(double));
    assert_memory_equal(r->mask, m->mask, N);
    assert_null(r->energy);
    mva_nmf_model_free(r);
    /* A second write adds an entry; an entry without NMF is refused by name. */
    assert_int_equal(mva_result_write(path, &spec, entry, sizeof entry, &err), MVA_OK);
    assert_string_equal(entry, "mva_nmf_1");
    assert_int_equal(mva_result_read_nmf(path, "nope", &r, &err), MVA_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nope"));
    mva_nmf_model_free(m);
    mva_stack_close(s);
    free(x);
}

static int setup(void **state)
{
    (void)state;
    return test_tmpdir_create("nmf");
}

static int teardown(void **state)
{
    (void)state;
    return test_tmpdir_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nmf_factors_are_nonnegative_and_spectra_sum_to_one),
        cmocka_unit_test(test_nmf_hals_objective_never_increases),
        cmocka_unit_test(test_nmf_mu_objective_never_increases),
        cmocka_unit_test(test_nmf_kl_objective_never_increases),
        cmocka_unit_test(test_nmf_streamed_equals_in_memory_for_any_block_size),
        cmocka_unit_test(test_nmf_recovers_known_spectra_from_noiseless_data),
        cmocka_unit_test(test_nmf_warm_start_saves_passes),
        cmocka_unit_test(test_nmf_same_seed_same_result_bit_for_bit),
        cmocka_unit_test(test_nmf_w_in_scratch_file_gives_same_bits),
        cmocka_unit_test(test_nmf_scratch_directory_missing_is_a_clear_error),
        cmocka_unit_test(test_nmf_masks_pixels_holding_nan),
        cmocka_unit_test(test_nmf_rejects_bad_options),
        cmocka_unit_test(test_nmf_result_read_back_equals_written),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
