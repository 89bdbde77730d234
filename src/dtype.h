/* Internal to the library: the one table that turns stored values of every mva_dtype into
 * doubles, shared by every reader (HDF5, EDF, SPEC where it applies, the spill copy, the
 * in-memory readers).  Declared here, not in a public header, so that its calling convention
 * can follow the readers. */
#ifndef MVA_DTYPE_H
#define MVA_DTYPE_H

#include <stddef.h>

#include "mva/stack.h"

/* n values of type t at src (any alignment), in host byte order, or in the opposite byte
 * order when swap is set, into out as doubles.  Exact for every type but 64-bit integers
 * beyond 2^53 (rounded to the nearest double, as a C cast does).  t must be a known type. */
void mva_dtype_to_double(mva_dtype t, const void *src, size_t n, int swap, double *out);

/* The same for values stored channel-first: src holds p channels of m pixels each
 * ((p, m), pixel index fastest, host byte order); out gets (m, p), channel index fastest. */
void mva_dtype_to_double_t(mva_dtype t, const void *src, size_t m, size_t p, double *out);

#endif
