/* Internal to the library (and its tools): the one way mva writes a file.
 *
 * Every output (result files, reconstructions, reports, sample maps) is written under a
 * temporary name in the destination's directory, made durable (fsync) and renamed over the
 * destination, so that a reader sees the old file or the new one, never a part.  Adding to an
 * existing file (a new entry in a result file) copies it, adds, renames: two such writers at
 * once would each rename their own copy and the last would win, losing the other's entry.  So
 * a writer that adds holds an exclusive lock on the destination (flock on "<path>.lock" beside
 * it) from the copy to the rename: parallel writers take turns; one that waits longer than
 * MVA_COMMIT_WAIT_S seconds fails with a message naming the lock.
 */
#ifndef MVA_COMMIT_H
#define MVA_COMMIT_H

#include <sys/stat.h>

#include "mva/error.h"

#define MVA_COMMIT_WAIT_S 300 /* longest wait for another writer of the same file */

enum mva_commit_mode {
    MVA_COMMIT_NEW = 0, /* the temporary starts empty; the destination is replaced */
    MVA_COMMIT_ADD = 1  /* the temporary starts as a copy of the destination, if it exists */
};

typedef struct mva_commit {
    char *path;      /* the destination */
    char *tmp;       /* the temporary beside it, "<path>.tmp.<pid>[.<n>]"; exists until the end */
    char *lock;      /* "<path>.lock" */
    int lock_fd;     /* the held lock, or -1 */
    int existed;     /* ADD: the destination existed when the lock was taken (and was copied) */
    struct stat st;  /* ADD: the destination as it was then */
} mva_commit;

/* Starts writing path: creates the temporary (closed, empty or a copy of path for ADD, with
 * path's permissions) and, for ADD, takes the lock.  The caller writes c->tmp by name, then
 * calls mva_commit_finish or mva_commit_abort.  On error nothing is left behind and c needs
 * no abort (an abort is harmless). */
int mva_commit_begin(mva_commit *c, const char *path, enum mva_commit_mode mode,
                     mva_error *err);

/* Syncs the temporary, renames it over the destination (under the lock: for NEW it is taken
 * now), syncs the directory and releases everything.  On error the temporary is removed and
 * the destination untouched. */
int mva_commit_finish(mva_commit *c, mva_error *err);

/* Removes the temporary and releases the lock; a no-op on a finished or failed commit and on
 * a zeroed one (`mva_commit c = {0};` is a valid "nothing begun"). */
void mva_commit_abort(mva_commit *c);

#endif
