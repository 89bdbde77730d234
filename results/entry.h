/* Internal to the library (results/, report/): the one way a reader of result files finds the
 * entry that holds what it asks for. */
#ifndef MVA_RESULTS_ENTRY_H
#define MVA_RESULTS_ENTRY_H

#include <hdf5.h>
#include <stddef.h>

#include "mva/error.h"

#define RES_ENTRY_MAX 256 /* longest entry name created or accepted */

/*
 * The entry of the open result file (named path in messages) that holds one of the nholds
 * paths in holds (relative to an entry, e.g. "eigenspectra", "eigenimages/data"): the caller's
 * entry (it must hold one), else the root's @default when it does (the newest entry), else the
 * first entry by name that does.  A file where a later entry (a selection, say) became the
 * default still gives its PCA to the one asking for eigenimages.  what names the kind in
 * messages.  The name (no '/') goes into out, RES_ENTRY_MAX + 1 bytes.
 */
int res_find_entry(hid_t file, const char *path, const char *entry, const char *const *holds,
                   size_t nholds, const char *what, char *out, mva_error *err);

#endif
