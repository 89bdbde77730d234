/* The NeXus result writer and readers: exact round trips of PCA and ROI results, entries added
 * without touching the others, refusal to overwrite anything, no temporary left behind, and
 * read errors that name the file and the dataset.
 *
 * MVA_RESULT_KEEP=<file.h5> keeps a sample result (PCA + ROI entry, then a ROI-only entry) at
 * that path, for tests/interop/check_nexus.py or silx view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "mva.h"

enum { ROWS = 3, COLS = 4, NPIX = ROWS * COLS, P = 6, K = 2, CHANNELS = 14, RP = 10 };

typedef struct fixture {
    char dir[64];
    char path[128];
    mva_stack_info info;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/mva-test-result-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/out.h5", f->dir);
    f->info.rows = ROWS;
    f->info.cols = COLS;
    f->info.channels = CHANNELS;
    f->info.dtype = MVA_DTYPE_UINT32;
    f->info.calib = (mva_calib){1, 0.01, 0.02, 1e-6};
    strcpy(f->info.format, "hdf5");
    strcpy(f->info.source, "/data/beamline/map_0001.h5");
    strcpy(f->info.path, "/entry/measurement/xrf");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *e;
    char p[512];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
        unlink(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Files in the fixture directory (a leftover temporary shows up here). */
static int count_files(const fixture *f)
{
    DIR *d = opendir(f->dir);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void assert_file_is(const char *path, const char *want, size_t len)
{
    size_t n;
    char *got = slurp(path, &n);
    assert_int_equal(n, len);
    assert_memory_equal(got, want, len);
    free(got);
}

/* A model filled by hand: values that are not exact decimals, NaN scores on the masked
 * pixel, distinct per seed so that two entries can be told apart. */
static mva_pca_model *make_model(int poisson, int energy, double seed)
{
    mva_pca_model *m = NULL;
    assert_int_equal(mva_pca_model_new(&m, ROWS, COLS, CHANNELS, P, K, energy, poisson, NULL),
                     MVA_OK);
    m->bin = 2;
    m->uncentred = poisson;
    m->method = MVA_PCA_EXACT;
    m->n_valid = NPIX - 1;
    m->seconds = 1.25 + seed;
    double total = 0;
    for (size_t j = 0; j < P; j++) {
        m->var_ch0[j] = 1 + 2 * j;
        if (energy)
            m->var_energy[j] = 0.01 + 0.02 * ((double)m->var_ch0[j] + 0.5);
        m->mean[j] = seed + (double)j / 3.0;
        m->scaled_mean[j] = poisson ? m->mean[j] / 7.0 : m->mean[j];
        m->eigenvalues[j] = 100.0 / (double)(j + 1) + seed / 3.0;
        total += m->eigenvalues[j];
        if (poisson)
            m->var_weight[j] = 1.0 / sqrt(m->mean[j] + 1.0);
    }
    m->total_variance = total;
    for (size_t j = 0; j < P; j++)
        m->explained[j] = m->eigenvalues[j] / total;
    for (size_t q = 0; q < K; q++)
        for (size_t j = 0; j < P; j++)
            m->components[q * P + j] = sin((double)(q * P + j) + seed);
    m->mask[5] = 1;
    for (size_t q = 0; q < K; q++)
        for (size_t i = 0; i < NPIX; i++)
            m->scores[q * NPIX + i] = m->mask[i] ? NAN : seed * (double)(i + 1) / 7.0 - (double)q;
    if (poisson)
        for (size_t i = 0; i < NPIX; i++)
            m->pix_weight[i] = m->mask[i] ? 0.0 : 1.0 / sqrt((double)i + 2.0);
    return m;
}

/* Arrays compared bit for bit (memcmp): exact, and NaN equals NaN. */
static void assert_models_equal(const mva_pca_model *a, const mva_pca_model *b)
{
    assert_int_equal(a->rows, b->rows);
    assert_int_equal(a->cols, b->cols);
    assert_int_equal(a->channels, b->channels);
    assert_int_equal(a->p, b->p);
    assert_int_equal(a->k, b->k);
    assert_int_equal(a->bin, b->bin);
    assert_int_equal(a->poisson, b->poisson);
    assert_int_equal(a->uncentred, b->uncentred);
    assert_int_equal(a->method, b->method);
    assert_int_equal(a->n_valid, b->n_valid);
    assert_memory_equal(&a->total_variance, &b->total_variance, sizeof(double));
    assert_memory_equal(&a->seconds, &b->seconds, sizeof(double));
    size_t p = a->p, n = a->rows * a->cols;
    assert_memory_equal(a->var_ch0, b->var_ch0, p * sizeof(size_t));
    assert_memory_equal(a->mean, b->mean, p * sizeof(double));
    assert_memory_equal(a->eigenvalues, b->eigenvalues, p * sizeof(double));
    assert_memory_equal(a->explained, b->explained, p * sizeof(double));
    assert_memory_equal(a->scaled_mean, b->scaled_mean, p * sizeof(double));
    assert_memory_equal(a->components, b->components, a->k * p * sizeof(double));
    assert_memory_equal(a->scores, b->scores, a->k * n * sizeof(double));
    assert_memory_equal(a->mask, b->mask, n);
    assert_int_equal(a->var_energy == NULL, b->var_energy == NULL);
    if (a->var_energy)
        assert_memory_equal(a->var_energy, b->var_energy, p * sizeof(double));
    assert_int_equal(a->var_weight == NULL, b->var_weight == NULL);
    if (a->var_weight)
        assert_memory_equal(a->var_weight, b->var_weight, p * sizeof(double));
    assert_int_equal(a->pix_weight == NULL, b->pix_weight == NULL);
    if (a->pix_weight)
        assert_memory_equal(a->pix_weight, b->pix_weight, n * sizeof(double));
}

/* An ROI result filled by hand, allocated the way mva_roi_result_free expects. */
static mva_roi_result *make_roi(size_t nroi, double seed)
{
    mva_roi_result *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->rows = ROWS;
    r->cols = COLS;
    r->p = RP;
    r->nroi = nroi;
    r->defs = calloc(nroi + 1, sizeof *r->defs);
    r->ch0 = calloc(nroi + 1, sizeof *r->ch0);
    r->ch1 = calloc(nroi + 1, sizeof *r->ch1);
    r->raw = calloc(nroi * NPIX + 1, sizeof(double));
    r->net = calloc(nroi * NPIX + 1, sizeof(double));
    r->total = calloc(NPIX, sizeof(double));
    r->sum_spectrum = calloc(RP, sizeof(double));
    r->avg_spectrum = calloc(RP, sizeof(double));
    r->max_spectrum = calloc(RP, sizeof(double));
    r->mask = calloc(NPIX, 1);
    assert_true(r->defs && r->ch0 && r->ch1 && r->raw && r->net && r->total && r->mask &&
                r->sum_spectrum && r->avg_spectrum && r->max_spectrum);
    static const mva_roi_def defs[] = {{"Fe", 6.2, 6.6, MVA_ROI_KEV},
                                       {"Cu/K", 3, 5, MVA_ROI_CHANNEL},
                                       {"Fe", 1.1, 1.3, MVA_ROI_KEV}};
    for (size_t i = 0; i < nroi; i++) {
        r->defs[i] = defs[i % 3];
        r->ch0[i] = 2 + i;
        r->ch1[i] = 4 + 2 * i;
    }
    r->mask[7] = 1;
    r->n_valid = NPIX - 1;
    for (size_t i = 0; i < NPIX; i++) {
        r->total[i] = r->mask[i] ? NAN : seed * 1000.0 + (double)i / 3.0;
        for (size_t q = 0; q < nroi; q++) {
            r->raw[q * NPIX + i] = r->mask[i] ? NAN : seed + (double)(q * NPIX + i) * 1.1;
            r->net[q * NPIX + i] = r->mask[i] ? NAN : (double)i / 9.0 - (double)q;
        }
    }
    for (size_t j = 0; j < RP; j++) {
        r->sum_spectrum[j] = seed * 10.0 + (double)j / 7.0;
        r->avg_spectrum[j] = r->sum_spectrum[j] / (double)r->n_valid;
        r->max_spectrum[j] = j == 3 ? -INFINITY : (double)j * 0.3;
    }
    return r;
}

static void assert_rois_equal(const mva_roi_result *a, const mva_roi_result *b)
{
    assert_int_equal(a->rows, b->rows);
    assert_int_equal(a->cols, b->cols);
    assert_int_equal(a->p, b->p);
    assert_int_equal(a->nroi, b->nroi);
    assert_int_equal(a->n_valid, b->n_valid);
    size_t n = a->rows * a->cols;
    for (size_t i = 0; i < a->nroi; i++) {
        assert_string_equal(a->defs[i].name, b->defs[i].name);
        assert_memory_equal(&a->defs[i].from, &b->defs[i].from, sizeof(double));
        assert_memory_equal(&a->defs[i].to, &b->defs[i].to, sizeof(double));
        assert_int_equal(a->defs[i].unit, b->defs[i].unit);
        assert_int_equal(a->ch0[i], b->ch0[i]);
        assert_int_equal(a->ch1[i], b->ch1[i]);
    }
    if (a->nroi > 0) {
        assert_memory_equal(a->raw, b->raw, a->nroi * n * sizeof(double));
        assert_memory_equal(a->net, b->net, a->nroi * n * sizeof(double));
    }
    assert_memory_equal(a->total, b->total, n * sizeof(double));
    assert_memory_equal(a->sum_spectrum, b->sum_spectrum, a->p * sizeof(double));
    assert_memory_equal(a->avg_spectrum, b->avg_spectrum, a->p * sizeof(double));
    assert_memory_equal(a->max_spectrum, b->max_spectrum, a->p * sizeof(double));
    assert_memory_equal(a->mask, b->mask, n);
}

static const mva_param params[] = {
    {"k", "2"}, {"roi", "Fe=6.2:6.6keV"}, {"roi", "Cu=3:5"}, {"a/b", "x y"}, {"empty", NULL}};

static mva_result_parts make_spec(const fixture *f, const mva_pca_model *m,
                                 const mva_roi_result *r, const char *entry)
{
    mva_result_parts s = {.entry = entry,
                          .program = "mva-test",
                          .command_line = "mva-test --k 2 map.h5",
                          .input = &f->info,
                          .pca = m,
                          .roi = r,
                          .params = params,
                          .nparams = sizeof params / sizeof params[0]};
    return s;
}

static void write_ok(const fixture *f, const char *path, const mva_result_parts *s,
                     const char *want_entry)
{
    mva_error err = {0, ""};
    char name[64] = "";
    int rc = mva_result_write(path, s, name, sizeof name, &err);
    if (rc != MVA_OK)
        fail_msg("mva_result_write: %s", err.msg);
    assert_string_equal(name, want_entry);
    (void)f;
}

/* Reads a string attribute (attr != NULL) or a scalar string dataset of path in file. */
static void h5_string(const char *file, const char *obj, const char *attr, char *out,
                      size_t cap)
{
    hid_t fid = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(fid >= 0);
    hid_t o = attr ? H5Aopen_by_name(fid, obj, attr, H5P_DEFAULT, H5P_DEFAULT)
                   : H5Dopen2(fid, obj, H5P_DEFAULT);
    assert_true(o >= 0);
    hid_t t = attr ? H5Aget_type(o) : H5Dget_type(o);
    /* Strings are written the way h5py writes them: variable length, UTF-8. */
    assert_true(H5Tis_variable_str(t) > 0);
    assert_int_equal(H5Tget_cset(t), H5T_CSET_UTF8);
    char *s = NULL;
    assert_true((attr ? H5Aread(o, t, &s) : H5Dread(o, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s)) >=
                0);
    snprintf(out, cap, "%s", s);
    H5free_memory(s);
    H5Tclose(t);
    if (attr)
        H5Aclose(o);
    else
        H5Dclose(o);
    H5Fclose(fid);
}

static int h5_exists(const char *file, const char *obj)
{
    hid_t fid = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(fid >= 0);
    htri_t ex = H5Lexists(fid, obj, H5P_DEFAULT);
    H5Fclose(fid);
    return ex > 0;
}

/* ---------------------------------------------------------------------------------------- */

static void test_result_pca_roundtrip_is_exact(void **state)
{
    fixture *f = *state;
    mva_pca_model *m = make_model(0, 0, 1.0), *back = NULL;
    mva_result_parts s = make_spec(f, m, NULL, NULL);
    write_ok(f, f->path, &s, "mva_pca");
    mva_error err = {0, ""};
    assert_int_equal(mva_result_read_pca(f->path, NULL, &back, &err), MVA_OK);
    assert_models_equal(m, back);
    assert_int_equal(count_files(f), 1);
    mva_pca_model_free(back);
    mva_pca_model_free(m);
}

static void test_result_pca_poisson_energy_roundtrip_is_exact(void **state)
{
    fixture *f = *state;
    mva_pca_model *m = make_model(1, 1, 2.0), *back = NULL;
    mva_result_parts s = make_spec(f, m, NULL, "fit");
    write_ok(f, f->path, &s, "fit");
    mva_error err = {0, ""};
    assert_int_equal(mva_result_read_pca(f->path, "fit", &back, &err), MVA_OK);
    assert_models_equal(m, back);
    assert_true(h5_exists(f->path, "/fit/eigenspectra/energy"));
    assert_false(h5_exists(f->path, "/fit/eigenspectra/channel"));
    mva_pca_model_free(back);
    mva_pca_model_free(m);
}

static void test_result_pca_without_components_roundtrips(void **state)
{
    fixture *f = *state;
    mva_pca_model *m = NULL, *back = NULL;
    assert_int_equal(mva_pca_model_new(&m, ROWS, COLS, CHANNELS, P, 0, 0, 0, NULL), MVA_OK);
    for (size_t j = 0; j < P; j++)
        m->eigenvalues[j] = (double)(P - j);
    mva_result_parts s = make_spec(f, m, NULL, NULL);
    write_ok(f, f->path, &s, "mva_pca");
    char def[64];
    h5_string(f->path, "/mva_pca", "default", def, sizeof def);
    assert_string_equal(def, "scree");
    assert_int_equal(mva_result_read_pca(f->path, NULL, &back, NULL), MVA_OK);
    assert_models_equal(m, back);
    mva_pca_model_free(back);
    mva_pca_model_free(m);
}

static void test_result_roi_roundtrip_is_exact(void **state)
{
    fixture *f = *state;
    mva_roi_result *r = make_roi(3, 1.0), *back = NULL;
    mva_result_parts s = make_spec(f, NULL, r, NULL);
    write_ok(f, f->path, &s, "mva_roi");
    mva_error err = {0, ""};
    assert_int_equal(mva_result_read_roi(f->path, NULL, &back, &err), MVA_OK);
    assert_rois_equal(r, back);
    /* One titled image per ROI; a '/' in the name and a repeated name stay distinct. */
    assert_true(h5_exists(f->path, "/mva_roi/roi/Fe"));
    assert_true(h5_exists(f->path, "/mva_roi/roi/Cu_K"));
    assert_true(h5_exists(f->path, "/mva_roi/roi/Fe_1"));
    char title[64];
    h5_string(f->path, "/mva_roi/roi/Cu_K/title", NULL, title, sizeof title);
    assert_string_equal(title, "Cu/K");
    /* The input is calibrated: spectra are plotted over energy. */
    assert_true(h5_exists(f->path, "/mva_roi/sum_spectrum/energy"));
    mva_roi_result_free(back);
    mva_roi_result_free(r);
}

static void test_result_roi_without_rois_roundtrips(void **state)
{
    fixture *f = *state;
    f->info.calib.known = 0;
    mva_roi_result *r = make_roi(0, 3.0), *back = NULL;
    mva_result_parts s = make_spec(f, NULL, r, NULL);
    write_ok(f, f->path, &s, "mva_roi");
    assert_int_equal(mva_result_read_roi(f->path, "mva_roi", &back, NULL), MVA_OK);
    assert_rois_equal(r, back);
    char def[64];
    h5_string(f->path, "/mva_roi", "default", def, sizeof def);
    assert_string_equal(def, "total_counts");
    assert_false(h5_exists(f->path, "/mva_roi/roi_raw"));
    assert_true(h5_exists(f->path, "/mva_roi/sum_spectrum/channel"));
    mva_roi_result_free(back);
    mva_roi_result_free(r);
}

static void test_result_pca_and_roi_share_one_entry(void **state)
{
    fixture *f = *state;
    mva_pca_model *m = make_model(1, 0, 1.5), *mb = NULL;
    mva_roi_result *r = make_roi(2, 2.5), *rb = NULL;
    /* Same mask as the PCA: stored once. */
    memcpy(r->mask, m->mask, NPIX);
    r->n_valid = m->n_valid;
    mva_result_parts s = make_spec(f, m, r, NULL);
    write_ok(f, f->path, &s, "mva_pca");
    assert_false(h5_exists(f->path, "/mva_pca/roi_mask"));
    assert_int_equal(mva_result_read_pca(f->path, NULL, &mb, NULL), MVA_OK);
    assert_int_equal(mva_result_read_roi(f->path, NULL, &rb, NULL), MVA_OK);
    assert_models_equal(m, mb);
    assert_rois_equal(r, rb);
    mva_roi_result_free(rb);
    /* A different mask: the ROI keeps its own. */
    r->mask[0] = 1;
    r->n_valid--;
    write_ok(f, f->path, &s, "mva_pca_1");
    assert_true(h5_exists(f->path, "/mva_pca_1/roi_mask"));
    assert_int_equal(mva_result_read_roi(f->path, "mva_pca_1", &rb, NULL), MVA_OK);
    assert_rois_equal(r, rb);
    const char *keep = getenv("MVA_RESULT_KEEP");
    if (keep != NULL && keep[0] != '\0') {
        mva_result_parts roi_only = make_spec(f, NULL, r, NULL);
        unlink(keep);
        write_ok(f, keep, &s, "mva_pca");
        write_ok(f, keep, &roi_only, "mva_roi");
    }
    mva_roi_result_free(rb);
    mva_pca_model_free(mb);
    mva_roi_result_free(r);
    mva_pca_model_free(m);
}

static void test_result_second_write_adds_entry_and_keeps_first(void **state)
{
    fixture *f = *state;
    mva_pca_model *a = make_model(0, 1, 1.0), *b = make_model(1, 0, 5.0), *back = NULL;
    mva_result_parts sa = make_spec(f, a, NULL, NULL), sb = make_spec(f, b, NULL, NULL);
    write_ok(f, f->path, &sa, "mva_pca");
    write_ok(f, f->path, &sb, "mva_pca_1");
    assert_int_equal(count_files(f), 1);
    assert_int_equal(mva_result_read_pca(f->path, "mva_pca", &back, NULL), MVA_OK);
    assert_models_equal(a, back);
    mva_pca_model_free(back);
    /* The root's @default names the newest entry, so NULL reads it. */
    char def[64];
    h5_string(f->path, "/", "default", def, sizeof def);
    assert_string_equal(def, "mva_pca_1");
    assert_int_equal(mva_result_read_pca(f->path, NULL, &back, NULL), MVA_OK);
    assert_models_equal(b, back);
    mva_pca_model_free(back);
    mva_pca_model_free(a);
    mva_pca_model_free(b);
}

static void test_result_existing_entry_name_is_rejected(void **state)
{
    fixture *f = *state;
    mva_pca_model *m = make_model(0, 0, 1.0);
    mva_result_parts s = make_spec(f, m, NULL, "fit");
    write_ok(f, f->path, &s, "fit");
    size_t len;
    char *before = slurp(f->path, &len);
    mva_error err = {0, ""};
    char name[64] = "untouched";
    assert_int_equal(mva_result_write(f->path, &s, name, sizeof name, &err), MVA_EINVAL);
    assert_int_equal(err.code, MVA_EINVAL);
    assert_non_null(strstr(err.msg, f->path));
    assert_non_null(strstr(err.msg, "/fit"));
    assert_string_equal(name, "untouched");
    assert_file_is(f->path, before, len);
    assert_int_equal(count_files(f), 1);
    free(before);
    mva_pca_model_free(m);
}

static void test_result_non_hdf5_file_is_not_overwritten(void **state)
{
    fixture *f = *state;
    const char text[] = "not an HDF5 file\n";
    FILE *fp = fopen(f->path, "wb");
    assert_non_null(fp);
    fwrite(text, 1, sizeof text - 1, fp);
    fclose(fp);
    mva_pca_model *m = make_model(0, 0, 1.0);
    mva_result_parts s = make_spec(f, m, NULL, NULL);
    mva_error err = {0, ""};
    assert_int_equal(mva_result_write(f->path, &s, NULL, 0, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, f->path));
    assert_non_null(strstr(err.msg, "not an HDF5 file"));
    assert_file_is(f->path, text, sizeof text - 1);
    assert_int_equal(count_files(f), 1);
    mva_pca_model_free(m);
}

static void test_result_unwritable_directory_is_eio(void **state)
{
    fixture *f = *state;
    const char *path = "/nonexistent-dir/x.h5";
    char tmp[64];
    mva_pca_model *m = make_model(0, 0, 1.0);
    mva_result_parts s = make_spec(f, m, NULL, NULL);
    mva_error err = {0, ""};
    assert_int_equal(mva_result_write(path, &s, NULL, 0, &err), MVA_EIO);
    assert_non_null(strstr(err.msg, path));
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0);
    assert_int_not_equal(access(path, F_OK), 0);
    mva_pca_model_free(m);
}

static void test_result_input_file_is_never_the_output(void **state)
{
    fixture *f = *state;
    mva_pca_model *m = make_model(0, 0, 1.0);
    mva_result_parts s = make_spec(f, m, NULL, NULL);
    write_ok(f, f->path, &s, "mva_pca");
    size_t len;
    char *before = slurp(f->path, &len);
    snprintf(f->info.source, sizeof f->info.source, "%s", f->path);
    mva_error err = {0, ""};
    assert_int_equal(mva_result_write(f->path, &s, NULL, 0, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "input"));
    assert_file_is(f->path, before, len);
    assert_int_equal(count_files(f), 1);
    free(before);
    mva_pca_model_free(m);
}

static void test_result_small_entry_buffer_leaves_no_file(void **state)
{
    fixture *f = *state;
    mva_pca_model *m = make_model(0, 0, 1.0);
    mva_result_parts s = make_spec(f, m, NULL, NULL);
    char name[4];
    mva_error err = {0, ""};
    assert_int_equal(mva_result_write(f->path, &s, name, sizeof name, &err), MVA_ERANGE);
    assert_int_equal(count_files(f), 0);
    mva_pca_model_free(m);
}

static void test_result_invalid_spec_is_rejected(void **state)
{
    fixture *f = *state;
    mva_pca_model *m = make_model(0, 0, 1.0);
    mva_result_parts s = make_spec(f, NULL, NULL, NULL);
    mva_error err = {0, ""};
    assert_int_equal(mva_result_write(f->path, &s, NULL, 0, &err), MVA_EINVAL);
    s = make_spec(f, m, NULL, "a/b");
    assert_int_equal(mva_result_write(f->path, &s, NULL, 0, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "a/b"));
    m->k = P + 1;
    s = make_spec(f, m, NULL, NULL);
    assert_int_equal(mva_result_write(f->path, &s, NULL, 0, &err), MVA_EINVAL);
    m->k = K;
    assert_int_equal(count_files(f), 0);
    mva_pca_model_free(m);
}

/* One entry per kind: PCA and ROI share one; NMF, selection and clustering are alone; the
 * reconstruction needs the PCA it measures.  Refused by name, nothing written. */
static void test_result_parts_that_do_not_go_together_are_refused(void **state)
{
    fixture *f = *state;
    mva_pca_model *m = make_model(0, 0, 1.0);
    mva_nmf_model nmf;
    memset(&nmf, 0, sizeof nmf);
    mva_compress_stats recon;
    memset(&recon, 0, sizeof recon);
    mva_select_output sel;
    memset(&sel, 0, sizeof sel);
    mva_error err = {0, ""};
    mva_result_parts s = make_spec(f, m, NULL, NULL);
    s.nmf = &nmf;
    assert_int_equal(mva_result_write(f->path, &s, NULL, 0, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "each written as an entry of their own"));
    s = make_spec(f, NULL, NULL, NULL);
    s.selection = &sel;
    s.nmf = &nmf;
    assert_int_equal(mva_result_write(f->path, &s, NULL, 0, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "each written as an entry of their own"));
    s = make_spec(f, NULL, NULL, NULL);
    s.recon = &recon;
    assert_int_equal(mva_result_write(f->path, &s, NULL, 0, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "nothing to write"));
    s = make_spec(f, NULL, make_roi(1, 1.0), NULL);
    s.recon = &recon;
    assert_int_equal(mva_result_write(f->path, &s, NULL, 0, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "need the PCA model they measure"));
    mva_roi_result_free((mva_roi_result *)s.roi);
    s = make_spec(f, NULL, NULL, NULL);
    s.selection = &sel; /* no spectra, no mask */
    assert_int_equal(mva_result_write(f->path, &s, NULL, 0, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "the selection has no spectra"));
    assert_int_equal(count_files(f), 0);
    mva_pca_model_free(m);
}

/* mva_result_find_entry with holds NULL finds any kind of result (the report's rule). */
static void test_result_find_entry_of_any_kind(void **state)
{
    fixture *f = *state;
    mva_roi_result *r = make_roi(1, 1.0);
    mva_result_parts s = make_spec(f, NULL, r, "rois");
    write_ok(f, f->path, &s, "rois");
    char name[64];
    mva_error err = {0, ""};
    assert_int_equal(mva_result_find_entry(f->path, NULL, NULL, name, sizeof name, &err),
                     MVA_OK);
    assert_string_equal(name, "rois");
    assert_int_equal(mva_result_find_entry(f->path, NULL, MVA_RESULT_PCA, name, sizeof name,
                                           &err),
                     MVA_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no entry holds a eigenspectra"));
    mva_roi_result_free(r);
}

static void test_result_records_process_and_nexus_attributes(void **state)
{
    fixture *f = *state;
    mva_pca_model *m = make_model(0, 0, 1.0);
    mva_result_parts s = make_spec(f, m, NULL, NULL);
    write_ok(f, f->path, &s, "mva_pca");
    char v[256];
    h5_string(f->path, "/", "NX_class", v, sizeof v);
    assert_string_equal(v, "NXroot");
    h5_string(f->path, "/", "default", v, sizeof v);
    assert_string_equal(v, "mva_pca");
    h5_string(f->path, "/mva_pca", "NX_class", v, sizeof v);
    assert_string_equal(v, "NXentry");
    h5_string(f->path, "/mva_pca", "default", v, sizeof v);
    assert_string_equal(v, "eigenimages");
    h5_string(f->path, "/mva_pca/eigenimages", "signal", v, sizeof v);
    assert_string_equal(v, "data");
    h5_string(f->path, "/mva_pca/process/input_file", NULL, v, sizeof v);
    assert_string_equal(v, f->info.source);
    h5_string(f->path, "/mva_pca/process/version", NULL, v, sizeof v);
    assert_string_equal(v, mva_version());
    /* Repeated keys keep every value, '/' in a key is replaced, NULL values are empty. */
    h5_string(f->path, "/mva_pca/process/parameters/roi", NULL, v, sizeof v);
    assert_string_equal(v, "Fe=6.2:6.6keV");
    h5_string(f->path, "/mva_pca/process/parameters/roi_1", NULL, v, sizeof v);
    assert_string_equal(v, "Cu=3:5");
    h5_string(f->path, "/mva_pca/process/parameters/a_b", NULL, v, sizeof v);
    assert_string_equal(v, "x y");
    h5_string(f->path, "/mva_pca/process/parameters/empty", NULL, v, sizeof v);
    assert_string_equal(v, "");
    h5_string(f->path, "/mva_pca/process/configuration/data", NULL, v, sizeof v);
    assert_string_equal(v, "k = 2\nroi = Fe=6.2:6.6keV\nroi = Cu=3:5\na/b = x y\nempty = \n");
    /* @axes is an array of variable-length strings, as h5py writes it. */
    hid_t fid = H5Fopen(f->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t a = H5Aopen_by_name(fid, "/mva_pca/eigenimages", "axes", H5P_DEFAULT, H5P_DEFAULT);
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    assert_true(H5Tis_variable_str(t) > 0);
    assert_int_equal(H5Sget_simple_extent_npoints(sp), 3);
    char *axes[3] = {NULL, NULL, NULL};
    assert_true(H5Aread(a, t, axes) >= 0);
    assert_string_equal(axes[0], "component");
    assert_string_equal(axes[1], "y");
    assert_string_equal(axes[2], "x");
    H5Dvlen_reclaim(t, sp, H5P_DEFAULT, axes);
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    H5Fclose(fid);
    mva_pca_model_free(m);
}

static void test_result_read_missing_entry_names_it(void **state)
{
    fixture *f = *state;
    mva_pca_model *m = make_model(0, 0, 1.0), *back = NULL;
    mva_roi_result *rb = NULL;
    mva_result_parts s = make_spec(f, m, NULL, NULL);
    write_ok(f, f->path, &s, "mva_pca");
    mva_error err = {0, ""};
    assert_int_equal(mva_result_read_pca(f->path, "nope", &back, &err), MVA_ENOTFOUND);
    assert_null(back);
    assert_non_null(strstr(err.msg, f->path));
    assert_non_null(strstr(err.msg, "/nope"));
    /* A PCA entry holds no ROI result. */
    assert_int_equal(mva_result_read_roi(f->path, NULL, &rb, &err), MVA_ENOTFOUND);
    assert_null(rb);
    assert_non_null(strstr(err.msg, f->path));
    /* No file at all. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.h5", f->dir);
    assert_int_equal(mva_result_read_pca(missing, NULL, &back, &err), MVA_ENOTFOUND);
    assert_non_null(strstr(err.msg, missing));
    mva_pca_model_free(m);
}

/* Changes the file behind the reader's back with the HDF5 API. */
static void h5_edit(const char *file, const char *del, const char *set_size, uint64_t value)
{
    hid_t fid = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(fid >= 0);
    if (del)
        assert_true(H5Ldelete(fid, del, H5P_DEFAULT) >= 0);
    if (set_size) {
        hid_t d = H5Dopen2(fid, set_size, H5P_DEFAULT);
        assert_true(d >= 0);
        assert_true(H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value) >= 0);
        H5Dclose(d);
    }
    H5Fclose(fid);
}

static void test_result_read_missing_dataset_names_path(void **state)
{
    fixture *f = *state;
    mva_pca_model *m = make_model(0, 0, 1.0), *back = NULL;
    mva_result_parts s = make_spec(f, m, NULL, NULL);
    write_ok(f, f->path, &s, "mva_pca");
    h5_edit(f->path, "/mva_pca/eigenvalues", NULL, 0);
    mva_error err = {0, ""};
    char want[256];
    snprintf(want, sizeof want, "%s: /mva_pca/eigenvalues missing", f->path);
    assert_int_equal(mva_result_read_pca(f->path, NULL, &back, &err), MVA_ENOTFOUND);
    assert_string_equal(err.msg, want);
    assert_null(back);
    mva_pca_model_free(m);
}

static void test_result_read_inconsistent_shape_is_format_error(void **state)
{
    fixture *f = *state;
    mva_pca_model *m = make_model(0, 0, 1.0), *back = NULL;
    mva_result_parts s = make_spec(f, m, NULL, NULL);
    write_ok(f, f->path, &s, "mva_pca");
    h5_edit(f->path, NULL, "/mva_pca/process/pca/k", 1);
    mva_error err = {0, ""};
    assert_int_equal(mva_result_read_pca(f->path, NULL, &back, &err), MVA_EFORMAT);
    assert_non_null(strstr(err.msg, "/mva_pca/eigenimages/data has shape (2, 3, 4), expected "
                                    "(1, 3, 4)"));
    assert_null(back);
    mva_pca_model_free(m);
}

/* Chunk shape and filters of dataset obj. */
static void h5_layout(const char *file, const char *obj, int *chunked, hsize_t *chunk,
                      int *nfilters)
{
    hid_t fid = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(fid, obj, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t dcpl = H5Dget_create_plist(d);
    *chunked = H5Pget_layout(dcpl) == H5D_CHUNKED;
    if (*chunked)
        H5Pget_chunk(dcpl, 3, chunk);
    *nfilters = H5Pget_nfilters(dcpl);
    H5Pclose(dcpl);
    H5Dclose(d);
    H5Fclose(fid);
}

/* A model of k r x c eigenimages (left to the caller) over pp channels. */
static mva_pca_model *image_model(size_t r, size_t c, size_t pp, size_t k)
{
    mva_pca_model *m = NULL;
    assert_int_equal(mva_pca_model_new(&m, r, c, pp, pp, k, 0, 0, NULL), MVA_OK);
    for (size_t j = 0; j < pp; j++) {
        m->var_ch0[j] = j;
        m->eigenvalues[j] = 1.0 / (double)(j + 1);
    }
    return m;
}

/* m written as entry mva_pca of the fixture's file, read back and checked equal. */
static mva_pca_model *write_read_back(fixture *f, mva_pca_model *m)
{
    mva_pca_model *back = NULL;
    mva_result_parts s = make_spec(f, m, NULL, NULL);
    write_ok(f, f->path, &s, "mva_pca");
    assert_int_equal(mva_result_read_pca(f->path, NULL, &back, NULL), MVA_OK);
    assert_models_equal(m, back);
    return back;
}

static void test_result_large_datasets_are_chunked_and_compressed(void **state)
{
    fixture *f = *state;
    /* 400 x 400 doubles are 1.28 MB: one image no longer fits a 1 MiB chunk. */
    enum { R = 400, C = 400, PP = 40, KK = 2 };
    mva_pca_model *m = image_model(R, C, PP, KK), *back = NULL;
    for (size_t i = 0; i < (size_t)KK * R * C; i++) /* whole numbers: they compress */
        m->scores[i] = round(sin((double)i * 0.001) * 100.0);
    back = write_read_back(f, m);
    int chunked, nfilters;
    hsize_t chunk[3] = {0, 0, 0};
    h5_layout(f->path, "/mva_pca/eigenimages/data", &chunked, chunk, &nfilters);
    assert_true(chunked);
    assert_int_equal(chunk[0], 1);
    assert_int_equal(chunk[1], R / 2);
    assert_int_equal(chunk[2], C);
    assert_int_equal(nfilters, 2); /* shuffle + deflate */
    h5_layout(f->path, "/mva_pca/mask", &chunked, chunk, &nfilters);
    assert_true(chunked);
    assert_int_equal(chunk[0], R);
    assert_int_equal(chunk[1], C);
    h5_layout(f->path, "/mva_pca/eigenvalues", &chunked, chunk, &nfilters);
    assert_false(chunked);
    assert_int_equal(nfilters, 0);
    mva_pca_model_free(back);
    mva_pca_model_free(m);
}

/* Floating-point noise (every mantissa bit random, as in real eigenimages) is not worth
 * deflating: stored as it is, and read back bit for bit. */
static void test_result_noise_floats_stay_uncompressed(void **state)
{
    fixture *f = *state;
    enum { R = 200, C = 300, PP = 40, KK = 2 };
    mva_pca_model *m = image_model(R, C, PP, KK), *back = NULL;
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < (size_t)KK * R * C; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        m->scores[i] = (double)(x >> 11) * 0x1p-53 - 0.5;
    }
    back = write_read_back(f, m);
    int chunked, nfilters;
    hsize_t chunk[3] = {0, 0, 0};
    h5_layout(f->path, "/mva_pca/eigenimages/data", &chunked, chunk, &nfilters);
    assert_false(chunked);
    assert_int_equal(nfilters, 0);
    h5_layout(f->path, "/mva_pca/mask", &chunked, chunk, &nfilters); /* integers still are */
    assert_true(chunked);
    assert_int_equal(nfilters, 2);
    mva_pca_model_free(back);
    mva_pca_model_free(m);
}

static void test_result_keeps_foreign_file_content_and_mode(void **state)
{
    fixture *f = *state;
    /* A file written by another program: a dataset, its own creator, mode 0640. */
    hid_t fid = H5Fcreate(f->path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t three = 3;
    const int raw[3] = {7, 8, 9};
    hid_t sp = H5Screate_simple(1, &three, NULL);
    hid_t d = H5Dcreate2(fid, "raw", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0);
    hid_t st = H5Tcopy(H5T_C_S1), ssp = H5Screate(H5S_SCALAR);
    H5Tset_size(st, H5T_VARIABLE);
    H5Tset_cset(st, H5T_CSET_UTF8);
    const char *other = "beamline writer";
    hid_t a = H5Acreate2(fid, "creator", st, ssp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, st, &other) >= 0);
    H5Aclose(a);
    H5Sclose(ssp);
    H5Tclose(st);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(fid);
    assert_int_equal(chmod(f->path, 0640), 0);

    mva_pca_model *m = make_model(0, 0, 1.0);
    mva_result_parts s = make_spec(f, m, NULL, NULL);
    write_ok(f, f->path, &s, "mva_pca");
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0640);
    char v[64];
    h5_string(f->path, "/", "creator", v, sizeof v);
    assert_string_equal(v, "beamline writer");
    h5_string(f->path, "/", "default", v, sizeof v);
    assert_string_equal(v, "mva_pca");
    int back[3] = {0, 0, 0};
    fid = H5Fopen(f->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    d = H5Dopen2(fid, "raw", H5P_DEFAULT);
    assert_true(H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0);
    H5Dclose(d);
    H5Fclose(fid);
    assert_memory_equal(back, raw, sizeof raw);
    mva_pca_model_free(m);
}

/* Files and objects in them (groups, datasets, attributes, named types) that HDF5 holds
 * open, over every file. */
static ssize_t h5_open_objects(void)
{
    return H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
}

static void test_result_closes_every_hdf5_id(void **state)
{
    fixture *f = *state;
    mva_pca_model *m = make_model(1, 1, 1.0), *back = NULL;
    mva_roi_result *r = make_roi(2, 1.0), *rb = NULL;
    memcpy(r->mask, m->mask, NPIX);
    mva_result_parts s = make_spec(f, m, r, "fit");
    assert_int_equal(h5_open_objects(), 0);
    write_ok(f, f->path, &s, "fit");
    assert_int_equal(mva_result_write(f->path, &s, NULL, 0, NULL), MVA_EINVAL);
    assert_int_equal(mva_result_read_pca(f->path, NULL, &back, NULL), MVA_OK);
    assert_int_equal(mva_result_read_roi(f->path, NULL, &rb, NULL), MVA_OK);
    assert_int_equal(mva_result_read_pca(f->path, "nope", &back, NULL), MVA_ENOTFOUND);
    h5_edit(f->path, "/fit/roi_definitions/unit", NULL, 0);
    mva_roi_result_free(rb);
    rb = NULL;
    assert_int_equal(mva_result_read_roi(f->path, NULL, &rb, NULL), MVA_ENOTFOUND);
    assert_int_equal(h5_open_objects(), 0);
    mva_pca_model_free(back);
    mva_pca_model_free(m);
    mva_roi_result_free(r);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_result_pca_roundtrip_is_exact),
        T(test_result_pca_poisson_energy_roundtrip_is_exact),
        T(test_result_pca_without_components_roundtrips),
        T(test_result_roi_roundtrip_is_exact),
        T(test_result_roi_without_rois_roundtrips),
        T(test_result_pca_and_roi_share_one_entry),
        T(test_result_second_write_adds_entry_and_keeps_first),
        T(test_result_existing_entry_name_is_rejected),
        T(test_result_non_hdf5_file_is_not_overwritten),
        T(test_result_unwritable_directory_is_eio),
        T(test_result_input_file_is_never_the_output),
        T(test_result_small_entry_buffer_leaves_no_file),
        T(test_result_invalid_spec_is_rejected),
        T(test_result_records_process_and_nexus_attributes),
        T(test_result_read_missing_entry_names_it),
        T(test_result_read_missing_dataset_names_path),
        T(test_result_read_inconsistent_shape_is_format_error),
        T(test_result_large_datasets_are_chunked_and_compressed),
        T(test_result_noise_floats_stay_uncompressed),
        T(test_result_keeps_foreign_file_content_and_mode),
        T(test_result_closes_every_hdf5_id),
        T(test_result_parts_that_do_not_go_together_are_refused),
        T(test_result_find_entry_of_any_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
