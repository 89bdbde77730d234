/*
 * mva/spec.h - the SPEC file stack reader: one MCA spectrum (@A lines) per pixel.
 *
 * The file is indexed once (byte offset of every spectrum, 8 bytes per pixel) and blocks are
 * parsed on demand from those offsets.  The map shape comes from a mesh scan command, else one
 * scan per map row when all scans have the same length, else one row; opts->rows/cols
 * override it.
 *
 * Rules, from silx's specfile and PyMca's SpecFileDataSource:
 *  - a pixel is one scan point; scans without MCA lines are skipped.  Every line starting with
 *    '@' ("@A", "@A1", ...) is one MCA spectrum, continued on the next line while a line ends
 *    with '\' (trailing blanks and CR allowed).
 *  - MCAs per point (detectors): MCA lines / counter lines of the scan; without counter lines
 *    the number of #@CHANN lines (1 when there is none).  opts->detector picks one (0-based),
 *    MVA_DETECTOR_SUM adds them all (same count in every scan).
 *  - the shape from the command applies to a file of one MCA scan whose command ends in
 *    "mesh" with arguments "m1 a b n1 m2 c d n2 t": (n2 + 1) rows x (n1 + 1) columns, or
 *    fewer whole rows when the mesh was cut short.
 *  - channels: n of "#@CHANN n first last step" in the first MCA scan (the detector's own line
 *    when there is one per detector), else the length of the first spectrum; every spectrum
 *    read must have that many values.  Calibration from "#@CALIB a b c" of the same scan,
 *    shifted to array indices when first != 0; "0 1 0" (uncalibrated) is ignored;
 *    opts->calib overrides.
 *  - numbers are parsed without the process locale; the stack dtype is float64.
 */
#ifndef MVA_SPEC_H
#define MVA_SPEC_H

#include "mva/error.h"
#include "mva/stack.h"

/* Opens a SPEC file as a stack.  opts may be NULL (first detector, shape from the file).
 * The file stays mapped (read-only) until mva_stack_close.  Errors: MVA_ENOTFOUND, MVA_EIO,
 * MVA_EFORMAT (not SPEC, no MCA data, a malformed header or first spectrum, '\' at the end
 * of the file, with file and line), MVA_EINVAL (detector out of range, --shape mismatch).
 * Reads report values that are not numbers (line, column) and spectra of the wrong length. */
int mva_spec_open(mva_stack **out, const char *input, const mva_open_opts *opts,
                  mva_error *err);

/* One scan of a SPEC file, as mva_spec_list describes it. */
typedef struct mva_spec_scan {
    char key[32];       /* "12", or silx's "12.2" for the second scan numbered 12 */
    char command[160];  /* the #S line after the number, e.g. "ascan eta 43.6 44.0 40 1" */
    size_t line;        /* line of its "#S" */
    size_t points;      /* points (counter lines when the scan cannot be read) */
    size_t mca;         /* MCA spectra ('@' lines) */
    size_t detectors;   /* MCAs per point; 0 when the scan cannot be read */
    size_t channels;    /* values per spectrum; 0 when the scan cannot be read */
    char note[640];     /* why it cannot be read, or the spectra after its last point; "" */
} mva_spec_scan;

/* Called once per scan, in file order; a non-zero return stops the listing and is returned. */
typedef int (*mva_spec_list_fn)(void *ctx, const mva_spec_scan *scan);

/* Indexes FILE and describes every scan through fn (scans without MCA data too).  Errors
 * as mva_spec_open's for the file itself; a scan that cannot be read is only described. */
int mva_spec_list(const char *file, mva_spec_list_fn fn, void *ctx, mva_error *err);

/* Non-zero when the file's content is SPEC: its first line is a '#' line and it is "#F" or
 * "#S", or a "#S " scan line follows within the first 64 KiB.  0 for a missing file. */
int mva_spec_is_spec(const char *file);

#endif
