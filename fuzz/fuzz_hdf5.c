/* libFuzzer target: the HDF5/NeXus stack description.  The input does not become the file's
 * bytes (HDF5's own parser is not ours to fuzz); it chooses a small, valid HDF5 file: rank,
 * dims, element type, storage, where the dataset lives, and the attributes the reader
 * interprets (@default, @NX_class, @signal, @interpretation, @mva_channel_axis, @calibration,
 * a sibling calibration dataset, @axes with an energy dataset and its @units).  Then
 * mva_hdf5_open reads it all, with opts (shape, channel axis) also taken from the input. */
#include <hdf5.h>
#include <math.h>

#include "fuzz_common.h"

typedef struct src {
    const uint8_t *p;
    size_t n;
} src;

static unsigned byte(src *s)
{
    if (s->n == 0)
        return 0;
    s->n--;
    return *s->p++;
}

/* A short string: a length byte, then that many bytes (NUL-free, printable or not). */
static void str(src *s, char *out, size_t cap)
{
    size_t len = byte(s) % cap;
    size_t i = 0;
    for (; i < len && s->n; i++) {
        out[i] = (char)byte(s);
        if (out[i] == '\0')
            out[i] = '/';
    }
    out[i] = '\0';
}

static const char *const words[] = {"entry", "data", "stack", "spectrum", "image", "first",
                                    "last", "NXentry", "NXdata", "keV", "eV", "energy",
                                    "calibration", "-1", "0", ".", "/entry/data/data", ""};
#define NWORDS (sizeof words / sizeof *words)

/* Either a well-known word (most of the time) or free text. */
static void text(src *s, char *out, size_t cap)
{
    unsigned c = byte(s);
    if (c < 200)
        snprintf(out, cap, "%s", words[c % NWORDS]);
    else
        str(s, out, cap);
}

static void attr_string(hid_t obj, const char *name, const char *v, int vlen)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (vlen)
        H5Tset_size(t, H5T_VARIABLE);
    else
        H5Tset_size(t, strlen(v) + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        if (vlen)
            H5Awrite(a, t, &v);
        else
            H5Awrite(a, t, v);
        H5Aclose(a);
    }
    H5Sclose(sp);
    H5Tclose(t);
}

static double number(src *s)
{
    static const double special[] = {0.0, 1.0, -1.0, 0.01, 1e300, -1e-300, 1e-3};
    unsigned c = byte(s);
    if (c < 8) {
        if (c == 7)
            return (double)NAN;
        return special[c];
    }
    if (c < 16)
        return (double)INFINITY * (c & 1 ? 1 : -1);
    return ((double)c - 128.0) * 0.01 + byte(s) * 1e-4;
}

static void attr_numbers(hid_t obj, const char *name, src *s, hid_t type)
{
    double v[5];
    hsize_t n = byte(s) % 6;
    for (hsize_t i = 0; i < n; i++)
        v[i] = number(s);
    hid_t sp = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (n == 0)
        v[0] = number(s);
    if (a >= 0) {
        H5Awrite(a, H5T_NATIVE_DOUBLE, v);
        H5Aclose(a);
    }
    H5Sclose(sp);
}

static const hid_t *types(void)
{
    static hid_t t[16];
    t[0] = H5T_STD_U8LE, t[1] = H5T_STD_I8LE, t[2] = H5T_STD_U16BE, t[3] = H5T_STD_I16LE;
    t[4] = H5T_STD_U32LE, t[5] = H5T_STD_I32BE, t[6] = H5T_STD_U64LE, t[7] = H5T_STD_I64LE;
    t[8] = H5T_IEEE_F32LE, t[9] = H5T_IEEE_F64LE, t[10] = H5T_IEEE_F64BE;
    t[11] = H5T_IEEE_F32BE, t[12] = H5T_STD_U16LE, t[13] = H5T_STD_U64BE;
    t[14] = H5T_STD_I8LE, t[15] = H5T_STD_U8LE;
    return t;
}

/* The stack dataset: rank 1..4, dims 0..9 (rarely larger), values from the input. */
static hid_t make_dataset(hid_t loc, const char *name, src *s)
{
    hsize_t dims[4], chunk[4], total = 1;
    int rank = 1 + (int)(byte(s) % 4);
    for (int i = 0; i < rank; i++) {
        unsigned c = byte(s);
        dims[i] = c < 240 ? c % 10 : (c - 230) * 37;
        chunk[i] = dims[i] ? 1 + byte(s) % dims[i] : 1;
        total *= dims[i];
    }
    if (total > 1u << 16) { /* keep it small: at most 9 per axis */
        total = 1;
        for (int i = 0; i < rank; i++) {
            dims[i] %= 10;
            chunk[i] = dims[i] ? 1 + chunk[i] % dims[i] : 1;
            total *= dims[i];
        }
    }
    unsigned sel = byte(s);
    hid_t type = types()[sel % 16];
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    unsigned storage = (sel >> 4) % 4;
    if (storage && total > 0) {
        H5Pset_chunk(dcpl, rank, chunk);
        if (storage >= 2)
            H5Pset_deflate(dcpl, 1);
        if (storage == 3)
            H5Pset_shuffle(dcpl);
    }
    hid_t d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d >= 0 && total > 0) {
        double *v = malloc(total * sizeof *v);
        if (v == NULL)
            abort();
        for (hsize_t i = 0; i < total; i++)
            v[i] = s->n ? number(s) * 100.0 : (double)(i % 7);
        /* out-of-range conversions are clipped by HDF5; NaN into integers gives 0 */
        H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        free(v);
    }
    H5Pclose(dcpl);
    H5Sclose(sp);
    return d;
}

static void decorate(hid_t grp, hid_t d, src *s, char *tmp, size_t cap)
{
    unsigned flags = byte(s);
    if (flags & 1) {
        text(s, tmp, cap);
        attr_string(d, "interpretation", tmp, flags & 2);
    }
    if (flags & 4) {
        if (flags & 8) {
            text(s, tmp, cap);
            attr_string(d, "mva_channel_axis", tmp, 0);
        } else {
            attr_numbers(d, "mva_channel_axis", s, (flags & 128) ? H5T_STD_I32LE : H5T_STD_I64BE);
        }
    }
    if (flags & 16)
        attr_numbers(d, "calibration", s, H5T_IEEE_F64LE);
    if (flags & 32)
        attr_numbers(grp, "calibration", s, H5T_IEEE_F32LE);
    if (flags & 64) {
        hid_t c = make_dataset(grp, (flags & 128) ? "calibration" : "energy", s);
        if (c >= 0) {
            text(s, tmp, cap);
            attr_string(c, "units", tmp, flags & 2);
            H5Dclose(c);
        }
        text(s, tmp, cap);
        attr_string(grp, "axes", tmp, 1);
    }
}

static void build(const char *path, src *s)
{
    char a[64], b[64], c[64];
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        abort();
    unsigned how = byte(s);
    text(s, a, sizeof a); /* root @default */
    if (how & 1)
        attr_string(f, "default", a, how & 2);
    hid_t entry = H5Gcreate2(f, "entry", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    attr_string(entry, "NX_class", (how & 4) ? "NXentry" : "NXcollection", how & 2);
    text(s, b, sizeof b);
    if (how & 8)
        attr_string(entry, "default", b, how & 2);
    hid_t data = H5Gcreate2(entry, "data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    attr_string(data, "NX_class", (how & 16) ? "NXdata" : "NXentry", 0);
    text(s, c, sizeof c);
    if (how & 32)
        attr_string(data, "signal", c, how & 2);
    hid_t d = make_dataset(data, "data", s);
    if (d >= 0) {
        decorate(data, d, s, a, sizeof a);
        H5Dclose(d);
    }
    if (how & 64) { /* a second candidate, for the "only 3-D dataset" rule */
        hid_t d2 = make_dataset(f, "other", s);
        if (d2 >= 0)
            H5Dclose(d2);
    }
    H5Gclose(data);
    H5Gclose(entry);
    H5Fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        /* HDF5 keeps freed blocks on free lists: bound them, or RSS only grows */
        H5set_free_list_limits(1 << 20, 1 << 18, 1 << 20, 1 << 18, 1 << 20, 1 << 18);
        quiet = 1;
    }
    src s = {data, size};
    const char *path = fuzz_path("input.h5");
    build(path, &s);
    mva_open_opts o = {0};
    unsigned opt = byte(&s);
    o.channel_axis = opt % 3;
    if (opt & 4) {
        o.rows = byte(&s) % 5;
        o.cols = byte(&s) % 5;
    }
    char input[600];
    if (opt & 8)
        snprintf(input, sizeof input, "%s::/entry%s", path, (opt & 16) ? "/data/data" : "");
    else
        snprintf(input, sizeof input, "%s", path);
    mva_stack *st = NULL;
    mva_error err = {0};
    if (mva_hdf5_open(&st, input, &o, &err) == MVA_OK) {
        fuzz_read_all(st);
        mva_stack_close(st);
    } else if (st != NULL || err.msg[0] == '\0') {
        abort();
    }
    unlink(path);
    return 0;
}
