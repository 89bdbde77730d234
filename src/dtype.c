/* Stored types: their names and sizes, and the one conversion to double every reader uses.
 * One loop per type with the byte swap fused in, so that each loop vectorizes (compiled at
 * -O3, see the Makefile). */
#include <stdint.h>
#include <string.h>

#include "dtype.h"

#define TILE 64 /* pixels per tile of the channel-first transpose */

const char *mva_dtype_name(mva_dtype t)
{
    static const char *names[] = {"unknown", "int8",   "uint8",  "int16",   "uint16",  "int32",
                                  "uint32",  "int64",  "uint64", "float32", "float64"};
    if ((int)t < 0 || (size_t)t >= sizeof names / sizeof names[0])
        return "unknown";
    return names[t];
}

size_t mva_dtype_size(mva_dtype t)
{
    static const size_t sizes[] = {0, 1, 1, 2, 2, 4, 4, 8, 8, 4, 8};
    if ((int)t < 0 || (size_t)t >= sizeof sizes / sizeof sizes[0])
        return 0;
    return sizes[t];
}

static uint8_t bswap8(uint8_t x)
{
    return x;
}

static uint16_t bswap16(uint16_t x)
{
    return (uint16_t)(x << 8 | x >> 8);
}

static uint32_t bswap32(uint32_t x)
{
    return (x & 0xffu) << 24 | (x & 0xff00u) << 8 | (x >> 8 & 0xff00u) | x >> 24;
}

static uint64_t bswap64(uint64_t x)
{
    return (uint64_t)bswap32((uint32_t)x) << 32 | bswap32((uint32_t)(x >> 32));
}

/* T is the stored type, U the unsigned integer of its size (for the swap).  memcpy per value
 * keeps any alignment legal; compilers turn it into plain (vector) loads. */
#define DEFINE_CONVERT(NAME, T, U, SWAP)                                                       \
    static void NAME(const void *src, size_t n, int swap, double *out)                         \
    {                                                                                          \
        const unsigned char *s = src;                                                          \
        if (swap) {                                                                            \
            for (size_t k = 0; k < n; k++) {                                                   \
                U u;                                                                           \
                T v;                                                                           \
                memcpy(&u, s + k * sizeof u, sizeof u);                                        \
                u = SWAP(u);                                                                   \
                memcpy(&v, &u, sizeof v);                                                      \
                out[k] = (double)v;                                                            \
            }                                                                                  \
            return;                                                                            \
        }                                                                                      \
        for (size_t k = 0; k < n; k++) {                                                       \
            T v;                                                                               \
            memcpy(&v, s + k * sizeof v, sizeof v);                                            \
            out[k] = (double)v;                                                                \
        }                                                                                      \
    }                                                                                          \
    /* (p, m) -> (m, p) in tiles of pixels, so that reads and writes both stay in cache */    \
    static void NAME##_t(const void *src, size_t m, size_t p, double *out)                     \
    {                                                                                          \
        const T *s = src;                                                                      \
        for (size_t j0 = 0; j0 < m; j0 += TILE) {                                              \
            size_t j1 = j0 + TILE < m ? j0 + TILE : m;                                         \
            for (size_t c = 0; c < p; c++)                                                     \
                for (size_t j = j0; j < j1; j++)                                               \
                    out[j * p + c] = (double)s[c * m + j];                                     \
        }                                                                                      \
    }

DEFINE_CONVERT(cv_int8, int8_t, uint8_t, bswap8)
DEFINE_CONVERT(cv_uint8, uint8_t, uint8_t, bswap8)
DEFINE_CONVERT(cv_int16, int16_t, uint16_t, bswap16)
DEFINE_CONVERT(cv_uint16, uint16_t, uint16_t, bswap16)
DEFINE_CONVERT(cv_int32, int32_t, uint32_t, bswap32)
DEFINE_CONVERT(cv_uint32, uint32_t, uint32_t, bswap32)
DEFINE_CONVERT(cv_int64, int64_t, uint64_t, bswap64)
DEFINE_CONVERT(cv_uint64, uint64_t, uint64_t, bswap64)
DEFINE_CONVERT(cv_float32, float, uint32_t, bswap32)
DEFINE_CONVERT(cv_float64, double, uint64_t, bswap64)

static const struct {
    void (*flat)(const void *src, size_t n, int swap, double *out);
    void (*transposed)(const void *src, size_t m, size_t p, double *out);
} converters[] = {
    [MVA_DTYPE_INT8] = {cv_int8, cv_int8_t},          [MVA_DTYPE_UINT8] = {cv_uint8, cv_uint8_t},
    [MVA_DTYPE_INT16] = {cv_int16, cv_int16_t},       [MVA_DTYPE_UINT16] = {cv_uint16, cv_uint16_t},
    [MVA_DTYPE_INT32] = {cv_int32, cv_int32_t},       [MVA_DTYPE_UINT32] = {cv_uint32, cv_uint32_t},
    [MVA_DTYPE_INT64] = {cv_int64, cv_int64_t},       [MVA_DTYPE_UINT64] = {cv_uint64, cv_uint64_t},
    [MVA_DTYPE_FLOAT32] = {cv_float32, cv_float32_t}, [MVA_DTYPE_FLOAT64] = {cv_float64, cv_float64_t}};

void mva_dtype_to_double(mva_dtype t, const void *src, size_t n, int swap, double *out)
{
    converters[t].flat(src, n, swap, out);
}

void mva_dtype_to_double_t(mva_dtype t, const void *src, size_t m, size_t p, double *out)
{
    converters[t].transposed(src, m, p, out);
}
