/*
 * Internal to the library: a small pool of threads that runs batches of numbered tasks,
 * used by the HDF5 reader's parallel inflate.  The caller publishes tasks as they become
 * runnable (the raw bytes of chunk k arrive while the workers decode chunk k-1), then joins
 * in and waits.  Task k of a batch runs exactly once, on the caller (worker 0) or on worker
 * 1..nthreads-1.  A pool serves one batch at a time, from one calling thread.
 */
#ifndef MVA_POOL_H
#define MVA_POOL_H

#include <stddef.h>

typedef struct mva_pool mva_pool;

/* Runs task k of the batch; worker is 0 for the calling thread, else 1..nthreads-1 (an index
 * for per-thread scratch). */
typedef void (*mva_pool_task)(void *ctx, size_t k, int worker);

/* A pool of nthreads (the caller included; 1..MVA_POOL_MAX, clamped).  The workers start at
 * the first batch; when none can be started the caller runs every task.  NULL when out of
 * memory. */
#define MVA_POOL_MAX 8
mva_pool *mva_pool_new(int nthreads);

/* Starts a batch: no task is runnable yet. */
void mva_pool_begin(mva_pool *p, mva_pool_task fn, void *ctx);

/* Tasks [0, n) may now run (n only grows within a batch). */
void mva_pool_publish(mva_pool *p, size_t n);

/* Runs published tasks on the calling thread too, and returns when every published task has
 * finished.  The batch is over: the tasks' results are visible to the caller. */
void mva_pool_finish(mva_pool *p);

/* Threads that run tasks, the caller included (after the first batch: those started). */
int mva_pool_threads(const mva_pool *p);

/* Stops and joins the workers; NULL is a no-op. */
void mva_pool_free(mva_pool *p);

#endif
