/* Internal to the library: the one layer of small HDF5 helpers, used by the input side (io/)
 * and the output side (results/, report/) alike; writing datasets, attributes and NXdata is
 * results/nexus.c's (one writer with one error style).  Status returns: MVA_OK or an MVA_E*
 * code, unless said otherwise. */
#ifndef MVA_H5UTIL_H
#define MVA_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors ---- */

/* HDF5 prints its own error stack unless told not to; the library never prints.  quiet_on
 * turns the printing off and keeps the previous handler for quiet_off to restore. */
typedef struct h5u_quiet {
    H5E_auto2_t fn;
    void *data;
} h5u_quiet;
void h5u_quiet_on(h5u_quiet *q);
void h5u_quiet_off(const h5u_quiet *q);

/* The innermost (most specific) description on the current error stack, "" when empty.
 * Call right after the failing call: any other HDF5 call clears the stack. */
void h5u_innermost(char *buf, size_t cap);

/* " (HDF5: <innermost description>)" from the current error stack, or "" when empty: so
 * that a message says why, not only what.  Call before any other HDF5 call clears it. */
void h5u_reason(char *buf, size_t cap);

/* Closes any HDF5 id by its type; a no-op for id < 0. */
void h5u_close(hid_t id);

/* ---- lookups ---- */

/* 1 when every link of the absolute path exists, 0 otherwise (H5Lexists needs each parent). */
int h5u_exists(hid_t file, const char *path);

/* ---- types ---- */

/* Variable-length UTF-8 string type, as h5py writes strings (caller closes); -1 on failure. */
hid_t h5u_utf8_type(void);

/* The memory type of size_t for HDF5 transfers. */
hid_t h5u_native_size(void);

/* ---- reading ---- */

/* Frees what HDF5 allocated reading variable-length data (strings) of type mt, space sp. */
void h5u_vlen_reclaim(hid_t mt, hid_t sp, void *buf);

/* Reads n strings (variable or fixed length) of a dataset (is_attr 0) or attribute into out,
 * rows of width bytes.  Returns MVA_OK, MVA_EFORMAT (not strings), MVA_ERANGE (one does not
 * fit) or MVA_EIO / MVA_ENOMEM. */
int h5u_read_strings(hid_t obj, int is_attr, size_t n, char *out, size_t width);

/* The scalar string attribute name of obj into buf: MVA_OK, MVA_ENOTFOUND when absent, or an
 * error of h5u_read_strings. */
int h5u_attr_str_read(hid_t obj, const char *name, char *buf, size_t cap);

/* The scalar string dataset at path into buf: MVA_OK, MVA_ENOTFOUND when absent, or an
 * error of h5u_read_strings. */
int h5u_dset_str_read(hid_t loc, const char *path, char *buf, size_t cap);

#endif
