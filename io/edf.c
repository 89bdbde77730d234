/*
 * The EDF (ESRF data format) stack reader.
 *
 * Format, as fabio (fabio/edfimage.py) and PyMca (PyMca5/PyMcaIO/EdfFile.py) read it: a file
 * is a sequence of blocks, each an ASCII header from '{' to the first '}' followed by "\n"
 * (or "\r\n"), then Size bytes of data; blanks may separate blocks.  The header is made of
 * "key = value ;" lines, keys matched case-insensitively, the value ending at the first ';'.
 * Writers pad headers to 512 (fabio) or 1024 (PyMca) bytes or not at all; the data start
 * right after the closing "}\n" whatever the padding.
 *
 * The stack is the blocks of its files in order, every block map rows of the same width:
 * a 2-D block (Dim_2 = cols, Dim_1 = channels) is one row, a 3-D block Dim_3 rows, a 1-D block
 * one row of one pixel.  Open indexes every header once into segments (file, data offset,
 * first row; 24 bytes per block) and read converts whole-pixel ranges of them with pread
 * (or zlib for whole-file gzip) through a small buffer, swapping bytes when the file's byte
 * order is not the host's.  A few files are kept open; the rest are reopened on demand.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "mva/edf.h"
#include "mva/stack.h"
#include "dtype.h"
#include "numparse.h"

#define FILE_CAP 4096             /* = sizeof(mva_stack_info.source) */
#define HEADER_CAP ((size_t)1 << 20) /* longest header accepted: 1 MiB */
#define HEADER_READ 4096          /* bytes read per step while looking for the '}' */
#define VALUE_CAP 96              /* longest header value kept (longer ones are invalid) */
#define SCRATCH_BYTES ((size_t)256 << 10) /* raw bytes converted per step, stays in L2 */
#define GZ_BUFFER (256u << 10)
#define OPEN_FILES 8              /* files kept open while reading */

/* ---- the index ---- */

/* One block of data: rows first_row.. of the stack, stored at byte off of file `file`
 * (decompressed offset for gzip).  The block's row count is where the next one starts. */
typedef struct edf_seg {
    uint64_t off;
    size_t first_row;
    uint32_t file;
    uint32_t swap;
} edf_seg;

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

typedef struct edf_slot {
    size_t file;         /* SIZE_MAX when free */
    unsigned long used;
    edf_src src;
} edf_slot;

typedef struct edf_reader {
    /* files: an explicit list (names) or a numbered series prefix + counter + suffix */
    char **names;
    size_t nfiles;
    char *prefix, *suffix;
    int width, zero;
    long first;
    /* the stack */
    edf_seg *segs;
    size_t nsegs, segs_cap;
    size_t rows, cols, p;
    mva_dtype dtype;
    size_t es;
    uint64_t stored_bytes;
    size_t ngz;
    /* open: the first block and where it came from, and the header buffer */
    edf_block ref;
    size_t ref_file;
    char *hbuf;
    size_t hcap;
    /* read: open files and the conversion buffer */
    edf_slot slots[OPEN_FILES];
    unsigned long tick;
    unsigned char *scratch;
} edf_reader;

static int host_little(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The name of file k of the stack into buf (FILE_CAP chars). */
static const char *file_name(const edf_reader *r, size_t k, char *buf)
{
    if (r->names != NULL)
        snprintf(buf, FILE_CAP, "%s", r->names[k]);
    else
        snprintf(buf, FILE_CAP, r->zero ? "%s%0*ld%s" : "%s%*ld%s", r->prefix, r->width,
                 r->first + (long)k, r->suffix);
    return buf;
}

/* ---- files: plain or gzip ---- */

static void src_close(edf_src *s)
{
    if (s->gz != NULL)
        gzclose(s->gz);
    else if (s->fd >= 0)
        close(s->fd);
    s->gz = NULL;
    s->fd = -1;
}

static int pread_full(int fd, void *buf, size_t n, uint64_t off, size_t *got)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        done += (size_t)k;
    }
    *got = done;
    return 0;
}

/* Opens name; whole-file gzip (magic 1f 8b) is read through zlib, with a large buffer
 * for reading data (zlib's default of 8 KiB while indexing: a large one would inflate
 * hundreds of KiB of data to read a header). */
static int src_open(edf_src *s, const char *name, int large, mva_error *err)
{
    struct stat st;
    unsigned char magic[2] = {0, 0}, trailer[4] = {0, 0, 0, 0};
    size_t got = 0;
    s->gz = NULL;
    s->fd = open(name, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0)
        return mva_error_set(err, errno == ENOENT ? MVA_ENOTFOUND : MVA_EIO,
                             "%s: cannot open: %s", name, strerror(errno));
    if (fstat(s->fd, &st) != 0 || pread_full(s->fd, magic, 2, 0, &got) != 0) {
        int e = errno;
        src_close(s);
        return mva_error_set(err, MVA_EIO, "%s: cannot read: %s", name, strerror(e));
    }
    s->size = (uint64_t)st.st_size;
    if (got < 2 || magic[0] != 0x1f || magic[1] != 0x8b)
        return MVA_OK;
    if (s->size >= 18 && pread_full(s->fd, trailer, 4, s->size - 4, &got) == 0 && got == 4)
        s->isize = (uint32_t)trailer[0] | (uint32_t)trailer[1] << 8 |
                   (uint32_t)trailer[2] << 16 | (uint32_t)trailer[3] << 24;
    s->gz = gzdopen(s->fd, "rb");
    if (s->gz == NULL) {
        src_close(s);
        return mva_error_set(err, MVA_ENOMEM, "%s: cannot start zlib", name);
    }
    if (large)
        gzbuffer(s->gz, GZ_BUFFER);
    return MVA_OK;
}

/* Reads up to n bytes at (decompressed) offset off; *got < n only at the end of the file.
 * zlib emulates seeks: forward by decompressing, backward by rewinding. */
static int src_read(edf_src *s, uint64_t off, void *buf, size_t n, size_t *got,
                    const char *name, mva_error *err)
{
    if (s->gz == NULL) {
        if (pread_full(s->fd, buf, n, off, got) != 0)
            return mva_error_set(err, MVA_EIO, "%s: read error at byte offset %llu: %s", name,
                                 (unsigned long long)off, strerror(errno));
        return MVA_OK;
    }
    *got = 0;
    if (off > (uint64_t)LONG_MAX)
        return mva_error_set(err, MVA_EFORMAT, "%s: offset %llu too large for zlib", name,
                             (unsigned long long)off);
    if ((uint64_t)gztell(s->gz) != off && gzseek(s->gz, (z_off_t)off, SEEK_SET) < 0) {
        int zerr;
        const char *msg = gzerror(s->gz, &zerr);
        return mva_error_set(err, zerr == Z_ERRNO ? MVA_EIO : MVA_EFORMAT,
                             "%s: gzip: cannot seek to byte %llu: %s", name,
                             (unsigned long long)off, zerr == Z_ERRNO ? strerror(errno) : msg);
    }
    while (*got < n) {
        size_t want = n - *got < (1u << 30) ? n - *got : (1u << 30);
        int k = gzread(s->gz, (char *)buf + *got, (unsigned)want);
        if (k < 0) {
            int zerr;
            const char *msg = gzerror(s->gz, &zerr);
            return mva_error_set(err, zerr == Z_ERRNO ? MVA_EIO : MVA_EFORMAT,
                                 "%s: gzip stream corrupt near decompressed byte %llu: %s",
                                 name, (unsigned long long)(off + *got),
                                 zerr == Z_ERRNO ? strerror(errno) : msg);
        }
        if (k == 0)
            break;
        *got += (size_t)k;
    }
    return MVA_OK;
}

/* ---- header text ---- */

static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* s[0..n) equals the NUL-terminated word, ignoring ASCII case. */
static int same_word(const char *s, size_t n, const char *word)
{
    size_t k = 0;
    for (; k < n && word[k] != '\0'; k++)
        if (lower(s[k]) != lower(word[k]))
            return 0;
    return k == n && word[k] == '\0';
}

/* Copies a header value for a message: at most 40 characters, unprintables as '?'. */
static const char *quote(const char *v, char *buf, size_t cap)
{
    size_t k = 0;
    for (; v[k] != '\0' && k + 4 < cap && k < 40; k++)
        buf[k] = (v[k] >= 32 && v[k] < 127) ? v[k] : '?';
    if (v[k] != '\0')
        buf[k++] = '.', buf[k++] = '.', buf[k++] = '.';
    buf[k] = '\0';
    return buf;
}

enum {
    K_DIM1, K_DIM2, K_DIM3, K_DTYPE, K_ORDER, K_SIZE, K_BINSIZE, K_MCA_A, K_MCA_B, K_MCA_C,
    K_COMPRESSION, K_BINFILE, NKEYS
};

/* The keys this reader uses (EdfFile.py documents Dim_n, DataType, ByteOrder and Size as
 * required; PyMca writes the calibration as "MCA a/b/c"; fabio also writes EDF_BinarySize). */
static const char *const key_names[NKEYS] = {
    "Dim_1", "Dim_2", "Dim_3", "DataType", "ByteOrder", "Size", "EDF_BinarySize",
    "MCA a", "MCA b", "MCA c", "Compression", "EDF_BinaryFileName"};

typedef struct {
    char v[NKEYS][VALUE_CAP];
    unsigned char have[NKEYS];
} edf_keys;

/* Collects "key = value ;" lines of text[0..n); lines without '=' are comments.  A later
 * line wins over an earlier one with the same key, as in PyMca's dictionary. */
static void parse_keys(const char *text, size_t n, edf_keys *keys)
{
    memset(keys->have, 0, sizeof keys->have);
    for (size_t at = 0; at < n;) {
        const char *line = text + at;
        const char *nl = memchr(line, '\n', n - at);
        size_t len = nl ? (size_t)(nl - line) : n - at;
        at += len + 1;
        const char *eq = memchr(line, '=', len);
        if (eq == NULL)
            continue;
        const char *k0 = line, *k1 = eq;
        while (k0 < k1 && is_blank((unsigned char)*k0))
            k0++;
        while (k1 > k0 && is_blank((unsigned char)k1[-1]))
            k1--;
        const char *v0 = eq + 1, *v1 = line + len;
        const char *semi = memchr(v0, ';', (size_t)(v1 - v0));
        if (semi != NULL)
            v1 = semi;
        while (v0 < v1 && is_blank((unsigned char)*v0))
            v0++;
        while (v1 > v0 && is_blank((unsigned char)v1[-1]))
            v1--;
        for (int k = 0; k < NKEYS; k++) {
            if (!same_word(k0, (size_t)(k1 - k0), key_names[k]))
                continue;
            size_t vl = (size_t)(v1 - v0);
            char *dst = keys->v[k];
            if (vl < VALUE_CAP) {
                memcpy(dst, v0, vl);
                dst[vl] = '\0';
            } else {
                /* cut, and marked by a control character that no number or name has */
                memcpy(dst, v0, VALUE_CAP - 2);
                dst[VALUE_CAP - 2] = '\x01';
                dst[VALUE_CAP - 1] = '\0';
            }
            keys->have[k] = 1;
        }
    }
}

/* ---- header: finding, reading, interpreting ---- */

/* Skips blanks from *pos.  Returns 1 with *pos at the next non-blank byte, 0 at the end of
 * the file, or an error status. */
static int skip_blanks(edf_src *s, uint64_t *pos, unsigned char *c, const char *name,
                       mva_error *err)
{
    unsigned char buf[512];
    for (;;) {
        size_t got;
        int rc = src_read(s, *pos, buf, sizeof buf, &got, name, err);
        if (rc != MVA_OK)
            return rc;
        for (size_t k = 0; k < got; k++) {
            if (!is_blank(buf[k])) {
                *pos += k;
                *c = buf[k];
                return 1;
            }
        }
        *pos += got;
        if (got < sizeof buf)
            return 0;
    }
}

/* Reads the header starting with '{' at off into r->hbuf until the first '}' + "\n" or
 * "\r\n"; *text_len gets the length of the header text up to that '}', *data_off where the
 * data start.  Headers are capped at HEADER_CAP bytes. */
static int read_header(edf_reader *r, edf_src *s, uint64_t off, size_t *text_len,
                       uint64_t *data_off, const char *name, mva_error *err)
{
    size_t len = 0, scanned = 1;
    for (;;) {
        if (len + HEADER_READ > r->hcap) {
            size_t cap = r->hcap ? 2 * r->hcap : 2 * HEADER_READ;
            if (cap > HEADER_CAP + HEADER_READ)
                cap = HEADER_CAP + HEADER_READ;
            char *b = realloc(r->hbuf, cap);
            if (b == NULL)
                return mva_error_set(err, MVA_ENOMEM, "%s: out of memory reading a header",
                                     name);
            r->hbuf = b;
            r->hcap = cap;
        }
        size_t got;
        int rc = src_read(s, off + len, r->hbuf + len, HEADER_READ, &got, name, err);
        if (rc != MVA_OK)
            return rc;
        len += got;
        /* '}' at the end may still get its newline from the next read: rescan from it */
        for (; scanned < len; scanned++) {
            if (r->hbuf[scanned] != '}')
                continue;
            size_t nl = scanned + 1;
            if (nl < len && r->hbuf[nl] == '\r')
                nl++;
            if (nl >= len)
                break;
            if (r->hbuf[nl] == '\n') {
                *text_len = scanned;
                *data_off = off + nl + 1;
                return MVA_OK;
            }
        }
        if (got < HEADER_READ)
            return mva_error_set(err, MVA_EFORMAT,
                                 "%s: header starting at byte offset %llu has no closing '}' "
                                 "followed by a newline (the file ends at byte %llu)",
                                 name, (unsigned long long)off,
                                 (unsigned long long)(off + len));
        if (len >= HEADER_CAP)
            return mva_error_set(err, MVA_EFORMAT,
                                 "%s: header starting at byte offset %llu has no closing '}' "
                                 "within 1 MiB (headers longer than 1 MiB are refused)",
                                 name, (unsigned long long)off);
    }
}

/* DataType names of fabio's DATA_TYPES and PyMca's GetDefaultNumpyType, matched ignoring
 * case as PyMca does.  SignedLong/UnsignedLong are 32-bit (ESRF acquisition) unless Size
 * says 8 bytes per value (EdfFile.GetDefaultNumpyType). */
static const struct {
    const char *name;
    mva_dtype t;
} data_types[] = {
    {"SignedByte", MVA_DTYPE_INT8},       {"Signed8", MVA_DTYPE_INT8},
    {"UnsignedByte", MVA_DTYPE_UINT8},    {"Unsigned8", MVA_DTYPE_UINT8},
    {"SignedShort", MVA_DTYPE_INT16},     {"Signed16", MVA_DTYPE_INT16},
    {"UnsignedShort", MVA_DTYPE_UINT16},  {"Unsigned16", MVA_DTYPE_UINT16},
    {"UnsignedShortInteger", MVA_DTYPE_UINT16},
    {"SignedInteger", MVA_DTYPE_INT32},   {"Signed32", MVA_DTYPE_INT32},
    {"UnsignedInteger", MVA_DTYPE_UINT32}, {"Unsigned32", MVA_DTYPE_UINT32},
    {"SignedLong", MVA_DTYPE_INT32},      {"UnsignedLong", MVA_DTYPE_UINT32},
    {"Signed64", MVA_DTYPE_INT64},        {"Unsigned64", MVA_DTYPE_UINT64},
    {"FloatValue", MVA_DTYPE_FLOAT32},    {"Float", MVA_DTYPE_FLOAT32},
    {"FloatIEEE32", MVA_DTYPE_FLOAT32},   {"Float32", MVA_DTYPE_FLOAT32},
    {"DoubleValue", MVA_DTYPE_FLOAT64},   {"Double", MVA_DTYPE_FLOAT64},
    {"FloatIEEE64", MVA_DTYPE_FLOAT64},   {"DoubleIEEE64", MVA_DTYPE_FLOAT64}};

static int parse_dims(edf_block *b, const edf_keys *keys, const char *where, mva_error *err)
{
    char q[64];
    if (!keys->have[K_DIM1])
        return mva_error_set(err, MVA_EFORMAT, "%s: missing Dim_1", where);
    b->rank = keys->have[K_DIM3] ? 3 : keys->have[K_DIM2] ? 2 : 1;
    for (int k = 0; k < 3; k++) {
        b->dim[k] = 1;
        if (!keys->have[K_DIM1 + k])
            continue;
        if (mva_parse_size(keys->v[K_DIM1 + k], &b->dim[k]) != 0)
            return mva_error_set(err, MVA_EFORMAT,
                                 "%s: Dim_%d = \"%s\" is not a non-negative integer", where,
                                 k + 1, quote(keys->v[K_DIM1 + k], q, sizeof q));
        if (b->dim[k] == 0)
            return mva_error_set(err, MVA_EFORMAT, "%s: Dim_%d = 0, an empty block", where,
                                 k + 1);
    }
    return MVA_OK;
}

static int parse_type(edf_block *b, const edf_keys *keys, const char *where, mva_error *err)
{
    char q[64];
    if (!keys->have[K_DTYPE])
        return mva_error_set(err, MVA_EFORMAT, "%s: missing DataType", where);
    const char *v = keys->v[K_DTYPE];
    b->dtype = MVA_DTYPE_UNKNOWN;
    for (size_t k = 0; k < sizeof data_types / sizeof data_types[0]; k++)
        if (same_word(v, strlen(v), data_types[k].name))
            b->dtype = data_types[k].t;
    if (b->dtype == MVA_DTYPE_UNKNOWN)
        return mva_error_set(err, MVA_EFORMAT,
                             "%s: unknown DataType \"%s\" (expected SignedByte, UnsignedByte, "
                             "SignedShort, UnsignedShort, SignedInteger, UnsignedInteger, "
                             "SignedLong, UnsignedLong, Signed64, Unsigned64, FloatValue or "
                             "DoubleValue)",
                             where, quote(v, q, sizeof q));
    if (!keys->have[K_ORDER])
        return mva_error_set(err, MVA_EFORMAT, "%s: missing ByteOrder", where);
    int little;
    if (same_word(keys->v[K_ORDER], strlen(keys->v[K_ORDER]), "LowByteFirst"))
        little = 1;
    else if (same_word(keys->v[K_ORDER], strlen(keys->v[K_ORDER]), "HighByteFirst"))
        little = 0;
    else
        return mva_error_set(err, MVA_EFORMAT,
                             "%s: ByteOrder \"%s\", expected LowByteFirst or HighByteFirst",
                             where, quote(keys->v[K_ORDER], q, sizeof q));
    b->swap = little != host_little();
    return MVA_OK;
}

/* Size against the dims: never fewer bytes than the dims need; more is padding that the
 * next header follows (fabio reads such blocks too). */
static int parse_size(edf_block *b, const edf_keys *keys, const char *where, mva_error *err)
{
    char q[64];
    int k = keys->have[K_SIZE] ? K_SIZE : K_BINSIZE;
    size_t size, n, n2;
    if (!keys->have[k])
        return mva_error_set(err, MVA_EFORMAT, "%s: missing Size", where);
    if (mva_parse_size(keys->v[k], &size) != 0)
        return mva_error_set(err, MVA_EFORMAT, "%s: %s = \"%s\" is not a byte count", where,
                             key_names[k], quote(keys->v[k], q, sizeof q));
    if (mva_size_mul(b->dim[0], b->dim[1], &n2) != MVA_OK ||
        mva_size_mul(n2, b->dim[2], &n) != MVA_OK || n > SIZE_MAX / 8)
        return mva_error_set(err, MVA_EFORMAT,
                             "%s: absurd dimensions Dim_1 x Dim_2 x Dim_3 = %zu x %zu x %zu "
                             "(the product overflows)",
                             where, b->dim[0], b->dim[1], b->dim[2]);
    /* EdfFile.GetDefaultNumpyType: Size / (Dim_1 Dim_2 Dim_3) == 8 makes a Long 64-bit */
    if (size / 8 == n && size % 8 == 0 && b->dtype == MVA_DTYPE_INT32 &&
        same_word(keys->v[K_DTYPE], strlen(keys->v[K_DTYPE]), "SignedLong"))
        b->dtype = MVA_DTYPE_INT64;
    if (size / 8 == n && size % 8 == 0 && b->dtype == MVA_DTYPE_UINT32 &&
        same_word(keys->v[K_DTYPE], strlen(keys->v[K_DTYPE]), "UnsignedLong"))
        b->dtype = MVA_DTYPE_UINT64;
    b->needed = (uint64_t)n * mva_dtype_size(b->dtype);
    /* PyMca's EdfFile under Python 3 writes int64/uint64 arrays as Signed64/Unsigned64
     * with all their bytes but Size = 4 bytes per value (its __GetSizeNumpyType__ takes
     * numpy's int64 for the 32-bit 'l'); PyMca reads them by the dims. */
    if ((b->dtype == MVA_DTYPE_INT64 || b->dtype == MVA_DTYPE_UINT64) && size / 4 == n &&
        size % 4 == 0)
        size = (size_t)b->needed;
    b->size = size;
    if (b->size < b->needed)
        return mva_error_set(err, MVA_EFORMAT,
                             "%s: Size = %zu bytes is inconsistent with the dimensions: "
                             "Dim_1 x Dim_2 x Dim_3 = %zu x %zu x %zu values of %s (%zu bytes "
                             "each) need %llu bytes",
                             where, size, b->dim[0], b->dim[1], b->dim[2], keys->v[K_DTYPE],
                             mva_dtype_size(b->dtype), (unsigned long long)b->needed);
    return MVA_OK;
}

/* Calibration from PyMca's "MCA a", "MCA b", "MCA c" keys (c may be absent). */
static void parse_calib(edf_block *b, const edf_keys *keys)
{
    double v[3] = {0, 0, 0};
    memset(&b->calib, 0, sizeof b->calib);
    if (!keys->have[K_MCA_A] || !keys->have[K_MCA_B] ||
        mva_parse_double(keys->v[K_MCA_A], &v[0]) != 0 ||
        mva_parse_double(keys->v[K_MCA_B], &v[1]) != 0 ||
        (keys->have[K_MCA_C] && mva_parse_double(keys->v[K_MCA_C], &v[2]) != 0))
        return;
    if (!isfinite(v[0]) || !isfinite(v[1]) || !isfinite(v[2]))
        return;
    b->calib.known = 1;
    b->calib.a = v[0];
    b->calib.b = v[1];
    b->calib.c = v[2];
}

static int parse_block(edf_block *b, const char *text, size_t len, const char *name,
                       mva_error *err)
{
    edf_keys keys;
    char where[FILE_CAP + 64], q[64];
    snprintf(where, sizeof where, "%s: header at byte offset %llu", name,
             (unsigned long long)b->header_off);
    parse_keys(text, len, &keys);
    int rc = parse_dims(b, &keys, where, err);
    if (rc == MVA_OK)
        rc = parse_type(b, &keys, where, err);
    if (rc == MVA_OK)
        rc = parse_size(b, &keys, where, err);
    if (rc != MVA_OK)
        return rc;
    /* fabio: a Compression starting with "No" ("None", "NoCompression") means none. */
    if (keys.have[K_COMPRESSION] && !same_word(keys.v[K_COMPRESSION], 2, "no"))
        return mva_error_set(err, MVA_EUNSUPPORTED,
                             "%s: Compression = \"%s\" is not supported (only uncompressed "
                             "blocks, or whole-file gzip)",
                             where, quote(keys.v[K_COMPRESSION], q, sizeof q));
    if (keys.have[K_BINFILE])
        return mva_error_set(err, MVA_EUNSUPPORTED,
                             "%s: data in an external file (EDF_BinaryFileName = \"%s\") are "
                             "not supported",
                             where, quote(keys.v[K_BINFILE], q, sizeof q));
    parse_calib(b, &keys);
    return MVA_OK;
}

/* ---- indexing ---- */

static void fmt_shape(const edf_block *b, char *buf, size_t cap)
{
    if (b->rank == 3)
        snprintf(buf, cap, "%zu x %zu x %zu (Dim_3 x Dim_2 x Dim_1)", b->dim[2], b->dim[1],
                 b->dim[0]);
    else if (b->rank == 2)
        snprintf(buf, cap, "%zu x %zu (Dim_2 x Dim_1)", b->dim[1], b->dim[0]);
    else
        snprintf(buf, cap, "%zu (Dim_1)", b->dim[0]);
}

/* Checks block b (block nb of file k) against the first block of the stack and appends it
 * as rows of the stack. */
static int add_block(edf_reader *r, size_t k, size_t nb, const edf_block *b, const char *name,
                     mva_error *err)
{
    size_t cols = b->dim[1], rows = b->rank == 3 ? b->dim[2] : 1;
    if (r->nsegs == 0) {
        r->ref = *b;
        r->ref_file = k;
        r->cols = cols;
        r->p = b->dim[0];
        r->dtype = b->dtype;
        r->es = mva_dtype_size(b->dtype);
    } else if (cols != r->cols || b->dim[0] != r->p || b->dtype != r->dtype) {
        char s1[96], s2[96], other[FILE_CAP], where[FILE_CAP + 64];
        const edf_block *a = &r->ref;
        int same = k == r->ref_file;
        if (same)
            snprintf(where, sizeof where, "block 0 (byte offset %llu)",
                     (unsigned long long)a->header_off);
        else
            snprintf(where, sizeof where, "%s", file_name(r, r->ref_file, other));
        fmt_shape(a, s1, sizeof s1);
        fmt_shape(b, s2, sizeof s2);
        if (b->dtype != r->dtype)
            return mva_error_set(err, MVA_EFORMAT,
                                 "%s: block %zu (byte offset %llu) holds %s values, %s holds "
                                 "%s: all blocks of a stack must have one data type",
                                 name, nb, (unsigned long long)b->header_off,
                                 mva_dtype_name(b->dtype), where, mva_dtype_name(r->dtype));
        return mva_error_set(err, MVA_EFORMAT,
                             "%s: block %zu (byte offset %llu) has shape %s but %s has shape "
                             "%s: the rows of a stack need the same Dim_2 and Dim_1",
                             name, nb, (unsigned long long)b->header_off, s2, where, s1);
    }
    if (r->rows > SIZE_MAX - rows || k > UINT32_MAX)
        return mva_error_set(err, MVA_EFORMAT, "%s: too many rows for this machine", name);
    if (r->nsegs == r->segs_cap) {
        size_t cap = r->segs_cap ? 2 * r->segs_cap : 16;
        edf_seg *s = cap < SIZE_MAX / sizeof *s ? realloc(r->segs, cap * sizeof *s) : NULL;
        if (s == NULL)
            return mva_error_set(err, MVA_ENOMEM, "%s: out of memory indexing blocks", name);
        r->segs = s;
        r->segs_cap = cap;
    }
    edf_seg *g = &r->segs[r->nsegs++];
    g->off = b->data_off;
    g->first_row = r->rows;
    g->file = (uint32_t)k;
    g->swap = (uint32_t)b->swap;
    r->rows += rows;
    return MVA_OK;
}

/* Checks that the data of block b are present.  For gzip, *last says the block ends where
 * the gzip trailer says the stream ends, so that no further block needs to be looked for. */
static int check_data(edf_src *s, const edf_block *b, int *last, const char *name,
                      mva_error *err)
{
    uint64_t end = b->data_off + b->size;
    *last = 0;
    if (b->size > UINT64_MAX - b->data_off || (s->gz == NULL && end > s->size))
        return mva_error_set(err, MVA_EFORMAT,
                             "%s: truncated data block at byte offset %llu (header at %llu): "
                             "%llu bytes expected, %llu present",
                             name, (unsigned long long)b->data_off,
                             (unsigned long long)b->header_off, (unsigned long long)b->size,
                             (unsigned long long)(s->size > b->data_off ? s->size - b->data_off
                                                                        : 0));
    if (s->gz == NULL) {
        *last = end == s->size;
        return MVA_OK;
    }
    if ((uint32_t)end == s->isize) {
        *last = 1;
        return MVA_OK;
    }
    /* Otherwise the stream is decompressed up to the block's last byte. */
    unsigned char c;
    size_t got = 1;
    int rc = b->size ? src_read(s, end - 1, &c, 1, &got, name, err) : MVA_OK;
    if (rc == MVA_OK && got == 0)
        rc = mva_error_set(err, MVA_EFORMAT,
                           "%s: truncated data block at decompressed byte offset %llu (header "
                           "at %llu): %llu bytes expected, the gzip stream ends before",
                           name, (unsigned long long)b->data_off,
                           (unsigned long long)b->header_off, (unsigned long long)b->size);
    return rc;
}

/* The block at or after *pos (blanks skipped) into b: 1 when there is one, 0 at the end of
 * the file, or an error status.  nb is its number in the file, for messages. */
static int next_block(edf_reader *r, edf_src *s, uint64_t *pos, size_t nb, edf_block *b,
                      int *last, const char *name, mva_error *err)
{
    unsigned char c = 0;
    size_t text_len = 0;
    memset(b, 0, sizeof *b);
    int rc = skip_blanks(s, pos, &c, name, err);
    if (rc == 0 && nb == 0)
        return mva_error_set(err, MVA_EFORMAT, "%s: not an EDF file: %s", name,
                             s->size ? "only blanks, no '{' header" : "empty (0 bytes)");
    if (rc == 1 && c != '{' && nb == 0)
        return mva_error_set(err, MVA_EFORMAT,
                             "%s: not an EDF file: %llu blanks, then byte offset %llu is "
                             "0x%02x, not the '{' of a header",
                             name, (unsigned long long)*pos, (unsigned long long)*pos, c);
    if (rc == 1 && c != '{')
        return mva_error_set(err, MVA_EFORMAT,
                             "%s: after block %zu, byte offset %llu: expected '{' of a header "
                             "or the end of the file, found byte 0x%02x",
                             name, nb - 1, (unsigned long long)*pos, c);
    if (rc != 1)
        return rc;
    b->header_off = *pos;
    if ((rc = read_header(r, s, *pos, &text_len, &b->data_off, name, err)) != MVA_OK ||
        (rc = parse_block(b, r->hbuf + 1, text_len - 1, name, err)) != MVA_OK ||
        (rc = check_data(s, b, last, name, err)) != MVA_OK)
        return rc;
    *pos = b->data_off + b->size;
    return 1;
}

/* Indexes every block of file k; *nblocks gets their number, *first the first block. */
static int index_file(edf_reader *r, size_t k, size_t *nblocks, edf_block *first,
                      mva_error *err)
{
    char name[FILE_CAP];
    edf_src s;
    edf_block b;
    uint64_t pos = 0;
    size_t nb = 0;
    int rc, last = 0;
    file_name(r, k, name);
    if ((rc = src_open(&s, name, 0, err)) != MVA_OK)
        return rc;
    while (!last && (rc = next_block(r, &s, &pos, nb, &b, &last, name, err)) == 1) {
        if ((rc = add_block(r, k, nb, &b, name, err)) != MVA_OK)
            break;
        if (nb++ == 0)
            *first = b;
        if (s.gz == NULL)
            r->stored_bytes += b.needed;
    }
    if (rc >= 0) {
        rc = MVA_OK;
        *nblocks = nb;
        if (s.gz != NULL) {
            r->stored_bytes += s.size;
            r->ngz++;
        }
    }
    src_close(&s);
    return rc;
}

static int index_all(edf_reader *r, mva_error *err)
{
    edf_block b;
    size_t nb;
    for (size_t k = 0; k < r->nfiles; k++) {
        int rc = index_file(r, k, &nb, &b, err);
        if (rc == MVA_ENOTFOUND)
            return mva_error_prefix(err, rc, "file %zu of %zu of the %s: ", k + 1, r->nfiles,
                                    r->names ? "list" : "series");
        if (rc != MVA_OK)
            return rc;
    }
    return MVA_OK;
}

/* ---- which files: list, pattern, numbered series ---- */

static int set_list(edf_reader *r, const char *const *files, size_t n, mva_error *err)
{
    r->names = n < SIZE_MAX / sizeof *r->names ? calloc(n, sizeof *r->names) : NULL;
    if (r->names == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory for a list of %zu files", n);
    r->nfiles = n;
    for (size_t k = 0; k < n; k++) {
        if (files[k] == NULL || strlen(files[k]) >= FILE_CAP)
            return mva_error_set(err, MVA_EINVAL, "file %zu of the list: %s", k,
                                 files[k] ? "name too long" : "NULL name");
        if ((r->names[k] = strdup(files[k])) == NULL)
            return mva_error_set(err, MVA_ENOMEM, "out of memory for a list of %zu files", n);
    }
    return MVA_OK;
}

static int set_numbered(edf_reader *r, const char *prefix, size_t plen, const char *suffix,
                        int width, int zero, long first, size_t n, mva_error *err)
{
    free(r->prefix);
    free(r->suffix);
    r->prefix = malloc(plen + 1);
    r->suffix = strdup(suffix);
    if (r->prefix == NULL || r->suffix == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory for a series of %zu files", n);
    memcpy(r->prefix, prefix, plen);
    r->prefix[plen] = '\0';
    r->width = width;
    r->zero = zero;
    r->first = first;
    r->nfiles = n;
    return MVA_OK;
}

/* A printf-style pattern with one counter: %d, %i or %u with an optional 0 flag, width
 * and l; "%%" is a percent sign.  It is taken apart rather than passed to printf. */
static int set_pattern(edf_reader *r, const char *pat, long first, long last, mva_error *err)
{
    char prefix[FILE_CAP], suffix[FILE_CAP];
    size_t plen = 0, slen = 0;
    int count = 0, width = 0, zero = 0;
    for (const char *c = pat; *c; c++) {
        char *dst = count ? suffix : prefix;
        size_t *len = count ? &slen : &plen;
        if (*len + 1 >= FILE_CAP)
            return mva_error_set(err, MVA_EINVAL, "pattern too long: %.64s...", pat);
        if (c[0] != '%' || c[1] == '%') {
            dst[(*len)++] = *c;
            c += c[0] == '%';
            continue;
        }
        c++;
        if (*c == '0')
            zero = 1, c++;
        for (; *c >= '0' && *c <= '9' && width < 100; c++)
            width = 10 * width + (*c - '0');
        while (*c == 'l')
            c++;
        if (count++ || (*c != 'd' && *c != 'i' && *c != 'u') || width >= 100)
            return mva_error_set(err, MVA_EINVAL,
                                 "pattern %s: expected exactly one %%d-style counter "
                                 "(e.g. map_%%04d.edf)",
                                 pat);
    }
    if (count == 0)
        return mva_error_set(err, MVA_EINVAL,
                             "pattern %s: no %%d-style counter (e.g. map_%%04d.edf)", pat);
    if (first < 0 || last < first)
        return mva_error_set(err, MVA_EINVAL, "pattern %s: invalid range first %ld, last %ld",
                             pat, first, last);
    suffix[slen] = '\0';
    if (plen + slen + 24 >= FILE_CAP)
        return mva_error_set(err, MVA_EINVAL, "pattern too long: %.64s...", pat);
    return set_numbered(r, prefix, plen, suffix, width, zero, first,
                        (size_t)((unsigned long)last - (unsigned long)first) + 1, err);
}

static int exists(const edf_reader *r, long number)
{
    char name[FILE_CAP];
    struct stat st;
    snprintf(name, sizeof name, r->zero ? "%s%0*ld%s" : "%s%*ld%s", r->prefix, r->width,
             number, r->suffix);
    return stat(name, &st) == 0;
}

/*
 * The series of a numbered file, after PyMca's EDFStack.loadIndexedStack: the counter is
 * the last run of digits in the base name, printed with its zero-padded width ("%0Nd"), and
 * the files are consecutive up to the first missing number.  PyMca starts from the lowest
 * existing number >= 0; here the series starts at the lowest number from which the files
 * run without a gap to the given one, which is the same series unless a gap lies below the
 * given file (PyMca then returns files that do not include it).  Returns the number of
 * files (1 when the name has no counter or no neighbour) or a negative status.
 */
static int find_series(edf_reader *r, const char *input, size_t *nfiles, mva_error *err)
{
    const char *base = base_name(input);
    size_t end = strlen(base);
    while (end > 0 && !(base[end - 1] >= '0' && base[end - 1] <= '9'))
        end--;
    size_t start = end;
    while (start > 0 && base[start - 1] >= '0' && base[start - 1] <= '9')
        start--;
    *nfiles = 1;
    if (end == 0 || end - start > 15 || strlen(input) + 24 >= FILE_CAP)
        return MVA_OK;
    long n = 0;
    for (size_t k = start; k < end; k++)
        n = 10 * n + (base[k] - '0');
    int rc = set_numbered(r, input, (size_t)(base - input) + start, base + end,
                          (int)(end - start), 1, n, 1, err);
    if (rc != MVA_OK)
        return rc;
    long lo = n, hi = n;
    while (lo > 0 && exists(r, lo - 1))
        lo--;
    while (hi < LONG_MAX && exists(r, hi + 1))
        hi++;
    *nfiles = (size_t)(hi - lo) + 1;
    r->first = lo;
    return MVA_OK;
}

/* A single INPUT: its blocks, extended to its numbered series when it is one 2-D block. */
static int open_single(edf_reader *r, const char *input, mva_error *err)
{
    const char *one[1] = {input};
    edf_block b;
    size_t nb, n;
    int rc = set_list(r, one, 1, err);
    if (rc == MVA_OK)
        rc = index_file(r, 0, &nb, &b, err);
    if (rc != MVA_OK || nb != 1 || b.rank != 2)
        return rc;
    if ((rc = find_series(r, input, &n, err)) != MVA_OK || n == 1)
        return rc;
    free(r->names[0]);
    free(r->names);
    r->names = NULL;
    r->nfiles = n;
    r->nsegs = r->rows = 0;
    r->stored_bytes = 0;
    r->ngz = 0;
    return index_all(r, err);
}

/* ---- reading ---- */

/* The open file k, from the cache or opened in the least recently used slot. */
static int get_src(edf_reader *r, size_t k, edf_src **out, mva_error *err)
{
    edf_slot *lru = &r->slots[0];
    r->tick++;
    for (int i = 0; i < OPEN_FILES; i++) {
        edf_slot *sl = &r->slots[i];
        if (sl->file == k) {
            sl->used = r->tick;
            *out = &sl->src;
            return MVA_OK;
        }
        if (sl->used < lru->used) /* a free slot has used = 0 */
            lru = sl;
    }
    char name[FILE_CAP];
    if (lru->file != SIZE_MAX)
        src_close(&lru->src);
    lru->file = SIZE_MAX;
    lru->used = 0;
    int rc = src_open(&lru->src, file_name(r, k, name), 1, err);
    if (rc != MVA_OK)
        return rc;
    lru->file = k;
    lru->used = r->tick;
    *out = &lru->src;
    return MVA_OK;
}

/* Values [v0, v0 + nv) of segment s into out, in steps of at most SCRATCH_BYTES. */
static int read_values(edf_reader *r, size_t s, size_t v0, size_t nv, double *out,
                       mva_error *err)
{
    const edf_seg *g = &r->segs[s];
    edf_src *src;
    int rc = get_src(r, g->file, &src, err);
    if (rc != MVA_OK)
        return rc;
    int direct = r->dtype == MVA_DTYPE_FLOAT64 && !g->swap;
    size_t step = direct ? nv : SCRATCH_BYTES / r->es;
    for (size_t done = 0; done < nv;) {
        size_t n = nv - done < step ? nv - done : step, got;
        unsigned char *dst = direct ? (unsigned char *)(out + done) : r->scratch;
        uint64_t off = g->off + (uint64_t)(v0 + done) * r->es;
        char name[FILE_CAP];
        if ((rc = src_read(src, off, dst, n * r->es, &got, file_name(r, g->file, name), err)) !=
            MVA_OK)
            return rc;
        if (got < n * r->es) {
            size_t rows = (s + 1 < r->nsegs ? r->segs[s + 1].first_row : r->rows) - g->first_row;
            return mva_error_set(err, MVA_EFORMAT,
                                 "%s: truncated data block at byte offset %llu: %llu bytes "
                                 "expected, %llu present",
                                 name, (unsigned long long)g->off,
                                 (unsigned long long)rows * r->cols * r->p * r->es,
                                 (unsigned long long)(off + got - g->off));
        }
        if (!direct)
            mva_dtype_to_double(r->dtype, dst, n, (int)g->swap, out + done);
        done += n;
    }
    return MVA_OK;
}

/* The segment holding stored row `row`: binary search on first_row. */
static size_t seg_of_row(const edf_reader *r, size_t row)
{
    size_t lo = 0, hi = r->nsegs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->segs[mid].first_row <= row)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static int edf_read(void *self, size_t first, size_t count, double *out, mva_error *err)
{
    edf_reader *r = self;
    if (r->scratch == NULL && (r->scratch = malloc(SCRATCH_BYTES)) == NULL)
        return mva_error_set(err, MVA_ENOMEM, "EDF: out of memory for a read buffer");
    for (size_t done = 0; done < count;) {
        size_t i = first + done;
        size_t s = seg_of_row(r, i / r->cols);
        size_t end_row = s + 1 < r->nsegs ? r->segs[s + 1].first_row : r->rows;
        size_t in_seg = i - r->segs[s].first_row * r->cols;
        size_t n = (end_row - r->segs[s].first_row) * r->cols - in_seg;
        if (n > count - done)
            n = count - done;
        int rc = read_values(r, s, in_seg * r->p, n * r->p, out + done * r->p, err);
        if (rc != MVA_OK)
            return rc;
        done += n;
    }
    return MVA_OK;
}

static void edf_close(void *self)
{
    edf_reader *r = self;
    if (r == NULL)
        return;
    for (int i = 0; i < OPEN_FILES; i++)
        if (r->slots[i].file != SIZE_MAX)
            src_close(&r->slots[i].src);
    if (r->names != NULL)
        for (size_t k = 0; k < r->nfiles; k++)
            free(r->names[k]);
    free(r->names);
    free(r->prefix);
    free(r->suffix);
    free(r->segs);
    free(r->hbuf);
    free(r->scratch);
    free(r);
}

static const mva_reader_ops edf_ops = {"edf", edf_read, edf_close, NULL};

/* ---- open ---- */

static void describe(const edf_reader *r, const char *input, int use_pattern,
                     mva_stack_info *info)
{
    char a[FILE_CAP], b[FILE_CAP];
    snprintf(info->format, sizeof info->format, "edf");
    snprintf(info->source, sizeof info->source, "%s",
             use_pattern ? input : file_name(r, 0, a));
    snprintf(info->layout, sizeof info->layout, "rows,cols,channels");
    if (r->nfiles > 1)
        snprintf(info->path, sizeof info->path, "%s %.480s..%.480s (%zu files%s)",
                 r->names ? "list" : "series", base_name(file_name(r, 0, a)),
                 base_name(file_name(r, r->nfiles - 1, b)), r->nfiles,
                 r->nsegs != r->nfiles ? ", several blocks per file" : "");
    else if (r->nsegs > 1)
        snprintf(info->path, sizeof info->path, "%zu blocks", r->nsegs);
    else
        snprintf(info->path, sizeof info->path, "%d-D block", r->ref.rank);
    const char *kind = r->ngz == 0 ? "uncompressed" : "gzip";
    if (r->ngz > 0 && r->ngz < r->nfiles)
        snprintf(info->storage, sizeof info->storage, "%zu of %zu files gzip", r->ngz,
                 r->nfiles);
    else if (r->nfiles > 1)
        snprintf(info->storage, sizeof info->storage, "%s, %zu files", kind, r->nfiles);
    else
        snprintf(info->storage, sizeof info->storage, "%s", kind);
    info->dtype = r->dtype;
    info->channels = r->p;
    info->chunk_pixels = r->cols;
    info->stored_bytes = r->stored_bytes;
}

/* The map shape from the file, or the rows x cols override when it has as many pixels. */
static int set_shape(const edf_reader *r, const mva_open_opts *opts, mva_stack_info *info,
                     mva_error *err)
{
    size_t n, want;
    if (mva_size_mul(r->rows, r->cols, &n) != MVA_OK || mva_size_mul(n, r->p, &want) != MVA_OK)
        return mva_error_set(err, MVA_EFORMAT,
                             "%s: %zu rows x %zu cols x %zu channels: too large for this "
                             "machine",
                             info->source, r->rows, r->cols, r->p);
    info->rows = r->rows;
    info->cols = r->cols;
    if (opts->rows == 0 && opts->cols == 0)
        return MVA_OK;
    if (opts->rows == 0 || opts->cols == 0 ||
        mva_size_mul(opts->rows, opts->cols, &want) != MVA_OK || want != n)
        return mva_error_set(err, MVA_EINVAL,
                             "%s: --shape %zux%zu does not match the %zu pixels of the EDF "
                             "stack (%zu rows x %zu cols)",
                             info->source, opts->rows, opts->cols, n, r->rows, r->cols);
    info->rows = opts->rows;
    info->cols = opts->cols;
    return MVA_OK;
}

int mva_edf_open(mva_stack **out, const char *input, const mva_open_opts *opts,
                 mva_error *err)
{
    static const mva_open_opts defaults;
    mva_stack_info info;
    int rc;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    int list = opts->files != NULL;
    if (!list && input == NULL)
        return mva_error_set(err, MVA_EINVAL, "EDF: no input file");
    if (list && opts->nfiles == 0)
        return mva_error_set(err, MVA_EINVAL, "EDF: empty list of files");
    if (opts->channel_axis == MVA_AXIS_FIRST)
        return mva_error_set(err, MVA_EUNSUPPORTED,
                             "%s: EDF stacks store the channels along Dim_1 (last axis); "
                             "channel axis \"first\" is not supported",
                             list ? opts->files[0] : input);
    edf_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return mva_error_set(err, MVA_ENOMEM, "EDF: out of memory");
    for (int i = 0; i < OPEN_FILES; i++)
        r->slots[i].file = SIZE_MAX;
    if (list) {
        rc = set_list(r, opts->files, opts->nfiles, err);
        if (rc == MVA_OK)
            rc = index_all(r, err);
    } else if (opts->use_pattern) {
        rc = set_pattern(r, input, opts->first, opts->last, err);
        if (rc == MVA_OK)
            rc = index_all(r, err);
    } else {
        rc = open_single(r, input, err);
    }
    if (rc != MVA_OK)
        goto fail;
    free(r->hbuf);
    r->hbuf = NULL;
    r->hcap = 0;
    memset(&info, 0, sizeof info);
    describe(r, input, !list && opts->use_pattern, &info);
    if ((rc = set_shape(r, opts, &info, err)) != MVA_OK)
        goto fail;
    info.calib = opts->calib.known ? opts->calib : r->ref.calib;
    /* mva_stack_new owns r from here, also when it fails. */
    return mva_stack_new(out, &edf_ops, r, &info, err);
fail:
    edf_close(r);
    return rc;
}

int mva_edf_is_edf(const char *file)
{
    /* gzread reads plain files as they are and inflates gzip ones. */
    unsigned char buf[512];
    gzFile gz = gzopen(file, "rb");
    if (gz == NULL)
        return 0;
    int found = 0;
    for (;;) {
        int got = gzread(gz, buf, sizeof buf), k = 0;
        while (k < got && is_blank(buf[k]))
            k++;
        if (k < got)
            found = buf[k] == '{';
        if (k < got || got < (int)sizeof buf)
            break;
    }
    gzclose(gz);
    return found;
}
