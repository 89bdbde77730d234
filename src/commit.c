/* The one way mva writes a file: temporary, fsync, rename, under a lock (see commit.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "commit.h"

#define COPY_BUF ((size_t)1 << 18)
#define POLL_MS 20

static char *joined(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s%s", a, b);
    return s;
}

static void release(mva_commit *c)
{
    if (c->lock != NULL && c->lock_fd >= 0) {
        /* Unlinked while still held: a waiter that then gets this lock sees that the name
         * is gone (or is another file) and takes the new one, so no two hold "the" lock. */
        unlink(c->lock);
        close(c->lock_fd);
    }
    c->lock_fd = -1;
    free(c->path);
    free(c->tmp);
    free(c->lock);
    c->path = c->tmp = c->lock = NULL;
}

/* The lock is ours when its name still points at the file we locked. */
static int lock_is_current(int fd, const char *name)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(name, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

static int take_lock(mva_commit *c, mva_error *err)
{
    const struct timespec nap = {0, POLL_MS * 1000000L};
    long waited_ms = 0;
    for (;;) {
        int fd = open(c->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
            return mva_error_set(err, MVA_EIO, "%s: cannot create the lock %s: %s", c->path,
                                 c->lock, strerror(errno));
        while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            if (errno != EWOULDBLOCK && errno != EINTR) {
                int e = errno;
                close(fd);
                return mva_error_set(err, MVA_EIO, "%s: cannot lock %s: %s", c->path, c->lock,
                                     strerror(e));
            }
            if (waited_ms >= MVA_COMMIT_WAIT_S * 1000L) {
                close(fd);
                return mva_error_set(err, MVA_EIO,
                                     "%s: another process has been writing it for %d s (it "
                                     "holds %s); try again when it has finished",
                                     c->path, MVA_COMMIT_WAIT_S, c->lock);
            }
            nanosleep(&nap, NULL);
            waited_ms += POLL_MS;
        }
        if (lock_is_current(fd, c->lock)) {
            c->lock_fd = fd;
            return MVA_OK;
        }
        close(fd);
    }
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copies the destination into the open temporary, byte for byte. */
static int copy_into(const mva_commit *c, int out, mva_error *err)
{
    int rc = MVA_OK, in = open(c->path, O_RDONLY | O_CLOEXEC);
    char *buf = malloc(COPY_BUF);
    if (in < 0 || buf == NULL) {
        rc = buf == NULL ? mva_error_set(err, MVA_ENOMEM, "%s: out of memory", c->path)
                         : mva_error_set(err, MVA_EIO, "%s: %s", c->path, strerror(errno));
        goto done;
    }
    for (;;) {
        ssize_t r = read(in, buf, COPY_BUF);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = mva_error_set(err, MVA_EIO, "%s: read failed: %s", c->path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        if (write_all(out, buf, (size_t)r) != 0) {
            rc = mva_error_set(err, MVA_EIO, "%s: cannot copy into %s: %s", c->path, c->tmp,
                               strerror(errno));
            break;
        }
    }
done:
    if (in >= 0)
        close(in);
    free(buf);
    return rc;
}

/* Creates the temporary, never reusing an existing file (it belongs to someone else). */
static int create_tmp(mva_commit *c, mva_error *err)
{
    size_t cap = strlen(c->path) + 48;
    if ((c->tmp = malloc(cap)) == NULL)
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory", c->path);
    for (int i = 0; i < 100; i++) {
        if (i == 0)
            snprintf(c->tmp, cap, "%s.tmp.%ld", c->path, (long)getpid());
        else
            snprintf(c->tmp, cap, "%s.tmp.%ld.%d", c->path, (long)getpid(), i);
        int fd = open(c->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0)
            return fd;
        if (errno != EEXIST)
            break;
    }
    int e = errno;
    free(c->tmp);
    c->tmp = NULL;
    return mva_error_set(err, MVA_EIO, "%s: cannot create a temporary file beside it: %s",
                         c->path, strerror(e));
}

/* ADD: notes whether the destination exists (under the lock) and copies it. */
static int start_from_destination(mva_commit *c, int fd, mva_error *err)
{
    if (stat(c->path, &c->st) != 0) {
        if (errno == ENOENT)
            return MVA_OK;
        return mva_error_set(err, MVA_EIO, "%s: %s", c->path, strerror(errno));
    }
    if (!S_ISREG(c->st.st_mode))
        return mva_error_set(err, MVA_EINVAL, "%s: exists and is not a regular file", c->path);
    c->existed = 1;
    int rc = copy_into(c, fd, err);
    if (rc == MVA_OK && fchmod(fd, c->st.st_mode & 07777) != 0)
        rc = mva_error_set(err, MVA_EIO, "%s: cannot set permissions of %s: %s", c->path,
                           c->tmp, strerror(errno));
    return rc;
}

int mva_commit_begin(mva_commit *c, const char *path, enum mva_commit_mode mode,
                     mva_error *err)
{
    memset(c, 0, sizeof *c);
    c->lock_fd = -1;
    c->path = strdup(path);
    c->lock = joined(path, ".lock");
    if (c->path == NULL || c->lock == NULL) {
        release(c);
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory", path);
    }
    int rc = mode == MVA_COMMIT_ADD ? take_lock(c, err) : MVA_OK;
    int fd = rc == MVA_OK ? create_tmp(c, err) : rc;
    if (fd < 0) {
        release(c);
        return fd;
    }
    if (mode == MVA_COMMIT_ADD)
        rc = start_from_destination(c, fd, err);
    if (close(fd) != 0 && rc == MVA_OK)
        rc = mva_error_set(err, MVA_EIO, "%s: cannot write %s: %s", path, c->tmp,
                           strerror(errno));
    if (rc != MVA_OK)
        mva_commit_abort(c);
    return rc;
}

static int sync_file(const mva_commit *c, mva_error *err)
{
    int fd = open(c->tmp, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return mva_error_set(err, MVA_EIO, "%s: cannot sync %s: %s", c->path, c->tmp,
                             strerror(e));
    }
    if (close(fd) != 0)
        return mva_error_set(err, MVA_EIO, "%s: cannot write %s: %s", c->path, c->tmp,
                             strerror(errno));
    return MVA_OK;
}

/* Best effort: some file systems refuse fsync on a directory, and the data are already safe
 * under their final name. */
static void sync_dir(const char *path)
{
    char *dir = strdup(path);
    if (dir == NULL)
        return;
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        strcpy(dir, ".");
    else
        slash[slash == dir ? 1 : 0] = '\0';
    int d = open(dir, O_RDONLY | O_CLOEXEC);
    if (d >= 0) {
        (void)fsync(d);
        close(d);
    }
    free(dir);
}

int mva_commit_finish(mva_commit *c, mva_error *err)
{
    if (c->tmp == NULL)
        return mva_error_set(err, MVA_EINVAL, "%s: nothing to commit",
                             c->path ? c->path : "mva_commit_finish");
    int rc = sync_file(c, err);
    if (rc == MVA_OK && c->lock_fd < 0)
        rc = take_lock(c, err); /* NEW: never between an adder's copy and its rename */
    if (rc == MVA_OK && rename(c->tmp, c->path) != 0)
        rc = mva_error_set(err, MVA_EIO, "%s: cannot rename %s to it: %s", c->path, c->tmp,
                           strerror(errno));
    if (rc != MVA_OK) {
        mva_commit_abort(c);
        return rc;
    }
    sync_dir(c->path);
    release(c);
    return MVA_OK;
}

void mva_commit_abort(mva_commit *c)
{
    if (c->tmp != NULL)
        unlink(c->tmp);
    release(c);
}
