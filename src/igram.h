/* The exact Gram of integer rows, in single precision (src/igram.c).  Internal to the library:
 * the exact PCA's covariance and NMF's NNDSVDa Gram. */
#ifndef MVA_IGRAM_H
#define MVA_IGRAM_H

#include <stddef.h>

#include "mva/pass.h"

typedef struct mva_igram {
    size_t p;
    int raw;          /* g receives sum x x^T (1) or sum d d^T, d = x - mu0 (0) */
    double *g;        /* p x p target, the caller's (upper triangle, row-major) */
    size_t n;         /* rows taken */
    int shift_set;
    double *mu0;      /* p: the integer shift */
    double *dsum;     /* p: sum of d over the rows taken */
    double *fsum;     /* p: sum of d over the rows in f (raw) */
    size_t fn;        /* rows in f */
    float *f;         /* p x p: sum d d^T since the last flush */
    float *fw;        /* MVA_IGRAM_ROWS x p rows waiting for ssyrk */
    size_t nf;
    int f_fresh;      /* f holds nothing: the next ssyrk overwrites it */
    double fbound;    /* bound of every partial sum in f, pending rows included */
} mva_igram;

/* Rows per ssyrk call. */
#define MVA_IGRAM_ROWS 512

/* Sets up for p variables, adding into g (p x p, zeroed by the caller).  MVA_ENOMEM. */
int mva_igram_init(mva_igram *a, size_t p, double *g, int raw);
void mva_igram_free(mva_igram *a);

/* The shift: per variable, the rounded median of the ns rows of sample (ns x p), 0 where it is
 * not finite.  Call once, before the first row.  MVA_ENOMEM. */
int mva_igram_set_shift(mva_igram *a, const double *sample, size_t ns);

/* The shift from up to MVA_IGRAM_SAMPLE valid pixels spread over block b (which has one):
 * vars(ctx, x, out) maps a pixel's values to the p variables (NULL: the first p values as
 * they are); buf holds MVA_IGRAM_SAMPLE x p doubles.  MVA_ENOMEM. */
#define MVA_IGRAM_SAMPLE 63
int mva_igram_shift_from_block(mva_igram *a, const mva_block *b,
                               void (*vars)(const void *ctx, const double *x, double *out),
                               const void *ctx, double *buf);

/* Takes row x (p values) and returns 1, or returns 0 when it cannot be summed exactly (a value
 * that is not an integer, or farther than 4096 from the shift): the caller sums it another way. */
int mva_igram_add(mva_igram *a, const double *x);

/* Everything taken so far into g. */
void mva_igram_flush(mva_igram *a);

#endif
