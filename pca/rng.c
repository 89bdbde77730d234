/* Gaussian start vectors from GSL's Mersenne Twister.  In its own file: GSL's randist header
 * pulls in gsl_cblas.h, whose enums clash with OpenBLAS's cblas.h. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "internal.h"
#include "gslinit.h"

int pca_gaussian_fill(double *x, size_t count, uint64_t seed)
{
    mva_gsl_setup(); /* GSL must return errors, not abort */
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (rng == NULL)
        return MVA_ENOMEM;
    gsl_rng_set(rng, (unsigned long)seed);
    for (size_t i = 0; i < count; i++)
        x[i] = gsl_ran_gaussian(rng, 1.0);
    gsl_rng_free(rng);
    return MVA_OK;
}
