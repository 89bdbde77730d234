/*
 * Internal to io/: the EDF reader's files (plain or whole-file gzip) and headers
 * (io/edf_header.c), used by the reader proper (io/edf.c).  Format notes at the top of edf.c.
 */
#ifndef MVA_IO_EDFINT_H
#define MVA_IO_EDFINT_H

#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include "mva/stack.h"

#define FILE_CAP 4096             /* = sizeof(mva_stack_info.source) */
#define HEADER_CAP ((size_t)1 << 20) /* longest header accepted: 1 MiB */
#define HEADER_READ 4096          /* bytes read per step while looking for the '}' */
#define VALUE_CAP 96              /* longest header value kept (longer ones are invalid) */
#define GZ_BUFFER (256u << 10)

/* One parsed header. */
typedef struct edf_block {
    uint64_t header_off, data_off;
    uint64_t size;       /* Size: bytes of the data block; the next header follows them */
    uint64_t needed;     /* bytes the dims and type need (<= size) */
    size_t dim[3];       /* Dim_1, Dim_2, Dim_3; 1 when absent */
    int rank;
    mva_dtype dtype;
    int swap;
    mva_calib calib;     /* from "MCA a", "MCA b", "MCA c" */
} edf_block;

/* An open file: a descriptor, or a zlib stream for whole-file gzip. */
typedef struct edf_src {
    int fd;
    gzFile gz;
    uint64_t size;       /* on disk */
    uint32_t isize;      /* gzip trailer: uncompressed size mod 2^32 (RFC 1952) */
} edf_src;

/* Opens name (large: a data file that may be read at any offset); closes. */
int edf_src_open(edf_src *s, const char *name, int large, mva_error *err);
void edf_src_close(edf_src *s);

/* n bytes at off (decompressed offset for gzip); *got short only at the end of the file. */
int edf_src_read(edf_src *s, uint64_t off, void *buf, size_t n, size_t *got, const char *name,
                 mva_error *err);

/* Blanks between blocks: ' ', '\t', '\r', '\n', '\0'. */
int edf_is_blank(unsigned char c);

/* The first n characters of s are word, case-insensitively. */
int edf_same_word(const char *s, size_t n, const char *word);

/* Skips blanks from *pos: 1 with *pos at the next non-blank byte (in *c), 0 at the end of the
 * file, or an error status. */
int edf_skip_blanks(edf_src *s, uint64_t *pos, unsigned char *c, const char *name,
                    mva_error *err);

/* Reads the header starting with '{' at off into *hbuf (grown, *hcap bytes) up to the first
 * '}' + "\n" or "\r\n": *text_len the length of its text, *data_off where the data start. */
int edf_read_header(char **hbuf, size_t *hcap, edf_src *s, uint64_t off, size_t *text_len,
                    uint64_t *data_off, const char *name, mva_error *err);

/* Interprets a header's text: dims, type, byte order, size, calibration. */
int edf_parse_block(edf_block *b, const char *text, size_t len, const char *name,
                    mva_error *err);

#endif
