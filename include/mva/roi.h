/*
 * mva/roi.h - regions of interest: element images and spectra in one pass.
 *
 * For each ROI [ch0, ch1] (inclusive) and pixel i with spectrum y:
 *   raw = sum_{c=ch0}^{ch1} y[c]
 *   net = raw - 0.5 * (ch1 - ch0 + 1) * (y[ch0] + y[ch1])     (PyMca's straight-line background)
 * plus the total-counts image and the sum, average and per-channel maximum spectrum.  Pixels
 * holding NaN/Inf are excluded from every spectrum, flagged in the mask, and their image
 * values are NaN.
 */
#ifndef MVA_ROI_H
#define MVA_ROI_H

#include <stddef.h>

#include "mva/error.h"
#include "mva/pass.h"
#include "mva/stack.h"

typedef enum mva_roi_unit { MVA_ROI_CHANNEL = 0, MVA_ROI_KEV = 1 } mva_roi_unit;

#define MVA_ROI_NAME_MAX 64

/* One ROI as the user gave it: bounds in channels or in keV, inclusive. */
typedef struct mva_roi_def {
    char name[MVA_ROI_NAME_MAX];
    double from, to;
    mva_roi_unit unit; /* MVA_ROI_CHANNEL or MVA_ROI_KEV */
} mva_roi_def;

/* Parses "Fe=6.2:6.6keV", "6.2:6.6keV", "640:700" or "Cu=640:700" into def.  A ROI without a
 * name is named after its bounds.  Numbers are parsed independent of the locale. */
int mva_roi_parse(const char *text, mva_roi_def *def, mva_error *err);

/* Resolves def to inclusive channels [*ch0, *ch1] of a p-channel stack (keV through cal).
 * Errors when the calibration is needed but unknown, or the range holds no channel. */
int mva_roi_resolve(const mva_roi_def *def, const mva_calib *cal, size_t p, size_t *ch0,
                    size_t *ch1, mva_error *err);

/* Everything one ROI pass produces.  Images are n = rows * cols values, row-major. */
typedef struct mva_roi_result {
    size_t rows, cols, p, nroi;
    mva_roi_def *defs;      /* nroi definitions as given */
    size_t *ch0, *ch1;      /* nroi resolved inclusive channel bounds */
    double *raw;            /* nroi x n raw ROI images */
    double *net;            /* nroi x n background-subtracted ROI images */
    double *total;          /* n total-counts image */
    double *sum_spectrum;   /* p, over valid pixels */
    double *avg_spectrum;   /* p, sum / n_valid */
    double *max_spectrum;   /* p, per-channel maximum over valid pixels */
    unsigned char *mask;    /* n, 1 = pixel excluded (non-finite values) */
    size_t n_valid;
} mva_roi_result;

typedef struct mva_roi_acc mva_roi_acc;

/* Creates an accumulator for the ROIs defs[0..nroi) (nroi may be 0: spectra and total
 * only) on a stack described by info.  Resolves every ROI now, so bad ROIs fail early. */
int mva_roi_acc_new(mva_roi_acc **out, const mva_stack_info *info, const mva_roi_def *defs,
                    size_t nroi, mva_error *err);

/* The accumulator to give to mva_pass_run(). */
mva_accum mva_roi_acc_accum(mva_roi_acc *a);

/* Several processes (popts->comm, each passing over its own pixel range): the accumulator's
 * finish then combines the partial results of every process, so that each holds the whole
 * result.  Call before the pass that popts describes; mva_roi_fit does it itself. */
void mva_roi_acc_share(mva_roi_acc *a, mva_stack *s, const mva_pass_opts *popts);

/* After the pass: moves the result out of the accumulator into *out (caller frees it with
 * mva_roi_result_free). */
int mva_roi_acc_take(mva_roi_acc *a, mva_roi_result **out, mva_error *err);

void mva_roi_acc_free(mva_roi_acc *a);
void mva_roi_result_free(mva_roi_result *r);

/* One pass over s computing the ROIs into *out (free it with mva_roi_result_free): the
 * analysis's one call, named as mva_pca_fit and mva_nmf_fit are; mva_roi_acc_* +
 * mva_pass_run when the ROIs share a pass with other accumulators. */
int mva_roi_fit(mva_stack *s, const mva_roi_def *defs, size_t nroi,
                const mva_pass_opts *popts, mva_roi_result **out, mva_error *err);

#endif
