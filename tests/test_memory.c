/* The in-memory reader: every dtype converted exactly, strided views (channels first,
 * reversed, sliced) read in place, nothing copied at open, bad arguments refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mva.h"

enum { ROWS = 3, COLS = 4, P = 5, N = ROWS * COLS };

/* Value of pixel i, channel j: small, signed for the signed types, exact in every type. */
static double value(size_t i, size_t j, int is_signed)
{
    double v = (double)((i * 7 + j * 3) % 23);
    return is_signed && (i + j) % 2 ? -v : v;
}

#define FILL_AS(T, buf, sgn)                                                                   \
    do {                                                                                       \
        T *d = (T *)(buf);                                                                     \
        for (size_t i = 0; i < N; i++)                                                         \
            for (size_t j = 0; j < P; j++)                                                     \
                d[i * P + j] = (T)value(i, j, sgn);                                            \
    } while (0)

static void fill(mva_dtype t, void *buf)
{
    switch (t) {
    case MVA_DTYPE_INT8: FILL_AS(int8_t, buf, 1); break;
    case MVA_DTYPE_UINT8: FILL_AS(uint8_t, buf, 0); break;
    case MVA_DTYPE_INT16: FILL_AS(int16_t, buf, 1); break;
    case MVA_DTYPE_UINT16: FILL_AS(uint16_t, buf, 0); break;
    case MVA_DTYPE_INT32: FILL_AS(int32_t, buf, 1); break;
    case MVA_DTYPE_UINT32: FILL_AS(uint32_t, buf, 0); break;
    case MVA_DTYPE_INT64: FILL_AS(int64_t, buf, 1); break;
    case MVA_DTYPE_UINT64: FILL_AS(uint64_t, buf, 0); break;
    case MVA_DTYPE_FLOAT32: FILL_AS(float, buf, 1); break;
    default: FILL_AS(double, buf, 1); break;
    }
}

static int is_signed(mva_dtype t)
{
    return t != MVA_DTYPE_UINT8 && t != MVA_DTYPE_UINT16 && t != MVA_DTYPE_UINT32 &&
           t != MVA_DTYPE_UINT64;
}

static void test_memory_reads_every_dtype(void **state)
{
    (void)state;
    for (mva_dtype t = MVA_DTYPE_INT8; t <= MVA_DTYPE_FLOAT64; t++) {
        uint64_t buf[N * P]; /* room for the widest type, aligned */
        double out[N * P];
        fill(t, buf);
        mva_stack *s = NULL;
        mva_error err;
        assert_int_equal(mva_memory_open(&s, buf, t, ROWS, COLS, P, NULL, NULL, &err), MVA_OK);
        const mva_stack_info *info = mva_stack_get_info(s);
        assert_int_equal(info->dtype, t);
        assert_int_equal(info->rows * info->cols, N);
        assert_string_equal(info->format, "memory");
        /* Two reads that cut the map in the middle of a row. */
        assert_int_equal(mva_stack_read(s, 0, 5, out, &err), MVA_OK);
        assert_int_equal(mva_stack_read(s, 5, N - 5, out + 5 * P, &err), MVA_OK);
        for (size_t i = 0; i < N; i++)
            for (size_t j = 0; j < P; j++)
                assert_true(out[i * P + j] == value(i, j, is_signed(t)));
        mva_stack_close(s);
    }
}

/* The same map stored channels first (P, ROWS, COLS), read through strides. */
static void test_memory_reads_channels_first_by_strides(void **state)
{
    (void)state;
    uint16_t cf[P * N];
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++)
            cf[j * N + i] = (uint16_t)value(i, j, 0);
    ptrdiff_t st[3] = {COLS * 2, 2, N * 2};
    mva_stack *s = NULL;
    mva_error err;
    assert_int_equal(mva_memory_open(&s, cf, MVA_DTYPE_UINT16, ROWS, COLS, P, st, NULL, &err),
                     MVA_OK);
    assert_non_null(strstr(mva_stack_get_info(s)->storage, "strides 8,2,24"));
    double out[N * P];
    assert_int_equal(mva_stack_read(s, 0, N, out, &err), MVA_OK);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++)
            assert_true(out[i * P + j] == value(i, j, 0));
    mva_stack_close(s);
}

/* Rows reversed (negative stride) and every other channel (a slice x[::-1, :, ::2]). */
static void test_memory_reads_reversed_and_sliced_views(void **state)
{
    (void)state;
    float x[N * P];
    fill(MVA_DTYPE_FLOAT32, x);
    size_t pc = (P + 1) / 2;
    ptrdiff_t st[3] = {-(ptrdiff_t)(COLS * P * sizeof(float)), P * sizeof(float),
                       2 * sizeof(float)};
    const float *last_row = x + (ROWS - 1) * COLS * P;
    mva_stack *s = NULL;
    mva_error err;
    assert_int_equal(
        mva_memory_open(&s, last_row, MVA_DTYPE_FLOAT32, ROWS, COLS, pc, st, NULL, &err), MVA_OK);
    double out[N * P];
    assert_int_equal(mva_stack_read(s, 0, N, out, &err), MVA_OK);
    for (size_t r = 0; r < ROWS; r++)
        for (size_t c = 0; c < COLS; c++)
            for (size_t j = 0; j < pc; j++)
                assert_true(out[(r * COLS + c) * pc + j] ==
                            value((ROWS - 1 - r) * COLS + c, 2 * j, 1));
    mva_stack_close(s);
}

/* Nothing is copied at open: a value changed afterwards is what the next read sees. */
static void test_memory_reads_in_place(void **state)
{
    (void)state;
    int32_t x[N * P];
    fill(MVA_DTYPE_INT32, x);
    mva_calib cal = {1, 0.1, 0.01, 0};
    mva_stack *s = NULL;
    mva_error err;
    assert_int_equal(mva_memory_open(&s, x, MVA_DTYPE_INT32, 1, N, P, NULL, &cal, &err), MVA_OK);
    assert_true(mva_stack_get_info(s)->calib.known);
    assert_true(mva_stack_get_info(s)->calib.b == 0.01);
    x[7 * P + 2] = 123456;
    double out[P];
    assert_int_equal(mva_stack_read(s, 7, 1, out, &err), MVA_OK);
    assert_true(out[2] == 123456.0);
    mva_stack_close(s);
}

static void test_memory_refuses_bad_arguments(void **state)
{
    (void)state;
    double x[4] = {0};
    mva_stack *s = NULL;
    mva_error err;
    assert_int_equal(mva_memory_open(&s, x, MVA_DTYPE_UNKNOWN, 1, 2, 2, NULL, NULL, &err),
                     MVA_EINVAL);
    assert_string_equal(err.msg, "memory stack: unknown element type 0 (expected an integer "
                                 "of 1, 2, 4 or 8 bytes, float32 or float64)");
    assert_int_equal(mva_memory_open(&s, x, MVA_DTYPE_FLOAT64, 0, 2, 2, NULL, NULL, &err),
                     MVA_ERANGE);
    assert_string_equal(err.msg, "memory stack: invalid shape 0 x 2 x 2");
    assert_int_equal(mva_memory_open(&s, NULL, MVA_DTYPE_FLOAT64, 1, 2, 2, NULL, NULL, &err),
                     MVA_ERANGE);
    assert_string_equal(err.msg, "memory stack: invalid shape 1 x 2 x 2 (no data)");
    assert_int_equal(mva_memory_open(&s, x, MVA_DTYPE_FLOAT64, SIZE_MAX / 2, 4, 2, NULL, NULL,
                                     &err),
                     MVA_ERANGE);
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_reads_every_dtype),
        cmocka_unit_test(test_memory_reads_channels_first_by_strides),
        cmocka_unit_test(test_memory_reads_reversed_and_sliced_views),
        cmocka_unit_test(test_memory_reads_in_place),
        cmocka_unit_test(test_memory_refuses_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
