/*
 * Tests of the HDF5/NeXus stack reader (io/hdf5.c).  Every file is written here with the
 * HDF5 C API into a temporary directory that the group teardown removes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <zlib.h>

#include "mva/hdf5.h"
#include "mva/stack.h"
#include "util/tmpdir.h"

#define ROWS 5
#define COLS 7
#define NPIX (ROWS * COLS)
#define P 11
#define LZ4_FILTER 32004

/* ---- fixtures ---- */

static int group_setup(void **state)
{
    (void)state;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return test_tmpdir_create("hdf5");
}

static int group_teardown(void **state)
{
    (void)state;
    return test_tmpdir_remove();
}

/* ---- writing test files ---- */

static hid_t new_file(const char *path)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

/* Creates dataset PATH (intermediate groups too) of file type FTYPE and writes DATA
 * (doubles, converted by HDF5) unless NULL.  chunk NULL = contiguous; filter 0 = none. */
static hid_t make_dataset(hid_t f, const char *path, hid_t ftype, int rank, const hsize_t *dims,
                          const hsize_t *chunk, H5Z_filter_t filter, unsigned level,
                          const double *data)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    if (chunk != NULL)
        H5Pset_chunk(dcpl, rank, chunk);
    if (filter == H5Z_FILTER_DEFLATE)
        H5Pset_deflate(dcpl, level);
    else if (filter != 0) /* level is then the filter's flags: 0 mandatory, or optional */
        H5Pset_filter(dcpl, filter, level, 0, NULL);
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, path, ftype, space, lcpl, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    if (data != NULL)
        assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Sclose(space);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    return d;
}

static void put_dataset(hid_t f, const char *path, hid_t ftype, int rank, const hsize_t *dims,
                        const double *data)
{
    H5Dclose(make_dataset(f, path, ftype, rank, dims, NULL, 0, 0, data));
}

/* A string attribute as h5py writes it (variable-length UTF-8), or fixed-length ASCII. */
static void put_attr_str(hid_t obj, const char *name, const char *value, int vlen)
{
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);
    if (vlen) {
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5T_CSET_UTF8);
    } else {
        H5Tset_size(t, strlen(value) + 1);
    }
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, t, vlen ? (const void *)&value : (const void *)value) >= 0);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static void put_attr_str_array(hid_t obj, const char *name, const char **values, hsize_t n)
{
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate_simple(1, &n, NULL);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, t, values) >= 0);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static void put_group_attr_str(hid_t f, const char *group, const char *name, const char *value,
                               int vlen)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Lexists(f, group, H5P_DEFAULT) > 0 || strcmp(group, "/") == 0
                  ? H5Gopen2(f, group, H5P_DEFAULT)
                  : H5Gcreate2(f, group, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(g >= 0);
    put_attr_str(g, name, value, vlen);
    H5Gclose(g);
    H5Pclose(lcpl);
}

/* The expected stack: pixel-major NPIX x P, values from f(pixel, channel). */
static void fill(double *x, size_t n, size_t p, double (*f)(size_t, size_t))
{
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < p; c++)
            x[i * p + c] = f(i, c);
}

/* Pixel-major (n, p) -> channel-first (p, n). */
static void to_channel_first(const double *x, size_t n, size_t p, double *out)
{
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < p; c++)
            out[c * n + i] = x[i * p + c];
}

static double v_counts(size_t i, size_t c) { return (double)(i * 1000 + c * 7 + 3); }

/* ---- reading back ---- */

/* The test maps have 11 channels: fewer than 64, which the reader refuses unless the channel
 * axis is named.  opts NULL here means "channels last" said by the user; the tests of the
 * reader's own axis rules pass AUTO. */
static const mva_open_opts LAST = {.channel_axis = MVA_STACK_AXIS_LAST};
static const mva_open_opts AUTO = {.channel_axis = MVA_STACK_AXIS_AUTO};

static mva_stack *open_ok(const char *input, const mva_open_opts *opts)
{
    mva_stack *s = NULL;
    if (opts == NULL)
        opts = &LAST;
    mva_error err = {0, ""};
    int rc = mva_stack_open(&s, input, opts, &err);
    if (rc != MVA_OK)
        fail_msg("mva_stack_open(%s) = %d: %s", input, rc, err.msg);
    return s;
}

/* HDF5 frees leaked ids only at exit, where valgrind does not see them: count them. */
static void assert_no_open_objects(void)
{
    assert_int_equal(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
}

/* Opening must fail, leaving nothing open; returns the code, the message is in err. */
static int open_fails(const char *input, const mva_open_opts *opts, mva_error *err)
{
    mva_stack *s = NULL;
    mva_error_clear(err);
    if (opts == NULL)
        opts = &LAST;
    int rc = mva_stack_open(&s, input, opts, err);
    assert_null(s);
    assert_int_not_equal(rc, MVA_OK);
    assert_int_equal(err->code, rc);
    assert_no_open_objects();
    return rc;
}

static void assert_contains(const char *msg, const char *part)
{
    if (strstr(msg, part) == NULL)
        fail_msg("message \"%s\" does not contain \"%s\"", msg, part);
}

/* Reads the whole stack in windows of 1, 3, 7, 13 and n pixels (each walk crosses row
 * boundaries at different places) and compares every value exactly. */
static void check_windows(mva_stack *s, const double *expect, size_t n, size_t p)
{
    const size_t widths[] = {1, 3, 7, 13, n};
    double *buf = malloc(n * p * sizeof *buf);
    assert_non_null(buf);
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        for (size_t first = 0; first < n; first += widths[w]) {
            size_t count = n - first < widths[w] ? n - first : widths[w];
            mva_error err = {0, ""};
            int rc = mva_stack_read(s, first, count, buf, &err);
            if (rc != MVA_OK)
                fail_msg("read %zu+%zu: %s", first, count, err.msg);
            for (size_t k = 0; k < count * p; k++)
                if (buf[k] != expect[first * p + k])
                    fail_msg("window %zu, pixel %zu channel %zu: got %.17g, expected %.17g",
                             widths[w], first + k / p, k % p, buf[k], expect[first * p + k]);
        }
    }
    free(buf);
}

/* Writes the counts stack as uint32 in the given storage and checks it reads back. */
static void round_trip(const char *name, const hsize_t *chunk, H5Z_filter_t filter,
                       unsigned level, int channel_first, const char *storage_part)
{
    char path[512], input[600];
    double x[NPIX * P], stored[NPIX * P];
    fill(x, NPIX, P, v_counts);
    hsize_t dims[3] = {ROWS, COLS, P};
    if (channel_first) {
        to_channel_first(x, NPIX, P, stored);
        dims[0] = P, dims[1] = ROWS, dims[2] = COLS;
    } else {
        memcpy(stored, x, sizeof x);
    }
    hid_t f = new_file(tmp_path(path, name));
    H5Dclose(make_dataset(f, "/map/counts", H5T_STD_U32LE, 3, dims, chunk, filter, level, stored));
    H5Fclose(f);

    mva_open_opts opts = {0};
    opts.channel_axis = channel_first ? MVA_STACK_AXIS_FIRST : MVA_STACK_AXIS_LAST;
    snprintf(input, sizeof input, "%s::/map/counts", path);
    mva_stack *s = open_ok(input, &opts);
    const mva_stack_info *info = mva_stack_get_info(s);
    assert_int_equal(info->rows, ROWS);
    assert_int_equal(info->cols, COLS);
    assert_int_equal(info->channels, P);
    assert_int_equal(info->dtype, MVA_DTYPE_UINT32);
    assert_string_equal(info->format, "hdf5");
    assert_string_equal(info->source, path);
    assert_string_equal(info->path, "/map/counts");
    assert_string_equal(info->layout, channel_first ? "channels,rows,cols" : "rows,cols,channels");
    assert_contains(info->storage, storage_part);
    assert_true(info->stored_bytes > 0);
    /* whole chunk rows; the parallel inflate asks for one per decoding thread */
    if (chunk != NULL && !channel_first) {
        assert_true(info->chunk_pixels >= chunk[0] * COLS);
        assert_int_equal(info->chunk_pixels % (chunk[0] * COLS), 0);
    }
    check_windows(s, x, NPIX, P);
    mva_stack_close(s);
    assert_no_open_objects();
}

/* ---- tests: names and detection ---- */

static void test_hdf5_split_input_separates_file_and_path(void **state)
{
    (void)state;
    char file[64], path[64];
    assert_int_equal(mva_hdf5_split_input("a.h5::/entry/data", file, sizeof file, path,
                                          sizeof path), MVA_OK);
    assert_string_equal(file, "a.h5");
    assert_string_equal(path, "/entry/data");
    assert_int_equal(mva_hdf5_split_input("dir/b.nxs", file, sizeof file, path, sizeof path),
                     MVA_OK);
    assert_string_equal(file, "dir/b.nxs");
    assert_string_equal(path, "");
    assert_int_equal(mva_hdf5_split_input("abcdef.h5::/x", file, 4, path, sizeof path),
                     MVA_ERANGE);
    assert_int_equal(mva_hdf5_split_input("a.h5::/very/long", file, sizeof file, path, 5),
                     MVA_ERANGE);
}

static void test_hdf5_is_hdf5_checks_signature_and_user_block(void **state)
{
    (void)state;
    char plain[512], ub[512], text[512], tiny[512];
    hsize_t dims[1] = {4};
    double v[4] = {1, 2, 3, 4};
    hid_t f = new_file(tmp_path(plain, "plain.h5"));
    put_dataset(f, "/v", H5T_IEEE_F64LE, 1, dims, v);
    H5Fclose(f);
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_userblock(fcpl, 1024);
    f = H5Fcreate(tmp_path(ub, "userblock.h5"), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    assert_true(f >= 0);
    H5Pclose(fcpl);
    H5Fclose(f);
    FILE *t = fopen(tmp_path(text, "notes.txt"), "w");
    fputs("not an HDF5 file, just some text that is long enough\n", t);
    fclose(t);
    t = fopen(tmp_path(tiny, "tiny.h5"), "w");
    fputs("\211HD", t);
    fclose(t);
    assert_true(mva_hdf5_is_hdf5(plain));
    assert_true(mva_hdf5_is_hdf5(ub));
    assert_false(mva_hdf5_is_hdf5(text));
    assert_false(mva_hdf5_is_hdf5(tiny));
    assert_false(mva_hdf5_is_hdf5("/nonexistent/mva/file.h5"));
}

/* ---- tests: round trips ---- */

static void test_hdf5_round_trip_contiguous(void **state)
{
    (void)state;
    round_trip("contiguous.h5", NULL, 0, 0, 0, "contiguous");
}

static void test_hdf5_round_trip_gzip_chunked(void **state)
{
    (void)state;
    const hsize_t chunk[3] = {1, COLS, P};
    round_trip("gzip.h5", chunk, H5Z_FILTER_DEFLATE, 4, 0, "chunked 1x7x11, gzip level 4");
}

static void test_hdf5_round_trip_gzip_chunks_spanning_rows(void **state)
{
    (void)state;
    const hsize_t chunk[3] = {2, 3, 4};
    round_trip("gzip-small-chunks.h5", chunk, H5Z_FILTER_DEFLATE, 1, 0, "chunked 2x3x4");
}

static void test_hdf5_round_trip_lz4_chunked(void **state)
{
    (void)state;
    if (H5Zfilter_avail(LZ4_FILTER) <= 0) {
        print_message("LZ4 filter %d not available (hdf5-filter-plugin); skipped\n", LZ4_FILTER);
        skip();
    }
    const hsize_t chunk[3] = {1, COLS, P};
    round_trip("lz4.h5", chunk, LZ4_FILTER, 0, 0, "filter 32004 (lz4)");
}

static void test_hdf5_round_trip_channel_first(void **state)
{
    (void)state;
    round_trip("chfirst.h5", NULL, 0, 0, 1, "contiguous");
    const hsize_t chunk[3] = {P, 1, COLS};
    round_trip("chfirst-gzip.h5", chunk, H5Z_FILTER_DEFLATE, 2, 1, "gzip level 2");
}

static void test_hdf5_channel_first_from_attribute(void **state)
{
    (void)state;
    char path[512];
    double x[NPIX * P], stored[NPIX * P];
    fill(x, NPIX, P, v_counts);
    to_channel_first(x, NPIX, P, stored);
    hsize_t dims[3] = {P, ROWS, COLS};
    hid_t f = new_file(tmp_path(path, "chfirst-attr.h5"));
    hid_t d = make_dataset(f, "/data", H5T_STD_I32LE, 3, dims, NULL, 0, 0, stored);
    put_attr_str(d, "mva_channel_axis", "first", 0);
    H5Dclose(d);
    H5Fclose(f);
    mva_stack *s = open_ok(path, &AUTO);
    assert_string_equal(mva_stack_get_info(s)->layout, "channels,rows,cols");
    check_windows(s, x, NPIX, P);
    mva_stack_close(s);
}

static double v_small(size_t i, size_t c) { return (double)((i * 3 + c) % 50); }

static void test_hdf5_channel_first_from_shape(void **state)
{
    (void)state;
    /* (256 channels, 3 rows, 4 cols): only channel-first makes sense. */
    enum { R = 3, C = 4, PP = 256 };
    char path[512];
    double *x = malloc(R * C * PP * sizeof *x), *stored = malloc(R * C * PP * sizeof *x);
    fill(x, R * C, PP, v_small);
    to_channel_first(x, R * C, PP, stored);
    hsize_t dims[3] = {PP, R, C};
    hid_t f = new_file(tmp_path(path, "chfirst-shape.h5"));
    put_dataset(f, "/data", H5T_STD_U16LE, 3, dims, stored);
    H5Fclose(f);
    mva_stack *s = open_ok(path, &AUTO);
    const mva_stack_info *info = mva_stack_get_info(s);
    assert_int_equal(info->rows, R);
    assert_int_equal(info->cols, C);
    assert_int_equal(info->channels, PP);
    check_windows(s, x, R * C, PP);
    mva_stack_close(s);
    free(x);
    free(stored);
}

/* ---- tests: element types ---- */

static double v_int8(size_t i, size_t c) { return (double)((int)((i * P + c) % 240) - 120); }
static double v_u16(size_t i, size_t c) { return (double)(60000 + i * P + c); }
static double v_i64(size_t i, size_t c) { return ((double)(i * P + c) - 200.0) * 1e12; }
static double v_f32(size_t i, size_t c) { return (double)(i * P + c) * 0.25 - 10.0; }
static double v_f64(size_t i, size_t c) { return (double)(i * P + c) / 3.0 - 1e-3; }

static void check_dtype(const char *name, hid_t ftype, double (*f)(size_t, size_t),
                        mva_dtype want)
{
    char path[512];
    double x[NPIX * P];
    fill(x, NPIX, P, f);
    hsize_t dims[3] = {ROWS, COLS, P}, chunk[3] = {2, COLS, P};
    hid_t file = new_file(tmp_path(path, name));
    H5Dclose(make_dataset(file, "/data", ftype, 3, dims, chunk, H5Z_FILTER_DEFLATE, 1, x));
    H5Fclose(file);
    mva_stack *s = open_ok(path, NULL);
    assert_int_equal(mva_stack_get_info(s)->dtype, want);
    check_windows(s, x, NPIX, P);
    mva_stack_close(s);
}

static void test_hdf5_reads_int8_uint16be_int64_float32_float64(void **state)
{
    (void)state;
    check_dtype("int8.h5", H5T_STD_I8LE, v_int8, MVA_DTYPE_INT8);
    check_dtype("uint16be.h5", H5T_STD_U16BE, v_u16, MVA_DTYPE_UINT16);
    check_dtype("int64.h5", H5T_STD_I64LE, v_i64, MVA_DTYPE_INT64);
    check_dtype("float32.h5", H5T_IEEE_F32LE, v_f32, MVA_DTYPE_FLOAT32);
    check_dtype("float64.h5", H5T_IEEE_F64LE, v_f64, MVA_DTYPE_FLOAT64);
    check_dtype("float64be.h5", H5T_IEEE_F64BE, v_f64, MVA_DTYPE_FLOAT64);
}

/* ---- tests: finding the dataset ---- */

/* Two 3-D stacks: /entry/raw/data (zeros) and /entry/xrf/data (the counts). */
static void write_two_stacks(hid_t f, double *x)
{
    static double zeros[NPIX * P];
    hsize_t dims[3] = {ROWS, COLS, P};
    fill(x, NPIX, P, v_counts);
    put_dataset(f, "/entry/raw/data", H5T_STD_U32LE, 3, dims, zeros);
    put_dataset(f, "/entry/xrf/data", H5T_STD_U32LE, 3, dims, x);
}

static void test_hdf5_nexus_default_picks_signal(void **state)
{
    (void)state;
    char path[512];
    double x[NPIX * P];
    hid_t f = new_file(tmp_path(path, "nexus.h5"));
    write_two_stacks(f, x);
    /* h5py style (variable-length UTF-8) on the root and entry, fixed-length on NXdata */
    put_group_attr_str(f, "/", "default", "entry", 1);
    put_group_attr_str(f, "/entry", "NX_class", "NXentry", 1);
    put_group_attr_str(f, "/entry", "default", "xrf", 1);
    put_group_attr_str(f, "/entry/xrf", "NX_class", "NXdata", 0);
    put_group_attr_str(f, "/entry/xrf", "signal", "data", 0);
    H5Fclose(f);
    mva_stack *s = open_ok(path, NULL);
    assert_string_equal(mva_stack_get_info(s)->path, "/entry/xrf/data");
    check_windows(s, x, NPIX, P);
    mva_stack_close(s);
}

static void test_hdf5_nexus_entry_without_default_takes_its_nxdata(void **state)
{
    (void)state;
    char path[512], input[600];
    double x[NPIX * P];
    hid_t f = new_file(tmp_path(path, "nexus-nodefault.h5"));
    write_two_stacks(f, x);
    put_group_attr_str(f, "/entry", "NX_class", "NXentry", 1);
    put_group_attr_str(f, "/entry/xrf", "NX_class", "NXdata", 1);
    put_group_attr_str(f, "/entry/xrf", "signal", "data", 1);
    H5Fclose(f);
    /* A group path is followed the NeXus way too. */
    snprintf(input, sizeof input, "%s::/entry", path);
    mva_stack *s = open_ok(input, NULL);
    assert_string_equal(mva_stack_get_info(s)->path, "/entry/xrf/data");
    mva_stack_close(s);
}

/* A NeXus default plot that is not a stack is reported, never replaced by another dataset. */
static void test_hdf5_nexus_default_image_is_refused_not_replaced(void **state)
{
    (void)state;
    char path[512];
    double x[NPIX * P];
    mva_error err;
    hsize_t dims[3] = {ROWS, COLS, P}, d2[2] = {ROWS, COLS};
    fill(x, NPIX, P, v_counts);
    hid_t f = new_file(tmp_path(path, "nexus-image.h5"));
    put_dataset(f, "/entry/stack/data", H5T_STD_U32LE, 3, dims, x);
    put_dataset(f, "/entry/plot/total", H5T_IEEE_F64LE, 2, d2, x);
    put_group_attr_str(f, "/", "default", "entry", 1);
    put_group_attr_str(f, "/entry", "default", "plot", 1);
    put_group_attr_str(f, "/entry/plot", "signal", "total", 1);
    H5Fclose(f);
    assert_int_equal(open_fails(path, &AUTO, &err), MVA_EINVAL);
    assert_contains(err.msg, "/entry/plot/total: shape 5x7");
    assert_contains(err.msg, "the NeXus default plot");
    assert_contains(err.msg, "FILE::/path");
}

static void test_hdf5_two_3d_datasets_without_nexus_lists_candidates(void **state)
{
    (void)state;
    char path[512], hint[600];
    double x[NPIX * P];
    mva_error err;
    hid_t f = new_file(tmp_path(path, "two.h5"));
    write_two_stacks(f, x);
    H5Fclose(f);
    open_fails(path, NULL, &err);
    assert_contains(err.msg, path);
    assert_contains(err.msg, "2 candidate datasets (2 3-D");
    assert_contains(err.msg, "/entry/raw/data");
    assert_contains(err.msg, "/entry/xrf/data");
    snprintf(hint, sizeof hint, "%s::/path", path);
    assert_contains(err.msg, hint);
}

static void test_hdf5_single_3d_dataset_is_found(void **state)
{
    (void)state;
    char path[512];
    double x[NPIX * P], cal[3] = {0.1, 0.01, 0};
    hsize_t dims[3] = {ROWS, COLS, P}, d1[1] = {3}, d2[2] = {ROWS, COLS};
    fill(x, NPIX, P, v_counts);
    hid_t f = new_file(tmp_path(path, "single.h5"));
    put_dataset(f, "/a/calibration", H5T_IEEE_F64LE, 1, d1, cal);
    put_dataset(f, "/a/image", H5T_IEEE_F64LE, 2, d2, x);
    put_dataset(f, "/b/c/stack", H5T_STD_U32LE, 3, dims, x);
    H5Fclose(f);
    mva_stack *s = open_ok(path, NULL);
    assert_string_equal(mva_stack_get_info(s)->path, "/b/c/stack");
    check_windows(s, x, NPIX, P);
    mva_stack_close(s);
}

static void test_hdf5_no_3d_dataset_is_an_error(void **state)
{
    (void)state;
    char path[512];
    double v[4] = {1, 2, 3, 4};
    hsize_t dims[1] = {4};
    mva_error err;
    hid_t f = new_file(tmp_path(path, "no3d.h5"));
    put_dataset(f, "/spectrum", H5T_IEEE_F64LE, 1, dims, v);
    H5Fclose(f);
    assert_int_equal(open_fails(path, NULL, &err), MVA_ENOTFOUND);
    assert_contains(err.msg, path);
    assert_contains(err.msg, "no 3-D numeric dataset");
}

/* ---- tests: 2-D datasets and the shape override ---- */

static void write_2d(char *path, double *x)
{
    hsize_t dims[2] = {NPIX, P};
    fill(x, NPIX, P, v_counts);
    hid_t f = new_file(tmp_path(path, "spectra2d.h5"));
    put_dataset(f, "/spectra", H5T_STD_U32LE, 2, dims, x);
    H5Fclose(f);
}

static void test_hdf5_2d_dataset_is_one_row(void **state)
{
    (void)state;
    char path[512], input[600];
    double x[NPIX * P];
    write_2d(path, x);
    snprintf(input, sizeof input, "%s::spectra", path);
    mva_stack *s = open_ok(input, NULL);
    const mva_stack_info *info = mva_stack_get_info(s);
    assert_int_equal(info->rows, 1);
    assert_int_equal(info->cols, NPIX);
    assert_string_equal(info->layout, "pixels,channels");
    check_windows(s, x, NPIX, P);
    mva_stack_close(s);
}

static void test_hdf5_2d_dataset_takes_shape_override(void **state)
{
    (void)state;
    char path[512], input[600];
    double x[NPIX * P];
    write_2d(path, x);
    snprintf(input, sizeof input, "%s::/spectra", path);
    mva_open_opts opts = {0};
    opts.channel_axis = MVA_STACK_AXIS_LAST;
    opts.rows = ROWS;
    opts.cols = COLS;
    mva_stack *s = open_ok(input, &opts);
    const mva_stack_info *info = mva_stack_get_info(s);
    assert_int_equal(info->rows, ROWS);
    assert_int_equal(info->cols, COLS);
    check_windows(s, x, NPIX, P);
    mva_stack_close(s);
}

static void test_hdf5_2d_channel_first_option(void **state)
{
    (void)state;
    char path[512], input[600];
    double x[NPIX * P], stored[NPIX * P];
    hsize_t dims[2] = {P, NPIX};
    fill(x, NPIX, P, v_counts);
    to_channel_first(x, NPIX, P, stored);
    hid_t f = new_file(tmp_path(path, "spectra2d-first.h5"));
    put_dataset(f, "/spectra", H5T_IEEE_F32BE, 2, dims, stored);
    H5Fclose(f);
    snprintf(input, sizeof input, "%s::/spectra", path);
    mva_open_opts opts = {0};
    opts.channel_axis = MVA_STACK_AXIS_FIRST;
    mva_stack *s = open_ok(input, &opts);
    const mva_stack_info *info = mva_stack_get_info(s);
    assert_int_equal(info->cols, NPIX);
    assert_int_equal(info->channels, P);
    assert_string_equal(info->layout, "channels,pixels");
    check_windows(s, x, NPIX, P);
    mva_stack_close(s);
}

static void test_hdf5_rejects_mismatching_shape_override(void **state)
{
    (void)state;
    char path[512], input[600];
    double x[NPIX * P];
    mva_error err;
    write_2d(path, x);
    snprintf(input, sizeof input, "%s::/spectra", path);
    mva_open_opts opts = {0};
    opts.channel_axis = MVA_STACK_AXIS_LAST;
    opts.rows = 10;
    opts.cols = 10;
    assert_int_equal(open_fails(input, &opts, &err), MVA_EINVAL);
    assert_contains(err.msg, path);
    assert_contains(err.msg, "/spectra");
    assert_contains(err.msg, "--shape 10x10 gives 100 pixels, the dataset has 35 pixels");
}

/* ---- tests: calibration ---- */

static void test_hdf5_calibration_from_sibling_dataset(void **state)
{
    (void)state;
    char path[512];
    double x[NPIX * P], cal[3] = {-0.05, 0.01, 1e-7};
    hsize_t dims[3] = {ROWS, COLS, P}, d1[1] = {3};
    fill(x, NPIX, P, v_counts);
    hid_t f = new_file(tmp_path(path, "calib-sibling.h5"));
    put_dataset(f, "/xrf/data", H5T_STD_U32LE, 3, dims, x);
    put_dataset(f, "/xrf/calibration", H5T_IEEE_F64LE, 1, d1, cal);
    H5Fclose(f);
    mva_stack *s = open_ok(path, NULL);
    const mva_calib *c = &mva_stack_get_info(s)->calib;
    assert_true(c->known);
    assert_true(c->a == cal[0] && c->b == cal[1] && c->c == cal[2]);
    mva_stack_close(s);
}

static void test_hdf5_calibration_from_energy_axis(void **state)
{
    (void)state;
    char path[512];
    double x[NPIX * P], energy[P];
    hsize_t dims[3] = {ROWS, COLS, P}, d1[1] = {P};
    fill(x, NPIX, P, v_counts);
    for (size_t c = 0; c < P; c++)
        energy[c] = 1000.0 + 20.0 * (double)c; /* eV */
    hid_t f = new_file(tmp_path(path, "calib-axis.h5"));
    put_dataset(f, "/entry/data/counts", H5T_STD_U32LE, 3, dims, x);
    hid_t e = make_dataset(f, "/entry/data/energy", H5T_IEEE_F64LE, 1, d1, NULL, 0, 0, energy);
    put_attr_str(e, "units", "eV", 1);
    H5Dclose(e);
    hid_t g = H5Gopen2(f, "/entry/data", H5P_DEFAULT);
    const char *axes[3] = {".", ".", "energy"};
    put_attr_str_array(g, "axes", axes, 3);
    put_attr_str(g, "NX_class", "NXdata", 1);
    put_attr_str(g, "signal", "counts", 1);
    H5Gclose(g);
    put_group_attr_str(f, "/", "default", "entry", 1);
    put_group_attr_str(f, "/entry", "default", "data", 1);
    H5Fclose(f);
    mva_stack *s = open_ok(path, NULL);
    const mva_calib *c = &mva_stack_get_info(s)->calib;
    assert_true(c->known);
    assert_float_equal(c->a, 1.0, 1e-12);
    assert_float_equal(c->b, 0.02, 1e-12);
    assert_float_equal(c->c, 0.0, 0.0);
    mva_stack_close(s);
}

static void test_hdf5_calibration_option_overrides_file(void **state)
{
    (void)state;
    char path[512];
    double x[NPIX * P];
    mva_open_opts opts = {0};
    opts.channel_axis = MVA_STACK_AXIS_LAST;
    opts.calib.known = 1;
    opts.calib.b = 0.005;
    hsize_t dims[3] = {ROWS, COLS, P};
    double cal[2] = {1.0, 2.0};
    fill(x, NPIX, P, v_counts);
    hid_t f = new_file(tmp_path(path, "calib-attr.h5"));
    hid_t d = make_dataset(f, "/data", H5T_STD_U32LE, 3, dims, NULL, 0, 0, x);
    hsize_t two = 2;
    hid_t sp = H5Screate_simple(1, &two, NULL);
    hid_t a = H5Acreate2(d, "calibration", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_DOUBLE, cal);
    H5Aclose(a);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    mva_stack *s = open_ok(path, NULL);
    const mva_calib *c = &mva_stack_get_info(s)->calib;
    assert_true(c->known && c->a == 1.0 && c->b == 2.0 && c->c == 0.0);
    mva_stack_close(s);
    s = open_ok(path, &opts);
    c = &mva_stack_get_info(s)->calib;
    assert_true(c->known && c->a == 0.0 && c->b == 0.005);
    mva_stack_close(s);
}

/* ---- tests: errors ---- */

static void test_hdf5_rejects_missing_dataset_path(void **state)
{
    (void)state;
    char path[512], input[600], want[1200];
    double x[NPIX * P];
    mva_error err;
    hid_t f = new_file(tmp_path(path, "missing.h5"));
    write_two_stacks(f, x);
    H5Fclose(f);
    snprintf(input, sizeof input, "%s::/entry/x", path);
    assert_int_equal(open_fails(input, NULL, &err), MVA_ENOTFOUND);
    snprintf(want, sizeof want, "%s: no dataset /entry/x (path from %s)", path, input);
    assert_contains(err.msg, want);
    snprintf(input, sizeof input, "%s::/nowhere/deep/x", path);
    assert_int_equal(open_fails(input, NULL, &err), MVA_ENOTFOUND);
    assert_contains(err.msg, "no dataset /nowhere/deep/x");
}

static void test_hdf5_rejects_1d_dataset(void **state)
{
    (void)state;
    char path[512], input[600];
    static double v[2000];
    hsize_t dims[1] = {2000};
    mva_error err;
    hid_t f = new_file(tmp_path(path, "oned.h5"));
    put_dataset(f, "/sum", H5T_IEEE_F64LE, 1, dims, v);
    H5Fclose(f);
    snprintf(input, sizeof input, "%s::/sum", path);
    assert_int_equal(open_fails(input, NULL, &err), MVA_EFORMAT);
    assert_contains(err.msg, input);
    assert_contains(err.msg, "expected a 3-D (rows, cols, channels) or 2-D (pixels, channels) "
                             "dataset, found 1-D of 2000 values");
}

static void test_hdf5_rejects_4d_dataset(void **state)
{
    (void)state;
    char path[512], input[600];
    static double v[2 * 3 * 4 * 5];
    hsize_t dims[4] = {2, 3, 4, 5};
    mva_error err;
    hid_t f = new_file(tmp_path(path, "fourd.h5"));
    put_dataset(f, "/d", H5T_IEEE_F64LE, 4, dims, v);
    H5Fclose(f);
    snprintf(input, sizeof input, "%s::/d", path);
    assert_int_equal(open_fails(input, NULL, &err), MVA_EFORMAT);
    assert_contains(err.msg, input);
    assert_contains(err.msg, "found 4-D 2x3x4x5");
}

static void test_hdf5_rejects_zero_size_dataset(void **state)
{
    (void)state;
    char path[512], input[600];
    hsize_t dims[3] = {0, COLS, P};
    mva_error err;
    hid_t f = new_file(tmp_path(path, "empty.h5"));
    put_dataset(f, "/empty", H5T_STD_U32LE, 3, dims, NULL);
    H5Fclose(f);
    snprintf(input, sizeof input, "%s::/empty", path);
    assert_int_equal(open_fails(input, NULL, &err), MVA_EFORMAT);
    assert_contains(err.msg, input);
    assert_contains(err.msg, "expected at least one pixel and one channel");
    assert_contains(err.msg, "0x7x11");
}

static void test_hdf5_rejects_string_dataset(void **state)
{
    (void)state;
    char path[512], input[600];
    hsize_t dims[2] = {2, 2};
    mva_error err;
    hid_t f = new_file(tmp_path(path, "strings.h5"));
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 8);
    H5Dclose(make_dataset(f, "/names", t, 2, dims, NULL, 0, 0, NULL));
    H5Tclose(t);
    H5Fclose(f);
    snprintf(input, sizeof input, "%s::/names", path);
    assert_int_equal(open_fails(input, NULL, &err), MVA_EFORMAT);
    assert_contains(err.msg, input);
    assert_contains(err.msg, "expected an integer or float dataset, found a string dataset");
}

static void test_hdf5_rejects_non_hdf5_file(void **state)
{
    (void)state;
    char path[512];
    mva_stack *s = NULL;
    mva_error err;
    FILE *t = fopen(tmp_path(path, "text.h5"), "w");
    fputs("# just text\n1 2 3\n", t);
    fclose(t);
    open_fails(path, NULL, &err);
    assert_contains(err.msg, path);
    assert_contains(err.msg, "HDF5");
    /* The reader itself, called directly, says the same. */
    mva_error_clear(&err);
    assert_int_equal(mva_hdf5_open(&s, path, NULL, &err), MVA_EFORMAT);
    assert_null(s);
    assert_contains(err.msg, path);
    assert_contains(err.msg, "not an HDF5 file");
}

static void test_hdf5_rejects_truncated_file(void **state)
{
    (void)state;
    char path[512];
    double x[NPIX * P];
    mva_error err;
    hsize_t dims[3] = {ROWS, COLS, P};
    fill(x, NPIX, P, v_counts);
    hid_t f = new_file(tmp_path(path, "truncated.h5"));
    put_dataset(f, "/data", H5T_STD_U32LE, 3, dims, x);
    H5Fclose(f);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    assert_int_equal(open_fails(path, NULL, &err), MVA_EFORMAT);
    assert_contains(err.msg, path);
    assert_contains(err.msg, "cannot open as HDF5 (truncated or corrupt?)");
}

/* A chunk whose compressed bytes are overwritten: open succeeds, reading that row fails
 * with an I/O error naming the rows, other rows still read. */
static void test_hdf5_corrupt_chunk_names_failing_rows(void **state)
{
    (void)state;
    char path[512];
    double x[NPIX * P], buf[COLS * P];
    hsize_t dims[3] = {ROWS, COLS, P}, chunk[3] = {1, COLS, P}, at[3] = {3, 0, 0};
    haddr_t addr;
    hsize_t size;
    unsigned mask;
    mva_error err = {0, ""};
    fill(x, NPIX, P, v_counts);
    hid_t f = new_file(tmp_path(path, "corrupt.h5"));
    hid_t d = make_dataset(f, "/data", H5T_STD_U32LE, 3, dims, chunk, H5Z_FILTER_DEFLATE, 6, x);
    H5Fflush(f, H5F_SCOPE_GLOBAL);
    assert_true(H5Dget_chunk_info_by_coord(d, at, &mask, &addr, &size) >= 0);
    H5Dclose(d);
    H5Fclose(f);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (long)addr, SEEK_SET), 0);
    for (hsize_t k = 0; k < size; k++)
        fputc(0xff, fp);
    fclose(fp);

    mva_stack *s = open_ok(path, NULL);
    assert_int_equal(mva_stack_read(s, 0, COLS, buf, &err), MVA_OK);
    assert_int_equal(mva_stack_read(s, 3 * COLS + 2, 3, buf, &err), MVA_EIO);
    assert_contains(err.msg, path);
    assert_contains(err.msg, "/data");
    assert_contains(err.msg, "pixels 23..25 (dataset rows 3..3)");
    mva_stack_close(s);
    assert_no_open_objects();
}

/* A pass-through filter (id 257: 256-511 are reserved for testing) that counts decodes. */
#define COUNTING_FILTER 257
static size_t decodes;

static size_t counting_filter(unsigned flags, size_t ncd, const unsigned cd[], size_t nbytes,
                              size_t *buf_size, void **buf)
{
    (void)ncd, (void)cd, (void)buf_size, (void)buf;
    if (flags & H5Z_FLAG_REVERSE)
        decodes++;
    return nbytes;
}

static void test_hdf5_cut_blocks_decode_each_chunk_once(void **state)
{
    (void)state;
    /* Chunks of 2 rows x 100 x 1400 uint32 = 1.1 MB, more than HDF5's default 1 MiB chunk
     * cache, read in blocks of 150 pixels that cut most chunks in two. */
    enum { R = 6, C = 100, PP = 1400, BLOCK = 150 };
    static const H5Z_class2_t cls = {H5Z_CLASS_T_VERS, COUNTING_FILTER, 1, 1, "mva-test-count",
                                     NULL, NULL, counting_filter};
    char path[512];
    hsize_t dims[3] = {R, C, PP}, chunk[3] = {2, C, PP};
    double *x = calloc((size_t)R * C * PP, sizeof *x), *buf = malloc(BLOCK * PP * sizeof *buf);
    mva_error err = {0, ""};
    assert_true(H5Zregister(&cls) >= 0);
    hid_t f = new_file(tmp_path(path, "counting.h5"));
    H5Dclose(make_dataset(f, "/data", H5T_STD_U32LE, 3, dims, chunk, COUNTING_FILTER, 0, x));
    H5Fclose(f);
    mva_stack *s = open_ok(path, NULL);
    assert_contains(mva_stack_get_info(s)->storage, "filter 257 (mva-test-count)");
    decodes = 0;
    for (size_t first = 0; first < R * C; first += BLOCK) {
        size_t count = R * C - first < BLOCK ? R * C - first : BLOCK;
        assert_int_equal(mva_stack_read(s, first, count, buf, &err), MVA_OK);
    }
    assert_int_equal(decodes, R / 2);
    mva_stack_close(s);
    free(x);
    free(buf);
}

/* Writes tmp file name with /data (ROWS, COLS, P) of counts, chunked by rows, through filter
 * with flags (H5Z_FLAG_OPTIONAL: recorded in the pipeline even where the filter is absent,
 * and then skipped on write); path gets the file's name. */
static void write_filtered(char *path, const char *name, H5Z_filter_t filter, unsigned flags)
{
    double x[NPIX * P];
    hsize_t dims[3] = {ROWS, COLS, P}, chunk[3] = {1, COLS, P};
    fill(x, NPIX, P, v_counts);
    hid_t f = new_file(tmp_path(path, name));
    H5Dclose(make_dataset(f, "/data", H5T_STD_U32LE, 3, dims, chunk, filter, flags, x));
    H5Fclose(f);
}

static void test_hdf5_rejects_unavailable_filter(void **state)
{
    (void)state;
    char path[512];
    mva_error err;
    if (H5Zfilter_avail(LZ4_FILTER) <= 0) {
        print_message("LZ4 filter %d not available; skipped\n", LZ4_FILTER);
        skip();
    }
    write_filtered(path, "lz4-missing.h5", LZ4_FILTER, H5Z_FLAG_MANDATORY);
    /* Make the plugin unreachable, as on a machine without hdf5-filter-plugin. */
    unsigned state_mask;
    H5PLget_loading_state(&state_mask);
    assert_true(H5Zunregister(LZ4_FILTER) >= 0);
    H5PLset_loading_state(0);
    if (H5Zfilter_avail(LZ4_FILTER) > 0) {
        H5PLset_loading_state(state_mask);
        print_message("cannot make the LZ4 filter unavailable; skipped\n");
        skip();
    }
    int rc = open_fails(path, NULL, &err);
    H5PLset_loading_state(state_mask);
    assert_int_equal(rc, MVA_EUNSUPPORTED);
    assert_contains(err.msg, path);
    assert_contains(err.msg, "filter 32004 (lz4)");
    assert_contains(err.msg, "(Debian: hdf5-filter-plugin) or set HDF5_PLUGIN_PATH");
}

/* Odin's Xspress files are blosc-compressed, a filter not in hdf5-filter-plugin: the message
 * names the package that has it (skipped where blosc is installed). */
static void test_hdf5_unavailable_blosc_names_its_package(void **state)
{
    (void)state;
    char path[512];
    mva_error err;
    if (H5Zfilter_avail(32001) > 0) {
        print_message("blosc filter available; skipped\n");
        skip();
    }
    write_filtered(path, "blosc-missing.h5", 32001, H5Z_FLAG_OPTIONAL);
    assert_int_equal(open_fails(path, NULL, &err), MVA_EUNSUPPORTED);
    assert_contains(err.msg, "filter 32001 (blosc)");
    assert_contains(err.msg, "(Debian: hdf5-filter-plugin-blosc-serial)");
}

/* ---- tests: direct chunk decoding (parallel inflate) ---- */

#define FR 7 /* a map whose chunks (3, 4, p) cut rows, columns and the map edges */
#define FC 9
#define FN (FR * FC)
#define FP 6

static double v_fast(size_t i, size_t c) { return (double)((i * 7919 + c * 104729) % 65521); }

/* Creates /data of FR x FC x FP (or 2-D FN x FP when rank is 2) with chunk shape chunk,
 * shuffle when asked, then gzip at level (no gzip when level < 0), and writes x. */
static void write_fast(const char *path, hid_t ftype, int rank, const hsize_t *chunk,
                       int shuffle, int level, int fletcher, const double *x)
{
    hsize_t dims3[3] = {FR, FC, FP}, dims2[2] = {FN, FP};
    hid_t f = new_file(path);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, rank, chunk);
    if (shuffle)
        H5Pset_shuffle(dcpl);
    if (level >= 0)
        H5Pset_deflate(dcpl, (unsigned)level);
    if (fletcher)
        H5Pset_fletcher32(dcpl);
    hid_t space = H5Screate_simple(rank, rank == 3 ? dims3 : dims2, NULL);
    hid_t d = H5Dcreate2(f, "/data", ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    H5Dclose(d);
    H5Sclose(space);
    H5Pclose(dcpl);
    H5Fclose(f);
}

/* Reads every window width 1..n walking the stack in order (a chunk cut by consecutive
 * windows comes from the cache), then windows at scattered places, all compared exactly. */
static void check_all_windows(mva_stack *s, const double *expect, size_t n, size_t p)
{
    double *buf = malloc(n * p * sizeof *buf);
    assert_non_null(buf);
    unsigned seed = 12345;
    for (size_t w = 1; w <= n + 40; w++) {
        int scattered = w > n;
        size_t width = scattered ? 1 + (seed = seed * 1103515245u + 12345u) % n : w;
        for (size_t first = 0; first < n; first += width) {
            size_t at = scattered ? (seed = seed * 1103515245u + 12345u) % n : first;
            size_t count = n - at < width ? n - at : width;
            mva_error err = {0, ""};
            int rc = mva_stack_read(s, at, count, buf, &err);
            if (rc != MVA_OK)
                fail_msg("read %zu+%zu: %s", at, count, err.msg);
            if (memcmp(buf, expect + at * p, count * p * sizeof *buf) != 0)
                fail_msg("window %zu+%zu differs from the values written", at, count);
        }
    }
    free(buf);
}

/* Opens path, checks that the fast path is (or is not) taken, and reads every window. */
static void check_fast(const char *path, int want_fast, const double *x, size_t n)
{
    char input[600];
    snprintf(input, sizeof input, "%s::/data", path);
    mva_stack *s = open_ok(input, NULL);
    const char *storage = mva_stack_get_info(s)->storage;
    if (want_fast && strstr(storage, "parallel inflate") == NULL)
        fail_msg("%s: storage \"%s\" does not name the parallel inflate", path, storage);
    if (!want_fast && strstr(storage, "parallel inflate") != NULL)
        fail_msg("%s: storage \"%s\" names the parallel inflate", path, storage);
    check_all_windows(s, x, n, FP);
    mva_stack_close(s);
    assert_no_open_objects();
}

static void test_hdf5_fast_gzip_chunks_cutting_rows_read_exactly(void **state)
{
    (void)state;
    char path[512];
    double x[FN * FP];
    fill(x, FN, FP, v_fast);
    const hsize_t shapes[][3] = {{3, 4, FP}, {1, FC, FP}, {2, FC, FP}, {FR, FC, FP}, {1, 1, FP},
                                 {5, 2, FP}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        tmp_path(path, "fast-gzip.h5");
        write_fast(path, H5T_STD_U32LE, 3, shapes[k], 0, 4, 0, x);
        check_fast(path, 1, x, FN);
    }
}

static void test_hdf5_fast_shuffle_gzip_every_value_size(void **state)
{
    (void)state;
    char path[512];
    double x[FN * FP];
    const hsize_t chunk[3] = {3, 4, FP};
    const struct {
        hid_t type;
        double (*f)(size_t, size_t);
    } types[] = {{H5T_STD_I8LE, v_int8},   {H5T_STD_U16LE, v_u16},   {H5T_STD_U32LE, v_fast},
                 {H5T_STD_I64LE, v_i64},   {H5T_IEEE_F32LE, v_f32},  {H5T_IEEE_F64LE, v_f64},
                 {H5T_STD_U16BE, v_u16},   {H5T_STD_I32BE, v_fast},  {H5T_IEEE_F64BE, v_f64}};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        fill(x, FN, FP, types[k].f);
        tmp_path(path, "fast-shuffle.h5");
        write_fast(path, types[k].type, 3, chunk, 1, 1, 0, x);
        check_fast(path, 1, x, FN);
    }
}

static void test_hdf5_fast_big_endian_uint16_gzip(void **state)
{
    (void)state;
    char path[512];
    double x[FN * FP];
    const hsize_t chunk[3] = {2, 5, FP};
    fill(x, FN, FP, v_u16);
    write_fast(tmp_path(path, "fast-u16be.h5"), H5T_STD_U16BE, 3, chunk, 0, 6, 0, x);
    mva_stack *s = open_ok(path, NULL);
    assert_int_equal(mva_stack_get_info(s)->dtype, MVA_DTYPE_UINT16);
    assert_contains(mva_stack_get_info(s)->storage, "gzip level 6, parallel inflate");
    check_all_windows(s, x, FN, FP);
    mva_stack_close(s);
}

static void test_hdf5_fast_2d_spectra_list(void **state)
{
    (void)state;
    char path[512];
    double x[FN * FP];
    const hsize_t chunk[2] = {10, FP};
    fill(x, FN, FP, v_fast);
    write_fast(tmp_path(path, "fast-2d.h5"), H5T_STD_U32LE, 2, chunk, 1, 3, 0, x);
    check_fast(path, 1, x, FN);
}

/* An extendible dataset may have chunks wider and taller than the map: the decoded chunk
 * keeps its own stride. */
static void test_hdf5_fast_chunks_larger_than_the_map(void **state)
{
    (void)state;
    char path[512];
    double x[FN * FP];
    hsize_t dims[3] = {FR, FC, FP}, maxdims[3] = {H5S_UNLIMITED, H5S_UNLIMITED, FP};
    hsize_t chunk[3] = {4, 16, FP};
    fill(x, FN, FP, v_fast);
    hid_t f = new_file(tmp_path(path, "fast-extendible.h5"));
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 2);
    hid_t space = H5Screate_simple(3, dims, maxdims);
    hid_t d = H5Dcreate2(f, "/data", H5T_STD_U32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    H5Dclose(d);
    H5Sclose(space);
    H5Pclose(dcpl);
    H5Fclose(f);
    check_fast(path, 1, x, FN);
}

/* Layouts and pipelines left to H5Dread still read the same values. */
static void test_hdf5_fast_path_only_for_whole_spectra_and_deflate(void **state)
{
    (void)state;
    char path[512], input[600];
    double x[FN * FP], stored[FN * FP];
    fill(x, FN, FP, v_fast);
    const hsize_t split[3] = {3, 4, FP / 2}, whole[3] = {3, 4, FP};
    write_fast(tmp_path(path, "fast-split.h5"), H5T_STD_U32LE, 3, split, 1, 4, 0, x);
    check_fast(path, 0, x, FN);
    write_fast(tmp_path(path, "fast-fletcher.h5"), H5T_STD_U32LE, 3, whole, 1, 4, 1, x);
    check_fast(path, 0, x, FN);
    write_fast(tmp_path(path, "fast-shuffle-only.h5"), H5T_STD_U32LE, 3, whole, 1, -1, 0, x);
    check_fast(path, 0, x, FN);
    /* channels first: (FP, FR, FC) chunks (FP, 2, FC) */
    hsize_t dims[3] = {FP, FR, FC}, chunk[3] = {FP, 2, FC};
    to_channel_first(x, FN, FP, stored);
    hid_t f = new_file(tmp_path(path, "fast-chfirst.h5"));
    H5Dclose(make_dataset(f, "/data", H5T_STD_U32LE, 3, dims, chunk, H5Z_FILTER_DEFLATE, 4,
                          stored));
    H5Fclose(f);
    mva_open_opts opts = {0};
    opts.channel_axis = MVA_STACK_AXIS_FIRST;
    snprintf(input, sizeof input, "%s::/data", path);
    mva_stack *s = open_ok(input, &opts);
    assert_null(strstr(mva_stack_get_info(s)->storage, "parallel inflate"));
    check_all_windows(s, x, FN, FP);
    mva_stack_close(s);
}

/* The raw bytes of chunk (r0, c0) of the FR x FC x FP map x as little-endian uint32, edge
 * chunks padded with zeros to the full chunk shape, shuffled when asked. */
static size_t chunk_bytes_u32(const double *x, const hsize_t *chunk, size_t r0, size_t c0,
                              int shuffle, unsigned char *out)
{
    size_t n = (size_t)(chunk[0] * chunk[1] * chunk[2]);
    for (size_t i = 0; i < chunk[0]; i++)
        for (size_t j = 0; j < chunk[1]; j++)
            for (size_t c = 0; c < FP; c++) {
                size_t r = r0 + i, col = c0 + j, e = (i * chunk[1] + j) * FP + c;
                uint32_t v = r < FR && col < FC ? (uint32_t)x[(r * FC + col) * FP + c] : 0;
                for (size_t b = 0; b < 4; b++) {
                    unsigned char byte = (unsigned char)(v >> (8 * b));
                    out[shuffle ? b * n + e : e * 4 + b] = byte;
                }
            }
    return n * 4;
}

/* One chunk written raw with H5Dwrite_chunk and a filter mask saying deflate was skipped
 * (bit 0 for a deflate-only pipeline, bit 1 after shuffle): read as stored, by both paths. */
static void test_hdf5_fast_honours_chunk_filter_mask(void **state)
{
    (void)state;
    char path[512];
    double x[FN * FP];
    unsigned char raw[3 * 4 * FP * 4];
    const hsize_t chunk[3] = {3, 4, FP}, at[3] = {3, 8, 0};
    for (int shuffle = 0; shuffle <= 1; shuffle++) {
        fill(x, FN, FP, v_fast);
        write_fast(tmp_path(path, "fast-mask.h5"), H5T_STD_U32LE, 3, chunk, shuffle, 4, 0, x);
        /* new values in the edge chunk rows 3..5, col 8, so that the old chunk cannot pass */
        for (size_t r = 3; r < 6; r++)
            for (size_t c = 0; c < FP; c++)
                x[(r * FC + 8) * FP + c] += 1000;
        size_t nraw = chunk_bytes_u32(x, chunk, 3, 8, shuffle, raw);
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t d = H5Dopen2(f, "/data", H5P_DEFAULT);
        assert_true(H5Dwrite_chunk(d, H5P_DEFAULT, shuffle ? 2u : 1u, at, nraw, raw) >= 0);
        H5Dclose(d);
        H5Fclose(f);
        check_fast(path, 1, x, FN);
        setenv("MVA_DECODE_THREADS", "0", 1);
        check_fast(path, 0, x, FN);
        unsetenv("MVA_DECODE_THREADS");
    }
}

/* Replaces chunk at with nbytes of data (filter mask 0: claimed to be deflated). */
static void overwrite_chunk(const char *path, const hsize_t *at, const void *data,
                            size_t nbytes)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/data", H5P_DEFAULT);
    assert_true(H5Dwrite_chunk(d, H5P_DEFAULT, 0, at, nbytes, data) >= 0);
    H5Dclose(d);
    H5Fclose(f);
}

/* Reading the whole map fails with MVA_EIO and a message naming the place and the reason;
 * every other chunk still reads. */
static void expect_bad_chunk(const char *path, const double *x, const char *reason)
{
    double *buf = malloc(FN * FP * sizeof *buf);
    mva_error err = {0, ""};
    mva_stack *s = open_ok(path, NULL);
    assert_contains(mva_stack_get_info(s)->storage, "parallel inflate");
    for (int rep = 0; rep < 2; rep++) {
        assert_int_equal(mva_stack_read(s, 0, FN, buf, &err), MVA_EIO);
        assert_contains(err.msg, path);
        assert_contains(err.msg, "::/data");
        assert_contains(err.msg, "pixels 0..62");
        assert_contains(err.msg, "chunk at (3,4,0) (rows 3..5, cols 4..7)");
        assert_contains(err.msg, reason);
    }
    /* rows 0..2 and row 6 hold no pixel of the bad chunk */
    assert_int_equal(mva_stack_read(s, 0, 3 * FC, buf, &err), MVA_OK);
    assert_memory_equal(buf, x, 3 * FC * FP * sizeof *buf);
    assert_int_equal(mva_stack_read(s, 6 * FC, FC, buf, &err), MVA_OK);
    assert_memory_equal(buf, x + 6 * FC * FP, FC * FP * sizeof *buf);
    assert_int_equal(mva_stack_read(s, 3 * FC + 3, 2, buf, &err), MVA_EIO);
    assert_contains(err.msg, "pixels 30..31 (dataset rows 3..3)");
    /* the chunk that failed is not kept for the next block */
    assert_int_equal(mva_stack_read(s, 3 * FC + 5, 1, buf, &err), MVA_EIO);
    assert_contains(err.msg, "chunk at (3,4,0)");
    mva_stack_close(s);
    assert_no_open_objects();
    free(buf);
}

static void test_hdf5_fast_corrupt_chunk_is_an_io_error(void **state)
{
    (void)state;
    char path[512];
    double x[FN * FP];
    unsigned char raw[3 * 4 * FP * 4], z[3 * 4 * FP * 4 + 64], junk[300];
    const hsize_t chunk[3] = {3, 4, FP}, at[3] = {3, 4, 0};
    fill(x, FN, FP, v_fast);
    tmp_path(path, "fast-corrupt.h5");
    /* not a zlib stream */
    for (size_t k = 0; k < sizeof junk; k++)
        junk[k] = (unsigned char)(k * 37 + 11);
    write_fast(path, H5T_STD_U32LE, 3, chunk, 1, 4, 0, x);
    overwrite_chunk(path, at, junk, sizeof junk);
    expect_bad_chunk(path, x, "inflate failed: incorrect header check");
    /* a valid stream of the wrong length: one spectrum short */
    size_t nraw = chunk_bytes_u32(x, chunk, 3, 4, 1, raw);
    uLongf nz = sizeof z;
    assert_int_equal(compress2(z, &nz, raw, nraw - FP * 4, 4), Z_OK);
    write_fast(path, H5T_STD_U32LE, 3, chunk, 1, 4, 0, x);
    overwrite_chunk(path, at, z, nz);
    expect_bad_chunk(path, x, "inflates to 264 bytes, expected 288");
    /* the same stream cut in half */
    write_fast(path, H5T_STD_U32LE, 3, chunk, 1, 4, 0, x);
    overwrite_chunk(path, at, z, nz / 2);
    expect_bad_chunk(path, x, "compressed data end early");
    /* a stream of too many bytes */
    nz = sizeof z;
    unsigned char big[3 * 4 * FP * 4 + 8] = {0};
    assert_int_equal(compress2(z, &nz, big, sizeof big, 4), Z_OK);
    write_fast(path, H5T_STD_U32LE, 3, chunk, 1, 4, 0, x);
    overwrite_chunk(path, at, z, nz);
    expect_bad_chunk(path, x, "inflates to more than the expected 288 bytes");
}

/* A chunk never written is not stored: that block goes through H5Dread (fill value). */
static void test_hdf5_fast_unwritten_chunk_reads_fill_value(void **state)
{
    (void)state;
    char path[512];
    double x[FN * FP];
    hsize_t dims[3] = {FR, FC, FP}, chunk[3] = {3, 4, FP}, start[3] = {0, 0, 0};
    hsize_t count[3] = {6, FC, FP};
    unsigned fillv = 77;
    fill(x, FN, FP, v_fast);
    for (size_t k = 6 * FC * FP; k < FN * FP; k++)
        x[k] = fillv;
    hid_t f = new_file(tmp_path(path, "fast-sparse.h5"));
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    H5Pset_deflate(dcpl, 4);
    H5Pset_fill_value(dcpl, H5T_NATIVE_UINT, &fillv);
    hid_t space = H5Screate_simple(3, dims, NULL), mspace = H5Screate_simple(3, count, NULL);
    hid_t d = H5Dcreate2(f, "/data", H5T_STD_U32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
    assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, mspace, space, H5P_DEFAULT, x) >= 0);
    H5Sclose(mspace);
    H5Sclose(space);
    H5Pclose(dcpl);
    H5Dclose(d);
    H5Fclose(f);
    check_fast(path, 1, x, FN);
}

/* Reads the whole R x C x PP stack with MVA_DECODE_THREADS=threads in windows of 1234
 * pixels (cutting chunks); the storage line says how many threads decode. */
#define TR 400
#define TC 40
#define TP 64
static void read_with_threads(const char *path, const char *threads, double *out)
{
    char want[64];
    mva_error err = {0, ""};
    setenv("MVA_DECODE_THREADS", threads, 1);
    mva_stack *s = open_ok(path, NULL);
    unsetenv("MVA_DECODE_THREADS");
    snprintf(want, sizeof want, "parallel inflate on %s thread", threads);
    assert_contains(mva_stack_get_info(s)->storage, want);
    size_t n = TR * TC;
    for (size_t first = 0; first < n; first += 1234) {
        size_t count = n - first < 1234 ? n - first : 1234;
        int rc = mva_stack_read(s, first, count, out + first * TP, &err);
        if (rc != MVA_OK)
            fail_msg("read %zu+%zu: %s", first, count, err.msg);
    }
    mva_stack_close(s);
}

static double v_noise(size_t i, size_t c)
{
    uint64_t h = (uint64_t)(i * TP + c) * 0x9E3779B97F4A7C15ull;
    return (double)((h >> 40) % (c + 3));
}

static void test_hdf5_fast_same_result_on_1_and_3_threads(void **state)
{
    (void)state;
    char path[512];
    size_t nval = (size_t)TR * TC * TP;
    double *x = malloc(nval * sizeof *x), *a = malloc(nval * sizeof *a);
    double *b = malloc(nval * sizeof *b);
    hsize_t dims[3] = {TR, TC, TP}, chunk[3] = {7, 16, TP};
    assert_true(x != NULL && a != NULL && b != NULL);
    fill(x, (size_t)TR * TC, TP, v_noise);
    hid_t f = new_file(tmp_path(path, "fast-threads.h5"));
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 1);
    hid_t space = H5Screate_simple(3, dims, NULL);
    hid_t d = H5Dcreate2(f, "/data", H5T_STD_U16LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    H5Sclose(space);
    H5Pclose(dcpl);
    H5Dclose(d);
    H5Fclose(f);
    read_with_threads(path, "1", a);
    read_with_threads(path, "3", b);
    assert_memory_equal(a, x, nval * sizeof *x);
    assert_memory_equal(b, x, nval * sizeof *x);
    free(x);
    free(a);
    free(b);
}

/* ---- layouts: nothing left open on success or refusal ---- */

static const char *real_file(void)
{
    static const char *cand[] = {"../shared/realdata/2xfm_0011_2xfm3__0.h5",
                                 "../../shared/realdata/2xfm_0011_2xfm3__0.h5", NULL};
    for (const char **c = cand; *c; c++)
        if (access(*c, R_OK) == 0)
            return *c;
    return NULL;
}

static void test_hdf5_maps_raw_elements_open_and_close_cleanly(void **state)
{
    (void)state;
    const char *real = real_file();
    if (real == NULL)
        skip();
    mva_open_opts o = {0};
    o.norm = "livetime";
    mva_stack *s = open_ok(real, &o);
    const mva_stack_info *in = mva_stack_get_info(s);
    assert_string_equal(in->layout_name, "MAPS_RAW (APS XRF-Maps raw)");
    assert_string_equal(in->elements, "sum of 4 elements: data_a, data_b, data_c, data_d");
    assert_int_equal(in->rows, 11);
    assert_int_equal(in->cols, 9);
    assert_int_equal(in->channels, 2048);
    double *buf = malloc(99 * 2048 * sizeof *buf);
    mva_error err = {0, ""};
    assert_int_equal(mva_stack_read(s, 0, 99, buf, &err), MVA_OK);
    free(buf);
    mva_stack_close(s);
    assert_no_open_objects();
    o.norm = NULL;
    o.detector = "4";
    assert_int_equal(open_fails(real, &o, &err), MVA_EINVAL);
    assert_contains(err.msg, "the input has 4 detector elements");
    o.detector = NULL;
    o.norm = "monitor:I0";
    open_fails(real, &o, &err);
    assert_contains(err.msg, "no scalers");
}

static void test_hdf5_odin_refusal_leaves_nothing_open(void **state)
{
    (void)state;
    char path[512];
    enum { F = 6, EL = 2, PP = 64 };
    double *x = calloc(F * EL * PP, sizeof *x);
    hsize_t dims[3] = {F, EL, PP};
    mva_error err;
    hid_t f = new_file(tmp_path(path, "odin.h5"));
    put_dataset(f, "/data", H5T_STD_U16LE, 3, dims, x);
    H5Fclose(f);
    assert_int_equal(open_fails(path, &AUTO, &err), MVA_EINVAL);
    assert_contains(err.msg, "Odin/Xspress3 (6 frames of 2 detector elements, 64 channels)");
    mva_open_opts o = {0};
    o.detector = "1";
    mva_stack *s = open_ok(path, &o);
    assert_int_equal(mva_stack_get_info(s)->cols, F);
    mva_stack_close(s);
    assert_no_open_objects();
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hdf5_split_input_separates_file_and_path),
        cmocka_unit_test(test_hdf5_is_hdf5_checks_signature_and_user_block),
        cmocka_unit_test(test_hdf5_round_trip_contiguous),
        cmocka_unit_test(test_hdf5_round_trip_gzip_chunked),
        cmocka_unit_test(test_hdf5_round_trip_gzip_chunks_spanning_rows),
        cmocka_unit_test(test_hdf5_round_trip_lz4_chunked),
        cmocka_unit_test(test_hdf5_round_trip_channel_first),
        cmocka_unit_test(test_hdf5_channel_first_from_attribute),
        cmocka_unit_test(test_hdf5_channel_first_from_shape),
        cmocka_unit_test(test_hdf5_reads_int8_uint16be_int64_float32_float64),
        cmocka_unit_test(test_hdf5_nexus_default_picks_signal),
        cmocka_unit_test(test_hdf5_nexus_entry_without_default_takes_its_nxdata),
        cmocka_unit_test(test_hdf5_nexus_default_image_is_refused_not_replaced),
        cmocka_unit_test(test_hdf5_two_3d_datasets_without_nexus_lists_candidates),
        cmocka_unit_test(test_hdf5_single_3d_dataset_is_found),
        cmocka_unit_test(test_hdf5_no_3d_dataset_is_an_error),
        cmocka_unit_test(test_hdf5_2d_dataset_is_one_row),
        cmocka_unit_test(test_hdf5_2d_dataset_takes_shape_override),
        cmocka_unit_test(test_hdf5_2d_channel_first_option),
        cmocka_unit_test(test_hdf5_rejects_mismatching_shape_override),
        cmocka_unit_test(test_hdf5_calibration_from_sibling_dataset),
        cmocka_unit_test(test_hdf5_calibration_from_energy_axis),
        cmocka_unit_test(test_hdf5_calibration_option_overrides_file),
        cmocka_unit_test(test_hdf5_rejects_missing_dataset_path),
        cmocka_unit_test(test_hdf5_rejects_1d_dataset),
        cmocka_unit_test(test_hdf5_rejects_4d_dataset),
        cmocka_unit_test(test_hdf5_rejects_zero_size_dataset),
        cmocka_unit_test(test_hdf5_rejects_string_dataset),
        cmocka_unit_test(test_hdf5_rejects_non_hdf5_file),
        cmocka_unit_test(test_hdf5_rejects_truncated_file),
        cmocka_unit_test(test_hdf5_corrupt_chunk_names_failing_rows),
        cmocka_unit_test(test_hdf5_cut_blocks_decode_each_chunk_once),
        cmocka_unit_test(test_hdf5_rejects_unavailable_filter),
        cmocka_unit_test(test_hdf5_unavailable_blosc_names_its_package),
        cmocka_unit_test(test_hdf5_fast_gzip_chunks_cutting_rows_read_exactly),
        cmocka_unit_test(test_hdf5_fast_shuffle_gzip_every_value_size),
        cmocka_unit_test(test_hdf5_fast_big_endian_uint16_gzip),
        cmocka_unit_test(test_hdf5_fast_2d_spectra_list),
        cmocka_unit_test(test_hdf5_fast_chunks_larger_than_the_map),
        cmocka_unit_test(test_hdf5_fast_path_only_for_whole_spectra_and_deflate),
        cmocka_unit_test(test_hdf5_fast_honours_chunk_filter_mask),
        cmocka_unit_test(test_hdf5_fast_corrupt_chunk_is_an_io_error),
        cmocka_unit_test(test_hdf5_fast_unwritten_chunk_reads_fill_value),
        cmocka_unit_test(test_hdf5_fast_same_result_on_1_and_3_threads),
        cmocka_unit_test(test_hdf5_maps_raw_elements_open_and_close_cleanly),
        cmocka_unit_test(test_hdf5_odin_refusal_leaves_nothing_open),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
