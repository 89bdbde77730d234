/* Internal: the map from stack channels to PCA variables (channel range, mask, binning). */
#ifndef MVA_PCA_VARS_H
#define MVA_PCA_VARS_H

#include <stddef.h>

#include "mva/error.h"
#include "mva/pca.h"

typedef struct pca_vars {
    size_t channels;  /* stack channels */
    size_t p;         /* variables */
    size_t bin;
    size_t c0, c1;    /* channel range [c0, c1) */
    int identity;     /* variable j is channel c0 + j: a plain copy */
    long *var_of;     /* channels entries: variable of each channel, or -1 */
    size_t *var_ch0;  /* p entries: first channel of each variable */
} pca_vars;

/* Builds the map for opts on a stack of `channels` channels.  Bins are groups of `bin`
 * consecutive channels starting at the range start; a trailing partial group is dropped (as
 * PyMca and HyperSpy do) and so is a group whose channels are all masked out. */
int pca_vars_init(pca_vars *v, size_t channels, const mva_pca_opts *opts, mva_error *err);

void pca_vars_free(pca_vars *v);

/* out[0..p) = the variables of one spectrum x[0..channels). */
void pca_vars_apply(const pca_vars *v, const double *x, double *out);

#endif
