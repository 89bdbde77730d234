/* gramrate P: the single-core rate of the exact Gram (src/igram.c) on rows of P counts
 * around 20 +- 15 (integers), in multiply-adds of its upper triangle per second: in single
 * precision (ssyrk and sgemm tiles) and, where the CPU has AVX-512 VNNI, by the integer
 * kernel (the one mva uses then).  For bench.sh's estimate of this machine's limit (inflate +
 * the Gram's arithmetic). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "igram.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Multiply-adds per second of rows of x (n x p) into the Gram, the kernel as asked. */
static double rate(const double *x, size_t n, size_t p, int vnni, int *used)
{
    double *g = calloc(p * p, sizeof *g), t0, t;
    mva_igram a;
    size_t rows = 0;
    mva_igram_want_vnni = vnni;
    if (g == NULL || mva_igram_init(&a, p, g, 0) != 0 || mva_igram_set_shift(&a, x, 63) != 0)
        exit(1);
    *used = a.vnni;
    t0 = now();
    do {
        for (size_t i = 0; i < n; i++)
            mva_igram_add(&a, x + i * p);
        rows += n;
    } while ((t = now() - t0) < 0.5);
    mva_igram_flush(&a);
    t = now() - t0;
    mva_igram_free(&a);
    free(g);
    return (double)rows * ((double)p * (p + 1) / 2) / t;
}

int main(int argc, char **argv)
{
    size_t p = argc > 1 ? (size_t)atoi(argv[1]) : 2000, n = 4096;
    if (p < 16) {
        fprintf(stderr, "usage: gramrate P\n");
        return 2;
    }
    double *x = malloc(n * p * sizeof *x);
    if (x == NULL)
        return 1;
    srand(1);
    for (size_t i = 0; i < n * p; i++)
        x[i] = (double)(5 + rand() % 31);
    openblas_set_num_threads(1);
    int used;
    double r = rate(x, n, p, 0, &used);
    printf("gramrate: exact Gram %zu x %zu, single precision, one core: %.3g multiply-adds/s\n",
           p, p, r);
    r = rate(x, n, p, 1, &used);
    if (used)
        printf("gramrate: exact Gram %zu x %zu, integer kernel (AVX-512 VNNI), one core: %.3g "
               "multiply-adds/s\n", p, p, r);
    free(x);
    return 0;
}
