/* Channel range, channel mask and binning as one channel -> variable map. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int pca_vars_init(pca_vars *v, size_t channels, const mva_pca_opts *opts, mva_error *err)
{
    memset(v, 0, sizeof *v);
    v->channels = channels;
    v->bin = opts->bin ? opts->bin : 1;
    v->c0 = opts->ch_begin;
    v->c1 = opts->ch_end ? opts->ch_end : channels;
    if (v->c1 > channels || v->c0 >= v->c1)
        return mva_error_set(err, MVA_EINVAL,
                             "channel range %zu:%zu is outside the stack's %zu channels "
                             "(expected 0 <= first < last <= %zu)",
                             v->c0, v->c1, channels, channels);
    size_t ngroups = (v->c1 - v->c0) / v->bin;
    if (ngroups == 0)
        return mva_error_set(err, MVA_EINVAL,
                             "binning by %zu leaves no variable in channels %zu:%zu", v->bin,
                             v->c0, v->c1);
    v->var_of = malloc(channels * sizeof *v->var_of);
    v->var_ch0 = malloc(ngroups * sizeof *v->var_ch0);
    if (v->var_of == NULL || v->var_ch0 == NULL) {
        pca_vars_free(v);
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    }
    for (size_t c = 0; c < channels; c++)
        v->var_of[c] = -1;
    for (size_t g = 0; g < ngroups; g++) {
        size_t first = v->c0 + g * v->bin, used = 0;
        for (size_t c = first; c < first + v->bin; c++) {
            if (opts->ch_mask && !opts->ch_mask[c])
                continue;
            v->var_of[c] = (long)v->p;
            used++;
        }
        if (used)
            v->var_ch0[v->p++] = first;
    }
    if (v->p == 0) {
        pca_vars_free(v);
        return mva_error_set(err, MVA_EINVAL, "the channel mask leaves no channel to analyse");
    }
    v->identity = v->bin == 1 && v->p == v->c1 - v->c0;
    return MVA_OK;
}

void pca_vars_free(pca_vars *v)
{
    free(v->var_of);
    free(v->var_ch0);
    v->var_of = NULL;
    v->var_ch0 = NULL;
}

void pca_vars_apply(const pca_vars *v, const double *x, double *out)
{
    if (v->identity) {
        memcpy(out, x + v->c0, v->p * sizeof *out);
        return;
    }
    memset(out, 0, v->p * sizeof *out);
    for (size_t c = v->c0; c < v->c1; c++)
        if (v->var_of[c] >= 0)
            out[v->var_of[c]] += x[c];
}
