/* The HDF5 reader's small helpers (see hdf5int.h): HDF5's error text, string and numeric
 * attributes as writers store them, object paths and types.  Built on the library's one
 * layer of HDF5 helpers (src/h5util.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "hdf5int.h"

/* The most specific message on HDF5's error stack (buf holds H5_MSG chars).  Must be called
 * right after the failing call: every HDF5 API call clears the stack. */
const char *h5_error_text(char *buf)
{
    h5u_innermost(buf, H5_MSG);
    if (buf[0] == '\0')
        snprintf(buf, H5_MSG, "no detail from HDF5");
    return buf;
}

/* Copies element k of a fixed-length string array, dropping NUL or space padding. */
static void copy_fixed(const char *all, size_t size, size_t k, char *buf, size_t cap)
{
    const char *s = all + k * size;
    size_t len = 0;
    while (len < size && s[len] != '\0')
        len++;
    while (len > 0 && s[len - 1] == ' ')
        len--;
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
}

/* Reads element k of string attribute NAME of OBJ into buf.  Both storages occur: h5py
 * writes variable-length UTF-8, most C and Fortran writers fixed-length ASCII.  Returns 1
 * when read, 0 when absent or not a string; *nelem (may be NULL) gets the element count. */
int h5_attr_str(hid_t obj, const char *name, size_t k, char *buf, size_t cap,
                    size_t *nelem)
{
    int ok = 0;
    hid_t a = H5I_INVALID_HID, ft = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    hid_t sp = H5I_INVALID_HID;
    void *data = NULL;
    if (H5Aexists(obj, name) <= 0 || (a = H5Aopen(obj, name, H5P_DEFAULT)) < 0)
        goto done;
    if ((ft = H5Aget_type(a)) < 0 || H5Tget_class(ft) != H5T_STRING)
        goto done;
    sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    if (n < 1 || k >= (size_t)n || (mt = H5Tcopy(H5T_C_S1)) < 0)
        goto done;
    H5Tset_cset(mt, H5Tget_cset(ft));
    if (H5Tis_variable_str(ft) > 0) {
        H5Tset_size(mt, H5T_VARIABLE);
        char **vl = data = calloc((size_t)n, sizeof(char *));
        if (vl == NULL || H5Aread(a, mt, vl) < 0)
            goto done;
        snprintf(buf, cap, "%s", vl[k] ? vl[k] : "");
        h5u_vlen_reclaim(mt, sp, vl);
    } else {
        size_t size = H5Tget_size(ft);
        H5Tset_size(mt, size);
        H5Tset_strpad(mt, H5T_STR_NULLPAD);
        if (size == 0 || (size_t)n > SIZE_MAX / size || (data = malloc((size_t)n * size)) == NULL ||
            H5Aread(a, mt, data) < 0)
            goto done;
        copy_fixed(data, size, k, buf, cap);
    }
    if (nelem != NULL)
        *nelem = (size_t)n;
    ok = 1;
done:
    free(data);
    h5u_close(mt);
    h5u_close(sp);
    h5u_close(ft);
    h5u_close(a);
    return ok;
}

/* Reads a numeric attribute of at most max values as doubles.  Returns the number of
 * values, 0 when absent, not numeric or too long. */
size_t h5_attr_nums(hid_t obj, const char *name, double *v, size_t max)
{
    size_t got = 0;
    hid_t a = H5I_INVALID_HID, ft = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    if (H5Aexists(obj, name) <= 0 || (a = H5Aopen(obj, name, H5P_DEFAULT)) < 0)
        goto done;
    ft = H5Aget_type(a);
    H5T_class_t cls = H5Tget_class(ft);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
        goto done;
    sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    if (n >= 1 && (size_t)n <= max && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0)
        got = (size_t)n;
done:
    h5u_close(sp);
    h5u_close(ft);
    h5u_close(a);
    return got;
}

const char *h5_class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "an integer";
    case H5T_FLOAT: return "a float";
    case H5T_TIME: return "a time";
    case H5T_STRING: return "a string";
    case H5T_BITFIELD: return "a bitfield";
    case H5T_OPAQUE: return "an opaque";
    case H5T_COMPOUND: return "a compound";
    case H5T_REFERENCE: return "a reference";
    case H5T_ENUM: return "an enum";
    case H5T_VLEN: return "a variable-length";
    case H5T_ARRAY: return "an array";
    default: return "an unknown";
    }
}

void h5_fmt_dims(char *buf, size_t cap, const hsize_t *d, int rank)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < rank && used < cap; k++) {
        int w = snprintf(buf + used, cap - used, k ? "x%llu" : "%llu", (unsigned long long)d[k]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* Joins a group path and a member name (absolute names stay as they are). */
int h5_join_path(char *out, size_t cap, const char *group, const char *name)
{
    int w;
    if (name[0] == '/')
        w = snprintf(out, cap, "%s", name);
    else
        w = snprintf(out, cap, "%s/%s", strcmp(group, "/") == 0 ? "" : group, name);
    return w >= 0 && (size_t)w < cap;
}

/* The group holding the object at path ("/" for a member of the root). */
void h5_parent_path(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t len = (slash == NULL || slash == path) ? 0 : (size_t)(slash - path);
    if (len == 0 || len >= cap) {
        snprintf(out, cap, "/");
        return;
    }
    memcpy(out, path, len);
    out[len] = '\0';
}

/* Object type at path: H5I_DATASET, H5I_GROUP, ... or H5I_BADID when it does not exist. */
H5I_type_t h5_object_type(hid_t file, const char *path)
{
    hid_t o = H5Oopen(file, path, H5P_DEFAULT);
    if (o < 0)
        return H5I_BADID;
    H5I_type_t t = H5Iget_type(o);
    H5Oclose(o);
    return t;
}

