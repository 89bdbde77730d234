/* The task pool (see pool.h): one mutex, a condition for "work published" and one for "all
 * published work finished".  Tasks are handed out in order by a shared counter. */
#include <pthread.h>
#include <stdlib.h>

#include "pool.h"

typedef struct worker_arg {
    mva_pool *p;
    int idx;
} worker_arg;

struct mva_pool {
    int nthreads, nworkers, started, stop;
    pthread_t th[MVA_POOL_MAX - 1];
    worker_arg args[MVA_POOL_MAX];
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    mva_pool_task fn;
    void *ctx;
    size_t ready, next, finished; /* tasks [0, ready) published, [0, next) taken */
};

mva_pool *mva_pool_new(int nthreads)
{
    mva_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->nthreads = nthreads < 1 ? 1 : nthreads > MVA_POOL_MAX ? MVA_POOL_MAX : nthreads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    return p;
}

/* Runs the taken task k; called and returns with the mutex held. */
static void run_locked(mva_pool *p, int idx)
{
    size_t k = p->next++;
    pthread_mutex_unlock(&p->mu);
    p->fn(p->ctx, k, idx);
    pthread_mutex_lock(&p->mu);
    if (++p->finished == p->ready)
        pthread_cond_broadcast(&p->done_cv);
}

static void *worker_main(void *arg)
{
    worker_arg *a = arg;
    mva_pool *p = a->p;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->next >= p->ready)
            pthread_cond_wait(&p->work_cv, &p->mu);
        if (p->stop)
            break;
        run_locked(p, a->idx);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void start_workers(mva_pool *p)
{
    p->started = 1;
    for (int i = 0; i < MVA_POOL_MAX; i++)
        p->args[i] = (worker_arg){p, i};
    for (int i = 1; i < p->nthreads; i++) {
        if (pthread_create(&p->th[p->nworkers], NULL, worker_main, &p->args[i]) != 0)
            break;
        p->nworkers++;
    }
}

void mva_pool_begin(mva_pool *p, mva_pool_task fn, void *ctx)
{
    if (!p->started)
        start_workers(p);
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->ready = p->next = p->finished = 0;
    pthread_mutex_unlock(&p->mu);
}

void mva_pool_publish(mva_pool *p, size_t n)
{
    pthread_mutex_lock(&p->mu);
    if (n > p->ready) {
        p->ready = n;
        pthread_cond_signal(&p->work_cv);
    }
    pthread_mutex_unlock(&p->mu);
}

void mva_pool_finish(mva_pool *p)
{
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->work_cv);
    while (p->next < p->ready)
        run_locked(p, 0);
    while (p->finished < p->ready)
        pthread_cond_wait(&p->done_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

int mva_pool_threads(const mva_pool *p)
{
    return p->started ? p->nworkers + 1 : p->nthreads;
}

void mva_pool_free(mva_pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nworkers; i++)
        pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->done_cv);
    free(p);
}
