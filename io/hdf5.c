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
 * The readers of several detector elements of one 4-D or Odin dataset share one read per
 * block (h5_eshare below): each chunk is decoded once, whatever the elements used.
 *
 * Parallel inflate (hdf5_direct.c) reads the blocks of chunked, deflated, channel-last
 * datasets instead of H5Dread; discovery (which dataset, its calibration) is hdf5_find.c;
 * the dataset's type, shape, channel axis and storage are described by hdf5_describe.c.
 *
 * HDF5's automatic error printing is switched off: the library never prints, the messages
 * go into the mva_error record instead.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "dtype.h"
#include "hdf5int.h"
#include "mva/hdf5.h"
#include "mva/stack.h"

/* The Python mirror (python/mva/_lib.py) holds channel_axis as a c_int. */
_Static_assert(sizeof(mva_stack_axis) == sizeof(int), "enum size");


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

/* ---- reading ---- */

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

/* The file selection of the map rectangle rows [row, row+nr) x cols [col, col+nc) and
 * elements [e0, e0+ne) (when the dataset has an element axis); returns its rank. */
static int rect_selection(const h5_reader *r, size_t row, size_t nr, size_t col, size_t nc,
                          size_t e0, size_t ne, hsize_t *start, hsize_t *count)
{
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
    if (r->eaxis >= 0) { /* the elements, on the element axis */
        for (int j = k; j > r->eaxis; j--) {
            start[j] = start[j - 1];
            count[j] = count[j - 1];
        }
        start[r->eaxis] = e0;
        count[r->eaxis] = ne;
        k++;
    }
    return k;
}

/* H5Dread of the selection (rank k) into buf, in the stored type (or straight into doubles
 * when they are stored).  A memory space of the same rank and shape as the file selection:
 * HDF5 1.10 maps such a selection to chunks as whole hyperslabs, where a 1-D memory space
 * makes it walk the selection element by element (3x slower than the decompression itself). */
static int read_selection(h5_reader *r, const hsize_t *start, const hsize_t *count, int k,
                          void *buf, size_t row, size_t nr, size_t col, size_t nc,
                          mva_error *err)
{
    hid_t mspace = H5Screate_simple(k, count, NULL);
    herr_t st = H5Sselect_hyperslab(r->fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    if (st >= 0)
        st = H5Dread(r->dset, r->memtype, mspace, r->fspace, H5P_DEFAULT, buf);
    H5Sclose(mspace);
    if (st >= 0)
        return MVA_OK;
    char e[H5_MSG];
    size_t first = row * r->grid_cols + col;
    h5_error_text(e);
    return mva_error_set(err, MVA_EIO,
                         "%s::%s: reading pixels %zu..%zu (dataset rows %zu..%zu) failed: %s",
                         r->file_name, r->path, first, first + nr * nc - 1, row, row + nr - 1,
                         e);
}

/* Reads the map rectangle rows [row, row+nr) x cols [col, col+nc) of the stored grid into
 * out as (nr*nc) x p doubles.  Only whole-row rectangles have nr > 1, so the rectangle is a
 * contiguous range of pixels. */
static int read_rect(h5_reader *r, size_t row, size_t nr, size_t col, size_t nc, double *out,
                     mva_error *err)
{
    hsize_t start[4], count[4];
    int k = rect_selection(r, row, nr, col, nc, r->eidx, 1, start, count);
    size_t m = nr * nc, nval = m * r->p, es = mva_dtype_size(r->dtype);
    /* Stored doubles in pixel order need no conversion: straight into out. */
    int direct = r->dtype == MVA_DTYPE_FLOAT64 && !r->chfirst;
    int rc = direct ? MVA_OK : scratch_reserve(r, nval * es, err);
    if (rc != MVA_OK)
        return rc;
    rc = read_selection(r, start, count, k, direct ? (void *)out : r->scratch, row, nr, col, nc,
                        err);
    if (rc == MVA_OK && !direct) {
        if (r->chfirst)
            mva_dtype_to_double_t(r->dtype, r->scratch, m, r->p, out);
        else
            mva_dtype_to_double(r->dtype, r->scratch, m * r->p, 0, out);
    }
    return rc;
}

/* The rectangles of pixels [first, first + count): a partial first row, whole rows, a partial
 * last row.  *done (pixels from first) is where the next starts; returns 0 when done. */
static int next_rect(const h5_reader *r, size_t first, size_t count, size_t *done, size_t *row,
                     size_t *nr, size_t *col, size_t *nc)
{
    size_t C = r->grid_cols;
    if (*done >= count)
        return 0;
    size_t i = first + *done, left = count - *done;
    *row = i / C;
    *col = i % C;
    *nr = 1;
    if (*col == 0 && left >= C) {
        *nr = left / C;
        *nc = C;
    } else {
        *nc = C - *col < left ? C - *col : left;
    }
    return 1;
}

/* ---- detector elements of one dataset, read together ---- */

/*
 * The element readers of a 4-D (rows, cols, elements, channels) or Odin (frames, elements,
 * channels) dataset share one read per block: the first reader to ask for a block reads the
 * elements [e0, e0 + ne) of all its pixels with one H5Dread (stored values, pixel, element,
 * channel order), and every reader converts its own element from that.  So each chunk is
 * decoded once per block, and read whole along the element axis (e0, ne rounded out to the
 * chunk's element extent), which lets HDF5's chunk cache (preempting fully read chunks first)
 * drop it: a chunk only partly read would stay cached, and the cache grow with the map.
 */
struct h5_eshare {
    int refs;
    size_t emin, emax;      /* the elements of the readers */
    size_t e0, ne;          /* the elements read, once planned (ne > 0) */
    size_t first, count;    /* the block held (count 0: none) */
    unsigned char *buf;     /* count x ne x p stored values */
    size_t cap;             /* bytes */
};

h5_eshare *h5_eshare_new(void)
{
    h5_eshare *sh = calloc(1, sizeof *sh);
    if (sh != NULL) {
        sh->refs = 1;
        sh->emin = SIZE_MAX;
    }
    return sh;
}

void h5_eshare_release(h5_eshare *sh)
{
    if (sh == NULL || --sh->refs > 0)
        return;
    free(sh->buf);
    free(sh);
}

/* Shares read when the element axis is just before the channels (stored last): the block then
 * reads as (pixels, elements, channels). */
static int share_usable(const h5_reader *r)
{
    return r->share != NULL && !r->chfirst && r->eaxis == r->frank - 2;
}

/* The elements to read: the readers' range, rounded out to whole chunks along the axis. */
static void share_plan(h5_eshare *sh, const h5_reader *r)
{
    hsize_t chunk[4];
    size_t ce = 1, E = (size_t)r->fdims[r->eaxis];
    hid_t dcpl = H5Dget_create_plist(r->dset);
    if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED &&
        H5Pget_chunk(dcpl, r->frank, chunk) == r->frank && chunk[r->eaxis] > 0)
        ce = (size_t)chunk[r->eaxis];
    if (dcpl >= 0)
        H5Pclose(dcpl);
    sh->e0 = sh->emin / ce * ce;
    size_t end = (sh->emax / ce + 1) * ce;
    sh->ne = (end < E ? end : E) - sh->e0;
}

/* Makes the share hold the block [first, first + count). */
static int share_fill(h5_reader *r, size_t first, size_t count, mva_error *err)
{
    h5_eshare *sh = r->share;
    if (sh->count == count && sh->first == first && count > 0)
        return MVA_OK;
    if (sh->ne == 0)
        share_plan(sh, r);
    size_t es = mva_dtype_size(r->dtype), per = sh->ne * r->p * es, bytes;
    if (mva_size_mul(count, per, &bytes) != MVA_OK)
        return mva_error_set(err, MVA_ERANGE, "%s::%s: a block of %zu pixels is too large",
                             r->file_name, r->path, count);
    if (bytes > sh->cap) {
        unsigned char *b = realloc(sh->buf, bytes);
        if (b == NULL)
            return mva_error_set(err, MVA_ENOMEM, "%s::%s: out of memory for a block of %zu "
                                 "bytes", r->file_name, r->path, bytes);
        sh->buf = b;
        sh->cap = bytes;
    }
    sh->count = 0;
    size_t done = 0, row, nr, col, nc;
    while (next_rect(r, first, count, &done, &row, &nr, &col, &nc)) {
        hsize_t start[4], cnt[4];
        int k = rect_selection(r, row, nr, col, nc, sh->e0, sh->ne, start, cnt);
        int rc = read_selection(r, start, cnt, k, sh->buf + done * per, row, nr, col, nc, err);
        if (rc != MVA_OK)
            return rc;
        done += nr * nc;
    }
    sh->first = first;
    sh->count = count;
    return MVA_OK;
}

/* Pixels [first, first + count) of r's element, from the block read for every element. */
static int share_read(h5_reader *r, size_t first, size_t count, double *out, mva_error *err)
{
    int rc = share_fill(r, first, count, err);
    if (rc != MVA_OK)
        return rc;
    const h5_eshare *sh = r->share;
    size_t es = mva_dtype_size(r->dtype), p = r->p;
    const unsigned char *at = sh->buf + (size_t)(r->eidx - sh->e0) * p * es;
    for (size_t i = 0; i < count; i++, at += sh->ne * p * es)
        mva_dtype_to_double(r->dtype, at, p, 0, out + i * p);
    return MVA_OK;
}

static int h5_read(void *self, size_t first, size_t count, double *out, mva_error *err)
{
    h5_reader *r = self;
    size_t done = 0, row, nr, col, nc;
    /* In a thread-safe HDF5 the automatic printing is per thread; this is the reader's. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (r->direct != NULL && count > 0) {
        int rc = h5_direct_read(r->direct, r, first, count, out, err);
        if (rc != H5_DIRECT_FALLBACK)
            return rc;
    }
    if (share_usable(r))
        return share_read(r, first, count, out, err);
    while (next_rect(r, first, count, &done, &row, &nr, &col, &nc)) {
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
    h5_direct_free(r->direct);
    h5_eshare_release(r->share);
    if (r->fspace >= 0)
        H5Sclose(r->fspace);
    if (r->dset >= 0)
        H5Dclose(r->dset);
    if (r->file >= 0)
        H5Fclose(r->file);
    free(r->scratch);
    free(r);
}

static const mva_reader_ops h5_ops = {"hdf5", h5_read, h5_close, NULL};

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
    int rc = h5_set_dtype(r, d, err);
    if (rc == MVA_OK)
        rc = h5_read_dims(r, d, err);
    if (rc == MVA_OK)
        rc = h5_set_shape(r, d, opts, info, err);
    if (rc == MVA_OK)
        rc = h5_describe_storage(r, d, info, &dapl, err);
    if (rc == MVA_OK && r->eaxis < 0)
        r->direct = h5_direct_plan(r, d, info);
    if (rc == MVA_OK && opts->calib.known)
        info->calib = opts->calib;
    else if (rc == MVA_OK)
        h5_find_calibration(r, d, &info->calib);
    H5Dclose(d);
    if (rc == MVA_OK)
        rc = open_for_reading(r, dapl, err);
    if (dapl > 0)
        H5Pclose(dapl);
    return rc;
}

int h5_open_one(mva_stack **out, const char *file, const char *want, const h5_select *sel,
                const mva_open_opts *opts, mva_error *err)
{
    mva_stack_info info;
    int rc;
    *out = NULL;
    h5_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory", file);
    r->file = r->dset = r->fspace = H5I_INVALID_HID;
    r->eaxis = sel ? sel->eaxis : -1;
    r->eidx = sel ? (hsize_t)sel->eidx : 0;
    r->layout_chfirst = sel ? sel->chfirst : -1;
    if (strlen(file) >= sizeof r->file_name) {
        rc = mva_error_set(err, MVA_ERANGE, "%s: file name too long", file);
        goto done;
    }
    snprintf(r->file_name, sizeof r->file_name, "%s", file);
    /* The library never prints: HDF5's messages are picked up into err instead. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    memset(&info, 0, sizeof info);
    if ((rc = open_file(r, err)) != MVA_OK || (rc = h5_locate_dataset(r, want, err)) != MVA_OK ||
        (rc = inspect_dataset(r, opts, &info, err)) != MVA_OK)
        goto done;
    info.dtype = r->dtype;
    /* PyMca's stacks (PyMca5 PyMcaIO/ArraySave.py, save3DArrayAsHDF5, mode "nexus"): no
     * root @default, an NXentry "data" with an NXdata found by its @signal, @creator "PyMca"
     * on the root; nothing else to resolve, so the name is all the layout adds. */
    char creator[16];
    if (sel == NULL && h5_attr_str(r->file, "creator", 0, creator, sizeof creator, NULL) &&
        strcmp(creator, "PyMca") == 0)
        snprintf(info.layout_name, sizeof info.layout_name, "PyMca HDF5 stack");
    snprintf(info.format, sizeof info.format, "hdf5");
    snprintf(info.source, sizeof info.source, "%s", r->file_name);
    snprintf(info.path, sizeof info.path, "%s", r->path);
    if (sel != NULL && sel->share != NULL && r->eaxis >= 0) {
        r->share = sel->share;
        r->share->refs++;
        if (r->eidx < r->share->emin)
            r->share->emin = (size_t)r->eidx;
        if (r->eidx > r->share->emax)
            r->share->emax = (size_t)r->eidx;
    }
    /* mva_stack_new owns r from here, also when it fails. */
    return mva_stack_new(out, &h5_ops, r, &info, err);
done:
    h5_close(r);
    return rc;
}

int mva_hdf5_open(mva_stack **out, const char *input, const mva_open_opts *opts,
                  mva_error *err)
{
    static const mva_open_opts defaults;
    char file[FILE_CAP], want[PATH_CAP];
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (opts->channel_axis < MVA_STACK_AXIS_AUTO || opts->channel_axis > MVA_STACK_AXIS_FIRST)
        return mva_error_set(err, MVA_EINVAL, "%s: invalid channel axis option %d", input,
                             (int)opts->channel_axis);
    if (mva_hdf5_split_input(input, file, sizeof file, want, sizeof want) != MVA_OK)
        return mva_error_set(err, MVA_ERANGE, "%s: input name too long", input);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char scan[64];
    int b = mva_hdf5_is_hdf5(file) ? h5_bliss_pick(file, want, opts, scan, sizeof scan, err) : 0;
    if (b < 0)
        return b;
    if (b > 0)
        return h5_bliss_open(out, file, scan, opts, err);
    h5_layout *lay = NULL;
    int rc = h5_layout_detect(file, want, opts, &lay, err);
    if (rc != MVA_OK)
        return rc;
    if (lay != NULL)
        return h5_layout_open(out, file, lay, opts, err);
    if (opts->scan != NULL)
        return mva_error_set(err, MVA_EINVAL, "%s: --scan %s: scans are chosen in SPEC files and "
                             "ESRF BLISS HDF5 files; this file has no BLISS scans",
                             file, opts->scan);
    return h5_open_one(out, file, want, NULL, opts, err);
}
