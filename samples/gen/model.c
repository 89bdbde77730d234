/*
 * The physics of mva-gen's sample: four smooth phases (a K/Ca matrix, Fe grains, a Cu/Zn
 * band, a Pb pigment blob) whose fractions vary with position, and a trace element (As by
 * default, its Ka line hidden under Pb La) in a disc of ~37 pixels.  Each phase has one
 * expected spectrum: element lines with a Fano-limited detector width, a continuum, Rayleigh
 * and Compton scatter.  A pixel's expected spectrum is a mix of those (a rank-5 product per
 * map row), then Poisson-sampled.  No file is written here (gen/write_h5.c does).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#include "gen.h"

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
        return gen_fail("--a/--b/--c: channels 0..%zu span %.3f..%.3f keV, where phase '%s' "
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

void gen_model_free(model *m)
{
    free(m->energy);
    free(m->edge);
    free(m->S);
}

int gen_model_build(model *m, const options *o)
{
    size_t p = o->channels;
    memset(m, 0, sizeof *m);
    m->p = p;
    m->energy = malloc(p * sizeof *m->energy);
    m->edge = malloc((p + 1) * sizeof *m->edge);
    m->S = calloc((size_t)NCOMP * p, sizeof *m->S);
    if (m->energy == NULL || m->edge == NULL || m->S == NULL)
        return gen_fail("out of memory for %zu channels", p);
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
void gen_row_mix(const options *o, size_t r, double *F, uint8_t *mask)
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

void gen_poisson_init(void)
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
void gen_noise_row(const options *o, size_t r, gsl_rng *rng, double *x, size_t n)
{
    if (o->noise == NOISE_POISSON) {
        gsl_rng_set(rng, (unsigned long)mix64(o->seed ^ mix64(r)));
        for (size_t i = 0; i < n; i++)
            x[i] = poisson(rng, x[i]);
    } else if (!gen_dtypes[o->dtype].is_float) {
        for (size_t i = 0; i < n; i++)
            x[i] = floor(x[i] + 0.5);
    }
}

/* Expected counts of a row: X (C x P) = F (C x NCOMP) * S (NCOMP x P), row-major.  A rank-5
 * product, memory-bound: a plain loop is as fast as cblas_dgemm here, and OpenBLAS's threads
 * would spin (sched_yield) on a whole core for each of these tiny calls. */
void gen_mix_row(double *X, const double *F, const double *S, size_t C, size_t P)
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

const char *gen_element_symbol(int el)
{
    return elements[el].symbol;
}

const char *gen_phase_name(int k)
{
    return phases[k].name;
}
