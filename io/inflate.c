/*
 * Decoding raw HDF5 chunks stored with deflate, optionally after shuffle (see inflate.h):
 * zlib's inflate, then the shuffle undone and the bytes put in host order in one step.
 * Compiled at -O3 (the Makefile): the unshuffle loops vectorize.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "inflate.h"
#include "mva/error.h"

/* Unshuffling is element-major, so that the writes stream; the byte size is a constant in
 * the common cases so that the inner loop unrolls.  Byte b of an es-byte value in memory is bits LANE(b, es) of the host-order word. */
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
void mva_unshuffle(const unsigned char *src, unsigned char *dst, size_t n, size_t es, int swap)
{
    const unsigned char *plane[8] = {NULL};
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
                         size_t want, char *why)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (nsrc > UINT_MAX) {
        snprintf(why, MVA_CHUNK_WHY, "%zu compressed bytes, more than zlib takes at once", nsrc);
        return MVA_EIO;
    }
    int z = inflateInit(&zs);
    if (z != Z_OK) {
        snprintf(why, MVA_CHUNK_WHY, "cannot start inflate: %s", zError(z));
        return z == Z_MEM_ERROR ? MVA_ENOMEM : MVA_EIO;
    }
    zs.next_in = (unsigned char *)src;
    zs.avail_in = (uInt)nsrc;
    zs.next_out = dst;
    zs.avail_out = (uInt)want;
    z = inflate(&zs, Z_FINISH);
    size_t got = (size_t)zs.total_out;
    if (z == Z_STREAM_END && got == want) {
        inflateEnd(&zs);
        return MVA_OK;
    }
    int code = z == Z_MEM_ERROR ? MVA_ENOMEM : MVA_EIO;
    if (z == Z_STREAM_END)
        snprintf(why, MVA_CHUNK_WHY, "inflates to %zu bytes, expected %zu", got, want);
    else if (z == Z_BUF_ERROR && zs.avail_out == 0)
        snprintf(why, MVA_CHUNK_WHY, "inflates to more than the expected %zu bytes", want);
    else if (z == Z_BUF_ERROR)
        snprintf(why, MVA_CHUNK_WHY,
                 "compressed data end early (%zu bytes inflate to %zu of the expected %zu)",
                 nsrc, got, want);
    else
        snprintf(why, MVA_CHUNK_WHY, "inflate failed: %s (%zu compressed bytes, expected %zu out)",
                 zs.msg ? zs.msg : zError(z), nsrc, want);
    inflateEnd(&zs);
    return code;
}

/* Raw chunk bytes -> values in host byte order at dst, honouring the chunk's filter mask: a
 * set bit means that filter was skipped when the chunk was written. */
int mva_chunk_decode(const mva_chunk_codec *c, const unsigned char *raw, size_t nraw,
                     uint32_t mask, unsigned char *tmp, unsigned char *dst,
                     char why[MVA_CHUNK_WHY])
{
    int deflated = !(mask & c->bit_deflate);
    int shuffled = c->shuffle && !(mask & c->bit_shuffle) && c->es > 1;
    const unsigned char *src = raw;
    if (deflated) {
        unsigned char *to = shuffled ? tmp : dst;
        int rc = inflate_exact(raw, nraw, to, c->chunk_bytes, why);
        if (rc != MVA_OK)
            return rc;
        src = to;
    } else if (nraw != c->chunk_bytes) {
        snprintf(why, MVA_CHUNK_WHY, "stored without deflate (filter mask 0x%x) in %zu bytes, "
                 "expected %zu", (unsigned)mask, nraw, c->chunk_bytes);
        return MVA_EIO;
    }
    size_t n = c->chunk_bytes / c->es;
    if (shuffled) {
        mva_unshuffle(src, dst, n, c->es, c->swap);
        return MVA_OK;
    }
    if (src != dst)
        memcpy(dst, src, c->chunk_bytes);
    if (c->swap)
        swap_bytes(dst, n, c->es);
    return MVA_OK;
}
