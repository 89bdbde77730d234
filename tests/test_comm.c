/* Several processes sharing one analysis, without MPI: a pass over a pixel range, and PCA and
 * ROI over 3 "processes" (threads joined by an in-memory all-gather) giving the one-process
 * results, whatever the split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mva.h"

enum { ROWS = 13, COLS = 11, N = ROWS * COLS, P = 24, NPROC = 3 };

/* ---- a pass over a range ---- */

typedef struct {
    size_t first[16], npix[16], calls;
} blocks_seen;

static int seen_consume(void *self, const mva_block *b, mva_error *err)
{
    (void)err;
    blocks_seen *s = self;
    if (s->calls < 16) {
        s->first[s->calls] = b->first;
        s->npix[s->calls] = b->npix;
    }
    s->calls++;
    return MVA_OK;
}

static void test_pass_covers_only_its_range(void **state)
{
    (void)state;
    static double x[N * P];
    mva_stack *s = NULL;
    mva_error err;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    blocks_seen seen = {{0}, {0}, 0};
    mva_accum acc = {&seen, NULL, seen_consume, NULL};
    mva_pass_opts o = {.block_pixels = 3, .has_range = 1, .range_first = 5, .range_count = 7};
    assert_int_equal(mva_pass_run(s, &acc, 1, &o, &err), MVA_OK);
    assert_int_equal(seen.calls, 3);
    assert_int_equal(seen.first[0], 5);
    assert_int_equal(seen.first[1], 8);
    assert_int_equal(seen.first[2], 11);
    assert_int_equal(seen.npix[2], 1);
    /* An empty range: no block, but the pass succeeds. */
    seen.calls = 0;
    o.range_first = N;
    o.range_count = 0;
    assert_int_equal(mva_pass_run(s, &acc, 1, &o, &err), MVA_OK);
    assert_int_equal(seen.calls, 0);
    mva_stack_close(s);
}

/* ---- an in-memory all-gather between threads ---- */

typedef struct {
    pthread_barrier_t bar;
    const double *src[NPROC];
} shared_t;

typedef struct {
    shared_t *sh;
    mva_comm comm;
    int method;   /* PCA method, or -1 for ROI */
    int poisson;
    double *x;
    int rc;
    mva_pca_model *m;
    mva_roi_result *r;
} proc_t;

static int fake_allgather(void *user, const double *in, const size_t *counts, double *out,
                          mva_error *err)
{
    (void)err;
    proc_t *me = user;
    size_t disp[NPROC], at = 0;
    for (int r = 0; r < NPROC; r++) {
        disp[r] = at;
        at += counts[r];
    }
    int rank = me->comm.rank;
    me->sh->src[rank] = in ? in : out + disp[rank];
    pthread_barrier_wait(&me->sh->bar);
    for (int r = 0; r < NPROC; r++)
        if (me->sh->src[r] != out + disp[r] && counts[r])
            memcpy(out + disp[r], me->sh->src[r], counts[r] * sizeof *out);
    pthread_barrier_wait(&me->sh->bar); /* nobody changes a source before all have read it */
    return MVA_OK;
}

/* A map with structure (two phases), an offset that cancels badly in raw moments, and two
 * NaN pixels. */
static void make_map(double *x)
{
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < P; j++) {
            double a = sin(0.37 * (double)i), b = cos(0.11 * (double)(i * j % 29));
            x[i * P + j] = 1e4 + 300 * a * exp(-0.1 * (double)j) + 40 * b * (j % 5 == 2) +
                           (double)((i * 7 + j * 13) % 11);
        }
    x[4 * P + 3] = NAN;
    x[100 * P + 20] = INFINITY;
}

static mva_pca_opts pca_opts(int method, int poisson)
{
    mva_pca_opts o = mva_pca_opts_default();
    o.k = 3;
    o.method = method;
    o.poisson = poisson;
    return o;
}

static const mva_roi_def rois[2] = {{"a", 2, 6, MVA_ROI_CHANNEL}, {"b", 10, 23, MVA_ROI_CHANNEL}};

static void *proc_main(void *arg)
{
    proc_t *me = arg;
    mva_stack *s = NULL;
    mva_error err;
    me->rc = mva_stack_from_memory(&s, me->x, ROWS, COLS, P, &err);
    /* Uneven slabs, in rank order: 0..40, 41..99, 100..N. */
    size_t cut[NPROC + 1] = {0, 41, 100, N};
    mva_pass_opts po = {.block_pixels = 16, .has_range = 1, .comm = &me->comm};
    po.range_first = cut[me->comm.rank];
    po.range_count = cut[me->comm.rank + 1] - cut[me->comm.rank];
    if (me->rc == MVA_OK && me->method >= 0) {
        mva_pca_opts o = pca_opts(me->method, me->poisson);
        me->rc = mva_pca_fit(s, &o, NULL, 0, &po, &me->m, &err);
    } else if (me->rc == MVA_OK) {
        me->rc = mva_roi_fit(s, rois, 2, &po, &me->r, &err);
    }
    mva_stack_close(s);
    return NULL;
}

/* Runs NPROC threads; each fills procs[r]. */
static void run_procs(proc_t *procs, shared_t *sh, double *x, int method, int poisson)
{
    pthread_t th[NPROC];
    pthread_barrier_init(&sh->bar, NULL, NPROC);
    for (int r = 0; r < NPROC; r++) {
        procs[r] = (proc_t){sh, {r, NPROC, fake_allgather, &procs[r]}, method, poisson, x,
                            0, NULL, NULL};
        assert_int_equal(pthread_create(&th[r], NULL, proc_main, &procs[r]), 0);
    }
    for (int r = 0; r < NPROC; r++)
        pthread_join(th[r], NULL);
    pthread_barrier_destroy(&sh->bar);
    for (int r = 0; r < NPROC; r++)
        assert_int_equal(procs[r].rc, MVA_OK);
}

/* a and b agree within tol of a's largest |value|, NaN where a has NaN. */
static void assert_close(const double *a, const double *b, size_t n, double tol)
{
    double big = 0, diff = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(isnan(a[i]) != 0, isnan(b[i]) != 0);
        if (isnan(a[i]))
            continue;
        big = fmax(big, fabs(a[i]));
        diff = fmax(diff, fabs(a[i] - b[i]));
    }
    assert_true(diff <= tol * big);
}

static void check_pca(int method, int poisson)
{
    static double x[N * P];
    make_map(x);
    mva_stack *s = NULL;
    mva_error err;
    mva_pca_model *ref = NULL;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    mva_pca_opts o = pca_opts(method, poisson);
    assert_int_equal(mva_pca_fit(s, &o, NULL, 0, NULL, &ref, &err), MVA_OK);
    mva_stack_close(s);
    shared_t sh;
    proc_t procs[NPROC];
    run_procs(procs, &sh, x, method, poisson);
    for (int r = 0; r < NPROC; r++) {
        const mva_pca_model *m = procs[r].m;
        assert_int_equal(m->n_valid, ref->n_valid);
        assert_int_equal(m->k, ref->k);
        assert_int_equal(m->passes, ref->passes);
        assert_close(ref->mean, m->mean, P, 1e-12);
        assert_close(ref->eigenvalues, m->eigenvalues, ref->n_eigenvalues, 1e-10);
        assert_close(ref->components, m->components, ref->k * P, 1e-10);
        assert_close(ref->scores, m->scores, ref->k * N, 1e-10);
        assert_memory_equal(ref->mask, m->mask, N);
        if (poisson)
            assert_close(ref->pix_weight, m->pix_weight, N, 1e-14);
        /* Every process holds the same model, bit for bit. */
        assert_memory_equal(procs[0].m->scores, m->scores, m->k * N * sizeof(double));
        assert_memory_equal(procs[0].m->eigenvalues, m->eigenvalues,
                            ref->n_eigenvalues * sizeof(double));
    }
    for (int r = 0; r < NPROC; r++)
        mva_pca_model_free(procs[r].m);
    mva_pca_model_free(ref);
}

static void test_comm_exact_pca_matches_one_process(void **state)
{
    (void)state;
    check_pca(MVA_PCA_EXACT, 0);
    check_pca(MVA_PCA_EXACT, 1);
}

static void test_comm_randomized_pca_matches_one_process(void **state)
{
    (void)state;
    check_pca(MVA_PCA_RANDOMIZED, 0);
    check_pca(MVA_PCA_RANDOMIZED, 1);
}

static void test_comm_roi_matches_one_process(void **state)
{
    (void)state;
    static double x[N * P];
    make_map(x);
    mva_stack *s = NULL;
    mva_error err;
    mva_roi_result *ref = NULL;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    assert_int_equal(mva_roi_fit(s, rois, 2, NULL, &ref, &err), MVA_OK);
    mva_stack_close(s);
    shared_t sh;
    proc_t procs[NPROC];
    run_procs(procs, &sh, x, -1, 0);
    for (int r = 0; r < NPROC; r++) {
        const mva_roi_result *q = procs[r].r;
        assert_int_equal(q->n_valid, ref->n_valid);
        assert_memory_equal(q->mask, ref->mask, N);
        assert_close(ref->raw, q->raw, 2 * N, 0);
        assert_close(ref->net, q->net, 2 * N, 0);
        assert_close(ref->total, q->total, N, 0);
        assert_close(ref->sum_spectrum, q->sum_spectrum, P, 1e-14);
        assert_close(ref->avg_spectrum, q->avg_spectrum, P, 1e-14);
        assert_close(ref->max_spectrum, q->max_spectrum, P, 0);
        mva_roi_result_free(procs[r].r);
    }
    mva_roi_result_free(ref);
}

int main(void)
{
    /* The processes here are threads of one process, and OpenBLAS's thread count is
     * process-wide: one "rank" capping it around its pass (mva_blas_leave_reader_a_core)
     * could change it under another's dsytrd, and their rounding with it.  Real ranks are
     * processes, each with its own count; one thread here makes every toggle a no-op. */
    openblas_set_num_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pass_covers_only_its_range),
        cmocka_unit_test(test_comm_exact_pca_matches_one_process),
        cmocka_unit_test(test_comm_randomized_pca_matches_one_process),
        cmocka_unit_test(test_comm_roi_matches_one_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
