/*
 * mva/report.h - a self-contained HTML report of an analysis results file.
 *
 * mva_report_write() reads one NXentry of a results file (mva_result_write's layout) and
 * writes into a directory: one PNG per eigenimage, ROI image and the total-counts image, a
 * montage of them all, SVG plots of the eigenspectra, the scree and the mean spectrum (ROI
 * bands and element lines marked), and index.html with the summary table.  For a selection
 * entry (a selection part of mva_result_write) it writes selection.svg, the average spectrum of the
 * selected pixels against the map's with the element lines of the peaks the selection is
 * enriched in, mask.png and index.html.  For an NMF entry (an nmf part):
 * one PNG per abundance map (nmfNN.png), their montage, nmf_spectra.svg (the component
 * spectra, element lines at the strongest peaks of each), convergence.svg (the objective per
 * pass) and index.html with the fit's summary and each component's share of the counts.
 * For a clustering entry (a cluster part): labels.png (the label map in discrete
 * colours, legend beside it), clusters.svg (each cluster's average spectrum and the map's) and
 * index.html with the cluster sizes.
 * Everything is linked by relative names; no network, no JavaScript.  Each file is written under a
 * temporary name in the directory and renamed, so no half-written file ever carries its
 * final name.  The pieces (colormaps, robust limits, PNG images, element lines) are public
 * too, for tools and tests.
 */
#ifndef MVA_REPORT_H
#define MVA_REPORT_H

#include <stddef.h>

#include "mva/error.h"

/* Colormaps.  VIRIDIS (perceptually uniform, sequential) for non-negative images;
 * DIVERGING (blue - white - red, white at t = 0.5) for signed data such as PCA scores. */
typedef enum mva_report_cmap {
    MVA_REPORT_CMAP_VIRIDIS = 0,
    MVA_REPORT_CMAP_DIVERGING = 1
} mva_report_cmap;

/* The grey of masked (NaN) pixels. */
#define MVA_REPORT_NAN_GREY 128

/* Colour of t in [0, 1] (clamped) under cmap into rgb; a NaN t gives the grey of masked
 * pixels.  MVA_EINVAL for an unknown cmap (rgb untouched). */
int mva_report_colormap(mva_report_cmap cmap, double t, unsigned char rgb[3]);

/* Colormap by name ("viridis", "diverging"); -1 when unknown. */
int mva_report_colormap_from_name(const char *name);

/* The lo_pct and hi_pct percentiles (0..100, linear interpolation between order statistics)
 * of the finite values among v[0..n).  With no finite value both limits are 0.
 * MVA_EINVAL for percentiles out of order or range, MVA_ENOMEM. */
int mva_report_limits(const double *v, size_t n, double lo_pct, double hi_pct, double *lo,
                      double *hi, mva_error *err);

/* Symmetric limits for a diverging map: *lim = the pct percentile of |v| (finite values),
 * so that the map runs from -*lim to +*lim and 0 is white. */
int mva_report_limits_symmetric(const double *v, size_t n, double pct, double *lim,
                                mva_error *err);

/* Integer upscaling so that the shorter side of a rows x cols map reaches min_side pixels,
 * the longer side staying within max_side (at least 1). */
size_t mva_report_auto_scale(size_t rows, size_t cols, size_t min_side, size_t max_side);

/*
 * Writes values (rows x cols, row-major) as an RGB PNG of (rows * scale) x (cols * scale)
 * pixels at path: value v is drawn with colour t = (v - lo) / (hi - lo) of cmap (t = 0.5
 * when hi <= lo), NaN values in grey.  Row 0 is the top of the image.  Written to a
 * temporary name beside path and renamed.  MVA_EINVAL, MVA_ERANGE (too large), MVA_EIO.
 */
int mva_report_png_image(const char *path, const double *values, size_t rows, size_t cols,
                         mva_report_cmap cmap, double lo, double hi, size_t scale,
                         mva_error *err);

/* One entry of the built-in table of X-ray emission lines. */
typedef struct mva_report_line {
    const char *element; /* "Fe" */
    const char *line;    /* "Ka", "Kb", "La", "Lb" */
    double kev;          /* energy (keV) */
} mva_report_line;

/* The built-in table (K lines of P..Sr, L lines of heavier elements); *n receives its size. */
const mva_report_line *mva_report_lines(size_t *n);

/*
 * Finds the strongest peaks of a spectrum y over energies kev (n points, increasing) and,
 * for each that lies within tol keV of a line of the table, the nearest such line (a beta
 * line only once its element's alpha line has been matched to a stronger peak).  At most
 * cap matches go to out (each line once), strongest peak first; *nout receives their count.
 */
int mva_report_find_lines(const double *kev, const double *y, size_t n, double tol,
                          const mva_report_line **out, size_t cap, size_t *nout,
                          mva_error *err);

/* Options of mva_report_write; start from mva_report_opts_default(). */
typedef struct mva_report_opts {
    size_t scale;          /* integer upscaling of the images; 0 = automatic */
    size_t min_side;       /* automatic scale: shorter side at least this (default 200) */
    double lo_pct, hi_pct; /* contrast limits of sequential images (default 1, 99) */
    double div_pct;        /* diverging images: limit = this percentile of |v| (99) */
    int markers;           /* mark element lines on the mean spectrum (default 1) */
    double line_tol;       /* keV between a peak and its line (default 0.15) */
    int log;               /* selection plot: log10 y axis, non-positive values clipped
                              (default 0: linear; the mean spectrum is always log) */
} mva_report_opts;

mva_report_opts mva_report_opts_default(void);

/*
 * Writes the report of entry (NULL: the file's default entry) of results into dir, created
 * (one level) when missing.  opts may be NULL (defaults).  The entry must hold a PCA, a
 * ROI, an NMF, a selection or a clustering result.  MVA_ENOTFOUND names the missing file or entry; MVA_EIO a file
 * that could not be written (files already written stay, each complete).
 */
int mva_report_write(const char *results, const char *entry, const char *dir,
                     const mva_report_opts *opts, mva_error *err);

#endif
