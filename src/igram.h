/* The exact Gram of integer rows (src/igram.c).  Internal to the library: the exact PCA's
 * covariance and NMF's NNDSVDa Gram. */
#ifndef MVA_IGRAM_H
#define MVA_IGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "mva/pass.h"

typedef struct igram_pool igram_pool;

/* Rows per batch (one round of products). */
#define MVA_IGRAM_ROWS 512
/* Panels of the packed variables at most, hence tiles of the Gram at most. */
#define MVA_IGRAM_PANELS 16
#define MVA_IGRAM_TILES (MVA_IGRAM_PANELS * (MVA_IGRAM_PANELS + 1) / 2)

typedef struct mva_igram {
    size_t p;
    int raw;          /* g receives sum x x^T (1) or sum d d^T, d = x - mu0 (0) */
    double *g;        /* p x p target, the caller's (upper triangle, row-major) */
    size_t n;         /* rows taken */
    int shift_set;
    double *mu0;      /* p: the integer shift */
    double mumax;     /* max |mu0| */
    double *dsum;     /* p: sum of d over the rows taken */
    double *fsum;     /* p: sum of d over the rows since the last flush (raw) */
    size_t fn;        /* rows since the last flush */
    double gbound;    /* bound of every partial sum g gets from this object */
    /* Live variables: those with a nonzero d in some row so far, packed (brightest first
     * after a reorder; those that turn up later at the end).  The float rows and Gram hold
     * them alone; a variable still dead has d = 0 in every row taken, hence no term. */
    size_t nl;
    size_t *live;     /* nl: variable at packed position a */
    size_t *dead;     /* p - nl: the others */
    float *cmax;      /* p, packed: largest |d| seen */
    /* Panels of packed positions, pb[k] to pb[k + 1] (the last one to nl), and their tiles:
     * f's entries of a tile hold a sum bounded by tbound, restarted on its own. */
    size_t np, plan_nl;
    size_t pb[MVA_IGRAM_PANELS + 1];
    double tbound[MVA_IGRAM_TILES];
    unsigned char tfresh[MVA_IGRAM_TILES]; /* the tile of f holds no sum yet */
    float *f;         /* p x p (ld p): sum d d^T tile by tile, packed, upper; NULL with vnni */
    int vnni;         /* the integer kernel: f is fi, its sums bounded by 2^31 (not 2^24) */
    int32_t *fi;      /* p x p (ld p): as f, in 32-bit integers, for the integer kernel */
    int32_t *pk[2];   /* fw[i] packed for the integer kernel (src/igram_vnni.c) */
    size_t f_cols;    /* leading columns of f that are zeroed or hold a sum */
    float *row;       /* p: the row being taken, unpacked */
    float *fw[2];     /* MVA_IGRAM_ROWS x p each (ld p): packed rows, one batch filling while
                       * the other is multiplied out */
    float *pmax[2];   /* MVA_IGRAM_ROWS x MVA_IGRAM_PANELS: each row's max |d| per panel */
    int cur;          /* fw[cur] is filling */
    size_t nf;        /* rows in fw[cur] */
    size_t batches;   /* batches sent */
    double *scratch;  /* the calling thread's double-precision tiles */
    size_t n_float, n_int, n_double, n_restart, n_reorder; /* tiles multiplied out so far
                       * (single precision, integer kernel, double), tiles of f
                       * restarted on their own, orders by brightness (to test and measure) */
    double area_float, area_double; /* products (entries x rows) in single, double precision */
    igram_pool *pool; /* threads multiplying out batches; NULL: the caller alone */
    int pool_tried;
} mva_igram;

/* 1 (the default): the integer kernel where the CPU has it; 0: single precision throughout
 * (for tests and benches comparing the two; read by mva_igram_init). */
extern int mva_igram_want_vnni;

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
 * that is not an integer or farther than 2^22 from the shift, or a sum that would pass 2^53):
 * the caller sums it another way.
 * Full batches are multiplied out by the calling thread and, when OpenBLAS has more than one
 * thread, helper threads of this object's own (OpenBLAS runs one thread per call meanwhile);
 * they end at mva_igram_flush. */
int mva_igram_add(mva_igram *a, const double *x);

/* Everything taken so far into g; the helper threads end and OpenBLAS gets its threads back.
 * More rows may follow. */
void mva_igram_flush(mva_igram *a);

/* The integer kernel (src/igram_vnni.c).  Available: the CPU has AVX-512 BW, VL and VNNI.
 * Packed words for rows x nl values; pack rows x nl values (ld apart, integers |v| <= 32767)
 * into out (64-byte aligned, that many words); the 6 x 64 tile of sums over the rows of
 * packed columns [i, i + 6) by [j, j + 64), j a multiple of 64, into c (6 rows of 64, ld
 * apart), stored (store 1) or added (rows past the end of i's chunk of 64 get nothing of
 * use). */
int mva_igram_vnni_available(void);
size_t mva_igram_vnni_packed_words(size_t rows, size_t nl);
void mva_igram_vnni_pack(const float *a, size_t ld, size_t rows, size_t nl, int32_t *out);
void mva_igram_vnni_tile(const int32_t *packed, size_t rows, size_t i, size_t j, int32_t *c,
                         size_t ld, int store);
/* The row intake where the kernel runs (same CPU): x - mu0 (p values) into out as floats, 1
 * and the largest square in *big if all are integers, else 0; sum += row; out[i] =
 * row[live[i]] for i in [i0, i1), cmax[i] raised to |out[i]|, the largest |out[i]| returned. */
int mva_igram_vnni_shift(const double *x, const double *mu0, size_t p, float *out, double *big);
void mva_igram_vnni_sum(double *sum, const float *row, size_t p);
float mva_igram_vnni_gather(const float *row, const size_t *live, size_t i0, size_t i1,
                            float *out, float *cmax);

#endif
