/* The exact Gram of integer rows (src/igram.c) against 64-bit integer arithmetic: equal to the
 * last bit, in raw and shifted form, through many flushes, with helper threads and with
 * variables that turn live late, with counts up to 65535 in a few bright channels (tiles in
 * double precision, tiles of the float Gram restarted on their own, the variables reordered
 * by brightness mid-pass); rows it cannot sum exactly are refused and leave it untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "igram.h"
#include "mva/error.h"

enum { P = 23, N = 2000, P2 = 420, N2 = 1500 };

static uint64_t rng_state = 88172645463325252ull;
static uint64_t next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Counts around 1000 + 50 j with a spread of +-amp (so that |d| reaches amp). */
static void make_counts(double *x, int64_t *xi, int amp)
{
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++) {
            int64_t v = 1000 + 50 * (int64_t)j + (int64_t)(next() % (2 * (uint64_t)amp + 1)) - amp;
            xi[i * P + j] = v;
            x[i * P + j] = (double)v;
        }
}

/* Every entry of the Gram of the n x p rows x against the int64 sums of xi. */
typedef struct {
    size_t n_float, n_int, n_double, n_restart, n_reorder;
    int vnni;
} igram_counts;

static igram_counts check_gram_sized(const double *x, const int64_t *xi, size_t n, size_t p,
                                     int raw)
{
    double *g = calloc(p * p, sizeof *g);
    mva_igram a;
    assert_int_equal(mva_igram_init(&a, p, g, raw), MVA_OK);
    assert_int_equal(mva_igram_set_shift(&a, x, 63), MVA_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(mva_igram_add(&a, x + i * p), 1);
    mva_igram_flush(&a);
    assert_int_equal(a.n, n);
    for (size_t j = 0; j < p; j++) {
        assert_true(a.mu0[j] == floor(a.mu0[j]));
        int64_t s = 0;
        for (size_t i = 0; i < n; i++)
            s += xi[i * p + j] - (int64_t)a.mu0[j];
        assert_true(a.dsum[j] == (double)s);
    }
    for (size_t j = 0; j < p; j++)
        for (size_t k = j; k < p; k++) {
            int64_t ref = 0;
            for (size_t i = 0; i < n; i++) {
                int64_t u = xi[i * p + j], v = xi[i * p + k];
                if (!raw) {
                    u -= (int64_t)a.mu0[j];
                    v -= (int64_t)a.mu0[k];
                }
                ref += u * v;
            }
            if (g[j * p + k] != (double)ref)
                fail_msg("entry (%zu, %zu): %.17g, exact %lld", j, k, g[j * p + k],
                         (long long)ref);
        }
    igram_counts c = {a.n_float, a.n_int, a.n_double, a.n_restart, a.n_reorder, a.vnni};
    /* the kernel asked for, where the CPU has it */
    assert_int_equal(a.vnni, mva_igram_want_vnni && mva_igram_vnni_available());
    assert_true(a.vnni ? c.n_float == 0 : c.n_int == 0);
    mva_igram_free(&a);
    free(g);
    return c;
}

static void check_gram(const double *x, const int64_t *xi, int raw)
{
    check_gram_sized(x, xi, N, P, raw);
}

/* Spread 2000: |d|^2 up to ~6e6, so the float Gram is flushed every other row or so. */
static void test_igram_equals_integer_arithmetic(void **state)
{
    (void)state;
    double *x = malloc(N * P * sizeof *x);
    int64_t *xi = malloc(N * P * sizeof *xi);
    int amps[] = {3, 100, 2000};
    for (int v = 0; v < 2; v++) { /* single precision, then the integer kernel if any */
        mva_igram_want_vnni = v;
        for (size_t t = 0; t < 3; t++) {
            make_counts(x, xi, amps[t]);
            check_gram(x, xi, 0);
            check_gram(x, xi, 1);
        }
    }
    free(x);
    free(xi);
}

/*
 * OpenBLAS asked for 2 threads whatever the machine; batches of 512 rows and a flush every
 * ~700 (spread 150): some variables are dead throughout (constant, d = 0), as many constant
 * until row 600 and then spread, so that they join the live ones in the middle of the second
 * batch since a flush, with the first one in flight and its Gram columns to be zeroed.
 */
/* n x p counts around 500, spread +-150; variables [0, d) constant 500 throughout, [d, 2d)
 * constant 500 until row late. */
static void make_late_live(double *x, int64_t *xi, size_t n, size_t p, size_t d, size_t late)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++) {
            int64_t v = 500 + (int64_t)(next() % 301) - 150;
            if (j < d || (j < 2 * d && i < late))
                v = 500;
            xi[i * p + j] = v;
            x[i * p + j] = (double)v;
        }
}

static void test_igram_threads_and_late_live_variables(void **state)
{
    (void)state;
    double *x = malloc(N2 * P2 * sizeof *x);
    int64_t *xi = malloc(N2 * P2 * sizeof *xi);
    int threads = openblas_get_num_threads();
    openblas_set_num_threads(2);
    /* narrow (the caller alone), then wide enough for the helpers' tiles */
    size_t ps[] = {40, P2}, ds[] = {5, 40};
    for (int v = 0; v < 2; v++) {
        mva_igram_want_vnni = v;
        for (size_t t = 0; t < 2; t++) {
            make_late_live(x, xi, N2, ps[t], ds[t], 600);
            check_gram_sized(x, xi, N2, ps[t], 0);
            check_gram_sized(x, xi, N2, ps[t], 1);
        }
    }
    assert_int_equal(openblas_get_num_threads(), 2); /* given back after the flush */
    openblas_set_num_threads(threads);
    free(x);
    free(xi);
}

static void test_igram_refuses_rows_it_cannot_sum_exactly(void **state)
{
    (void)state;
    double *g = calloc(P * P, sizeof *g), x[P], zero[P] = {0};
    mva_igram a;
    assert_int_equal(mva_igram_init(&a, P, g, 1), MVA_OK);
    assert_int_equal(mva_igram_set_shift(&a, zero, 1), MVA_OK);
    for (size_t j = 0; j < P; j++)
        x[j] = (double)j;
    x[4] = 2.5;
    assert_int_equal(mva_igram_add(&a, x), 0);
    x[4] = 4194305.0; /* |d| > 2^22: a batch of such rows could pass 2^53 */
    assert_int_equal(mva_igram_add(&a, x), 0);
    x[4] = NAN;
    assert_int_equal(mva_igram_add(&a, x), 0);
    x[4] = 4194304.0;
    assert_int_equal(mva_igram_add(&a, x), 1);
    mva_igram_flush(&a);
    assert_int_equal(a.n, 1);
    assert_true(g[4 * P + 4] == 4194304.0 * 4194304.0);
    assert_true(g[0 * P + 3] == 0.0 && g[2 * P + 3] == 6.0);
    mva_igram_free(&a);
    free(g);
}

/* Rows of |d| = 2^22: 512 of them bring the sums to 2^53, where doubles stop holding every
 * integer; the next row is refused. */
static void test_igram_refuses_rows_past_2_to_the_53(void **state)
{
    (void)state;
    enum { Q = 3 };
    double g[Q * Q] = {0}, x[Q] = {4194304.0, -4194304.0, 1.0}, zero[Q] = {0};
    mva_igram a;
    assert_int_equal(mva_igram_init(&a, Q, g, 0), MVA_OK);
    assert_int_equal(mva_igram_set_shift(&a, zero, 1), MVA_OK);
    for (int i = 0; i < 512; i++)
        assert_int_equal(mva_igram_add(&a, x), 1);
    assert_int_equal(mva_igram_add(&a, x), 0);
    mva_igram_flush(&a);
    assert_true(g[0] == 9007199254740992.0 && g[1] == -9007199254740992.0);
    assert_true(g[2] == 512.0 * 4194304.0 && g[Q * Q - 1] == 512.0);
    mva_igram_free(&a);
}

/*
 * A bright map's spectrum, in p = 600 channels: 4 bright ones uniform over 0..65535 (the
 * whole uint16 range), 36 around 20000 +-1500, 160 around 500 +-150, the rest 5 +-3 and the
 * last 10 constant.  The bright ones are constant until row `late`, so that the order by
 * brightness taken at the first batch is wrong later and is taken again.
 */
static void make_bright(double *x, int64_t *xi, size_t n, size_t p, size_t late)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++) {
            int64_t v;
            if (j >= p - 10)
                v = 7;
            else if (j < 4)
                v = i < late ? 100 : (int64_t)(next() % 65536);
            else if (j < 40)
                v = 20000 + (int64_t)(next() % 3001) - 1500;
            else if (j < 200)
                v = 500 + (int64_t)(next() % 301) - 150;
            else
                v = 5 + (int64_t)(next() % 7) - 3;
            /* spread the classes over the channels, as lines are */
            size_t jj = (j * 7) % p;
            xi[i * p + jj] = v;
            x[i * p + jj] = (double)v;
        }
}

static void test_igram_counts_up_to_65535_in_bright_channels(void **state)
{
    (void)state;
    enum { PB = 600, NB = 3000 };
    double *x = malloc((size_t)NB * PB * sizeof *x);
    int64_t *xi = malloc((size_t)NB * PB * sizeof *xi);
    int threads = openblas_get_num_threads();
    for (int th = 1; th <= 2; th++) { /* the caller alone, then with a helper */
        openblas_set_num_threads(th);
        make_bright(x, xi, NB, PB, 1300);
        for (int v = 0; v < 2; v++)
            for (int raw = 0; raw < 2; raw++) {
                mva_igram_want_vnni = v;
                igram_counts c = check_gram_sized(x, xi, NB, PB, raw);
                /* every path taken: tiles in double and in float (or int), those restarted
                 * on their own, a second order by brightness once the bright channels woke
                 * up */
                assert_true(c.n_double > 0 && (c.vnni ? c.n_int : c.n_float) > 0);
                assert_true(c.n_restart > 0);
                /* with the integer kernel's wider panels, the bright channels that woke up
                 * share a narrow one already: no second order pays then */
                assert_true(c.n_reorder >= (c.vnni && th == 2 ? 1u : 2u));
            }
    }
    openblas_set_num_threads(threads);
    free(x);
    free(xi);
}

/*
 * The integer kernel at its bounds: |d| = 2047 in every channel, random signs, so that a
 * batch of 512 rows sums to 512 * 2047^2 = 2^31 - 2^21 - ..., just below 2^31 (int tiles,
 * restarted every batch); then |d| = 2048, where a batch reaches 2^31 (double tiles); then
 * |d| = 32767 (the kernel's largest) in one channel of two rows a batch, the others |d| <= 2:
 * a tile's sums reach 2 * 32767^2 + 510 * 4, 2^31 - 129029; and 32768 (past it).  Odd rows
 * and columns that fill no chunk of 64.
 */
static void make_signs(double *x, int64_t *xi, size_t n, size_t p, int64_t mag, size_t wide)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++) {
            int64_t v = 40000 + (next() & 1 ? mag : -mag);
            if (wide < p && (j != wide || i % 256 != 5))
                v = 40000 + (int64_t)(next() % 5) - 2;
            if (i < 63) /* the rows of the shift's sample: mu0 = 40000 */
                v = 40000;
            xi[i * p + j] = v;
            x[i * p + j] = (double)v;
        }
}

static void test_igram_integer_kernel_at_its_bounds(void **state)
{
    (void)state;
    enum { PS = 203, NS = 1101 };
    double *x = malloc((size_t)NS * PS * sizeof *x);
    int64_t *xi = malloc((size_t)NS * PS * sizeof *xi);
    if (!mva_igram_vnni_available())
        print_message("no AVX-512 VNNI on this CPU: the integer kernel is not tested here\n");
    mva_igram_want_vnni = 1;
    struct {
        int64_t mag;
        size_t wide;
        int dbl; /* double tiles expected (integer kernel) */
    } cases[] = {{2047, PS, 0}, {2048, PS, 1}, {32767, 77, 0}, {32768, 77, 1}};
    for (size_t t = 0; t < 4; t++) {
        rng_state = 88172645463325252ull + t;
        make_signs(x, xi, NS, PS, cases[t].mag, cases[t].wide);
        for (int raw = 0; raw < 2; raw++) {
            igram_counts c = check_gram_sized(x, xi, NS, PS, raw);
            if (c.vnni) {
                assert_true(c.n_int > 0);
                assert_int_equal(c.n_double > 0, cases[t].dbl);
            }
        }
    }
    free(x);
    free(xi);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_igram_equals_integer_arithmetic),
        cmocka_unit_test(test_igram_threads_and_late_live_variables),
        cmocka_unit_test(test_igram_refuses_rows_it_cannot_sum_exactly),
        cmocka_unit_test(test_igram_refuses_rows_past_2_to_the_53),
        cmocka_unit_test(test_igram_counts_up_to_65535_in_bright_channels),
        cmocka_unit_test(test_igram_integer_kernel_at_its_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
