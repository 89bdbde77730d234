/* Status codes, the error record and checked size arithmetic. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mva/error.h"

const char *mva_strerror(int code)
{
    switch (code) {
    case MVA_OK: return "success";
    case MVA_EIO: return "I/O error";
    case MVA_EFORMAT: return "format error";
    case MVA_ENOMEM: return "out of memory";
    case MVA_EINVAL: return "invalid argument";
    case MVA_ERANGE: return "out of range";
    case MVA_ENOTFOUND: return "not found";
    case MVA_EUNSUPPORTED: return "unsupported";
    case MVA_ECANCELED: return "canceled";
    case MVA_ENUMERIC: return "numerical failure";
    default: return "unknown error";
    }
}

const char *mva_version(void)
{
    return MVA_VERSION_STRING;
}

int mva_error_set(mva_error *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

int mva_error_prefix(mva_error *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    char head[MVA_ERROR_MSG_MAX];
    char old[MVA_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t h = strlen(head);
    if (h >= sizeof err->msg)
        h = sizeof err->msg - 1;
    memcpy(err->msg, head, h);
    size_t room = sizeof err->msg - 1 - h, o = strlen(old);
    if (o > room)
        o = room;
    memcpy(err->msg + h, old, o);
    err->msg[h + o] = '\0';
    if (err->code == MVA_OK)
        err->code = code;
    return err->code;
}

void mva_error_clear(mva_error *err)
{
    if (err == NULL)
        return;
    err->code = MVA_OK;
    err->msg[0] = '\0';
}

int mva_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return MVA_ERANGE;
    *out = a * b;
    return MVA_OK;
}
