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
 * datasets instead of H5Dread; discovery (which dataset, its calibration) is hdf5_find.c.
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

#define CACHE_MIN ((size_t)1 << 20)
#define CACHE_MAX ((size_t)256 << 20)

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

/* ---- type, shape, channel axis ---- */

/* The stored type must be an integer or an IEEE-like float; memtype is the native type of
 * the same size and sign, so that HDF5 only swaps bytes when the file is big-endian. */
static const char *nexus_note(const h5_reader *r);

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
                                 "8 bytes, found %s dataset of %zu bytes per value%s",
                                 r->file_name, r->path, h5_class_name(cls), size, nexus_note(r));
        return mva_error_set(err, MVA_EFORMAT,
                             "%s::%s: expected an integer or float dataset, found %s dataset%s",
                             r->file_name, r->path, h5_class_name(cls), nexus_note(r));
    }
    return MVA_OK;
}

/* " (reached by the NeXus @default/@signal chain: ...)" for messages about a dataset the
 * user did not name. */
static const char *nexus_note(const h5_reader *r)
{
    return r->nexus ? " (the NeXus default plot: the file's @default/@signal chain leads there; "
                      "name the stack with FILE::/path to read another dataset)"
                    : "";
}

/* Reads the rank and dimensions, rejecting what cannot be a stack; an element axis (r->eaxis,
 * set by a recognised layout) is checked and left out of r->rank and r->dims. */
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
        return mva_error_set(err, MVA_EFORMAT, "%s::%s: %s, found a %s%s", r->file_name,
                             r->path, expect, sc == H5S_NULL ? "null (empty) dataspace" : "scalar",
                             nexus_note(r));
    char shape[128];
    h5_fmt_dims(shape, sizeof shape, dims, rank);
    if (rank == 1)
        return mva_error_set(err, MVA_EFORMAT, "%s::%s: %s, found 1-D of %s values%s",
                             r->file_name, r->path, expect, shape, nexus_note(r));
    if (r->eaxis < 0 && rank == 4)
        return mva_error_set(err, MVA_EFORMAT,
                             "%s::%s: %s, found 4-D %s%s; a 4-D dataset is read as (rows, cols, "
                             "detector elements, channels) when --detector says which elements "
                             "(--detector sum, --detector 0, ...)",
                             r->file_name, r->path, expect, shape, nexus_note(r));
    if (rank > 3 + (r->eaxis >= 0))
        return mva_error_set(err, MVA_EFORMAT, "%s::%s: %s, found %d-D %s%s", r->file_name,
                             r->path, expect, rank, shape, nexus_note(r));
    for (int k = 0; k < rank; k++)
        if (dims[k] == 0)
            return mva_error_set(err, MVA_EFORMAT,
                                 "%s::%s: expected at least one pixel and one channel, found "
                                 "an empty dataset of shape %s",
                                 r->file_name, r->path, shape);
    r->frank = rank;
    memcpy(r->fdims, dims, (size_t)rank * sizeof dims[0]);
    r->rank = rank;
    if (r->eaxis >= 0) {
        if (r->eaxis >= rank || rank < 3 || r->eidx >= dims[r->eaxis])
            return mva_error_set(err, MVA_EINVAL, "%s::%s: no detector element %llu on axis %d "
                                 "of a dataset of shape %s", r->file_name, r->path,
                                 (unsigned long long)r->eidx, r->eaxis, shape);
        r->rank = rank - 1;
    }
    for (int k = 0, j = 0; k < rank; k++)
        if (k != r->eaxis)
            r->dims[j++] = dims[k];
    return MVA_OK;
}

/* What the file says about the channel axis: @mva_channel_axis, @interpretation, an NXdata
 * energy axis, a recognised layout.  Returns 1 (first) or 0 (last) with the evidence in why,
 * -1 when nothing says, or a negative status for an attribute that names neither end. */
static int axis_evidence(const h5_reader *r, hid_t d, const char **why, mva_error *err)
{
    char s[64];
    double v;
    if (h5_attr_str(d, "mva_channel_axis", 0, s, sizeof s, NULL)) {
        *why = "@mva_channel_axis";
        if (strcmp(s, "first") == 0 || strcmp(s, "0") == 0)
            return 1;
        if (strcmp(s, "last") == 0)
            return 0;
        return mva_error_set(err, MVA_EUNSUPPORTED,
                             "%s::%s: @mva_channel_axis is \"%s\", expected \"first\" or \"last\"",
                             r->file_name, r->path, s);
    }
    if (h5_attr_nums(d, "mva_channel_axis", &v, 1) == 1) {
        *why = "@mva_channel_axis";
        if (v == 0)
            return 1;
        if (v == -1 || v == r->rank - 1)
            return 0;
        return mva_error_set(err, MVA_EUNSUPPORTED,
                             "%s::%s: @mva_channel_axis is %g, expected 0 (first) or %d (last)",
                             r->file_name, r->path, v, r->rank - 1);
    }
    if (h5_attr_str(d, "interpretation", 0, s, sizeof s, NULL)) {
        *why = "@interpretation";
        if (strcmp(s, "spectrum") == 0)
            return 0;
        if (strcmp(s, "image") == 0 && r->rank == 3)
            return 1;
    }
    if (r->layout_chfirst >= 0) {
        *why = "the recognised layout";
        return r->layout_chfirst;
    }
    int ax = h5_energy_axis(r);
    if (ax >= 0) {
        *why = "the NXdata @axes energy axis";
        return ax == 0;
    }
    return -1;
}

/*
 * Where the channel axis is: the option, else the file's evidence (axis_evidence), else the
 * shape -- but only when one reading alone gives a spectrum of at least 64 channels.  Two
 * plausible readings, or none, are refused with the option that decides.
 */
static int decide_channel_first(const h5_reader *r, hid_t d, const mva_open_opts *opts,
                                mva_error *err)
{
    const char *why = NULL;
    if (opts->channel_axis != MVA_STACK_AXIS_AUTO)
        return opts->channel_axis == MVA_STACK_AXIS_FIRST;
    int ev = axis_evidence(r, d, &why, err);
    if (ev != -1)
        return ev;
    size_t last = (size_t)r->dims[r->rank - 1], first = (size_t)r->dims[0];
    int last_ok = last >= 64, first_ok = first >= 64;
    if (last_ok != first_ok)
        return first_ok;
    char shape[128], a[128], b[128];
    h5_fmt_dims(shape, sizeof shape, r->dims, r->rank);
    if (r->rank == 3) {
        snprintf(a, sizeof a, "%zu channels of %llu x %llu pixels (channels last)", last,
                 (unsigned long long)r->dims[0], (unsigned long long)r->dims[1]);
        snprintf(b, sizeof b, "%zu channels of %llu x %llu pixels (channels first)", first,
                 (unsigned long long)r->dims[1], (unsigned long long)r->dims[2]);
    } else {
        snprintf(a, sizeof a, "%zu channels of %zu pixels (channels last)", last, first);
        snprintf(b, sizeof b, "%zu channels of %zu pixels (channels first)", first, last);
    }
    if (last_ok)
        return mva_error_set(err, MVA_EINVAL,
                             "%s::%s: shape %s reads two ways: %s or %s, and nothing in the file "
                             "says which (no @interpretation, NXdata energy axis or recognised "
                             "layout)%s; pick one with --channel-axis last or --channel-axis first",
                             r->file_name, r->path, shape, a, b, nexus_note(r));
    return mva_error_set(err, MVA_EINVAL,
                         "%s::%s: shape %s gives %zu channels (channels last) or %zu (channels "
                         "first): fewer than 64, not an XRF spectrum unless you say so%s; name "
                         "the axis with --channel-axis last or --channel-axis first",
                         r->file_name, r->path, shape, last, first, nexus_note(r));
}

/* Channel axis and the map shape, with the rows x cols override checked against n. */
static int set_shape(h5_reader *r, hid_t d, const mva_open_opts *opts, mva_stack_info *info,
                     mva_error *err)
{
    int first = decide_channel_first(r, d, opts, err);
    if (first < 0)
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
    if (r->eaxis >= 0 && r->eaxis <= row_axis)
        row_axis++;
    double chunk_bytes = (double)mva_dtype_size(r->dtype), nchunks = 1;
    for (int k = 0; k < r->frank; k++) {
        chunk_bytes *= (double)chunk[k];
        if (k != row_axis)
            nchunks *= ceil((double)r->fdims[k] / (double)chunk[k]);
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
    hsize_t chunk[4];
    char shape[128];
    H5Pget_chunk(dcpl, r->frank, chunk);
    h5_fmt_dims(shape, sizeof shape, chunk, r->frank);
    snprintf(info->storage, sizeof info->storage, "chunked %s", shape);
    /* Whole chunk rows are the reads that never cut a chunk. */
    int row_axis = r->chfirst ? 1 : 0;
    if (r->eaxis >= 0 && r->eaxis <= row_axis)
        row_axis++;
    info->chunk_pixels = (size_t)chunk[row_axis] * (r->rank == 3 ? r->grid_cols : 1);
    rc = describe_filters(r, dcpl, info->storage, sizeof info->storage, err);
    if (rc == MVA_OK)
        *dapl = chunk_cache_dapl(r, chunk);
done:
    H5Pclose(dcpl);
    return rc;
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
    int rc = set_dtype(r, d, err);
    if (rc == MVA_OK)
        rc = read_dims(r, d, err);
    if (rc == MVA_OK)
        rc = set_shape(r, d, opts, info, err);
    if (rc == MVA_OK)
        rc = describe_storage(r, d, info, &dapl, err);
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
