/* ROI images and spectra against a direct computation; parsing and resolving of ROIs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mva.h"

enum { ROWS = 4, COLS = 6, N = ROWS * COLS, P = 30 };

static void make_counts(double *x)
{
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++)
            x[i * P + j] = (double)((i * 7 + j * 13) % 23) + (j == 12 ? 50.0 * (double)i : 0);
}

static void test_roi_images_match_direct_sums(void **state)
{
    (void)state;
    double x[N * P];
    make_counts(x);
    mva_roi_def defs[2];
    mva_error err;
    assert_int_equal(mva_roi_parse("Fe=10:14", &defs[0], &err), MVA_OK);
    assert_int_equal(mva_roi_parse("0:0", &defs[1], &err), MVA_OK);
    mva_stack *s = NULL;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    mva_pass_opts po;
    memset(&po, 0, sizeof po);
    po.block_pixels = 5;
    mva_roi_result *r = NULL;
    assert_int_equal(mva_roi_fit(s, defs, 2, &po, &r, &err), MVA_OK);
    for (size_t i = 0; i < N; i++) {
        const double *y = x + i * P;
        double raw = 0, tot = 0;
        for (size_t j = 10; j <= 14; j++)
            raw += y[j];
        for (size_t j = 0; j < P; j++)
            tot += y[j];
        assert_true(r->raw[i] == raw);
        assert_true(r->net[i] == raw - 0.5 * 5 * (y[10] + y[14]));
        assert_true(r->raw[N + i] == y[0]);
        assert_true(r->net[N + i] == 0.0); /* one channel: raw - 0.5*1*(2y) */
        assert_true(r->total[i] == tot);
    }
    for (size_t j = 0; j < P; j++) {
        double sum = 0, mx = -1;
        for (size_t i = 0; i < N; i++) {
            sum += x[i * P + j];
            mx = x[i * P + j] > mx ? x[i * P + j] : mx;
        }
        assert_true(r->sum_spectrum[j] == sum);
        assert_true(fabs(r->avg_spectrum[j] - sum / N) < 1e-12 * (1 + sum));
        assert_true(r->max_spectrum[j] == mx);
    }
    assert_string_equal(r->defs[0].name, "Fe");
    assert_int_equal(r->ch0[0], 10);
    assert_int_equal(r->ch1[0], 14);
    assert_int_equal(r->n_valid, N);
    mva_roi_result_free(r);
    mva_stack_close(s);
}

static void test_roi_masks_non_finite_pixels(void **state)
{
    (void)state;
    double x[N * P];
    make_counts(x);
    x[3 * P + 29] = NAN;
    x[20 * P] = -INFINITY;
    mva_roi_def d;
    mva_error err;
    assert_int_equal(mva_roi_parse("1:2", &d, &err), MVA_OK);
    mva_stack *s = NULL;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    mva_roi_result *r = NULL;
    assert_int_equal(mva_roi_fit(s, &d, 1, NULL, &r, &err), MVA_OK);
    assert_int_equal(r->n_valid, N - 2);
    assert_int_equal(r->mask[3], 1);
    assert_int_equal(r->mask[20], 1);
    assert_int_equal(r->mask[4], 0);
    assert_true(isnan(r->raw[3]) && isnan(r->net[20]) && isnan(r->total[3]));
    for (size_t j = 0; j < P; j++)
        assert_true(isfinite(r->sum_spectrum[j]) && isfinite(r->avg_spectrum[j]));
    mva_roi_result_free(r);
    mva_stack_close(s);
}

static void test_roi_parse_forms_and_errors(void **state)
{
    (void)state;
    mva_roi_def d;
    mva_error err;
    assert_int_equal(mva_roi_parse("Fe=6.2:6.6keV", &d, &err), MVA_OK);
    assert_string_equal(d.name, "Fe");
    assert_int_equal(d.unit, MVA_ROI_KEV);
    assert_true(d.from == 6.2 && d.to == 6.6);
    assert_int_equal(mva_roi_parse("640:700", &d, &err), MVA_OK);
    assert_string_equal(d.name, "640-700");
    assert_int_equal(d.unit, MVA_ROI_CHANNEL);
    assert_int_equal(mva_roi_parse("Cu=700:640", &d, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "above"));
    assert_int_equal(mva_roi_parse("Cu=6x0:700", &d, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "expected [NAME=]FIRST:LAST"));
    assert_int_equal(mva_roi_parse("1.5:3", &d, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "integers"));
    assert_int_equal(mva_roi_parse("=1:3", &d, &err), MVA_EINVAL);
}

/* A program that switched to a locale with a decimal comma must still read "6.2". */
static void test_roi_parse_ignores_the_locale(void **state)
{
    (void)state;
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") == NULL && setlocale(LC_NUMERIC, "fr_FR.UTF-8") == NULL)
        skip();
    mva_roi_def d;
    mva_error err;
    assert_int_equal(mva_roi_parse("Fe=6.2:6.6keV", &d, &err), MVA_OK);
    setlocale(LC_NUMERIC, "C");
    assert_true(d.from == 6.2);
}

static void test_roi_resolve_energy_through_calibration(void **state)
{
    (void)state;
    mva_calib cal = {1, 0.0, 0.01, 0.0}; /* 10 eV per channel */
    mva_roi_def d;
    mva_error err;
    size_t c0, c1;
    assert_int_equal(mva_roi_parse("Fe=6.2:6.6keV", &d, &err), MVA_OK);
    assert_int_equal(mva_roi_resolve(&d, &cal, 2000, &c0, &c1, &err), MVA_OK);
    assert_int_equal(c0, 620);
    assert_int_equal(c1, 660);
    mva_calib quad = {1, 0.1, 0.01, 1e-6};
    assert_int_equal(mva_roi_resolve(&d, &quad, 2000, &c0, &c1, &err), MVA_OK);
    assert_true(mva_calib_energy(&quad, (double)c0) >= 6.2);
    assert_true(mva_calib_energy(&quad, (double)c0 - 1) < 6.2);
    assert_true(mva_calib_energy(&quad, (double)c1) <= 6.6);
    assert_true(mva_calib_energy(&quad, (double)c1 + 1) > 6.6);
    mva_calib none = {0, 0, 0, 0};
    assert_int_equal(mva_roi_resolve(&d, &none, 2000, &c0, &c1, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "no energy calibration"));
    assert_int_equal(mva_roi_parse("3000:3100", &d, &err), MVA_OK);
    assert_int_equal(mva_roi_resolve(&d, &cal, 2000, &c0, &c1, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "holds no channel"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roi_images_match_direct_sums),
        cmocka_unit_test(test_roi_masks_non_finite_pixels),
        cmocka_unit_test(test_roi_parse_forms_and_errors),
        cmocka_unit_test(test_roi_parse_ignores_the_locale),
        cmocka_unit_test(test_roi_resolve_energy_through_calibration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
