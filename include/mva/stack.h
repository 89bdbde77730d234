/*
 * mva/stack.h - a spectral stack and the reader interface behind it.
 *
 * A stack is a matrix X of n = rows * cols pixels by p channels, read in blocks of whole
 * pixels converted to double.  Pixel i is at map position (i / cols, i % cols).  Each format
 * (HDF5, EDF, SPEC, memory) is a reader: a small table of functions plus its own state,
 * wrapped in an opaque mva_stack.  Algorithms see only mva_stack_read(); they never know the
 * format.
 */
#ifndef MVA_STACK_H
#define MVA_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "mva/error.h"

/* Native element type of the stored data. */
typedef enum mva_dtype {
    MVA_DTYPE_UNKNOWN = 0,
    MVA_DTYPE_INT8,
    MVA_DTYPE_UINT8,
    MVA_DTYPE_INT16,
    MVA_DTYPE_UINT16,
    MVA_DTYPE_INT32,
    MVA_DTYPE_UINT32,
    MVA_DTYPE_INT64,
    MVA_DTYPE_UINT64,
    MVA_DTYPE_FLOAT32,
    MVA_DTYPE_FLOAT64
} mva_dtype;

/* "uint32", "float64", ... ("unknown" for anything else). */
const char *mva_dtype_name(mva_dtype t);

/* Size in bytes of one element (0 for MVA_DTYPE_UNKNOWN). */
size_t mva_dtype_size(mva_dtype t);

/* Energy calibration E(keV) = a + b*ch + c*ch^2, valid when known != 0. */
typedef struct mva_calib {
    int known;
    double a, b, c;
} mva_calib;

/* Energy (keV) of a (fractional) channel; the channel itself when the calibration is unknown. */
double mva_calib_energy(const mva_calib *cal, double ch);

/* Channel of an energy (keV), inverting the calibration on its increasing branch.
 * Returns MVA_EINVAL when the calibration is unknown or e is out of its range. */
int mva_calib_channel(const mva_calib *cal, double e, double *ch);

/* Where the channel axis is stored. */
typedef enum mva_stack_axis {
    MVA_STACK_AXIS_AUTO = 0,
    MVA_STACK_AXIS_LAST = 1,
    MVA_STACK_AXIS_FIRST = 2
} mva_stack_axis;

/* Snake (back-and-forth) scans: every other map row recorded right to left. */
typedef enum mva_snake {
    MVA_SNAKE_AUTO = 0, /* from the file's positions when the reader knows them, else off */
    MVA_SNAKE_OFF,      /* rows as stored */
    MVA_SNAKE_ON        /* odd rows (1, 3, ...) reversed: pixel (r, c) read from (r, cols-1-c) */
} mva_snake;

/* Options for opening a stack; zero-initialise, then set what you need. */
typedef struct mva_open_opts {
    mva_stack_axis channel_axis; /* MVA_STACK_AXIS_AUTO (from attributes/shape), _LAST, _FIRST */
    size_t rows, cols;  /* map shape override; 0, 0 = from the file */
    mva_calib calib;    /* calibration override when calib.known */
    /* EDF series: an explicit list of files (one per map row, in order) ... */
    const char *const *files;
    size_t nfiles;
    /* ... or INPUT is a printf-style pattern ("map_%04d.edf") numbered first..last; with
     * neither, a numbered file is extended to its series the way PyMca does. */
    long first, last;
    int use_pattern;
    /* Multi-element detectors (several MCAs per SPEC point, 4-D or per-element HDF5
     * datasets): NULL = the default (all elements summed when the input has several, the one
     * element otherwise); "sum" (all, summed channel by channel); "N" (element N, from 0); a
     * list "0,2,3" or a range "0-3" (those summed).  Given for a single-element input it is
     * an error, never ignored. */
    const char *detector;
    /* Normalisation (--norm): TERM[,TERM...], each [KIND:]SOURCE[@REF] where KIND is
     * monitor (default, also i0), livetime (counts divided by the value, times the
     * reference: default the mean value) or dtc (counts multiplied by dead-time correction
     * factors); SOURCE a dataset of the input ("/path"), of another file ("f.h5::/path"), or
     * a name the recognised layout resolves ("livetime", "dtc", "i0", "monitor:NAME").
     * Per-element factors are applied to each element before the sum.  NULL = none. */
    const char *norm;
    /* Snake scans: MVA_SNAKE_AUTO, _OFF or _ON. */
    mva_snake snake;
    /* Which scan(s): SPEC "N", "N,M", "N:M"; BLISS "2" or "2.1".  NULL = from the file. */
    const char *scan;
} mva_open_opts;

/* Most terms of one --norm (their factors multiply). */
#define MVA_NORM_TERMS_MAX 4

/*
 * The normalisation factors a stack applies (--norm), kept for the record: result files write
 * them.  The counts of pixel (r, c) of element k were multiplied by
 * factor[(k * rows + r) * cols + c] before the elements were summed.  nel = 1 when every
 * element used has the same factors (or there is one element): one image; else one image per
 * element used, element[k] its number (from 0).  In map order (after any snake reordering),
 * NaN where the pixel is masked (a zero or missing factor) or was not recorded.
 */
/* One --norm term of mva_norm_factors: what it is and where its values came from. */
typedef struct mva_norm_source {
    char kind[24];     /* "monitor", "live time", "dead-time factors" */
    char source[1200]; /* the dataset read ("/MAPS_RAW/livetime", "f.h5::/i0[2]", a SPEC
                        * counter) */
    double reference;  /* counts * reference / value (monitor, live time); NaN for dtc */
} mva_norm_source;

typedef struct mva_norm_factors {
    size_t rows, cols, nel;
    const size_t *element;       /* nel element numbers */
    const double *factor;        /* nel x rows x cols */
    size_t nterms;               /* the --norm terms whose factors multiply into factor */
    mva_norm_source term[MVA_NORM_TERMS_MAX];
} mva_norm_factors;

/* What a stack is; filled by the reader at open. */
typedef struct mva_stack_info {
    size_t rows, cols;     /* map shape, n = rows * cols pixels */
    size_t channels;       /* p */
    mva_dtype dtype;       /* native type of the stored values */
    mva_calib calib;       /* energy calibration, if known */
    char format[16];       /* "hdf5", "edf", "spec", "memory" */
    char source[4096];     /* file the stack was read from */
    char path[1024];       /* dataset path, scan, or file series inside the source */
    char layout[64];       /* e.g. "rows,cols,channels" or "channels,rows,cols" */
    char storage[256];     /* chunking / compression / filters, free text for mva-info */
    size_t chunk_pixels;   /* natural read granularity in pixels (0 = any) */
    uint64_t stored_bytes; /* bytes the data occupy on disk (0 = unknown) */
    /* The reader stage (filled by the reader and the generic stage after it): */
    char layout_name[64];  /* recognised facility layout ("MAPS_RAW", "BLISS", ...), "" none */
    char elements[256];    /* elements used: "sum of 4 elements: data_a, data_b, data_c,
                            * data_d", "element 2 (data_c) of 4"; "" for a single one */
    char norm[512];        /* normalisation applied, its source path(s) and reference value;
                            * "" when none */
    char warnings[1024];   /* what the reader skipped (a malformed SPEC scan, ...), one per
                            * line, for the tools to print; "" when nothing */
    mva_snake snake;       /* MVA_SNAKE_ON when odd rows were reversed, else _OFF */
    /* The factors of norm, NULL when none: owned by the stack, valid while it is open (a copy
     * of the info shares them). */
    const mva_norm_factors *norm_factors;
} mva_stack_info;

/*
 * The reader interface.  read() converts pixels [first, first + count) to double into out,
 * row-major count x p (pixel-major: channel index fastest).  It is called from one thread at
 * a time (the engine's read-ahead thread), never concurrently.  close() frees self.
 *
 * noise() (optional, NULL for readers of raw counts) gives, for pixels a read() has just
 * delivered, the Poisson variance factor of each: Var(value) = factor * value.  A normalised
 * pixel y = sum_e w_e x_e of raw counts x_e has variance sum_e w_e^2 x_e, so its factor is
 * sum_e w_e^2 t_e / sum_e w_e t_e (t_e the element's raw total): 1 for raw counts, w when
 * one weight scales the pixel.  Poisson scaling and the noise edge of -k auto use it, so that
 * they keep modelling the noise of the raw counts.
 */
typedef struct mva_reader_ops {
    const char *name;
    int (*read)(void *self, size_t first, size_t count, double *out, mva_error *err);
    void (*close)(void *self);
    int (*noise)(void *self, size_t first, size_t count, double *factor, mva_error *err);
} mva_reader_ops;

typedef struct mva_stack mva_stack;

/*
 * Opens INPUT, detecting the format from the content, not the name: HDF5 (signature), EDF
 * (header starting with '{', also gzipped), SPEC ('#S' scans with '@A' spectra).  For HDF5,
 * INPUT may be "file.h5::/path/to/dataset".  With opts->files or opts->use_pattern the input
 * is an EDF series.  opts may be NULL.  On success *out owns the reader; free it with
 * mva_stack_close().
 */
int mva_stack_open(mva_stack **out, const char *input, const mva_open_opts *opts,
                   mva_error *err);

/* Wraps a reader (ops + self) as a stack; used by the format readers.  Takes ownership of
 * self (closed with ops->close, also on failure). */
int mva_stack_new(mva_stack **out, const mva_reader_ops *ops, void *self,
                  const mva_stack_info *info, mva_error *err);

/*
 * A stack over values the caller holds in memory (io/memory.c), read in place: nothing is
 * copied at open, each block read converts its pixels to double.  data holds rows x cols x
 * channels values of dtype (native byte order); strides (bytes, may be negative; NULL =
 * C-contiguous rows, cols, channels) give the step along each axis, so a NumPy view
 * (transposed, sliced, channels first) is read without a copy.  A (pixels, channels) array
 * is rows = 1.  calib may be NULL (unknown).  The data must outlive the stack (close it with
 * mva_stack_close).  MVA_EINVAL for an unknown dtype, MVA_ERANGE for an empty or overflowing
 * shape.
 */
int mva_memory_open(mva_stack **out, const void *data, mva_dtype dtype, size_t rows,
                    size_t cols, size_t channels, const ptrdiff_t *strides,
                    const mva_calib *calib, mva_error *err);

/* mva_memory_open of a C-contiguous row-major n x p array of doubles (n = rows * cols). */
int mva_stack_from_memory(mva_stack **out, const double *data, size_t rows, size_t cols,
                          size_t channels, mva_error *err);

/* The description filled at open. */
const mva_stack_info *mva_stack_get_info(const mva_stack *s);

/* Reads pixels [first, first + count) as doubles into out (count x p). */
int mva_stack_read(mva_stack *s, size_t first, size_t count, double *out, mva_error *err);

/*
 * Spill: from now on, the first pass over s also copies the values it reads, each block in the
 * narrowest type that holds it exactly, into a scratch HDF5 file in dir (NULL or "": $TMPDIR,
 * else /tmp) that is unlinked at once, and later passes read the copy instead of decoding the
 * input again.  Worth it when decoding costs more than reading plain values: compressed
 * HDF5 or EDF, SPEC text.  The copy takes at most mva_stack_spill_bytes(s) of disk; process
 * memory stays bounded.  MVA_EIO when the scratch file cannot be made (the stack is unchanged).
 */
int mva_stack_spill(mva_stack *s, const char *dir, mva_error *err);

/*
 * The spill when it pays, as the tools decide: s is spilled (mva_stack_spill) when its input
 * costs more to decode than plain values (SPEC text, or compressed HDF5 or EDF), the scratch
 * directory has room for twice mva_stack_spill_bytes(s), and -- when dir is NULL or "" so that
 * $TMPDIR or /tmp is used -- that directory is not in memory (tmpfs: the copy would be memory
 * growing with the map; a dir named by the caller is taken as it is).  Returns 1 when s was
 * spilled, 0 when not; why (cap bytes, may be NULL) then says why in one line, "" when the
 * input is cheap.  Never fails: a spill that cannot be made leaves s as it was.
 */
int mva_stack_spill_auto(mva_stack *s, const char *dir, char *why, size_t cap);

/* Disk the copy may take (every value in its stored type), and the bytes it took so far: each
 * block goes in the narrowest of uint8, uint16 and its stored type that holds it (0 when s is
 * not spilled). */
uint64_t mva_stack_spill_bytes(const mva_stack *s);
uint64_t mva_stack_spill_used(const mva_stack *s);

/* The Poisson variance factors (see mva_reader_ops.noise) of pixels [first, first + count)
 * into factor, after they were read.  Returns 1 when filled, 0 when the stack holds raw
 * counts (factor 1, factor untouched), or a negative error. */
int mva_stack_noise(mva_stack *s, size_t first, size_t count, double *factor, mva_error *err);

/* Closes the reader and frees the stack; NULL is a no-op. */
void mva_stack_close(mva_stack *s);

#endif
