/*
 * Scratch matrices: rows of a fixed number of bytes (float64 rows, or a stack's values in their
 * stored type) in an HDF5 file of its own, for what is too large for the memory budget (NMF's
 * W, the spilled copy of a stack).  HDF5 creates the file and one contiguous dataset,
 * allocated at creation and never filled, and gives its byte offset (H5Dget_offset); the rows
 * are then read and written with pread/pwrite on that storage.  No HDF5 call is made after
 * creation, so the scratch can be used while the pass engine's reader thread is inside HDF5
 * (which is not thread-safe), and a window of rows costs one system call.
 * The file is unlinked as soon as it is open: nothing is left behind, even after a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5util.h"
#include "mva/error.h"
#include "scratch.h"

struct mva_scratch {
    int fd;
    off_t offset;   /* of the dataset's storage */
    size_t rows, row_bytes;
    char name[4096];
};

/* The dataset, made by HDF5 in the file at name; its storage offset in *offset. */
static int make_dataset(const char *name, size_t rows, size_t row_bytes, off_t *offset)
{
    h5u_quiet q;
    h5u_quiet_on(&q);
    hsize_t dims[2] = {rows, row_bytes};
    hid_t f = H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t d = -1;
    haddr_t addr = HADDR_UNDEF;
    if (f >= 0 && sp >= 0 && dcpl >= 0 && H5Pset_layout(dcpl, H5D_CONTIGUOUS) >= 0 &&
        H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) >= 0 &&
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0)
        d = H5Dcreate2(f, "rows", H5T_NATIVE_UCHAR, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d >= 0)
        addr = H5Dget_offset(d);
    if (d >= 0)
        H5Dclose(d);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (sp >= 0)
        H5Sclose(sp);
    int ok = f >= 0 && H5Fclose(f) >= 0 && addr != HADDR_UNDEF;
    h5u_quiet_off(&q);
    *offset = ok ? (off_t)addr : 0;
    return ok ? MVA_OK : MVA_EIO;
}

int mva_scratch_create(mva_scratch **out, const char *dir, const char *what, size_t rows,
                       size_t cols, mva_error *err)
{
    size_t row_bytes;
    *out = NULL;
    if (mva_size_mul(cols, sizeof(double), &row_bytes) != MVA_OK)
        return mva_error_set(err, MVA_ERANGE, "scratch for %s: %zu x %zu doubles is too large",
                             what, rows, cols);
    return mva_scratch_create_bytes(out, dir, what, rows, row_bytes, err);
}

const char *mva_scratch_dir(const char *dir)
{
    if (dir == NULL || dir[0] == '\0')
        dir = getenv("TMPDIR");
    return dir == NULL || dir[0] == '\0' ? "/tmp" : dir;
}

int mva_scratch_create_bytes(mva_scratch **out, const char *dir, const char *what, size_t rows,
                             size_t row_bytes, mva_error *err)
{
    *out = NULL;
    size_t bytes;
    if (mva_size_mul(rows, row_bytes, &bytes) != MVA_OK || (off_t)bytes < 0)
        return mva_error_set(err, MVA_ERANGE, "scratch for %s: %zu rows of %zu bytes is too "
                             "large", what, rows, row_bytes);
    dir = mva_scratch_dir(dir);
    mva_scratch *s = calloc(1, sizeof *s);
    if (s == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    s->fd = -1;
    s->rows = rows;
    s->row_bytes = row_bytes;
    if ((size_t)snprintf(s->name, sizeof s->name, "%s/mva-%s-XXXXXX", dir, what) >=
        sizeof s->name) {
        free(s);
        return mva_error_set(err, MVA_EINVAL, "scratch directory name too long: %s", dir);
    }
    int tmp = mkstemp(s->name); /* a unique name that is ours; HDF5 then rewrites the file */
    if (tmp < 0) {
        int e = errno;
        free(s);
        return mva_error_set(err, MVA_EIO, "cannot create a scratch file for %s in %s: %s",
                             what, dir, strerror(e));
    }
    close(tmp);
    int made = make_dataset(s->name, rows, row_bytes, &s->offset) == MVA_OK;
    int e = made && (s->fd = open(s->name, O_RDWR)) < 0 ? errno : 0;
    unlink(s->name);
    if (!made || e) {
        mva_error_set(err, MVA_EIO, "cannot make the scratch HDF5 file %s for %s (%zu rows of "
                      "%zu bytes): %s", s->name, what, rows, row_bytes,
                      made ? strerror(e) : "HDF5 could not create it (disk full?)");
        mva_scratch_close(s);
        return MVA_EIO;
    }
    *out = s;
    return MVA_OK;
}

/* pread or pwrite of len bytes at byte pos of the storage, whole. */
static int transfer_bytes(mva_scratch *s, size_t pos, size_t len, void *buf, int write,
                          mva_error *err)
{
    if (pos > s->rows * s->row_bytes || len > s->rows * s->row_bytes - pos)
        return mva_error_set(err, MVA_EINVAL, "scratch %s: bytes %zu..%zu outside 0..%zu",
                             s->name, pos, pos + len, s->rows * s->row_bytes);
    size_t done = 0;
    off_t at = s->offset + (off_t)pos;
    char *p = (char *)buf;
    while (done < len) {
        ssize_t r = write ? pwrite(s->fd, p + done, len - done, at + (off_t)done)
                          : pread(s->fd, p + done, len - done, at + (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return mva_error_set(err, MVA_EIO, "scratch file %s (unlinked): %s of %zu bytes "
                                 "at byte %lld failed: %s", s->name, write ? "write" : "read",
                                 len, (long long)(at + (off_t)done),
                                 r < 0 ? strerror(errno) : "end of file");
        done += (size_t)r;
    }
    return MVA_OK;
}

static int transfer(mva_scratch *s, size_t first, size_t count, void *buf, int write,
                    mva_error *err)
{
    if (first > s->rows || count > s->rows - first)
        return mva_error_set(err, MVA_EINVAL, "scratch %s: rows %zu..%zu outside 0..%zu",
                             s->name, first, first + count, s->rows);
    return transfer_bytes(s, first * s->row_bytes, count * s->row_bytes, buf, write, err);
}

int mva_scratch_read(mva_scratch *s, size_t first, size_t count, void *buf, mva_error *err)
{
    return transfer(s, first, count, buf, 0, err);
}

int mva_scratch_write(mva_scratch *s, size_t first, size_t count, const void *buf,
                      mva_error *err)
{
    return transfer(s, first, count, (void *)buf, 1, err);
}

int mva_scratch_pread(mva_scratch *s, size_t pos, size_t len, void *buf, mva_error *err)
{
    return transfer_bytes(s, pos, len, buf, 0, err);
}

int mva_scratch_pwrite(mva_scratch *s, size_t pos, size_t len, const void *buf,
                       mva_error *err)
{
    return transfer_bytes(s, pos, len, (void *)buf, 1, err);
}

const char *mva_scratch_name(const mva_scratch *s)
{
    return s->name;
}

void mva_scratch_close(mva_scratch *s)
{
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}
