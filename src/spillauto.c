/* The spill policy (mva_stack_spill_auto): when a copy of the values pays, and where it may go.
 * One rule for the tools and for library callers alike. */
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#ifdef __linux__
#include <sys/vfs.h>
#endif

#include "mva/stack.h"
#include "scratch.h"

/* Decoding costs more than reading plain values: SPEC text, or an input stored in fewer bytes
 * than its values (compressed HDF5 or EDF). */
static int costly(const mva_stack_info *in)
{
    double values = (double)in->rows * (double)in->cols * (double)in->channels *
                    (double)mva_dtype_size(in->dtype);
    return strcmp(in->format, "spec") == 0 ||
           (in->stored_bytes > 0 && (double)in->stored_bytes < 0.9 * values);
}

/* A tmpfs or ramfs directory: a copy there would be memory that grows with the map. */
static int in_memory_fs(const char *dir)
{
#ifdef __linux__
    struct statfs f;
    return statfs(dir, &f) == 0 &&
           ((unsigned long)f.f_type == 0x01021994ul || (unsigned long)f.f_type == 0x858458f6ul);
#else
    (void)dir;
    return 0;
#endif
}

static void say(char *why, size_t cap, const char *text)
{
    if (why != NULL && cap > 0)
        snprintf(why, cap, "%s", text);
}

int mva_stack_spill_auto(mva_stack *s, const char *dir, char *why, size_t cap)
{
    char text[MVA_ERROR_MSG_MAX + 128];
    const char *where = mva_scratch_dir(dir);
    uint64_t need = mva_stack_spill_bytes(s);
    struct statvfs v;
    say(why, cap, "");
    if (!costly(mva_stack_get_info(s)))
        return 0;
    if (statvfs(where, &v) != 0 || (double)v.f_bavail * (double)v.f_frsize < 2.0 * (double)need) {
        snprintf(text, sizeof text, "%s has no room for twice %.1f MB", where, (double)need / 1e6);
        say(why, cap, text);
        return 0;
    }
    if ((dir == NULL || dir[0] == '\0') && in_memory_fs(where)) {
        snprintf(text, sizeof text, "%s is in memory (tmpfs); name a directory on disk", where);
        say(why, cap, text);
        return 0;
    }
    mva_error err = {0, ""};
    if (mva_stack_spill(s, dir, &err) != MVA_OK) {
        say(why, cap, err.msg);
        return 0;
    }
    return 1;
}
