/* The report: colormaps, robust limits, PNG images decoded back with libpng, element lines,
 * and whole reports of PCA + ROI and ROI-only results files (well-formed SVG with one curve
 * per component, an index.html whose every link exists, no temporary left behind), and of
 * a selection entry (selected vs map spectra, enriched element line, mask) and of an NMF
 * entry (abundance maps, component spectra with their lines, convergence, summary).
 *
 * MVA_REPORT_KEEP=<dir> keeps the PCA + ROI report at that path, to look at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <locale.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mva.h"
#include "mva/report.h"
#include "mva/select.h"
#include "util/tmpdir.h"

enum { ROWS = 6, COLS = 10, NPIX = ROWS * COLS, CH = 200, K = 3 };

/* ---- helpers ---- */

typedef struct decoded {
    unsigned w, h;
    unsigned char *rgb;
} decoded;

static decoded decode_png(const char *path)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        fail_msg("%s: %s", path, img.message);
    img.format = PNG_FORMAT_RGB;
    decoded d = {img.width, img.height, malloc(PNG_IMAGE_SIZE(img))};
    assert_non_null(d.rgb);
    if (!png_image_finish_read(&img, NULL, d.rgb, 0, NULL))
        fail_msg("%s: %s", path, img.message);
    return d;
}

static void assert_pixel(const decoded *d, unsigned x, unsigned y, const unsigned char want[3])
{
    const unsigned char *p = d->rgb + 3 * ((size_t)y * d->w + x);
    if (memcmp(p, want, 3) != 0)
        fail_msg("pixel (%u, %u) is %d,%d,%d, expected %d,%d,%d", x, y, p[0], p[1], p[2],
                 want[0], want[1], want[2]);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("%s: cannot open", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static size_t count(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

/* A small XML well-formedness check: every start tag closed by a matching end tag in order,
 * attribute values quoted, one root element.  (The command-line test runs xmllint too.) */
static void assert_well_formed(const char *path)
{
    char *s = slurp(path), *stack[64];
    int depth = 0, roots = 0;
    for (char *p = s; (p = strchr(p, '<')) != NULL;) {
        if (strncmp(p, "<?", 2) == 0 || strncmp(p, "<!", 2) == 0) {
            p = strchr(p, '>');
            assert_non_null(p);
            continue;
        }
        int end = p[1] == '/';
        char *name = p + 1 + end;
        size_t len = strcspn(name, " \t\n/>");
        char *q = name + len;
        int quoted = 0;
        for (; *q && (quoted || *q != '>'); q++)
            if (*q == '"')
                quoted = !quoted;
        if (*q != '>')
            fail_msg("%s: unterminated tag at offset %ld", path, (long)(p - s));
        int empty = q[-1] == '/';
        if (end) {
            if (depth == 0 || strncmp(stack[depth - 1], name, len) != 0 ||
                stack[depth - 1][len] != '\0')
                fail_msg("%s: </%.*s> does not close the open element", path, (int)len, name);
            free(stack[--depth]);
        } else if (!empty) {
            assert_true(depth < 64);
            stack[depth] = strndup(name, len);
            if (depth++ == 0)
                roots++;
        } else if (depth == 0)
            roots++;
        p = q + 1;
    }
    if (depth != 0)
        fail_msg("%s: <%s> never closed", path, stack[depth - 1]);
    assert_int_equal(roots, 1);
    free(s);
}

/* Every href="..." and src="..." of dir/index.html names a file of dir. */
static size_t assert_links_exist(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/index.html", dir);
    char *s = slurp(path);
    size_t n = 0;
    for (const char *p = s; (p = strpbrk(p, "hs")) != NULL; p++) {
        size_t skip = strncmp(p, "href=\"", 6) == 0 ? 6 : strncmp(p, "src=\"", 5) == 0 ? 5 : 0;
        if (skip == 0)
            continue;
        const char *v = p + skip, *e = strchr(v, '"');
        assert_non_null(e);
        char file[600];
        snprintf(file, sizeof file, "%s/%.*s", dir, (int)(e - v), v);
        if (strchr(file + strlen(dir) + 1, '/') != NULL || strstr(v, "://") == v)
            fail_msg("index.html links outside the report: %.*s", (int)(e - v), v);
        if (access(file, R_OK) != 0)
            fail_msg("index.html links to %s, which does not exist", file);
        n++;
    }
    free(s);
    return n;
}

static void assert_no_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            fail_msg("temporary file left: %s/%s", dir, e->d_name);
    closedir(d);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
}

/* ---- a results file: PCA (k = 3, energy axis, one masked pixel) and two ROIs ---- */

static double gauss(double e, double mu, double a)
{
    return a * exp(-0.5 * (e - mu) * (e - mu) / (0.06 * 0.06));
}

static double spectrum_at(double e)
{
    return 1.0 + gauss(e, 6.404, 400) + gauss(e, 7.058, 60) + gauss(e, 8.048, 250) +
           gauss(e, 3.692, 150);
}

static mva_pca_model *make_pca(void)
{
    mva_pca_model *m = NULL;
    assert_int_equal(mva_pca_model_new(&m, ROWS, COLS, CH, CH, K, 1, 0, NULL), MVA_OK);
    m->bin = 1;
    m->method = MVA_PCA_EXACT;
    m->n_valid = NPIX - 1;
    m->n_eigenvalues = 50; /* the rest NaN, as a randomized fit leaves them */
    m->passes = 2;
    m->seconds = 0.5;
    double total = 0;
    for (size_t j = 0; j < CH; j++) {
        m->var_ch0[j] = j;
        m->var_energy[j] = 0.05 * (double)j + 0.025;
        m->mean[j] = m->scaled_mean[j] = spectrum_at(m->var_energy[j]);
        m->eigenvalues[j] = j < m->n_eigenvalues ? 1000.0 * pow(0.5, (double)j) : NAN;
        total += j < m->n_eigenvalues ? m->eigenvalues[j] : 0;
    }
    m->total_variance = total;
    for (size_t j = 0; j < CH; j++)
        m->explained[j] = m->eigenvalues[j] / total;
    for (size_t q = 0; q < K; q++)
        for (size_t j = 0; j < CH; j++)
            m->components[q * CH + j] = sin(0.05 * (double)(j * (q + 1)));
    m->mask[7] = 1;
    for (size_t q = 0; q < K; q++)
        for (size_t i = 0; i < NPIX; i++)
            m->scores[q * NPIX + i] = m->mask[i] ? NAN : (double)i - 30.0 + (double)q;
    return m;
}

static mva_roi_result *make_roi(void)
{
    static const mva_roi_def defs[] = {{"Fe", 6.2, 6.6, MVA_ROI_KEV},
                                       {"Cu/K", 150, 170, MVA_ROI_CHANNEL}};
    mva_roi_result *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->rows = ROWS;
    r->cols = COLS;
    r->p = CH;
    r->nroi = 2;
    r->defs = calloc(2, sizeof *r->defs);
    r->ch0 = calloc(2, sizeof *r->ch0);
    r->ch1 = calloc(2, sizeof *r->ch1);
    r->raw = calloc(2 * NPIX, sizeof(double));
    r->net = calloc(2 * NPIX, sizeof(double));
    r->total = calloc(NPIX, sizeof(double));
    r->sum_spectrum = calloc(CH, sizeof(double));
    r->avg_spectrum = calloc(CH, sizeof(double));
    r->max_spectrum = calloc(CH, sizeof(double));
    r->mask = calloc(NPIX, 1);
    assert_true(r->defs && r->ch0 && r->ch1 && r->raw && r->net && r->total && r->mask &&
                r->sum_spectrum && r->avg_spectrum && r->max_spectrum);
    memcpy(r->defs, defs, sizeof defs);
    r->ch0[0] = 124, r->ch1[0] = 132;
    r->ch0[1] = 150, r->ch1[1] = 170;
    r->mask[7] = 1;
    r->n_valid = NPIX - 1;
    for (size_t i = 0; i < NPIX; i++) {
        r->total[i] = r->mask[i] ? NAN : 1000.0 + (double)i;
        for (size_t q = 0; q < 2; q++) {
            r->raw[q * NPIX + i] = r->mask[i] ? NAN : (double)(i * (q + 1));
            r->net[q * NPIX + i] = r->mask[i] ? NAN : (double)i / 2.0;
        }
    }
    for (size_t j = 0; j < CH; j++) {
        r->avg_spectrum[j] = spectrum_at(0.05 * (double)j);
        r->sum_spectrum[j] = r->avg_spectrum[j] * (double)r->n_valid;
        r->max_spectrum[j] = 2 * r->avg_spectrum[j];
    }
    return r;
}

/* Writes a results file with the PCA and/or ROI result into path. */
static void write_results(const char *path, int with_pca, int with_roi)
{
    mva_stack_info info;
    memset(&info, 0, sizeof info);
    info.rows = ROWS;
    info.cols = COLS;
    info.channels = CH;
    info.dtype = MVA_DTYPE_UINT32;
    info.calib = (mva_calib){1, 0.0, 0.05, 0.0};
    strcpy(info.format, "hdf5");
    strcpy(info.source, "/data/map <1>&.h5"); /* markup characters must be escaped */
    strcpy(info.path, "/entry/data/data");
    static const mva_param params[] = {{"components", "3"}, {"roi", "Fe=6.2:6.6keV"},
                                       {"roi", "Cu/K=150:170"}};
    mva_pca_model *m = with_pca ? make_pca() : NULL;
    mva_roi_result *r = with_roi ? make_roi() : NULL;
    mva_result_parts spec;
    memset(&spec, 0, sizeof spec);
    spec.program = "test_report";
    spec.command_line = "test_report --k 3 'map.h5'";
    spec.input = &info;
    spec.pca = m;
    spec.roi = r;
    spec.params = params;
    spec.nparams = 3;
    mva_error err = {0, ""};
    if (mva_result_write(path, &spec, NULL, 0, &err) != MVA_OK)
        fail_msg("mva_result_write: %s", err.msg);
    mva_pca_model_free(m);
    mva_roi_result_free(r);
}

static void write_report(const char *results, const char *dir, const mva_report_opts *o)
{
    mva_error err = {0, ""};
    if (mva_report_write(results, NULL, dir, o, &err) != MVA_OK)
        fail_msg("mva_report_write: %s", err.msg);
}

static void assert_png_size(const char *dir, const char *name, unsigned w, unsigned h)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    decoded d = decode_png(path);
    assert_int_equal(d.w, w);
    assert_int_equal(d.h, h);
    free(d.rgb);
}

/* ---- colormaps and limits ---- */

static void test_report_colormap_endpoints_follow_viridis(void **state)
{
    (void)state;
    unsigned char c[3];
    assert_int_equal(mva_report_colormap(MVA_REPORT_CMAP_VIRIDIS, 0.0, c), MVA_OK);
    assert_memory_equal(c, ((unsigned char[]){0x44, 0x01, 0x54}), 3);
    assert_int_equal(mva_report_colormap(MVA_REPORT_CMAP_VIRIDIS, 1.0, c), MVA_OK);
    assert_memory_equal(c, ((unsigned char[]){0xFD, 0xE7, 0x25}), 3);
    /* Out of range clamps. */
    mva_report_colormap(MVA_REPORT_CMAP_VIRIDIS, 7.0, c);
    assert_memory_equal(c, ((unsigned char[]){0xFD, 0xE7, 0x25}), 3);
    /* A quarter of the way from anchor 4/9 (#26828E) to 5/9 (#1F9E89): 36.25, 137, 140.75. */
    mva_report_colormap(MVA_REPORT_CMAP_VIRIDIS, 4.25 / 9, c);
    assert_memory_equal(c, ((unsigned char[]){36, 137, 141}), 3);
}

static void test_report_viridis_lightness_increases(void **state)
{
    (void)state;
    double prev = -1;
    for (int i = 0; i < 256; i++) {
        unsigned char c[3];
        mva_report_colormap(MVA_REPORT_CMAP_VIRIDIS, i / 255.0, c);
        /* Rec. 709 luma as a proxy of lightness: a sequential map must never get darker. */
        double y = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
        assert_true(y >= prev - 0.5);
        prev = y;
    }
}

static void test_report_diverging_is_white_at_zero(void **state)
{
    (void)state;
    unsigned char c[3];
    assert_int_equal(mva_report_colormap(MVA_REPORT_CMAP_DIVERGING, 0.5, c), MVA_OK);
    assert_memory_equal(c, ((unsigned char[]){255, 255, 255}), 3);
    mva_report_colormap(MVA_REPORT_CMAP_DIVERGING, 0.0, c);
    assert_true(c[2] > c[0]); /* negative: blue */
    mva_report_colormap(MVA_REPORT_CMAP_DIVERGING, 1.0, c);
    assert_true(c[0] > c[2]); /* positive: red */
}

static void test_report_colormap_nan_is_grey_and_unknown_rejected(void **state)
{
    (void)state;
    unsigned char c[3] = {1, 2, 3};
    assert_int_equal(mva_report_colormap(MVA_REPORT_CMAP_DIVERGING, NAN, c), MVA_OK);
    assert_memory_equal(c, ((unsigned char[]){128, 128, 128}), 3);
    assert_int_equal(mva_report_colormap(42, 0.5, c), MVA_EINVAL);
    assert_int_equal(mva_report_colormap_from_name("viridis"), MVA_REPORT_CMAP_VIRIDIS);
    assert_int_equal(mva_report_colormap_from_name("diverging"), MVA_REPORT_CMAP_DIVERGING);
    assert_int_equal(mva_report_colormap_from_name("jet"), -1);
}

static void test_report_limits_are_robust_percentiles(void **state)
{
    (void)state;
    double v[103], lo, hi, lim;
    for (int i = 0; i <= 100; i++)
        v[i] = 100 - i; /* 0..100, unsorted */
    v[101] = NAN;
    v[102] = INFINITY;
    assert_int_equal(mva_report_limits(v, 103, 1, 99, &lo, &hi, NULL), MVA_OK);
    assert_true(fabs(lo - 1) < 1e-12 && fabs(hi - 99) < 1e-12);
    for (int i = 0; i <= 100; i++)
        v[i] = i % 2 ? -i : i; /* |v| = 0..100 */
    assert_int_equal(mva_report_limits_symmetric(v, 103, 99, &lim, NULL), MVA_OK);
    assert_true(fabs(lim - 99) < 1e-12);
    mva_error err;
    assert_int_equal(mva_report_limits(v, 103, 99, 1, &lo, &hi, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "percentiles"));
    /* No finite value: limits 0, not NaN. */
    double nan2[2] = {NAN, NAN};
    assert_int_equal(mva_report_limits(nan2, 2, 1, 99, &lo, &hi, NULL), MVA_OK);
    assert_true(lo == 0 && hi == 0);
}

static void test_report_auto_scale_reaches_min_side(void **state)
{
    (void)state;
    assert_int_equal(mva_report_auto_scale(12, 20, 200, 2400), 17);
    assert_int_equal(mva_report_auto_scale(500, 800, 200, 2400), 1);
    assert_int_equal(mva_report_auto_scale(1, 2000, 200, 2400), 1); /* long side bounds it */
    assert_int_equal(mva_report_auto_scale(0, 0, 200, 2400), 1);
}

/* ---- PNG images ---- */

static void test_report_png_has_map_shape_times_scale(void **state)
{
    (void)state;
    double v[3 * 5];
    for (int i = 0; i < 15; i++)
        v[i] = i;
    char path[512];
    tmp_path(path, "shape.png");
    assert_int_equal(mva_report_png_image(path, v, 3, 5, MVA_REPORT_CMAP_VIRIDIS, 0, 14, 4, NULL),
                     MVA_OK);
    decoded d = decode_png(path);
    assert_int_equal(d.w, 20);
    assert_int_equal(d.h, 12);
    free(d.rgb);
}

static void test_report_png_pixels_follow_colormap(void **state)
{
    (void)state;
    /* 2 x 3 map, limits 0..10: t = v / 10; one NaN pixel. */
    double v[6] = {0, 2.5, 5, 10, NAN, 7};
    char path[512];
    tmp_path(path, "pixels.png");
    assert_int_equal(mva_report_png_image(path, v, 2, 3, MVA_REPORT_CMAP_VIRIDIS, 0, 10, 3, NULL),
                     MVA_OK);
    decoded d = decode_png(path);
    assert_int_equal(d.w, 9);
    assert_int_equal(d.h, 6);
    for (int i = 0; i < 6; i++) {
        unsigned char want[3];
        mva_report_colormap(MVA_REPORT_CMAP_VIRIDIS, v[i] / 10, want);
        /* every pixel of the 3 x 3 block of map pixel i; row 0 at the top */
        for (unsigned a = 0; a < 3; a++)
            for (unsigned b = 0; b < 3; b++)
                assert_pixel(&d, (unsigned)(i % 3) * 3 + b, (unsigned)(i / 3) * 3 + a, want);
    }
    assert_pixel(&d, 4, 4, (unsigned char[]){128, 128, 128});
    free(d.rgb);
}

static void test_report_png_diverging_zero_is_white(void **state)
{
    (void)state;
    double v[4] = {-3, 0, 3, 1.5};
    char path[512];
    tmp_path(path, "div.png");
    assert_int_equal(
        mva_report_png_image(path, v, 1, 4, MVA_REPORT_CMAP_DIVERGING, -3, 3, 1, NULL), MVA_OK);
    decoded d = decode_png(path);
    unsigned char want[3];
    assert_pixel(&d, 1, 0, (unsigned char[]){255, 255, 255});
    mva_report_colormap(MVA_REPORT_CMAP_DIVERGING, 0.0, want);
    assert_pixel(&d, 0, 0, want);
    mva_report_colormap(MVA_REPORT_CMAP_DIVERGING, 0.75, want);
    assert_pixel(&d, 3, 0, want);
    free(d.rgb);
}

static void test_report_png_errors_leave_no_file(void **state)
{
    (void)state;
    double v[1] = {1};
    char path[512];
    mva_error err;
    tmp_path(path, "bad.png");
    assert_int_equal(mva_report_png_image(path, v, 1, 1, MVA_REPORT_CMAP_VIRIDIS, 0, 1, 0, &err),
                     MVA_EINVAL);
    assert_int_equal(mva_report_png_image(path, v, 1, 1, 9, 0, 1, 1, &err), MVA_EINVAL);
    assert_int_equal(access(path, F_OK), -1);
    tmp_path(path, "no/such/dir/x.png");
    assert_int_equal(mva_report_png_image(path, v, 1, 1, MVA_REPORT_CMAP_VIRIDIS, 0, 1, 1, &err),
                     MVA_EIO);
    assert_non_null(strstr(err.msg, "x.png"));
    assert_no_temporaries(tmpdir);
}

/* ---- element lines ---- */

static void test_report_find_lines_marks_strongest_peaks(void **state)
{
    (void)state;
    double e[CH], y[CH];
    for (int j = 0; j < CH; j++) {
        e[j] = 0.05 * j + 0.025;
        y[j] = spectrum_at(e[j]);
    }
    const mva_report_line *l[8];
    size_t n = 0;
    assert_int_equal(mva_report_find_lines(e, y, CH, 0.15, l, 8, &n, NULL), MVA_OK);
    assert_int_equal(n, 4);
    /* strongest first: Fe Ka (400), Cu Ka (250), Ca Ka (150), Fe Kb (60) */
    assert_string_equal(l[0]->element, "Fe");
    assert_string_equal(l[0]->line, "Ka");
    assert_string_equal(l[1]->element, "Cu");
    assert_string_equal(l[2]->element, "Ca");
    assert_string_equal(l[3]->element, "Fe");
    assert_string_equal(l[3]->line, "Kb");
    size_t nt = 0;
    assert_non_null(mva_report_lines(&nt));
    assert_true(nt >= 40);
}

/* ---- whole reports ---- */

static void test_report_pca_and_roi_writes_every_file(void **state)
{
    (void)state;
    char res[512], dir[512];
    tmp_path(res, "both.h5");
    tmp_path(dir, "both_report");
    write_results(res, 1, 1);
    mva_report_opts o = mva_report_opts_default();
    o.scale = 3;
    write_report(res, dir, &o);
    static const char *pngs[] = {"pc01.png", "pc02.png", "pc03.png", "total_counts.png",
                                 "roi01_Fe_raw.png", "roi01_Fe_net.png", "roi02_Cu_K_raw.png",
                                 "roi02_Cu_K_net.png"};
    for (size_t i = 0; i < sizeof pngs / sizeof pngs[0]; i++)
        assert_png_size(dir, pngs[i], COLS * 3, ROWS * 3);
    char path[600];
    snprintf(path, sizeof path, "%s/montage.png", dir);
    decoded d = decode_png(path);
    assert_true(d.w >= COLS * 3 && d.h >= ROWS * 3);
    /* Labels in dark grey (#333) under the first tile (8 px margin, 6 x 3 rows, 4 px). */
    size_t ink = 0;
    for (unsigned y = 8 + ROWS * 3; y < 8 + ROWS * 3 + 16; y++)
        for (unsigned x = 8; x < 8 + COLS * 3; x++)
            ink += memcmp(d.rgb + 3 * ((size_t)y * d.w + x), "\x33\x33\x33", 3) == 0;
    assert_true(ink > 10);
    free(d.rgb);
    /* Eigenimage 1: the masked pixel (row 0, col 7) grey, limits symmetric. */
    snprintf(path, sizeof path, "%s/pc01.png", dir);
    d = decode_png(path);
    assert_pixel(&d, 7 * 3 + 1, 1, (unsigned char[]){128, 128, 128});
    free(d.rgb);
    assert_no_temporaries(dir);
    if (getenv("MVA_REPORT_KEEP") != NULL) {
        char cmd[1300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", getenv("MVA_REPORT_KEEP"),
                 dir, getenv("MVA_REPORT_KEEP"));
        assert_int_equal(system(cmd), 0);
    }
}

static void test_report_svgs_are_well_formed_with_one_curve_per_series(void **state)
{
    (void)state;
    char res[512], dir[512], path[600];
    tmp_path(res, "svg.h5");
    tmp_path(dir, "svg_report");
    write_results(res, 1, 1);
    write_report(res, dir, NULL);
    static const struct {
        const char *name;
        size_t curves;
    } svgs[] = {{"eigenspectra.svg", K}, {"scree.svg", 1}, {"spectrum.svg", 1}};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, svgs[i].name);
        assert_well_formed(path);
        char *s = slurp(path);
        assert_int_equal(count(s, "<polyline"), svgs[i].curves);
        free(s);
    }
    /* The spectrum shows both ROI bands and the element lines of its peaks. */
    snprintf(path, sizeof path, "%s/spectrum.svg", dir);
    char *s = slurp(path);
    assert_non_null(strstr(s, ">Fe<"));
    assert_non_null(strstr(s, ">Cu/K<"));
    assert_non_null(strstr(s, ">Fe Ka<"));
    assert_non_null(strstr(s, ">Cu Ka<"));
    assert_int_equal(count(s, "stroke-dasharray"), 4);
    free(s);
    /* The scree marks the chosen k and skips the NaN eigenvalues (50 of 100 points). */
    snprintf(path, sizeof path, "%s/scree.svg", dir);
    s = slurp(path);
    assert_non_null(strstr(s, "chosen k"));
    const char *pts = strstr(s, "points=\"");
    assert_non_null(pts);
    size_t n = 0;
    for (const char *c = pts + 8; *c != '"'; c++)
        n += *c == ',';
    assert_int_equal(n, 50);
    free(s);
}

static void test_report_html_links_only_existing_files(void **state)
{
    (void)state;
    char res[512], dir[512], path[600];
    tmp_path(res, "html.h5");
    tmp_path(dir, "html_report");
    write_results(res, 1, 1);
    write_report(res, dir, NULL);
    /* 3 plots + 8 images + montage: each an <img src> and an <a href>; 2 colour bars. */
    assert_int_equal(assert_links_exist(dir), 2 * (3 + 8 + 1) + 2);
    snprintf(path, sizeof path, "%s/index.html", dir);
    char *s = slurp(path);
    assert_null(strstr(s, "<script"));
    assert_non_null(strstr(s, "/data/map &lt;1&gt;&amp;.h5::/entry/data/data"));
    assert_non_null(strstr(s, "6 x 10 pixels x 200 channels"));
    assert_non_null(strstr(s, "Cu/K=150:170"));   /* parameters, repeated key kept */
    assert_non_null(strstr(s, "Fe=6.2:6.6keV"));
    assert_non_null(strstr(s, "<td>PC3</td>"));   /* explained variance per component */
    free(s);
}

/* ---- a selection entry (mva_result_write .selection): Zn enriched in a 2 x 3 block ---- */

#define SEL_KEV 8.639 /* Zn Ka, in report/lines.c's table: the peak the selection adds */

/* A results file holding only a selection entry: the map's average is spectrum_at (Fe, Cu,
 * Ca peaks); the selected pixels have the same plus a Zn Ka peak, and a Fe Ka peak as high
 * as the map's (the tallest of the selection, but not enriched).  One channel of each curve
 * is 0, for the log axis. */
static void write_selection_cal(const char *path, int calibrated)
{
    mva_select_spectra_result r = {CH, 0, NPIX, calloc(CH, sizeof(double)),
                               calloc(CH, sizeof(double)), calloc(CH, sizeof(double)),
                               calloc(CH, sizeof(double))};
    unsigned char mask[NPIX] = {0};
    assert_true(r.sum && r.avg && r.max && r.map_avg);
    for (size_t i = 1; i <= 2; i++)
        for (size_t j = 3; j <= 5; j++)
            mask[i * COLS + j] = 1, r.n_selected++;
    for (size_t j = 0; j < CH; j++) {
        double e = 0.05 * (double)j;
        r.map_avg[j] = spectrum_at(e);
        r.avg[j] = spectrum_at(e) + gauss(e, SEL_KEV, 300);
        r.sum[j] = r.avg[j] * (double)r.n_selected;
        r.max[j] = 2 * r.avg[j];
    }
    r.avg[0] = r.sum[0] = 0;
    r.map_avg[1] = 0;
    mva_calib cal = {calibrated, 0.0, 0.05, 0.0};
    mva_error err = {0, ""};
    char entry[64];
    mva_select_output o = {.spectra = &r, .mask = mask, .rows = ROWS, .cols = COLS,
                           .cal = &cal,
                           .description = "eigenimages/data[1] >= median +3 sd (0.5)"};
    mva_result_parts parts = {.program = "mva-select", .input_name = "/data/map.h5",
                              .selection = &o};
    if (mva_result_write(path, &parts, entry, sizeof entry, &err) != MVA_OK)
        fail_msg("mva_result_write: %s", err.msg);
    assert_string_equal(entry, "mva_select");
    free(r.sum);
    free(r.avg);
    free(r.max);
    free(r.map_avg);
}

static void write_selection(const char *path)
{
    write_selection_cal(path, 1);
}

/* The points of the n-th <polyline> of an SVG. */
static size_t polyline_points(const char *svg, size_t n)
{
    const char *p = svg;
    for (size_t i = 0; i <= n; i++) {
        p = strstr(p, "<polyline");
        assert_non_null(p);
        p++;
    }
    p = strstr(p, "points=\"");
    assert_non_null(p);
    size_t k = 0;
    for (p += 8; *p != '"'; p++)
        k += *p == ',';
    return k;
}

static void test_report_selection_plots_selection_against_map(void **state)
{
    (void)state;
    char res[512], dir[512], path[600];
    tmp_path(res, "sel.h5");
    tmp_path(dir, "sel_report");
    write_selection(res);
    mva_error err = {0, ""};
    if (mva_report_write(res, "mva_select", dir, NULL, &err) != MVA_OK)
        fail_msg("mva_report_write: %s", err.msg);
    snprintf(path, sizeof path, "%s/selection.svg", dir);
    assert_well_formed(path);
    char *s = slurp(path);
    assert_int_equal(count(s, "<polyline"), 2);
    assert_non_null(strstr(s, "energy (keV)"));
    /* The line of the enriched peak is marked; Fe Ka, the tallest peak of the selection
     * but as high in the map, is not. */
    assert_non_null(strstr(s, ">Zn Ka<"));
    assert_null(strstr(s, "Fe Ka"));
    assert_null(strstr(s, "log scale"));
    free(s);
    assert_no_temporaries(dir);
}

static void test_report_selection_log_option_draws_log_axis(void **state)
{
    (void)state;
    char res[512], dir[512], path[600];
    tmp_path(res, "sellog.h5");
    tmp_path(dir, "sellog_report");
    write_selection(res);
    mva_report_opts o = mva_report_opts_default();
    o.log = 1;
    write_report(res, dir, &o); /* the default entry: mva_result_write set it */
    snprintf(path, sizeof path, "%s/selection.svg", dir);
    assert_well_formed(path);
    char *s = slurp(path);
    assert_non_null(strstr(s, "counts per pixel (log scale)"));
    assert_non_null(strstr(s, ">1e2<"));
    assert_non_null(strstr(s, ">1e0<"));
    /* The zero channels are clipped to the axis, not dropped. */
    assert_int_equal(polyline_points(s, 0), CH);
    assert_int_equal(polyline_points(s, 1), CH);
    assert_non_null(strstr(s, ">Zn Ka<"));
    free(s);
}

static void test_report_selection_mask_png_is_map_with_selection_bright(void **state)
{
    (void)state;
    char res[512], dir[512], path[600];
    tmp_path(res, "selmask.h5");
    tmp_path(dir, "selmask_report");
    write_selection(res);
    mva_report_opts o = mva_report_opts_default();
    o.scale = 3;
    write_report(res, dir, &o);
    snprintf(path, sizeof path, "%s/mask.png", dir);
    decoded d = decode_png(path);
    assert_int_equal(d.w, COLS * 3);
    assert_int_equal(d.h, ROWS * 3);
    static const unsigned char bright[3] = {0xFD, 0xE7, 0x25}, dark[3] = {0x44, 0x01, 0x54};
    assert_pixel(&d, 3 * 3 + 1, 1 * 3 + 1, bright); /* row 1, col 3: selected */
    assert_pixel(&d, 5 * 3 + 2, 2 * 3 + 2, bright); /* row 2, col 5 */
    assert_pixel(&d, 6 * 3, 1 * 3, dark);           /* row 1, col 6: not */
    assert_pixel(&d, 0, 0, dark);
    free(d.rgb);
    /* Automatic scale: the shorter side (6 rows) reaches 200 pixels. */
    write_report(res, dir, NULL);
    d = decode_png(path);
    assert_int_equal(d.h, ROWS * 34);
    assert_int_equal(d.w, COLS * 34);
    free(d.rgb);
}

static void test_report_selection_without_calibration_plots_channels(void **state)
{
    (void)state;
    char res[512], dir[512], path[600];
    tmp_path(res, "selch.h5");
    tmp_path(dir, "selch_report");
    write_selection_cal(res, 0);
    write_report(res, dir, NULL);
    snprintf(path, sizeof path, "%s/selection.svg", dir);
    assert_well_formed(path);
    char *s = slurp(path);
    assert_int_equal(count(s, "<polyline"), 2);
    assert_non_null(strstr(s, ">channel<"));
    assert_null(strstr(s, "Zn Ka"));
    free(s);
    snprintf(path, sizeof path, "%s/index.html", dir);
    s = slurp(path);
    assert_non_null(strstr(s, "No energy calibration"));
    free(s);
}

static void test_report_selection_html_summary_and_links(void **state)
{
    (void)state;
    char res[512], dir[512], path[600];
    tmp_path(res, "selhtml.h5");
    tmp_path(dir, "selhtml_report");
    write_selection(res);
    write_report(res, dir, NULL);
    /* selection.svg and mask.png, each an <img src> and an <a href>. */
    assert_int_equal(assert_links_exist(dir), 4);
    snprintf(path, sizeof path, "%s/index.html", dir);
    char *s = slurp(path);
    assert_null(strstr(s, "<script"));
    assert_non_null(strstr(s, "/mva_select"));
    assert_non_null(strstr(s, "eigenimages/data[1] &gt;= median +3 sd (0.5)"));
    assert_non_null(strstr(s, "6 of 60 valid pixels"));
    assert_non_null(strstr(s, "/data/map.h5"));
    assert_non_null(strstr(s, "mva-select"));
    assert_non_null(strstr(s, "cumulative spectrum"));
    assert_non_null(strstr(s, "Zn Ka (8.639 keV"));
    free(s);
    assert_no_temporaries(dir);
}

/* ---- an NMF entry (mva_result_write .nmf): 3 components, hand-made ---- */

/* Component q's spectrum: a background plus one element's peaks (Fe, Cu, Ca), summing to 1;
 * its abundance a ramp along a different direction of the map, one pixel masked.  History:
 * 5 passes, halving towards 1000. */
static mva_nmf_model *make_nmf(int calibrated)
{
    static const double peak[K] = {6.404, 8.048, 3.692};
    mva_nmf_model *m = NULL;
    assert_int_equal(mva_nmf_model_new(&m, ROWS, COLS, CH, K, 5, calibrated, NULL), MVA_OK);
    m->method = MVA_NMF_HALS;
    m->init = MVA_NMF_INIT_RANDOM;
    m->seed = 7;
    m->max_iter = 200;
    m->inner = 10;
    m->tol = 1e-4;
    m->iterations = 5;
    m->passes = 7;
    m->converged = 1;
    m->objective = 1000 + 1000 / 16.0;
    m->norm_x2 = 1e6;
    m->rel_error = sqrt(m->objective / m->norm_x2);
    m->seconds = 0.25;
    m->n_valid = NPIX - 1;
    m->mask[7] = 1;
    for (size_t i = 0; i < 5; i++)
        m->history[i] = 1000 + 1000 * pow(0.5, (double)i);
    for (size_t q = 0; q < K; q++) {
        double sum = 0;
        for (size_t j = 0; j < CH; j++) {
            double e = 0.05 * (double)j;
            m->spectra[q * CH + j] = 0.01 + gauss(e, peak[q], 1);
            sum += m->spectra[q * CH + j];
        }
        for (size_t j = 0; j < CH; j++)
            m->spectra[q * CH + j] /= sum;
        for (size_t i = 0; i < NPIX; i++)
            m->abundances[q * NPIX + i] =
                m->mask[i] ? NAN : (double)(q == 0 ? i % COLS : q == 1 ? i / COLS : i) * 10;
        m->share[q] = (3.0 - (double)q) / 6.0;
    }
    for (size_t j = 0; calibrated && j < CH; j++)
        m->energy[j] = 0.05 * (double)j;
    return m;
}

static void write_nmf_results(const char *path, int calibrated)
{
    mva_stack_info info;
    memset(&info, 0, sizeof info);
    info.rows = ROWS;
    info.cols = COLS;
    info.channels = CH;
    info.dtype = MVA_DTYPE_UINT32;
    info.calib = (mva_calib){calibrated, 0.0, 0.05, 0.0};
    strcpy(info.format, "hdf5");
    strcpy(info.source, "/data/map.h5");
    strcpy(info.path, "/entry/data/data");
    static const mva_param params[] = {{"components", "3"}, {"method", "hals"},
                                       {"init", "random"}};
    mva_nmf_model *m = make_nmf(calibrated);
    mva_result_parts spec;
    memset(&spec, 0, sizeof spec);
    spec.program = "mva-nmf";
    spec.command_line = "mva-nmf map.h5 -k 3 --init random --seed 7";
    spec.input = &info;
    spec.params = params;
    spec.nparams = 3;
    spec.nmf = m;
    mva_error err = {0, ""};
    char entry[64];
    if (mva_result_write(path, &spec, entry, sizeof entry, &err) != MVA_OK)
        fail_msg("mva_result_write: %s", err.msg);
    assert_string_equal(entry, "mva_nmf");
    mva_nmf_model_free(m);
}

static void test_report_nmf_writes_abundance_maps_of_map_size(void **state)
{
    (void)state;
    char res[512], dir[512], path[600];
    tmp_path(res, "nmf.h5");
    tmp_path(dir, "nmf_report");
    write_nmf_results(res, 1);
    mva_report_opts o = mva_report_opts_default();
    o.scale = 3;
    write_report(res, dir, &o); /* the default entry: NMF only, no PCA or ROI */
    static const char *pngs[] = {"nmf01.png", "nmf02.png", "nmf03.png"};
    for (size_t i = 0; i < K; i++)
        assert_png_size(dir, pngs[i], COLS * 3, ROWS * 3);
    /* NMF1 rises along the columns (viridis, robust limits): dark at the left, bright at the
     * right; the masked pixel (row 0, col 7) grey. */
    snprintf(path, sizeof path, "%s/nmf01.png", dir);
    decoded d = decode_png(path);
    assert_pixel(&d, 1, 3 * 3 + 1, (unsigned char[]){0x44, 0x01, 0x54});
    assert_pixel(&d, COLS * 3 - 1, 3 * 3 + 1, (unsigned char[]){0xFD, 0xE7, 0x25});
    assert_pixel(&d, 7 * 3 + 1, 1, (unsigned char[]){128, 128, 128});
    free(d.rgb);
    snprintf(path, sizeof path, "%s/montage.png", dir);
    d = decode_png(path);
    assert_true(d.w >= K * COLS * 3 && d.h >= ROWS * 3);
    free(d.rgb);
    static const char *absent[] = {"pc01.png", "total_counts.png", "scree.svg",
                                   "spectrum.svg", "colorbar_diverging.png"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, absent[i]);
        assert_int_equal(access(path, F_OK), -1);
    }
    assert_no_temporaries(dir);
}

static void test_report_nmf_spectra_and_convergence_svgs(void **state)
{
    (void)state;
    char res[512], dir[512], path[600];
    tmp_path(res, "nmfsvg.h5");
    tmp_path(dir, "nmfsvg_report");
    write_nmf_results(res, 1);
    write_report(res, dir, NULL);
    snprintf(path, sizeof path, "%s/nmf_spectra.svg", dir);
    assert_well_formed(path);
    char *s = slurp(path);
    assert_int_equal(count(s, "<polyline"), K);
    assert_int_equal(polyline_points(s, 2), CH);
    assert_non_null(strstr(s, "energy (keV)"));
    assert_non_null(strstr(s, ">NMF3<"));
    /* Each component's own peak is marked, the minor one's (Ca) too. */
    assert_non_null(strstr(s, ">Fe Ka<"));
    assert_non_null(strstr(s, ">Cu Ka<"));
    assert_non_null(strstr(s, ">Ca Ka<"));
    free(s);
    snprintf(path, sizeof path, "%s/convergence.svg", dir);
    assert_well_formed(path);
    s = slurp(path);
    assert_int_equal(count(s, "<polyline"), 1);
    assert_int_equal(polyline_points(s, 0), 5);
    assert_non_null(strstr(s, "log scale"));
    assert_non_null(strstr(s, "(converged)"));
    /* Under a decade (2 down to 1): ticks at round values, whole passes on x. */
    assert_non_null(strstr(s, ">1.2<"));
    assert_non_null(strstr(s, ">1<"));
    assert_null(strstr(s, ">1.5</text>"));
    free(s);
    /* --no-lines: no markers. */
    mva_report_opts o = mva_report_opts_default();
    o.markers = 0;
    write_report(res, dir, &o);
    snprintf(path, sizeof path, "%s/nmf_spectra.svg", dir);
    s = slurp(path);
    assert_int_equal(count(s, "stroke-dasharray"), 0);
    free(s);
}

static void test_report_nmf_html_summary_and_links(void **state)
{
    (void)state;
    char res[512], dir[512], path[600];
    tmp_path(res, "nmfhtml.h5");
    tmp_path(dir, "nmfhtml_report");
    write_nmf_results(res, 1);
    write_report(res, dir, NULL);
    /* 2 plots + 3 maps + montage: each an <img src> and an <a href>; 1 colour bar. */
    assert_int_equal(assert_links_exist(dir), 2 * (2 + 3 + 1) + 1);
    snprintf(path, sizeof path, "%s/index.html", dir);
    char *s = slurp(path);
    assert_null(strstr(s, "<script"));
    assert_non_null(strstr(s, "/mva_nmf"));
    assert_non_null(strstr(s, "NMF, hals, start random (seed 7)"));
    assert_non_null(strstr(s, "5 passes of updates (7 passes over the data in all)"));
    assert_non_null(strstr(s, "yes: relative change below 0.0001"));
    assert_non_null(strstr(s, "relative error ||X - WH|| / ||X|| = 0.0326<"));
    assert_non_null(strstr(s, "59 of 60"));
    assert_non_null(strstr(s, "<td>NMF2</td><td>33.333 %</td>"));
    assert_non_null(strstr(s, "Cu Ka (8.048 keV)"));
    assert_non_null(strstr(s, "NMF abundances"));
    assert_non_null(strstr(s, "<th>init</th><td>random</td>")); /* parameters */
    free(s);
    assert_no_temporaries(dir);
}

static void test_report_nmf_without_calibration_plots_channels(void **state)
{
    (void)state;
    char res[512], dir[512], path[600];
    tmp_path(res, "nmfch.h5");
    tmp_path(dir, "nmfch_report");
    write_nmf_results(res, 0);
    write_report(res, dir, NULL);
    snprintf(path, sizeof path, "%s/nmf_spectra.svg", dir);
    assert_well_formed(path);
    char *s = slurp(path);
    assert_int_equal(count(s, "<polyline"), K);
    assert_non_null(strstr(s, ">channel<"));
    assert_int_equal(count(s, "stroke-dasharray"), 0);
    free(s);
    snprintf(path, sizeof path, "%s/index.html", dir);
    s = slurp(path);
    assert_non_null(strstr(s, "No energy calibration"));
    free(s);
    assert_links_exist(dir);
}

/* A program that chose a comma locale still gets SVG numbers with a point. */
static void test_report_numbers_ignore_comma_locale(void **state)
{
    (void)state;
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") == NULL && setlocale(LC_NUMERIC, "fr_FR.UTF-8") == NULL)
        skip();
    char res[512], dir[512], path[600];
    tmp_path(res, "locale.h5");
    tmp_path(dir, "locale_report");
    write_results(res, 1, 0);
    write_report(res, dir, NULL);
    setlocale(LC_NUMERIC, "C");
    snprintf(path, sizeof path, "%s/scree.svg", dir);
    assert_well_formed(path);
    char *s = slurp(path);
    const char *pts = strstr(s, "points=\"");
    assert_non_null(pts);
    size_t commas = 0, points = 0;
    for (const char *c = pts + 8; *c != '"'; c++) {
        commas += *c == ',';
        points += *c == '.';
    }
    assert_int_equal(commas, 50);      /* one x,y separator per point */
    assert_int_equal(points, 2 * 50);  /* "%.2f" x and y */
    free(s);
}

static void test_report_roi_only_entry_has_no_pca_parts(void **state)
{
    (void)state;
    char res[512], dir[512], path[600];
    tmp_path(res, "roi.h5");
    tmp_path(dir, "roi_report");
    write_results(res, 0, 1);
    write_report(res, dir, NULL);
    size_t scale = mva_report_auto_scale(ROWS, COLS, 200, 2400);
    assert_png_size(dir, "total_counts.png", (unsigned)(COLS * scale), (unsigned)(ROWS * scale));
    snprintf(path, sizeof path, "%s/pc01.png", dir);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof path, "%s/scree.svg", dir);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof path, "%s/spectrum.svg", dir);
    assert_well_formed(path);
    assert_int_equal(assert_links_exist(dir), 2 * (1 + 5 + 1) + 1);
}

static void test_report_missing_entry_or_file_is_notfound(void **state)
{
    (void)state;
    char res[512], dir[512];
    tmp_path(res, "entry.h5");
    tmp_path(dir, "entry_report");
    write_results(res, 1, 0);
    mva_error err;
    assert_int_equal(mva_report_write(res, "nope", dir, NULL, &err), MVA_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nope"));
    assert_int_equal(access(dir, F_OK), -1); /* nothing created */
    tmp_path(res, "absent.h5");
    assert_int_equal(mva_report_write(res, NULL, dir, NULL, &err), MVA_ENOTFOUND);
    assert_non_null(strstr(err.msg, "absent.h5"));
    mva_report_opts o = mva_report_opts_default();
    o.lo_pct = 60;
    o.hi_pct = 40;
    assert_int_equal(mva_report_write(res, NULL, dir, &o, &err), MVA_EINVAL);
}

static int setup(void **state)
{
    (void)state;
    return test_tmpdir_create("report");
}

static int teardown(void **state)
{
    (void)state;
    static const char *dirs[] = {"both_report",   "svg_report",     "html_report",
                                 "roi_report",    "locale_report",  "sel_report",
                                 "sellog_report", "selmask_report", "selhtml_report",
                                 "selch_report",  "nmf_report",     "nmfsvg_report",
                                 "nmfhtml_report", "nmfch_report"};
    char p[512];
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        remove_dir(tmp_path(p, dirs[i]));
    return test_tmpdir_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_colormap_endpoints_follow_viridis),
        cmocka_unit_test(test_report_viridis_lightness_increases),
        cmocka_unit_test(test_report_diverging_is_white_at_zero),
        cmocka_unit_test(test_report_colormap_nan_is_grey_and_unknown_rejected),
        cmocka_unit_test(test_report_limits_are_robust_percentiles),
        cmocka_unit_test(test_report_auto_scale_reaches_min_side),
        cmocka_unit_test(test_report_png_has_map_shape_times_scale),
        cmocka_unit_test(test_report_png_pixels_follow_colormap),
        cmocka_unit_test(test_report_png_diverging_zero_is_white),
        cmocka_unit_test(test_report_png_errors_leave_no_file),
        cmocka_unit_test(test_report_find_lines_marks_strongest_peaks),
        cmocka_unit_test(test_report_pca_and_roi_writes_every_file),
        cmocka_unit_test(test_report_svgs_are_well_formed_with_one_curve_per_series),
        cmocka_unit_test(test_report_html_links_only_existing_files),
        cmocka_unit_test(test_report_numbers_ignore_comma_locale),
        cmocka_unit_test(test_report_roi_only_entry_has_no_pca_parts),
        cmocka_unit_test(test_report_missing_entry_or_file_is_notfound),
        cmocka_unit_test(test_report_selection_plots_selection_against_map),
        cmocka_unit_test(test_report_selection_log_option_draws_log_axis),
        cmocka_unit_test(test_report_selection_mask_png_is_map_with_selection_bright),
        cmocka_unit_test(test_report_selection_without_calibration_plots_channels),
        cmocka_unit_test(test_report_selection_html_summary_and_links),
        cmocka_unit_test(test_report_nmf_writes_abundance_maps_of_map_size),
        cmocka_unit_test(test_report_nmf_spectra_and_convergence_svgs),
        cmocka_unit_test(test_report_nmf_html_summary_and_links),
        cmocka_unit_test(test_report_nmf_without_calibration_plots_channels),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
