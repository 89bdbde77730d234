/* Internal to nmf/: the state shared by the statistics pass, the starts and the update
 * passes.  Everything lives in the scaled space X~ = D_a X D_c (a: pixel weights, c: channel
 * weights, all 1 without Poisson scaling); the blocks are never copied scaled, the weights are
 * folded into the small factors instead. */
#ifndef MVA_NMF_INTERNAL_H
#define MVA_NMF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mva/nmf.h"

/* Rows per BLAS call: the products of a run of pixels find X in L2 (as PCA_DIRECT_ROWS). */
#define NMF_SUB_ROWS 128

typedef struct nmf_state {
    size_t n, p, k;
    const mva_nmf_opts *o;
    const mva_pass_opts *popts;
    double *W;            /* n x k, scaled space, rows of excluded pixels 0; NULL when W
                             lives in the scratch file (nmf/wstore.c) */
    struct mva_scratch *wfile; /* W when it does not fit the memory budget, else NULL */
    double *wwin;         /* scratch: the window of rows last got */
    size_t wcap;          /* rows the window holds */
    double *H;            /* k x p, scaled space */
    double *pixw;         /* n pixel weights a_i (0 for an excluded pixel) */
    double *chw;          /* p channel weights c_j */
    unsigned char *mask;  /* n, 1 = excluded (the model's) */
    size_t n_valid;
    double norm_x2;       /* ||X~||^2 */
    double mean_x;        /* mean of X~ over the valid pixels */
    double xlogx;         /* KL: sum x log x over the valid entries */
    double *gram;         /* p x p X~^T X~ (NNDSVDa only), else NULL */
    size_t passes;
    size_t budget;        /* bytes: W, and the warm start's Y, in memory up to this */
} nmf_state;

/* Pass 0: pixel and channel weights, n_valid, mask, ||X~||^2, mean, and the Gram when
 * st->gram is allocated. */
int nmf_stats_pass(mva_stack *s, nmf_state *st, mva_error *err);

/* The starting W and H (one more pass for NNDSVDa). */
int nmf_init(mva_stack *s, nmf_state *st, mva_error *err);

/* The warm start (HALS with an NNDSVDa start): HALS on X~ ~ Y V^T (Y = X~ V, n x l; V, p x l,
 * the l leading right singular vectors), in memory, no pass; see nmf/compressed.c. */
int nmf_compressed_hals(nmf_state *st, const double *y, const double *v, size_t l,
                        mva_error *err);

/* One pass of updates: W from the current H, then H from the accumulated products.  *obj
 * receives the objective at the new (W, H) (HALS, MU) or at (new W, old H) (KL). */
int nmf_iterate_frobenius(mva_stack *s, nmf_state *st, mva_error *err, double *obj);
int nmf_iterate_kl(mva_stack *s, nmf_state *st, mva_error *err, double *obj);

/* HALS on one row w (k) of W from a = (X~ H^T) row and b = H H^T, sweeps times. */
void nmf_hals_row(double *w, const double *a, const double *b, size_t k, size_t sweeps);

/* nmf_hals_row on nrows consecutive rows of w and a (k apart), with the same bits. */
void nmf_hals_rows(double *w, const double *a, const double *b, size_t k, size_t sweeps,
                   size_t nrows);

/* H from C = W^T X~ and D = W^T W (k x p, k x k): o->inner HALS row sweeps or multiplicative
 * updates; tmp holds k x p. */
void nmf_update_h(nmf_state *st, const double *c, const double *d, double *tmp);

/* Sums buf[0..count) over the processes of st->popts->comm, in rank order (nothing with a
 * single process): the accumulators of a pass cover this process's pixels only. */
int nmf_comm_sum(const nmf_state *st, double *buf, size_t count, mva_error *err);

/* 1 when the fit runs as one of several processes (popts->comm of size > 1). */
int nmf_distributed(const nmf_state *st);

/* W's store (nmf/wstore.c): memory (spill 0) or a scratch HDF5 file in dir. */
int nmf_w_open(nmf_state *st, int spill, const char *dir, mva_error *err);
void nmf_w_close(nmf_state *st);

/* Rows [first, first + count) of W: a pointer into W, or a window read from the scratch, valid
 * until the next get; put writes the window back (nothing to do in memory). */
int nmf_w_get(nmf_state *st, size_t first, size_t count, double **rows, mva_error *err);
int nmf_w_put(nmf_state *st, size_t first, size_t count, mva_error *err);

/* fn over rows [first, first + count) of W in pixel order, by windows (one in memory), each
 * written back when write. */
typedef int (*nmf_w_fn)(void *self, double *rows, size_t first, size_t count, mva_error *err);
int nmf_w_sweep(nmf_state *st, size_t first, size_t count, int write, nmf_w_fn fn, void *self,
                mva_error *err);

/* A Mersenne Twister stream of scale * |N(0, 1)| (GSL), for the random start. */
typedef struct nmf_rng nmf_rng;
nmf_rng *nmf_rng_new(uint64_t seed);
void nmf_rng_abs_gaussian(nmf_rng *r, double *buf, size_t count, double scale);
void nmf_rng_free(nmf_rng *r);

/* Runs runs of valid pixels of a block through fn, at most NMF_SUB_ROWS at a time:
 * fn(self, x of the first pixel (row stride b->p), first pixel index, count). */
typedef void (*nmf_run_fn)(void *self, const double *x, size_t first, size_t nb);
void nmf_for_runs(const mva_block *b, nmf_run_fn fn, void *self);

#endif
