/* Random starts from GSL's Mersenne Twister.  In its own file: GSL's randist header pulls in
 * gsl_cblas.h, whose enums clash with OpenBLAS's cblas.h. */
#include <math.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "internal.h"

int nmf_abs_gaussian_fill(double *const *bufs, const size_t *counts, size_t nbuf,
                          double scale, uint64_t seed)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (rng == NULL)
        return MVA_ENOMEM;
    gsl_rng_set(rng, (unsigned long)seed);
    for (size_t b = 0; b < nbuf; b++)
        for (size_t i = 0; i < counts[b]; i++)
            bufs[b][i] = scale * fabs(gsl_ran_gaussian(rng, 1.0));
    gsl_rng_free(rng);
    return MVA_OK;
}
