/*
 * mva/error.h - status codes and the error record.
 *
 * Every fallible mva function returns an int status: MVA_OK (0) on success, one of the
 * negative MVA_E* codes otherwise.  The detailed message (which file, which dataset, line or
 * byte offset, what was expected and what was found) goes into an mva_error record that the
 * caller owns and passes in; a NULL record is allowed and simply drops the message.
 */
#ifndef MVA_ERROR_H
#define MVA_ERROR_H

#include <stddef.h>

#define MVA_VERSION_MAJOR 0
#define MVA_VERSION_MINOR 1
#define MVA_VERSION_PATCH 0
#define MVA_VERSION_STRING "0.1.0"

enum {
    MVA_OK = 0,
    MVA_EIO = -1,          /* the operating system or HDF5 failed to read or write */
    MVA_EFORMAT = -2,      /* input does not follow its format */
    MVA_ENOMEM = -3,       /* allocation failed */
    MVA_EINVAL = -4,       /* invalid argument or option */
    MVA_ERANGE = -5,       /* size or index out of range, or a size product overflows */
    MVA_ENOTFOUND = -6,    /* file, dataset or key does not exist */
    MVA_EUNSUPPORTED = -7, /* valid input that this version cannot handle */
    MVA_ECANCELED = -8,    /* the progress callback asked to stop */
    MVA_ENUMERIC = -9      /* a numerical routine (LAPACK) failed */
};

#define MVA_ERROR_MSG_MAX 1024

/* Caller-owned error record: code and a human-readable message naming the place. */
typedef struct mva_error {
    int code;
    char msg[MVA_ERROR_MSG_MAX];
} mva_error;

/* Short name of a status code ("I/O error", "format error", ...). Never NULL. */
const char *mva_strerror(int code);

/* Library version string, e.g. "0.1.0". */
const char *mva_version(void);

/* Records code and a printf-style message in err (if not NULL); returns code, so that
 * `return mva_error_set(err, MVA_EFORMAT, "%s: ...", file);` reads naturally. */
int mva_error_set(mva_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prefixes the message already in err with more context ("while reading X: "). Returns
 * err->code (or code when err is NULL). */
int mva_error_prefix(mva_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Resets err to MVA_OK with an empty message. */
void mva_error_clear(mva_error *err);

/* Multiplies a * b into *out; returns MVA_ERANGE on size_t overflow (and leaves *out alone). */
int mva_size_mul(size_t a, size_t b, size_t *out);

#endif
