/* The in-memory reader: a stack over values the caller holds (a NumPy array, a test's
 * matrix), of any mva_dtype, read in place through byte strides, so that a transposed or
 * sliced view needs no copy.  Each block read converts its pixels to double with the one
 * dtype table (src/dtype.c); the values themselves are never copied as a whole. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "mva/stack.h"

typedef struct {
    const unsigned char *data;
    size_t cols, p;
    ptrdiff_t srow, scol, sch; /* byte strides of the three axes */
    mva_dtype dtype;
    size_t es;                 /* bytes per value */
    int plain_doubles;         /* C-contiguous float64: a block is one memcpy */
    unsigned char *gather;     /* one pixel's values packed, when channels are strided */
} mem_reader;

static int mem_read(void *self, size_t first, size_t count, double *out, mva_error *err)
{
    (void)err;
    mem_reader *m = self;
    if (m->plain_doubles) {
        memcpy(out, m->data + first * m->p * sizeof *out, count * m->p * sizeof *out);
        return MVA_OK;
    }
    for (size_t t = 0; t < count; t++) {
        size_t i = first + t;
        const unsigned char *px = m->data + (ptrdiff_t)(i / m->cols) * m->srow +
                                  (ptrdiff_t)(i % m->cols) * m->scol;
        if (m->gather != NULL) { /* strided channels: pack the pixel first */
            for (size_t j = 0; j < m->p; j++)
                memcpy(m->gather + j * m->es, px + (ptrdiff_t)j * m->sch, m->es);
            px = m->gather;
        }
        mva_dtype_to_double(m->dtype, px, m->p, 0, out + t * m->p);
    }
    return MVA_OK;
}

static void mem_close(void *self)
{
    mem_reader *m = self;
    free(m->gather);
    free(m);
}

static const mva_reader_ops mem_ops = {"memory", mem_read, mem_close, NULL};

int mva_memory_open(mva_stack **out, const void *data, mva_dtype dtype, size_t rows,
                    size_t cols, size_t channels, const ptrdiff_t *strides,
                    const mva_calib *calib, mva_error *err)
{
    size_t n, np, es = mva_dtype_size(dtype);
    if (es == 0)
        return mva_error_set(err, MVA_EINVAL, "memory stack: unknown element type %d "
                             "(expected an integer of 1, 2, 4 or 8 bytes, float32 or float64)",
                             (int)dtype);
    if (data == NULL || rows == 0 || cols == 0 || channels == 0 ||
        mva_size_mul(rows, cols, &n) != MVA_OK || mva_size_mul(n, channels, &np) != MVA_OK ||
        np > SIZE_MAX / sizeof(double))
        return mva_error_set(err, MVA_ERANGE, "memory stack: invalid shape %zu x %zu x %zu%s",
                             rows, cols, channels, data == NULL ? " (no data)" : "");
    mem_reader *m = calloc(1, sizeof *m);
    if (m == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    m->data = data;
    m->cols = cols;
    m->p = channels;
    m->sch = strides ? strides[2] : (ptrdiff_t)es;
    m->scol = strides ? strides[1] : (ptrdiff_t)(es * channels);
    m->srow = strides ? strides[0] : (ptrdiff_t)(es * channels * cols);
    m->dtype = dtype;
    m->es = es;
    int contiguous = m->sch == (ptrdiff_t)es && m->scol == (ptrdiff_t)(es * channels) &&
                     (rows == 1 || m->srow == (ptrdiff_t)(es * channels * cols));
    m->plain_doubles = contiguous && dtype == MVA_DTYPE_FLOAT64;
    if (m->sch != (ptrdiff_t)es && (m->gather = malloc(channels * es)) == NULL) {
        free(m);
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    }
    mva_stack_info info;
    memset(&info, 0, sizeof info);
    info.rows = rows;
    info.cols = cols;
    info.channels = channels;
    info.dtype = dtype;
    if (calib)
        info.calib = *calib;
    snprintf(info.format, sizeof info.format, "memory");
    snprintf(info.source, sizeof info.source, "(memory)");
    snprintf(info.layout, sizeof info.layout, "rows,cols,channels");
    if (contiguous)
        snprintf(info.storage, sizeof info.storage, "in memory, %s, contiguous",
                 mva_dtype_name(dtype));
    else
        snprintf(info.storage, sizeof info.storage, "in memory, %s, strides %td,%td,%td bytes",
                 mva_dtype_name(dtype), m->srow, m->scol, m->sch);
    return mva_stack_new(out, &mem_ops, m, &info, err);
}

int mva_stack_from_memory(mva_stack **out, const double *data, size_t rows, size_t cols,
                          size_t channels, mva_error *err)
{
    return mva_memory_open(out, data, MVA_DTYPE_FLOAT64, rows, cols, channels, NULL, NULL,
                           err);
}
