/* The generic reader stage (src/combine.c, io/norm.c): detector selection and its refusals,
 * the weighted sum of elements against a direct sum, snake order, NaN for masked pixels,
 * --norm parsing, factors with their reference, factor datasets of every accepted shape and
 * the refusal of the others, and the stage run by mva_stack_open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "combine.h"
#include "mva.h"
#include "util/tmpdir.h"

enum { ROWS = 3, COLS = 4, N = ROWS * COLS, P = 5, NEL = 3 };

/* Value of element e, pixel i, channel j: distinct integers. */
static double gen(size_t e, size_t i, size_t j)
{
    return (double)(1000 * e + 10 * i + j + 1);
}

static double *gen_element(size_t e)
{
    double *x = malloc(N * P * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++)
            x[i * P + j] = gen(e, i, j);
    return x;
}

static void assert_contains(const char *text, const char *part)
{
    if (strstr(text, part) == NULL)
        fail_msg("\"%s\" not in \"%s\"", part, text);
}

/* ---- --detector ---- */

static void test_detector_select_forms(void **state)
{
    (void)state;
    unsigned char use[4];
    mva_error err = {0, ""};
    assert_int_equal(mva_detector_select(NULL, 4, use, &err), 4);
    assert_memory_equal(use, "\1\1\1\1", 4);
    assert_int_equal(mva_detector_select("sum", 4, use, &err), 4);
    assert_memory_equal(use, "\1\1\1\1", 4);
    assert_int_equal(mva_detector_select("2", 4, use, &err), 1);
    assert_memory_equal(use, "\0\0\1\0", 4);
    assert_int_equal(mva_detector_select("0,2-3", 4, use, &err), 3);
    assert_memory_equal(use, "\1\0\1\1", 4);
    assert_int_equal(mva_detector_select("1,1,0-1", 4, use, &err), 2);
    assert_memory_equal(use, "\1\1\0\0", 4);
    unsigned char one;
    assert_int_equal(mva_detector_select(NULL, 1, &one, &err), 1); /* the default: the one */
    assert_int_equal(one, 1);
}

static void test_detector_select_refusals(void **state)
{
    (void)state;
    unsigned char use[4], one;
    mva_error err = {0, ""};
    assert_int_equal(mva_detector_select("5", 4, use, &err), MVA_EINVAL);
    assert_string_equal(err.msg, "--detector 5: the input has 4 detector elements (0-3)");
    assert_int_equal(mva_detector_select("0,4", 4, use, &err), MVA_EINVAL);
    assert_string_equal(err.msg, "--detector 0,4: the input has 4 detector elements (0-3)");
    /* an option that does not apply is an error */
    assert_int_equal(mva_detector_select("0", 1, &one, &err), MVA_EINVAL);
    assert_contains(err.msg, "--detector 0: the input has a single detector element");
    assert_int_equal(mva_detector_select("sum", 1, &one, &err), MVA_EINVAL);
    assert_contains(err.msg, "--detector sum: the input has a single detector element");
    static const char *const bad[] = {"", "x", "1-", "3-1", "1,,2", "-1", "1 ", "2,", "all"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_equal(mva_detector_select(bad[k], 4, use, &err), MVA_EINVAL);
        assert_contains(err.msg, "expected 'sum', an element number (from 0), a list");
        assert_int_equal(mva_detector_check(bad[k], &err), MVA_EINVAL);
        assert_contains(err.msg, bad[k]);
    }
    assert_int_equal(mva_detector_check("0,2-3", &err), MVA_OK);
    assert_int_equal(mva_detector_check("sum", &err), MVA_OK);
}

static void test_detector_describe(void **state)
{
    (void)state;
    const char *names[] = {"data_a", "data_b", "data_c", "data_d"};
    char buf[256];
    mva_detector_describe((const unsigned char *)"\1\1\1\1", 4, names, buf, sizeof buf);
    assert_string_equal(buf, "sum of 4 elements: data_a, data_b, data_c, data_d");
    mva_detector_describe((const unsigned char *)"\0\0\1\0", 4, names, buf, sizeof buf);
    assert_string_equal(buf, "element 2 of 4: data_c");
    mva_detector_describe((const unsigned char *)"\1\0\1\0", 4, NULL, buf, sizeof buf);
    assert_string_equal(buf, "sum of elements 0, 2 of 4");
    mva_detector_describe((const unsigned char *)"\1", 1, names, buf, sizeof buf);
    assert_string_equal(buf, "");
}

/* ---- the weighted sum ---- */

static void test_combine_add_kernel(void **state)
{
    (void)state;
    double out[2 * 3] = {1, 1, 1, 2, 2, 2}, in[2 * 3] = {1, 2, 3, 4, 5, 6}, w[2] = {0.5, 2};
    mva_combine_add(out, in, 2, 3, w);
    double want[] = {1.5, 2, 2.5, 10, 12, 14};
    assert_memory_equal(out, want, sizeof want);
    mva_combine_add(out, in, 2, 3, NULL);
    double want2[] = {2.5, 4, 5.5, 14, 17, 20};
    assert_memory_equal(out, want2, sizeof want2);
}

/* Opens NEL memory stacks of gen() values as one, weighted by w (may be NULL). */
static mva_stack *open_sum(double **data, double *w)
{
    mva_stack *el[NEL], *s = NULL;
    mva_error err = {0, ""};
    for (size_t e = 0; e < NEL; e++) {
        data[e] = gen_element(e);
        assert_int_equal(mva_stack_from_memory(&el[e], data[e], ROWS, COLS, P, &err), MVA_OK);
    }
    mva_stack_info info = *mva_stack_get_info(el[0]);
    snprintf(info.elements, sizeof info.elements, "sum of 3 elements");
    assert_int_equal(mva_combine_open(&s, el, NEL, w, &info, &err), MVA_OK);
    return s;
}

static void test_combine_weighted_sum_per_element(void **state)
{
    (void)state;
    double *data[NEL];
    double *w = malloc(NEL * N * sizeof *w), want[N * P];
    assert_non_null(w);
    for (size_t e = 0; e < NEL; e++)
        for (size_t i = 0; i < N; i++)
            w[e * N + i] = 0.5 + 0.25 * (double)e + 0.125 * (double)(i % 5);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++) {
            want[i * P + j] = 0;
            for (size_t e = 0; e < NEL; e++) /* each element by its own weight, then summed */
                want[i * P + j] += w[e * N + i] * gen(e, i, j);
        }
    mva_stack *s = open_sum(data, w);
    const mva_stack_info *in = mva_stack_get_info(s);
    assert_int_equal(in->dtype, MVA_DTYPE_FLOAT64);
    assert_string_equal(in->elements, "sum of 3 elements");
    mva_error err = {0, ""};
    for (size_t block = 1; block <= N; block += 4) { /* blocks cutting rows anywhere */
        double got[N * P];
        for (size_t first = 0; first < N; first += block) {
            size_t count = N - first < block ? N - first : block;
            assert_int_equal(mva_stack_read(s, first, count, got + first * P, &err), MVA_OK);
        }
        for (size_t k = 0; k < N * P; k++)
            assert_true(fabs(got[k] - want[k]) <= 1e-12 * fabs(want[k]));
    }
    mva_stack_close(s);
    for (size_t e = 0; e < NEL; e++)
        free(data[e]);
}

static void test_combine_plain_sum(void **state)
{
    (void)state;
    double *data[NEL], got[N * P];
    mva_stack *s = open_sum(data, NULL);
    mva_error err = {0, ""};
    assert_int_equal(mva_stack_read(s, 0, N, got, &err), MVA_OK);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++)
            assert_true(got[i * P + j] == gen(0, i, j) + gen(1, i, j) + gen(2, i, j));
    mva_stack_close(s);
    for (size_t e = 0; e < NEL; e++)
        free(data[e]);
}

static void test_combine_refuses_elements_of_other_shapes(void **state)
{
    (void)state;
    double *a = gen_element(0), *b = gen_element(1);
    mva_stack *el[2], *s = NULL;
    mva_error err = {0, ""};
    assert_int_equal(mva_stack_from_memory(&el[0], a, ROWS, COLS, P, &err), MVA_OK);
    assert_int_equal(mva_stack_from_memory(&el[1], b, ROWS, COLS, P - 1, &err), MVA_OK);
    mva_stack_info info = *mva_stack_get_info(el[0]);
    assert_int_equal(mva_combine_open(&s, el, 2, NULL, &info, &err), MVA_EFORMAT);
    assert_null(s);
    assert_contains(err.msg, "detector elements differ in shape");
    assert_contains(err.msg, "3 x 4 x 5");
    assert_contains(err.msg, "3 x 4 x 4");
    free(a);
    free(b);
}

/* A zero, negative or NaN factor: the pixel reads as NaN (masked by the pass engine). */
static void test_combine_masked_pixels_read_as_nan(void **state)
{
    (void)state;
    double *x = gen_element(0), lt[N], got[N * P];
    double *w = malloc(N * sizeof *w);
    assert_non_null(w);
    for (size_t i = 0; i < N; i++) {
        lt[i] = 2.0;
        w[i] = 1.0;
    }
    lt[3] = 0.0;
    lt[7] = -1.0;
    lt[8] = NAN;
    mva_norm_term t = {.kind = MVA_NORM_LIVETIME, .element = -1};
    double ref;
    size_t masked;
    mva_error err = {0, ""};
    assert_int_equal(mva_norm_factor(&t, lt, N, 1, 1, w, &ref, &masked, &err), MVA_OK);
    assert_int_equal(masked, 3);
    assert_true(ref == 2.0);
    mva_stack *one, *s;
    assert_int_equal(mva_stack_from_memory(&one, x, ROWS, COLS, P, &err), MVA_OK);
    mva_stack_info info = *mva_stack_get_info(one);
    assert_int_equal(mva_combine_open(&s, &one, 1, w, &info, &err), MVA_OK);
    assert_int_equal(mva_stack_read(s, 0, N, got, &err), MVA_OK);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++) {
            if (i == 3 || i == 7 || i == 8)
                assert_true(isnan(got[i * P + j]));
            else
                assert_true(got[i * P + j] == x[i * P + j]);
        }
    /* the engine leaves them out */
    mva_roi_def def;
    assert_int_equal(mva_roi_parse("a=0:4", &def, &err), MVA_OK);
    mva_roi_result *r = NULL;
    assert_int_equal(mva_roi_fit(s, &def, 1, NULL, &r, &err), MVA_OK);
    assert_int_equal(r->n_valid, N - 3);
    assert_int_equal(r->mask[3], 1);
    assert_int_equal(r->mask[0], 0);
    mva_roi_result_free(r);
    mva_stack_close(s);
    free(x);
}

/* ---- snake ---- */

static void test_snake_reverses_odd_rows(void **state)
{
    (void)state;
    double *x = gen_element(0), got[N * P];
    mva_stack *s;
    mva_error err = {0, ""};
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    assert_int_equal(mva_snake_wrap(s, &err), MVA_OK);
    assert_int_equal(mva_stack_get_info(s)->snake, MVA_SNAKE_ON);
    for (size_t block = 1; block <= N; block++) {
        for (size_t first = 0; first < N; first += block) {
            size_t count = N - first < block ? N - first : block;
            assert_int_equal(mva_stack_read(s, first, count, got + first * P, &err), MVA_OK);
        }
        for (size_t r = 0; r < ROWS; r++)
            for (size_t c = 0; c < COLS; c++) {
                size_t from = r % 2 ? r * COLS + (COLS - 1 - c) : r * COLS + c;
                assert_memory_equal(got + (r * COLS + c) * P, x + from * P, P * sizeof *x);
            }
    }
    mva_stack_close(s);
    free(x);
}

/* ---- --norm ---- */

static void test_norm_parse_forms(void **state)
{
    (void)state;
    mva_norm_spec ns;
    mva_error err = {0, ""};
    assert_int_equal(mva_norm_parse("livetime", &ns, &err), MVA_OK);
    assert_int_equal(ns.nterms, 1);
    assert_int_equal(ns.term[0].kind, MVA_NORM_LIVETIME);
    assert_string_equal(ns.term[0].name, "livetime");
    assert_false(ns.term[0].has_ref);

    assert_int_equal(mva_norm_parse("dtc,monitor:I0@1e5", &ns, &err), MVA_OK);
    assert_int_equal(ns.nterms, 2);
    assert_int_equal(ns.term[0].kind, MVA_NORM_DTC);
    assert_string_equal(ns.term[0].name, "dtc");
    assert_int_equal(ns.term[1].kind, MVA_NORM_MONITOR);
    assert_string_equal(ns.term[1].name, "I0");
    assert_true(ns.term[1].has_ref && ns.term[1].ref == 1e5);

    assert_int_equal(mva_norm_parse("/scalers/i0@2.5", &ns, &err), MVA_OK);
    assert_int_equal(ns.term[0].kind, MVA_NORM_MONITOR); /* a bare dataset: a monitor */
    assert_string_equal(ns.term[0].path, "/scalers/i0");
    assert_string_equal(ns.term[0].file, "");
    assert_true(ns.term[0].ref == 2.5);
    assert_int_equal(ns.term[0].element, -1);

    assert_int_equal(mva_norm_parse("livetime:other.h5::/MAPS_RAW/livetime[2]", &ns, &err),
                     MVA_OK);
    assert_int_equal(ns.term[0].kind, MVA_NORM_LIVETIME);
    assert_string_equal(ns.term[0].file, "other.h5");
    assert_string_equal(ns.term[0].path, "/MAPS_RAW/livetime");
    assert_int_equal(ns.term[0].element, 2);

    assert_int_equal(mva_norm_parse("dtc:/x/dtc_factors", &ns, &err), MVA_OK);
    assert_int_equal(ns.term[0].kind, MVA_NORM_DTC);
    assert_int_equal(mva_norm_parse("i0", &ns, &err), MVA_OK);
    assert_int_equal(ns.term[0].kind, MVA_NORM_MONITOR);
    assert_string_equal(ns.term[0].name, "i0");
    /* a bare name that is not a kind: a monitor the reader finds (a SPEC counter) */
    assert_int_equal(mva_norm_parse("Seconds@2,I0", &ns, &err), MVA_OK);
    assert_int_equal(ns.term[0].kind, MVA_NORM_MONITOR);
    assert_string_equal(ns.term[0].name, "Seconds");
    assert_true(ns.term[0].ref == 2);
    assert_string_equal(ns.term[1].name, "I0");
}

static void test_norm_parse_refusals(void **state)
{
    (void)state;
    mva_norm_spec ns;
    mva_error err = {0, ""};
    static const char *const bad[] = {"", "foo:/x", "livetime@0", "livetime@-1",
                                      "livetime@x", "/", "monitor:", ",livetime",
                                      "livetime,", "/x[a]", "::/x"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        if (mva_norm_parse(bad[k], &ns, &err) != MVA_EINVAL)
            fail_msg("--norm '%s' accepted", bad[k]);
        assert_contains(err.msg, "expected TERM[,TERM...]");
    }
    /* a bare name that is no kind is a monitor the reader resolves (a SPEC counter) */
    assert_int_equal(mva_norm_parse("I0@1e5", &ns, &err), MVA_OK);
    assert_int_equal(ns.term[0].kind, MVA_NORM_MONITOR);
    assert_string_equal(ns.term[0].name, "I0");
    assert_int_equal(mva_norm_parse("dtc@2", &ns, &err), MVA_EINVAL);
    assert_contains(err.msg, "dead-time factors take no reference");
    assert_int_equal(mva_norm_parse("i0,i0,i0,i0,i0", &ns, &err), MVA_EINVAL);
    assert_contains(err.msg, "at most 4 terms");
}

static void test_norm_factor_reference(void **state)
{
    (void)state;
    /* two elements, live times per element; mean of all = 1.5 */
    double lt[2 * 4] = {1, 2, 1, 2, 2, 1, 2, 1}, w[2 * 4];
    mva_norm_term t = {.kind = MVA_NORM_LIVETIME, .element = -1};
    double ref;
    size_t masked;
    mva_error err = {0, ""};
    for (size_t k = 0; k < 8; k++)
        w[k] = 1;
    assert_int_equal(mva_norm_factor(&t, lt, 4, 2, 2, w, &ref, &masked, &err), MVA_OK);
    assert_true(ref == 1.5);
    for (size_t k = 0; k < 8; k++)
        assert_true(w[k] == 1.5 / lt[k]);
    /* a given reference, one value per pixel shared by both elements */
    t.has_ref = 1;
    t.ref = 3;
    for (size_t k = 0; k < 8; k++)
        w[k] = 1;
    assert_int_equal(mva_norm_factor(&t, lt, 4, 1, 2, w, &ref, &masked, &err), MVA_OK);
    assert_true(ref == 3);
    for (size_t e = 0; e < 2; e++)
        for (size_t i = 0; i < 4; i++)
            assert_true(w[e * 4 + i] == 3 / lt[i]);
    /* dead-time factors multiply, and terms compose */
    mva_norm_term d = {.kind = MVA_NORM_DTC, .element = -1};
    double f[4] = {1.25, 1.5, 1, 2};
    assert_int_equal(mva_norm_factor(&d, f, 4, 1, 2, w, &ref, &masked, &err), MVA_OK);
    for (size_t e = 0; e < 2; e++)
        for (size_t i = 0; i < 4; i++)
            assert_true(w[e * 4 + i] == 3 / lt[i] * f[i]);
    /* neither 1 nor nel sets of values; nothing usable */
    assert_int_equal(mva_norm_factor(&d, f, 2, 3, 2, w, &ref, &masked, &err), MVA_EINVAL);
    assert_contains(err.msg, "for 3 elements, the input has 2");
    double zero[4] = {0, 0, -1, NAN};
    assert_int_equal(mva_norm_factor(&t, zero, 4, 1, 1, w, &ref, &masked, &err), MVA_EINVAL);
    assert_contains(err.msg, "no usable normalisation value");
}

static void test_norm_dtc_from_rates(void **state)
{
    (void)state;
    double icr[3] = {1000, 500, 0}, ocr[3] = {800, 500, 10}, rt[3] = {1, 2, 1},
           lt[3] = {0.5, 1, 1}, dtc[3];
    mva_norm_dtc_from_rates(icr, ocr, rt, lt, 3, dtc);
    assert_true(dtc[0] == 1000.0 / 800.0 * 2.0);
    assert_true(dtc[1] == 2.0);
    assert_true(isnan(dtc[2]));
    mva_norm_dtc_from_rates(icr, ocr, NULL, NULL, 2, dtc);
    assert_true(dtc[0] == 1.25);
}

/* ---- factor datasets ---- */

static void put_dataset(hid_t f, const char *name, int rank, const hsize_t *dims,
                        const double *v)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, name, H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
}

/* Live time of element e at pixel i (positive, distinct). */
static double lt_of(size_t e, size_t i)
{
    return 0.5 + 0.1 * (double)e + 0.01 * (double)i;
}

/* factors.h5: /n (N), /rc (ROWS, COLS), /erc (NEL, ROWS, COLS), /rce (ROWS, COLS, NEL),
 * /bad (ROWS + 1, COLS); and /stack (ROWS, COLS, P) of gen(0) values. */
static const char *put_factors(char *path)
{
    double erc[NEL * N], rce[N * NEL], bad[(ROWS + 1) * COLS] = {0};
    for (size_t e = 0; e < NEL; e++)
        for (size_t i = 0; i < N; i++) {
            erc[e * N + i] = lt_of(e, i);
            rce[i * NEL + e] = lt_of(e, i);
        }
    hid_t f = H5Fcreate(tmp_path(path, "factors.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hsize_t dn[1] = {N}, drc[2] = {ROWS, COLS}, derc[3] = {NEL, ROWS, COLS},
            drce[3] = {ROWS, COLS, NEL}, dne[2] = {N, NEL}, dbad[2] = {ROWS + 1, COLS},
            ds[3] = {ROWS, COLS, P};
    put_dataset(f, "n", 1, dn, erc);
    put_dataset(f, "rc", 2, drc, erc + N);
    put_dataset(f, "erc", 3, derc, erc);
    put_dataset(f, "rce", 3, drce, rce);
    put_dataset(f, "ne", 2, dne, rce); /* (pixels, elements), as Odin's meta file */
    put_dataset(f, "bad", 2, dbad, bad);
    double *x = gen_element(0);
    put_dataset(f, "stack", 3, ds, x);
    free(x);
    H5Fclose(f);
    return path;
}

static void test_norm_read_dataset_shapes(void **state)
{
    (void)state;
    char path[512];
    put_factors(path);
    double *v;
    size_t vnel;
    mva_error err = {0, ""};
    assert_int_equal(mva_norm_read_dataset(path, "/n", -1, ROWS, COLS, NEL, &v, &vnel, &err),
                     MVA_OK);
    assert_int_equal(vnel, 1);
    for (size_t i = 0; i < N; i++)
        assert_true(v[i] == lt_of(0, i));
    free(v);
    assert_int_equal(mva_norm_read_dataset(path, "/rc", -1, ROWS, COLS, 1, &v, &vnel, &err),
                     MVA_OK);
    assert_int_equal(vnel, 1);
    assert_true(v[5] == lt_of(1, 5));
    free(v);
    static const char *const per_element[] = {"/erc", "/rce", "/ne"};
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(mva_norm_read_dataset(path, per_element[k], -1, ROWS, COLS, NEL, &v,
                                               &vnel, &err), MVA_OK);
        assert_int_equal(vnel, NEL);
        for (size_t e = 0; e < NEL; e++)
            for (size_t i = 0; i < N; i++)
                assert_true(v[e * N + i] == lt_of(e, i));
        free(v);
        /* one element of it, for a stack of that element */
        assert_int_equal(mva_norm_read_dataset(path, per_element[k], 2, ROWS, COLS, 1, &v,
                                               &vnel, &err), MVA_OK);
        assert_int_equal(vnel, 1);
        for (size_t i = 0; i < N; i++)
            assert_true(v[i] == lt_of(2, i));
        free(v);
    }
}

static void test_norm_read_dataset_refusals(void **state)
{
    (void)state;
    char path[512], want[1024];
    put_factors(path);
    double *v = (double *)1;
    size_t vnel;
    mva_error err = {0, ""};
    assert_int_equal(mva_norm_read_dataset(path, "/bad", -1, ROWS, COLS, 1, &v, &vnel, &err),
                     MVA_EFORMAT);
    assert_null(v);
    snprintf(want, sizeof want, "--norm: %s::/bad has shape (4, 4); a per-pixel factor of "
             "this 3 x 4 map must be (12), (3, 4)", path);
    assert_string_equal(err.msg, want);
    /* per-element factors for a stack of another number of elements */
    assert_int_equal(mva_norm_read_dataset(path, "/erc", -1, ROWS, COLS, 2, &v, &vnel, &err),
                     MVA_EFORMAT);
    assert_contains(err.msg, "has shape (3, 3, 4)");
    assert_contains(err.msg, "(2, 3, 4), (3, 4, 2) or (12, 2) (pixels, elements)");
    /* and for a single one, without [E] */
    assert_int_equal(mva_norm_read_dataset(path, "/erc", -1, ROWS, COLS, 1, &v, &vnel, &err),
                     MVA_EFORMAT);
    assert_contains(err.msg, "must be (12), (3, 4)");
    assert_int_equal(mva_norm_read_dataset(path, "/erc", 3, ROWS, COLS, 1, &v, &vnel, &err),
                     MVA_EFORMAT);
    assert_contains(err.msg, "/erc[3] has shape (3, 3, 4)");
    assert_int_equal(mva_norm_read_dataset(path, "/none", -1, ROWS, COLS, 1, &v, &vnel, &err),
                     MVA_ENOTFOUND);
    assert_contains(err.msg, "no dataset /none");
}

static void test_norm_build_per_element_before_sum(void **state)
{
    (void)state;
    char path[512], desc[512];
    put_factors(path);
    double *w;
    unsigned char use[NEL] = {1, 0, 1};
    mva_error err = {0, ""};
    assert_int_equal(mva_norm_build("livetime:/erc@2", path, ROWS, COLS, NEL, use, NULL, NULL,
                                    &w, desc, sizeof desc, &err), MVA_OK);
    /* the weights of elements 0 and 2, in that order */
    for (size_t i = 0; i < N; i++) {
        assert_true(w[i] == 2 / lt_of(0, i));
        assert_true(w[N + i] == 2 / lt_of(2, i));
    }
    free(w);
    assert_string_equal(desc, "divided by live time /erc (one per element), times 2 (given)");
    /* a layout name without a layout */
    assert_int_equal(mva_norm_build("livetime", path, ROWS, COLS, NEL, use, NULL, NULL, &w,
                                    desc, sizeof desc, &err), MVA_EINVAL);
    assert_null(w);
    assert_contains(err.msg, "has no recognised layout to find 'livetime' in");
    assert_contains(err.msg, "--norm livetime:/path/to/livetime");
    /* NULL spec: no weights */
    assert_int_equal(mva_norm_build(NULL, path, ROWS, COLS, NEL, use, NULL, NULL, &w, desc,
                                    sizeof desc, &err), MVA_OK);
    assert_null(w);
    assert_string_equal(desc, "");
}

/* A resolver standing for a layout: "livetime" is lt_of() per element. */
static int fake_layout(void *ctx, const mva_norm_term *t, double **v, size_t *vnel,
                       char *source, size_t cap, mva_error *err)
{
    (void)ctx;
    if (strcmp(t->name, "livetime") != 0)
        return mva_error_set(err, MVA_ENOTFOUND, "no %s here (the layout has livetime)",
                             t->name);
    *v = malloc(NEL * N * sizeof **v);
    assert_non_null(*v);
    for (size_t e = 0; e < NEL; e++)
        for (size_t i = 0; i < N; i++)
            (*v)[e * N + i] = lt_of(e, i);
    *vnel = NEL;
    snprintf(source, cap, "/fake/livetime");
    return MVA_OK;
}

static void test_norm_build_through_a_layout(void **state)
{
    (void)state;
    char desc[512];
    double *w, mean = 0;
    mva_error err = {0, ""};
    for (size_t e = 0; e < NEL; e++)
        for (size_t i = 0; i < N; i++)
            mean += lt_of(e, i) / (NEL * N);
    assert_int_equal(mva_norm_build("livetime", "x.h5", ROWS, COLS, NEL, NULL, fake_layout,
                                    NULL, &w, desc, sizeof desc, &err), MVA_OK);
    for (size_t e = 0; e < NEL; e++)
        for (size_t i = 0; i < N; i++)
            assert_true(fabs(w[e * N + i] - mean / lt_of(e, i)) < 1e-15);
    free(w);
    assert_contains(desc, "divided by live time /fake/livetime (one per element), times ");
    assert_contains(desc, "(its mean)");
    assert_int_equal(mva_norm_build("i0", "x.h5", ROWS, COLS, NEL, NULL, fake_layout, NULL, &w,
                                    desc, sizeof desc, &err), MVA_ENOTFOUND);
    assert_contains(err.msg, "no i0 here");
}

/* ---- the noise model of a normalised map ---- */

static uint64_t rng_state = 88172645463325252ull;

static double uniform01(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double poisson(double lambda)
{
    double l = exp(-lambda), prod = uniform01();
    double k = 0;
    while (prod > l) {
        prod *= uniform01();
        k++;
    }
    return k;
}

enum { NR = 40, NC = 45, NN = NR * NC, NP = 64 };

/* Expected counts per second of pixel i, channel j: two peaks of varying abundance on a flat
 * background (rank 3 before centring). */
static double rate(size_t i, size_t j)
{
    double a = (double)(i % NC) / NC, b = (double)(i / NC) / NR;
    double g1 = exp(-0.5 * ((double)j - 20) * ((double)j - 20) / 9.0);
    double g2 = exp(-0.5 * ((double)j - 45) * ((double)j - 45) / 9.0);
    return 40 * a * g1 + 30 * b * g2 + 2;
}

/* Live time by column: 0.25, 1 or 2.5 s (mean 1.25). */
static double live(size_t i)
{
    static const double lt[3] = {0.25, 1.0, 2.5};
    return lt[(i % NC) % 3];
}

static size_t k_auto(mva_stack *s)
{
    mva_pca_opts o = mva_pca_opts_default();
    o.k = 12;
    o.k_rule = MVA_PCA_K_NOISE;
    o.poisson = 1;
    o.method = MVA_PCA_EXACT;
    mva_pca_model *m = NULL;
    mva_error err = {0, ""};
    assert_int_equal(mva_pca_fit(s, &o, NULL, 0, NULL, &m, &err), MVA_OK);
    size_t k = m->k;
    mva_pca_model_free(m);
    return k;
}

/* -k auto on a live-time-normalised map finds the components it finds on counts of the same
 * dwell: the noise edge is that of the raw counts (variance factor w per pixel).  Taken as
 * counts, the normalised map's noise is misjudged and noise components pass the edge. */
static void test_noise_model_of_a_normalised_map(void **state)
{
    (void)state;
    double *raw = malloc(NN * NP * sizeof *raw), *even = malloc(NN * NP * sizeof *even),
           *norm = malloc(NN * NP * sizeof *norm), *w = malloc(NN * sizeof *w);
    assert_true(raw && even && norm && w);
    for (size_t i = 0; i < NN; i++) {
        w[i] = 1.25 / live(i);
        for (size_t j = 0; j < NP; j++) {
            raw[i * NP + j] = poisson(live(i) * rate(i, j));
            even[i * NP + j] = poisson(1.25 * rate(i, j));
            norm[i * NP + j] = w[i] * raw[i * NP + j];
        }
    }
    mva_stack *s_even, *s_raw, *s_norm, *s_plain;
    mva_error err = {0, ""};
    assert_int_equal(mva_stack_from_memory(&s_even, even, NR, NC, NP, &err), MVA_OK);
    assert_int_equal(mva_stack_from_memory(&s_raw, raw, NR, NC, NP, &err), MVA_OK);
    assert_int_equal(mva_stack_from_memory(&s_plain, norm, NR, NC, NP, &err), MVA_OK);
    mva_stack_info info = *mva_stack_get_info(s_raw);
    assert_int_equal(mva_combine_open(&s_norm, &s_raw, 1, w, &info, &err), MVA_OK);
    size_t k_even = k_auto(s_even), k_norm = k_auto(s_norm), k_plain = k_auto(s_plain);
    print_message("k auto: counts of even dwell %zu, normalised with its noise model %zu, "
                  "normalised taken as counts %zu\n", k_even, k_norm, k_plain);
    assert_int_equal(k_even, 3); /* two peaks and the background, scaled */
    assert_int_equal(k_norm, k_even);
    assert_true(k_plain > k_even);
    /* the factors the engine hands on: w for one element */
    double f[NC];
    double x[NC * NP];
    assert_int_equal(mva_stack_read(s_norm, 0, NC, x, &err), MVA_OK);
    assert_int_equal(mva_stack_noise(s_norm, 0, NC, f, &err), 1);
    for (size_t i = 0; i < NC; i++)
        assert_true(fabs(f[i] - 1.25 / live(i)) < 1e-12);
    assert_int_equal(mva_stack_noise(s_even, 0, NC, f, &err), 0);
    mva_stack_close(s_even);
    mva_stack_close(s_norm);
    mva_stack_close(s_plain);
    free(raw);
    free(even);
    free(norm);
}

/* Several elements with their own weights: factor sum_e w_e^2 t_e / sum_e w_e t_e. */
static void test_noise_factor_of_a_weighted_sum(void **state)
{
    (void)state;
    double *data[NEL];
    double *w = malloc(NEL * N * sizeof *w);
    assert_non_null(w);
    for (size_t e = 0; e < NEL; e++)
        for (size_t i = 0; i < N; i++)
            w[e * N + i] = 1.0 + (double)e + 0.5 * (double)(i % 3);
    double want[N];
    for (size_t i = 0; i < N; i++) {
        double num = 0, den = 0;
        for (size_t e = 0; e < NEL; e++) {
            double t = 0;
            for (size_t j = 0; j < P; j++)
                t += gen(e, i, j);
            num += w[e * N + i] * w[e * N + i] * t;
            den += w[e * N + i] * t;
        }
        want[i] = num / den;
    }
    mva_stack *s = open_sum(data, w);
    mva_error err = {0, ""};
    double x[N * P], f[N];
    assert_int_equal(mva_snake_wrap(s, &err), MVA_OK); /* and mapped like the pixels */
    assert_int_equal(mva_stack_read(s, 2, N - 2, x, &err), MVA_OK);
    assert_int_equal(mva_stack_noise(s, 2, N - 2, f, &err), 1);
    for (size_t i = 2; i < N; i++) {
        size_t r = i / COLS, c = i % COLS, from = r % 2 ? r * COLS + COLS - 1 - c : i;
        assert_true(fabs(f[i - 2] - want[from]) < 1e-12 * want[from]);
    }
    mva_stack_close(s);
    for (size_t e = 0; e < NEL; e++)
        free(data[e]);
}

/* ---- the stage in mva_stack_open ---- */

static void test_stage_on_a_single_stack(void **state)
{
    (void)state;
    char path[512], input[600];
    put_factors(path);
    snprintf(input, sizeof input, "%s::/stack", path);
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    o.channel_axis = MVA_STACK_AXIS_LAST; /* a few channels: the HDF5 reader wants the axis named */
    mva_error err = {0, ""};
    mva_stack *s = NULL;
    /* --norm from a dataset of the input, then snake */
    o.norm = "livetime:/rc@4";
    o.snake = MVA_SNAKE_ON;
    assert_int_equal(mva_stack_open(&s, input, &o, &err), MVA_OK);
    const mva_stack_info *in = mva_stack_get_info(s);
    assert_string_equal(in->norm, "divided by live time /rc, times 4 (given)");
    assert_int_equal(in->snake, MVA_SNAKE_ON);
    assert_int_equal(in->dtype, MVA_DTYPE_FLOAT64);
    double got[N * P];
    assert_int_equal(mva_stack_read(s, 0, N, got, &err), MVA_OK);
    for (size_t r = 0; r < ROWS; r++)
        for (size_t c = 0; c < COLS; c++) {
            size_t from = r % 2 ? r * COLS + COLS - 1 - c : r * COLS + c;
            for (size_t j = 0; j < P; j++) /* weights of the stored pixel, then reordered */
                assert_true(fabs(got[(r * COLS + c) * P + j] -
                                 4 / lt_of(1, from) * gen(0, from, j)) < 1e-12);
        }
    mva_stack_close(s);
    /* refusals: --detector on one element, a factor of the wrong shape, a layout name */
    memset(&o, 0, sizeof o);
    o.channel_axis = MVA_STACK_AXIS_LAST;
    o.detector = "1";
    assert_int_equal(mva_stack_open(&s, input, &o, &err), MVA_EINVAL);
    assert_null(s);
    assert_contains(err.msg, path);
    assert_contains(err.msg, "--detector 1: the input has a single detector element");
    memset(&o, 0, sizeof o);
    o.channel_axis = MVA_STACK_AXIS_LAST;
    o.norm = "/bad";
    assert_int_equal(mva_stack_open(&s, input, &o, &err), MVA_EFORMAT);
    assert_contains(err.msg, "/bad has shape (4, 4)");
    o.norm = "dtc";
    assert_int_equal(mva_stack_open(&s, input, &o, &err), MVA_EINVAL);
    assert_contains(err.msg, "no recognised layout");
}

static int setup(void **state)
{
    (void)state;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return test_tmpdir_create("combine");
}

static int teardown(void **state)
{
    (void)state;
    return test_tmpdir_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detector_select_forms),
        cmocka_unit_test(test_detector_select_refusals),
        cmocka_unit_test(test_detector_describe),
        cmocka_unit_test(test_combine_add_kernel),
        cmocka_unit_test(test_combine_weighted_sum_per_element),
        cmocka_unit_test(test_combine_plain_sum),
        cmocka_unit_test(test_combine_refuses_elements_of_other_shapes),
        cmocka_unit_test(test_combine_masked_pixels_read_as_nan),
        cmocka_unit_test(test_snake_reverses_odd_rows),
        cmocka_unit_test(test_norm_parse_forms),
        cmocka_unit_test(test_norm_parse_refusals),
        cmocka_unit_test(test_norm_factor_reference),
        cmocka_unit_test(test_norm_dtc_from_rates),
        cmocka_unit_test(test_norm_read_dataset_shapes),
        cmocka_unit_test(test_norm_read_dataset_refusals),
        cmocka_unit_test(test_norm_build_per_element_before_sum),
        cmocka_unit_test(test_norm_build_through_a_layout),
        cmocka_unit_test(test_noise_model_of_a_normalised_map),
        cmocka_unit_test(test_noise_factor_of_a_weighted_sum),
        cmocka_unit_test(test_stage_on_a_single_stack),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
