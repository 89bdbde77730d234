/*
 * mva/rotate.h - readable components from a fitted model: orthomax rotation of the
 * eigenspectra, and independent components (FastICA) of the scores.
 *
 * Both act on the model's k x p spectra and k x n images, never on the map, so they work on
 * maps of any size.  If X_c ~ T^T C (T: k x n scores, C: k x p spectra), any invertible
 * k x k matrix M gives X_c ~ (M T)^T (M^-T C): the rotation takes M = R^T with R orthogonal,
 * ICA takes M = the unmixing matrix.
 */
#ifndef MVA_ROTATE_H
#define MVA_ROTATE_H

#include <stddef.h>
#include <stdint.h>

#include "mva/error.h"
#include "mva/pca.h"

/* gamma of the orthomax family: 1 varimax (Kaiser 1958), 0 quartimax, k/2 equamax. */
#define MVA_ORTHOMAX_VARIMAX 1.0
#define MVA_ORTHOMAX_QUARTIMAX 0.0

/* A rotation of k components. */
typedef struct mva_rotate_result {
    size_t k, p, n;
    double gamma;
    double *rotation;   /* k x k orthogonal R: rotated spectra = R^T C, rotated images = R^T T */
    double *spectra;    /* k x p rotated spectra */
    double *images;     /* k x n rotated images (NaN where the input is), or NULL (no images) */
    size_t iterations;
    int converged;      /* no entry of R moved by more than 1e-12 in the last iteration */
    double criterion;   /* the orthomax criterion reached, sum of singular values */
} mva_rotate_result;

/*
 * Orthomax rotation of the k spectra C (k x p, row q = component q): maximises
 * sum_q [sum_j L_jq^4 - gamma/p (sum_j L_jq^2)^2], L = C^T R, by the SVD iteration
 * R <- U V^T, U S V^T = svd(C (L^3 - gamma/p L diag(L^T L))) from R = I (the iteration of
 * scikit-learn's _ortho_rotation and of Kaiser's varimax), at most max_iter (0 = 1000)
 * iterations.  Each rotated spectrum is signed so that its largest |value| is positive.
 * images (k x n, may be NULL with n 0) are rotated along.  *out: mva_rotate_result_free.
 */
int mva_rotate_orthomax(const double *spectra, const double *images, size_t k, size_t p,
                        size_t n, double gamma, size_t max_iter, mva_rotate_result **out,
                        mva_error *err);

void mva_rotate_result_free(mva_rotate_result *r);

#define MVA_ICA_DEFAULT_SEED 20261206u

/* FastICA options; start from mva_ica_opts_default(). */
typedef struct mva_ica_opts {
    size_t max_iter;       /* fixed-point iterations at most (default 1000) */
    double tol;            /* converged when no entry of W moves by more than tol, rows
                              signed alike (default 1e-10; scikit-learn's criterion
                              1 - |w_i . w_i_old| is about half the square of this) */
    uint64_t seed;         /* Gaussian start W0 (default MVA_ICA_DEFAULT_SEED) */
    const double *w_init;  /* k x k start instead of a seeded one, or NULL */
} mva_ica_opts;

mva_ica_opts mva_ica_opts_default(void);

/* Independent components of k signals over n pixels. */
typedef struct mva_ica {
    size_t k, n, n_used;
    double *mean;         /* k: mean of each input signal over the pixels used */
    double *whitening;    /* k x k: K = D^-1/2 E^T of the covariance E D E^T (divisor n_used) */
    double *w_init;       /* k x k: the start, before symmetric decorrelation */
    double *w;            /* k x k: the orthogonal unmixing of the whitened signals */
    double *unmixing;     /* k x k: sources = unmixing (x - mean) = W K (x - mean) */
    double *mixing;       /* k x k: its inverse, x - mean = mixing sources */
    double *sources;      /* k x n: unit-variance sources, NaN for pixels not used */
    size_t iterations;
    int converged;
    double final_change;  /* largest move of an entry of W in the last iteration */
    uint64_t seed;
} mva_ica;

/*
 * FastICA (Hyvarinen 1999), symmetric (parallel) form with G(u) = log cosh u, on the k x n
 * signals x (k leading scores; pixels with a non-finite value, or flagged in mask, are left
 * out).  The signals are centred and whitened first.  Sources are then signed to positive
 * skewness and ordered by the norm of their mixing column (their share of the signals),
 * largest first; w, unmixing and mixing follow.  *out: mva_ica_free.  MVA_ENUMERIC when the
 * signals are rank deficient (a zero-variance direction cannot be whitened).
 */
int mva_ica_fit(const double *x, size_t k, size_t n, const unsigned char *mask,
                const mva_ica_opts *opts, mva_ica **out, mva_error *err);

void mva_ica_free(mva_ica *r);

/*
 * Adds the rotation rot and/or the independent components ica (either may be NULL) of the
 * PCA model m to its entry `entry` of the results file path, beside the principal
 * components: NXdata rotated_eigenspectra (k x p, over the entry's energy or channel axis)
 * and rotated_eigenimages (k x rows x cols), NXcollection rotation (matrix, method, gamma,
 * iterations, converged, criterion); NXdata independent_spectra (mixing^T x eigenspectra)
 * and independent_images (the sources), NXcollection ica (unmixing, mixing, whitening, w,
 * w_init, mean, iterations, converged, final_change, tol, seed, n_used).  method names the
 * rotation ("varimax").  Temporary copy and rename; MVA_EINVAL when a group already exists.
 */
int mva_rotate_write(const char *path, const char *entry, const mva_pca_model *m,
                     const mva_rotate_result *rot, const char *method, const mva_ica *ica,
                     double ica_tol, mva_error *err);

#endif
