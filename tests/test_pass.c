/* The pass engine: every pixel seen once and in order, for any block size, with and without
 * read-ahead; progress; cancellation; reader errors reach the caller. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mva.h"

enum { ROWS = 9, COLS = 7, N = ROWS * COLS, P = 5 };

typedef struct {
    size_t next;     /* first pixel expected in the next block */
    double checksum; /* sum of value * (pixel index + 1) */
    int begun, finished, fail_at;
} counter;

static int c_begin(void *self, const mva_stack_info *info, mva_error *err)
{
    (void)err;
    counter *c = self;
    c->begun = (int)info->channels;
    return MVA_OK;
}

static int c_consume(void *self, const mva_block *b, mva_error *err)
{
    counter *c = self;
    if (b->first != c->next)
        return mva_error_set(err, MVA_EINVAL, "out of order");
    if (c->fail_at >= 0 && (size_t)c->fail_at >= b->first && (size_t)c->fail_at < b->first + b->npix)
        return mva_error_set(err, MVA_EFORMAT, "accumulator failed at pixel %d", c->fail_at);
    for (size_t i = 0; i < b->npix; i++)
        for (size_t j = 0; j < b->p; j++)
            c->checksum += b->x[i * b->p + j] * (double)(b->first + i + 1);
    c->next += b->npix;
    return MVA_OK;
}

static int c_finish(void *self, mva_error *err)
{
    (void)err;
    ((counter *)self)->finished = 1;
    return MVA_OK;
}

static void fill(double *x)
{
    for (size_t i = 0; i < N * P; i++)
        x[i] = (double)(i % 17) + 0.25;
}

static void test_pass_visits_every_pixel_in_order(void **state)
{
    (void)state;
    double x[N * P], want = 0;
    fill(x);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++)
            want += x[i * P + j] * (double)(i + 1);
    mva_stack *s;
    mva_error err;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    size_t sizes[] = {1, 2, 7, 8, 62, 63, 64, 1000};
    for (int ra = 0; ra < 2; ra++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            counter c = {0, 0, 0, 0, -1};
            counter d = {0, 0, 0, 0, -1};
            mva_accum acc[2] = {{&c, c_begin, c_consume, c_finish},
                                {&d, NULL, c_consume, NULL}};
            mva_pass_opts po;
            memset(&po, 0, sizeof po);
            po.block_pixels = sizes[k];
            po.no_readahead = ra;
            assert_int_equal(mva_pass_run(s, acc, 2, &po, &err), MVA_OK);
            assert_int_equal(c.next, N);
            assert_true(c.checksum == want && d.checksum == want);
            assert_int_equal(c.begun, P);
            assert_int_equal(c.finished, 1);
        }
    mva_stack_close(s);
}

static void test_pass_block_size_follows_budget(void **state)
{
    (void)state;
    double x[N * P];
    fill(x);
    mva_stack *s;
    mva_error err;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    mva_pass_opts po;
    memset(&po, 0, sizeof po);
    /* room for two double blocks and the stored copy (float64 here) of 10 pixels */
    po.mem_budget = P * (2 * sizeof(double) + sizeof(double)) * 10;
    assert_int_equal(mva_pass_block_pixels(s, &po), 10);
    po.mem_budget = 1; /* too small: still one pixel at a time */
    assert_int_equal(mva_pass_block_pixels(s, &po), 1);
    po.mem_budget = 0;
    assert_int_equal(mva_pass_block_pixels(s, &po), N);
    mva_stack_close(s);
}

typedef struct {
    int calls;
    int cancel_after;
    double last;
} prog;

static int on_progress(void *user, double f)
{
    prog *p = user;
    p->calls++;
    p->last = f;
    return p->cancel_after > 0 && p->calls >= p->cancel_after;
}

static void test_pass_reports_progress_and_cancels(void **state)
{
    (void)state;
    double x[N * P];
    fill(x);
    mva_stack *s;
    mva_error err;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    counter c = {0, 0, 0, 0, -1};
    mva_accum acc = {&c, NULL, c_consume, NULL};
    prog pr = {0, 0, 0};
    mva_pass_opts po;
    memset(&po, 0, sizeof po);
    po.block_pixels = 10;
    po.progress = on_progress;
    po.progress_user = &pr;
    assert_int_equal(mva_pass_run(s, &acc, 1, &po, &err), MVA_OK);
    assert_int_equal(pr.calls, 7);
    assert_true(pr.last == 1.0);
    prog stop = {0, 3, 0};
    counter c2 = {0, 0, 0, 0, -1};
    acc.self = &c2;
    po.progress_user = &stop;
    assert_int_equal(mva_pass_run(s, &acc, 1, &po, &err), MVA_ECANCELED);
    assert_int_equal(c2.next, 30);
    assert_non_null(strstr(err.msg, "canceled"));
    mva_stack_close(s);
}

static void test_pass_stops_at_accumulator_error(void **state)
{
    (void)state;
    double x[N * P];
    fill(x);
    mva_stack *s;
    mva_error err;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    counter c = {0, 0, 0, 0, 25};
    mva_accum acc = {&c, NULL, c_consume, c_finish};
    mva_pass_opts po;
    memset(&po, 0, sizeof po);
    po.block_pixels = 4;
    assert_int_equal(mva_pass_run(s, &acc, 1, &po, &err), MVA_EFORMAT);
    assert_string_equal(err.msg, "accumulator failed at pixel 25");
    assert_int_equal(c.finished, 0);
    mva_stack_close(s);
}

/* A reader that fails on one pixel: the error must reach the caller, from the read-ahead
 * thread too. */
typedef struct {
    size_t bad;
} bad_reader;

static int bad_read(void *self, size_t first, size_t count, double *out, mva_error *err)
{
    bad_reader *r = self;
    if (r->bad >= first && r->bad < first + count)
        return mva_error_set(err, MVA_EIO, "broken.h5: read of pixel %zu failed", r->bad);
    for (size_t i = 0; i < count * P; i++)
        out[i] = 1.0;
    return MVA_OK;
}

static void bad_close(void *self)
{
    free(self);
}

static const mva_reader_ops bad_ops = {"bad", bad_read, bad_close, NULL};

static void test_pass_reports_reader_errors(void **state)
{
    (void)state;
    for (int ra = 0; ra < 2; ra++) {
        bad_reader *r = malloc(sizeof *r);
        r->bad = 40;
        mva_stack_info info;
        memset(&info, 0, sizeof info);
        info.rows = ROWS;
        info.cols = COLS;
        info.channels = P;
        mva_stack *s;
        mva_error err;
        assert_int_equal(mva_stack_new(&s, &bad_ops, r, &info, &err), MVA_OK);
        counter c = {0, 0, 0, 0, -1};
        mva_accum acc = {&c, NULL, c_consume, NULL};
        mva_pass_opts po;
        memset(&po, 0, sizeof po);
        po.block_pixels = 8;
        po.no_readahead = ra;
        assert_int_equal(mva_pass_run(s, &acc, 1, &po, &err), MVA_EIO);
        assert_string_equal(err.msg, "broken.h5: read of pixel 40 failed");
        assert_int_equal(c.next, 40);
        mva_stack_close(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pass_visits_every_pixel_in_order),
        cmocka_unit_test(test_pass_block_size_follows_budget),
        cmocka_unit_test(test_pass_reports_progress_and_cancels),
        cmocka_unit_test(test_pass_stops_at_accumulator_error),
        cmocka_unit_test(test_pass_reports_reader_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
