/* Internal to the library: GSL's default error handler aborts the process.  The library
 * checks GSL's return values itself, so every function that calls GSL first calls
 * mva_gsl_setup(), which turns the handler off once per process (pthread_once: safe from any
 * thread).  A library caller thus gets the tools' behaviour without doing anything.  (The
 * handler is process-wide: a caller that installs its own after this keeps it.) */
#ifndef MVA_GSLINIT_H
#define MVA_GSLINIT_H

void mva_gsl_setup(void);

#endif
