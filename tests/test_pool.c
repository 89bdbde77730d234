/* The task pool (src/pool.c): every published task runs exactly once per batch, on a worker
 * index below the pool's thread count, whether tasks are published one by one or all at
 * once, over many batches; a batch with nothing published ends at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pool.h"

enum { NTASK = 200, NBATCH = 50 };

typedef struct {
    int runs[NTASK];
    int worker[NTASK];
    volatile double sink;
} tally;

static void count_task(void *ctx, size_t k, int worker)
{
    tally *t = ctx;
    t->runs[k]++;
    t->worker[k] = worker;
    double x = 0; /* a little work, so that the workers overlap */
    for (int i = 0; i < 2000; i++)
        x += (double)i * (double)k;
    t->sink = x;
}

static void check_batches(int nthreads, int one_by_one)
{
    static tally t;
    mva_pool *p = mva_pool_new(nthreads);
    assert_non_null(p);
    for (int b = 0; b < NBATCH; b++) {
        size_t n = (size_t)(b * 37) % NTASK + 1;
        memset(&t, 0, sizeof t);
        mva_pool_begin(p, count_task, &t);
        if (one_by_one)
            for (size_t k = 1; k <= n; k++)
                mva_pool_publish(p, k);
        else
            mva_pool_publish(p, n);
        mva_pool_finish(p);
        for (size_t k = 0; k < NTASK; k++) {
            assert_int_equal(t.runs[k], k < n ? 1 : 0);
            assert_true(t.worker[k] >= 0 && t.worker[k] < mva_pool_threads(p));
        }
    }
    assert_true(mva_pool_threads(p) >= 1 && mva_pool_threads(p) <= nthreads);
    mva_pool_free(p);
}

static void test_pool_runs_each_task_once_published_one_by_one(void **state)
{
    (void)state;
    for (int n = 1; n <= 4; n++)
        check_batches(n, 1);
}

static void test_pool_runs_each_task_once_published_at_once(void **state)
{
    (void)state;
    for (int n = 1; n <= 4; n++)
        check_batches(n, 0);
}

static void test_pool_of_one_thread_runs_on_the_caller(void **state)
{
    (void)state;
    static tally t;
    memset(&t, 0, sizeof t);
    for (size_t k = 0; k < NTASK; k++)
        t.worker[k] = -1;
    mva_pool *p = mva_pool_new(1);
    mva_pool_begin(p, count_task, &t);
    mva_pool_publish(p, NTASK);
    mva_pool_finish(p);
    for (size_t k = 0; k < NTASK; k++)
        assert_int_equal(t.worker[k], 0);
    assert_int_equal(mva_pool_threads(p), 1);
    mva_pool_free(p);
}

static void test_pool_empty_batch_and_free_null(void **state)
{
    (void)state;
    static tally t;
    memset(&t, 0, sizeof t);
    mva_pool *p = mva_pool_new(3);
    mva_pool_begin(p, count_task, &t);
    mva_pool_finish(p);
    for (size_t k = 0; k < NTASK; k++)
        assert_int_equal(t.runs[k], 0);
    mva_pool_free(p);
    mva_pool_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_runs_each_task_once_published_one_by_one),
        cmocka_unit_test(test_pool_runs_each_task_once_published_at_once),
        cmocka_unit_test(test_pool_of_one_thread_runs_on_the_caller),
        cmocka_unit_test(test_pool_empty_batch_and_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
