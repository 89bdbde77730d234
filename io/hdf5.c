/*
 * The HDF5/NeXus stack reader.
 *
 * Open finds the dataset (explicit path, NeXus @default/@signal, or the only 3-D numeric
 * dataset), checks its type and shape, decides where the channel axis is, finds the energy
 * calibration, and reopens the dataset with a chunk cache sized for sequential block reads.
 * Read turns a range of whole pixels into at most three hyperslabs (partial first row, full
 * middle rows, partial last row), reads each in the stored type into a scratch buffer and
 * converts it to double in one loop, transposing when the channels are stored first.
 *
 * Parallel inflate: when the channels are last, every chunk holds whole spectra and the
 * filters are deflate, optionally after shuffle (nothing else: fletcher32, szip, plugins,
 * partial edge chunks left unfiltered all go to H5Dread), a read instead fetches the raw
 * chunks that meet the block with H5Dread_chunk in the calling thread -- HDF5 is not
 * thread-safe, so every HDF5 call stays there -- and inflates, unshuffles, byte-swaps (file
 * order to host order) and converts them on a pool of threads (online CPUs, 1 to 4, the
 * caller among them; MVA_DECODE_THREADS overrides, 0 turns this off) straight into the
 * block.  Each chunk's filter mask is honoured.  Chunks cut by the end of the block stay
 * decoded for the next one.  Memory: the compressed chunks of one block, two decoded chunks
 * per thread, and the decoded chunks of at most two chunk rows (one row of leftovers).  A
 * block that meets a chunk never written (fill value) goes through H5Dread.
 *
 * HDF5's automatic error printing is switched off: the library never prints, the messages
 * go into the mva_error record instead.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <hdf5.h>
#include <zlib.h>

#include "mva/hdf5.h"
#include "mva/stack.h"

#define PATH_CAP 1024    /* = sizeof(mva_stack_info.path) */
#define FILE_CAP 4096    /* = sizeof(mva_stack_info.source) */
#define NEXUS_DEPTH 8    /* @default chains longer than this are taken as a cycle */
#define CACHE_MIN ((size_t)1 << 20)
#define CACHE_MAX ((size_t)256 << 20)
#define TILE 64          /* pixels per tile of the channel-first transpose */
#define H5_MSG 256       /* buffer for one HDF5 error description */

/*
 * Direct chunk decoding ("parallel inflate").  HDF5 1.10 (serial, not thread-safe)
 * decompresses in the calling thread only, which caps a pass at one core's inflate speed.
 * For the common storage -- channel-last chunks holding whole spectra, deflate optionally
 * after shuffle -- the reader fetches the raw chunk bytes itself (H5Dread_chunk, in the
 * calling thread: every HDF5 call stays in one thread) and inflates, unshuffles, swaps and
 * converts them on a small pool of threads, straight into the caller's block.
 */
#define DECODE_MAX_THREADS 4
#define DECODE_ENV "MVA_DECODE_THREADS"
#define WHY_CAP 200

/* One chunk that intersects the block being read. */
typedef struct dtask {
    size_t crow, ccol;           /* chunk index in the chunk grid (map rows, map cols) */
    size_t r0, r1, c0, c1;       /* map rows and cols the chunk holds (clipped to the map) */
    size_t raw_off, nraw;        /* compressed bytes in the raw arena */
    uint32_t mask;               /* filters skipped for this chunk (bit i = filter i) */
    const unsigned char *cached; /* decoded already by the previous read, or NULL */
    unsigned char *keep;         /* decode into this cache buffer: the next block needs it */
    int leftover;                /* holds pixels after the block */
    int release;                 /* cached for this block only: free it after the read */
    int code;                    /* MVA_OK, or what failed */
    char why[WHY_CAP];
} dtask;

/* The leftover chunks of one chunk row, decoded, indexed by chunk column. */
typedef struct chunk_row {
    int valid;
    size_t crow;
    unsigned char **slot;        /* ncc entries, NULL = not cached */
} chunk_row;

typedef struct decode_scratch {
    unsigned char *tmp;          /* inflated, still shuffled */
    unsigned char *dec;          /* decoded chunk that no later block needs */
} decode_scratch;

struct h5_reader;

typedef struct worker_arg {
    struct h5_reader *r;
    int idx;                     /* scratch index; 0 is the calling thread */
} worker_arg;

typedef struct fast_path {
    int on;
    int nthreads;                /* decoding threads, the calling thread included */
    int shuffle;                 /* pipeline is shuffle, deflate (else deflate alone) */
    uint32_t bit_shuffle, bit_deflate;
    int swap;                    /* file byte order differs from the host's */
    size_t es;                   /* bytes per value */
    size_t ch_r, ch_c;           /* chunk extent in map rows and cols (1 row for 2-D) */
    size_t grid_rows, ncc;       /* map rows; chunks per chunk row */
    size_t chunk_bytes;          /* decoded size of every chunk (edge chunks are full size) */
    int rank;
    /* state of one read */
    dtask *tasks;
    size_t task_cap;
    unsigned char *raw;
    size_t raw_cap;
    chunk_row cache[2];          /* [cur]: leftovers of the last read; the other: of this */
    int cur;
    unsigned char **spare;       /* decoded-chunk buffers not in use */
    size_t nspare, spare_cap;
    decode_scratch scratch[DECODE_MAX_THREADS];
    /* the pool: tasks [0, ready) are published, [0, next) taken, finished are done */
    int pool_started, nworkers;
    pthread_t th[DECODE_MAX_THREADS - 1];
    worker_arg args[DECODE_MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    size_t ntasks, ready, next, finished;
    int stop;
    size_t first, end;           /* the block being read */
    double *out;
} fast_path;

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
    fast_path fast;
} h5_reader;

/* ---- input name and signature ---- */

int mva_hdf5_split_input(const char *input, char *file, size_t file_cap, char *path,
                         size_t path_cap)
{
    if (file_cap == 0 || path_cap == 0)
        return MVA_ERANGE;
    /* silx notation: the first "::" separates the file from the path inside it. */
    const char *sep = strstr(input, "::");
    size_t flen = sep ? (size_t)(sep - input) : strlen(input);
    const char *p = sep ? sep + 2 : "";
    if (flen >= file_cap || strlen(p) >= path_cap)
        return MVA_ERANGE;
    memcpy(file, input, flen);
    file[flen] = '\0';
    strcpy(path, p);
    return MVA_OK;
}

int mva_hdf5_is_hdf5(const char *file)
{
    /* HDF5 file format spec, "Format Signature": the superblock sits at byte 0 or, after a
     * user block, at 512, 1024, 2048, ... */
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    FILE *f = fopen(file, "rb");
    if (f == NULL)
        return 0;
    int found = 0;
    for (off_t off = 0;; off = off ? 2 * off : 512) {
        unsigned char head[8];
        if (fseeko(f, off, SEEK_SET) != 0 || fread(head, 1, sizeof head, f) != sizeof head)
            break;
        if (memcmp(head, sig, sizeof sig) == 0) {
            found = 1;
            break;
        }
        if (off > ((off_t)1 << 60))
            break;
    }
    fclose(f);
    return found;
}

/* ---- small helpers: HDF5 error text, attributes, names ---- */

static herr_t innermost_error(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    if (n == 0 && e->desc != NULL)
        snprintf(buf, H5_MSG, "%s", e->desc);
    return 0;
}

/* The most specific message on HDF5's error stack (buf holds H5_MSG chars).  Must be called
 * right after the failing call: every HDF5 API call clears the stack. */
static const char *h5_error_text(char *buf)
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_error, buf);
    if (buf[0] == '\0')
        snprintf(buf, H5_MSG, "no detail from HDF5");
    return buf;
}

static void vlen_free(hid_t memtype, hid_t space, void *buf)
{
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(memtype, space, H5P_DEFAULT, buf);
#else
    H5Dvlen_reclaim(memtype, space, H5P_DEFAULT, buf);
#endif
}

/* Copies element k of a fixed-length string array, dropping NUL or space padding. */
static void copy_fixed(const char *all, size_t size, size_t k, char *buf, size_t cap)
{
    const char *s = all + k * size;
    size_t len = 0;
    while (len < size && s[len] != '\0')
        len++;
    while (len > 0 && s[len - 1] == ' ')
        len--;
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
}

/* Reads element k of string attribute NAME of OBJ into buf.  Both storages occur: h5py
 * writes variable-length UTF-8, most C and Fortran writers fixed-length ASCII.  Returns 1
 * when read, 0 when absent or not a string; *nelem (may be NULL) gets the element count. */
static int attr_str(hid_t obj, const char *name, size_t k, char *buf, size_t cap,
                    size_t *nelem)
{
    int ok = 0;
    hid_t a = H5I_INVALID_HID, ft = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    hid_t sp = H5I_INVALID_HID;
    void *data = NULL;
    if (H5Aexists(obj, name) <= 0 || (a = H5Aopen(obj, name, H5P_DEFAULT)) < 0)
        goto done;
    if ((ft = H5Aget_type(a)) < 0 || H5Tget_class(ft) != H5T_STRING)
        goto done;
    sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    if (n < 1 || k >= (size_t)n || (mt = H5Tcopy(H5T_C_S1)) < 0)
        goto done;
    H5Tset_cset(mt, H5Tget_cset(ft));
    if (H5Tis_variable_str(ft) > 0) {
        H5Tset_size(mt, H5T_VARIABLE);
        char **vl = data = calloc((size_t)n, sizeof(char *));
        if (vl == NULL || H5Aread(a, mt, vl) < 0)
            goto done;
        snprintf(buf, cap, "%s", vl[k] ? vl[k] : "");
        vlen_free(mt, sp, vl);
    } else {
        size_t size = H5Tget_size(ft);
        H5Tset_size(mt, size);
        H5Tset_strpad(mt, H5T_STR_NULLPAD);
        if (size == 0 || (size_t)n > SIZE_MAX / size || (data = malloc((size_t)n * size)) == NULL ||
            H5Aread(a, mt, data) < 0)
            goto done;
        copy_fixed(data, size, k, buf, cap);
    }
    if (nelem != NULL)
        *nelem = (size_t)n;
    ok = 1;
done:
    free(data);
    if (mt >= 0)
        H5Tclose(mt);
    if (sp >= 0)
        H5Sclose(sp);
    if (ft >= 0)
        H5Tclose(ft);
    if (a >= 0)
        H5Aclose(a);
    return ok;
}

/* Reads a numeric attribute of at most max values as doubles.  Returns the number of
 * values, 0 when absent, not numeric or too long. */
static size_t attr_nums(hid_t obj, const char *name, double *v, size_t max)
{
    size_t got = 0;
    hid_t a = H5I_INVALID_HID, ft = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    if (H5Aexists(obj, name) <= 0 || (a = H5Aopen(obj, name, H5P_DEFAULT)) < 0)
        goto done;
    ft = H5Aget_type(a);
    H5T_class_t cls = H5Tget_class(ft);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
        goto done;
    sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    if (n >= 1 && (size_t)n <= max && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0)
        got = (size_t)n;
done:
    if (sp >= 0)
        H5Sclose(sp);
    if (ft >= 0)
        H5Tclose(ft);
    if (a >= 0)
        H5Aclose(a);
    return got;
}

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "an integer";
    case H5T_FLOAT: return "a float";
    case H5T_TIME: return "a time";
    case H5T_STRING: return "a string";
    case H5T_BITFIELD: return "a bitfield";
    case H5T_OPAQUE: return "an opaque";
    case H5T_COMPOUND: return "a compound";
    case H5T_REFERENCE: return "a reference";
    case H5T_ENUM: return "an enum";
    case H5T_VLEN: return "a variable-length";
    case H5T_ARRAY: return "an array";
    default: return "an unknown";
    }
}

static void fmt_dims(char *buf, size_t cap, const hsize_t *d, int rank)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < rank && used < cap; k++) {
        int w = snprintf(buf + used, cap - used, k ? "x%llu" : "%llu", (unsigned long long)d[k]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* Joins a group path and a member name (absolute names stay as they are). */
static int join_path(char *out, size_t cap, const char *group, const char *name)
{
    int w;
    if (name[0] == '/')
        w = snprintf(out, cap, "%s", name);
    else
        w = snprintf(out, cap, "%s/%s", strcmp(group, "/") == 0 ? "" : group, name);
    return w >= 0 && (size_t)w < cap;
}

/* The group holding the object at path ("/" for a member of the root). */
static void parent_path(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t len = (slash == NULL || slash == path) ? 0 : (size_t)(slash - path);
    if (len == 0 || len >= cap) {
        snprintf(out, cap, "/");
        return;
    }
    memcpy(out, path, len);
    out[len] = '\0';
}

/* Object type at path: H5I_DATASET, H5I_GROUP, ... or H5I_BADID when it does not exist. */
static H5I_type_t object_type(hid_t file, const char *path)
{
    hid_t o = H5Oopen(file, path, H5P_DEFAULT);
    if (o < 0)
        return H5I_BADID;
    H5I_type_t t = H5Iget_type(o);
    H5Oclose(o);
    return t;
}

/* ---- finding the dataset: NeXus defaults ---- */

typedef struct {
    char name[256];
    int found;
} nxdata_search;

static herr_t find_nxdata(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    nxdata_search *s = data;
    char cls[64];
    (void)info;
    hid_t c = H5Gopen2(g, name, H5P_DEFAULT);
    if (c < 0)
        return 0;
    int is_nxdata = attr_str(c, "NX_class", 0, cls, sizeof cls, NULL) && strcmp(cls, "NXdata") == 0;
    H5Gclose(c);
    if (!is_nxdata)
        return 0;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->found = 1;
    return 1;
}

/* The first NXdata member of g, in creation order when the file tracks it, else by name. */
static int first_nxdata(hid_t g, char *name, size_t cap)
{
    nxdata_search s = {{0}, 0};
    if (H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, find_nxdata, &s) < 0 && !s.found)
        H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, find_nxdata, &s);
    if (s.found)
        snprintf(name, cap, "%s", s.name);
    return s.found;
}

/*
 * NeXus "default plot" rules (NeXus manual, "Find the plottable data"): a group's @default
 * names the member to follow (root -> NXentry -> NXdata), an NXdata's @signal names the
 * dataset.  An NXentry without @default falls back to its first NXdata.  Writes the
 * dataset path into out and returns 1 when the chain ends at a dataset.
 */
static int nexus_follow(hid_t file, const char *gpath, char *out, size_t cap, int depth)
{
    char name[256], child[PATH_CAP], cls[64];
    int found = 0;
    if (depth > NEXUS_DEPTH)
        return 0;
    hid_t g = H5Gopen2(file, gpath, H5P_DEFAULT);
    if (g < 0)
        return 0;
    if (attr_str(g, "signal", 0, name, sizeof name, NULL)) {
        found = join_path(out, cap, gpath, name) && object_type(file, out) == H5I_DATASET;
    } else if (attr_str(g, "default", 0, name, sizeof name, NULL)) {
        found = join_path(child, sizeof child, gpath, name) &&
                nexus_follow(file, child, out, cap, depth + 1);
    } else if (attr_str(g, "NX_class", 0, cls, sizeof cls, NULL) &&
               (strcmp(cls, "NXentry") == 0 || strcmp(cls, "NXsubentry") == 0) &&
               first_nxdata(g, name, sizeof name)) {
        found = join_path(child, sizeof child, gpath, name) &&
                nexus_follow(file, child, out, cap, depth + 1);
    }
    H5Gclose(g);
    return found;
}

/* Shape and class of a dataset without judging them; returns 0 when it cannot be opened. */
static int peek_dataset(hid_t file, const char *path, H5T_class_t *cls, int *rank)
{
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0)
        return 0;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    *cls = H5Tget_class(t);
    *rank = H5Sget_simple_extent_ndims(s);
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    return 1;
}

/* A NeXus default is taken only when it looks like a stack: numeric and 3-D, or 2-D marked
 * as a list of spectra.  A default plot is often an image or a sum spectrum; then the walk
 * for the 3-D dataset decides instead. */
static int nexus_usable(hid_t file, const char *path)
{
    H5T_class_t cls;
    int rank;
    char interp[64];
    if (!peek_dataset(file, path, &cls, &rank) || (cls != H5T_INTEGER && cls != H5T_FLOAT))
        return 0;
    if (rank == 3)
        return 1;
    if (rank != 2)
        return 0;
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    int ok = attr_str(d, "interpretation", 0, interp, sizeof interp, NULL) &&
             strcmp(interp, "spectrum") == 0;
    H5Dclose(d);
    return ok;
}

/* ---- finding the dataset: the only 3-D numeric one ---- */

typedef struct {
    size_t n;
    char first[PATH_CAP];
    char list[700];     /* ", "-separated paths for the message, cut with "..." */
} candidates;

static herr_t collect_3d(hid_t root, const char *name, const H5L_info_t *info, void *data)
{
    candidates *c = data;
    H5T_class_t cls;
    int rank;
    /* Hard links only: soft and external links would list a dataset twice or open other
     * files. */
    if (info->type != H5L_TYPE_HARD || !peek_dataset(root, name, &cls, &rank) || rank != 3 ||
        (cls != H5T_INTEGER && cls != H5T_FLOAT))
        return 0;
    if (c->n++ == 0)
        snprintf(c->first, sizeof c->first, "/%s", name);
    size_t used = strlen(c->list), room = sizeof c->list - used;
    if (room > 5 && (size_t)snprintf(c->list + used, room, "%s/%s", used ? ", " : "", name) >= room)
        snprintf(c->list + sizeof c->list - 5, 5, "...");
    return 0;
}

static int walk_for_3d(h5_reader *r, mva_error *err)
{
    candidates c;
    memset(&c, 0, sizeof c);
    if (H5Lvisit(r->file, H5_INDEX_NAME, H5_ITER_INC, collect_3d, &c) < 0) {
        char e[H5_MSG];
        return mva_error_set(err, MVA_EIO, "%s: cannot list the datasets in the file (%s)",
                             r->file_name, h5_error_text(e));
    }
    if (c.n == 1) {
        snprintf(r->path, sizeof r->path, "%s", c.first);
        return MVA_OK;
    }
    if (c.n == 0)
        return mva_error_set(err, MVA_ENOTFOUND,
                             "%s: no 3-D numeric dataset found and no NeXus @default/@signal "
                             "leads to one; name the dataset with %s::/path",
                             r->file_name, r->file_name);
    return mva_error_set(err, MVA_EINVAL,
                         "%s: %zu three-dimensional datasets, name one with %s::/path: %s",
                         r->file_name, c.n, r->file_name, c.list);
}

/* Sets r->path: the explicit path (a group there is followed the NeXus way), else the
 * NeXus default from the root, else the only 3-D numeric dataset. */
static int locate_dataset(h5_reader *r, const char *want, mva_error *err)
{
    if (want[0] == '\0') {
        if (nexus_follow(r->file, "/", r->path, sizeof r->path, 0) &&
            nexus_usable(r->file, r->path))
            return MVA_OK;
        return walk_for_3d(r, err);
    }
    char abs[PATH_CAP];
    if (!join_path(abs, sizeof abs, "/", want))
        return mva_error_set(err, MVA_ERANGE, "%s: dataset path too long: %s", r->file_name,
                             want);
    H5I_type_t t = object_type(r->file, abs);
    if (t == H5I_DATASET) {
        snprintf(r->path, sizeof r->path, "%s", abs);
        return MVA_OK;
    }
    if (t == H5I_BADID)
        return mva_error_set(err, MVA_ENOTFOUND, "%s: no dataset %s (path from %s::%s)",
                             r->file_name, abs, r->file_name, want);
    if (t == H5I_GROUP && nexus_follow(r->file, abs, r->path, sizeof r->path, 0))
        return MVA_OK;
    return mva_error_set(err, MVA_EINVAL,
                         "%s: %s is a %s, not a dataset, and names no NeXus @signal "
                         "(path from %s::%s)",
                         r->file_name, abs, t == H5I_GROUP ? "group" : "named datatype",
                         r->file_name, want);
}

/* ---- type, shape, channel axis ---- */

/* The stored type must be an integer or an IEEE-like float; memtype is the native type of
 * the same size and sign, so that HDF5 only swaps bytes when the file is big-endian. */
static int set_dtype(h5_reader *r, hid_t d, mva_error *err)
{
    hid_t t = H5Dget_type(d);
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    int sign = cls == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_2;
    H5Tclose(t);
    r->dtype = MVA_DTYPE_UNKNOWN;
    if (cls == H5T_INTEGER) {
        static const mva_dtype u[] = {MVA_DTYPE_UINT8, MVA_DTYPE_UINT16, 0, MVA_DTYPE_UINT32,
                                      0, 0, 0, MVA_DTYPE_UINT64};
        static const mva_dtype s[] = {MVA_DTYPE_INT8, MVA_DTYPE_INT16, 0, MVA_DTYPE_INT32,
                                      0, 0, 0, MVA_DTYPE_INT64};
        if (size >= 1 && size <= 8)
            r->dtype = sign ? s[size - 1] : u[size - 1];
    } else if (cls == H5T_FLOAT) {
        r->dtype = size == 4 ? MVA_DTYPE_FLOAT32 : size == 8 ? MVA_DTYPE_FLOAT64 : 0;
    }
    switch (r->dtype) {
    case MVA_DTYPE_INT8: r->memtype = H5T_NATIVE_INT8; break;
    case MVA_DTYPE_UINT8: r->memtype = H5T_NATIVE_UINT8; break;
    case MVA_DTYPE_INT16: r->memtype = H5T_NATIVE_INT16; break;
    case MVA_DTYPE_UINT16: r->memtype = H5T_NATIVE_UINT16; break;
    case MVA_DTYPE_INT32: r->memtype = H5T_NATIVE_INT32; break;
    case MVA_DTYPE_UINT32: r->memtype = H5T_NATIVE_UINT32; break;
    case MVA_DTYPE_INT64: r->memtype = H5T_NATIVE_INT64; break;
    case MVA_DTYPE_UINT64: r->memtype = H5T_NATIVE_UINT64; break;
    case MVA_DTYPE_FLOAT32: r->memtype = H5T_NATIVE_FLOAT; break;
    case MVA_DTYPE_FLOAT64: r->memtype = H5T_NATIVE_DOUBLE; break;
    default:
        if (cls == H5T_INTEGER || cls == H5T_FLOAT)
            return mva_error_set(err, MVA_EUNSUPPORTED,
                                 "%s::%s: expected an integer or float dataset of 1, 2, 4 or "
                                 "8 bytes, found %s dataset of %zu bytes per value",
                                 r->file_name, r->path, class_name(cls), size);
        return mva_error_set(err, MVA_EFORMAT,
                             "%s::%s: expected an integer or float dataset, found %s dataset",
                             r->file_name, r->path, class_name(cls));
    }
    return MVA_OK;
}

/* Reads the rank and dimensions, rejecting what cannot be a stack. */
static int read_dims(h5_reader *r, hid_t d, mva_error *err)
{
    hid_t s = H5Dget_space(d);
    H5S_class_t sc = H5Sget_simple_extent_type(s);
    int rank = H5Sget_simple_extent_ndims(s);
    hsize_t dims[H5S_MAX_RANK];
    if (sc == H5S_SIMPLE && rank > 0)
        H5Sget_simple_extent_dims(s, dims, NULL);
    H5Sclose(s);
    const char *expect = "expected a 3-D (rows, cols, channels) or 2-D (pixels, channels) "
                         "dataset";
    if (sc != H5S_SIMPLE || rank < 1)
        return mva_error_set(err, MVA_EFORMAT, "%s::%s: %s, found a %s", r->file_name,
                             r->path, expect, sc == H5S_NULL ? "null (empty) dataspace" : "scalar");
    char shape[128];
    fmt_dims(shape, sizeof shape, dims, rank);
    if (rank == 1)
        return mva_error_set(err, MVA_EFORMAT, "%s::%s: %s, found 1-D of %s values",
                             r->file_name, r->path, expect, shape);
    if (rank > 3)
        return mva_error_set(err, MVA_EFORMAT, "%s::%s: %s, found %d-D %s", r->file_name,
                             r->path, expect, rank, shape);
    for (int k = 0; k < rank; k++)
        if (dims[k] == 0)
            return mva_error_set(err, MVA_EFORMAT,
                                 "%s::%s: expected at least one pixel and one channel, found "
                                 "an empty dataset of shape %s",
                                 r->file_name, r->path, shape);
    r->rank = rank;
    memcpy(r->dims, dims, (size_t)rank * sizeof dims[0]);
    return MVA_OK;
}

/*
 * MVA_AXIS_AUTO, in this order (the first rule that applies decides):
 *  1. @mva_channel_axis on the dataset: 0 or "first" -> first; -1, rank-1 or "last" -> last;
 *  2. @interpretation on the dataset (NeXus): "spectrum" -> last (the last axis is the
 *     spectrum); "image" on a 3-D dataset -> first (a stack of images, one per channel);
 *  3. the shape, conservatively: a 3-D dataset with dims[0] >= 256 and dims[2] < 64 is
 *     (channels, rows, cols) -- no XRF spectrum has fewer than 64 channels;
 *  4. otherwise last.
 * Returns 1 for first, 0 for last, or a negative status for an axis that is neither.
 */
static int auto_channel_first(const h5_reader *r, hid_t d, mva_error *err)
{
    char s[64];
    double v;
    if (attr_str(d, "mva_channel_axis", 0, s, sizeof s, NULL)) {
        if (strcmp(s, "first") == 0 || strcmp(s, "0") == 0)
            return 1;
        if (strcmp(s, "last") == 0)
            return 0;
        return mva_error_set(err, MVA_EUNSUPPORTED,
                             "%s::%s: @mva_channel_axis is \"%s\", expected \"first\" or \"last\"",
                             r->file_name, r->path, s);
    }
    if (attr_nums(d, "mva_channel_axis", &v, 1) == 1) {
        if (v == 0)
            return 1;
        if (v == -1 || v == r->rank - 1)
            return 0;
        return mva_error_set(err, MVA_EUNSUPPORTED,
                             "%s::%s: @mva_channel_axis is %g, expected 0 (first) or %d (last)",
                             r->file_name, r->path, v, r->rank - 1);
    }
    if (attr_str(d, "interpretation", 0, s, sizeof s, NULL)) {
        if (strcmp(s, "spectrum") == 0)
            return 0;
        if (strcmp(s, "image") == 0 && r->rank == 3)
            return 1;
    }
    if (r->rank == 3 && r->dims[0] >= 256 && r->dims[2] < 64)
        return 1;
    return 0;
}

/* Channel axis and the map shape, with the rows x cols override checked against n. */
static int set_shape(h5_reader *r, hid_t d, const mva_open_opts *opts, mva_stack_info *info,
                     mva_error *err)
{
    int first = opts->channel_axis == MVA_AXIS_FIRST;
    if (opts->channel_axis == MVA_AXIS_AUTO && (first = auto_channel_first(r, d, err)) < 0)
        return first;
    r->chfirst = first;
    r->p = (size_t)(first ? r->dims[0] : r->dims[r->rank - 1]);
    size_t grid_rows = r->rank == 3 ? (size_t)r->dims[first ? 1 : 0] : 1;
    r->grid_cols = (size_t)r->dims[r->rank == 3 ? (first ? 2 : 1) : (first ? 1 : 0)];
    size_t n, np;
    if (mva_size_mul(grid_rows, r->grid_cols, &n) != MVA_OK ||
        mva_size_mul(n, r->p, &np) != MVA_OK)
        return mva_error_set(err, MVA_ERANGE, "%s::%s: dataset too large for this machine",
                             r->file_name, r->path);
    info->rows = grid_rows;
    info->cols = r->grid_cols;
    info->channels = r->p;
    if (opts->rows != 0 || opts->cols != 0) {
        size_t want;
        if (opts->rows == 0 || opts->cols == 0 ||
            mva_size_mul(opts->rows, opts->cols, &want) != MVA_OK || want != n)
            return mva_error_set(err, MVA_EINVAL,
                                 "%s::%s: --shape %zux%zu gives %zu pixels, the dataset has "
                                 "%zu pixels",
                                 r->file_name, r->path, opts->rows, opts->cols,
                                 opts->rows * opts->cols, n);
        info->rows = opts->rows;
        info->cols = opts->cols;
    }
    const char *layout = r->rank == 3 ? (first ? "channels,rows,cols" : "rows,cols,channels")
                                      : (first ? "channels,pixels" : "pixels,channels");
    snprintf(info->layout, sizeof info->layout, "%s", layout);
    return MVA_OK;
}

/* ---- storage: chunks, filters, chunk cache ---- */

static const char *filter_name(H5Z_filter_t id)
{
    /* Ids from The HDF Group's registry of filter plugins ("Registered Filter Plugins"). */
    static const struct {
        H5Z_filter_t id;
        const char *name;
    } known[] = {{H5Z_FILTER_DEFLATE, "gzip"}, {H5Z_FILTER_SHUFFLE, "shuffle"},
                 {H5Z_FILTER_FLETCHER32, "fletcher32"}, {H5Z_FILTER_SZIP, "szip"},
                 {H5Z_FILTER_NBIT, "nbit"}, {H5Z_FILTER_SCALEOFFSET, "scaleoffset"},
                 {307, "bzip2"}, {32000, "lzf"}, {32001, "blosc"}, {32004, "lz4"},
                 {32008, "bitshuffle"}, {32015, "zstd"}, {32017, "sz"}, {32026, "blosc2"}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i].id == id)
            return known[i].name;
    return NULL;
}

/* Appends the filters of dcpl to desc; fails on the first one this HDF5 cannot load. */
static int describe_filters(const h5_reader *r, hid_t dcpl, char *desc, size_t cap,
                            mva_error *err)
{
    int nf = H5Pget_nfilters(dcpl);
    for (int i = 0; i < nf; i++) {
        unsigned flags, cd[8], conf;
        size_t ncd = 8, used = strlen(desc);
        char fname[64] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof fname,
                                         fname, &conf);
        const char *known = filter_name(id);
        char what[128];
        if (id == H5Z_FILTER_DEFLATE)
            snprintf(what, sizeof what, "gzip level %u", ncd > 0 ? cd[0] : 0u);
        else if (id < 256 && known != NULL)
            snprintf(what, sizeof what, "%s", known);
        else
            snprintf(what, sizeof what, "filter %d (%s)", (int)id,
                     known ? known : fname[0] ? fname : "unknown");
        snprintf(desc + used, cap - used, ", %s", what);
        if (H5Zfilter_avail(id) <= 0)
            return mva_error_set(err, MVA_EUNSUPPORTED,
                                 "%s::%s: the data are stored with %s, which this HDF5 cannot "
                                 "load: install the filter plugin (Debian: hdf5-filter-plugin) "
                                 "or set HDF5_PLUGIN_PATH to its directory",
                                 r->file_name, r->path, what);
    }
    return MVA_OK;
}

static size_t next_prime(size_t n)
{
    for (;; n++) {
        int prime = n >= 2;
        for (size_t k = 2; prime && k * k <= n; k++)
            prime = n % k != 0;
        if (prime)
            return n;
    }
}

/*
 * A chunk cache that holds two rows of chunks (all chunks along the axes other than the map
 * row axis): a block boundary inside a chunk row then finds the chunk still cached when the
 * next block reads the rest, so no chunk is decompressed twice.  Capped at 256 MiB; nslots
 * a prime about ten times the number of chunks cached (HDF5 guide, "Chunking in HDF5").
 */
static hid_t chunk_cache_dapl(const h5_reader *r, const hsize_t *chunk)
{
    int row_axis = r->chfirst ? 1 : 0; /* also the pixel axis of a 2-D dataset */
    double chunk_bytes = (double)mva_dtype_size(r->dtype), nchunks = 1;
    for (int k = 0; k < r->rank; k++) {
        chunk_bytes *= (double)chunk[k];
        if (k != row_axis)
            nchunks *= ceil((double)r->dims[k] / (double)chunk[k]);
    }
    double bytes = 2 * nchunks * chunk_bytes;
    if (bytes < (double)CACHE_MIN)
        bytes = (double)CACHE_MIN;
    if (bytes > (double)CACHE_MAX)
        bytes = (double)CACHE_MAX;
    double slots = 10 * bytes / chunk_bytes;
    slots = slots < 12421 ? 12421 : slots > 1000003 ? 1000003 : slots;
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl >= 0)
        H5Pset_chunk_cache(dapl, next_prime((size_t)slots), (size_t)bytes, 1.0);
    return dapl;
}

/* Fills info->storage, chunk_pixels and stored_bytes and checks the filters.  *dapl gets
 * an access property list with a chunk cache fitted to the chunk shape (H5P_DEFAULT when
 * the dataset is not chunked); the caller closes it. */
static int describe_storage(const h5_reader *r, hid_t d, mva_stack_info *info, hid_t *dapl,
                            mva_error *err)
{
    int rc = MVA_OK;
    hid_t dcpl = H5Dget_create_plist(d);
    H5D_layout_t lay = H5Pget_layout(dcpl);
    *dapl = H5P_DEFAULT;
    info->stored_bytes = (uint64_t)H5Dget_storage_size(d);
    info->chunk_pixels = 0;
    if (lay != H5D_CHUNKED) {
        snprintf(info->storage, sizeof info->storage, "%s",
                 lay == H5D_CONTIGUOUS ? "contiguous" : lay == H5D_COMPACT ? "compact"
                                                                           : "virtual");
        goto done;
    }
    hsize_t chunk[3];
    char shape[128];
    H5Pget_chunk(dcpl, r->rank, chunk);
    fmt_dims(shape, sizeof shape, chunk, r->rank);
    snprintf(info->storage, sizeof info->storage, "chunked %s", shape);
    /* Whole chunk rows are the reads that never cut a chunk. */
    int row_axis = r->chfirst ? 1 : 0;
    info->chunk_pixels = (size_t)chunk[row_axis] * (r->rank == 3 ? r->grid_cols : 1);
    rc = describe_filters(r, dcpl, info->storage, sizeof info->storage, err);
    if (rc == MVA_OK)
        *dapl = chunk_cache_dapl(r, chunk);
done:
    H5Pclose(dcpl);
    return rc;
}

/* ---- storage: can chunks be decoded here? ---- */

/* Decoding threads, the calling thread included: MVA_DECODE_THREADS when set (0 turns
 * direct decoding off, for tests and benchmarks), else the online CPUs, 1 to 4. */
static int decode_threads(void)
{
    const char *env = getenv(DECODE_ENV);
    if (env != NULL && env[0] != '\0') {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 0)
            return v > DECODE_MAX_THREADS ? DECODE_MAX_THREADS : (int)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > DECODE_MAX_THREADS ? DECODE_MAX_THREADS : (int)n;
}

/* 1 when the stored type is the native memtype (swap 0) or its byte-swapped twin (swap 1):
 * then the raw chunk bytes are the values, give or take the byte order. */
static int raw_type_usable(const h5_reader *r, hid_t d, int *swap)
{
    hid_t ft = H5Dget_type(d), other = H5Tcopy(r->memtype);
    int ok = 0;
    if (ft >= 0 && H5Tequal(ft, r->memtype) > 0) {
        ok = 1;
        *swap = 0;
    } else if (ft >= 0 && other >= 0 && mva_dtype_size(r->dtype) > 1) {
        H5T_order_t o = H5Tget_order(r->memtype);
        if (H5Tset_order(other, o == H5T_ORDER_LE ? H5T_ORDER_BE : H5T_ORDER_LE) >= 0 &&
            H5Tequal(ft, other) > 0) {
            ok = 1;
            *swap = 1;
        }
    }
    if (other >= 0)
        H5Tclose(other);
    if (ft >= 0)
        H5Tclose(ft);
    return ok;
}

/* The pipeline is deflate, or shuffle then deflate (the order h5py and most writers use).
 * Anything else -- fletcher32 included, whose checksum HDF5 does not export -- is left to
 * H5Dread. */
static int pipeline_usable(const h5_reader *r, hid_t dcpl, fast_path *f)
{
    int nf = H5Pget_nfilters(dcpl);
    H5Z_filter_t id[2];
    unsigned cd[2][8];
    size_t ncd[2] = {8, 8};
    if (nf < 1 || nf > 2)
        return 0;
    for (int i = 0; i < nf; i++) {
        unsigned flags, conf;
        id[i] = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd[i], cd[i], 0, NULL, &conf);
    }
    if (id[nf - 1] != H5Z_FILTER_DEFLATE)
        return 0;
    f->shuffle = nf == 2;
    if (f->shuffle &&
        (id[0] != H5Z_FILTER_SHUFFLE || (ncd[0] >= 1 && cd[0][0] != mva_dtype_size(r->dtype))))
        return 0;
    f->bit_shuffle = f->shuffle ? 1u : 0u;
    f->bit_deflate = 1u << (nf - 1);
    return 1;
}

/* Chunk geometry: channel-last, every chunk holding whole spectra. */
static int geometry_usable(const h5_reader *r, const hsize_t *chunk, fast_path *f)
{
    if (r->chfirst || chunk[r->rank - 1] != r->dims[r->rank - 1])
        return 0;
    f->rank = r->rank;
    f->es = mva_dtype_size(r->dtype);
    f->ch_r = r->rank == 3 ? (size_t)chunk[0] : 1;
    f->ch_c = (size_t)chunk[r->rank - 2];
    f->grid_rows = r->rank == 3 ? (size_t)r->dims[0] : 1;
    f->ncc = (r->grid_cols + f->ch_c - 1) / f->ch_c;
    size_t px, vals;
    /* zlib counts output in uInt; HDF5 limits chunks to 4 GiB as well. */
    return mva_size_mul(f->ch_r, f->ch_c, &px) == MVA_OK &&
           mva_size_mul(px, r->p, &vals) == MVA_OK &&
           mva_size_mul(vals, f->es, &f->chunk_bytes) == MVA_OK &&
           f->chunk_bytes <= UINT_MAX;
}

/* Decides whether reads go through direct chunk decoding and says so in info->storage. */
static void plan_fast_path(h5_reader *r, hid_t d, mva_stack_info *info)
{
#if H5_VERSION_GE(1, 10, 3)
    fast_path *f = &r->fast;
    hid_t dcpl = H5Dget_create_plist(d);
    hsize_t chunk[3];
    unsigned opts = 0;
    int n = decode_threads();
    /* Partial edge chunks stored unfiltered would carry a mask of 0: not ours to guess. */
    int ok = n > 0 && dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED &&
             H5Pget_chunk(dcpl, r->rank, chunk) == r->rank &&
             H5Pget_chunk_opts(dcpl, &opts) >= 0 &&
             !(opts & H5D_CHUNK_DONT_FILTER_PARTIAL_CHUNKS) && geometry_usable(r, chunk, f) &&
             pipeline_usable(r, dcpl, f) && raw_type_usable(r, d, &f->swap);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (!ok)
        return;
    f->on = 1;
    f->nthreads = n;
    /* Threads decode different chunks of one block: a block of one chunk row per thread
     * keeps them all busy (the engine sizes blocks in whole multiples of this). */
    size_t cp;
    if (mva_size_mul(info->chunk_pixels, (size_t)n, &cp) == MVA_OK)
        info->chunk_pixels = cp;
    size_t used = strlen(info->storage);
    snprintf(info->storage + used, sizeof info->storage - used,
             ", parallel inflate on %d thread%s", n, n > 1 ? "s" : "");
#else
    (void)r, (void)d, (void)info;
#endif
}

/* ---- calibration ---- */

static int calib_set(mva_calib *cal, const double *v, size_t n, double scale)
{
    if (n < 2 || n > 3 || !isfinite(v[0]) || !isfinite(v[1]) || (n == 3 && !isfinite(v[2])))
        return 0;
    cal->a = v[0] * scale;
    cal->b = v[1] * scale;
    cal->c = n == 3 ? v[2] * scale : 0.0;
    cal->known = 1;
    return 1;
}

/* Reads a small 1-D numeric dataset of exactly want values (or 2..3 when want is 0). */
static size_t read_small(hid_t g, const char *name, double *v, size_t want)
{
    size_t got = 0;
    if (H5Lexists(g, name, H5P_DEFAULT) <= 0)
        return 0;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0)
        return 0;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    H5T_class_t cls = H5Tget_class(t);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    int ok = (cls == H5T_INTEGER || cls == H5T_FLOAT) && H5Sget_simple_extent_ndims(s) == 1 &&
             (want ? n == (hssize_t)want : (n >= 2 && n <= 3));
    if (ok && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0)
        got = (size_t)n;
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    return got;
}

/* Name of the NXdata @axes entry for axis ax of a rank-axis signal: an array of names, or
 * one string "y:x:energy" (older NeXus) split on ':' or ','. */
static int axis_name(hid_t g, int ax, int rank, char *name, size_t cap)
{
    char all[256];
    size_t n;
    if (!attr_str(g, "axes", 0, all, sizeof all, &n))
        return 0;
    if (n == (size_t)rank)
        return attr_str(g, "axes", (size_t)ax, name, cap, NULL) && strcmp(name, ".") != 0;
    if (n != 1)
        return 0;
    char *toks[3] = {NULL, NULL, NULL}, *save = NULL;
    int k = 0;
    for (char *t = strtok_r(all, ":,", &save); t != NULL; t = strtok_r(NULL, ":,", &save))
        if (k++ < 3)
            toks[k - 1] = t;
    if (k != rank || strcmp(toks[ax], ".") == 0)
        return 0;
    snprintf(name, cap, "%s", toks[ax]);
    return 1;
}

/* A 1-D energy axis of p values named by @axes: E = a + b ch from its first and last value
 * (linear), in keV; an axis in eV is divided by 1000, other units are not energies. */
static int calib_from_axis(const h5_reader *r, hid_t g, mva_calib *cal)
{
    char name[256], units[32] = "";
    int ax = r->chfirst ? 0 : r->rank - 1;
    if (!axis_name(g, ax, r->rank, name, sizeof name))
        return 0;
    double *v = malloc(r->p * sizeof *v);
    if (v == NULL || read_small(g, name, v, r->p) != r->p) {
        free(v);
        return 0;
    }
    double e[2] = {v[0], r->p > 1 ? (v[r->p - 1] - v[0]) / (double)(r->p - 1) : 0.0};
    free(v);
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    attr_str(d, "units", 0, units, sizeof units, NULL);
    H5Dclose(d);
    if (units[0] == '\0' || strcmp(units, "keV") == 0)
        return calib_set(cal, e, 2, 1.0);
    if (strcmp(units, "eV") == 0)
        return calib_set(cal, e, 2, 1e-3);
    return 0;
}

/* In order: @calibration (2 or 3 values a, b[, c]) on the dataset, then on its group; a
 * sibling dataset "calibration"; the NXdata energy axis.  Unknown when none applies. */
static void find_calibration(const h5_reader *r, hid_t d, mva_calib *cal)
{
    double v[3];
    size_t n;
    char gpath[PATH_CAP];
    memset(cal, 0, sizeof *cal);
    if ((n = attr_nums(d, "calibration", v, 3)) && calib_set(cal, v, n, 1.0))
        return;
    parent_path(r->path, gpath, sizeof gpath);
    hid_t g = H5Gopen2(r->file, gpath, H5P_DEFAULT);
    if (g < 0)
        return;
    if ((n = attr_nums(g, "calibration", v, 3)) && calib_set(cal, v, n, 1.0))
        goto done;
    if ((n = read_small(g, "calibration", v, 0)) && calib_set(cal, v, n, 1.0))
        goto done;
    calib_from_axis(r, g, cal);
done:
    H5Gclose(g);
}

/* ---- reading ---- */

#define DEFINE_CONVERT(NAME, T)                                                                \
    static void NAME(const void *src, size_t m, size_t p, int transpose, double *out)          \
    {                                                                                          \
        const T *s = src;                                                                      \
        if (!transpose) {                                                                      \
            for (size_t k = 0; k < m * p; k++)                                                 \
                out[k] = (double)s[k];                                                         \
            return;                                                                            \
        }                                                                                      \
        /* (p, m) -> (m, p) in tiles of pixels, so that reads and writes both stay in cache */ \
        for (size_t j0 = 0; j0 < m; j0 += TILE) {                                              \
            size_t j1 = j0 + TILE < m ? j0 + TILE : m;                                         \
            for (size_t c = 0; c < p; c++)                                                     \
                for (size_t j = j0; j < j1; j++)                                               \
                    out[j * p + c] = (double)s[c * m + j];                                     \
        }                                                                                      \
    }

DEFINE_CONVERT(cv_int8, int8_t)
DEFINE_CONVERT(cv_uint8, uint8_t)
DEFINE_CONVERT(cv_int16, int16_t)
DEFINE_CONVERT(cv_uint16, uint16_t)
DEFINE_CONVERT(cv_int32, int32_t)
DEFINE_CONVERT(cv_uint32, uint32_t)
DEFINE_CONVERT(cv_int64, int64_t)
DEFINE_CONVERT(cv_uint64, uint64_t)
DEFINE_CONVERT(cv_float32, float)
DEFINE_CONVERT(cv_float64, double)

typedef void (*convert_fn)(const void *src, size_t m, size_t p, int transpose, double *out);

static const convert_fn converters[] = {
    [MVA_DTYPE_INT8] = cv_int8,       [MVA_DTYPE_UINT8] = cv_uint8,
    [MVA_DTYPE_INT16] = cv_int16,     [MVA_DTYPE_UINT16] = cv_uint16,
    [MVA_DTYPE_INT32] = cv_int32,     [MVA_DTYPE_UINT32] = cv_uint32,
    [MVA_DTYPE_INT64] = cv_int64,     [MVA_DTYPE_UINT64] = cv_uint64,
    [MVA_DTYPE_FLOAT32] = cv_float32, [MVA_DTYPE_FLOAT64] = cv_float64};

/* Grows the scratch buffer to bytes; it never exceeds one block of stored values. */
static int scratch_reserve(h5_reader *r, size_t bytes, mva_error *err)
{
    if (bytes <= r->scratch_cap)
        return MVA_OK;
    void *s = realloc(r->scratch, bytes);
    if (s == NULL)
        return mva_error_set(err, MVA_ENOMEM, "%s::%s: out of memory for a block of %zu bytes",
                             r->file_name, r->path, bytes);
    r->scratch = s;
    r->scratch_cap = bytes;
    return MVA_OK;
}

/* Reads the map rectangle rows [row, row+nr) x cols [col, col+nc) of the stored grid into
 * out as (nr*nc) x p doubles.  Only whole-row rectangles have nr > 1, so the rectangle is a
 * contiguous range of pixels. */
static int read_rect(h5_reader *r, size_t row, size_t nr, size_t col, size_t nc, double *out,
                     mva_error *err)
{
    hsize_t start[3], count[3];
    int k = 0;
    if (r->chfirst) {
        start[k] = 0;
        count[k++] = r->p;
    }
    if (r->rank == 3) {
        start[k] = row;
        count[k++] = nr;
    }
    start[k] = col;
    count[k++] = nc;
    if (!r->chfirst) {
        start[k] = 0;
        count[k++] = r->p;
    }
    size_t m = nr * nc, nval = m * r->p, es = mva_dtype_size(r->dtype);
    /* Stored doubles in pixel order need no conversion: straight into out. */
    int direct = r->dtype == MVA_DTYPE_FLOAT64 && !r->chfirst;
    int rc = direct ? MVA_OK : scratch_reserve(r, nval * es, err);
    if (rc != MVA_OK)
        return rc;
    /* A memory space of the same rank and shape as the file selection: HDF5 1.10 maps such
     * a selection to chunks as whole hyperslabs, where a 1-D memory space makes it walk the
     * selection element by element (3x slower than the decompression itself). */
    hid_t mspace = H5Screate_simple(k, count, NULL);
    herr_t st = H5Sselect_hyperslab(r->fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    if (st >= 0)
        st = H5Dread(r->dset, r->memtype, mspace, r->fspace, H5P_DEFAULT,
                     direct ? (void *)out : r->scratch);
    if (st < 0) {
        char e[H5_MSG];
        size_t first = row * r->grid_cols + col;
        h5_error_text(e);
        rc = mva_error_set(err, MVA_EIO,
                           "%s::%s: reading pixels %zu..%zu (dataset rows %zu..%zu) failed: %s",
                           r->file_name, r->path, first, first + m - 1, row, row + nr - 1, e);
    } else if (!direct) {
        converters[r->dtype](r->scratch, m, r->p, r->chfirst, out);
    }
    H5Sclose(mspace);
    return rc;
}

/* ---- reading: direct chunk decoding ---- */

/* HDF5's shuffle filter (H5Zshuffle.c) stores byte b of element j at b * n + j; this puts it
 * back, taking the byte planes in reverse order when swap is set (which also swaps the
 * bytes of every value).  Element-major, so that the writes stream; the byte size is a
 * constant in the common cases so that the inner loop unrolls. */
/* Byte b of an es-byte value in memory is bits LANE(b, es) of the host-order word. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define LANE(b, es) (8u * ((es) - 1u - (b)))
#else
#define LANE(b, es) (8u * (b))
#endif

/* The common sizes whole words at a time (one store per value instead of es): the byte loop
 * was 70% of a decode task's time next to inflate. */
static void unshuffle2(const unsigned char *restrict p0, const unsigned char *restrict p1,
                       unsigned char *restrict dst, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        uint16_t w = (uint16_t)((unsigned)p0[j] << LANE(0u, 2u) | (unsigned)p1[j] << LANE(1u, 2u));
        memcpy(dst + 2 * j, &w, 2);
    }
}

static void unshuffle4(const unsigned char *const *plane, unsigned char *restrict dst, size_t n)
{
    const unsigned char *restrict p0 = plane[0], *restrict p1 = plane[1];
    const unsigned char *restrict p2 = plane[2], *restrict p3 = plane[3];
    for (size_t j = 0; j < n; j++) {
        uint32_t w = (uint32_t)p0[j] << LANE(0u, 4u) | (uint32_t)p1[j] << LANE(1u, 4u) |
                     (uint32_t)p2[j] << LANE(2u, 4u) | (uint32_t)p3[j] << LANE(3u, 4u);
        memcpy(dst + 4 * j, &w, 4);
    }
}

static void unshuffle8(const unsigned char *const *plane, unsigned char *restrict dst, size_t n)
{
    const unsigned char *restrict p0 = plane[0], *restrict p1 = plane[1];
    const unsigned char *restrict p2 = plane[2], *restrict p3 = plane[3];
    const unsigned char *restrict p4 = plane[4], *restrict p5 = plane[5];
    const unsigned char *restrict p6 = plane[6], *restrict p7 = plane[7];
    for (size_t j = 0; j < n; j++) {
        uint64_t w = (uint64_t)p0[j] << LANE(0u, 8u) | (uint64_t)p1[j] << LANE(1u, 8u) |
                     (uint64_t)p2[j] << LANE(2u, 8u) | (uint64_t)p3[j] << LANE(3u, 8u) |
                     (uint64_t)p4[j] << LANE(4u, 8u) | (uint64_t)p5[j] << LANE(5u, 8u) |
                     (uint64_t)p6[j] << LANE(6u, 8u) | (uint64_t)p7[j] << LANE(7u, 8u);
        memcpy(dst + 8 * j, &w, 8);
    }
}

/* HDF5's shuffle filter stores byte b of every value in plane b; this puts the bytes back
 * (reversed with swap: file order to host order in the same step). */
static void unshuffle(const unsigned char *src, unsigned char *dst, size_t n, size_t es,
                      int swap)
{
    const unsigned char *plane[8];
    if (es > 8) {
        for (size_t b = 0; b < es; b++)
            for (size_t j = 0; j < n; j++)
                dst[j * es + b] = src[(swap ? es - 1 - b : b) * n + j];
        return;
    }
    for (size_t b = 0; b < es; b++)
        plane[b] = src + (swap ? es - 1 - b : b) * n;
    switch (es) {
    case 2: unshuffle2(plane[0], plane[1], dst, n); break;
    case 4: unshuffle4(plane, dst, n); break;
    case 8: unshuffle8(plane, dst, n); break;
    default:
        for (size_t j = 0; j < n; j++)
            for (size_t b = 0; b < es; b++)
                dst[j * es + b] = plane[b][j];
        break;
    }
}

static void swap_bytes(unsigned char *v, size_t n, size_t es)
{
    for (size_t j = 0; j < n; j++, v += es)
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            unsigned char t = v[a];
            v[a] = v[b];
            v[b] = t;
        }
}

/* zlib stream (RFC 1950) of exactly want bytes, as HDF5's deflate filter writes it. */
static int inflate_exact(const unsigned char *src, size_t nsrc, unsigned char *dst,
                         size_t want, dtask *t)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (nsrc > UINT_MAX) {
        t->code = MVA_EIO;
        snprintf(t->why, WHY_CAP, "%zu compressed bytes, more than zlib takes at once", nsrc);
        return 0;
    }
    int z = inflateInit(&zs);
    if (z != Z_OK) {
        t->code = z == Z_MEM_ERROR ? MVA_ENOMEM : MVA_EIO;
        snprintf(t->why, WHY_CAP, "cannot start inflate: %s", zError(z));
        return 0;
    }
    zs.next_in = (unsigned char *)src;
    zs.avail_in = (uInt)nsrc;
    zs.next_out = dst;
    zs.avail_out = (uInt)want;
    z = inflate(&zs, Z_FINISH);
    size_t got = (size_t)zs.total_out;
    if (z == Z_STREAM_END && got == want) {
        inflateEnd(&zs);
        return 1;
    }
    t->code = z == Z_MEM_ERROR ? MVA_ENOMEM : MVA_EIO;
    if (z == Z_STREAM_END)
        snprintf(t->why, WHY_CAP, "inflates to %zu bytes, expected %zu", got, want);
    else if (z == Z_BUF_ERROR && zs.avail_out == 0)
        snprintf(t->why, WHY_CAP, "inflates to more than the expected %zu bytes", want);
    else if (z == Z_BUF_ERROR)
        snprintf(t->why, WHY_CAP,
                 "compressed data end early (%zu bytes inflate to %zu of the expected %zu)",
                 nsrc, got, want);
    else
        snprintf(t->why, WHY_CAP, "inflate failed: %s (%zu compressed bytes, expected %zu out)",
                 zs.msg ? zs.msg : zError(z), nsrc, want);
    inflateEnd(&zs);
    return 0;
}

/* Raw chunk bytes -> values in host byte order at dst (chunk_bytes), honouring the chunk's
 * filter mask: a set bit means that filter was skipped when the chunk was written. */
static int decode_chunk(const fast_path *f, dtask *t, const unsigned char *raw,
                        decode_scratch *s, unsigned char *dst)
{
    int deflated = !(t->mask & f->bit_deflate);
    int shuffled = f->shuffle && !(t->mask & f->bit_shuffle) && f->es > 1;
    const unsigned char *src = raw;
    if (deflated) {
        unsigned char *to = shuffled ? s->tmp : dst;
        if (!inflate_exact(raw, t->nraw, to, f->chunk_bytes, t))
            return 0;
        src = to;
    } else if (t->nraw != f->chunk_bytes) {
        t->code = MVA_EIO;
        snprintf(t->why, WHY_CAP, "stored without deflate (filter mask 0x%x) in %zu bytes, "
                 "expected %zu", (unsigned)t->mask, t->nraw, f->chunk_bytes);
        return 0;
    }
    size_t n = f->chunk_bytes / f->es;
    if (shuffled) {
        unshuffle(src, dst, n, f->es, f->swap);
        return 1;
    }
    if (src != dst)
        memcpy(dst, src, f->chunk_bytes);
    if (f->swap)
        swap_bytes(dst, n, f->es);
    return 1;
}

/* Converts the pixels of a decoded chunk that fall in the block [first, end) into out, one
 * run of whole spectra per map row of the chunk, with the converters of the H5Dread path. */
static void emit_chunk(const h5_reader *r, const dtask *t, const unsigned char *chunk,
                       size_t first, size_t end, double *out)
{
    const fast_path *f = &r->fast;
    size_t C = r->grid_cols, p = r->p;
    size_t ra = first / C > t->r0 ? first / C : t->r0;
    size_t rb = (end - 1) / C < t->r1 - 1 ? (end - 1) / C : t->r1 - 1;
    for (size_t row = ra; row <= rb; row++) {
        size_t lo = row * C + t->c0, hi = row * C + t->c1;
        if (lo < first)
            lo = first;
        if (hi > end)
            hi = end;
        if (lo >= hi)
            continue;
        size_t at = ((row - t->r0) * f->ch_c + (lo - row * C - t->c0)) * p;
        converters[r->dtype](chunk + at * f->es, hi - lo, p, 0, out + (lo - first) * p);
    }
}

/* Decodes (unless cached) and emits task k; runs in any decoding thread. */
static void run_task(h5_reader *r, size_t k, int idx)
{
    fast_path *f = &r->fast;
    dtask *t = &f->tasks[k];
    const unsigned char *chunk = t->cached;
    if (chunk == NULL) {
        decode_scratch *s = &f->scratch[idx];
        if (s->dec == NULL)
            s->dec = malloc(f->chunk_bytes);
        if (s->tmp == NULL && f->shuffle)
            s->tmp = malloc(f->chunk_bytes);
        if (s->dec == NULL || (f->shuffle && s->tmp == NULL)) {
            t->code = MVA_ENOMEM;
            snprintf(t->why, WHY_CAP, "out of memory for %zu decoded bytes", f->chunk_bytes);
            return;
        }
        unsigned char *dst = t->keep ? t->keep : s->dec;
        if (!decode_chunk(f, t, f->raw + t->raw_off, s, dst))
            return;
        chunk = dst;
    }
    emit_chunk(r, t, chunk, f->first, f->end, f->out);
}

/* Takes and runs published tasks until none is left; returns when the batch is drained
 * (other threads may still be finishing theirs). */
static void help_batch(h5_reader *r, int idx)
{
    fast_path *f = &r->fast;
    pthread_mutex_lock(&f->mu);
    while (f->next < f->ready) {
        size_t k = f->next++;
        pthread_mutex_unlock(&f->mu);
        run_task(r, k, idx);
        pthread_mutex_lock(&f->mu);
        if (++f->finished == f->ntasks)
            pthread_cond_broadcast(&f->done_cv);
    }
    pthread_mutex_unlock(&f->mu);
}

static void *worker_main(void *arg)
{
    worker_arg *a = arg;
    fast_path *f = &a->r->fast;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->stop && f->next >= f->ready)
            pthread_cond_wait(&f->work_cv, &f->mu);
        if (f->stop)
            break;
        size_t k = f->next++;
        pthread_mutex_unlock(&f->mu);
        run_task(a->r, k, a->idx);
        pthread_mutex_lock(&f->mu);
        if (++f->finished == f->ntasks)
            pthread_cond_broadcast(&f->done_cv);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* Starts the workers at the first read; with none (or when creating them fails) the
 * calling thread decodes everything itself. */
static void pool_start(h5_reader *r)
{
    fast_path *f = &r->fast;
    if (f->pool_started)
        return;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->work_cv, NULL);
    pthread_cond_init(&f->done_cv, NULL);
    f->pool_started = 1;
    for (int i = 0; i < DECODE_MAX_THREADS; i++)
        f->args[i] = (worker_arg){r, i};
    for (int i = 1; i < f->nthreads; i++) {
        if (pthread_create(&f->th[f->nworkers], NULL, worker_main, &f->args[i]) != 0)
            break;
        f->nworkers++;
    }
}

static void pool_stop(fast_path *f)
{
    if (!f->pool_started)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_cond_broadcast(&f->work_cv);
    pthread_mutex_unlock(&f->mu);
    for (int i = 0; i < f->nworkers; i++)
        pthread_join(f->th[i], NULL);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->work_cv);
    pthread_cond_destroy(&f->done_cv);
}

static void fast_free(fast_path *f)
{
    pool_stop(f);
    for (int i = 0; i < DECODE_MAX_THREADS; i++) {
        free(f->scratch[i].tmp);
        free(f->scratch[i].dec);
    }
    for (int c = 0; c < 2; c++) {
        if (f->cache[c].slot != NULL)
            for (size_t k = 0; k < f->ncc; k++)
                free(f->cache[c].slot[k]);
        free(f->cache[c].slot);
    }
    for (size_t k = 0; k < f->nspare; k++)
        free(f->spare[k]);
    free(f->spare);
    free(f->tasks);
    free(f->raw);
}

/* A decoded-chunk buffer for the cache, or NULL (then the chunk is simply not kept). */
static unsigned char *spare_get(fast_path *f)
{
    return f->nspare > 0 ? f->spare[--f->nspare] : malloc(f->chunk_bytes);
}

/* Returns a cache buffer; spare holds at most two chunk rows, as the cache itself. */
static void spare_put(fast_path *f, unsigned char *buf)
{
    if (buf == NULL)
        return;
    if (f->nspare == f->spare_cap) {
        size_t cap = f->spare_cap ? 2 * f->spare_cap : 4;
        unsigned char **s = cap <= 2 * f->ncc + 4 ? realloc(f->spare, cap * sizeof *s) : NULL;
        if (s == NULL) {
            free(buf);
            return;
        }
        f->spare = s;
        f->spare_cap = cap;
    }
    f->spare[f->nspare++] = buf;
}

/* Grows *buf (of *cap elements of size) to hold n; 0 on failure. */
static int grow(void **buf, size_t *cap, size_t n, size_t size)
{
    if (n <= *cap)
        return 1;
    if (n > SIZE_MAX / size)
        return 0;
    void *b = realloc(*buf, n * size);
    if (b == NULL)
        return 0;
    *buf = b;
    *cap = n;
    return 1;
}

/* Does the chunk hold any pixel of [first, end)?  Only its rows in the first and last map
 * row of the block can miss it. */
static int chunk_meets_block(size_t C, const dtask *t, size_t first, size_t end)
{
    size_t ra = first / C > t->r0 ? first / C : t->r0;
    size_t rb = (end - 1) / C < t->r1 - 1 ? (end - 1) / C : t->r1 - 1;
    for (size_t row = ra; row <= rb; row++)
        if (row * C + t->c0 < end && row * C + t->c1 > first)
            return 1;
    return 0;
}

/* Fills f->tasks with the chunks that meet the block, in chunk order; *n gets their number. */
static int plan_tasks(h5_reader *r, size_t first, size_t end, size_t *n)
{
    fast_path *f = &r->fast;
    size_t C = r->grid_cols;
    size_t cra = first / C / f->ch_r, crb = (end - 1) / C / f->ch_r, k = 0;
    size_t most;
    if (mva_size_mul(crb - cra + 1, f->ncc, &most) != MVA_OK ||
        !grow((void **)&f->tasks, &f->task_cap, most, sizeof *f->tasks))
        return 0;
    for (size_t cr = cra; cr <= crb; cr++) {
        for (size_t cc = 0; cc < f->ncc; cc++) {
            dtask *t = &f->tasks[k];
            memset(t, 0, sizeof *t);
            t->crow = cr;
            t->ccol = cc;
            t->r0 = cr * f->ch_r;
            t->r1 = t->r0 + f->ch_r < f->grid_rows ? t->r0 + f->ch_r : f->grid_rows;
            t->c0 = cc * f->ch_c;
            t->c1 = t->c0 + f->ch_c < C ? t->c0 + f->ch_c : C;
            if (!chunk_meets_block(C, t, first, end))
                continue;
            t->leftover = (t->r1 - 1) * C + t->c1 > end;
            k++;
        }
    }
    *n = k;
    return 1;
}

static void chunk_offset(const fast_path *f, const dtask *t, hsize_t *off)
{
    int k = 0;
    if (f->rank == 3)
        off[k++] = (hsize_t)t->r0;
    off[k++] = (hsize_t)t->c0;
    off[k] = 0;
}

/* Sizes the raw chunks that must be read and lays them out in the raw arena.  Returns 0
 * when a chunk is not stored (never written: H5Dread supplies the fill value) or its size
 * cannot be had, so that the block goes through H5Dread. */
static int size_raw_chunks(h5_reader *r, size_t ntasks, int *nomem)
{
    fast_path *f = &r->fast;
    size_t total = 0;
    /* deflate can grow incompressible data by a few bytes per 16 KiB (zlib's compressBound);
     * a larger size is a corrupt index, not something to allocate. */
    uLong bound = compressBound((uLong)f->chunk_bytes) + 64;
    for (size_t k = 0; k < ntasks; k++) {
        dtask *t = &f->tasks[k];
        if (t->cached != NULL)
            continue;
        hsize_t off[3], size = 0;
        chunk_offset(f, t, off);
        if (H5Dget_chunk_storage_size(r->dset, off, &size) < 0 || size == 0 ||
            size > (hsize_t)bound)
            return 0;
        t->raw_off = total;
        t->nraw = (size_t)size;
        total += t->nraw;
    }
    if (!grow((void **)&f->raw, &f->raw_cap, total ? total : 1, 1)) {
        *nomem = 1;
        return 0;
    }
    return 1;
}

/* Cache hits: chunks of the last read's leftover row that this block needs. */
static void attach_cache(fast_path *f, size_t ntasks)
{
    chunk_row *cur = &f->cache[f->cur];
    if (!cur->valid)
        return;
    for (size_t k = 0; k < ntasks; k++) {
        dtask *t = &f->tasks[k];
        if (t->crow == cur->crow && cur->slot[t->ccol] != NULL)
            t->cached = cur->slot[t->ccol];
    }
}

/* Moves the cache to this read's leftovers.  A hit that is a leftover again moves over; a
 * hit that is not is released after the read (its data are still being emitted); cached
 * chunks this block does not need are released now; chunks to decode for the next block
 * get a buffer (none when memory is short: then they are simply decoded again). */
static int rotate_cache(fast_path *f, size_t ntasks, size_t crow)
{
    for (int c = 0; c < 2; c++)
        if (f->cache[c].slot == NULL &&
            (f->cache[c].slot = calloc(f->ncc, sizeof *f->cache[c].slot)) == NULL)
            return 0;
    chunk_row *cur = &f->cache[f->cur], *nxt = &f->cache[1 - f->cur];
    for (size_t k = 0; k < ntasks; k++) {
        dtask *t = &f->tasks[k];
        if (t->cached == NULL)
            continue;
        cur->slot[t->ccol] = NULL;
        if (t->leftover)
            nxt->slot[t->ccol] = (unsigned char *)t->cached;
        else
            t->release = 1;
    }
    for (size_t k = 0; k < f->ncc; k++) {
        spare_put(f, cur->slot[k]);
        cur->slot[k] = NULL;
    }
    cur->valid = 0;
    for (size_t k = 0; k < ntasks; k++) {
        dtask *t = &f->tasks[k];
        if (t->cached == NULL && t->leftover)
            nxt->slot[t->ccol] = t->keep = spare_get(f);
    }
    nxt->valid = 1;
    nxt->crow = crow;
    f->cur = 1 - f->cur;
    return 1;
}

/* After the read: hits that were only for this block go back to the spare buffers, and a
 * leftover whose decoding failed or never ran (k >= ran) is not kept. */
static void settle_cache(fast_path *f, size_t ntasks, size_t ran)
{
    chunk_row *cur = &f->cache[f->cur];
    for (size_t k = 0; k < ntasks; k++) {
        dtask *t = &f->tasks[k];
        if (t->release)
            spare_put(f, (unsigned char *)t->cached);
        if (t->keep != NULL && (k >= ran || t->code != MVA_OK)) {
            cur->slot[t->ccol] = NULL;
            spare_put(f, t->keep);
        }
    }
}

/* Reads the compressed bytes of t's chunk; HDF5, so only ever in the calling thread. */
static int fetch_raw(h5_reader *r, dtask *t)
{
    fast_path *f = &r->fast;
    hsize_t off[3];
    uint32_t mask = 0;
    chunk_offset(f, t, off);
    if (H5Dread_chunk(r->dset, H5P_DEFAULT, off, &mask, f->raw + t->raw_off) < 0) {
        char e[H5_MSG];
        t->code = MVA_EIO;
        snprintf(t->why, WHY_CAP, "cannot read the %zu stored bytes: %s", t->nraw,
                 h5_error_text(e));
        return 0;
    }
    t->mask = mask;
    return 1;
}

static int task_error(const h5_reader *r, const dtask *t, size_t first, size_t end,
                      mva_error *err)
{
    char where[128];
    size_t C = r->grid_cols;
    if (r->rank == 3)
        snprintf(where, sizeof where, "chunk at (%zu,%zu,0) (rows %zu..%zu, cols %zu..%zu)",
                 t->r0, t->c0, t->r0, t->r1 - 1, t->c0, t->c1 - 1);
    else
        snprintf(where, sizeof where, "chunk at (%zu,0) (pixels %zu..%zu)", t->c0, t->c0,
                 t->c1 - 1);
    return mva_error_set(err, t->code,
                         "%s::%s: reading pixels %zu..%zu (dataset rows %zu..%zu) failed: %s: %s",
                         r->file_name, r->path, first, end - 1, first / C, (end - 1) / C, where,
                         t->why);
}

/* Publishes the tasks as their raw bytes arrive, so that the workers inflate chunk k while
 * this thread reads chunk k+1, then decodes alongside them.  Returns how many tasks ran. */
static size_t run_batch(h5_reader *r, size_t ntasks, size_t first, size_t end, double *out)
{
    fast_path *f = &r->fast;
    pthread_mutex_lock(&f->mu);
    f->ntasks = ntasks;
    f->ready = f->next = f->finished = 0;
    f->first = first;
    f->end = end;
    f->out = out;
    pthread_mutex_unlock(&f->mu);
    size_t k;
    for (k = 0; k < ntasks; k++) {
        if (f->tasks[k].cached == NULL && !fetch_raw(r, &f->tasks[k]))
            break;
        pthread_mutex_lock(&f->mu);
        f->ready = k + 1;
        pthread_cond_signal(&f->work_cv);
        pthread_mutex_unlock(&f->mu);
    }
    pthread_mutex_lock(&f->mu);
    f->ntasks = k;
    pthread_mutex_unlock(&f->mu);
    help_batch(r, 0);
    pthread_mutex_lock(&f->mu);
    while (f->finished < f->ntasks)
        pthread_cond_wait(&f->done_cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
    return k;
}

#define FAST_FALLBACK 1 /* not a status: read this block with H5Dread */

/* Pixels [first, first+count) through direct chunk decoding, or FAST_FALLBACK when a chunk
 * of the block is not stored. */
static int fast_read(h5_reader *r, size_t first, size_t count, double *out, mva_error *err)
{
    fast_path *f = &r->fast;
    size_t end = first + count, ntasks = 0;
    int nomem = 0;
    if (!plan_tasks(r, first, end, &ntasks))
        return mva_error_set(err, MVA_ENOMEM, "%s::%s: out of memory for the chunk list of "
                             "pixels %zu..%zu", r->file_name, r->path, first, end - 1);
    attach_cache(f, ntasks);
    if (!size_raw_chunks(r, ntasks, &nomem))
        return nomem ? mva_error_set(err, MVA_ENOMEM, "%s::%s: out of memory for the "
                                     "compressed chunks of pixels %zu..%zu",
                                     r->file_name, r->path, first, end - 1)
                     : FAST_FALLBACK;
    if (!rotate_cache(f, ntasks, (end - 1) / r->grid_cols / f->ch_r))
        return mva_error_set(err, MVA_ENOMEM, "%s::%s: out of memory", r->file_name, r->path);
    pool_start(r);
    size_t ran = run_batch(r, ntasks, first, end, out);
    int rc = MVA_OK;
    for (size_t k = 0; k < ntasks && rc == MVA_OK; k++)
        if (f->tasks[k].code != MVA_OK)
            rc = task_error(r, &f->tasks[k], first, end, err);
    settle_cache(f, ntasks, ran);
    return rc;
}

/* Pixels [first, first+count) of the stored grid as at most three rectangles: the rest of
 * the first row, the whole rows, the start of the last row. */
static int h5_read(void *self, size_t first, size_t count, double *out, mva_error *err)
{
    h5_reader *r = self;
    size_t done = 0, C = r->grid_cols;
    /* In a thread-safe HDF5 the automatic printing is per thread; this is the reader's. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (r->fast.on && count > 0) {
        int rc = fast_read(r, first, count, out, err);
        if (rc != FAST_FALLBACK)
            return rc;
    }
    while (done < count) {
        size_t i = first + done, left = count - done;
        size_t row = i / C, col = i % C, nr = 1, nc;
        if (col == 0 && left >= C) {
            nr = left / C;
            nc = C;
        } else {
            nc = C - col < left ? C - col : left;
        }
        int rc = read_rect(r, row, nr, col, nc, out + done * r->p, err);
        if (rc != MVA_OK)
            return rc;
        done += nr * nc;
    }
    return MVA_OK;
}

static void h5_close(void *self)
{
    h5_reader *r = self;
    if (r == NULL)
        return;
    fast_free(&r->fast);
    if (r->fspace >= 0)
        H5Sclose(r->fspace);
    if (r->dset >= 0)
        H5Dclose(r->dset);
    if (r->file >= 0)
        H5Fclose(r->file);
    free(r->scratch);
    free(r);
}

static const mva_reader_ops h5_ops = {"hdf5", h5_read, h5_close};

/* ---- open ---- */

/* The file exists, is HDF5 by its signature, and opens. */
static int open_file(h5_reader *r, mva_error *err)
{
    FILE *f = fopen(r->file_name, "rb");
    if (f == NULL)
        return mva_error_set(err, errno == ENOENT ? MVA_ENOTFOUND : MVA_EIO,
                             "%s: cannot open: %s", r->file_name, strerror(errno));
    fclose(f);
    if (!mva_hdf5_is_hdf5(r->file_name))
        return mva_error_set(err, MVA_EFORMAT,
                             "%s: not an HDF5 file (no signature \\211HDF\\r\\n\\032\\n at byte "
                             "0, 512, 1024, ...)",
                             r->file_name);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    /* Beamline file systems (NFS, Lustre, GPFS) often have no locking; HDF5 would refuse to
     * open with "unable to lock file", though reading needs no lock. */
    H5Pset_file_locking(fapl, 1, 1);
#endif
    r->file = H5Fopen(r->file_name, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (r->file < 0) {
        char e[H5_MSG];
        return mva_error_set(err, MVA_EFORMAT,
                             "%s: cannot open as HDF5 (truncated or corrupt?): %s",
                             r->file_name, h5_error_text(e));
    }
    return MVA_OK;
}

/* Opens r->dset for reading.  The chunk cache belongs to the dataset object shared by all
 * its open handles and is set up by the first open, so no other handle may be open here. */
static int open_for_reading(h5_reader *r, hid_t dapl, mva_error *err)
{
    r->dset = H5Dopen2(r->file, r->path, dapl < 0 ? H5P_DEFAULT : dapl);
    if (r->dset < 0 || (r->fspace = H5Dget_space(r->dset)) < 0) {
        char e[H5_MSG];
        return mva_error_set(err, MVA_EIO, "%s::%s: cannot open the dataset (%s)",
                             r->file_name, r->path, h5_error_text(e));
    }
    return MVA_OK;
}

/* Everything open needs from the dataset found at r->path, then the handle for reading. */
static int inspect_dataset(h5_reader *r, const mva_open_opts *opts, mva_stack_info *info,
                           mva_error *err)
{
    hid_t dapl = H5P_DEFAULT;
    hid_t d = H5Dopen2(r->file, r->path, H5P_DEFAULT);
    if (d < 0) {
        char e[H5_MSG];
        return mva_error_set(err, MVA_EIO, "%s::%s: cannot open the dataset (%s)",
                             r->file_name, r->path, h5_error_text(e));
    }
    int rc = set_dtype(r, d, err);
    if (rc == MVA_OK)
        rc = read_dims(r, d, err);
    if (rc == MVA_OK)
        rc = set_shape(r, d, opts, info, err);
    if (rc == MVA_OK)
        rc = describe_storage(r, d, info, &dapl, err);
    if (rc == MVA_OK)
        plan_fast_path(r, d, info);
    if (rc == MVA_OK && opts->calib.known)
        info->calib = opts->calib;
    else if (rc == MVA_OK)
        find_calibration(r, d, &info->calib);
    H5Dclose(d);
    if (rc == MVA_OK)
        rc = open_for_reading(r, dapl, err);
    if (dapl > 0)
        H5Pclose(dapl);
    return rc;
}

int mva_hdf5_open(mva_stack **out, const char *input, const mva_open_opts *opts,
                  mva_error *err)
{
    static const mva_open_opts defaults;
    char want[PATH_CAP];
    mva_stack_info info;
    int rc;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (opts->channel_axis < MVA_AXIS_AUTO || opts->channel_axis > MVA_AXIS_FIRST)
        return mva_error_set(err, MVA_EINVAL, "%s: invalid channel axis option %d", input,
                             opts->channel_axis);
    h5_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory", input);
    r->file = r->dset = r->fspace = H5I_INVALID_HID;
    if (mva_hdf5_split_input(input, r->file_name, sizeof r->file_name, want, sizeof want) !=
        MVA_OK) {
        rc = mva_error_set(err, MVA_ERANGE, "%s: input name too long", input);
        goto done;
    }
    /* The library never prints: HDF5's messages are picked up into err instead. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    memset(&info, 0, sizeof info);
    if ((rc = open_file(r, err)) != MVA_OK || (rc = locate_dataset(r, want, err)) != MVA_OK ||
        (rc = inspect_dataset(r, opts, &info, err)) != MVA_OK)
        goto done;
    info.dtype = r->dtype;
    snprintf(info.format, sizeof info.format, "hdf5");
    snprintf(info.source, sizeof info.source, "%s", r->file_name);
    snprintf(info.path, sizeof info.path, "%s", r->path);
    /* mva_stack_new owns r from here, also when it fails. */
    return mva_stack_new(out, &h5_ops, r, &info, err);
done:
    h5_close(r);
    return rc;
}
