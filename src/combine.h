/*
 * The generic reader stage, internal to the library: what every format reader uses to hand
 * the analyses a clean n x p matrix in map order.
 *
 *  - detector elements: mva_detector_select() parses --detector against the elements an input
 *    has; mva_combine_open() sums element stacks channel by channel, each scaled by its own
 *    per-pixel weights, block by block; mva_combine_add() is the kernel for readers that hold
 *    the elements of a block themselves (4-D datasets, SPEC lines).
 *  - normalisation: mva_norm_parse() splits --norm into terms; mva_norm_factor() turns the
 *    raw per-pixel arrays of one term (monitor, live time, dead-time factors) into weights;
 *    mva_norm_build() (io/norm.c) does the whole: reads dataset terms, asks the layout for
 *    named ones, returns the weights and a description.
 *  - snake scans: mva_snake_wrap() reverses every other row.
 *  - missing pixels (aborted scans): the reader returns NaN spectra for them (see stack.h).
 *
 * Weights are element-major: w[e * n + i] for element e, pixel i (in stored order, before
 * any snake reordering).  A NaN weight masks the pixel: w * x is NaN.
 */
#ifndef MVA_COMBINE_H
#define MVA_COMBINE_H

#include <stddef.h>

#include "mva/stack.h"

/* Appends printf output to buf (cap bytes, holding a string), truncating quietly. */
void mva_text_append(char *buf, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- detector elements ---- */

/*
 * Parses a --detector spec for an input of nel >= 1 elements into use[nel] (1 = used, 0 =
 * not).  spec NULL: every element (their sum when nel > 1).  "sum": every element.  "N", a
 * list "0,2,3", ranges "0-3" (mixable: "0,2-3"): those.  Returns the number of elements used
 * (>= 1), or MVA_EINVAL with a message: "--detector 5: the input has 4 detector elements
 * (0-3)", "--detector 0: the input has a single detector element ...", bad syntax.
 */
int mva_detector_select(const char *spec, size_t nel, unsigned char *use, mva_error *err);

/* The syntax of a --detector spec alone (before the input is known): MVA_OK or MVA_EINVAL. */
int mva_detector_check(const char *spec, mva_error *err);

/*
 * What the selection is, for mva_stack_info.elements: "sum of 4 elements: data_a, data_b,
 * data_c, data_d", "sum of elements 0, 2 of 4: ...", "element 2 of 4: data_c".  names may be
 * NULL (elements then named by number) and holds nel names.  "" for a single-element input.
 */
void mva_detector_describe(const unsigned char *use, size_t nel, const char *const *names,
                           char *buf, size_t cap);

/* out[i*p + j] += w[i] * in[i*p + j] for count pixels of p channels; w NULL = 1.  A NaN
 * weight makes the pixel NaN (masked). */
void mva_combine_add(double *out, const double *in, size_t count, size_t p, const double *w);

/*
 * A stack that is the channel-by-channel sum of nel element stacks (all with the same rows,
 * cols and channels), element e scaled per pixel by w[e * n + i] (w NULL: no scaling).  Takes
 * ownership of elems[0..nel) (closed with the result, also on failure) and of w (free()d);
 * the array elems itself stays the caller's.  info describes the result (taken as is, except
 * dtype: float64 when weighted, else wide enough for the sum).  Reads are streamed: one
 * block of each element at a time, in one buffer of the block's size.  nel = 1 with w
 * normalises a single stack.
 */
int mva_combine_open(mva_stack **out, mva_stack **elems, size_t nel, double *w,
                     const mva_stack_info *info, mva_error *err);

/* ---- snake scans ---- */

/* Makes *s read odd rows (1, 3, ...) reversed: pixel (r, c) of an odd row comes from stored
 * pixel (r, cols-1-c).  Sets info.snake = MVA_SNAKE_ON.  Only MVA_ENOMEM can fail (then *s
 * is unchanged). */
int mva_snake_wrap(mva_stack *s, mva_error *err);

/* ---- normalisation ---- */

/* What one --norm term does to the counts. */
typedef enum mva_norm_kind {
    MVA_NORM_MONITOR = 1, /* divided by the value (I0, a scaler), times the reference */
    MVA_NORM_LIVETIME,    /* divided by the live time, times the reference */
    MVA_NORM_DTC          /* multiplied by the dead-time correction factor (no reference) */
} mva_norm_kind;

/* One term of --norm: KIND:NAME (a layout name) or KIND:[FILE::]/PATH (a dataset), @REF. */
typedef struct mva_norm_term {
    mva_norm_kind kind;
    char name[64];    /* layout name ("livetime", "dtc", "i0", a scaler NAME); "" = dataset */
    char file[4096];  /* the dataset's file; "" = the input file */
    char path[1024];  /* the dataset's path; "" = a layout name */
    long element;     /* "/path[E]": element E of a per-element dataset; -1 = all */
    int has_ref;      /* @REF given */
    double ref;       /* the reference given */
} mva_norm_term;

typedef struct mva_norm_spec {
    size_t nterms;
    mva_norm_term term[MVA_NORM_TERMS_MAX];
} mva_norm_spec;

/*
 * Parses --norm SPEC: TERM[,TERM...] (their factors multiply), TERM = [KIND:]SOURCE[@REF]
 * with KIND monitor|i0 (default), livetime or dtc; SOURCE "/path", "file.h5::/path" (either
 * may end in "[E]": element E of a per-element dataset, for a stack of that one element), or a
 * name the layout resolves: "livetime", "dtc", "i0" (kind implied), "monitor:NAME" or a bare
 * NAME that is not a kind (a monitor: a SPEC counter "I0", a scaler).  REF a
 * positive number (monitor and live time only).  MVA_EINVAL with the term and what was
 * expected.
 */
int mva_norm_parse(const char *spec, mva_norm_spec *out, mva_error *err);

/*
 * Multiplies the weights w (nel x n, element-major) by the factors of one term from its raw
 * values v: vnel x n values (vnel = 1: one per pixel shared by every element; vnel = nel: one
 * per element and pixel), pixel-major within an element.  MONITOR and LIVETIME: w *= ref / v
 * with ref = t->ref when given, else the mean of the finite positive values; DTC: w *= v.  A
 * value that is zero, negative or not finite masks the pixel (w = NaN) for that element.
 * *ref_used gets the reference (0 for DTC), *masked the number of (element, pixel) weights
 * newly masked.  MVA_EINVAL when vnel is neither 1 nor nel, or no value is usable.
 */
int mva_norm_factor(const mva_norm_term *t, const double *v, size_t n, size_t vnel,
                    size_t nel, double *w, double *ref_used, size_t *masked, mva_error *err);

/* Dead-time correction factors from the counters of an XSPRESS3/XIA-style electronics:
 * dtc[i] = (icr[i] / ocr[i]) * (realtime[i] / livetime[i]) (realtime and livetime may be NULL,
 * then the factor is icr/ocr).  A missing or zero rate gives NaN (the pixel is masked). */
void mva_norm_dtc_from_rates(const double *icr, const double *ocr, const double *realtime,
                             const double *livetime, size_t count, double *dtc);

/*
 * Resolves a layout name of a term (t->name: "livetime", "dtc", "i0", a scaler) into values:
 * *v malloc()ed, *vnel x n doubles (1 or the input's elements, element-major, in stored pixel
 * order); source describes where they came from ("/MAPS_RAW/livetime").  Returns MVA_OK,
 * MVA_ENOTFOUND (the layout has no such thing: say what it has) or another error.
 */
typedef int (*mva_norm_resolve_fn)(void *ctx, const mva_norm_term *t, double **v,
                                   size_t *vnel, char *source, size_t source_cap,
                                   mva_error *err);

/*
 * The per-pixel per-element weights of --norm spec for an input file of rows x cols pixels
 * and nel elements, of which use[] (NULL = all) are kept: *w malloc()ed, nused x n
 * element-major (only the used elements), NULL when spec is NULL.  Dataset terms are read
 * from their file (input_file when none is named) with mva_norm_read_dataset(); names go to
 * resolve (NULL: an error saying the input has no recognised layout and naming the dataset
 * form).  desc (for mva_stack_info.norm) says each term, its source, its reference and how
 * many pixels were masked.  Implemented in io/norm.c.
 */
int mva_norm_build(const char *spec, const char *input_file, size_t rows, size_t cols,
                   size_t nel, const unsigned char *use, mva_norm_resolve_fn resolve, void *ctx,
                   double **w, char *desc, size_t desc_cap, mva_error *err);

/*
 * mva_norm_build, and when factors is not NULL the record of what it built (*factors a new
 * mva_norm_factors of rows x cols in stored pixel order, one image when the used elements'
 * weights are equal, else one per used element; NULL when spec is NULL), to hand to the
 * stack with mva_stack_set_norm.  In io/norm.c.
 */
int mva_norm_build_factors(const char *spec, const char *input_file, size_t rows, size_t cols,
                           size_t nel, const unsigned char *use, mva_norm_resolve_fn resolve,
                           void *ctx, double **w, mva_norm_factors **factors, char *desc,
                           size_t desc_cap, mva_error *err);

/* A new record of nel factor images of rows x cols, no terms, in one malloc()ed block (free()
 * it): *factor (nel x rows x cols) and *element (nel) are for the caller to fill.  NULL when
 * out of memory or the size overflows. */
mva_norm_factors *mva_norm_factors_new(size_t rows, size_t cols, size_t nel, double **factor,
                                       size_t **element);

/* A copy of f for a map of rows x cols: map pixel i holds f's pixel i (NaN past f's last, an
 * aborted scan's missing points), or with snake the pixel of its row read back to front on
 * odd rows (as mva_snake_wrap reads).  NULL when out of memory. */
mva_norm_factors *mva_norm_factors_remap(const mva_norm_factors *f, size_t rows, size_t cols,
                                         int snake);

/*
 * Reads a per-pixel factor dataset file::path for a map of rows x cols pixels and nel
 * elements: shapes (n), (rows, cols), (nel, rows, cols), (rows, cols, nel) or (n, nel) (nel >
 * 1; Odin's meta file).  *v malloc()ed, *vnel x n doubles element-major.  element >= 0 reads
 * that element alone of a (E, rows, cols), (rows, cols, E) or (n, E) dataset (*vnel = 1).
 * Any other shape: MVA_EFORMAT naming the file, the dataset, the shape found and the shapes
 * expected.  In io/norm.c.
 */
int mva_norm_read_dataset(const char *file, const char *path, long element, size_t rows,
                          size_t cols, size_t nel, double **v, size_t *vnel, mva_error *err);

/*
 * The generic stage after a format reader opened *s (mva_stack_open calls it): --detector on
 * an input that did not use it (a single element) is an error; --norm not applied by the
 * reader (info.norm empty) is applied to the single stack from datasets; --snake on reverses
 * odd rows.  On failure *s is closed and NULL.
 */
int mva_stage_apply(mva_stack **s, const mva_open_opts *opts, mva_error *err);

#endif
