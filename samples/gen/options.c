/*
 * mva-gen's command line: the options, their defaults and cross-checks, and --help.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"

const dtype_info gen_dtypes[DT_COUNT] = {
    {"uint8", 1, 0, 255.0},        {"uint16", 2, 0, 65535.0}, {"uint32", 4, 0, 4294967295.0},
    {"int32", 4, 0, 2147483647.0}, {"int64", 8, 0, 9.0e18},   {"float32", 4, 1, FLT_MAX},
    {"float64", 8, 1, DBL_MAX},
};

const char *gen_comp_name(const options *o, char *buf, size_t cap)
{
    if (o->comp == COMP_GZIP)
        snprintf(buf, cap, "gzip=%d", o->gzip_level);
    else
        snprintf(buf, cap, "%s", o->comp == COMP_LZ4 ? "lz4" : "none");
    return buf;
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
        return gen_fail("%s: expected an integer from %zu to %zu, got '%s'", opt, lo, hi, s);
    *out = (size_t)v;
    return 0;
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v < lo || v > hi)
        return gen_fail("%s: expected a number from %g to %g, got '%s'", opt, lo, hi, s);
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
        return gen_fail("%s: expected dim, bright or a number from 0.001 to 1e+09, got '%s'",
                        opt, s);
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
    return gen_fail("%s: expected %s, got '%s'", opt, list, s);
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
        return gen_fail("--compression: expected none, gzip, gzip=LEVEL (0-9) or lz4, got '%s'", s);
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
        return gen_fail("--chunk: expected row, none or R,C,P, got '%s'", s);
    strcpy(buf, s);
    o->chunk = CHUNK_USER;
    o->chunk_user_n = 0;
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        if (o->chunk_user_n == 3)
            return gen_fail("--chunk: expected row, none or R,C,P (at most three sizes), "
                            "got '%s'", s);
        if (parse_size("--chunk", t, 1, (size_t)1 << 32, &o->chunk_user[o->chunk_user_n++]) < 0)
            return -1;
    }
    if (o->chunk_user_n < 2)
        return gen_fail("--chunk: expected row, none or R,C,P, got '%s'", s);
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
        dnames[d] = gen_dtypes[d].name;
    switch (which) {
    case OPT_OUTPUT: o->output = v; return v[0] ? 0 : gen_fail("%s: expected a file name", opt);
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
int gen_parse_args(options *o, int argc, char **argv)
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
            return gen_fail("unknown option '%s' (try --help)", a);
        if (val == NULL) {
            if (i + 1 >= argc)
                return gen_fail("%s: expected a value after it (try --help)", a);
            val = argv[++i];
        }
        if (parse_one(o, which, which == OPT_OUTPUT && a[1] == 'o' ? "-o" : name, val) < 0)
            return -1;
    }
    return 0;
}

/* Cross-option checks, after all options are known. */
int gen_check_options(options *o)
{
    if (o->output == NULL)
        return gen_fail("-o FILE is required (try --help)");
    if (o->chunk == CHUNK_NONE && o->comp != COMP_NONE) {
        if (o->comp_given)
            return gen_fail("--compression %s needs chunks; use --chunk row or R,C,P, or "
                            "--compression none",
                        o->comp == COMP_LZ4 ? "lz4" : "gzip");
        o->comp = COMP_NONE; /* the default gzip gives way to an explicit --chunk none */
    }
    double last = (double)(o->channels - 1);
    if (!(o->b > 0.0) || !(o->b + 2.0 * o->c * last > 0.0))
        return gen_fail("--b/--c: the calibration must increase over channels 0..%zu "
                        "(need b > 0 and b + 2*c*%zu > 0; got b = %g, c = %g)",
                    o->channels - 1, o->channels - 1, o->b, o->c);
    if (o->comp == COMP_LZ4 && H5Zfilter_avail(LZ4_FILTER) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return gen_fail("--compression lz4: HDF5 filter %d (LZ4) is not available; install the "
                        "plugin (Debian: hdf5-filter-plugin) or set HDF5_PLUGIN_PATH",
                    LZ4_FILTER);
    }
    return 0;
}
