/* Reconstruction from a PCA model against the truncated SVD computed in memory, its error
 * statistics, and the expanded stack read back from its file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hdf5.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mva.h"
#include "mva/compress.h"
#include "util/tmpdir.h"

enum { ROWS = 9, COLS = 8, N = ROWS * COLS, P = 14 };

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* Poisson sample by inversion (Knuth); fine for the small means used here. */
static double poisson(double mu)
{
    double l = exp(-mu), p = 1.0;
    int k = 0;
    do {
        k++;
        p *= urand();
    } while (p > l);
    return (double)(k - 1);
}

/* Expected counts of rank 3 (three spectra mixed smoothly), scaled to `level`. */
static void rank3(double *mu, size_t n, size_t p, double level)
{
    for (size_t i = 0; i < n; i++) {
        double a = 0.2 + urand(), b = urand(), c = 0.5 * urand();
        for (size_t j = 0; j < p; j++)
            mu[i * p + j] = level * (a * exp(-0.3 * (double)j) + b * exp(-0.5 * pow((double)j - 6, 2)) +
                                     c * (double)j / (double)p);
    }
}

static mva_pca_model *fit(const double *x, size_t k, int poisson, int uncentred)
{
    mva_stack *s;
    mva_error err;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    mva_pca_opts o = mva_pca_opts_default();
    o.method = MVA_PCA_EXACT;
    o.k = k;
    o.poisson = poisson;
    o.uncentred = uncentred;
    mva_pca_model *m = NULL;
    if (mva_pca_fit(s, &o, NULL, 0, NULL, &m, &err) != MVA_OK)
        fail_msg("%s", err.msg);
    mva_stack_close(s);
    return m;
}

static void test_full_rank_model_rebuilds_the_stack(void **state)
{
    (void)state;
    double x[N * P], y[P];
    rank3(x, N, P, 20.0);
    for (size_t i = 0; i < N * P; i++)
        x[i] = poisson(x[i]);
    for (int variant = 0; variant < 3; variant++) {
        mva_pca_model *m = fit(x, P, variant == 1, variant == 2);
        for (size_t i = 0; i < N; i++) {
            mva_pca_reconstruct(m, i, y);
            for (size_t j = 0; j < P; j++)
                assert_true(fabs(y[j] - x[i * P + j]) <= 1e-10 * (1 + fabs(x[i * P + j])));
        }
        mva_pca_model_free(m);
    }
}

/* The rank-k reconstruction is mean + U_k S_k V_k^T of the centred matrix (Eckart-Young). */
static void test_rank_k_model_equals_truncated_svd(void **state)
{
    (void)state;
    double x[N * P], a[N * P], mean[P] = {0}, s[P], u[N * N], vt[P * P], y[P];
    rank3(x, N, P, 30.0);
    for (size_t i = 0; i < N * P; i++)
        x[i] = poisson(x[i]);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++)
            mean[j] += x[i * P + j] / N;
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++)
            a[i * P + j] = x[i * P + j] - mean[j];
    assert_int_equal(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'A', N, P, a, P, s, u, N, vt, P), 0);
    const size_t k = 3;
    mva_pca_model *m = fit(x, k, 0, 0);
    for (size_t i = 0; i < N; i++) {
        mva_pca_reconstruct(m, i, y);
        for (size_t j = 0; j < P; j++) {
            double ref = mean[j];
            for (size_t q = 0; q < k; q++)
                ref += u[i * N + q] * s[q] * vt[q * P + j];
            assert_true(fabs(y[j] - ref) <= 1e-10 * (1 + fabs(ref)));
        }
    }
    mva_pca_model_free(m);
}

/* A model of the right rank leaves only the Poisson noise: reduced chi-square ~ 1. */
static void test_chi_square_is_one_on_poisson_noise_of_a_rank_k_model(void **state)
{
    (void)state;
    enum { R = 60, C = 50, NN = R * C, PP = 40 };
    double *mu = malloc(NN * PP * sizeof *mu), *x = malloc(NN * PP * sizeof *x);
    rank3(mu, NN, PP, 40.0);
    for (size_t i = 0; i < (size_t)NN * PP; i++)
        x[i] = poisson(mu[i]);
    mva_stack *s;
    mva_error err;
    assert_int_equal(mva_stack_from_memory(&s, x, R, C, PP, &err), MVA_OK);
    mva_pca_opts o = mva_pca_opts_default();
    o.method = MVA_PCA_EXACT;
    o.k = 3; /* three independent abundances: rank 3, also after centring */
    mva_pca_model *m = NULL;
    assert_int_equal(mva_pca_fit(s, &o, NULL, 0, NULL, &m, &err), MVA_OK);
    mva_compress_stats *r = NULL;
    assert_int_equal(mva_compress_measure(s, m, &o, NULL, &r, &err), MVA_OK);
    assert_true(fabs(r->chi2_mean - 1.0) < 0.02);
    assert_int_equal(r->n_valid, NN);
    /* the relative error, directly */
    double num = 0, den = 0, y[PP];
    for (size_t i = 0; i < NN; i++) {
        mva_pca_reconstruct(m, i, y);
        for (size_t j = 0; j < PP; j++) {
            num += pow(x[i * PP + j] - y[j], 2);
            den += x[i * PP + j] * x[i * PP + j];
        }
    }
    assert_true(fabs(r->rel_frobenius - sqrt(num / den)) < 1e-12);
    assert_true(fabs(r->values_ratio - (double)NN * PP / (3.0 * (NN + PP) + 2.0 * PP)) < 1e-9);
    mva_compress_stats_free(r);
    /* one component too few: the chi-square says so */
    o.k = 2;
    mva_pca_model *m1 = NULL;
    assert_int_equal(mva_pca_fit(s, &o, NULL, 0, NULL, &m1, &err), MVA_OK);
    assert_int_equal(mva_compress_measure(s, m1, &o, NULL, &r, &err), MVA_OK);
    assert_true(r->chi2_mean > 1.2);
    mva_compress_stats_free(r);
    mva_pca_model_free(m1);
    mva_pca_model_free(m);
    mva_stack_close(s);
    free(mu);
    free(x);
}

/* Reads /expanded/data/data as doubles (rows x cols x p). */
static double *read_expanded(const char *path, hsize_t *dims)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, "/expanded/data/data", H5P_DEFAULT), sp = H5Dget_space(d);
    assert_int_equal(H5Sget_simple_extent_dims(sp, dims, NULL), 3);
    double *v = malloc(dims[0] * dims[1] * dims[2] * sizeof *v);
    assert_true(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return v;
}

static void test_expanded_file_holds_the_reconstruction(void **state)
{
    (void)state;
    double x[N * P], y[P];
    rank3(x, N, P, 20.0);
    for (size_t i = 0; i < N * P; i++)
        x[i] = poisson(x[i]);
    mva_pca_model *m = fit(x, 3, 1, 0);
    char path[512];
    mva_error err;
    tmp_path(path, "expanded.h5");
    assert_int_equal(mva_expand_write(m, NULL, path, &err), MVA_OK);
    hsize_t dims[3];
    double *v = read_expanded(path, dims);
    assert_true(dims[0] == ROWS && dims[1] == COLS && dims[2] == P);
    for (size_t i = 0; i < N; i++) {
        mva_pca_reconstruct(m, i, y);
        assert_memory_equal(v + i * P, y, P * sizeof *y);
    }
    free(v);
    mva_expand_opts o = {2, 5, 1, 4, MVA_DTYPE_UINT32, 1};
    assert_int_equal(mva_expand_write(m, &o, path, &err), MVA_OK);
    v = read_expanded(path, dims);
    assert_true(dims[0] == 3 && dims[1] == 3);
    mva_pca_reconstruct(m, 3 * COLS + 2, y); /* region pixel (1, 1) = map (3, 2) */
    for (size_t j = 0; j < P; j++)
        assert_true(v[(1 * 3 + 1) * P + j] == (y[j] < 0 ? 0 : nearbyint(y[j])));
    free(v);
    mva_expand_opts bad = {0, 99, 0, 0, 0, 0};
    assert_int_equal(mva_expand_write(m, &bad, path, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "outside the 9 x 8 map"));
    mva_pca_model_free(m);
}

static int setup(void **state)
{
    (void)state;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return test_tmpdir_create("compress");
}

static int teardown(void **state)
{
    (void)state;
    return test_tmpdir_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_rank_model_rebuilds_the_stack),
        cmocka_unit_test(test_rank_k_model_equals_truncated_svd),
        cmocka_unit_test(test_chi_square_is_one_on_poisson_noise_of_a_rank_k_model),
        cmocka_unit_test(test_expanded_file_holds_the_reconstruction),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
