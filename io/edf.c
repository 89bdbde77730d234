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
#include "edfint.h"

#define SCRATCH_BYTES ((size_t)256 << 10) /* raw bytes converted per step, stays in L2 */
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
    int rc = b->size ? edf_src_read(s, end - 1, &c, 1, &got, name, err) : MVA_OK;
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
    int rc = edf_skip_blanks(s, pos, &c, name, err);
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
    if ((rc = edf_read_header(&r->hbuf, &r->hcap, s, *pos, &text_len, &b->data_off, name, err)) != MVA_OK ||
        (rc = edf_parse_block(b, r->hbuf + 1, text_len - 1, name, err)) != MVA_OK ||
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
    if ((rc = edf_src_open(&s, name, 0, err)) != MVA_OK)
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
    edf_src_close(&s);
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
        edf_src_close(&lru->src);
    lru->file = SIZE_MAX;
    lru->used = 0;
    int rc = edf_src_open(&lru->src, file_name(r, k, name), 1, err);
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
        if ((rc = edf_src_read(src, off, dst, n * r->es, &got, file_name(r, g->file, name), err)) !=
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
            edf_src_close(&r->slots[i].src);
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
    if (opts->channel_axis == MVA_STACK_AXIS_FIRST)
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
        while (k < got && edf_is_blank(buf[k]))
            k++;
        if (k < got)
            found = buf[k] == '{';
        if (k < got || got < (int)sizeof buf)
            break;
    }
    gzclose(gz);
    return found;
}
