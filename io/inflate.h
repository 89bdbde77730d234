/*
 * Internal to io/: decoding one raw HDF5 chunk written with deflate, optionally after the
 * shuffle filter, without HDF5 -- so that it can run on any thread (HDF5 1.10 serial is not
 * thread-safe).  Pure functions on caller buffers.
 */
#ifndef MVA_IO_INFLATE_H
#define MVA_IO_INFLATE_H

#include <stddef.h>
#include <stdint.h>

/* The filter pipeline of a dataset: deflate, or shuffle then deflate. */
typedef struct mva_chunk_codec {
    int shuffle;                 /* pipeline is shuffle, deflate (else deflate alone) */
    uint32_t bit_shuffle;        /* bits of the chunk's filter mask: a set bit means that */
    uint32_t bit_deflate;        /* filter was skipped when the chunk was written */
    int swap;                    /* file byte order differs from the host's */
    size_t es;                   /* bytes per value */
    size_t chunk_bytes;          /* decoded size of every chunk */
} mva_chunk_codec;

#define MVA_CHUNK_WHY 200        /* room for the reason a chunk does not decode */

/* HDF5's shuffle filter (H5Zshuffle.c) stores byte b of value j at b * n + j; this puts n
 * values of es bytes back, taking the byte planes in reverse order when swap is set (which
 * also swaps the bytes of every value). */
void mva_unshuffle(const unsigned char *src, unsigned char *dst, size_t n, size_t es, int swap);

/*
 * Raw chunk bytes (nraw of them, filter mask `mask` as H5Dread_chunk reports it) -> values in
 * host byte order at dst (c->chunk_bytes).  tmp (c->chunk_bytes) is scratch, needed when the
 * chunk is shuffled.  Returns MVA_OK, or MVA_EIO / MVA_ENOMEM with the reason in why.
 */
int mva_chunk_decode(const mva_chunk_codec *c, const unsigned char *raw, size_t nraw,
                     uint32_t mask, unsigned char *tmp, unsigned char *dst,
                     char why[MVA_CHUNK_WHY]);

#endif
