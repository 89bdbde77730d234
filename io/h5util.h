/* Internal to io/: small HDF5 writing helpers shared by the writers that are not the main
 * results writer (expansion, selections).  Each returns 0 on success, -1 on failure. */
#ifndef MVA_IO_H5UTIL_H
#define MVA_IO_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* Variable-length UTF-8 string attribute, as h5py writes them. */
int h5u_str_attr(hid_t obj, const char *name, const char *value);

/* Array of variable-length UTF-8 strings as an attribute (e.g. NXdata @axes). */
int h5u_str_array_attr(hid_t obj, const char *name, const char **values, hsize_t n);

/* A group with its NX_class; -1 on failure. */
hid_t h5u_group(hid_t loc, const char *name, const char *nx_class);

/* A float64 dataset of the given shape (rank 0 for a scalar). */
int h5u_doubles(hid_t loc, const char *name, int rank, const hsize_t *dims, const double *v);

/* A uint8 dataset of the given shape. */
int h5u_bytes(hid_t loc, const char *name, int rank, const hsize_t *dims,
              const unsigned char *v);

/* An int32 / int64 dataset of the given shape (rank 0 for a scalar). */
int h5u_int32s(hid_t loc, const char *name, int rank, const hsize_t *dims, const int32_t *v);
int h5u_int64s(hid_t loc, const char *name, int rank, const hsize_t *dims, const int64_t *v);

/* A scalar string dataset. */
int h5u_string(hid_t loc, const char *name, const char *value);

#endif
