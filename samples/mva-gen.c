/*
 * mva-gen - synthetic XRF maps with ground truth, written as NeXus HDF5.
 *
 * The sample has four smooth phases (a K/Ca matrix, Fe grains, a Cu/Zn band, a Pb pigment
 * blob) whose fractions vary with position, and a trace element (As by default, its Ka line
 * hidden under Pb La) in a disc of ~37 pixels.  Each phase has one expected spectrum: element
 * lines with a Fano-limited detector width, a continuum, Rayleigh and Compton scatter.  A
 * pixel's expected spectrum is a mix of those (a rank-5 product per map row), then
 * Poisson-sampled.  Worker threads generate rows, each from its own generator seeded by
 * (seed, row); the main thread writes them in order, one hyperslab each, so memory is
 * O(threads x cols x channels) whatever the map size and the file does not depend on the
 * number of threads.  The truth (phase maps, phase spectra, trace mask) goes into the same
 * file.
 *
 * See samples/README.md and `mva-gen --help`.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <hdf5.h>

#include "commit.h"    /* the one way mva writes a file (libmva) */
#include "mva/error.h"

#define PROG "mva-gen"

#define NPHASE 4
#define NCOMP (NPHASE + 1)  /* the phases, then the trace element */
#define COUNTS_DIM 5000.0    /* --counts dim (the default): the bundled sample map */
#define COUNTS_BRIGHT 50000.0 /* --counts bright: peak channels ~10^3 counts */
#define TRACE_FRACTION 0.10 /* trace counts at abundance 1, as a fraction of --counts */
#define TRACE_RADIUS 3.6    /* pixels: a disc of 37 pixels away from the map edges */
#define LZ4_FILTER 32004    /* registered HDF5 filter id of the LZ4 plugin */
#define MAX_LINES 32
#define PI 3.14159265358979323846

/* ------------------------------------------------------------------------------------------ */
/* Errors: one message, printed by main.                                                      */

static char errbuf[2048];

static int fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return -1;
}

static herr_t h5_innermost(unsigned n, const H5E_error2_t *e, void *data)
{
    /* Walked upwards, entry 0 is the most specific error.  System errors read "file write
     * failed: time = ..., errno = 27, error message = 'File too large', ...": keep the
     * head and the quoted message. */
    if (n != 0 || e->desc == NULL)
        return 0;
    const char *msg = strstr(e->desc, "error message = '"), *colon = strchr(e->desc, ':');
    if (msg != NULL && colon != NULL) {
        msg += strlen("error message = '");
        const char *end = strchr(msg, '\'');
        snprintf(data, 512, "%.*s: %.*s", (int)(colon - e->desc), e->desc,
                 (int)(end ? end - msg : (ptrdiff_t)strlen(msg)), msg);
    } else {
        snprintf(data, 512, "%s", e->desc);
    }
    return 0;
}

/* Like fail(), appending the most specific message on HDF5's error stack.  Call it right
 * after the failed call: any HDF5 API call that succeeds (even H5Sclose) clears the stack. */
static int h5fail(const char *what)
{
    char detail[512] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_innermost, detail);
    H5Eclear2(H5E_DEFAULT);
    if (detail[0] != '\0')
        return fail("HDF5 failed %s: %s", what, detail);
    return fail("HDF5 failed %s", what);
}

/* ------------------------------------------------------------------------------------------ */
/* Options                                                                                    */

typedef enum { NOISE_POISSON, NOISE_NONE } noise_kind;
typedef enum { COMP_NONE, COMP_GZIP, COMP_LZ4 } comp_kind;
typedef enum { CHUNK_ROW, CHUNK_NONE, CHUNK_USER } chunk_kind;

typedef struct dtype_info {
    const char *name;
    size_t size;
    int is_float;
    double max; /* values above are clipped (and counted) */
} dtype_info;

enum { DT_UINT8, DT_UINT16, DT_UINT32, DT_INT32, DT_INT64, DT_FLOAT32, DT_FLOAT64, DT_COUNT };

static const dtype_info dtypes[DT_COUNT] = {
    {"uint8", 1, 0, 255.0},        {"uint16", 2, 0, 65535.0}, {"uint32", 4, 0, 4294967295.0},
    {"int32", 4, 0, 2147483647.0}, {"int64", 8, 0, 9.0e18},   {"float32", 4, 1, FLT_MAX},
    {"float64", 8, 1, DBL_MAX},
};

typedef struct options {
    const char *output;
    size_t rows, cols, channels;
    int dtype;         /* DT_* */
    int channel_first; /* --layout first */
    int flat;          /* --2d: (pixels, channels) */
    comp_kind comp;
    int gzip_level;
    int comp_given;
    chunk_kind chunk;
    size_t chunk_user[3];
    int chunk_user_n;
    uint64_t seed;
    double counts;
    noise_kind noise;
    double a, b, c;    /* E(keV) = a + b*ch + c*ch^2 */
    double excitation; /* keV */
    int trace;         /* element index, or -1 for none */
    int threads;       /* generator threads; the main thread writes */
    int threads_given;
    int quiet;
} options;

/* ------------------------------------------------------------------------------------------ */
/* Physics tables                                                                             */

typedef struct line {
    const char *name;
    double energy; /* keV */
    double rel;    /* intensity relative to the element's strongest line */
    double edge;   /* keV: the line is excited only when the beam is above this edge */
} line;

typedef struct element {
    const char *symbol;
    int nlines;
    line lines[4];
} element;

enum { EL_K, EL_CA, EL_TI, EL_FE, EL_CU, EL_ZN, EL_AS, EL_PB, EL_COUNT };

/* Line energies and absorption edges from the X-ray data booklet (LBNL); Kb/Ka ratios are
 * typical for these Z.  Pb Lb lumps Lb1 (L2) and Lb2 (L3), excited from the L3 edge. */
static const element elements[EL_COUNT] = {
    [EL_K] = {"K", 2, {{"K Ka", 3.313, 1.0, 3.608}, {"K Kb", 3.590, 0.13, 3.608}}},
    [EL_CA] = {"Ca", 2, {{"Ca Ka", 3.691, 1.0, 4.038}, {"Ca Kb", 4.013, 0.13, 4.038}}},
    [EL_TI] = {"Ti", 2, {{"Ti Ka", 4.511, 1.0, 4.966}, {"Ti Kb", 4.932, 0.14, 4.966}}},
    [EL_FE] = {"Fe", 2, {{"Fe Ka", 6.404, 1.0, 7.112}, {"Fe Kb", 7.058, 0.15, 7.112}}},
    [EL_CU] = {"Cu", 2, {{"Cu Ka", 8.048, 1.0, 8.979}, {"Cu Kb", 8.905, 0.17, 8.979}}},
    [EL_ZN] = {"Zn", 2, {{"Zn Ka", 8.639, 1.0, 9.659}, {"Zn Kb", 9.572, 0.17, 9.659}}},
    [EL_AS] = {"As", 2, {{"As Ka", 10.543, 1.0, 11.867}, {"As Kb", 11.726, 0.18, 11.867}}},
    [EL_PB] = {"Pb",
               4,
               {{"Pb La", 10.551, 1.0, 13.035},
                {"Pb Lb", 12.614, 0.85, 13.035},
                {"Pb Lg", 14.764, 0.12, 15.200},
                {"Pb Ma", 2.346, 0.35, 2.484}}},
};

/* What each phase emits, as fractions of its counts (before lines above the beam are
 * dropped).  Light matrices scatter more (Compton), Pb absorbs and scatters little. */
typedef struct phase_recipe {
    const char *name;
    double el[EL_COUNT];
    double continuum, rayleigh, compton;
} phase_recipe;

static const phase_recipe phases[NPHASE] = {
    {"matrix (K, Ca)", {[EL_K] = 0.20, [EL_CA] = 0.50, [EL_FE] = 0.04}, 0.16, 0.03, 0.07},
    {"Fe grains", {[EL_K] = 0.03, [EL_CA] = 0.10, [EL_FE] = 0.62}, 0.17, 0.03, 0.05},
    {"Cu/Zn band",
     {[EL_CA] = 0.06, [EL_FE] = 0.04, [EL_CU] = 0.40, [EL_ZN] = 0.25},
     0.17,
     0.03,
     0.05},
    {"Pb pigment", {[EL_CA] = 0.05, [EL_FE] = 0.02, [EL_PB] = 0.66}, 0.20, 0.05, 0.02},
};

/* Detector resolution, Fano form: sigma^2 = (noise/2.355)^2 + eps*F*E, with eps = 3.85 eV per
 * electron-hole pair in Si, F = 0.114 and 100 eV FWHM electronic noise; energies in keV.
 * Gives 156 eV FWHM at Mn Ka (5.9 keV). */
static double det_sigma(double e)
{
    const double noise = 0.100 / 2.355;
    if (e < 0.0)
        e = 0.0;
    return sqrt(noise * noise + 3.85e-3 * 0.114 * e);
}

/* Compton energy at 90 degrees: E' = E / (1 + E/mc^2 (1 - cos theta)). */
static double compton_energy(double e0)
{
    return e0 / (1.0 + e0 / 510.999);
}

/* Doppler broadening of the Compton peak by the electrons' momenta, as a Gaussian. */
#define COMPTON_DOPPLER_SIGMA 0.20

/* Smooth continuum hump: Kramers' (E0 - E)/E plus a shelf rising towards the scatter peaks
 * (incomplete charge collection, multiple scatter), absorbed at low energy by the window and
 * air (exp(-(1.8/E)^3)), cut smoothly at E0.  A shape only; normalised to unit area. */
static double continuum_density(double e, double e0)
{
    if (e <= 0.05)
        return 0.0;
    double kramers = e < e0 ? (e0 - e) / e : 0.0;
    double shelf = 0.35 * (e / e0) * (e / e0);
    double window = exp(-pow(1.8 / e, 3.0));
    double cut = 0.5 * erfc((e - e0) / (sqrt(2.0) * 0.3));
    return (kramers + shelf) * window * cut;
}

/* ------------------------------------------------------------------------------------------ */
/* The model: channel energies and the expected spectrum of each component.                  */

typedef struct model {
    size_t p;
    double *energy; /* p channel-centre energies, keV */
    double *edge;   /* p + 1 channel edges, keV */
    double *S;      /* NCOMP x p: expected counts per unit abundance, row-major */
    char phase_elements[NPHASE][64];
    int nlines; /* lines emitted by some component, for the truth */
    const char *line_names[MAX_LINES];
    double line_energies[MAX_LINES];
} model;

static double calib_energy(const options *o, double ch)
{
    return o->a + ch * (o->b + ch * o->c);
}

/* Adds w times a unit-area Gaussian integrated over each channel (erf at the channel edges,
 * exact even when a channel is wider than the peak). */
static void add_gaussian(const model *m, double *s, double e0, double sigma, double w)
{
    double k = 1.0 / (sqrt(2.0) * sigma), reach = 8.0 * sigma;
    for (size_t ch = 0; ch < m->p; ch++) {
        if (m->edge[ch + 1] < e0 - reach || m->edge[ch] > e0 + reach)
            continue;
        s[ch] += w * 0.5 * (erf((m->edge[ch + 1] - e0) * k) - erf((m->edge[ch] - e0) * k));
    }
}

/* Adds the lines of element el with total weight w (lines above the beam dropped).  Returns
 * the weight actually emitted. */
static double add_element(model *m, double *s, int el, double w, double e0)
{
    const element *E = &elements[el];
    double sum = 0.0, emitted = 0.0;
    for (int i = 0; i < E->nlines; i++)
        sum += E->lines[i].rel;
    for (int i = 0; i < E->nlines; i++) {
        const line *L = &E->lines[i];
        if (L->edge >= e0)
            continue;
        add_gaussian(m, s, L->energy, det_sigma(L->energy), w * L->rel / sum);
        emitted += w * L->rel / sum;
        int known = 0;
        for (int j = 0; j < m->nlines; j++)
            known |= m->line_names[j] == L->name;
        if (!known && m->nlines < MAX_LINES) {
            m->line_names[m->nlines] = L->name;
            m->line_energies[m->nlines++] = L->energy;
        }
    }
    return emitted;
}

static void add_continuum(const model *m, double *s, double e0, double w)
{
    /* Area of the shape by the midpoint rule on a 1 eV grid, independent of the channels. */
    double area = 0.0, step = 1e-3;
    for (double e = 0.5 * step; e < e0 + 3.0; e += step)
        area += continuum_density(e, e0) * step;
    for (size_t ch = 0; ch < m->p; ch++) {
        double width = m->edge[ch + 1] - m->edge[ch];
        s[ch] += w * continuum_density(m->energy[ch], e0) * width / area;
    }
}

static int build_phase(model *m, const options *o, int k)
{
    const phase_recipe *r = &phases[k];
    double *s = m->S + (size_t)k * m->p, e0 = o->excitation, ec = compton_energy(e0);
    char *names = m->phase_elements[k];
    names[0] = '\0';
    for (int el = 0; el < EL_COUNT; el++) {
        if (r->el[el] <= 0.0)
            continue;
        if (add_element(m, s, el, r->el[el], e0) > 0.0) {
            size_t len = strlen(names);
            snprintf(names + len, 64 - len, "%s%s", len ? ", " : "", elements[el].symbol);
        }
    }
    add_continuum(m, s, e0, r->continuum);
    add_gaussian(m, s, e0, det_sigma(e0), r->rayleigh);
    double sc = sqrt(pow(det_sigma(ec), 2) + pow(COMPTON_DOPPLER_SIGMA, 2));
    add_gaussian(m, s, ec, sc, r->compton);

    /* Scale so that a pixel of this phase alone has --counts counts in the recorded range. */
    double total = 0.0;
    for (size_t ch = 0; ch < m->p; ch++)
        total += s[ch];
    if (!(total > 1e-9))
        return fail("--a/--b/--c: channels 0..%zu span %.3f..%.3f keV, where phase '%s' "
                    "emits nothing (its spectrum lies in 0..%.1f keV)",
                    m->p - 1, m->edge[0], m->edge[m->p], r->name, e0 + 1.0);
    for (size_t ch = 0; ch < m->p; ch++)
        s[ch] *= o->counts / total;
    return 0;
}

static void build_trace(model *m, const options *o)
{
    double *s = m->S + (size_t)NPHASE * m->p;
    if (o->trace < 0)
        return;
    /* Not renormalised to the range: at abundance 1 the trace adds TRACE_FRACTION * counts
     * counts when all its lines are recorded. */
    if (add_element(m, s, o->trace, TRACE_FRACTION * o->counts, o->excitation) <= 0.0)
        fprintf(stderr,
                PROG ": warning: --excitation %g keV is below the edge of %s: the trace "
                     "cluster is in the truth but emits nothing\n",
                o->excitation, elements[o->trace].symbol);
}

static void model_free(model *m)
{
    free(m->energy);
    free(m->edge);
    free(m->S);
}

static int model_build(model *m, const options *o)
{
    size_t p = o->channels;
    memset(m, 0, sizeof *m);
    m->p = p;
    m->energy = malloc(p * sizeof *m->energy);
    m->edge = malloc((p + 1) * sizeof *m->edge);
    m->S = calloc((size_t)NCOMP * p, sizeof *m->S);
    if (m->energy == NULL || m->edge == NULL || m->S == NULL)
        return fail("out of memory for %zu channels", p);
    for (size_t ch = 0; ch <= p; ch++)
        m->edge[ch] = calib_energy(o, (double)ch - 0.5);
    for (size_t ch = 0; ch < p; ch++)
        m->energy[ch] = calib_energy(o, (double)ch);
    for (int k = 0; k < NPHASE; k++)
        if (build_phase(m, o, k) < 0)
            return -1;
    build_trace(m, o);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Geometry: where the phases and the trace cluster are.  (u, v) in (0, 1) across columns and
 * down rows, so the picture is the same at any map size.                                     */

typedef struct grain {
    double u, v, s;
} grain;

static const grain fe_grains[] = {
    {0.18, 0.25, 0.060}, {0.30, 0.70, 0.050}, {0.48, 0.18, 0.040},
    {0.85, 0.80, 0.070}, {0.12, 0.85, 0.045},
};

static void phase_weights(double u, double v, double w[NPHASE])
{
    double fe = 0.0;
    for (size_t i = 0; i < sizeof fe_grains / sizeof fe_grains[0]; i++) {
        const grain *g = &fe_grains[i];
        double d2 = (u - g->u) * (u - g->u) + (v - g->v) * (v - g->v);
        fe += exp(-d2 / (2.0 * g->s * g->s));
    }
    double band = v - (0.80 - 0.20 * u + 0.04 * sin(2.0 * PI * 1.3 * u));
    double pu = (u - 0.70) / 0.10, pv = (v - 0.35) / 0.14;
    w[0] = 1.0;
    w[1] = 3.0 * fe;
    w[2] = 2.5 * exp(-(band / 0.06) * (band / 0.06));
    w[3] = 4.0 * exp(-0.5 * (pu * pu + pv * pv));
}

/* Slow variation of the total signal (sample thickness, flux), +-10 %. */
static double intensity(double u, double v)
{
    return 1.0 + 0.08 * (u - 0.5) + 0.05 * cos(2.0 * PI * v);
}

/* Abundances of row r: F is cols x NCOMP (phase fractions times intensity, then the trace),
 * mask[c] = 1 inside the trace cluster. */
static void row_mix(const options *o, size_t r, double *F, uint8_t *mask)
{
    double v = ((double)r + 0.5) / (double)o->rows;
    double rc = floor(0.45 * (double)o->rows), cc = floor(0.62 * (double)o->cols);
    const double R2 = TRACE_RADIUS * TRACE_RADIUS;
    for (size_t c = 0; c < o->cols; c++) {
        double u = ((double)c + 0.5) / (double)o->cols, w[NPHASE], sum = 0.0;
        phase_weights(u, v, w);
        for (int k = 0; k < NPHASE; k++)
            sum += w[k];
        double gain = intensity(u, v), *f = F + c * NCOMP;
        for (int k = 0; k < NPHASE; k++)
            f[k] = gain * w[k] / sum;
        double dr = (double)r - rc, dc = (double)c - cc, d2 = dr * dr + dc * dc;
        mask[c] = o->trace >= 0 && d2 <= R2;
        f[NPHASE] = mask[c] ? 1.0 - 0.5 * d2 / R2 : 0.0;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Sampling and conversion                                                                    */

/* splitmix64 (Steele, Lea & Flood 2014): decorrelates the per-row seeds. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Poisson variate by inversion of the CDF with one uniform, for mu < 30: no exp() at all when
 * u < 1 - mu <= exp(-mu), which settles most channels of low mean, and multiplications by a
 * table of 1/k instead of divisions.  Above, GSL's gsl_ran_poisson.  Both exact. */
#define INVERSION_MAX_MU 30.0
#define INVERSION_MAX_K 160 /* P(k > 160 | mu < 30) < 1e-60 */

static double inv_k[INVERSION_MAX_K + 1];

static void poisson_init(void)
{
    for (int k = 1; k <= INVERSION_MAX_K; k++)
        inv_k[k] = 1.0 / k;
}

static double poisson(gsl_rng *rng, double mu)
{
    if (!(mu > 0.0))
        return 0.0;
    if (mu >= INVERSION_MAX_MU)
        return (double)gsl_ran_poisson(rng, mu);
    double u = gsl_rng_uniform(rng);
    if (u < 1.0 - mu)
        return 0.0;
    double p = exp(-mu), cdf = p;
    int k = 0;
    while (u > cdf && k < INVERSION_MAX_K) {
        k++;
        p *= mu * inv_k[k];
        cdf += p;
    }
    return (double)k;
}

/* Row r's pixels, in place: expected counts -> observed counts. */
static void noise_row(const options *o, size_t r, gsl_rng *rng, double *x, size_t n)
{
    if (o->noise == NOISE_POISSON) {
        gsl_rng_set(rng, (unsigned long)mix64(o->seed ^ mix64(r)));
        for (size_t i = 0; i < n; i++)
            x[i] = poisson(rng, x[i]);
    } else if (!dtypes[o->dtype].is_float) {
        for (size_t i = 0; i < n; i++)
            x[i] = floor(x[i] + 0.5);
    }
}

/* Converts the cols x p row x into dst of type T, transposed to p x cols for channel-first;
 * returns the number of values clipped at the type's maximum. */
#define DEFINE_STORE(fn, T)                                                                        \
    static size_t fn(const double *x, void *dst, size_t cols, size_t p, int transpose,             \
                     double maxv)                                                                  \
    {                                                                                              \
        T *out = dst;                                                                              \
        size_t clipped = 0, sc = transpose ? 1 : p, sk = transpose ? cols : 1;                     \
        for (size_t c = 0; c < cols; c++)                                                          \
            for (size_t k = 0; k < p; k++) {                                                       \
                double v = x[c * p + k];                                                           \
                if (v > maxv) {                                                                    \
                    v = maxv;                                                                      \
                    clipped++;                                                                     \
                }                                                                                  \
                out[c * sc + k * sk] = (T)v;                                                       \
            }                                                                                      \
        return clipped;                                                                            \
    }

DEFINE_STORE(store_u8, uint8_t)
DEFINE_STORE(store_u16, uint16_t)
DEFINE_STORE(store_u32, uint32_t)
DEFINE_STORE(store_i32, int32_t)
DEFINE_STORE(store_i64, int64_t)
DEFINE_STORE(store_f32, float)
DEFINE_STORE(store_f64, double)

typedef size_t (*store_fn)(const double *, void *, size_t, size_t, int, double);
static const store_fn stores[DT_COUNT] = {store_u8,  store_u16, store_u32, store_i32,
                                          store_i64, store_f32, store_f64};

static hid_t dtype_mem(int dt)
{
    switch (dt) {
    case DT_UINT8: return H5T_NATIVE_UINT8;
    case DT_UINT16: return H5T_NATIVE_UINT16;
    case DT_UINT32: return H5T_NATIVE_UINT32;
    case DT_INT32: return H5T_NATIVE_INT32;
    case DT_INT64: return H5T_NATIVE_INT64;
    case DT_FLOAT32: return H5T_NATIVE_FLOAT;
    default: return H5T_NATIVE_DOUBLE;
    }
}

static hid_t dtype_file(int dt)
{
    switch (dt) {
    case DT_UINT8: return H5T_STD_U8LE;
    case DT_UINT16: return H5T_STD_U16LE;
    case DT_UINT32: return H5T_STD_U32LE;
    case DT_INT32: return H5T_STD_I32LE;
    case DT_INT64: return H5T_STD_I64LE;
    case DT_FLOAT32: return H5T_IEEE_F32LE;
    default: return H5T_IEEE_F64LE;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Shape of the stored stack                                                                  */

typedef struct shape {
    int rank;            /* 3, or 2 with --2d */
    hsize_t dims[3];     /* dataset shape */
    hsize_t chunk[3];    /* chunk shape (unused when contiguous) */
    hsize_t count[3];    /* one map row as a hyperslab */
    const char *axis[3]; /* names of the stored axes, for messages */
    int chunked;
} shape;

static void row_slab(const options *o, size_t r, hsize_t start[3])
{
    if (o->flat) {
        start[0] = o->channel_first ? 0 : (hsize_t)(r * o->cols);
        start[1] = o->channel_first ? (hsize_t)(r * o->cols) : 0;
    } else {
        start[0] = o->channel_first ? 0 : (hsize_t)r;
        start[1] = o->channel_first ? (hsize_t)r : 0;
        start[2] = 0;
    }
}

static int shape_plan(shape *s, const options *o)
{
    hsize_t R = o->rows, C = o->cols, P = o->channels, N = R * C;
    const hsize_t *u = (const hsize_t[3]){o->chunk_user[0], o->chunk_user[1], o->chunk_user[2]};
    memset(s, 0, sizeof *s);
    if (o->flat) {
        s->rank = 2;
        hsize_t un = o->chunk_user_n == 3 ? u[0] * u[1] : u[0];
        hsize_t up = o->chunk_user_n == 3 ? u[2] : u[1];
        int f = o->channel_first; /* channel axis at index 0 instead of 1 */
        s->dims[f] = N, s->dims[!f] = P;
        s->count[f] = C, s->count[!f] = P;
        s->chunk[f] = un, s->chunk[!f] = up;
        s->axis[f] = "pixels", s->axis[!f] = "channels";
    } else {
        s->rank = 3;
        if (o->chunk == CHUNK_USER && o->chunk_user_n != 3)
            return fail("--chunk: expected R,C,P (three sizes) for a 3-D map, got %d",
                        o->chunk_user_n);
        /* Logical axes (rows, cols, channels) -> stored positions. */
        int pr = o->channel_first ? 1 : 0, pc = pr + 1, pp = o->channel_first ? 0 : 2;
        s->dims[pr] = R, s->dims[pc] = C, s->dims[pp] = P;
        s->count[pr] = 1, s->count[pc] = C, s->count[pp] = P;
        s->chunk[pr] = u[0], s->chunk[pc] = u[1], s->chunk[pp] = u[2];
        s->axis[pr] = "rows", s->axis[pc] = "cols", s->axis[pp] = "channels";
    }
    s->chunked = o->chunk != CHUNK_NONE;
    if (o->chunk == CHUNK_ROW)
        memcpy(s->chunk, s->count, sizeof s->chunk);
    if (!s->chunked)
        return 0;
    hsize_t bytes = dtypes[o->dtype].size;
    for (int d = 0; d < s->rank; d++) {
        if (s->chunk[d] < 1 || s->chunk[d] > s->dims[d])
            return fail("--chunk: %llu %s per chunk, but the map has %llu",
                        (unsigned long long)s->chunk[d], s->axis[d],
                        (unsigned long long)s->dims[d]);
        bytes *= s->chunk[d];
    }
    if (bytes >= (hsize_t)1 << 32)
        return fail("--chunk: a chunk of %llu bytes exceeds HDF5's 4 GiB limit; give smaller "
                    "R,C,P",
                    (unsigned long long)bytes);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* HDF5 helpers: each closes what it opens.                                                   */

static hid_t str_type(void)
{
    /* Variable-length UTF-8, as h5py writes Python str. */
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* Attribute (is_attr) or dataset named name on obj: one string (rank 0) or n (rank 1). */
static int put_strings(hid_t obj, const char *name, int rank, const char *const *v, size_t n,
                       int is_attr)
{
    hsize_t dim = n;
    hid_t t = str_type(), sp = rank ? H5Screate_simple(1, &dim, NULL) : H5Screate(H5S_SCALAR);
    hid_t h = -1;
    herr_t rc = -1;
    if (t >= 0 && sp >= 0) {
        if (is_attr) {
            h = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
            rc = h >= 0 ? H5Awrite(h, t, v) : -1;
        } else {
            h = H5Dcreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            rc = h >= 0 ? H5Dwrite(h, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) : -1;
        }
    }
    if (rc < 0) {
        char what[300];
        snprintf(what, sizeof what, "writing %s '%s'", is_attr ? "attribute" : "dataset", name);
        h5fail(what);
    }
    if (h >= 0)
        (is_attr ? H5Aclose : H5Dclose)(h);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    return rc < 0 ? -1 : 0;
}

static int attr_str(hid_t obj, const char *name, const char *value)
{
    return put_strings(obj, name, 0, &value, 1, 1);
}

static int dset_str(hid_t obj, const char *name, const char *value)
{
    return put_strings(obj, name, 0, &value, 1, 0);
}

/* Numeric attribute (is_attr) or dataset: rank 0 (scalar) or 1..3 with dims; mtype in memory,
 * ftype in the file.  Optional units attribute on datasets. */
static int put_numbers(hid_t obj, const char *name, hid_t ftype, hid_t mtype, int rank,
                       const hsize_t *dims, const void *buf, const char *units, int is_attr)
{
    hid_t sp = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR), h = -1;
    herr_t rc = -1;
    if (sp >= 0 && is_attr) {
        h = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
        rc = h >= 0 ? H5Awrite(h, mtype, buf) : -1;
    } else if (sp >= 0) {
        h = H5Dcreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        rc = h >= 0 ? H5Dwrite(h, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) : -1;
    }
    if (rc < 0) {
        char what[300];
        snprintf(what, sizeof what, "writing %s '%s'", is_attr ? "attribute" : "dataset", name);
        h5fail(what);
    } else if (!is_attr && units != NULL && attr_str(h, "units", units) < 0) {
        rc = -1;
    }
    if (h >= 0)
        (is_attr ? H5Aclose : H5Dclose)(h);
    if (sp >= 0)
        H5Sclose(sp);
    return rc < 0 ? -1 : 0;
}

static int dset_f64(hid_t obj, const char *name, int rank, const hsize_t *dims, const double *buf,
                    const char *units)
{
    return put_numbers(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, rank, dims, buf, units, 0);
}

static int attr_i64(hid_t obj, const char *name, int rank, const hsize_t *dims, const int64_t *buf)
{
    return put_numbers(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, rank, dims, buf, NULL, 1);
}

static hid_t group_new(hid_t parent, const char *name, const char *nx_class)
{
    hid_t g = H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        char what[300];
        snprintf(what, sizeof what, "creating group '%s'", name);
        h5fail(what);
        return -1;
    }
    if (attr_str(g, "NX_class", nx_class) < 0) {
        H5Gclose(g);
        return -1;
    }
    return g;
}

/* An empty dataset written later row by row; contiguous, no fill (every value is written). */
static hid_t dset_empty(hid_t parent, const char *name, hid_t ftype, int rank, const hsize_t *dims)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE), d = -1;
    if (sp >= 0 && dcpl >= 0 && H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0)
        d = H5Dcreate2(parent, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) {
        char what[300];
        snprintf(what, sizeof what, "creating dataset '%s'", name);
        h5fail(what);
    }
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (sp >= 0)
        H5Sclose(sp);
    return d;
}

/* Writes buf (shape count) at start of dataset d. */
static int write_slab(hid_t d, hid_t mtype, int rank, const hsize_t *start, const hsize_t *count,
                      const void *buf, const char *what)
{
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, count, NULL);
    herr_t rc = -1;
    if (fs >= 0 && ms >= 0 &&
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
        rc = H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, buf);
    if (rc < 0)
        h5fail(what);
    if (ms >= 0)
        H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The output file                                                                            */

typedef struct writer {
    mva_commit commit; /* the temporary, renamed to the output at the end */
    hid_t file;
    hid_t data;  /* /entry/data/data */
    hid_t maps;  /* /truth/phase_maps */
    hid_t mask;  /* /truth/trace_mask */
    hid_t trace; /* /truth/trace_map */
    hid_t truth; /* /truth */
} writer;

static const char *comp_name(const options *o, char *buf, size_t cap)
{
    if (o->comp == COMP_GZIP)
        snprintf(buf, cap, "gzip=%d", o->gzip_level);
    else
        snprintf(buf, cap, "%s", o->comp == COMP_LZ4 ? "lz4" : "none");
    return buf;
}

static int create_stack(writer *w, hid_t nxdata, const options *o, const shape *s)
{
    hid_t sp = H5Screate_simple(s->rank, s->dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), dapl = H5Pcreate(H5P_DATASET_ACCESS);
    int ok = sp >= 0 && dcpl >= 0 && dapl >= 0 && H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0;
    if (ok && s->chunked) {
        /* Cache every chunk one map row touches, so that chunks spanning several rows are
         * compressed once, when full (w0 = 1 evicts fully written chunks first). */
        hsize_t touched = 1, bytes = dtypes[o->dtype].size;
        for (int d = 0; d < s->rank; d++) {
            touched *= (s->count[d] + s->chunk[d] - 1) / s->chunk[d] + (s->chunk[d] > 1);
            bytes *= s->chunk[d];
        }
        size_t cache =
            (size_t)(touched * bytes > ((hsize_t)1 << 30) ? (hsize_t)1 << 30 : touched * bytes);
        ok = H5Pset_chunk(dcpl, s->rank, s->chunk) >= 0 &&
             H5Pset_chunk_cache(dapl, (size_t)(touched * 10 + 521), cache + (1 << 20), 1.0) >= 0;
        if (ok && o->comp == COMP_GZIP)
            ok = H5Pset_shuffle(dcpl) >= 0 && H5Pset_deflate(dcpl, (unsigned)o->gzip_level) >= 0;
        if (ok && o->comp == COMP_LZ4)
            ok = H5Pset_shuffle(dcpl) >= 0 &&
                 H5Pset_filter(dcpl, LZ4_FILTER, H5Z_FLAG_MANDATORY, 0, NULL) >= 0;
    }
    if (ok)
        w->data = H5Dcreate2(nxdata, "data", dtype_file(o->dtype), sp, H5P_DEFAULT, dcpl, dapl);
    if (w->data < 0)
        h5fail("creating /entry/data/data");
    if (dapl >= 0)
        H5Pclose(dapl);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (sp >= 0)
        H5Sclose(sp);
    if (w->data < 0)
        return -1;

    const char *axis = o->channel_first ? "first" : "last";
    if (attr_str(w->data, "units", "counts") < 0 || attr_str(w->data, "mva_channel_axis", axis) < 0)
        return -1;
    /* NeXus/silx: "spectrum" says the last axis is a spectrum. */
    if (!o->channel_first && attr_str(w->data, "interpretation", "spectrum") < 0)
        return -1;
    if (o->flat) {
        hsize_t two = 2;
        int64_t map[2] = {(int64_t)o->rows, (int64_t)o->cols};
        if (attr_i64(w->data, "mva_map_shape", 1, &two, map) < 0)
            return -1;
    }
    return 0;
}

static int write_nxdata(writer *w, hid_t entry, const options *o, const model *m, const shape *s)
{
    hid_t g = group_new(entry, "data", "NXdata");
    if (g < 0)
        return -1;
    const char *axes[3] = {".", ".", "."};
    int64_t eidx = o->channel_first ? 0 : s->rank - 1;
    axes[eidx] = "energy";
    hsize_t naxes = (hsize_t)s->rank, p = m->p, three = 3;
    double cal[3] = {o->a, o->b, o->c};
    int rc = 0;
    if (attr_str(g, "signal", "data") < 0 || put_strings(g, "axes", 1, axes, naxes, 1) < 0 ||
        attr_i64(g, "energy_indices", 0, NULL, &eidx) < 0 || create_stack(w, g, o, s) < 0 ||
        dset_f64(g, "energy", 1, &p, m->energy, "keV") < 0 ||
        dset_f64(g, "calibration", 1, &three, cal, NULL) < 0)
        rc = -1;
    if (rc == 0) {
        hid_t d = H5Dopen2(g, "calibration", H5P_DEFAULT);
        rc = d < 0 ? h5fail("reopening calibration")
                   : attr_str(d, "formula", "E(keV) = a + b*ch + c*ch^2, calibration = [a, b, c]");
        if (d >= 0)
            H5Dclose(d);
    }
    H5Gclose(g);
    return rc;
}

static int write_instrument(hid_t entry, const options *o)
{
    hid_t ins = group_new(entry, "instrument", "NXinstrument"), mono = -1, det = -1;
    int rc = -1;
    if (ins >= 0 && (mono = group_new(ins, "monochromator", "NXmonochromator")) >= 0 &&
        (det = group_new(ins, "detector", "NXdetector")) >= 0 &&
        dset_f64(mono, "energy", 0, NULL, &o->excitation, "keV") >= 0 &&
        dset_str(det, "description",
                 "simulated Si detector: Gaussian lines, FWHM 100 eV noise + Fano (F = 0.114, "
                 "3.85 eV/pair), 156 eV at Mn Ka") >= 0)
        rc = 0;
    if (det >= 0)
        H5Gclose(det);
    if (mono >= 0)
        H5Gclose(mono);
    if (ins >= 0)
        H5Gclose(ins);
    return rc;
}

static int write_process(hid_t entry, const options *o, const char *cmdline)
{
    char date[64], comp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", localtime_r(&now, &tm));
    int64_t seed = (int64_t)o->seed;
    hid_t g = group_new(entry, "process", "NXprocess");
    int rc = 0;
    if (g < 0 || dset_str(g, "program", PROG) < 0 ||
        dset_str(g, "version", MVA_VERSION_STRING) < 0 || dset_str(g, "date", date) < 0 ||
        dset_str(g, "command_line", cmdline) < 0 ||
        put_numbers(g, "seed", H5T_STD_I64LE, H5T_NATIVE_INT64, 0, NULL, &seed, NULL, 0) < 0 ||
        dset_f64(g, "counts", 0, NULL, &o->counts, "counts") < 0 ||
        dset_str(g, "noise", o->noise == NOISE_POISSON ? "poisson" : "none") < 0 ||
        dset_str(g, "dtype", dtypes[o->dtype].name) < 0 ||
        dset_str(g, "compression", comp_name(o, comp, sizeof comp)) < 0)
        rc = -1;
    if (g >= 0)
        H5Gclose(g);
    return rc;
}

static int write_truth_static(writer *w, const options *o, const model *m)
{
    hid_t t = w->truth;
    const char *names[NPHASE], *elems[NPHASE];
    for (int k = 0; k < NPHASE; k++) {
        names[k] = phases[k].name;
        elems[k] = m->phase_elements[k];
    }
    hsize_t ps[2] = {NPHASE, m->p}, p = m->p, nl = (hsize_t)m->nlines;
    hsize_t maps[3] = {NPHASE, o->rows, o->cols}, img[2] = {o->rows, o->cols};
    const char *trace = o->trace >= 0 ? elements[o->trace].symbol : "none";
    static const char *const about =
        "expected[r,c,:] = sum_k phase_maps[k,r,c] * phase_spectra[k,:] + trace_map[r,c] * "
        "trace_spectrum[:]; data = Poisson(expected) (or rounded with --noise none). "
        "mean_expected is the mean of expected over all pixels.";
    if (attr_str(t, "description", about) < 0 ||
        put_strings(t, "phase_names", 1, names, NPHASE, 0) < 0 ||
        put_strings(t, "phase_elements", 1, elems, NPHASE, 0) < 0 ||
        dset_f64(t, "phase_spectra", 2, ps, m->S, "counts") < 0 ||
        dset_f64(t, "trace_spectrum", 1, &p, m->S + (size_t)NPHASE * m->p, "counts") < 0 ||
        dset_str(t, "trace_element", trace) < 0 ||
        put_strings(t, "line_names", 1, m->line_names, nl, 0) < 0 ||
        dset_f64(t, "line_energies", 1, &nl, m->line_energies, "keV") < 0 ||
        dset_f64(t, "energy", 1, &p, m->energy, "keV") < 0)
        return -1;
    if ((w->maps = dset_empty(t, "phase_maps", H5T_IEEE_F64LE, 3, maps)) < 0 ||
        (w->mask = dset_empty(t, "trace_mask", H5T_STD_U8LE, 2, img)) < 0 ||
        (w->trace = dset_empty(t, "trace_map", H5T_IEEE_F64LE, 2, img)) < 0)
        return -1;
    return 0;
}

/* Closes everything; the file last, when HDF5 flushes (a full disk shows here).  Sets the
 * message only when report is set, so as not to hide an earlier error. */
static int writer_close(writer *w, int report)
{
    hid_t *ids[] = {&w->data, &w->maps, &w->mask, &w->trace, &w->truth};
    int bad = 0;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (*ids[i] >= 0 && (ids[i] == &w->truth ? H5Gclose : H5Dclose)(*ids[i]) < 0 && !bad++ &&
            report)
            h5fail("closing the output file");
        *ids[i] = -1;
    }
    /* Nothing may stay open, or H5Fclose would defer the flush past the rename. */
    if (w->file >= 0 && H5Fget_obj_count(w->file, H5F_OBJ_ALL) != 1 && !bad++ && report)
        fail("internal error: HDF5 objects left open in the output file");
    if (w->file >= 0 && H5Fclose(w->file) < 0 && !bad++ && report)
        h5fail("closing the output file");
    w->file = -1;
    return bad ? -1 : 0;
}

/* Creates <out>.tmp.<pid> (src/commit.h) with everything but the row data. */
static int writer_open(writer *w, const options *o, const model *m, const shape *s,
                       const char *cmdline)
{
    mva_error e;
    w->file = w->data = w->maps = w->mask = w->trace = w->truth = -1;
    if (mva_commit_begin(&w->commit, o->output, MVA_COMMIT_NEW, &e) != MVA_OK)
        return fail("-o %s", e.msg);
    if ((w->file = H5Fcreate(w->commit.tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        return h5fail("creating the output file");

    char creator[64];
    snprintf(creator, sizeof creator, "%s %s", PROG, MVA_VERSION_STRING);
    if (attr_str(w->file, "default", "entry") < 0 || attr_str(w->file, "creator", creator) < 0)
        return -1;
    hid_t entry = group_new(w->file, "entry", "NXentry");
    if (entry < 0)
        return -1;
    int rc = 0;
    if (attr_str(entry, "default", "data") < 0 ||
        dset_str(entry, "title", "synthetic XRF map with ground truth (mva-gen)") < 0 ||
        write_nxdata(w, entry, o, m, s) < 0 || write_instrument(entry, o) < 0 ||
        write_process(entry, o, cmdline) < 0)
        rc = -1;
    H5Gclose(entry);
    if (rc < 0 || (w->truth = group_new(w->file, "truth", "NXcollection")) < 0)
        return -1;
    return write_truth_static(w, o, m);
}

/* ------------------------------------------------------------------------------------------ */
/* Generation                                                                                 */

/* One map row in flight: its buffers, filled by a worker, written by the main thread. */
typedef struct slot {
    double *F;     /* cols x NCOMP abundances */
    double *X;     /* cols x p expected, then observed counts */
    void *out;     /* the row in the stored type and layout */
    double *maps;  /* NPHASE x cols, phase-major, for /truth/phase_maps */
    double *trace; /* cols */
    uint8_t *mask; /* cols */
    double Fsum[NCOMP];
    size_t clipped;
    size_t row; /* valid when ready */
    int ready;
} slot;

static void slot_free(slot *k)
{
    free(k->F);
    free(k->X);
    free(k->out);
    free(k->maps);
    free(k->trace);
    free(k->mask);
}

static int slot_alloc(slot *k, const options *o)
{
    size_t C = o->cols, P = o->channels;
    memset(k, 0, sizeof *k);
    if (P > SIZE_MAX / 16 / C)
        return fail("--cols %zu x --channels %zu: one map row does not fit in memory", C, P);
    k->F = malloc(C * NCOMP * sizeof *k->F);
    k->X = malloc(C * P * sizeof *k->X);
    k->out = malloc(C * P * dtypes[o->dtype].size);
    k->maps = malloc(C * NPHASE * sizeof *k->maps);
    k->trace = malloc(C * sizeof *k->trace);
    k->mask = malloc(C);
    if (!k->F || !k->X || !k->out || !k->maps || !k->trace || !k->mask)
        return fail("out of memory for row buffers (%.1f MB per row)",
                    (double)C * (double)P * (double)(8 + dtypes[o->dtype].size) / 1e6);
    return 0;
}

/* Expected counts of a row: X (C x P) = F (C x NCOMP) * S (NCOMP x P), row-major.  A rank-5
 * product, memory-bound: a plain loop is as fast as cblas_dgemm here, and OpenBLAS's threads
 * would spin (sched_yield) on a whole core for each of these tiny calls. */
static void mix_row(double *X, const double *F, const double *S, size_t C, size_t P)
{
    for (size_t c = 0; c < C; c++) {
        double *x = X + c * P;
        const double *f = F + c * NCOMP;
        for (size_t k = 0; k < P; k++)
            x[k] = f[0] * S[k];
        for (int j = 1; j < NCOMP; j++) {
            const double *s = S + (size_t)j * P;
            double fj = f[j];
            if (fj != 0.0)
                for (size_t k = 0; k < P; k++)
                    x[k] += fj * s[k];
        }
    }
}

/* Generates map row r into k.  Depends only on (seed, r): any thread, same bytes. */
static void gen_row(slot *k, gsl_rng *rng, const options *o, const model *m, size_t r)
{
    size_t C = o->cols, P = m->p;
    row_mix(o, r, k->F, k->mask);
    mix_row(k->X, k->F, m->S, C, P);
    memset(k->Fsum, 0, sizeof k->Fsum);
    for (size_t c = 0; c < C; c++) {
        for (int j = 0; j < NCOMP; j++)
            k->Fsum[j] += k->F[c * NCOMP + j];
        for (int j = 0; j < NPHASE; j++)
            k->maps[(size_t)j * C + c] = k->F[c * NCOMP + j];
        k->trace[c] = k->F[c * NCOMP + NPHASE];
    }
    noise_row(o, r, rng, k->X, C * P);
    k->clipped = stores[o->dtype](k->X, k->out, C, P, o->channel_first, dtypes[o->dtype].max);
    k->row = r;
}

static int put_row(writer *w, const slot *k, const options *o, const shape *s)
{
    hsize_t start[3], mstart[3] = {0, k->row, 0}, mcount[3] = {NPHASE, 1, o->cols};
    row_slab(o, k->row, start);
    if (write_slab(w->data, dtype_mem(o->dtype), s->rank, start, s->count, k->out,
                   "writing a row of /entry/data/data") < 0 ||
        write_slab(w->maps, H5T_NATIVE_DOUBLE, 3, mstart, mcount, k->maps,
                   "writing /truth/phase_maps") < 0 ||
        write_slab(w->mask, H5T_NATIVE_UINT8, 2, mstart + 1, mcount + 1, k->mask,
                   "writing /truth/trace_mask") < 0 ||
        write_slab(w->trace, H5T_NATIVE_DOUBLE, 2, mstart + 1, mcount + 1, k->trace,
                   "writing /truth/trace_map") < 0)
        return -1;
    return 0;
}

/*
 * The pipeline: worker threads take rows in order and generate each into slot row % nslots
 * once the row nslots before it has been written; the main thread alone calls HDF5 (the
 * serial library is not thread-safe), writing rows in order and summing their truth in
 * order, so the file does not depend on the number of threads.
 */
typedef struct pipeline {
    const options *o;
    const model *m;
    slot *slots;
    size_t nslots;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next_row; /* next row for a worker to take */
    size_t written;  /* rows written by the main thread */
    int stop;
} pipeline;

static void *worker(void *arg)
{
    pipeline *pl = arg;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937); /* NULL: stop, reported by main */
    pthread_mutex_lock(&pl->mu);
    while (rng != NULL && !pl->stop && pl->next_row < pl->o->rows) {
        size_t r = pl->next_row;
        if (r >= pl->written + pl->nslots) { /* its slot still holds an unwritten row */
            pthread_cond_wait(&pl->cv, &pl->mu);
            continue;
        }
        pl->next_row++;
        slot *k = &pl->slots[r % pl->nslots];
        pthread_mutex_unlock(&pl->mu);
        gen_row(k, rng, pl->o, pl->m, r);
        pthread_mutex_lock(&pl->mu);
        k->ready = 1;
        pthread_cond_broadcast(&pl->cv);
    }
    if (rng == NULL)
        pl->stop = 2; /* out of memory; the main thread reports it */
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
    gsl_rng_free(rng);
    return NULL;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

/* Waits for row r, writes it, frees its slot.  Returns 0, or -1 with the message set. */
static int write_next(pipeline *pl, writer *w, const shape *s, size_t r, double Fsum[NCOMP],
                      size_t *clipped)
{
    slot *k = &pl->slots[r % pl->nslots];
    pthread_mutex_lock(&pl->mu);
    while (!k->ready && pl->stop == 0)
        pthread_cond_wait(&pl->cv, &pl->mu);
    int stopped = !k->ready;
    pthread_mutex_unlock(&pl->mu);
    if (stopped)
        return fail("out of memory for a random number generator");
    if (interrupted)
        return fail("interrupted by signal %d", (int)interrupted);
    if (put_row(w, k, pl->o, s) < 0)
        return -1;
    for (int j = 0; j < NCOMP; j++)
        Fsum[j] += k->Fsum[j];
    *clipped += k->clipped;
    pthread_mutex_lock(&pl->mu);
    k->ready = 0;
    pl->written = r + 1;
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
    return 0;
}

/* Mean expected spectrum = (sum of abundances) . S / n: exact, without a pass over X. */
static int write_mean(writer *w, const options *o, const model *m, const double Fsum[NCOMP])
{
    double *mean = calloc(m->p, sizeof *mean);
    double n = (double)o->rows * (double)o->cols;
    hsize_t p = m->p;
    if (mean == NULL)
        return fail("out of memory");
    for (size_t ch = 0; ch < m->p; ch++)
        for (int j = 0; j < NCOMP; j++)
            mean[ch] += Fsum[j] * m->S[(size_t)j * m->p + ch] / n;
    int rc = dset_f64(w->truth, "mean_expected", 1, &p, mean, "counts");
    free(mean);
    return rc;
}

static int generate(writer *w, const options *o, const model *m, const shape *s)
{
    size_t nthreads = (size_t)o->threads, started = 0, clipped = 0;
    /* One slot per worker, one being written, one spare.  By default, fewer workers when
     * rows are so wide that the slots would pass 1 GB. */
    double slot_bytes = (double)o->cols * (double)o->channels * (double)(8 + dtypes[o->dtype].size);
    while (!o->threads_given && nthreads > 1 && (double)(nthreads + 2) * slot_bytes > 1e9)
        nthreads--;
    pipeline pl = {.o = o, .m = m, .nslots = nthreads + 2};
    double Fsum[NCOMP] = {0};
    int rc = 0, err = 0;
    if ((pl.slots = calloc(pl.nslots, sizeof *pl.slots)) == NULL)
        return fail("out of memory");
    for (size_t i = 0; rc == 0 && i < pl.nslots; i++)
        rc = slot_alloc(&pl.slots[i], o);
    pthread_t *tids = calloc(nthreads, sizeof *tids);
    if (rc == 0 && tids == NULL)
        rc = fail("out of memory");
    if (rc == 0) {
        pthread_mutex_init(&pl.mu, NULL);
        pthread_cond_init(&pl.cv, NULL);
        for (; started < nthreads; started++)
            if ((err = pthread_create(&tids[started], NULL, worker, &pl)) != 0)
                break;
        if (started == 0)
            rc = fail("cannot start a thread: %s", strerror(err));
        for (size_t r = 0; rc == 0 && r < o->rows; r++)
            rc = write_next(&pl, w, s, r, Fsum, &clipped);
        pthread_mutex_lock(&pl.mu);
        pl.stop = pl.stop ? pl.stop : 1;
        pthread_cond_broadcast(&pl.cv);
        pthread_mutex_unlock(&pl.mu);
        for (size_t i = 0; i < started; i++)
            pthread_join(tids[i], NULL);
        pthread_cond_destroy(&pl.cv);
        pthread_mutex_destroy(&pl.mu);
    }
    if (rc == 0)
        rc = write_mean(w, o, m, Fsum);
    if (rc == 0 && clipped > 0)
        fprintf(stderr,
                PROG ": warning: %zu values exceeded %s and were clipped to %.0f; "
                     "lower --counts or use a wider --dtype\n",
                clipped, dtypes[o->dtype].name, dtypes[o->dtype].max);
    for (size_t i = 0; i < pl.nslots; i++)
        slot_free(&pl.slots[i]);
    free(pl.slots);
    free(tids);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Command line                                                                               */

static void usage(FILE *f)
{
    fputs(
        "Usage: " PROG " -o FILE [options]\n"
        "Writes a synthetic XRF map (rows x cols pixels x channels) with its ground truth as\n"
        "NeXus HDF5: four smooth phases (K/Ca matrix, Fe grains, Cu/Zn band, Pb pigment),\n"
        "a trace element in a cluster of ~37 pixels, continuum, Rayleigh and Compton scatter,\n"
        "Poisson noise.  Stack at /entry/data/data, truth under /truth.\n"
        "\n"
        "  -o, --output FILE   output file (required); written as FILE.tmp.PID, then renamed\n"
        "                        e.g. -o samples/out/map.h5\n"
        "  --rows R            map rows (default 101)                e.g. --rows 400\n"
        "  --cols C            map columns (default 200)             e.g. --cols 640\n"
        "  --channels P        channels per spectrum (default 2000)  e.g. --channels 2048\n"
        "  --dtype T           uint8|uint16|uint32|int32|int64|float32|float64 (default uint32)\n"
        "                        e.g. --dtype float32\n"
        "  --layout L          channel axis last (rows, cols, ch) or first (ch, rows, cols)\n"
        "                        (default last)                      e.g. --layout first\n"
        "  --2d                store (pixels, ch) (or (ch, pixels) with --layout first) instead\n"
        "                        of 3-D; the map shape goes in @mva_map_shape   e.g. --2d\n"
        "  --compression Z     none|gzip[=LEVEL]|lz4, after the shuffle filter (default gzip=4;\n"
        "                        lz4 needs the HDF5 plugin, filter 32004)  e.g. --compression lz4\n"
        "  --chunk K           row|none|R,C,P (default row: one map row per chunk; with --2d,\n"
        "                        N,P pixels x channels; none = contiguous, no compression)\n"
        "                        e.g. --chunk 8,8,2000\n"
        "  --seed N            random seed (default 1); same seed, same data  e.g. --seed 7\n"
        "  --counts N|dim|bright  mean total counts per pixel (default dim = 5000: peak\n"
        "                        channels 100-200 counts); bright = 50000 (peak channels\n"
        "                        500-1800, as a real map at 10^5 counts/s)  e.g. --counts bright\n"
        "  --noise K           poisson|none (none: expected counts, rounded for integer types)\n"
        "                        (default poisson)                   e.g. --noise none\n"
        "  --trace EL          trace element: as (Ka under Pb La)|ti|none (default as)\n"
        "                        e.g. --trace ti\n"
        "  --a A, --b B, --c C energy calibration E(keV) = A + B*ch + C*ch^2\n"
        "                        (default 0, 0.01, 0)                e.g. --b 0.0098 --a -0.02\n"
        "  --excitation KEV    incident energy (default 17.0): Rayleigh peak, Compton, and which\n"
        "                        lines are excited                   e.g. --excitation 12\n"
        "  --threads N         generator threads (default: processors, at most 8, fewer if rows\n"
        "                        are huge); the file is the same for any N  e.g. --threads 1\n"
        "  -q, --quiet         no summary line on stdout\n"
        "  -h, --help          this text;  --version  the version\n"
        "\n"
        "Exit status: 0 on success, 2 for a bad option, 1 when generation or writing fails (no\n"
        "file is then left under the requested name).\n"
        "Example: " PROG " -o samples/out/map.h5 --rows 50 --cols 80 --compression lz4\n",
        f);
}

static int parse_size(const char *opt, const char *s, size_t lo, size_t hi, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
    if (!(s[0] >= '0' && s[0] <= '9') || *end != '\0' || errno != 0 || v < lo || v > hi)
        return fail("%s: expected an integer from %zu to %zu, got '%s'", opt, lo, hi, s);
    *out = (size_t)v;
    return 0;
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v < lo || v > hi)
        return fail("%s: expected a number from %g to %g, got '%s'", opt, lo, hi, s);
    *out = v;
    return 0;
}

/* --counts: a preset or a number.  dim is the bundled sample (peak channels ~100-200 counts,
 * they fit a byte); bright is a real map at 10^5-10^6 counts/s and 0.1 s dwell (peak channels
 * ~500-1800 counts, 4.5-5.5 10^4 counts a pixel: 16-bit counts). */
static int parse_counts(const char *opt, const char *s, double *out)
{
    if (strcmp(s, "dim") == 0 || strcmp(s, "bright") == 0) {
        *out = s[0] == 'd' ? COUNTS_DIM : COUNTS_BRIGHT;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v < 1e-3 || v > 1e9)
        return fail("%s: expected dim, bright or a number from 0.001 to 1e+09, got '%s'", opt, s);
    *out = v;
    return 0;
}

static int parse_choice(const char *opt, const char *s, const char *const *names, int n, int *out)
{
    char list[256] = "";
    for (int i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", i ? "|" : "", names[i]);
    }
    return fail("%s: expected %s, got '%s'", opt, list, s);
}

static int parse_compression(options *o, const char *s)
{
    o->comp_given = 1;
    if (strcmp(s, "none") == 0)
        o->comp = COMP_NONE;
    else if (strcmp(s, "lz4") == 0)
        o->comp = COMP_LZ4;
    else if (strcmp(s, "gzip") == 0)
        o->comp = COMP_GZIP;
    else if (strncmp(s, "gzip=", 5) == 0) {
        size_t level;
        if (parse_size("--compression gzip=LEVEL", s + 5, 0, 9, &level) < 0)
            return -1;
        o->comp = COMP_GZIP;
        o->gzip_level = (int)level;
    } else
        return fail("--compression: expected none, gzip, gzip=LEVEL (0-9) or lz4, got '%s'", s);
    return 0;
}

static int parse_chunk(options *o, const char *s)
{
    if (strcmp(s, "row") == 0 || strcmp(s, "none") == 0) {
        o->chunk = s[0] == 'r' ? CHUNK_ROW : CHUNK_NONE;
        return 0;
    }
    char buf[128], *save = NULL;
    if (strlen(s) >= sizeof buf)
        return fail("--chunk: expected row, none or R,C,P, got '%s'", s);
    strcpy(buf, s);
    o->chunk = CHUNK_USER;
    o->chunk_user_n = 0;
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        if (o->chunk_user_n == 3)
            return fail("--chunk: expected row, none or R,C,P (at most three sizes), got '%s'", s);
        if (parse_size("--chunk", t, 1, (size_t)1 << 32, &o->chunk_user[o->chunk_user_n++]) < 0)
            return -1;
    }
    if (o->chunk_user_n < 2)
        return fail("--chunk: expected row, none or R,C,P, got '%s'", s);
    return 0;
}

/* Options that take a value. */
enum {
    OPT_OUTPUT,
    OPT_ROWS,
    OPT_COLS,
    OPT_CHANNELS,
    OPT_DTYPE,
    OPT_LAYOUT,
    OPT_COMPRESSION,
    OPT_CHUNK,
    OPT_SEED,
    OPT_COUNTS,
    OPT_NOISE,
    OPT_A,
    OPT_B,
    OPT_C,
    OPT_EXCITATION,
    OPT_TRACE,
    OPT_THREADS,
    NVALUE_OPTS
};

static const char *const value_opts[NVALUE_OPTS] = {
    [OPT_OUTPUT] = "--output",
    [OPT_ROWS] = "--rows",
    [OPT_COLS] = "--cols",
    [OPT_CHANNELS] = "--channels",
    [OPT_DTYPE] = "--dtype",
    [OPT_LAYOUT] = "--layout",
    [OPT_COMPRESSION] = "--compression",
    [OPT_CHUNK] = "--chunk",
    [OPT_SEED] = "--seed",
    [OPT_COUNTS] = "--counts",
    [OPT_NOISE] = "--noise",
    [OPT_A] = "--a",
    [OPT_B] = "--b",
    [OPT_C] = "--c",
    [OPT_EXCITATION] = "--excitation",
    [OPT_TRACE] = "--trace",
    [OPT_THREADS] = "--threads",
};

static int parse_one(options *o, int which, const char *opt, const char *v)
{
    static const char *const layouts[] = {"last", "first"}, *const noises[] = {"poisson", "none"};
    static const char *const traces[] = {"as", "ti", "none"};
    static const int trace_el[] = {EL_AS, EL_TI, -1};
    const char *dnames[DT_COUNT];
    size_t n;
    int choice = 0;
    for (int d = 0; d < DT_COUNT; d++)
        dnames[d] = dtypes[d].name;
    switch (which) {
    case OPT_OUTPUT: o->output = v; return v[0] ? 0 : fail("%s: expected a file name", opt);
    case OPT_ROWS: return parse_size(opt, v, 1, 10000000, &o->rows);
    case OPT_COLS: return parse_size(opt, v, 1, 10000000, &o->cols);
    case OPT_CHANNELS: return parse_size(opt, v, 1, 1000000, &o->channels);
    case OPT_DTYPE: return parse_choice(opt, v, dnames, DT_COUNT, &o->dtype);
    case OPT_LAYOUT: return parse_choice(opt, v, layouts, 2, &o->channel_first);
    case OPT_COMPRESSION: return parse_compression(o, v);
    case OPT_CHUNK: return parse_chunk(o, v);
    case OPT_SEED:
        if (parse_size(opt, v, 0, SIZE_MAX, &n) < 0)
            return -1;
        o->seed = n;
        return 0;
    case OPT_COUNTS: return parse_counts(opt, v, &o->counts);
    case OPT_NOISE:
        if (parse_choice(opt, v, noises, 2, &choice) < 0)
            return -1;
        o->noise = choice ? NOISE_NONE : NOISE_POISSON;
        return 0;
    case OPT_A: return parse_double(opt, v, -100.0, 100.0, &o->a);
    case OPT_B: return parse_double(opt, v, -10.0, 10.0, &o->b);
    case OPT_C: return parse_double(opt, v, -1.0, 1.0, &o->c);
    case OPT_EXCITATION: return parse_double(opt, v, 1.0, 200.0, &o->excitation);
    case OPT_TRACE:
        if (parse_choice(opt, v, traces, 3, &choice) < 0)
            return -1;
        o->trace = trace_el[choice];
        return 0;
    default:
        if (parse_size(opt, v, 1, 64, &n) < 0)
            return -1;
        o->threads = (int)n;
        o->threads_given = 1;
        return 0;
    }
}

/* One generator per processor, at most 8: the main thread mostly waits on zlib and write(). */
static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

/* Returns 0 to run, 1 when --help/--version was handled, -1 on a bad option. */
static int parse_args(options *o, int argc, char **argv)
{
    *o = (options){.rows = 101,
                   .cols = 200,
                   .channels = 2000,
                   .dtype = DT_UINT32,
                   .comp = COMP_GZIP,
                   .gzip_level = 4,
                   .chunk = CHUNK_ROW,
                   .seed = 1,
                   .counts = COUNTS_DIM,
                   .noise = NOISE_POISSON,
                   .b = 0.01,
                   .excitation = 17.0,
                   .trace = EL_AS,
                   .threads = default_threads()};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("%s %s\n", PROG, MVA_VERSION_STRING);
            return 1;
        }
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
            continue;
        }
        if (strcmp(a, "--2d") == 0) {
            o->flat = 1;
            continue;
        }
        /* --opt VALUE, --opt=VALUE, -o FILE, -oFILE */
        char name[32];
        const char *val = NULL;
        if (strncmp(a, "-o", 2) == 0) {
            snprintf(name, sizeof name, "--output");
            val = a[2] ? a + 2 : NULL;
        } else {
            const char *eq = strchr(a, '=');
            size_t n = eq ? (size_t)(eq - a) : strlen(a);
            snprintf(name, sizeof name, "%.*s", (int)(n < 31 ? n : 31), a);
            val = eq ? eq + 1 : NULL;
        }
        int which = -1;
        for (int k = 0; k < NVALUE_OPTS; k++)
            if (strcmp(name, value_opts[k]) == 0)
                which = k;
        if (which < 0)
            return fail("unknown option '%s' (try --help)", a);
        if (val == NULL) {
            if (i + 1 >= argc)
                return fail("%s: expected a value after it (try --help)", a);
            val = argv[++i];
        }
        if (parse_one(o, which, which == OPT_OUTPUT && a[1] == 'o' ? "-o" : name, val) < 0)
            return -1;
    }
    return 0;
}

/* Cross-option checks, after all options are known. */
static int check_options(options *o)
{
    if (o->output == NULL)
        return fail("-o FILE is required (try --help)");
    if (o->chunk == CHUNK_NONE && o->comp != COMP_NONE) {
        if (o->comp_given)
            return fail("--compression %s needs chunks; use --chunk row or R,C,P, or "
                        "--compression none",
                        o->comp == COMP_LZ4 ? "lz4" : "gzip");
        o->comp = COMP_NONE; /* the default gzip gives way to an explicit --chunk none */
    }
    double last = (double)(o->channels - 1);
    if (!(o->b > 0.0) || !(o->b + 2.0 * o->c * last > 0.0))
        return fail("--b/--c: the calibration must increase over channels 0..%zu "
                    "(need b > 0 and b + 2*c*%zu > 0; got b = %g, c = %g)",
                    o->channels - 1, o->channels - 1, o->b, o->c);
    if (o->comp == COMP_LZ4 && H5Zfilter_avail(LZ4_FILTER) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return fail("--compression lz4: HDF5 filter %d (LZ4) is not available; install the "
                    "plugin (Debian: hdf5-filter-plugin) or set HDF5_PLUGIN_PATH",
                    LZ4_FILTER);
    }
    return 0;
}

static char *join_args(int argc, char **argv)
{
    size_t len = 1;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *s = malloc(len), *p = s;
    if (s == NULL)
        return NULL;
    for (int i = 0; i < argc; i++)
        p += sprintf(p, "%s%s", i ? " " : "", argv[i]);
    *p = '\0';
    return s;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void summary(const options *o, const shape *s, double seconds)
{
    struct stat st;
    char comp[32], dims[96] = "", chunk[96] = "contiguous";
    double mb = stat(o->output, &st) == 0 ? (double)st.st_size / 1e6 : 0.0;
    for (int d = 0; d < s->rank; d++) {
        size_t len = strlen(dims);
        snprintf(dims + len, sizeof dims - len, "%s%llu", d ? " x " : "",
                 (unsigned long long)s->dims[d]);
    }
    if (s->chunked) {
        chunk[0] = '\0';
        for (int d = 0; d < s->rank; d++) {
            size_t len = strlen(chunk);
            snprintf(chunk + len, sizeof chunk - len, "%s%llu", d ? "x" : "chunks ",
                     (unsigned long long)s->chunk[d]);
        }
    }
    printf("%s: %s %s, channel axis %s, %s, %s, %.1f MB on disk, %.2f s\n", o->output, dims,
           dtypes[o->dtype].name, o->channel_first ? "first" : "last",
           comp_name(o, comp, sizeof comp), chunk, mb, seconds);
}

int main(int argc, char **argv)
{
    options o;
    model m = {0};
    shape s;
    writer w = {.file = -1, .data = -1, .maps = -1, .mask = -1, .trace = -1, .truth = -1};
    char *cmdline = NULL;
    int status = 1, rc;

    /* No HDF5 teardown at exit: every object is closed (and checked) here, and after a failed
     * H5Fclose (e.g. a full disk) HDF5 1.10's atexit handler crashes on the dead file id. */
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors are reported once, by us */
    gsl_set_error_handler_off();
    poisson_init();
    double t0 = now_seconds();

    rc = parse_args(&o, argc, argv);
    if (rc == 1)
        return 0;
    if (rc < 0 || check_options(&o) < 0 || shape_plan(&s, &o) < 0 || model_build(&m, &o) < 0) {
        fprintf(stderr, "%s: %s\n", PROG, errbuf);
        model_free(&m);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if ((cmdline = join_args(argc, argv)) == NULL)
        rc = fail("out of memory");
    else if ((rc = writer_open(&w, &o, &m, &s, cmdline)) == 0)
        rc = generate(&w, &o, &m, &s);
    if (writer_close(&w, rc == 0) < 0)
        rc = -1;
    mva_error e;
    if (rc == 0 && mva_commit_finish(&w.commit, &e) != MVA_OK)
        rc = fail("-o %s", e.msg);
    if (rc == 0) {
        status = 0;
        if (!o.quiet)
            summary(&o, &s, now_seconds() - t0);
    } else {
        mva_commit_abort(&w.commit);
        fprintf(stderr, "%s: %s\n", PROG, errbuf);
    }
    free(cmdline);
    model_free(&m);
    return status;
}
