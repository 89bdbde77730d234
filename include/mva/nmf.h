/*
 * mva/nmf.h - non-negative matrix factorisation of a stack, streamed.
 *
 * X (n pixels x p channels) ~ W (n x k) H (k x p), W, H >= 0.  W (model-sized, like PCA
 * eigenimages) stays in memory; X is read block by block, so memory is the block buffers plus
 * n x k plus k x p (plus p x p for the NNDSVDa start).  One iteration is one pass: each block's
 * rows of W are updated from X_b H^T and H H^T while X_b^T W_b and W_b^T W_b are accumulated;
 * H is updated after the pass.  Pixel rows of W are independent, so the result does not depend
 * on the block size (up to the order of the sums).  The Frobenius objective is
 * ||X||^2 - 2 <H, W^T X> + <H H^T, W^T W>, computed from the accumulated products without an
 * extra pass (||X||^2 from the statistics pass).
 *
 * Several processes (popts->comm, each with its pixel range): each updates the W rows of its
 * own pixels, the accumulated products are summed over the processes in rank order after
 * every pass (mva_comm_sum), so every process computes the same H; the abundances are gathered
 * to every process at the end.  The compressed warm start is not distributed: with more than
 * one process it is skipped, and the result is that of compressed_iter = 0.
 */
#ifndef MVA_NMF_H
#define MVA_NMF_H

#include <stddef.h>
#include <stdint.h>

#include "mva/error.h"
#include "mva/pass.h"
#include "mva/stack.h"

/* With HALS and the NNDSVDa start, the passes are preceded by a warm start in memory: HALS on
 * the projection of X onto its 2k + 10 leading right singular vectors, which the NNDSVDa pass
 * yields for free (Erichson et al. 2018); the passes then only polish, with the exact
 * objective.  On the 101 x 200 x 2000 sample map, k = 6: 2 passes of updates instead of 14,
 * to a lower error.  Memory: n x (2k + 10) for the projection, during the start only. */

/* Algorithms.  HALS: hierarchical alternating least squares (Cichocki & Phan 2009; Gillis &
 * Glineur 2012 for the inner sweeps), each column of W and row of H in turn set to its exact
 * non-negative minimiser.  MU: Lee & Seung's multiplicative updates for the Frobenius loss.
 * KL: Lee & Seung's multiplicative updates for the generalised Kullback-Leibler divergence
 * (Poisson likelihood), objective sum x log(x / wh) - x + wh. */
typedef enum mva_nmf_method { MVA_NMF_HALS = 0, MVA_NMF_MU = 1, MVA_NMF_KL = 2 } mva_nmf_method;

/* Starts.  NNDSVDA: Boutsidis & Gallopoulos 2008 from the k leading singular triplets of X
 * (uncentred: the eigenvectors of the Gram X^T X accumulated in the statistics pass), zeros
 * filled with the mean of X.  RANDOM: |N(0,1)| * sqrt(mean(X) / k) from GSL's mt19937 seeded
 * with seed.  CUSTOM: copies of opts.w_init (n x k) and opts.h_init (k x p). */
typedef enum mva_nmf_init {
    MVA_NMF_INIT_NNDSVDA = 0,
    MVA_NMF_INIT_RANDOM = 1,
    MVA_NMF_INIT_CUSTOM = 2
} mva_nmf_init;

#define MVA_NMF_DEFAULT_SEED 20261125u

/* Options; start from mva_nmf_opts_default(). */
typedef struct mva_nmf_opts {
    size_t k;             /* components (>= 1, <= channels) */
    mva_nmf_method method; /* MVA_NMF_HALS (default), _MU or _KL */
    mva_nmf_init init;    /* MVA_NMF_INIT_NNDSVDA (default), _RANDOM or _CUSTOM */
    uint64_t seed;        /* random start (default MVA_NMF_DEFAULT_SEED) */
    size_t max_iter;      /* passes of updates at most (default 200) */
    double tol;           /* stop when the objective changes by less than tol, relative,
                             between passes (default 1e-4; 0 = run max_iter passes) */
    size_t inner;         /* sweeps over W_b per block and over H per pass (HALS, MU;
                             default 10): they cost k^2 per pixel, the pass costs p k */
    size_t compressed_iter; /* HALS + NNDSVDa: at most this many HALS iterations on the
                             rank-(2k+10) projection of X before the passes (in memory, no
                             reading; default 200, 0 = none); see nmf/compressed.c */
    int poisson;          /* HALS/MU on X scaled as for PCA (pixel 1/sqrt(total), channel
                             1/sqrt(total)), un-weighted afterwards; not with KL */
    const double *w_init; /* CUSTOM: n x k and k x p, non-negative, copied (in the scaled
                             space under poisson); rows of excluded pixels are ignored */
    const double *h_init;
    const char *scratch_dir; /* where W (n x k doubles) goes, as a scratch HDF5 file removed
                             at once, when it exceeds the pass memory budget (NULL: $TMPDIR,
                             else /tmp); the compressed warm start then needs no n x l */
    /* Optional, called after each pass of updates with its number (from 1) and objective. */
    void (*on_iter)(void *user, size_t iter, double objective);
    void *iter_user;
} mva_nmf_opts;

/* k = 4, HALS, NNDSVDa, default seed, 200 passes, tolerance 1e-4, 10 inner sweeps, 200
 * compressed iterations, no scaling. */
mva_nmf_opts mva_nmf_opts_default(void);

/*
 * A fitted model, normalised: each spectrum sums to 1, so that abundance q of a pixel is the
 * counts that component q contributes to it, and X ~ sum_q abundances[q] spectra[q].
 * Components are sorted by share (descending).  Pixels holding NaN/Inf are left out of the fit
 * (mask = 1) and have NaN abundances.
 */
typedef struct mva_nmf_model {
    size_t rows, cols;      /* map shape, n = rows * cols */
    size_t p;               /* channels */
    size_t k;               /* components */
    mva_nmf_method method;
    mva_nmf_init init;
    int poisson;
    uint64_t seed;
    size_t max_iter, inner;
    double tol;
    size_t n_valid;         /* pixels used in the fit */
    size_t iterations;      /* passes of updates done */
    size_t passes;          /* passes over the data, statistics and start included */
    int converged;          /* 1 when the tolerance was met before max_iter */
    double objective;       /* final objective: ||X - WH||^2 (HALS, MU; of the scaled X
                               under poisson) or the KL divergence */
    double norm_x2;         /* ||X||^2 (scaled space under poisson) */
    double rel_error;       /* Frobenius: sqrt(objective / norm_x2); KL: NaN */
    double *history;        /* iterations values: the objective after each pass */
    double *energy;         /* p channel energies (keV), or NULL when uncalibrated */
    double *spectra;        /* k x p, each row sums to 1 */
    double *abundances;     /* k x n images (counts) */
    double *share;          /* k: each component's fraction of the modelled counts */
    unsigned char *mask;    /* n, 1 = pixel excluded */
    double seconds;         /* wall time of the fit */
    int w_scratch;          /* 1 when W lived in a scratch file (larger than the budget) */
} mva_nmf_model;

/* "hals", "mu", "kl" / "nndsvda", "random", "custom"; "unknown" otherwise. */
const char *mva_nmf_method_name(mva_nmf_method method);
const char *mva_nmf_init_name(mva_nmf_init init);

/*
 * Fits an NMF of s.  popts may be NULL.  On success *out is a new model (free with
 * mva_nmf_model_free).  MVA_EINVAL names a bad option (k, method, start, tolerance, Poisson
 * with KL, a negative custom start); reader errors pass through; the same input, options and
 * seed give the same model bit for bit.
 */
int mva_nmf_fit(mva_stack *s, const mva_nmf_opts *opts, const mva_pass_opts *popts,
                mva_nmf_model **out, mva_error *err);

/* Allocates a zeroed model with every array sized for (rows, cols, p, k, max_iter history
 * values); energy only when with_energy. */
int mva_nmf_model_new(mva_nmf_model **out, size_t rows, size_t cols, size_t p, size_t k,
                      size_t max_iter, int with_energy, mva_error *err);

/* Frees m and its arrays; NULL is a no-op. */
void mva_nmf_model_free(mva_nmf_model *m);

#endif
