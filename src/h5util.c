/* The one layer of small HDF5 helpers (see h5util.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "mva/error.h"

/* HDF5 1.12 renamed H5Dvlen_reclaim to H5Treclaim. */
#if H5_VERSION_GE(1, 12, 0)
#define vlen_reclaim H5Treclaim
#else
#define vlen_reclaim H5Dvlen_reclaim
#endif

void h5u_quiet_on(h5u_quiet *q)
{
    q->fn = NULL;
    q->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void h5u_quiet_off(const h5u_quiet *q)
{
    H5Eset_auto2(H5E_DEFAULT, q->fn, q->data);
}

typedef struct desc_buf {
    char *buf;
    size_t cap;
} desc_buf;

static herr_t last_desc(unsigned n, const H5E_error2_t *e, void *data)
{
    desc_buf *d = data;
    if (n == 0 && e->desc != NULL)
        snprintf(d->buf, d->cap, "%s", e->desc);
    return 0;
}

void h5u_innermost(char *buf, size_t cap)
{
    desc_buf d = {buf, cap};
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, last_desc, &d);
}

void h5u_reason(char *buf, size_t cap)
{
    char d[256];
    h5u_innermost(d, sizeof d);
    snprintf(buf, cap, "%s%s%s", d[0] ? " (HDF5: " : "", d, d[0] ? ")" : "");
}

void h5u_close(hid_t id)
{
    if (id < 0)
        return;
    switch (H5Iget_type(id)) {
    case H5I_FILE: H5Fclose(id); break;
    case H5I_GROUP: H5Gclose(id); break;
    case H5I_DATASET: H5Dclose(id); break;
    case H5I_ATTR: H5Aclose(id); break;
    case H5I_DATASPACE: H5Sclose(id); break;
    case H5I_DATATYPE: H5Tclose(id); break;
    case H5I_GENPROP_LST: H5Pclose(id); break;
    default: break;
    }
}

int h5u_exists(hid_t file, const char *path)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return 0;
    for (char *s = strchr(buf + 1, '/');; s = strchr(s + 1, '/')) {
        if (s != NULL)
            *s = '\0';
        if (H5Lexists(file, buf, H5P_DEFAULT) <= 0)
            return 0;
        if (s == NULL)
            return 1;
        *s = '/';
    }
}

hid_t h5u_native_size(void)
{
    return sizeof(size_t) == 8 ? H5T_NATIVE_UINT64 : H5T_NATIVE_UINT32;
}

hid_t h5u_utf8_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        H5Tclose(t);
        t = -1;
    }
    return t;
}

/* Copies n nul-terminated strings, stride bytes apart in src (or pointed to by v), into
 * rows of width bytes; MVA_ERANGE when one does not fit. */
static int copy_strings(char *const *v, const char *src, size_t stride, size_t n, char *out,
                        size_t width)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = v ? (v[i] ? v[i] : "") : src + i * stride;
        if (strlen(s) >= width)
            return MVA_ERANGE;
        strcpy(out + i * width, s);
    }
    return MVA_OK;
}

static herr_t read_any(hid_t obj, int is_attr, hid_t mt, void *buf)
{
    return is_attr ? H5Aread(obj, mt, buf) : H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
}

void h5u_vlen_reclaim(hid_t mt, hid_t sp, void *buf)
{
    vlen_reclaim(mt, sp, H5P_DEFAULT, buf);
}

static int read_vlen_strings(hid_t obj, int is_attr, hid_t ft, hid_t sp, size_t n, char *out,
                             size_t width)
{
    hid_t mt = H5Tcopy(H5T_C_S1);
    char **v = calloc(n ? n : 1, sizeof *v);
    int rc = MVA_OK;
    if (v == NULL)
        rc = MVA_ENOMEM;
    else if (mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 ||
             H5Tset_cset(mt, H5Tget_cset(ft)) < 0 || read_any(obj, is_attr, mt, v) < 0)
        rc = MVA_EIO;
    else {
        rc = copy_strings(v, NULL, 0, n, out, width);
        h5u_vlen_reclaim(mt, sp, v);
    }
    free(v);
    h5u_close(mt);
    return rc;
}

static int read_fixed_strings(hid_t obj, int is_attr, hid_t ft, size_t n, char *out,
                              size_t width)
{
    /* Read as a one-byte-longer NULLTERM type: HDF5's conversion then guarantees the
     * terminating nul whatever the stored padding. */
    size_t sz = H5Tget_size(ft) + 1;
    hid_t mt = H5Tcopy(ft);
    char *f = calloc(n ? n : 1, sz);
    int rc = MVA_OK;
    if (f == NULL)
        rc = MVA_ENOMEM;
    else if (mt < 0 || H5Tset_size(mt, sz) < 0 || H5Tset_strpad(mt, H5T_STR_NULLTERM) < 0 ||
             read_any(obj, is_attr, mt, f) < 0)
        rc = MVA_EIO;
    else
        rc = copy_strings(NULL, f, sz, n, out, width);
    free(f);
    h5u_close(mt);
    return rc;
}

int h5u_read_strings(hid_t obj, int is_attr, size_t n, char *out, size_t width)
{
    hid_t ft = is_attr ? H5Aget_type(obj) : H5Dget_type(obj);
    hid_t sp = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    int rc;
    if (ft < 0 || sp < 0)
        rc = MVA_EIO;
    else if (H5Tget_class(ft) != H5T_STRING)
        rc = MVA_EFORMAT;
    else if (H5Tis_variable_str(ft) > 0)
        rc = read_vlen_strings(obj, is_attr, ft, sp, n, out, width);
    else
        rc = read_fixed_strings(obj, is_attr, ft, n, out, width);
    h5u_close(sp);
    h5u_close(ft);
    return rc;
}

/* One string of a scalar (or one-element) dataset or attribute. */
static int read_one(hid_t obj, int is_attr, char *buf, size_t cap)
{
    hid_t sp = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    int rc = sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1
                 ? h5u_read_strings(obj, is_attr, 1, buf, cap)
                 : MVA_EFORMAT;
    h5u_close(sp);
    return rc;
}

int h5u_attr_str_read(hid_t obj, const char *name, char *buf, size_t cap)
{
    htri_t ex = H5Aexists(obj, name);
    if (ex <= 0)
        return ex < 0 ? MVA_EIO : MVA_ENOTFOUND;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        return MVA_EIO;
    int rc = read_one(a, 1, buf, cap);
    H5Aclose(a);
    return rc;
}

int h5u_dset_str_read(hid_t loc, const char *path, char *buf, size_t cap)
{
    if (!h5u_exists(loc, path))
        return MVA_ENOTFOUND;
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
    if (d < 0)
        return MVA_EIO;
    int rc = read_one(d, 0, buf, cap);
    H5Dclose(d);
    return rc;
}
