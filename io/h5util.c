/* Small HDF5 writing helpers shared by io/expand.c and io/select.c. */
#include <stdio.h>

#include "h5util.h"

static hid_t utf8_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

int h5u_str_attr(hid_t obj, const char *name, const char *value)
{
    hid_t t = utf8_type(), sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = a < 0 ? -1 : H5Awrite(a, t, &value);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return st < 0 ? -1 : 0;
}

int h5u_str_array_attr(hid_t obj, const char *name, const char **values, hsize_t n)
{
    hid_t t = utf8_type(), sp = H5Screate_simple(1, &n, NULL);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = a < 0 ? -1 : H5Awrite(a, t, values);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return st < 0 ? -1 : 0;
}

hid_t h5u_group(hid_t loc, const char *name, const char *nx_class)
{
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g >= 0 && h5u_str_attr(g, "NX_class", nx_class) != 0) {
        H5Gclose(g);
        return -1;
    }
    return g;
}

static int write_any(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                     const hsize_t *dims, const void *v)
{
    hid_t sp = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = d < 0 ? -1 : H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    return st < 0 ? -1 : 0;
}

int h5u_doubles(hid_t loc, const char *name, int rank, const hsize_t *dims, const double *v)
{
    return write_any(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, rank, dims, v);
}

int h5u_bytes(hid_t loc, const char *name, int rank, const hsize_t *dims,
              const unsigned char *v)
{
    return write_any(loc, name, H5T_STD_U8LE, H5T_NATIVE_UCHAR, rank, dims, v);
}

int h5u_int32s(hid_t loc, const char *name, int rank, const hsize_t *dims, const int32_t *v)
{
    return write_any(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT32, rank, dims, v);
}

int h5u_int64s(hid_t loc, const char *name, int rank, const hsize_t *dims, const int64_t *v)
{
    return write_any(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, rank, dims, v);
}

int h5u_string(hid_t loc, const char *name, const char *value)
{
    hid_t t = utf8_type();
    int rc = write_any(loc, name, t, t, 0, NULL, &value);
    H5Tclose(t);
    return rc;
}
