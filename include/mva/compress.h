/*
 * mva/compress.h - a PCA model as a compressed stack: reconstruction, its error, expansion.
 *
 * A model of k components stands for the stack: pixel i is rebuilt as
 *   x_i = mean + sum_q score_qi component_q                      (centred)
 *   x_i = sum_q score_qi component_q                              (uncentred scores)
 * and with Poisson scaling (pixel weight w_i, variable weights c)
 *   x_i = scaled_mean / (c w_i) + sum_q score_qi component_q
 * (0 for a pixel or variable of weight 0).  Values are in the model's variables (the stack's
 * channels after range and binning).
 */
#ifndef MVA_COMPRESS_H
#define MVA_COMPRESS_H

#include <stddef.h>

#include "mva/error.h"
#include "mva/pass.h"
#include "mva/pca.h"
#include "mva/stack.h"

/* Rebuilds pixel i of the model into out (m->p values). */
void mva_pca_reconstruct(const mva_pca_model *m, size_t i, double *out);

/* How well a model stands for the stack it came from. */
typedef struct mva_compress_stats {
    double rel_frobenius;    /* ||X - X^||_F / ||X||_F over the valid pixels */
    double max_abs;          /* largest |x - x^| */
    double chi2_mean;        /* mean over valid pixels of the reduced chi-square */
    double *chi2;            /* n: per pixel reduced chi-square under Poisson statistics,
                                sum_j (x - x^)^2 / max(x^, 1) over the degrees of freedom
                                sum_j min(x^, 1) (p - k) / p, so that pure noise gives 1;
                                NaN for masked pixels */
    size_t n_valid;
    double values_ratio;     /* n p / (k (n + p) + 2 p): stored numbers, stack vs model */
    double bytes_ratio;      /* stack bytes (stored type) / model bytes (float64) */
} mva_compress_stats;

/* One streamed pass over s (the stack m was fitted on, with the options o) measuring the
 * reconstruction error.  *out gets the statistics (free with mva_compress_stats_free). */
int mva_compress_measure(mva_stack *s, const mva_pca_model *m, const mva_pca_opts *o,
                         const mva_pass_opts *popts, mva_compress_stats **out, mva_error *err);

void mva_compress_stats_free(mva_compress_stats *r);

/* The statistics are written with the model, as the recon part of mva_result_write
 * (mva/result.h): group <entry>/reconstruction, an NXcollection with the scalars and an
 * NXdata chi2 image. */

/* What to expand. */
typedef struct mva_expand_opts {
    size_t r0, r1, c0, c1; /* region rows [r0, r1) x cols [c0, c1); r1 = c1 = 0: the map */
    mva_dtype dtype;       /* MVA_DTYPE_FLOAT64 (default, 0 = it), _FLOAT32 or _UINT32 */
    int round;             /* round to the nearest integer (negative values -> 0 for uint) */
} mva_expand_opts;

/*
 * Rebuilds the stack (or a region) from m into a new NeXus file path: NXentry "expanded",
 * NXdata with data (rows, cols, p) chunked by rows and gzip-compressed, the energy (when the
 * model has one) or channel axis, written row by row (memory: one row).  Temporary name +
 * rename, as every output.  o may be NULL (the whole map as float64).
 */
int mva_expand_write(const mva_pca_model *m, const mva_expand_opts *o, const char *path,
                     mva_error *err);

#endif
