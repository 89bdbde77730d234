/*
 * The exact Gram's integer kernel (src/igram.c): 16-bit products summed in 32-bit integers
 * by AVX-512 VNNI (vpdpwssd), twice the multiply-adds a cycle of single-precision FMA.
 *
 * Rows come in pairs: a batch is packed into chunks of 64 columns, each chunk nq rows of 64
 * 32-bit words, word j of row q holding d[2q][j] in its low 16 bits and d[2q + 1][j] in its
 * high ones.  vpdpwssd multiplies the halves of a broadcast word (one column i of a pair of
 * rows) with those of 16 words (16 columns j) and adds both products into 32-bit sums:
 * d[2q][i] d[2q][j] + d[2q+1][i] d[2q+1][j].  A tile of 6 columns i by one chunk of 64
 * columns j keeps its 24 sums of 16 in registers over every pair of rows.
 *
 * Exactness is the caller's: |d| <= 32767 (so that two products sum below 2^31), and the sum
 * over the rows of max |d_i| max |d_j| below 2^31 for every tile (src/igram.c keeps both).
 *
 * Built for every x86-64 with the target attribute; the kernel runs only where the CPU says it
 * has AVX-512 BW, VL and VNNI (mva_igram_vnni_available).  Valgrind's CPU has none.
 */
#include <stdint.h>
#include <string.h>

#include "igram.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_VNNI_BUILD 1
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#endif

int mva_igram_vnni_available(void)
{
#ifdef HAVE_VNNI_BUILD
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

#ifdef HAVE_VNNI_BUILD

/* The first min(n, 16) lanes (the first 8 of them cast to __mmask8). */
static __mmask16 lanes(size_t n)
{
    return n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1u);
}

/* Rows 2q, 2q + 1 of columns [c, c + 64) into one packed row (zeros past the width w). */
VNNI static void pack_pair(const float *r0, const float *r1, size_t w, int32_t *out)
{
    const __m512i lo = _mm512_set1_epi32(0xffff);
    for (size_t j = 0; j < 64; j += 16) {
        __mmask16 m = j >= w ? 0 : lanes(w - j);
        __m512i a = _mm512_cvtps_epi32(_mm512_maskz_loadu_ps(m, r0 + j));
        __m512i b = r1 ? _mm512_cvtps_epi32(_mm512_maskz_loadu_ps(m, r1 + j))
                       : _mm512_setzero_si512();
        __m512i v = _mm512_or_si512(_mm512_and_si512(a, lo), _mm512_slli_epi32(b, 16));
        _mm512_store_si512(out + j, v);
    }
}

VNNI static void pack(const float *a, size_t ld, size_t rows, size_t nl, int32_t *out)
{
    size_t nq = (rows + 1) / 2;
    for (size_t c = 0; c < nl; c += 64) {
        size_t w = nl - c < 64 ? nl - c : 64;
        int32_t *chunk = out + (c / 64) * nq * 64;
        for (size_t q = 0; q < nq; q++) {
            const float *r0 = a + 2 * q * ld + c;
            const float *r1 = 2 * q + 1 < rows ? r0 + ld : NULL;
            pack_pair(r0, r1, w, chunk + q * 64);
        }
    }
}

/* The sums over nq packed rows of columns a[0..6) by b[0..64) into c (6 x 64, ld apart):
 * stored (store 1) or added to what c holds. */
VNNI static void tile6x64(const int32_t *a, const int32_t *b, size_t nq, int32_t *c, size_t ld,
                         int store)
{
#define ZERO(r)                                                                              \
    __m512i c##r##0 = _mm512_setzero_si512(), c##r##1 = c##r##0, c##r##2 = c##r##0,           \
            c##r##3 = c##r##0;
    ZERO(0) ZERO(1) ZERO(2) ZERO(3) ZERO(4) ZERO(5)
#undef ZERO
    for (size_t q = 0; q < nq; q++, a += 64, b += 64) {
        __m512i b0 = _mm512_load_si512(b), b1 = _mm512_load_si512(b + 16);
        __m512i b2 = _mm512_load_si512(b + 32), b3 = _mm512_load_si512(b + 48);
#define ROW(r)                                                                               \
    {                                                                                        \
        __m512i x = _mm512_set1_epi32(a[r]);                                                 \
        c##r##0 = _mm512_dpwssd_epi32(c##r##0, x, b0);                                       \
        c##r##1 = _mm512_dpwssd_epi32(c##r##1, x, b1);                                       \
        c##r##2 = _mm512_dpwssd_epi32(c##r##2, x, b2);                                       \
        c##r##3 = _mm512_dpwssd_epi32(c##r##3, x, b3);                                       \
    }
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
    }
#define PUT(r, h)                                                                            \
    {                                                                                        \
        int32_t *o = c + r * ld + 16 * h;                                                    \
        __m512i v = store ? c##r##h : _mm512_add_epi32(c##r##h, _mm512_loadu_si512(o));     \
        _mm512_storeu_si512(o, v);                                                           \
    }
#define STORE(r) PUT(r, 0) PUT(r, 1) PUT(r, 2) PUT(r, 3)
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
#undef PUT
}

/* The row intake, 8 values at a time (the scalar and SSE2 code in src/igram.c does the same
 * 1-2 at a time: a third of the Gram's time once the kernel is this fast). */
VNNI static int shift8(const double *x, const double *mu0, size_t p, float *out, double *big)
{
    const __m512d round = _mm512_set1_pd(6755399441055744.0); /* 1.5 * 2^52 */
    __m512d vb = _mm512_setzero_pd();
    __mmask8 frac = 0;
    for (size_t j = 0; j < p; j += 8) {
        __mmask8 m = (__mmask8)lanes(p - j);
        __m512d d = _mm512_sub_pd(_mm512_maskz_loadu_pd(m, x + j),
                                  _mm512_maskz_loadu_pd(m, mu0 + j));
        vb = _mm512_max_pd(vb, _mm512_mul_pd(d, d));
        frac |= _mm512_cmp_pd_mask(_mm512_sub_pd(_mm512_add_pd(d, round), round), d, _CMP_NEQ_UQ);
        _mm256_mask_storeu_ps(out + j, m, _mm512_cvtpd_ps(d));
    }
    *big = _mm512_reduce_max_pd(vb);
    return frac == 0;
}

VNNI static void sum8(double *sum, const float *row, size_t p)
{
    for (size_t j = 0; j < p; j += 8) {
        __mmask8 m = (__mmask8)lanes(p - j);
        __m512d v = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, row + j));
        _mm512_mask_storeu_pd(sum + j, m, _mm512_add_pd(_mm512_maskz_loadu_pd(m, sum + j), v));
    }
}

VNNI static float gather16(const float *row, const size_t *live, size_t i0, size_t i1,
                           float *out, float *cmax)
{
    __m512 vm = _mm512_setzero_ps();
    for (size_t i = i0; i < i1; i += 16) {
        __mmask16 m = lanes(i1 - i);
        __mmask8 lo = (__mmask8)(m & 0xff), hi = (__mmask8)(m >> 8);
        __m512i ia = _mm512_maskz_loadu_epi64(lo, live + i);
        __m512i ib = _mm512_maskz_loadu_epi64(hi, live + i + 8);
        __m256 a = _mm512_mask_i64gather_ps(_mm256_setzero_ps(), lo, ia, row, 4);
        __m256 b = _mm512_mask_i64gather_ps(_mm256_setzero_ps(), hi, ib, row, 4);
        __m512 v = _mm512_castpd_ps(_mm512_insertf64x4(
            _mm512_castps_pd(_mm512_castps256_ps512(a)), _mm256_castps_pd(b), 1));
        _mm512_mask_storeu_ps(out + i, m, v);
        __m512 av = _mm512_abs_ps(v);
        vm = _mm512_max_ps(vm, av);
        _mm512_mask_storeu_ps(cmax + i, m, _mm512_max_ps(_mm512_maskz_loadu_ps(m, cmax + i), av));
    }
    return _mm512_reduce_max_ps(vm);
}

#endif

int mva_igram_vnni_shift(const double *x, const double *mu0, size_t p, float *out, double *big)
{
#ifdef HAVE_VNNI_BUILD
    return shift8(x, mu0, p, out, big);
#else
    (void)x, (void)mu0, (void)p, (void)out, (void)big;
    return 0;
#endif
}

void mva_igram_vnni_sum(double *sum, const float *row, size_t p)
{
#ifdef HAVE_VNNI_BUILD
    sum8(sum, row, p);
#else
    (void)sum, (void)row, (void)p;
#endif
}

float mva_igram_vnni_gather(const float *row, const size_t *live, size_t i0, size_t i1,
                            float *out, float *cmax)
{
#ifdef HAVE_VNNI_BUILD
    return gather16(row, live, i0, i1, out, cmax);
#else
    (void)row, (void)live, (void)i0, (void)i1, (void)out, (void)cmax;
    return 0.0f;
#endif
}

size_t mva_igram_vnni_packed_words(size_t rows, size_t nl)
{
    /* + 64: a tile's last 6 columns may start at column 60 of the last row of a chunk */
    return ((nl + 63) / 64) * ((rows + 1) / 2) * 64 + 64;
}

void mva_igram_vnni_pack(const float *a, size_t ld, size_t rows, size_t nl, int32_t *out)
{
#ifdef HAVE_VNNI_BUILD
    pack(a, ld, rows, nl, out);
    memset(out + mva_igram_vnni_packed_words(rows, nl) - 64, 0, 64 * sizeof *out);
#else
    (void)a, (void)ld, (void)rows, (void)nl, (void)out;
#endif
}

void mva_igram_vnni_tile(const int32_t *packed, size_t rows, size_t i, size_t j, int32_t *c,
                         size_t ld, int store)
{
#ifdef HAVE_VNNI_BUILD
    size_t nq = (rows + 1) / 2;
    const int32_t *a = packed + (i / 64) * nq * 64 + i % 64;
    const int32_t *b = packed + (j / 64) * nq * 64;
    tile6x64(a, b, nq, c, ld, store);
#else
    (void)packed, (void)rows, (void)i, (void)j, (void)c, (void)ld, (void)store;
#endif
}
