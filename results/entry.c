/* Finding the entry of a result file that holds a kind of result (see entry.h). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* The first of holds that /name holds, or NULL. */
static const char *held(hid_t file, const char *name, const char *const *holds, size_t n)
{
    char full[1024];
    for (size_t i = 0; valid_entry_name(name) && i < n; i++) {
        snprintf(full, sizeof full, "/%s/%s", name, holds[i]);
        if (h5u_exists(file, full))
            return holds[i];
    }
    return NULL;
}

static int named_entry(hid_t file, const char *path, const char *entry,
                       const char *const *holds, size_t nholds, const char *what, char *out,
                       mva_error *err)
{
    char full[RES_ENTRY_MAX + 2];
    if (entry[0] == '/')
        entry++;
    snprintf(full, sizeof full, "/%s", entry);
    if (!valid_entry_name(entry) || !h5u_exists(file, full))
        return mva_error_set(err, MVA_ENOTFOUND, "%s: entry /%s not found", path, entry);
    if (held(file, entry, holds, nholds) == NULL)
        return mva_error_set(err, MVA_ENOTFOUND, "%s: entry /%s holds no %s (/%s/%s missing)",
                             path, entry, what, entry, holds[0]);
    snprintf(out, RES_ENTRY_MAX + 1, "%s", entry);
    return MVA_OK;
}

int res_find_entry(hid_t file, const char *path, const char *entry, const char *const *holds,
                   size_t nholds, const char *what, char *out, mva_error *err)
{
    if (entry != NULL)
        return named_entry(file, path, entry, holds, nholds, what, out, err);
    char name[RES_ENTRY_MAX + 1] = "";
    hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
    H5G_info_t info;
    int found = root >= 0 && h5u_attr_str_read(root, "default", name, sizeof name) == MVA_OK &&
                held(file, name, holds, nholds) != NULL;
    if (!found && root >= 0 && H5Gget_info(root, &info) >= 0) {
        for (hsize_t i = 0; !found && i < info.nlinks; i++) {
            ssize_t len = H5Lget_name_by_idx(root, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                             sizeof name, H5P_DEFAULT);
            found = len > 0 && (size_t)len < sizeof name && held(file, name, holds, nholds);
        }
    }
    h5u_close(root);
    if (!found)
        return mva_error_set(err, MVA_ENOTFOUND, "%s: no entry holds a %s (no /*/%s)", path,
                             what, holds[0]);
    snprintf(out, RES_ENTRY_MAX + 1, "%s", name);
    return MVA_OK;
}

/* What each kind of result holds, for holds == NULL (any result: the report's choice). */
static const char *const any_kind[] = {MVA_RESULT_PCA, MVA_RESULT_ROI, MVA_RESULT_NMF,
                                       MVA_RESULT_SELECTION, MVA_RESULT_CLUSTER};

int mva_result_find_entry(const char *path, const char *entry, const char *holds, char *out,
                          size_t cap, mva_error *err)
{
    h5u_quiet q;
    h5u_quiet_on(&q);
    char name[RES_ENTRY_MAX + 1];
    const char *const *kinds = holds ? &holds : any_kind;
    size_t nkinds = holds ? 1 : sizeof any_kind / sizeof any_kind[0];
    const char *what = holds ? holds : "PCA, ROI, NMF, selection or clustering result";
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int rc = f < 0 ? mva_error_set(err, MVA_EIO, "%s: cannot open as HDF5", path)
                   : res_find_entry(f, path, entry, kinds, nkinds, what, name, err);
    if (rc == MVA_OK && strlen(name) >= cap)
        rc = mva_error_set(err, MVA_ERANGE, "%s: entry name %s does not fit in %zu bytes", path,
                           name, cap);
    if (rc == MVA_OK)
        memcpy(out, name, strlen(name) + 1);
    h5u_close(f);
    h5u_quiet_off(&q);
    return rc;
}
