/*
 * The EDF reader's files and headers (see edfint.h; the format is described at the top of
 * edf.c): plain files read with pread, whole-file gzip through zlib, and the ASCII headers
 * found, read and interpreted.
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

#include "edfint.h"
#include "numparse.h"

static int host_little(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* ---- files: plain or gzip ---- */

void edf_src_close(edf_src *s)
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
int edf_src_open(edf_src *s, const char *name, int large, mva_error *err)
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
        edf_src_close(s);
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
        edf_src_close(s);
        return mva_error_set(err, MVA_ENOMEM, "%s: cannot start zlib", name);
    }
    if (large)
        gzbuffer(s->gz, GZ_BUFFER);
    return MVA_OK;
}

/* Reads up to n bytes at (decompressed) offset off; *got < n only at the end of the file.
 * zlib emulates seeks: forward by decompressing, backward by rewinding. */
int edf_src_read(edf_src *s, uint64_t off, void *buf, size_t n, size_t *got,
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

int edf_is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* s[0..n) equals the NUL-terminated word, ignoring ASCII case. */
int edf_same_word(const char *s, size_t n, const char *word)
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
        while (k0 < k1 && edf_is_blank((unsigned char)*k0))
            k0++;
        while (k1 > k0 && edf_is_blank((unsigned char)k1[-1]))
            k1--;
        const char *v0 = eq + 1, *v1 = line + len;
        const char *semi = memchr(v0, ';', (size_t)(v1 - v0));
        if (semi != NULL)
            v1 = semi;
        while (v0 < v1 && edf_is_blank((unsigned char)*v0))
            v0++;
        while (v1 > v0 && edf_is_blank((unsigned char)v1[-1]))
            v1--;
        for (int k = 0; k < NKEYS; k++) {
            if (!edf_same_word(k0, (size_t)(k1 - k0), key_names[k]))
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
int edf_skip_blanks(edf_src *s, uint64_t *pos, unsigned char *c, const char *name,
                       mva_error *err)
{
    unsigned char buf[512];
    for (;;) {
        size_t got;
        int rc = edf_src_read(s, *pos, buf, sizeof buf, &got, name, err);
        if (rc != MVA_OK)
            return rc;
        for (size_t k = 0; k < got; k++) {
            if (!edf_is_blank(buf[k])) {
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
int edf_read_header(char **hbuf, size_t *hcap, edf_src *s, uint64_t off, size_t *text_len,
                    uint64_t *data_off, const char *name, mva_error *err)
{
    size_t len = 0, scanned = 1;
    for (;;) {
        if (len + HEADER_READ > *hcap) {
            size_t cap = *hcap ? 2 * *hcap : 2 * HEADER_READ;
            if (cap > HEADER_CAP + HEADER_READ)
                cap = HEADER_CAP + HEADER_READ;
            char *b = realloc(*hbuf, cap);
            if (b == NULL)
                return mva_error_set(err, MVA_ENOMEM, "%s: out of memory reading a header",
                                     name);
            *hbuf = b;
            *hcap = cap;
        }
        size_t got;
        int rc = edf_src_read(s, off + len, *hbuf + len, HEADER_READ, &got, name, err);
        if (rc != MVA_OK)
            return rc;
        len += got;
        /* '}' at the end may still get its newline from the next read: rescan from it */
        for (; scanned < len; scanned++) {
            if ((*hbuf)[scanned] != '}')
                continue;
            size_t nl = scanned + 1;
            if (nl < len && (*hbuf)[nl] == '\r')
                nl++;
            if (nl >= len)
                break;
            if ((*hbuf)[nl] == '\n') {
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
        if (edf_same_word(v, strlen(v), data_types[k].name))
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
    if (edf_same_word(keys->v[K_ORDER], strlen(keys->v[K_ORDER]), "LowByteFirst"))
        little = 1;
    else if (edf_same_word(keys->v[K_ORDER], strlen(keys->v[K_ORDER]), "HighByteFirst"))
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
        edf_same_word(keys->v[K_DTYPE], strlen(keys->v[K_DTYPE]), "SignedLong"))
        b->dtype = MVA_DTYPE_INT64;
    if (size / 8 == n && size % 8 == 0 && b->dtype == MVA_DTYPE_UINT32 &&
        edf_same_word(keys->v[K_DTYPE], strlen(keys->v[K_DTYPE]), "UnsignedLong"))
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

int edf_parse_block(edf_block *b, const char *text, size_t len, const char *name,
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
    if (keys.have[K_COMPRESSION] && !edf_same_word(keys.v[K_COMPRESSION], 2, "no"))
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

