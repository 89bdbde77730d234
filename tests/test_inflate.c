/* Chunk decoding (io/inflate.c) and the conversion table (src/dtype.c): a chunk shuffled the
 * way HDF5's filter does (H5Zshuffle.c: byte b of value j at b * n + j) and deflated by zlib
 * decodes to the values, for 1-, 2-, 3-, 4- and 8-byte values, in either byte order, with
 * the filters a chunk's mask says were skipped left out; damaged chunks are refused with the
 * reason; every stored type converts to the double a C cast gives, swapped or transposed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "dtype.h"
#include "../io/inflate.h"
#include "mva/error.h"

enum { NVAL = 1000 };

static void shuffle_ref(const unsigned char *v, unsigned char *out, size_t n, size_t es)
{
    for (size_t j = 0; j < n; j++)
        for (size_t b = 0; b < es; b++)
            out[b * n + j] = v[j * es + b];
}

static void reverse_each(unsigned char *v, size_t n, size_t es)
{
    for (size_t j = 0; j < n; j++)
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            unsigned char t = v[j * es + a];
            v[j * es + a] = v[j * es + b];
            v[j * es + b] = t;
        }
}

/* The values, as stored in the file (byte order reversed when swap), shuffled when asked,
 * then deflated unless raw. */
static size_t make_chunk(const unsigned char *vals, size_t n, size_t es, int shuffle, int swap,
                         int deflate, unsigned char *out, size_t cap)
{
    size_t bytes = n * es;
    unsigned char *a = malloc(bytes), *b = malloc(bytes);
    memcpy(a, vals, bytes);
    if (swap)
        reverse_each(a, n, es);
    if (shuffle)
        shuffle_ref(a, b, n, es);
    else
        memcpy(b, a, bytes);
    uLongf got = (uLongf)cap;
    if (deflate)
        assert_int_equal(compress2(out, &got, b, (uLong)bytes, 6), Z_OK);
    else
        memcpy(out, b, got = (uLongf)bytes);
    free(a);
    free(b);
    return (size_t)got;
}

static void check_roundtrip(size_t es, int shuffle, int swap, uint32_t mask)
{
    size_t bytes = NVAL * es, cap = compressBound((uLong)bytes) + 16;
    unsigned char *vals = malloc(bytes), *raw = malloc(cap);
    unsigned char *tmp = malloc(bytes), *dst = malloc(bytes);
    for (size_t k = 0; k < bytes; k++) /* small counts: a compressible, realistic chunk */
        vals[k] = (unsigned char)(k % es == 0 ? (k * 7919) % 251 : k % 3);
    mva_chunk_codec c = {shuffle, shuffle ? 1u : 0u, shuffle ? 2u : 1u, swap, es, bytes};
    int skip_shuffle = (mask & c.bit_shuffle) != 0 || !shuffle;
    int skip_deflate = (mask & c.bit_deflate) != 0;
    size_t nraw = make_chunk(vals, NVAL, es, !skip_shuffle, swap, !skip_deflate, raw, cap);
    char why[MVA_CHUNK_WHY] = "";
    memset(dst, 0xAB, bytes);
    assert_int_equal(mva_chunk_decode(&c, raw, nraw, mask, tmp, dst, why), MVA_OK);
    assert_memory_equal(dst, vals, bytes);
    free(vals);
    free(raw);
    free(tmp);
    free(dst);
}

static void test_inflate_shuffled_chunks_of_every_size(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 2, 3, 4, 8};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int swap = 0; swap < 2; swap++) {
            check_roundtrip(sizes[i], 1, swap, 0);
            check_roundtrip(sizes[i], 0, swap, 0);
        }
}

static void test_inflate_honours_the_filter_mask(void **state)
{
    (void)state;
    check_roundtrip(4, 1, 0, 1u); /* shuffle skipped */
    check_roundtrip(4, 1, 0, 2u); /* deflate skipped */
    check_roundtrip(2, 1, 1, 3u); /* both skipped: stored as is, byte order still swapped */
    check_roundtrip(8, 0, 0, 1u); /* deflate alone, skipped */
}

static void test_inflate_refuses_damaged_chunks(void **state)
{
    (void)state;
    size_t es = 4, bytes = NVAL * es, cap = compressBound((uLong)bytes) + 16;
    unsigned char *vals = calloc(bytes, 1), *raw = malloc(cap);
    unsigned char *tmp = malloc(bytes), *dst = malloc(bytes);
    for (size_t k = 0; k < bytes; k++)
        vals[k] = (unsigned char)(k * 13);
    mva_chunk_codec c = {1, 1u, 2u, 0, es, bytes};
    size_t nraw = make_chunk(vals, NVAL, es, 1, 0, 1, raw, cap);
    char why[MVA_CHUNK_WHY];
    assert_int_equal(mva_chunk_decode(&c, raw, nraw / 2, 0, tmp, dst, why), MVA_EIO);
    assert_non_null(strstr(why, "compressed data end early"));
    c.chunk_bytes = bytes / 2; /* the stream holds more than the chunk should */
    assert_int_equal(mva_chunk_decode(&c, raw, nraw, 0, tmp, dst, why), MVA_EIO);
    assert_non_null(strstr(why, "more than the expected"));
    c.chunk_bytes = bytes;
    raw[0] ^= 0xff; /* not a zlib header */
    assert_int_equal(mva_chunk_decode(&c, raw, nraw, 0, tmp, dst, why), MVA_EIO);
    assert_non_null(strstr(why, "inflate failed"));
    assert_int_equal(mva_chunk_decode(&c, raw, bytes - 1, 2u, tmp, dst, why), MVA_EIO);
    assert_non_null(strstr(why, "stored without deflate"));
    free(vals);
    free(raw);
    free(tmp);
    free(dst);
}

#define CHECK_TYPE(ID, T, V0, V1)                                                              \
    do {                                                                                       \
        T v[2] = {(T)(V0), (T)(V1)};                                                           \
        unsigned char sw[sizeof v];                                                            \
        memcpy(sw, v, sizeof v);                                                               \
        reverse_each(sw, 2, sizeof(T));                                                        \
        double out[2];                                                                         \
        mva_dtype_to_double(ID, v, 2, 0, out);                                                 \
        assert_true(out[0] == (double)v[0] && out[1] == (double)v[1]);                         \
        mva_dtype_to_double(ID, sw, 2, 1, out);                                                \
        assert_true(out[0] == (double)v[0] && out[1] == (double)v[1]);                         \
        assert_int_equal(mva_dtype_size(ID), sizeof(T));                                       \
    } while (0)

static void test_dtype_converts_every_type_in_either_order(void **state)
{
    (void)state;
    CHECK_TYPE(MVA_DTYPE_INT8, int8_t, -128, 127);
    CHECK_TYPE(MVA_DTYPE_UINT8, uint8_t, 0, 255);
    CHECK_TYPE(MVA_DTYPE_INT16, int16_t, -32768, 12345);
    CHECK_TYPE(MVA_DTYPE_UINT16, uint16_t, 65535, 258);
    CHECK_TYPE(MVA_DTYPE_INT32, int32_t, INT32_MIN, 16909060);
    CHECK_TYPE(MVA_DTYPE_UINT32, uint32_t, UINT32_MAX, 16909060u);
    CHECK_TYPE(MVA_DTYPE_INT64, int64_t, INT64_MIN, (int64_t)1 << 53);
    CHECK_TYPE(MVA_DTYPE_UINT64, uint64_t, UINT64_MAX, 72623859790382856ull);
    CHECK_TYPE(MVA_DTYPE_FLOAT32, float, -1.5f, 3.25e30f);
    CHECK_TYPE(MVA_DTYPE_FLOAT64, double, -0.1, 1e300);
    assert_string_equal(mva_dtype_name(MVA_DTYPE_UINT16), "uint16");
    assert_int_equal(mva_dtype_size(MVA_DTYPE_UNKNOWN), 0);
}

static void test_dtype_transposes_channel_first_values(void **state)
{
    (void)state;
    enum { M = 130, PCH = 3 }; /* more pixels than one tile */
    uint16_t src[PCH * M];
    double out[M * PCH];
    for (size_t c = 0; c < PCH; c++)
        for (size_t j = 0; j < M; j++)
            src[c * M + j] = (uint16_t)(1000 * c + j);
    mva_dtype_to_double_t(MVA_DTYPE_UINT16, src, M, PCH, out);
    for (size_t j = 0; j < M; j++)
        for (size_t c = 0; c < PCH; c++)
            assert_true(out[j * PCH + c] == (double)(1000 * c + j));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inflate_shuffled_chunks_of_every_size),
        cmocka_unit_test(test_inflate_honours_the_filter_mask),
        cmocka_unit_test(test_inflate_refuses_damaged_chunks),
        cmocka_unit_test(test_dtype_converts_every_type_in_either_order),
        cmocka_unit_test(test_dtype_transposes_channel_first_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
