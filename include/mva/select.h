/*
 * mva/select.h - pixel selections and the spectra of the selected pixels.
 *
 * A mask is a plain byte image the size of the map (rows x cols, row-major), 1 = selected.
 * Selections come from any image of a results file (eigenimage, ROI image, total counts) by
 * a value range, a threshold in standard deviations from the image median, or a top fraction,
 * or from a mask file (HDF5 dataset, PNG, text grid); they combine with and / or / and-not.
 * The spectra of a selection come from one streamed pass over the original stack.
 */
#ifndef MVA_SELECT_H
#define MVA_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "mva/error.h"
#include "mva/pass.h"
#include "mva/stack.h"

typedef enum mva_select_op {
    MVA_SEL_AND = 0,
    MVA_SEL_OR = 1,
    MVA_SEL_AND_NOT = 2,
    MVA_SEL_SET = 3
} mva_select_op;

/* mask[i] = lo <= img[i] <= hi (NaN pixels never selected).  Returns the count. */
size_t mva_select_range(const double *img, size_t n, double lo, double hi,
                        unsigned char *mask);

/* mask[i] = img[i] >= median + nsigma * sd (above != 0) or img[i] <= median + nsigma * sd
 * (above == 0), median and standard deviation of the finite pixels.  *threshold gets the
 * value used (may be NULL).  Returns the count, or 0 when the image has no finite pixel. */
size_t mva_select_sigma(const double *img, size_t n, double nsigma, int above,
                        unsigned char *mask, double *threshold);

/* mask[i] = img[i] is among the top `fraction` (0..1] of the finite pixels (ties at the
 * threshold included).  Returns the count. */
size_t mva_select_top(const double *img, size_t n, double fraction, unsigned char *mask,
                      double *threshold);

/* Combines: dst = dst op src (MVA_SEL_AND, _OR, _AND_NOT; _SET copies).  Returns the count. */
size_t mva_select_combine(unsigned char *dst, const unsigned char *src, size_t n,
                          mva_select_op op);

/* Reads image SPEC of entry (NULL = the file's default entry) in a results file: a dataset
 * path relative to the entry, with an optional index along its first axis, e.g.
 * "eigenimages/data[1]", "roi_raw/data[0]", "total_counts/data".  *img (rows x cols doubles,
 * caller frees) and the shape on success. */
int mva_result_image_read(const char *results, const char *entry, const char *spec,
                          double **img, size_t *rows, size_t *cols, mva_error *err);

/* The stack a results entry was computed from, as "file" or "file::/dataset" (from its
 * process group), into input (cap bytes). */
int mva_result_input(const char *results, const char *entry, char *input, size_t cap,
                     mva_error *err);

/* As mva_result_input, and the reader options the entry was computed with (recorded by the
 * tools as process/parameters/reader_*: detector, norm, snake, scan, channel axis, shape,
 * calibration), so that the stack reopens as it was analysed: same elements, normalisation
 * and pixel order.  Only the fields of opts the caller left unset are filled; their strings
 * are kept in text (text_cap bytes, which must outlive opts' use).  MVA_EFORMAT names a
 * recorded option that cannot be read back. */
int mva_result_input_opts(const char *results, const char *entry, char *input, size_t cap,
                          mva_open_opts *opts, char *text, size_t text_cap, mva_error *err);

/* Reads a mask of rows x cols from "file.h5::/path" (any numeric 2-D dataset, non-zero =
 * selected), a PNG (gray or colour, non-black = selected, must be cols wide and rows high)
 * or a text file (rows lines of cols 0/1 values).  mask is caller-allocated. */
int mva_select_mask_read(const char *path, size_t rows, size_t cols, unsigned char *mask,
                         mva_error *err);

/* What one pass over the stack gives for a selection. */
typedef struct mva_select_spectra_result {
    size_t p, n_selected, n_valid;
    double *sum;          /* p: cumulative spectrum of the selected pixels */
    double *avg;          /* p: their average */
    double *max;          /* p: their per-channel maximum */
    double *map_avg;      /* p: the average spectrum of every valid pixel of the map */
} mva_select_spectra_result;

/* One pass over s: the spectra of the pixels selected in mask (rows x cols of s); pixels
 * holding NaN/Inf are left out of everything.  *out is new (mva_select_spectra_free). */
int mva_select_spectra(mva_stack *s, const unsigned char *mask, const mva_pass_opts *popts,
                       mva_select_spectra_result **out, mva_error *err);

void mva_select_spectra_free(mva_select_spectra_result *r);

/* The same for a labelling of the map into nclass classes (clusters): labels[i] in
 * [0, nclass) or negative (no class).  Arrays of nclass x p, class-major. */
typedef struct mva_select_label_spectra {
    size_t p, nclass, n_valid;
    size_t *count;        /* nclass: valid pixels of each class */
    double *sum;          /* nclass x p: cumulative spectrum of each class */
    double *avg;          /* nclass x p: average (0 for an empty class) */
    double *max;          /* nclass x p: per-channel maximum (0 for an empty class) */
    double *map_avg;      /* p: average spectrum of every valid pixel of the map */
} mva_select_label_spectra;

/* One pass over s: the spectra of every class of labels (rows x cols of s); pixels holding
 * NaN/Inf are left out of everything.  With popts->comm, each process passes over its range
 * and the sums, counts and maxima are combined: every process gets the whole map's spectra
 * (labels must then hold every pixel's label on every process).  *out is new
 * (mva_select_label_spectra_free). */
int mva_select_labels(mva_stack *s, const int32_t *labels, size_t nclass,
                      const mva_pass_opts *popts, mva_select_label_spectra **out,
                      mva_error *err);

void mva_select_label_spectra_free(mva_select_label_spectra *r);

/* A selection as a part of a result file (mva_result_parts.selection, mva/result.h): an
 * NXentry (default name mva_select) with NXdata cumulative_spectrum, average_spectrum,
 * max_spectrum, map_average_spectrum and selected_vs_map (the selection's average against the
 * map's) over the energy axis of cal (channels when unknown or NULL), the mask as an NXdata
 * image, the pixel counts, and a process group recording description and the input. */
typedef struct mva_select_output {
    const mva_select_spectra_result *spectra;
    const unsigned char *mask;     /* rows x cols, 1 = selected */
    size_t rows, cols;
    const mva_calib *cal;          /* may be NULL */
    const char *description;       /* how the pixels were chosen, one line */
    const char *source;            /* the results entries of the images tested,
                                    * "file::/entry[, ...]"; NULL: none (a mask given) */
} mva_select_output;

#endif
