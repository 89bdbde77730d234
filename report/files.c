/* Text buffers, and files written through the commit helper (src/commit.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static int reserve(rpt_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (s == NULL) {
        b->failed = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void rpt_printf(rpt_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) != 0) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void rpt_escape(rpt_buf *b, const char *s)
{
    for (; s != NULL && *s; s++) {
        switch (*s) {
        case '&': rpt_printf(b, "&amp;"); break;
        case '<': rpt_printf(b, "&lt;"); break;
        case '>': rpt_printf(b, "&gt;"); break;
        case '"': rpt_printf(b, "&quot;"); break;
        default:
            /* Control characters are not allowed in XML 1.0. */
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
                rpt_printf(b, "?");
            else
                rpt_printf(b, "%c", *s);
        }
    }
}

void rpt_num(rpt_buf *b, double v, int digits)
{
    char t[64];
    if (!isfinite(v)) {
        rpt_printf(b, "%s", isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf");
        return;
    }
    snprintf(t, sizeof t, "%.*g", digits, v == 0 ? 0.0 : v);
    rpt_printf(b, "%s", t);
}

void rpt_buf_free(rpt_buf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

int rpt_file_open(rpt_file *f, const char *path, mva_error *err)
{
    memset(f, 0, sizeof *f);
    int rc = mva_commit_begin(&f->c, path, MVA_COMMIT_NEW, err);
    if (rc != MVA_OK)
        return rc;
    f->fp = fopen(f->c.tmp, "wb");
    if (f->fp == NULL) {
        int e = errno;
        mva_commit_abort(&f->c);
        return mva_error_set(err, MVA_EIO, "%s: %s", path, strerror(e));
    }
    return MVA_OK;
}

int rpt_file_commit(rpt_file *f, mva_error *err)
{
    int bad = ferror(f->fp) != 0;
    int e = errno;
    if (fclose(f->fp) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    f->fp = NULL;
    if (bad) {
        mva_error_set(err, MVA_EIO, "%s: cannot write: %s", f->c.path, strerror(e));
        mva_commit_abort(&f->c);
        return MVA_EIO;
    }
    return mva_commit_finish(&f->c, err);
}

void rpt_file_abort(rpt_file *f)
{
    if (f->fp != NULL)
        fclose(f->fp);
    f->fp = NULL;
    mva_commit_abort(&f->c);
}

int rpt_write_text(const char *path, const rpt_buf *b, mva_error *err)
{
    if (b->failed)
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory while composing it", path);
    rpt_file f;
    int rc = rpt_file_open(&f, path, err);
    if (rc != MVA_OK)
        return rc;
    if (b->len > 0 && fwrite(b->s, 1, b->len, f.fp) != b->len) {
        int e = errno;
        rpt_file_abort(&f);
        return mva_error_set(err, MVA_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    return rpt_file_commit(&f, err);
}
