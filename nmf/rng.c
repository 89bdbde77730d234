/* Random starts from GSL's Mersenne Twister.  In its own file: GSL's randist header pulls in
 * gsl_cblas.h, whose enums clash with OpenBLAS's cblas.h. */
#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "internal.h"
#include "gslinit.h"

struct nmf_rng {
    gsl_rng *g;
};

nmf_rng *nmf_rng_new(uint64_t seed)
{
    nmf_rng *r = malloc(sizeof *r);
    if (r == NULL)
        return NULL;
    mva_gsl_setup(); /* GSL must return errors, not abort */
    if ((r->g = gsl_rng_alloc(gsl_rng_mt19937)) == NULL) {
        free(r);
        return NULL;
    }
    gsl_rng_set(r->g, (unsigned long)seed);
    return r;
}

void nmf_rng_abs_gaussian(nmf_rng *r, double *buf, size_t count, double scale)
{
    for (size_t i = 0; i < count; i++)
        buf[i] = scale * fabs(gsl_ran_gaussian(r->g, 1.0));
}

void nmf_rng_free(nmf_rng *r)
{
    if (r == NULL)
        return;
    gsl_rng_free(r->g);
    free(r);
}
