/*
 * mva/cluster.h - k-means clustering of pixels in a low-dimensional space (component scores).
 *
 * The input is the dim x n matrix of a model's images (PCA scores, NMF abundances): pixel i is
 * the point (x[0 * n + i], ..., x[(dim - 1) * n + i]).  Memory is a few copies of dim x n
 * doubles (the scores), never the map.  Pixels with a non-finite coordinate, or flagged in an
 * optional mask, get no label (-1).
 *
 * Lloyd's algorithm from greedy k-means++ seeds (Arthur & Vassilvitskii 2007; 2 + ln c
 * candidates per centre, keeping the one that lowers the potential most, as scikit-learn
 * does), several restarts keeping the lowest inertia.  Everything runs in one thread in pixel
 * order, so the labels depend on the input values and the seed only: the same for any block
 * size or thread count of the pass that produced the scores.  Clusters are numbered by
 * decreasing size (ties: by first pixel), so the numbering is reproducible too.
 *
 * Choosing the number of clusters (-c auto): the mean silhouette (Rousseeuw 1987) of a seeded
 * random sample of valid pixels, for every c in [c_min, c_max]; the c with the largest mean
 * silhouette wins.  Silhouette rather than the BIC of a Gaussian mixture: XRF phases mix
 * continuously, so clusters are not Gaussian, and with 10^5-10^6 pixels the likelihood term
 * of the BIC outweighs its penalty and keeps asking for more components; the silhouette is
 * scale-free, bounded in [-1, 1] and uses only the k-means fits themselves.
 */
#ifndef MVA_CLUSTER_H
#define MVA_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "mva/error.h"
#include "mva/select.h"
#include "mva/stack.h"

#define MVA_KMEANS_DEFAULT_SEED 20261206u

/* Options; start from mva_kmeans_opts_default(). */
typedef struct mva_kmeans_opts {
    size_t clusters;      /* c, the number of clusters (>= 1) */
    size_t restarts;      /* k-means++ starts; the lowest inertia wins (default 10) */
    size_t max_iter;      /* Lloyd iterations per start at most (default 300) */
    uint64_t seed;        /* seed of the first start; start r uses the generator seeded with
                             seed + r (default MVA_KMEANS_DEFAULT_SEED) */
} mva_kmeans_opts;

/* clusters 5, 10 restarts, 300 iterations, the default seed. */
mva_kmeans_opts mva_kmeans_opts_default(void);

/* A clustering of n pixels in dim dimensions into c clusters. */
typedef struct mva_kmeans_result {
    size_t n, dim, clusters;
    size_t n_labelled;    /* pixels with a label */
    int32_t *labels;      /* n: cluster 0 .. c-1, or -1 (masked or non-finite) */
    double *centroids;    /* c x dim: mean of each cluster's points */
    size_t *sizes;        /* c: pixels in each cluster */
    double *distance;     /* n: Euclidean distance to its centroid, NaN when unlabelled */
    double inertia;       /* sum of squared distances to the centroids */
    size_t iterations;    /* Lloyd iterations of the winning start */
    int converged;        /* the winning start stopped because no label changed */
    size_t best_restart;  /* which start won (0-based) */
    size_t restarts;
    uint64_t seed;
} mva_kmeans_result;

/*
 * Clusters the n points of x (dim x n, coordinate-major: x[d * n + i]) into opts->clusters
 * clusters.  mask (n bytes, 1 = leave out) may be NULL.  *out is new
 * (mva_kmeans_result_free).  MVA_EINVAL when there are fewer labelled points than clusters
 * or clusters is 0; MVA_ENOMEM.
 */
int mva_kmeans_fit(const double *x, size_t dim, size_t n, const unsigned char *mask,
                   const mva_kmeans_opts *opts, mva_kmeans_result **out, mva_error *err);

void mva_kmeans_result_free(mva_kmeans_result *r);

/*
 * Mean silhouette of a clustering, over a sample of at most `sample` labelled points drawn
 * without replacement with a generator seeded with seed (all of them when sample is 0 or
 * larger than the count).  Distances from each sampled point are to the other sampled
 * points (as scikit-learn's silhouette_score with sample_size).  Returns the mean in
 * [-1, 1], or NaN when fewer than two clusters are represented in the sample.
 */
double mva_kmeans_silhouette(const double *x, size_t dim, size_t n, const int32_t *labels,
                             size_t sample, uint64_t seed);

/* The sample of mva_kmeans_silhouette: silhouette points drawn (default 2000) and the range
 * of cluster counts tried (default 2 .. 10). */
typedef struct mva_kmeans_auto {
    size_t c_min, c_max;
    size_t sample;
    double *silhouette;   /* filled: c_max - c_min + 1 values, or NULL */
} mva_kmeans_auto;

/*
 * -c auto: fits every c in [a->c_min, a->c_max] with opts (clusters ignored), keeps the c with
 * the largest mean silhouette on a sample (drawn with opts->seed), and returns that fit in
 * *out.  a->silhouette, when not NULL, receives every c's score.  Errors as mva_kmeans_fit;
 * MVA_EINVAL when c_min < 2 or c_min > c_max.
 */
int mva_kmeans_fit_auto(const double *x, size_t dim, size_t n, const unsigned char *mask,
                        const mva_kmeans_opts *opts, mva_kmeans_auto *a,
                        mva_kmeans_result **out, mva_error *err);

/*
 * A clustering as a part of a result file (mva_result_parts.cluster, mva/result.h; the entry
 * name, command line and input name are the parts' common provenance): an NXentry (default
 * name mva_cluster) with NXdata labels (int32 rows x cols, -1 = no label) and distance (to
 * the centroid), cluster_sizes, centroids (c x dim), NXdata cumulative_spectra,
 * average_spectra, max_spectra (c x p) and map_average_spectrum over the energy axis,
 * NXdata clusters_vs_map (each cluster's average spectrum and the map's, for silx), the
 * silhouette of -c auto, the fit's figures and an NXprocess.
 */
typedef struct mva_cluster_output {
    const char *source;            /* where the scores came from, e.g. "res.h5::/mva_pca" */
    const char *scores;            /* which scores, e.g. "PCA eigenimages 0..3 (scaled)" */
    const char *rule;              /* how c was chosen, one sentence */
    size_t rows, cols;             /* rows * cols = km->n */
    const mva_kmeans_result *km;
    const mva_select_label_spectra *spectra; /* km->clusters classes; NULL: no spectra */
    const mva_calib *cal;          /* energy axis of the spectra, may be NULL */
    const double *silhouette;      /* -c auto: the score of each c in c_min..c_max, or NULL */
    size_t c_min, c_max;
} mva_cluster_output;

#endif
