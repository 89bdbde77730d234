/*
 * The input formats: a table of {name, detect, open} that mva_stack_open walks.  The format
 * is taken from the content, never from the file name: HDF5 by its signature, EDF by a
 * header opening with '{' (also inside gzip), SPEC by '#' lines with a "#S" scan.  A new
 * format is one row here and its reader's two functions.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mva/edf.h"
#include "mva/hdf5.h"
#include "mva/spec.h"
#include "mva/stack.h"
#include "combine.h"

typedef struct mva_format {
    const char *name;
    int (*detect)(const char *file); /* non-zero when the content is this format */
    int (*open)(mva_stack **out, const char *input, const mva_open_opts *opts, mva_error *err);
} mva_format;

/* In the order they are tried: the HDF5 signature is certain, EDF's '{' and SPEC's '#'
 * lines are looser. */
static const mva_format formats[] = {
    {"hdf5", mva_hdf5_is_hdf5, mva_hdf5_open},
    {"edf", mva_edf_is_edf, mva_edf_open},
    {"spec", mva_spec_is_spec, mva_spec_open},
};

static int open_format(mva_stack **out, const char *input, const mva_open_opts *opts,
                       mva_error *err)
{
    if (opts && (opts->files != NULL || opts->use_pattern))
        return mva_edf_open(out, input, opts, err);
    char file[4096], path[1024];
    if (input == NULL || mva_hdf5_split_input(input, file, sizeof file, path, sizeof path) != MVA_OK)
        return mva_error_set(err, MVA_ERANGE, "%s: input name too long or missing",
                             input ? input : "(null)");
    FILE *f = fopen(file, "rb");
    if (f == NULL)
        return mva_error_set(err, MVA_ENOTFOUND, "%s: cannot open: %s", file,
                             strerror(errno));
    unsigned char head[8] = {0};
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    for (size_t k = 0; k < sizeof formats / sizeof formats[0]; k++) {
        if (!formats[k].detect(file))
            continue;
        /* "file::/path" names a place inside an HDF5 file only. */
        if (path[0] != '\0' && strcmp(formats[k].name, "hdf5") != 0)
            break;
        return formats[k].open(out, input, opts, err);
    }
    if (path[0] != '\0')
        return mva_error_set(err, MVA_EFORMAT, "%s: a dataset path (::%s) was given but the "
                             "file is not HDF5", file, path);
    if (got == 0)
        return mva_error_set(err, MVA_EFORMAT, "%s: empty file (0 bytes)", file);
    return mva_error_set(err, MVA_EFORMAT,
                         "%s: not a recognised stack: expected HDF5 (signature \\211HDF at "
                         "byte 0), EDF (a header starting with '{', possibly gzipped) or SPEC "
                         "('#S' scan lines with '@A' spectra)",
                         file);
}

/* The reader, then the generic reader stage (src/combine.c: element selection checks,
 * --norm from datasets, --snake) for what the reader did not apply itself. */
int mva_stack_open(mva_stack **out, const char *input, const mva_open_opts *opts,
                   mva_error *err)
{
    int rc = open_format(out, input, opts, err);
    if (rc != MVA_OK)
        return rc;
    return mva_stage_apply(out, opts, err);
}
