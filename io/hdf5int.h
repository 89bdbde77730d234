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

/* The readers of several detector elements of one dataset (a 4-D or Odin layout), sharing
 * what they read: the first of them to read a block reads the elements of every reader at
 * once, the others take their element from it (hdf5.c).  Refcounted. */
typedef struct h5_eshare h5_eshare;

typedef struct h5_reader {
    hid_t file, dset, fspace;
    hid_t memtype;          /* native type of the stored size and sign; owned by HDF5 */
    mva_dtype dtype;
    int rank;               /* 2 or 3, the element axis left out */
    int chfirst;            /* channel axis stored first */
    hsize_t dims[3];        /* the dimensions, the element axis left out */
    int frank;              /* rank of the stored dataset (rank + 1 with an element axis) */
    hsize_t fdims[4];
    int eaxis;              /* axis of the detector elements in the dataset, -1 = none */
    hsize_t eidx;           /* the element this reader reads */
    int layout_chfirst;     /* what a recognised layout says: 1 first, 0 last, -1 nothing */
    int nexus;              /* the dataset was reached by the NeXus @default/@signal chain */
    size_t grid_cols;       /* pixels per stored map row (a 2-D dataset is one row) */
    size_t p;
    void *scratch;          /* stored values of one hyperslab, at most one block */
    size_t scratch_cap;
    char file_name[FILE_CAP];
    char path[PATH_CAP];
    h5_direct *direct;      /* direct chunk decoding, or NULL */
    h5_eshare *share;       /* elements read together with other readers, or NULL */
} h5_reader;

/* ---- hdf5.c ---- */

/* What a layout says about a dataset: the axis of its detector elements and the element to
 * read (eaxis -1: none), and where the channels are (chfirst 1/0, -1: decide as usual). */
typedef struct h5_select {
    int eaxis;
    size_t eidx;
    int chfirst;
    h5_eshare *share;   /* the readers of the other elements of the dataset, or NULL */
} h5_select;

/* A new share for the element readers of one dataset (one reference, the caller's), NULL
 * when out of memory; h5_open_one takes a reference for each reader; release drops one. */
h5_eshare *h5_eshare_new(void);
void h5_eshare_release(h5_eshare *sh);

/* Opens one stack of file: the dataset at want ("" = found by discovery), read as sel says
 * (NULL: a plain dataset).  As mva_hdf5_open otherwise. */
int h5_open_one(mva_stack **out, const char *file, const char *want, const h5_select *sel,
                const mva_open_opts *opts, mva_error *err);

/* ---- hdf5_layout.c ---- */

typedef struct h5_layout h5_layout;

/* Recognises a facility layout in file (want: the path given after "::", "" = none):
 * *lay malloc()ed when one is recognised, NULL when not (then the plain reader decides).
 * An input that two layouts (or a layout and a plain map) both explain is refused with the
 * options that decide. */
int h5_layout_detect(const char *file, const char *want, const mva_open_opts *opts,
                     h5_layout **lay, mva_error *err);

/* Opens the stack of a recognised layout: elements selected (--detector) and summed,
 * normalised (--norm), described in the info.  Frees lay. */
int h5_layout_open(mva_stack **out, const char *file, h5_layout *lay, const mva_open_opts *opts,
                   mva_error *err);

/* Adds a warning to info when the energy calibrations of the nused element stacks differ,
 * naming the one the sum carries (the first's). */
void h5_note_calibrations(mva_stack *const *st, size_t nused, const char *const *names,
                          mva_stack_info *info);

/* ---- hdf5_bliss.c: ESRF BLISS scan files ---- */

/* The scans of file with MCA data, "2.1 (amesh ..., 4 MCA elements); ..." into buf; their
 * number (0: not a BLISS file). */
int h5_bliss_scans(const char *file, char *buf, size_t cap);

/* 1 with the scan to read in scan ("2.1") when file is a BLISS file and want ("", "/2.1") or
 * opts->scan say which (or it has one scan); 0 when it is not BLISS or want is a dataset;
 * MVA_EINVAL listing the scans when several and none is named. */
int h5_bliss_pick(const char *file, const char *want, const mva_open_opts *opts, char *scan,
                  size_t cap, mva_error *err);

/* Opens scan of a BLISS file: elements, --norm, the map shape from the title (or --shape),
 * missing points NaN, snake rows put back, positions off the grid refused. */
int h5_bliss_open(mva_stack **out, const char *file, const char *scan,
                  const mva_open_opts *opts, mva_error *err);

/* ---- hdf5_attr.c ---- */

/* The most specific message on HDF5's error stack (buf holds H5_MSG chars).  Must be called
 * right after the failing call: every HDF5 API call clears the stack. */
const char *h5_error_text(char *buf);

/* Element k of string attribute NAME of OBJ (fixed- or variable-length) into buf.  Returns 1
 * when read, 0 when absent or not a string; *nelem (may be NULL) gets the element count. */
int h5_attr_str(hid_t obj, const char *name, size_t k, char *buf, size_t cap, size_t *nelem);

/* A small 1-D numeric dataset name (relative to g, or absolute) of exactly want values (2..3
 * when want is 0) into v: the number read, 0 when absent or otherwise.  In hdf5_find.c. */
size_t h5_read_small(hid_t g, const char *name, double *v, size_t want);

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

/* The NeXus default plot from group gpath (@default ... -> @signal): 1 with the dataset path
 * in out, 0 when there is no chain, -1 when its @signal names no dataset (path in out). */
int h5_nexus_follow(hid_t file, const char *gpath, char *out, size_t cap);

/* The axis (0 or r->rank-1) that the NXdata holding r->path names as energies or channels in
 * its @axes (a 1-D dataset of that length with energy @units, or named energy/channels), or
 * -1.  Needs r->rank and r->dims. */
int h5_energy_axis(const h5_reader *r);

/* The calibration stored with the dataset d at r->path (unknown when none is). */
void h5_find_calibration(const h5_reader *r, hid_t d, mva_calib *cal);

/* ---- hdf5_describe.c ---- */

/* The stored type of d into r (r->dtype, r->memtype; refused, naming it, when it is not an
 * integer or float type mva reads). */
int h5_set_dtype(h5_reader *r, hid_t d, mva_error *err);

/* The dimensions of d into r: 2-D (pixels, channels) or 3-D, or 4-D with a detector-element
 * axis when --detector names the elements; anything else refused with what was found. */
int h5_read_dims(h5_reader *r, hid_t d, mva_error *err);

/* Where the channel axis of d is (from opts, the layout or the evidence; ambiguous inputs
 * refused with the options that resolve them) and the map shape into info. */
int h5_set_shape(h5_reader *r, hid_t d, const mva_open_opts *opts, mva_stack_info *info,
                 mva_error *err);

/* Chunks and filters of d described in info->storage, and *dapl a dataset access list with a
 * chunk cache sized for block reads. */
int h5_describe_storage(const h5_reader *r, hid_t d, mva_stack_info *info, hid_t *dapl,
                        mva_error *err);

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
