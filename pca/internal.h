/* Internal to pca/: the map from stack channels to variables (channel range, mask, binning)
 * and the pieces the exact and randomized methods share. */
#ifndef MVA_PCA_INTERNAL_H
#define MVA_PCA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mva/error.h"
#include "mva/pass.h"
#include "mva/pca.h"

typedef struct pca_vars {
    size_t channels;  /* stack channels */
    size_t p;         /* variables */
    size_t bin;
    size_t c0, c1;    /* channel range [c0, c1) */
    int identity;     /* variable j is channel c0 + j: a plain copy */
    long *var_of;     /* channels entries: variable of each channel, or -1 */
    size_t *var_ch0;  /* p entries: first channel of each variable */
} pca_vars;

/* Builds the map for opts on a stack of `channels` channels.  Bins are groups of `bin`
 * consecutive channels starting at the range start; a trailing partial group is dropped (as
 * PyMca and HyperSpy do) and so is a group whose channels are all masked out. */
int pca_vars_init(pca_vars *v, size_t channels, const mva_pca_opts *opts, mva_error *err);

void pca_vars_free(pca_vars *v);

/* out[0..p) = the variables of one spectrum x[0..channels). */
void pca_vars_apply(const pca_vars *v, const double *x, double *out);

/* Rows per BLAS call in the accumulators: large enough for BLAS-3 speed, small enough to keep
 * the work buffers to a few MB whatever the block size. */
#define PCA_SUB_ROWS 512

/* Rows per product on the direct (in-place) path: the two skinny dgemms of a randomized pass
 * then find the rows still in L2 (128 x 2048 doubles = 2 MB); measured 30% faster than 512. */
#define PCA_DIRECT_ROWS 128

/* Variables of pixel x into row, weighted by 1/sqrt(noise * total) under Poisson scaling (0
 * for an empty pixel); returns the weight (1 without scaling) and adds the unweighted
 * variables to vsum.  noise is the pixel's Poisson variance factor (mva_block.noise; 1 for
 * raw counts): a normalised pixel keeps the noise of its raw counts. */
double pca_load_row(const pca_vars *v, int poisson, const double *x, double *row,
                    double *vsum, double noise);

/* Pixel t's variance factor in block b (1 for raw counts). */
#define PCA_NOISE(b, t) ((b)->noise ? (b)->noise[t] : 1.0)

/* Runs one pass with `first` followed by the extra accumulators. */
int pca_run_pass(mva_stack *s, mva_accum first, const mva_accum *extra, size_t nextra,
                 const mva_pass_opts *popts, mva_error *err);

/* From the pass totals: mean (vsum / n), the Poisson variable weights 1/sqrt(vsum) when
 * m->var_weight, and scaled_mean = smean * weight (smean: mean of the pixel-weighted rows). */
void pca_set_means(mva_pca_model *m, const double *vsum, const double *smean, size_t n);

/* Takes eigenvector v (p values, scaled space) as component q: comp_w row q = v, the model's
 * eigenspectrum = v un-weighted, both signed so the eigenspectrum's largest |entry| is > 0. */
void pca_orient_component(mva_pca_model *m, const double *v, size_t q, double *comp_w);

/* The scores pass: eigenimages of the k components comp_w (k x p, scaled space). */
int pca_score_pass(mva_stack *s, const pca_vars *v, mva_pca_model *m, const double *comp_w,
                   const mva_pass_opts *popts, mva_error *err);

/* Chooses m->k (at most its current value) by opts->k_rule from the eigenvalues known so far
 * (m->n_eigenvalues of them), and writes the reason into m->k_reason. */
void pca_select_k(mva_pca_model *m, const mva_pca_opts *o);

/* Several processes: gathers every rank's (n_r, mean_r) in rank order, replaces mean by the
 * global mean, sets *ntot = sum n_r and returns in *off (size x (p + 1) doubles, caller frees)
 * each rank's n_r followed by e_r = mean_r - mean -- what Chan et al.'s merge adds to the
 * second moments, sum n_r e_r e_r^T. */
int pca_comm_means(const mva_comm *comm, size_t n, double *mean, size_t p, double **off,
                   double *ntot, mva_error *err);

/* Fills x[0..count) with standard normal numbers from a Mersenne Twister seeded with seed
 * (the same numbers on every machine).  MVA_ENOMEM if GSL cannot allocate its state. */
int pca_gaussian_fill(double *x, size_t count, uint64_t seed);

/* The scree of the exact method, still being computed (pca/exact.c). */
typedef struct pca_scree pca_scree;

/* Waits for sc (NULL: nothing to do), puts the eigenvalues and explained ratios into m (not
 * when m is NULL: on a failure elsewhere) and frees sc.  MVA_ENUMERIC if LAPACK failed. */
int pca_scree_finish(pca_scree *sc, mva_pca_model *m, mva_error *err);

/* The methods.  Each runs its passes (the extra accumulators share the first), and fills
 * n_valid, mean, scaled_mean, var_weight, pix_weight, eigenvalues, explained,
 * total_variance and comp_w (k x p); the caller then runs the scores pass.  With a fixed k
 * and later not NULL, the exact method leaves eigenvalues and explained to a thread that
 * runs meanwhile (*later, for pca_scree_finish; NULL when it did not). */
int pca_fit_exact(mva_stack *s, const pca_vars *v, const mva_pca_opts *o, mva_pca_model *m,
                  const mva_accum *extra, size_t nextra, const mva_pass_opts *popts,
                  double *comp_w, pca_scree **later, mva_error *err);
int pca_fit_randomized(mva_stack *s, const pca_vars *v, const mva_pca_opts *o,
                       mva_pca_model *m, const mva_accum *extra, size_t nextra,
                       const mva_pass_opts *popts, double *comp_w, mva_error *err);

#endif
