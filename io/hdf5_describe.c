/*
 * The HDF5 reader's description of a dataset (hdf5.c opens and reads): its stored type, its
 * dimensions, where its channel axis is and the map shape that follows, and its storage
 * (chunks, filters, the chunk cache sized for sequential block reads).
 */
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

#define CACHE_MIN ((size_t)1 << 20)
#define CACHE_MAX ((size_t)256 << 20)

/* ---- type, shape, channel axis ---- */

/* The stored type must be an integer or an IEEE-like float; memtype is the native type of
 * the same size and sign, so that HDF5 only swaps bytes when the file is big-endian. */
static const char *nexus_note(const h5_reader *r);

int h5_set_dtype(h5_reader *r, hid_t d, mva_error *err)
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
int h5_read_dims(h5_reader *r, hid_t d, mva_error *err)
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
    int want = opts->channel_axis == MVA_STACK_AXIS_FIRST;
    if (opts->channel_axis != MVA_STACK_AXIS_AUTO && r->layout_chfirst >= 0 &&
        want != r->layout_chfirst)
        return mva_error_set(err, MVA_EINVAL,
                             "%s::%s: --channel-axis %s contradicts the recognised layout, "
                             "whose writer puts the channels %s; leave the option out (or name "
                             "the dataset, FILE::/path, to read it otherwise)",
                             r->file_name, r->path, want ? "first" : "last",
                             r->layout_chfirst ? "first" : "last");
    if (opts->channel_axis != MVA_STACK_AXIS_AUTO)
        return want;
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
int h5_set_shape(h5_reader *r, hid_t d, const mva_open_opts *opts, mva_stack_info *info,
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

/* The Debian package of a filter plugin ("" when none is known): a missing blosc filter is
 * not in hdf5-filter-plugin, and Odin's Xspress files are blosc-compressed. */
static const char *filter_package(H5Z_filter_t id)
{
    switch (id) {
    case 307:   /* bzip2 */
    case 32004: /* lz4 */
    case 32008: /* bitshuffle */
        return "hdf5-filter-plugin";
    case 32001:
        return "hdf5-filter-plugin-blosc-serial";
    case 32013:
        return "hdf5-filter-plugin-zfp-serial";
    default:
        return "";
    }
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
        const char *pkg = filter_package(id);
        if (H5Zfilter_avail(id) <= 0)
            return mva_error_set(err, MVA_EUNSUPPORTED,
                                 "%s::%s: the data are stored with %s, which this HDF5 cannot "
                                 "load: install the filter plugin%s%s%s or set HDF5_PLUGIN_PATH "
                                 "to its directory", r->file_name, r->path, what,
                                 pkg[0] ? " (Debian: " : "", pkg, pkg[0] ? ")" : "");
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
int h5_describe_storage(const h5_reader *r, hid_t d, mva_stack_info *info, hid_t *dapl,
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
