/*
 * mva/pca.h - principal component analysis of a stack, streamed.
 *
 * The exact method accumulates the centred covariance (p x p) of the selected variables in
 * one pass (per-block centred Gram with dsyrk, blocks merged with Chan et al.'s pairwise
 * formula), diagonalises it with LAPACK (dsytrd + dsterf + dstemr + dormtr, the steps of
 * dsyevr with the reduction shared), and computes the eigenimages (scores) in a
 * second pass.  Variables are the stack's channels after an optional channel range, channel
 * mask and binning (sum of b adjacent channels).  Optional Poisson scaling (Keenan & Kotula
 * 2004): pixel i weighted by 1/sqrt(its total), variable j by 1/sqrt(its total); the
 * eigenspectra and eigenimages are un-weighted before they are returned.
 */
#ifndef MVA_PCA_H
#define MVA_PCA_H

#include <stddef.h>
#include <stdint.h>

#include "mva/error.h"
#include "mva/pass.h"
#include "mva/stack.h"

/* Methods.  EXACT costs n p^2 flops (covariance) + p^3 (LAPACK) and two passes; RANDOMIZED
 * (block Krylov on the Gram operator from a Gaussian start, with Rayleigh-Ritz on every block
 * so far: block Lanczos with full reorthogonalisation, restarted thickly after 16 blocks)
 * costs about 4 n p l flops per pass, l = k + oversample, and one pass per block plus the
 * scores pass.  AUTO estimates both from n, p, k and the cost of a read
 * and takes the cheaper. */
typedef enum mva_pca_method {
    MVA_PCA_EXACT = 0,
    MVA_PCA_RANDOMIZED = 1,
    MVA_PCA_AUTO = 2
} mva_pca_method;

#define MVA_PCA_DEFAULT_SEED 20261125u

/* How the number of components is chosen.  FIXED: k.  NOISE (needs Poisson scaling): the
 * eigenvalues above the Marchenko-Pastur edge of pure Poisson noise, 1.05 (sqrt(n) +
 * sqrt(p))^2 / (total counts (n - 1)) -- after the Poisson scaling noise has variance
 * 1 / total counts in every cell.  VARIANCE: the fewest components explaining k_variance of
 * the total variance.  ELBOW: the bend of the log scree (largest distance below the chord).
 * For all but FIXED, k is the upper bound. */
typedef enum mva_pca_k_rule {
    MVA_PCA_K_FIXED = 0,
    MVA_PCA_K_NOISE = 1,
    MVA_PCA_K_VARIANCE = 2,
    MVA_PCA_K_ELBOW = 3
} mva_pca_k_rule;

/* Options; start from mva_pca_opts_default(). */
typedef struct mva_pca_opts {
    size_t k;                     /* components to keep, or the most to keep (k_rule) */
    mva_pca_k_rule k_rule;        /* MVA_PCA_K_FIXED (default), _NOISE, _VARIANCE, _ELBOW */
    double k_variance;            /* MVA_PCA_K_VARIANCE: explained-variance target in (0, 1) */
    size_t ch_begin, ch_end;      /* channel range [ch_begin, ch_end); ch_end = 0: to the end */
    const unsigned char *ch_mask; /* optional, one flag per stack channel, 0 = ignore */
    size_t bin;                   /* sum this many adjacent selected channels (1 = none) */
    int poisson;                  /* Poisson (counts) scaling */
    int uncentred;                /* scores of the uncentred data (PyMca numpyCovariancePCA) */
    mva_pca_method method;        /* MVA_PCA_AUTO (default), _EXACT or _RANDOMIZED */
    /* randomized method */
    size_t oversample;            /* l = k + oversample basis vectors (default 10) */
    size_t max_passes;            /* range-finder passes at most (default 8) */
    double tol;                   /* stop when final_error (the extrapolated change of the
                                     leading Ritz values) is at most this,
                                     relative, between passes (default 1e-8) */
    uint64_t seed;                /* Gaussian start (default MVA_PCA_DEFAULT_SEED) */
} mva_pca_opts;

/* k = 10, all channels, no binning, no scaling, centred scores, method AUTO, oversampling 10,
 * at most 8 range-finder passes, tolerance 1e-8, the default seed. */
mva_pca_opts mva_pca_opts_default(void);

/*
 * A fitted model.  Variable j (0 <= j < p) is the sum of stack channels var_ch0[j] ..
 * var_ch0[j] + bin - 1 (only those allowed by the mask).  Spectra are in data units, images
 * are rows x cols row-major.  Pixels flagged in mask (non-finite values) are left out of the
 * fit and have NaN scores.
 */
typedef struct mva_pca_model {
    size_t rows, cols;          /* map shape, n = rows * cols */
    size_t channels;            /* channels of the stack */
    size_t p;                   /* variables after range, mask and binning */
    size_t k;                   /* components kept */
    size_t bin;                 /* binning factor used */
    int poisson, uncentred;
    mva_pca_method method;      /* the method used: MVA_PCA_EXACT or MVA_PCA_RANDOMIZED */
    size_t n_valid;             /* pixels used in the fit */
    size_t n_eigenvalues;       /* eigenvalues known: p (exact) or l (randomized); the rest
                                   of eigenvalues[] and explained[] are NaN */
    size_t passes;              /* passes over the data, scores pass included */
    size_t oversample;          /* randomized: basis vectors beyond k */
    double final_change;        /* randomized: largest relative change of the k leading Ritz
                                   values in the last pass (0 for exact) */
    size_t n_exact;             /* exact: valid pixels whose covariance terms were summed in
                                   exact integer arithmetic (counts), the rest in double */
    uint64_t seed;              /* randomized: seed of the Gaussian start */
    mva_pca_k_rule k_rule;      /* how k was chosen (MVA_PCA_K_*) */
    double noise_edge;          /* MVA_PCA_K_NOISE: the eigenvalue edge of pure noise, else 0 */
    char k_reason[256];         /* one sentence: which rule chose k and why */
    size_t *var_ch0;            /* p: first stack channel of each variable */
    double *var_energy;         /* p: energy (keV) of each variable's centre, or NULL */
    double *mean;               /* p: average spectrum of the valid pixels (data units) */
    double *eigenvalues;        /* p: eigenvalues of the (scaled) covariance, descending */
    double *explained;          /* p: eigenvalue / trace */
    double total_variance;      /* trace of the (scaled) covariance */
    double *components;         /* k x p eigenspectra (un-weighted when poisson) */
    double *scores;             /* k x n eigenimages (un-weighted when poisson) */
    double *var_weight;         /* p Poisson variable weights, or NULL */
    double *pix_weight;         /* n Poisson pixel weights, or NULL */
    double *scaled_mean;        /* p mean of the scaled data (= mean without scaling) */
    unsigned char *mask;        /* n, 1 = pixel excluded */
    double seconds;             /* wall time of the fit */
    int converged;              /* exact, or randomized that reached opts.tol */
    size_t auto_passes;         /* AUTO: randomized passes spent before it fell back to the
                                   exact method (0: no fallback) ... */
    double auto_change;         /* ... and the change they stopped at */
    double final_error;         /* randomized: estimated relative error of the k leading
                                   eigenvalues, the last change c extrapolated over the rate
                                   of the last two, c^2 / (c_prev - c) (Krylov Ritz values
                                   only grow toward the eigenvalues); c when no rate is known
                                   or it does not shrink; 0 for exact */
} mva_pca_model;

/* Name of a method ("exact", "randomized", "auto"). */
const char *mva_pca_method_name(mva_pca_method method);

/* The method AUTO picks for a stack described by info under opts (EXACT or RANDOMIZED). */
mva_pca_method mva_pca_choose_method(const mva_stack_info *info, const mva_pca_opts *opts);

/*
 * Fits a PCA of s.  extra (may be NULL) are further accumulators that share the first pass
 * (e.g. ROI images), so that asking for both costs one read of the data.  popts may be NULL.
 * On success *out is a new model (free with mva_pca_model_free).  With popts->comm (several
 * processes, each passing over its own pixel range), every process ends with the whole
 * model, the same on all of them; extra accumulators must then be ready to combine their
 * own results (mva_roi_acc_share).
 */
int mva_pca_fit(mva_stack *s, const mva_pca_opts *opts, const mva_accum *extra, size_t nextra,
                const mva_pass_opts *popts, mva_pca_model **out, mva_error *err);

/* Allocates an empty model with every array sized for (rows, cols, channels, p, k); arrays
 * that are optional (var_energy, var_weight, pix_weight) only when the flags ask for them. */
int mva_pca_model_new(mva_pca_model **out, size_t rows, size_t cols, size_t channels,
                      size_t p, size_t k, int with_energy, int poisson, mva_error *err);

void mva_pca_model_free(mva_pca_model *m);

#endif
