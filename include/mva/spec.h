/*
 * mva/spec.h - the SPEC file stack reader: one MCA spectrum (@A lines) per scan point.
 *
 * The file is indexed once (byte offset of every MCA line and counter line, a few counts per
 * scan) and spectra are parsed on demand from those offsets.
 *
 * Rules, from silx's specfile and PyMca's SpecFileDataSource:
 *  - a point is a counter line with the MCA lines ('@' lines, continued while a line ends in
 *    '\') beside it: all before it (APS 33-ID) or all after it; every point of a scan has the
 *    same number (its MCAs per point, "detectors").  MCA lines after the last counter line of
 *    a scan whose spectra come first belong to no point and are not read (said in
 *    info.warnings).  A scan without counter lines has one MCA per #@CHANN line per point.
 *  - scans: opts->scan "N", "N.K" (silx's key: the K-th scan numbered N, needed when numbers
 *    repeat), lists "N,M,..." and ranges "N:M" (file order); NULL = every scan with MCA data.
 *    A named scan that cannot be read is an error (file, line, why); one of the whole file is
 *    skipped with a warning; scans without MCA data are left out.
 *  - map shape: a single chosen scan whose command ends in "mesh" with arguments
 *    "m1 a b n1 m2 c d n2 t": (n2 + 1) rows x (n1 + 1) columns (when cut short, the rows it
 *    started, the pixels it did not reach read as NaN and said in info.warnings); else one row per scan when the chosen scans have the same length; else one row.
 *    opts->rows/cols override it.
 *  - detectors: opts->detector (combine.h's syntax; default the sum of all MCAs of a point).
 *  - channels: "#@CHANN n first last step" holds channels first..last by step (n is the MCA's
 *    size), else the first spectrum's length; every spectrum must have that many values.
 *    Calibration from "#@CALIB a b c" of the first scan, rewritten per array index; "0 1 0"
 *    (uncalibrated) is ignored; opts->calib overrides.
 *  - opts->norm: a name is a counter of the scans' #L line (labels split at two blanks).
 *  - numbers are parsed without the process locale; the stack dtype is float64.
 */
#ifndef MVA_SPEC_H
#define MVA_SPEC_H

#include "mva/error.h"
#include "mva/stack.h"

/* Opens a SPEC file as a stack.  opts may be NULL (every scan, MCAs summed, shape from the
 * file).  The file stays mapped (read-only) until mva_stack_close.  Errors: MVA_ENOTFOUND
 * (file, a named scan or counter missing), MVA_EIO, MVA_EFORMAT (not SPEC, no MCA data, a
 * named scan malformed, with file and line), MVA_EINVAL (--detector, --scan syntax, --shape).
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
