/* gramrate P: the single-core rate of the exact Gram's kernel -- ssyrk of batches of 512 rows
 * into a P x P single-precision Gram, OpenBLAS at one thread -- in multiply-adds per second,
 * for bench.sh's estimate of this machine's limit (inflate + the Gram's arithmetic). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    int p = argc > 1 ? atoi(argv[1]) : 2000, k = 512, reps = 0;
    if (p < 16) {
        fprintf(stderr, "usage: gramrate P\n");
        return 2;
    }
    float *a = malloc((size_t)k * p * sizeof *a), *c = calloc((size_t)p * p, sizeof *c);
    if (a == NULL || c == NULL)
        return 1;
    for (size_t i = 0; i < (size_t)k * p; i++)
        a[i] = (float)(rand() % 64);
    openblas_set_num_threads(1);
    double t0 = now(), t;
    do {
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, p, k, 1.0f, a, p, 1.0f, c, p);
        reps++;
    } while ((t = now() - t0) < 0.5);
    double rate = (double)reps * k * ((double)p * (p + 1) / 2) / t;
    printf("gramrate: ssyrk %d x %d, 512 rows a batch, one core: %.3g multiply-adds/s\n", p, p,
           rate);
    free(a);
    free(c);
    return 0;
}
