/*
 * Tests of the EDF stack reader (io/edf.c).  Every file is written here by hand (header text,
 * padding, data in either byte order, optionally gzip) into a temporary directory that the
 * group teardown removes.  Values are integers or short binary fractions, so that every
 * stored type converts to double exactly and the round trips are compared with ==.
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

#include <zlib.h>

#include "mva/edf.h"
#include "mva/stack.h"
#include "util/tmpdir.h"

/* ---- fixtures ---- */

static int group_setup(void **state)
{
    (void)state;
    return test_tmpdir_create("edf");
}

static int group_teardown(void **state)
{
    (void)state;
    return test_tmpdir_remove();
}

/* ---- building EDF files in memory ---- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} buf_t;

static void put(buf_t *b, const void *d, size_t n)
{
    if (n == 0)
        return;
    if (b->n + n > b->cap) {
        b->cap = 2 * (b->n + n) + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put_str(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

/* "{\n" LINES spaces "}\n", the whole padded to a multiple of pad bytes (0 = not padded). */
static void put_header(buf_t *b, const char *lines, size_t pad)
{
    size_t len = 2 + strlen(lines) + 2;
    size_t padded = pad ? (len + pad - 1) / pad * pad : len;
    put_str(b, "{\n");
    put_str(b, lines);
    for (size_t k = len; k < padded; k++)
        put_str(b, " ");
    put_str(b, "}\n");
}

/* Value of channel c of pixel i for type t: integers in range for t, or binary fractions. */
static double value(size_t i, size_t c, mva_dtype t)
{
    double base = (double)((i * 31 + c * 17) % 200);
    int sign = t == MVA_DTYPE_INT8 || t == MVA_DTYPE_INT16 || t == MVA_DTYPE_INT32 ||
               t == MVA_DTYPE_INT64;
    double v = sign ? base - 100 : base;
    switch (t) {
    case MVA_DTYPE_INT16: case MVA_DTYPE_UINT16: return v * 300;
    case MVA_DTYPE_INT32: case MVA_DTYPE_UINT32: return v * 1e7;
    case MVA_DTYPE_INT64: case MVA_DTYPE_UINT64: return v * 1e15;
    case MVA_DTYPE_FLOAT32: return v * 0.25 - 3;
    case MVA_DTYPE_FLOAT64: return v * 0.125 - 1e6;
    default: return v;
    }
}

/* Stores n values of pixels pix0.. (p channels each) as type t in the given byte order. */
static void put_data(buf_t *b, size_t pix0, size_t npix, size_t p, mva_dtype t, int big)
{
    size_t es = mva_dtype_size(t);
    for (size_t i = 0; i < npix; i++) {
        for (size_t c = 0; c < p; c++) {
            double v = value(pix0 + i, c, t);
            uint64_t u = 0;
            float f = (float)v;
            uint32_t u32;
            switch (t) {
            case MVA_DTYPE_FLOAT32: memcpy(&u32, &f, 4); u = u32; break;
            case MVA_DTYPE_FLOAT64: memcpy(&u, &v, 8); break;
            case MVA_DTYPE_UINT64: u = (uint64_t)v; break;
            default: u = (uint64_t)(int64_t)v; break;
            }
            unsigned char bytes[8];
            for (size_t k = 0; k < es; k++)
                bytes[big ? es - 1 - k : k] = (unsigned char)(u >> (8 * k));
            put(b, bytes, es);
        }
    }
}

typedef struct {
    const char *type;  /* DataType text */
    mva_dtype t;       /* what it stores */
    int big;           /* HighByteFirst */
    size_t dim[3];     /* Dim_1, Dim_2, Dim_3; 0 = key absent */
    size_t pad;        /* header padding */
    const char *extra; /* more header lines */
    size_t pix0;       /* first pixel of the values (series files continue the count) */
} block_spec;

/* One block as PyMca/fabio would write it: header keys, padding, data. */
static void put_block(buf_t *b, const block_spec *s)
{
    char lines[2048];
    size_t npix = (s->dim[1] ? s->dim[1] : 1) * (s->dim[2] ? s->dim[2] : 1);
    size_t size = npix * s->dim[0] * mva_dtype_size(s->t);
    int w = snprintf(lines, sizeof lines,
                     "HeaderID = EH:000001:000000:000000 ;\nImage = 1 ;\nByteOrder = %s ;\n"
                     "DataType = %s ;\nDim_1 = %zu ;\n",
                     s->big ? "HighByteFirst" : "LowByteFirst", s->type, s->dim[0]);
    if (s->dim[1])
        w += snprintf(lines + w, sizeof lines - (size_t)w, "Dim_2 = %zu ;\n", s->dim[1]);
    if (s->dim[2])
        w += snprintf(lines + w, sizeof lines - (size_t)w, "Dim_3 = %zu ;\n", s->dim[2]);
    snprintf(lines + w, sizeof lines - (size_t)w, "Size = %zu ;\n%s", size,
             s->extra ? s->extra : "");
    put_header(b, lines, s->pad);
    put_data(b, s->pix0, npix, s->dim[0], s->t, s->big);
}

static void write_file(const char *path, const buf_t *b, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb6");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, b->p, (unsigned)b->n), (int)b->n);
        assert_int_equal(gzclose(f), Z_OK);
        return;
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (b->n > 0)
        assert_int_equal(fwrite(b->p, 1, b->n, f), b->n);
    fclose(f);
}

/* Writes one block into a new file tmpdir/name. */
static const char *write_block_file(char *path, const char *name, const block_spec *s, int gz)
{
    buf_t b = {0};
    put_block(&b, s);
    write_file(tmp_path(path, name), &b, gz);
    free(b.p);
    return path;
}

static void write_text(const char *name, const char *text)
{
    char path[512];
    buf_t b = {0};
    put_str(&b, text);
    write_file(tmp_path(path, name), &b, 0);
    free(b.p);
}

/* ---- checking ---- */

/* Reads pixels [first, first + count) and compares with value(pix0 + i, c, t). */
static void expect_pixels(mva_stack *s, size_t first, size_t count, mva_dtype t)
{
    const mva_stack_info *info = mva_stack_get_info(s);
    size_t p = info->channels;
    double *out = malloc((count ? count : 1) * p * sizeof *out);
    assert_non_null(out);
    mva_error err = {0};
    int rc = mva_stack_read(s, first, count, out, &err);
    if (rc != MVA_OK)
        fail_msg("read %zu+%zu: %s", first, count, err.msg);
    for (size_t i = 0; i < count; i++)
        for (size_t c = 0; c < p; c++)
            if (out[i * p + c] != value(first + i, c, t))
                fail_msg("pixel %zu channel %zu: read %.17g, expected %.17g", first + i, c,
                         out[i * p + c], value(first + i, c, t));
    free(out);
}

static mva_stack *open_ok(const char *input, const mva_open_opts *opts)
{
    mva_stack *s = NULL;
    mva_error err = {0};
    int rc = mva_edf_open(&s, input, opts, &err);
    if (rc != MVA_OK)
        fail_msg("mva_edf_open(%s): %s", input ? input : "(list)", err.msg);
    return s;
}

/* Opening must fail with code; the message must contain every one of the NULL-ended
 * strings. */
static void expect_open_error(const char *input, const mva_open_opts *opts, int code, ...)
{
    mva_stack *s = NULL;
    mva_error err = {0};
    int rc = mva_edf_open(&s, input, opts, &err);
    assert_null(s);
    if (rc != code)
        fail_msg("%s: expected code %d, got %d (%s)", input, code, rc, err.msg);
    va_list ap;
    va_start(ap, code);
    for (const char *want; (want = va_arg(ap, const char *)) != NULL;)
        if (strstr(err.msg, want) == NULL)
            fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
    va_end(ap);
}

/* ---- data types and byte orders ---- */

static const struct {
    const char *name;
    mva_dtype t;
} types[] = {{"SignedByte", MVA_DTYPE_INT8},      {"UnsignedByte", MVA_DTYPE_UINT8},
             {"SignedShort", MVA_DTYPE_INT16},    {"UnsignedShort", MVA_DTYPE_UINT16},
             {"SignedInteger", MVA_DTYPE_INT32},  {"UnsignedInteger", MVA_DTYPE_UINT32},
             {"SignedLong", MVA_DTYPE_INT32},     {"UnsignedLong", MVA_DTYPE_UINT32},
             {"Signed64", MVA_DTYPE_INT64},       {"Unsigned64", MVA_DTYPE_UINT64},
             {"FloatValue", MVA_DTYPE_FLOAT32},   {"Float", MVA_DTYPE_FLOAT32},
             {"DoubleValue", MVA_DTYPE_FLOAT64},  {"Double", MVA_DTYPE_FLOAT64},
             {"Signed32", MVA_DTYPE_INT32},       {"Unsigned16", MVA_DTYPE_UINT16},
             {"FloatIEEE32", MVA_DTYPE_FLOAT32},  {"DoubleIEEE64", MVA_DTYPE_FLOAT64}};

static void round_trip_types(int big)
{
    char path[512], name[64];
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        block_spec spec = {types[k].name, types[k].t, big, {5, 3, 0}, 512, NULL, 0};
        snprintf(name, sizeof name, "type_%s_%s.edf", types[k].name, big ? "be" : "le");
        write_block_file(path, name, &spec, 0);
        mva_stack *s = open_ok(path, NULL);
        const mva_stack_info *info = mva_stack_get_info(s);
        assert_int_equal(info->rows, 1);
        assert_int_equal(info->cols, 3);
        assert_int_equal(info->channels, 5);
        if (info->dtype != types[k].t)
            fail_msg("%s: dtype %s, expected %s", types[k].name, mva_dtype_name(info->dtype),
                     mva_dtype_name(types[k].t));
        expect_pixels(s, 0, 3, types[k].t);
        mva_stack_close(s);
    }
}

static void test_edf_round_trips_every_datatype_low_byte_first(void **state)
{
    (void)state;
    round_trip_types(0);
}

static void test_edf_round_trips_every_datatype_high_byte_first(void **state)
{
    (void)state;
    round_trip_types(1);
}

static void test_edf_long_is_64_bit_when_size_says_8_bytes(void **state)
{
    (void)state;
    char path[512];
    for (int big = 0; big < 2; big++) {
        /* written as 64-bit values under the name SignedLong / UnsignedLong */
        block_spec s1 = {"SignedLong", MVA_DTYPE_INT64, big, {4, 2, 0}, 0, NULL, 0};
        block_spec s2 = {"UnsignedLong", MVA_DTYPE_UINT64, big, {4, 2, 0}, 0, NULL, 0};
        mva_stack *s = open_ok(write_block_file(path, "long64s.edf", &s1, 0), NULL);
        assert_int_equal(mva_stack_get_info(s)->dtype, MVA_DTYPE_INT64);
        expect_pixels(s, 0, 2, MVA_DTYPE_INT64);
        mva_stack_close(s);
        s = open_ok(write_block_file(path, "long64u.edf", &s2, 0), NULL);
        assert_int_equal(mva_stack_get_info(s)->dtype, MVA_DTYPE_UINT64);
        expect_pixels(s, 0, 2, MVA_DTYPE_UINT64);
        mva_stack_close(s);
    }
}

/* PyMca's EdfFile (Python 3) writes int64 data with Size = 4 bytes per value. */
static void test_edf_reads_pymca_signed64_with_half_size(void **state)
{
    (void)state;
    char path[512];
    buf_t b = {0};
    put_header(&b, "ByteOrder = LowByteFirst ;\nDataType = Signed64 ;\nDim_1 = 4 ;\n"
                   "Dim_2 = 2 ;\nSize = 32 ;\n", 1024);
    put_data(&b, 0, 2, 4, MVA_DTYPE_INT64, 0);
    put_header(&b, "ByteOrder = LowByteFirst ;\nDataType = Signed64 ;\nDim_1 = 4 ;\n"
                   "Dim_2 = 2 ;\nSize = 32 ;\n", 1024);
    put_data(&b, 2, 2, 4, MVA_DTYPE_INT64, 0);
    write_file(tmp_path(path, "pymca_int64.edf"), &b, 0);
    free(b.p);
    mva_stack *s = open_ok(path, NULL);
    assert_int_equal(mva_stack_get_info(s)->rows, 2);
    assert_int_equal(mva_stack_get_info(s)->dtype, MVA_DTYPE_INT64);
    expect_pixels(s, 0, 4, MVA_DTYPE_INT64);
    mva_stack_close(s);
}

static void test_edf_keys_and_type_names_ignore_case(void **state)
{
    (void)state;
    char path[512];
    buf_t b = {0};
    put_header(&b,
               "byteorder = lowbytefirst ;\nDATATYPE = unsignedshort ;\ndim_1 = 4 ;\n"
               "DIM_2 = 2 ;\nsize = 16 ; a comment\n; a comment line\n",
               0);
    put_data(&b, 0, 2, 4, MVA_DTYPE_UINT16, 0);
    write_file(tmp_path(path, "case.edf"), &b, 0);
    free(b.p);
    mva_stack *s = open_ok(path, NULL);
    assert_int_equal(mva_stack_get_info(s)->dtype, MVA_DTYPE_UINT16);
    expect_pixels(s, 0, 2, MVA_DTYPE_UINT16);
    mva_stack_close(s);
}

static void test_edf_data_start_after_header_whatever_the_padding(void **state)
{
    (void)state;
    char path[512], name[64];
    const size_t pads[] = {0, 512, 1024, 7};
    for (size_t k = 0; k < 4; k++) {
        block_spec spec = {"FloatValue", MVA_DTYPE_FLOAT32, 0, {6, 4, 0}, pads[k], NULL, 0};
        snprintf(name, sizeof name, "pad%zu.edf", pads[k]);
        mva_stack *s = open_ok(write_block_file(path, name, &spec, 0), NULL);
        expect_pixels(s, 0, 4, MVA_DTYPE_FLOAT32);
        mva_stack_close(s);
    }
    /* "}\r\n" ends a header too, and blanks may precede the '{' */
    buf_t b = {0};
    put_str(&b, "\n  {\r\nByteOrder = LowByteFirst ;\r\nDataType = SignedShort ;\r\n"
                "Dim_1 = 3 ;\r\nSize = 6 ;\r\n}\r\n");
    put_data(&b, 0, 1, 3, MVA_DTYPE_INT16, 0);
    write_file(tmp_path(path, "crlf.edf"), &b, 0);
    free(b.p);
    mva_stack *s = open_ok(path, NULL);
    expect_pixels(s, 0, 1, MVA_DTYPE_INT16);
    mva_stack_close(s);
}

/* ---- layouts ---- */

/* Writes prefix_NNNN.edf for the given numbers, file k holding pixels k*cols.. */
static void write_series(const char *prefix, const int *numbers, size_t n, size_t cols,
                         size_t p, mva_dtype t, const char *type)
{
    char path[512], name[128];
    for (size_t k = 0; k < n; k++) {
        block_spec spec = {type, t, (int)(k % 2), {p, cols, 0}, 1024, NULL,
                           (size_t)numbers[k] * cols};
        snprintf(name, sizeof name, "%s_%04d.edf", prefix, numbers[k]);
        write_block_file(path, name, &spec, 0);
    }
}

static void test_edf_series_stops_at_first_missing_number(void **state)
{
    (void)state;
    char path[512];
    const int numbers[] = {0, 1, 2, 3, 4, 6};
    write_series("map", numbers, 6, 7, 9, MVA_DTYPE_UINT32, "UnsignedInteger");
    mva_stack *s = open_ok(tmp_path(path, "map_0000.edf"), NULL);
    const mva_stack_info *info = mva_stack_get_info(s);
    assert_int_equal(info->rows, 5);
    assert_int_equal(info->cols, 7);
    assert_int_equal(info->channels, 9);
    assert_string_equal(info->path, "series map_0000.edf..map_0004.edf (5 files)");
    assert_string_equal(info->source, path);
    assert_string_equal(info->format, "edf");
    assert_string_equal(info->layout, "rows,cols,channels");
    assert_string_equal(info->storage, "uncompressed, 5 files");
    assert_int_equal(info->chunk_pixels, 7);
    assert_int_equal(info->stored_bytes, 5 * 7 * 9 * 4);
    expect_pixels(s, 0, 35, MVA_DTYPE_UINT32);
    mva_stack_close(s);
}

static void test_edf_series_from_a_middle_file_starts_at_its_lowest_number(void **state)
{
    (void)state;
    char path[512], first[512];
    const int numbers[] = {3, 4, 5, 6};
    write_series("mid", numbers, 4, 2, 3, MVA_DTYPE_UINT16, "UnsignedShort");
    mva_stack *s = open_ok(tmp_path(path, "mid_0005.edf"), NULL);
    const mva_stack_info *info = mva_stack_get_info(s);
    assert_int_equal(info->rows, 4);
    assert_string_equal(info->source, tmp_path(first, "mid_0003.edf"));
    expect_pixels(s, 0, 0, MVA_DTYPE_UINT16);
    double out[3];
    mva_error err = {0};
    assert_int_equal(mva_stack_read(s, 0, 1, out, &err), MVA_OK);
    assert_true(out[0] == value(6, 0, MVA_DTYPE_UINT16)); /* pixel 0 of file 3 */
    mva_stack_close(s);
}

static void test_edf_single_2d_file_is_one_row(void **state)
{
    (void)state;
    char path[512];
    block_spec spec = {"UnsignedShort", MVA_DTYPE_UINT16, 0, {8, 5, 0}, 512, NULL, 0};
    const char *names[] = {"plain.edf", "lonely_12.edf"};
    for (int k = 0; k < 2; k++) {
        mva_stack *s = open_ok(write_block_file(path, names[k], &spec, 0), NULL);
        const mva_stack_info *info = mva_stack_get_info(s);
        assert_int_equal(info->rows, 1);
        assert_int_equal(info->cols, 5);
        assert_string_equal(info->path, "2-D block");
        assert_string_equal(info->storage, "uncompressed");
        expect_pixels(s, 0, 5, MVA_DTYPE_UINT16);
        mva_stack_close(s);
    }
}

static void test_edf_1d_block_is_one_pixel(void **state)
{
    (void)state;
    char path[512];
    block_spec spec = {"SignedInteger", MVA_DTYPE_INT32, 1, {16, 0, 0}, 0, NULL, 0};
    mva_stack *s = open_ok(write_block_file(path, "spectrum_1.edf", &spec, 0), NULL);
    const mva_stack_info *info = mva_stack_get_info(s);
    assert_int_equal(info->rows, 1);
    assert_int_equal(info->cols, 1);
    assert_int_equal(info->channels, 16);
    assert_string_equal(info->path, "1-D block");
    expect_pixels(s, 0, 1, MVA_DTYPE_INT32);
    mva_stack_close(s);
}

static void test_edf_explicit_list_in_given_order(void **state)
{
    (void)state;
    char p0[512], p1[512], p2[512];
    block_spec a = {"DoubleValue", MVA_DTYPE_FLOAT64, 0, {4, 3, 0}, 0, NULL, 0};
    block_spec b = {"DoubleValue", MVA_DTYPE_FLOAT64, 1, {4, 3, 0}, 512, NULL, 3};
    block_spec c = {"DoubleValue", MVA_DTYPE_FLOAT64, 0, {4, 3, 0}, 1024, NULL, 6};
    write_block_file(p0, "zz_row.edf", &a, 0);
    write_block_file(p1, "aa_row.edf", &b, 0);
    write_block_file(p2, "mm_row.edf", &c, 1);
    const char *files[] = {p0, p1, p2};
    mva_open_opts opts = {0};
    opts.files = files;
    opts.nfiles = 3;
    mva_stack *s = open_ok(NULL, &opts);
    const mva_stack_info *info = mva_stack_get_info(s);
    assert_int_equal(info->rows, 3);
    assert_string_equal(info->path, "list zz_row.edf..mm_row.edf (3 files)");
    assert_string_equal(info->storage, "1 of 3 files gzip");
    expect_pixels(s, 0, 9, MVA_DTYPE_FLOAT64);
    mva_stack_close(s);
}

static void test_edf_pattern_with_first_and_last(void **state)
{
    (void)state;
    char path[512];
    const int numbers[] = {0, 1, 2, 3, 4};
    write_series("pat", numbers, 5, 3, 4, MVA_DTYPE_INT16, "SignedShort");
    mva_open_opts opts = {0};
    opts.use_pattern = 1;
    opts.first = 1;
    opts.last = 3;
    mva_stack *s = open_ok(tmp_path(path, "pat_%04d.edf"), &opts);
    const mva_stack_info *info = mva_stack_get_info(s);
    assert_int_equal(info->rows, 3);
    assert_string_equal(info->source, path);
    assert_string_equal(info->path, "series pat_0001.edf..pat_0003.edf (3 files)");
    double out[3 * 4];
    mva_error err = {0};
    assert_int_equal(mva_stack_read(s, 0, 3, out, &err), MVA_OK);
    for (size_t i = 0; i < 3; i++)
        for (size_t c = 0; c < 4; c++)
            assert_true(out[i * 4 + c] == value(3 + i, c, MVA_DTYPE_INT16));
    mva_stack_close(s);
}

static void test_edf_pattern_reports_missing_file(void **state)
{
    (void)state;
    char path[512];
    const int numbers[] = {0, 1};
    write_series("gap", numbers, 2, 3, 4, MVA_DTYPE_INT16, "SignedShort");
    mva_open_opts opts = {0};
    opts.use_pattern = 1;
    opts.first = 0;
    opts.last = 2;
    expect_open_error(tmp_path(path, "gap_%04d.edf"), &opts, MVA_ENOTFOUND, "gap_0002.edf",
                      "file 3 of 3 of the series", NULL);
}

static void test_edf_pattern_needs_one_integer_counter(void **state)
{
    (void)state;
    mva_open_opts opts = {0};
    opts.use_pattern = 1;
    opts.last = 3;
    expect_open_error("map_%s.edf", &opts, MVA_EINVAL, "map_%s.edf", "counter", NULL);
    expect_open_error("map_%d_%d.edf", &opts, MVA_EINVAL, "exactly one", NULL);
    expect_open_error("map.edf", &opts, MVA_EINVAL, "no %d-style counter", NULL);
    opts.first = 4;
    expect_open_error("map_%04d.edf", &opts, MVA_EINVAL, "first 4, last 3", NULL);
}

static void test_edf_3d_file_is_the_whole_map(void **state)
{
    (void)state;
    char path[512];
    block_spec spec = {"UnsignedInteger", MVA_DTYPE_UINT32, 1, {6, 4, 3}, 1024, NULL, 0};
    mva_stack *s = open_ok(write_block_file(path, "cube_0001.edf", &spec, 0), NULL);
    const mva_stack_info *info = mva_stack_get_info(s);
    assert_int_equal(info->rows, 3);
    assert_int_equal(info->cols, 4);
    assert_int_equal(info->channels, 6);
    assert_string_equal(info->path, "3-D block");
    assert_int_equal(info->chunk_pixels, 4);
    expect_pixels(s, 0, 12, MVA_DTYPE_UINT32);
    expect_pixels(s, 5, 6, MVA_DTYPE_UINT32);
    mva_stack_close(s);
}

/* Rows as blocks of one file, headers of different lengths and paddings. */
static void write_multiblock(const char *name, size_t nblocks, size_t cols, size_t p, int gz)
{
    char path[512], extra[64];
    buf_t b = {0};
    for (size_t k = 0; k < nblocks; k++) {
        snprintf(extra, sizeof extra, "%.*s = x ;\n", (int)(k % 5 + 1), "ABCDE");
        block_spec spec = {"SignedShort", MVA_DTYPE_INT16, (int)(k % 2), {p, cols, 0},
                           k % 3 == 0 ? 1024 : k % 3 == 1 ? 512 : 0, extra, k * cols};
        put_block(&b, &spec);
        if (k == 1)
            put_str(&b, "\n"); /* blanks between blocks are allowed */
    }
    write_file(tmp_path(path, name), &b, gz);
    free(b.p);
}

static void test_edf_multiblock_file_has_one_row_per_block(void **state)
{
    (void)state;
    char path[512];
    write_multiblock("blocks.edf", 12, 5, 7, 0);
    mva_stack *s = open_ok(tmp_path(path, "blocks.edf"), NULL);
    const mva_stack_info *info = mva_stack_get_info(s);
    assert_int_equal(info->rows, 12);
    assert_int_equal(info->cols, 5);
    assert_string_equal(info->path, "12 blocks");
    assert_int_equal(info->stored_bytes, 12 * 5 * 7 * 2);
    expect_pixels(s, 0, 60, MVA_DTYPE_INT16);
    expect_pixels(s, 13, 29, MVA_DTYPE_INT16);
    mva_stack_close(s);
}

static void test_edf_gzip_files_read_through_zlib(void **state)
{
    (void)state;
    char path[512];
    /* 3-D: the gzip trailer tells that the data end the file */
    block_spec spec = {"FloatValue", MVA_DTYPE_FLOAT32, 1, {9, 5, 4}, 512, NULL, 0};
    mva_stack *s = open_ok(write_block_file(path, "cube.edf.gz", &spec, 1), NULL);
    const mva_stack_info *info = mva_stack_get_info(s);
    assert_int_equal(info->rows, 4);
    assert_string_equal(info->storage, "gzip");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(info->stored_bytes, st.st_size);
    expect_pixels(s, 0, 20, MVA_DTYPE_FLOAT32);
    expect_pixels(s, 17, 3, MVA_DTYPE_FLOAT32);
    expect_pixels(s, 2, 4, MVA_DTYPE_FLOAT32); /* backwards: zlib rewinds */
    mva_stack_close(s);
    /* several blocks: the stream is decompressed to find them */
    write_multiblock("blocks.edf.gz", 6, 3, 4, 1);
    s = open_ok(tmp_path(path, "blocks.edf.gz"), NULL);
    assert_int_equal(mva_stack_get_info(s)->rows, 6);
    expect_pixels(s, 0, 18, MVA_DTYPE_INT16);
    expect_pixels(s, 4, 5, MVA_DTYPE_INT16);
    mva_stack_close(s);
}

static void test_edf_gzip_series(void **state)
{
    (void)state;
    char path[512], name[64];
    for (int k = 0; k < 3; k++) {
        block_spec spec = {"UnsignedShort", MVA_DTYPE_UINT16, 0, {5, 4, 0}, 1024, NULL,
                           (size_t)k * 4};
        snprintf(name, sizeof name, "gzs_%02d.edf.gz", k);
        write_block_file(path, name, &spec, 1);
    }
    mva_stack *s = open_ok(tmp_path(path, "gzs_00.edf.gz"), NULL);
    const mva_stack_info *info = mva_stack_get_info(s);
    assert_int_equal(info->rows, 3);
    assert_string_equal(info->storage, "gzip, 3 files");
    expect_pixels(s, 0, 12, MVA_DTYPE_UINT16);
    expect_pixels(s, 3, 6, MVA_DTYPE_UINT16);
    mva_stack_close(s);
}

static void test_edf_reads_windows_across_file_boundaries(void **state)
{
    (void)state;
    char path[512];
    const int numbers[] = {0, 1, 2, 3};
    write_series("win", numbers, 4, 5, 3, MVA_DTYPE_FLOAT32, "FloatValue");
    mva_stack *s = open_ok(tmp_path(path, "win_0000.edf"), NULL);
    assert_int_equal(mva_stack_get_info(s)->rows, 4);
    for (size_t first = 0; first < 20; first++)
        for (size_t count = 0; first + count <= 20; count++)
            expect_pixels(s, first, count, MVA_DTYPE_FLOAT32);
    double out[3];
    mva_error err = {0};
    assert_int_equal(mva_stack_read(s, 20, 1, out, &err), MVA_ERANGE);
    mva_stack_close(s);
}

static size_t open_fds(void)
{
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static void test_edf_long_series_keeps_few_files_open(void **state)
{
    (void)state;
    char path[512];
    int numbers[40];
    for (int k = 0; k < 40; k++)
        numbers[k] = k;
    write_series("many", numbers, 40, 2, 3, MVA_DTYPE_UINT8, "UnsignedByte");
    size_t before = open_fds();
    mva_stack *s = open_ok(tmp_path(path, "many_0000.edf"), NULL);
    assert_int_equal(mva_stack_get_info(s)->rows, 40);
    assert_true(open_fds() <= before);
    expect_pixels(s, 0, 80, MVA_DTYPE_UINT8);
    expect_pixels(s, 11, 40, MVA_DTYPE_UINT8);
    assert_true(open_fds() <= before + 8);
    mva_stack_close(s);
    assert_true(open_fds() <= before);
}

/* ---- calibration and shape ---- */

static void test_edf_calibration_from_mca_keys(void **state)
{
    (void)state;
    char path[512];
    block_spec spec = {"UnsignedShort", MVA_DTYPE_UINT16, 0, {8, 2, 0}, 1024,
                       "MCA a = -0.05 ;\nmca B = 0.01 ;\nMCA c = 1e-7 ;\n", 0};
    mva_stack *s = open_ok(write_block_file(path, "calib.edf", &spec, 0), NULL);
    const mva_calib *cal = &mva_stack_get_info(s)->calib;
    assert_true(cal->known);
    assert_true(cal->a == -0.05 && cal->b == 0.01 && cal->c == 1e-7);
    mva_stack_close(s);
    /* "MCA c" is optional; the option overrides the file */
    spec.extra = "MCA a = 0.5 ;\nMCA b = 0.02 ;\n";
    mva_open_opts opts = {0};
    s = open_ok(write_block_file(path, "calib_ab.edf", &spec, 0), &opts);
    cal = &mva_stack_get_info(s)->calib;
    assert_true(cal->known && cal->a == 0.5 && cal->b == 0.02 && cal->c == 0);
    mva_stack_close(s);
    opts.calib.known = 1;
    opts.calib.b = 3;
    s = open_ok(path, &opts);
    cal = &mva_stack_get_info(s)->calib;
    assert_true(cal->known && cal->a == 0 && cal->b == 3);
    mva_stack_close(s);
    /* none without both a and b */
    spec.extra = "MCA a = 0.5 ;\n";
    s = open_ok(write_block_file(path, "calib_a.edf", &spec, 0), NULL);
    assert_false(mva_stack_get_info(s)->calib.known);
    mva_stack_close(s);
}

static void test_edf_shape_override(void **state)
{
    (void)state;
    char path[512];
    block_spec spec = {"UnsignedShort", MVA_DTYPE_UINT16, 0, {3, 12, 0}, 0, NULL, 0};
    mva_open_opts opts = {0};
    opts.rows = 3;
    opts.cols = 4;
    mva_stack *s = open_ok(write_block_file(path, "reshape.edf", &spec, 0), &opts);
    const mva_stack_info *info = mva_stack_get_info(s);
    assert_int_equal(info->rows, 3);
    assert_int_equal(info->cols, 4);
    expect_pixels(s, 0, 12, MVA_DTYPE_UINT16);
    expect_pixels(s, 3, 7, MVA_DTYPE_UINT16);
    mva_stack_close(s);
}

static void test_edf_rejects_shape_override_with_other_pixel_count(void **state)
{
    (void)state;
    char path[512];
    block_spec spec = {"UnsignedShort", MVA_DTYPE_UINT16, 0, {3, 12, 0}, 0, NULL, 0};
    mva_open_opts opts = {0};
    opts.rows = 5;
    opts.cols = 3;
    write_block_file(path, "reshape_bad.edf", &spec, 0);
    expect_open_error(path, &opts, MVA_EINVAL, "reshape_bad.edf", "5x3", "12 pixels", NULL);
}

/* ---- detection ---- */

static void test_edf_is_edf_by_content(void **state)
{
    (void)state;
    char path[512];
    block_spec spec = {"UnsignedShort", MVA_DTYPE_UINT16, 0, {3, 2, 0}, 0, NULL, 0};
    assert_true(mva_edf_is_edf(write_block_file(path, "detect.edf", &spec, 0)));
    assert_true(mva_edf_is_edf(write_block_file(path, "detect.gz", &spec, 1)));
    write_text("detect_blank.edf", "  \n\t{\nDim_1 = 1 ;\n}\n");
    assert_true(mva_edf_is_edf(tmp_path(path, "detect_blank.edf")));
    write_text("detect_spec.dat", "#F file\n#S 1 mesh\n");
    assert_false(mva_edf_is_edf(tmp_path(path, "detect_spec.dat")));
    write_text("detect_empty.edf", "");
    assert_false(mva_edf_is_edf(tmp_path(path, "detect_empty.edf")));
    assert_false(mva_edf_is_edf(tmp_path(path, "does_not_exist.edf")));
}

/* ---- errors ---- */

static const char *good_keys = "ByteOrder = LowByteFirst ;\nDataType = UnsignedShort ;\n";

/* A one-block file with the given header lines and nbytes of data. */
static const char *write_raw(char *path, const char *name, const char *lines, size_t nbytes)
{
    buf_t b = {0};
    put_header(&b, lines, 512);
    for (size_t k = 0; k < nbytes; k++)
        put_str(&b, "\x01");
    write_file(tmp_path(path, name), &b, 0);
    free(b.p);
    return path;
}

static void test_edf_rejects_truncated_block(void **state)
{
    (void)state;
    char path[512], lines[256];
    snprintf(lines, sizeof lines, "%sDim_1 = 10 ;\nDim_2 = 3 ;\nSize = 60 ;\n", good_keys);
    write_raw(path, "trunc.edf", lines, 50);
    expect_open_error(path, NULL, MVA_EFORMAT, "trunc.edf", "truncated data block",
                      "byte offset 512", "60 bytes expected, 50 present", NULL);
}

static void test_edf_rejects_truncated_gzip_block(void **state)
{
    (void)state;
    char path[512];
    buf_t b = {0};
    block_spec spec = {"UnsignedShort", MVA_DTYPE_UINT16, 0, {10, 3, 0}, 512, NULL, 0};
    put_block(&b, &spec);
    b.n -= 7;
    write_file(tmp_path(path, "trunc.edf.gz"), &b, 1);
    free(b.p);
    expect_open_error(path, NULL, MVA_EFORMAT, "trunc.edf.gz", "truncated data block",
                      "offset 512", "gzip stream ends", NULL);
}

static void test_edf_read_reports_file_truncated_after_open(void **state)
{
    (void)state;
    char path[512];
    block_spec spec = {"UnsignedInteger", MVA_DTYPE_UINT32, 0, {10, 4, 0}, 512, NULL, 0};
    mva_stack *s = open_ok(write_block_file(path, "shrunk.edf", &spec, 0), NULL);
    assert_int_equal(truncate(path, 512 + 100), 0);
    double out[40];
    mva_error err = {0};
    assert_int_equal(mva_stack_read(s, 0, 4, out, &err), MVA_EFORMAT);
    assert_non_null(strstr(err.msg, "shrunk.edf"));
    assert_non_null(strstr(err.msg, "truncated data block at byte offset 512"));
    assert_non_null(strstr(err.msg, "160 bytes expected, 100 present"));
    mva_stack_close(s);
}

static void test_edf_rejects_unknown_datatype(void **state)
{
    (void)state;
    char path[512];
    write_raw(path, "badtype.edf",
              "ByteOrder = LowByteFirst ;\nDataType = Quaternion128 ;\nDim_1 = 2 ;\nSize = 32 ;\n",
              32);
    expect_open_error(path, NULL, MVA_EFORMAT, "badtype.edf", "header at byte offset 0",
                      "unknown DataType \"Quaternion128\"", NULL);
}

static void test_edf_rejects_missing_required_keys(void **state)
{
    (void)state;
    char path[512];
    write_raw(path, "nodim.edf", "ByteOrder = LowByteFirst ;\nDataType = UnsignedShort ;\n"
                                 "Dim_2 = 3 ;\nSize = 6 ;\n", 6);
    expect_open_error(path, NULL, MVA_EFORMAT, "nodim.edf", "missing Dim_1", NULL);
    write_raw(path, "notype.edf", "ByteOrder = LowByteFirst ;\nDim_1 = 3 ;\nSize = 6 ;\n", 6);
    expect_open_error(path, NULL, MVA_EFORMAT, "notype.edf", "missing DataType", NULL);
    write_raw(path, "noorder.edf", "DataType = UnsignedShort ;\nDim_1 = 3 ;\nSize = 6 ;\n", 6);
    expect_open_error(path, NULL, MVA_EFORMAT, "noorder.edf", "missing ByteOrder", NULL);
    write_raw(path, "nosize.edf", "ByteOrder = LowByteFirst ;\nDataType = UnsignedShort ;\n"
                                  "Dim_1 = 3 ;\n", 6);
    expect_open_error(path, NULL, MVA_EFORMAT, "nosize.edf", "missing Size", NULL);
    write_raw(path, "badorder.edf", "ByteOrder = Middle ;\nDataType = UnsignedShort ;\n"
                                    "Dim_1 = 3 ;\nSize = 6 ;\n", 6);
    expect_open_error(path, NULL, MVA_EFORMAT, "badorder.edf", "ByteOrder \"Middle\"", NULL);
}

static void test_edf_rejects_size_inconsistent_with_dims(void **state)
{
    (void)state;
    char path[512], lines[256];
    snprintf(lines, sizeof lines, "%sDim_1 = 10 ;\nDim_2 = 3 ;\nSize = 40 ;\n", good_keys);
    write_raw(path, "badsize.edf", lines, 60);
    expect_open_error(path, NULL, MVA_EFORMAT, "badsize.edf", "Size = 40 bytes",
                      "10 x 3 x 1", "need 60 bytes", NULL);
}

static void test_edf_rejects_header_without_closing_brace(void **state)
{
    (void)state;
    char path[512];
    write_text("open.edf", "{\nByteOrder = LowByteFirst ;\nDim_1 = 3 ;\n");
    expect_open_error(tmp_path(path, "open.edf"), NULL, MVA_EFORMAT, "open.edf",
                      "header starting at byte offset 0 has no closing '}'", NULL);
    /* the second block's header starts after the first block's 6 data bytes */
    buf_t b = {0};
    put_header(&b, "ByteOrder = LowByteFirst ;\nDataType = UnsignedShort ;\nDim_1 = 3 ;\n"
                   "Size = 6 ;\n", 512);
    put_str(&b, "abcdef{\nDim_1 = 3 ;\n} no newline");
    write_file(tmp_path(path, "open2.edf"), &b, 0);
    free(b.p);
    expect_open_error(path, NULL, MVA_EFORMAT, "open2.edf",
                      "header starting at byte offset 518 has no closing '}'", NULL);
}

static void test_edf_rejects_header_longer_than_1_mib(void **state)
{
    (void)state;
    char path[512];
    buf_t b = {0};
    put_str(&b, "{\n");
    for (int k = 0; k < 40000; k++)
        put_str(&b, "Comment = a long header line ;\n");
    write_file(tmp_path(path, "huge_header.edf"), &b, 0);
    free(b.p);
    expect_open_error(path, NULL, MVA_EFORMAT, "huge_header.edf", "within 1 MiB",
                      "byte offset 0", NULL);
}

static void test_edf_rejects_series_file_of_other_shape(void **state)
{
    (void)state;
    char path[512];
    const int numbers[] = {0, 1};
    write_series("odd", numbers, 2, 4, 6, MVA_DTYPE_UINT16, "UnsignedShort");
    block_spec spec = {"UnsignedShort", MVA_DTYPE_UINT16, 0, {6, 5, 0}, 1024, NULL, 0};
    write_block_file(path, "odd_0002.edf", &spec, 0);
    expect_open_error(tmp_path(path, "odd_0000.edf"), NULL, MVA_EFORMAT, "odd_0002.edf",
                      "shape 5 x 6 (Dim_2 x Dim_1)", "odd_0000.edf has shape 4 x 6", NULL);
    /* and of another type */
    spec.dim[1] = 4;
    spec.type = "SignedInteger";
    spec.t = MVA_DTYPE_INT32;
    write_block_file(path, "odd_0002.edf", &spec, 0);
    expect_open_error(tmp_path(path, "odd_0001.edf"), NULL, MVA_EFORMAT, "odd_0002.edf",
                      "int32", "odd_0000.edf holds uint16", NULL);
}

static void test_edf_rejects_blocks_of_other_shape(void **state)
{
    (void)state;
    char path[512];
    buf_t b = {0};
    block_spec a = {"UnsignedShort", MVA_DTYPE_UINT16, 0, {6, 4, 0}, 512, NULL, 0};
    block_spec c = {"UnsignedShort", MVA_DTYPE_UINT16, 0, {7, 4, 0}, 512, NULL, 0};
    put_block(&b, &a);
    put_block(&b, &c);
    write_file(tmp_path(path, "mixed_blocks.edf"), &b, 0);
    free(b.p);
    expect_open_error(path, NULL, MVA_EFORMAT, "mixed_blocks.edf", "block 1 (byte offset 560)",
                      "4 x 7", "block 0 (byte offset 0) has shape 4 x 6", NULL);
}

static void test_edf_rejects_non_numeric_dim(void **state)
{
    (void)state;
    char path[512], lines[256];
    snprintf(lines, sizeof lines, "%sDim_1 = 10 ;\nDim_2 = three ;\nSize = 60 ;\n", good_keys);
    write_raw(path, "baddim.edf", lines, 60);
    expect_open_error(path, NULL, MVA_EFORMAT, "baddim.edf", "Dim_2 = \"three\"", NULL);
    snprintf(lines, sizeof lines, "%sDim_1 = -4 ;\nSize = 60 ;\n", good_keys);
    write_raw(path, "negdim.edf", lines, 60);
    expect_open_error(path, NULL, MVA_EFORMAT, "negdim.edf", "Dim_1 = \"-4\"", NULL);
    snprintf(lines, sizeof lines, "%sDim_1 = 0 ;\nSize = 0 ;\n", good_keys);
    write_raw(path, "zerodim.edf", lines, 0);
    expect_open_error(path, NULL, MVA_EFORMAT, "zerodim.edf", "Dim_1 = 0", NULL);
}

static void test_edf_rejects_absurd_sizes(void **state)
{
    (void)state;
    char path[512], lines[256];
    snprintf(lines, sizeof lines,
             "%sDim_1 = 18446744073709551615 ;\nDim_2 = 2 ;\nSize = 60 ;\n", good_keys);
    write_raw(path, "overflow.edf", lines, 60);
    expect_open_error(path, NULL, MVA_EFORMAT, "overflow.edf", "absurd dimensions",
                      "overflows", NULL);
    snprintf(lines, sizeof lines,
             "%sDim_1 = 4096 ;\nDim_2 = 1000000 ;\nSize = 8192000000 ;\n", good_keys);
    write_raw(path, "toolarge.edf", lines, 60);
    expect_open_error(path, NULL, MVA_EFORMAT, "toolarge.edf", "truncated data block",
                      "8192000000 bytes expected, 60 present", NULL);
    snprintf(lines, sizeof lines, "%sDim_1 = 4 ;\nSize = 99999999999999999999999 ;\n",
             good_keys);
    write_raw(path, "hugesize.edf", lines, 8);
    expect_open_error(path, NULL, MVA_EFORMAT, "hugesize.edf", "Size = \"9999", NULL);
}

static void test_edf_rejects_file_that_is_not_edf(void **state)
{
    (void)state;
    char path[512];
    write_text("notedf.edf", "\n\nhello world\n");
    expect_open_error(tmp_path(path, "notedf.edf"), NULL, MVA_EFORMAT, "notedf.edf",
                      "not an EDF file", "byte offset 2 is 0x68", NULL);
    write_text("empty.edf", "");
    expect_open_error(tmp_path(path, "empty.edf"), NULL, MVA_EFORMAT, "empty.edf",
                      "not an EDF file: empty", NULL);
    expect_open_error(tmp_path(path, "missing.edf"), NULL, MVA_ENOTFOUND, "missing.edf",
                      "cannot open", NULL);
}

static void test_edf_rejects_garbage_after_a_block(void **state)
{
    (void)state;
    char path[512];
    buf_t b = {0};
    block_spec a = {"UnsignedShort", MVA_DTYPE_UINT16, 0, {3, 2, 0}, 512, NULL, 0};
    put_block(&b, &a);
    put_str(&b, "  xyz");
    write_file(tmp_path(path, "trailing.edf"), &b, 0);
    free(b.p);
    expect_open_error(path, NULL, MVA_EFORMAT, "trailing.edf", "after block 0",
                      "byte offset 526", "0x78", NULL);
}

static void test_edf_rejects_compressed_blocks_and_external_data(void **state)
{
    (void)state;
    char path[512], lines[256];
    snprintf(lines, sizeof lines, "%sDim_1 = 3 ;\nSize = 6 ;\nCompression = gzip ;\n",
             good_keys);
    write_raw(path, "packed.edf", lines, 6);
    expect_open_error(path, NULL, MVA_EUNSUPPORTED, "packed.edf", "Compression = \"gzip\"",
                      NULL);
    snprintf(lines, sizeof lines, "%sDim_1 = 3 ;\nSize = 6 ;\nCompression = None ;\n",
             good_keys);
    mva_stack *s = open_ok(write_raw(path, "unpacked.edf", lines, 6), NULL);
    mva_stack_close(s);
    snprintf(lines, sizeof lines, "%sDim_1 = 3 ;\nSize = 6 ;\nEDF_BinaryFileName = x.bin ;\n",
             good_keys);
    write_raw(path, "external.edf", lines, 6);
    expect_open_error(path, NULL, MVA_EUNSUPPORTED, "external.edf", "x.bin", NULL);
}

/* Flipped bytes and cut lengths of a valid two-block file: open and read must fail cleanly
 * or succeed, never crash (run under valgrind / ASan to mean something). */
static void test_edf_survives_mutated_files(void **state)
{
    (void)state;
    char path[512];
    buf_t good = {0};
    block_spec a = {"UnsignedShort", MVA_DTYPE_UINT16, 1, {5, 3, 0}, 0, "MCA a = 1 ;\n", 0};
    put_block(&good, &a);
    put_block(&good, &a);
    tmp_path(path, "fuzz.edf");
    unsigned seed = 12345;
    int opened = 0, refused = 0;
    unsigned char *copy = malloc(good.n);
    assert_non_null(copy);
    for (int iter = 0; iter < 400; iter++) {
        memcpy(copy, good.p, good.n);
        size_t n = good.n;
        for (int k = 0; k < 1 + iter % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            const unsigned char chars[] = "{}=;\n\r 09-xX\xff";
            copy[at] = chars[(seed >> 20) % (sizeof chars - 1)];
        }
        if (iter % 5 == 0)
            n = (seed >> 4) % good.n;
        buf_t b = {copy, n, n};
        write_file(path, &b, iter % 7 == 0);
        mva_stack *s = NULL;
        mva_error err = {0};
        if (mva_edf_open(&s, path, NULL, &err) == MVA_OK) {
            opened++;
            const mva_stack_info *info = mva_stack_get_info(s);
            size_t np = info->rows * info->cols;
            if (np * info->channels < 100000) {
                double *out = malloc(np * info->channels * sizeof *out + 1);
                assert_non_null(out);
                mva_stack_read(s, 0, np, out, &err);
                free(out);
            }
            mva_stack_close(s);
        } else {
            refused++;
            assert_true(err.msg[0] != '\0');
        }
    }
    print_message("mutated files: %d opened, %d refused\n", opened, refused);
    assert_true(opened > 20 && refused > 20);
    free(copy);
    free(good.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edf_round_trips_every_datatype_low_byte_first),
        cmocka_unit_test(test_edf_round_trips_every_datatype_high_byte_first),
        cmocka_unit_test(test_edf_long_is_64_bit_when_size_says_8_bytes),
        cmocka_unit_test(test_edf_reads_pymca_signed64_with_half_size),
        cmocka_unit_test(test_edf_keys_and_type_names_ignore_case),
        cmocka_unit_test(test_edf_data_start_after_header_whatever_the_padding),
        cmocka_unit_test(test_edf_series_stops_at_first_missing_number),
        cmocka_unit_test(test_edf_series_from_a_middle_file_starts_at_its_lowest_number),
        cmocka_unit_test(test_edf_single_2d_file_is_one_row),
        cmocka_unit_test(test_edf_1d_block_is_one_pixel),
        cmocka_unit_test(test_edf_explicit_list_in_given_order),
        cmocka_unit_test(test_edf_pattern_with_first_and_last),
        cmocka_unit_test(test_edf_pattern_reports_missing_file),
        cmocka_unit_test(test_edf_pattern_needs_one_integer_counter),
        cmocka_unit_test(test_edf_3d_file_is_the_whole_map),
        cmocka_unit_test(test_edf_multiblock_file_has_one_row_per_block),
        cmocka_unit_test(test_edf_gzip_files_read_through_zlib),
        cmocka_unit_test(test_edf_gzip_series),
        cmocka_unit_test(test_edf_reads_windows_across_file_boundaries),
        cmocka_unit_test(test_edf_long_series_keeps_few_files_open),
        cmocka_unit_test(test_edf_calibration_from_mca_keys),
        cmocka_unit_test(test_edf_shape_override),
        cmocka_unit_test(test_edf_rejects_shape_override_with_other_pixel_count),
        cmocka_unit_test(test_edf_is_edf_by_content),
        cmocka_unit_test(test_edf_rejects_truncated_block),
        cmocka_unit_test(test_edf_rejects_truncated_gzip_block),
        cmocka_unit_test(test_edf_read_reports_file_truncated_after_open),
        cmocka_unit_test(test_edf_rejects_unknown_datatype),
        cmocka_unit_test(test_edf_rejects_missing_required_keys),
        cmocka_unit_test(test_edf_rejects_size_inconsistent_with_dims),
        cmocka_unit_test(test_edf_rejects_header_without_closing_brace),
        cmocka_unit_test(test_edf_rejects_header_longer_than_1_mib),
        cmocka_unit_test(test_edf_rejects_series_file_of_other_shape),
        cmocka_unit_test(test_edf_rejects_blocks_of_other_shape),
        cmocka_unit_test(test_edf_rejects_non_numeric_dim),
        cmocka_unit_test(test_edf_rejects_absurd_sizes),
        cmocka_unit_test(test_edf_rejects_file_that_is_not_edf),
        cmocka_unit_test(test_edf_rejects_garbage_after_a_block),
        cmocka_unit_test(test_edf_rejects_compressed_blocks_and_external_data),
        cmocka_unit_test(test_edf_survives_mutated_files),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
