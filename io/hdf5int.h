/*
 * Internal to io/: the parts of the HDF5 reader.
 *   hdf5.c         open (type, shape, channel axis, storage) and read through H5Dread
 *   hdf5_find.c    discovery: which dataset (explicit path, NeXus defaults, the only 3-D
 *                  one) and its energy calibration
 *   hdf5_direct.c  reading by direct chunk decoding on a pool of threads (parallel inflate)
 *   hdf5_attr.c    small helpers: attributes, names, HDF5's error text
 */
#ifndef MVA_IO_HDF5INT_H
#define MVA_IO_HDF5INT_H

#include <stddef.h>

#include <hdf5.h>

#include "mva/stack.h"

#define PATH_CAP 1024    /* = sizeof(mva_stack_info.path) */
#define FILE_CAP 4096    /* = sizeof(mva_stack_info.source) */
#define H5_MSG 256       /* buffer for one HDF5 error description */

typedef struct h5_direct h5_direct;

typedef struct h5_reader {
    hid_t file, dset, fspace;
    hid_t memtype;          /* native type of the stored size and sign; owned by HDF5 */
    mva_dtype dtype;
    int rank;               /* 2 or 3 */
    int chfirst;            /* channel axis stored first */
    hsize_t dims[3];
    size_t grid_cols;       /* pixels per stored map row (a 2-D dataset is one row) */
    size_t p;
    void *scratch;          /* stored values of one hyperslab, at most one block */
    size_t scratch_cap;
    char file_name[FILE_CAP];
    char path[PATH_CAP];
    h5_direct *direct;      /* direct chunk decoding, or NULL */
} h5_reader;

/* ---- hdf5_attr.c ---- */

/* The most specific message on HDF5's error stack (buf holds H5_MSG chars).  Must be called
 * right after the failing call: every HDF5 API call clears the stack. */
const char *h5_error_text(char *buf);

/* Element k of string attribute NAME of OBJ (fixed- or variable-length) into buf.  Returns 1
 * when read, 0 when absent or not a string; *nelem (may be NULL) gets the element count. */
int h5_attr_str(hid_t obj, const char *name, size_t k, char *buf, size_t cap, size_t *nelem);

/* A numeric attribute of at most max values as doubles: the number of values, 0 when
 * absent, not numeric or too long. */
size_t h5_attr_nums(hid_t obj, const char *name, double *v, size_t max);

/* "an integer", "a string", ... for messages. */
const char *h5_class_name(H5T_class_t c);

/* "2048x11x9". */
void h5_fmt_dims(char *buf, size_t cap, const hsize_t *d, int rank);

/* group + "/" + name (absolute names stay as they are); 0 when it does not fit. */
int h5_join_path(char *out, size_t cap, const char *group, const char *name);

/* The group holding the object at path ("/" for a member of the root). */
void h5_parent_path(const char *path, char *out, size_t cap);

/* H5I_DATASET, H5I_GROUP, ... or H5I_BADID when nothing is at path. */
H5I_type_t h5_object_type(hid_t file, const char *path);

/* ---- hdf5_find.c ---- */

/* Sets r->path: the explicit path want (a group there is followed the NeXus way), else the
 * NeXus default from the root, else the only 3-D numeric dataset. */
int h5_locate_dataset(h5_reader *r, const char *want, mva_error *err);

/* The calibration stored with the dataset d at r->path (unknown when none is). */
void h5_find_calibration(const h5_reader *r, hid_t d, mva_calib *cal);

/* ---- hdf5_direct.c ---- */

/* Direct decoding for r's dataset d when its storage allows (channel-last chunks of whole
 * spectra, deflate optionally after shuffle), saying so in info->storage; NULL otherwise. */
h5_direct *h5_direct_plan(const h5_reader *r, hid_t d, mva_stack_info *info);

#define H5_DIRECT_FALLBACK 1 /* not a status: read this block with H5Dread */

/* Pixels [first, first+count) through direct chunk decoding, or H5_DIRECT_FALLBACK when a
 * chunk of the block is not stored. */
int h5_direct_read(h5_direct *f, const h5_reader *r, size_t first, size_t count, double *out,
                   mva_error *err);

/* NULL is a no-op. */
void h5_direct_free(h5_direct *f);

#endif
