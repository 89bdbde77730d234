/* GSL's error handler off, once per process (see gslinit.h). */
#include <pthread.h>

#include <gsl/gsl_errno.h>

#include "gslinit.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void handler_off(void)
{
    gsl_set_error_handler_off();
}

void mva_gsl_setup(void)
{
    pthread_once(&once, handler_off);
}
