/* The spill (src/spill.c): after a first pass, the values come back from the copy bit for bit,
 * for every stored type and in blocks unlike the first pass's, while the input itself is no
 * longer read, whichever narrow type each block took; a first pass that starts inside
 * the map or stops early copies what it read; the scratch file leaves nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mva.h"
#include "util/tmpdir.h"

enum { ROWS = 6, COLS = 10, N = ROWS * COLS, P = 7 };

/* A reader over doubles that stand for values of any stored type; once `gone` is set it
 * fails, as an input that was never to be read again would. */
typedef struct {
    const double *x;
    int gone;
    size_t reads;
} fake;

static int fake_read(void *self, size_t first, size_t count, double *out, mva_error *err)
{
    fake *f = self;
    if (f->gone)
        return mva_error_set(err, MVA_EIO, "input read again at pixel %zu", first);
    f->reads++;
    memcpy(out, f->x + first * P, count * P * sizeof *out);
    return MVA_OK;
}

static void fake_close(void *self)
{
    (void)self;
}

static const mva_reader_ops fake_ops = {"fake", fake_read, fake_close, NULL};

static mva_stack *new_fake(fake *f, mva_dtype t)
{
    mva_stack_info info;
    memset(&info, 0, sizeof info);
    info.rows = ROWS;
    info.cols = COLS;
    info.channels = P;
    info.dtype = t;
    strcpy(info.format, "fake");
    strcpy(info.source, "fake input");
    mva_stack *s = NULL;
    mva_error err = {0, ""};
    assert_int_equal(mva_stack_new(&s, &fake_ops, f, &info, &err), MVA_OK);
    return s;
}

/* The same, spilled into the test's directory. */
static mva_stack *open_fake(fake *f, mva_dtype t)
{
    mva_stack *s = new_fake(f, t);
    mva_error err = {0, ""};
    assert_int_equal(mva_stack_spill(s, tmpdir, &err), MVA_OK);
    return s;
}

/* Reads pixels [from, to) in blocks of `block` and compares them with x, bit for bit. */
static void read_and_check(mva_stack *s, const double *x, size_t from, size_t to, size_t block)
{
    double got[N * P];
    mva_error err = {0, ""};
    for (size_t first = from; first < to; first += block) {
        size_t count = to - first < block ? to - first : block;
        if (mva_stack_read(s, first, count, got, &err) != MVA_OK)
            fail_msg("pixels %zu..%zu: %s", first, first + count, err.msg);
        if (memcmp(got, x + first * P, count * P * sizeof *got) != 0)
            fail_msg("pixels %zu..%zu differ from the input", first, first + count);
    }
}

/* Values that type t can hold, whole rows of them in different ranges so that the copy
 * takes uint8, uint16 and the wide type in turn. */
static void make_values(double *x, mva_dtype t)
{
    int is_signed = t == MVA_DTYPE_INT16 || t == MVA_DTYPE_INT32 || t == MVA_DTYPE_INT64 ||
                    t == MVA_DTYPE_FLOAT32 || t == MVA_DTYPE_FLOAT64;
    double big = t == MVA_DTYPE_UINT16 ? 60000.0 : t == MVA_DTYPE_INT16 ? 30000.0 : 70000.0;
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++) {
            size_t row = i / COLS;
            double v = (double)((i * 37 + j * 11) % 200);
            if (t == MVA_DTYPE_UINT8)
                v = (double)((i * 37 + j * 11) % 256);
            else if (row == 2)
                v += 1000.0;                 /* 16 bits */
            else if (row == 3)
                v += big;                    /* wider, or negative 16 bits */
            else if (row == 4 && is_signed)
                v = -v - 1.0;
            if (t == MVA_DTYPE_FLOAT32 && row == 5)
                v += 0.25;                   /* fractions */
            if (t == MVA_DTYPE_FLOAT64 && i == 51 && j == 3)
                v = NAN;
            if (t == MVA_DTYPE_INT64 && row == 5)
                v = 9007199254740993.0 * (double)(j + 1); /* beyond 2^53 */
            x[i * P + j] = v;
        }
}

static void check_type(mva_dtype t)
{
    double x[N * P];
    make_values(x, t);
    fake f = {x, 0, 0};
    mva_stack *s = open_fake(&f, t);
    read_and_check(s, x, 0, N, 7); /* the first pass copies */
    assert_true(mva_stack_spill_used(s) <= mva_stack_spill_bytes(s));
    f.gone = 1;
    read_and_check(s, x, 0, N, 5); /* later passes, other blocks: from the copy */
    read_and_check(s, x, 0, N, N);
    read_and_check(s, x, 13, 29, 16);
    mva_stack_close(s);
}

static void test_spill_gives_back_every_type_exactly(void **state)
{
    (void)state;
    mva_dtype types[] = {MVA_DTYPE_UINT8,  MVA_DTYPE_UINT16,  MVA_DTYPE_INT16,
                         MVA_DTYPE_INT32,  MVA_DTYPE_UINT32,  MVA_DTYPE_INT64,
                         MVA_DTYPE_FLOAT32, MVA_DTYPE_FLOAT64};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        check_type(types[t]);
}

/* Counts up to 200 in uint32: copied as uint8, a byte a value; blocks of 9 then 4. */
static void test_spill_of_small_counts_leaves_no_file(void **state)
{
    (void)state;
    double x[N * P];
    for (size_t i = 0; i < N * P; i++)
        x[i] = (double)(i % 201);
    fake f = {x, 0, 0};
    mva_stack *s = open_fake(&f, MVA_DTYPE_UINT32);
    assert_int_equal(mva_stack_spill_bytes(s), (uint64_t)N * P * 4);
    assert_int_equal(mva_stack_spill_used(s), 0);
    read_and_check(s, x, 0, N, 9);
    assert_int_equal(mva_stack_spill_used(s), (uint64_t)N * P); /* one byte a value */
    f.gone = 1;
    read_and_check(s, x, 0, N, 4);
    mva_stack_close(s);
    /* the scratch file went with its name: nothing is left in the directory */
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL)
        files += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files, 0);
}

/* A first pass over one slab (as one MPI process reads) that stops early: what it read is in
 * the copy, the rest still comes from the input, and only from it. */
static void test_spill_covers_what_the_first_pass_read(void **state)
{
    (void)state;
    double x[N * P];
    make_values(x, MVA_DTYPE_UINT32);
    fake f = {x, 0, 0};
    mva_stack *s = open_fake(&f, MVA_DTYPE_UINT32);
    read_and_check(s, x, 20, 40, 6);
    f.gone = 1;
    read_and_check(s, x, 20, 40, 20);
    double got[N * P];
    mva_error err = {0, ""};
    assert_int_equal(mva_stack_read(s, 40, 3, got, &err), MVA_EIO);
    assert_non_null(strstr(err.msg, "input read again at pixel 40"));
    assert_int_equal(mva_stack_read(s, 18, 4, got, &err), MVA_EIO); /* straddles lo */
    f.gone = 0;
    read_and_check(s, x, 40, 50, 10); /* continues the copy */
    f.gone = 1;
    read_and_check(s, x, 20, 50, 30);
    mva_stack_close(s);
}

static void test_spill_into_missing_directory_is_eio(void **state)
{
    (void)state;
    double x[N * P] = {0};
    fake f = {x, 0, 0};
    mva_stack *s = new_fake(&f, MVA_DTYPE_UINT16);
    mva_error err = {0, ""};
    assert_int_equal(mva_stack_spill(s, "/nonexistent-mva-dir", &err), MVA_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent-mva-dir"));
    read_and_check(s, x, 0, N, N); /* unchanged: reads the input */
    assert_int_equal(f.reads, 1);
    assert_int_equal(mva_stack_spill_used(s), 0);
    mva_stack_close(s);
}

static int setup(void **state)
{
    (void)state;
    return test_tmpdir_create("spill");
}

static int teardown(void **state)
{
    (void)state;
    return test_tmpdir_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spill_gives_back_every_type_exactly),
        cmocka_unit_test(test_spill_of_small_counts_leaves_no_file),
        cmocka_unit_test(test_spill_covers_what_the_first_pass_read),
        cmocka_unit_test(test_spill_into_missing_directory_is_eio),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
