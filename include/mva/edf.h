/*
 * mva/edf.h - the EDF (ESRF data format) stack reader.
 *
 * An EDF file is one or more blocks, each an ASCII header from '{' to the first '}' + newline
 * with "key = value ;" lines (keys case-insensitive; Dim_1, DataType, ByteOrder and Size
 * required; headers capped at 1 MiB), followed by the binary data, Dim_1 fastest.  The stack
 * is the blocks of its files in order, each block map rows of the same width: a 2-D block
 * (Dim_2 = cols, Dim_1 = channels) is one row, a 3-D block Dim_3 rows, a 1-D block one pixel.
 * Stacks come as (1) one file per map row, found as a numbered series the way PyMca does, or
 * given as a list or a printf-style pattern; (2) one 3-D EDF; (3) one multi-block file whose
 * blocks are the rows.  Whole-file gzip (.edf.gz) is read through zlib.  The calibration
 * comes from PyMca's "MCA a", "MCA b" (and optional "MCA c") keys of the first block.
 */
#ifndef MVA_EDF_H
#define MVA_EDF_H

#include "mva/error.h"
#include "mva/stack.h"

/*
 * Opens an EDF stack: opts->files (nfiles, in order; INPUT ignored), else with
 * opts->use_pattern INPUT as a pattern with one %d-style counter numbered opts->first..last,
 * else the file INPUT.  When INPUT holds a single 2-D block and the last run of digits of its
 * base name is a counter, the stack is the series of consecutive numbers (same zero-padded
 * width) around it, from the lowest one reached without a gap up to the first missing one
 * (PyMca's EDFStack starts at the lowest existing number instead; both agree unless a gap lies
 * below INPUT).  Every header is indexed at open; data are read on demand.  opts may be NULL.
 * Returns MVA_EFORMAT (message naming file and byte offset) for malformed files.
 */
int mva_edf_open(mva_stack **out, const char *input, const mva_open_opts *opts,
                 mva_error *err);

/* Non-zero when the file's content is EDF: its first non-blank byte is '{' (also inside a
 * gzip stream).  0 for a missing or unreadable file. */
int mva_edf_is_edf(const char *file);

#endif
