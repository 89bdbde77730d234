/* Scratch matrices in an unlinked HDF5 file, read and written by rows (src/scratch.c).  Internal
 * to the library. */
#ifndef MVA_SCRATCH_H
#define MVA_SCRATCH_H

#include <stddef.h>

#include "mva/error.h"

typedef struct mva_scratch mva_scratch;

/* A rows x cols float64 matrix in a new HDF5 file in dir (NULL or "": $TMPDIR, else /tmp),
 * named mva-WHAT-XXXXXX and unlinked at once.  Contents undefined until written. */
int mva_scratch_create(mva_scratch **out, const char *dir, const char *what, size_t rows,
                       size_t cols, mva_error *err);

/* The same with rows of row_bytes bytes, whatever they hold. */
int mva_scratch_create_bytes(mva_scratch **out, const char *dir, const char *what, size_t rows,
                             size_t row_bytes, mva_error *err);

/* Rows [first, first + count), row after row (cols doubles, or row_bytes bytes, each).  Safe to
 * call while another thread is inside HDF5: no HDF5 call is made. */
int mva_scratch_read(mva_scratch *s, size_t first, size_t count, void *buf, mva_error *err);
int mva_scratch_write(mva_scratch *s, size_t first, size_t count, const void *buf,
                      mva_error *err);

/* len bytes at byte pos of the rows x row_bytes storage. */
int mva_scratch_pread(mva_scratch *s, size_t pos, size_t len, void *buf, mva_error *err);
int mva_scratch_pwrite(mva_scratch *s, size_t pos, size_t len, const void *buf,
                       mva_error *err);

/* The directory scratch files go to: dir, else $TMPDIR, else /tmp. */
const char *mva_scratch_dir(const char *dir);

/* The name the file had (for messages). */
const char *mva_scratch_name(const mva_scratch *s);

void mva_scratch_close(mva_scratch *s);

#endif
