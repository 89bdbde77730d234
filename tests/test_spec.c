/*
 * Tests of the SPEC stack reader (io/spec.c).  Every file is written here, by hand or by a
 * small generator, into a temporary directory that the group teardown removes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mva/spec.h"
#include "mva/stack.h"
#include "util/tmpdir.h"

/* ---- fixtures ---- */

static int group_setup(void **state)
{
    (void)state;
    return test_tmpdir_create("spec");
}

static int group_teardown(void **state)
{
    (void)state;
    return test_tmpdir_remove();
}

/* ---- writing and reading test files ---- */

/* Writes len bytes of text to NAME in the temporary directory; path gets its path (512). */
static const char *put_bytes(char *path, const char *name, const char *text, size_t len)
{
    snprintf(path, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static const char *put_file(char *path, const char *name, const char *text)
{
    return put_bytes(path, name, text, strlen(text));
}

/* A growing text buffer for generated files. */
typedef struct {
    char *s;
    size_t len, cap;
} text;

static void add(text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        int w = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? room : 0, fmt, ap);
        va_end(ap);
        assert_true(w >= 0);
        if (t->s != NULL && (size_t)w < room) {
            t->len += (size_t)w;
            return;
        }
        t->cap = 2 * (t->cap + (size_t)w + 64);
        t->s = realloc(t->s, t->cap);
        assert_non_null(t->s);
    }
}

/* Value of channel c of pixel i in generated files. */
static double gen_value(size_t i, size_t c, size_t det)
{
    return (double)(1000 * det + 10 * i + c);
}

/* One @A line for pixel i of detector det, per_line values a line (0 = all on one line). */
static void add_mca(text *t, size_t i, size_t det, size_t p, size_t per_line)
{
    add(t, "@A");
    for (size_t c = 0; c < p; c++) {
        if (per_line != 0 && c != 0 && c % per_line == 0)
            add(t, "\\\n");
        add(t, " %.0f", gen_value(i, c, det));
    }
    add(t, "\n");
}

/* Scans of the given lengths with p channels; the pixel count runs on across scans. */
static void add_scans(text *t, const size_t *len, size_t nscans, size_t p, size_t per_line)
{
    size_t i = 0;
    add(t, "#F gen.spec\n#E 1700000000\n#D Thu Jan 01 00:00:00 2024\n\n");
    for (size_t s = 0; s < nscans; s++) {
        add(t, "#S %zu ascan samy 0 1 %zu 0.1\n#D Thu Jan 01 00:00:00 2024\n", s + 1,
            len[s] - 1);
        add(t, "#@MCA %%16C\n#@CHANN %zu 0 %zu 1\n#@CALIB 0 1 0\n#@CTIME 0.1 0.1 0.1\n", p,
            p - 1);
        add(t, "#N 2\n#L samy  I0\n");
        for (size_t k = 0; k < len[s]; k++, i++) {
            add_mca(t, i, 0, p, per_line);
            add(t, "%zu 1000\n", k);
        }
        add(t, "\n");
    }
}

static const char *put_text(char *path, const char *name, text *t)
{
    put_bytes(path, name, t->s, t->len);
    free(t->s);
    memset(t, 0, sizeof *t);
    return path;
}

static mva_stack *open_ok(const char *path, const mva_open_opts *opts)
{
    mva_stack *s = NULL;
    mva_error err = {0, ""};
    int rc = mva_spec_open(&s, path, opts, &err);
    if (rc != MVA_OK)
        fail_msg("open %s: %s", path, err.msg);
    assert_non_null(s);
    return s;
}

/* Opening must fail with code; the message must contain each of the NULL-terminated
 * strings that follow. */
static void open_fails(const char *path, const mva_open_opts *opts, int code, ...)
{
    mva_stack *s = NULL;
    mva_error err = {0, ""};
    int rc = mva_spec_open(&s, path, opts, &err);
    assert_null(s);
    if (rc != code)
        fail_msg("open %s: code %d, expected %d (%s)", path, rc, code, err.msg);
    va_list ap;
    va_start(ap, code);
    for (const char *want; (want = va_arg(ap, const char *)) != NULL;)
        if (strstr(err.msg, want) == NULL)
            fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
    va_end(ap);
}

/* Reads all pixels; the caller frees. */
static double *read_all(mva_stack *s)
{
    const mva_stack_info *in = mva_stack_get_info(s);
    size_t n = in->rows * in->cols;
    double *x = calloc(n * in->channels, sizeof *x);
    mva_error err = {0, ""};
    assert_non_null(x);
    if (mva_stack_read(s, 0, n, x, &err) != MVA_OK)
        fail_msg("read: %s", err.msg);
    return x;
}

static void check_generated(mva_stack *s, size_t det)
{
    const mva_stack_info *in = mva_stack_get_info(s);
    double *x = read_all(s);
    for (size_t i = 0; i < in->rows * in->cols; i++)
        for (size_t c = 0; c < in->channels; c++)
            assert_true(x[i * in->channels + c] == gen_value(i, c, det));
    free(x);
}

/* Reading pixels [first, first + count) must fail with code and a message holding want. */
static void read_fails(mva_stack *s, size_t first, size_t count, int code, const char *want,
                       const char *want2)
{
    const mva_stack_info *in = mva_stack_get_info(s);
    double *x = calloc(count * in->channels, sizeof *x);
    mva_error err = {0, ""};
    int rc = mva_stack_read(s, first, count, x, &err);
    free(x);
    if (rc != code)
        fail_msg("read: code %d, expected %d (%s)", rc, code, err.msg);
    if (strstr(err.msg, want) == NULL || (want2 && strstr(err.msg, want2) == NULL))
        fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", err.msg, want, want2 ? want2 : "");
}

/* ---- points, scans and what is skipped ---- */

/* The info's warnings must contain want. */
static void warns(mva_stack *s, const char *want)
{
    const char *w = mva_stack_get_info(s)->warnings;
    if (strstr(w, want) == NULL)
        fail_msg("warnings \"%s\" lack \"%s\"", w, want);
}

static void test_spec_points_pair_with_counter_lines(void **state)
{
    (void)state;
    char path[512];
    /* spectra before their counter line (APS 33-ID); two more after the last point, as a
     * 'ct' after the scan writes them: 3 points, the 2 spectra are no point's */
    text t = {0};
    add(&t, "#F p\n\n#S 1 ascan x 0 1 2 1\n#@CHANN 3 0 2 1\n#L x  I0\n");
    for (size_t i = 0; i < 3; i++) {
        add_mca(&t, i, 0, 3, 0);
        add(&t, "%zu 100\n", i);
    }
    add(&t, "#C aborted\n@A 99 99 99\n@A 98 98 98\n");
    mva_stack *s = open_ok(put_text(path, "pair.spec", &t), NULL);
    assert_int_equal(mva_stack_get_info(s)->cols, 3);
    check_generated(s, 0);
    warns(s, "2 MCA spectra after the last counter line of a scan belong to no scan point");
    warns(s, "are not read: scan 1 (2 from line 13)");
    mva_stack_close(s);

    /* spectra after their counter line: every counter line has its run after it */
    t = (text){0};
    add(&t, "#F p\n\n#S 1 ascan x 0 1 1 1\n#@CHANN 3 0 2 1\n#L x  I0\n");
    for (size_t i = 0; i < 2; i++) {
        add(&t, "%zu 100\n", i);
        add_mca(&t, i, 0, 3, 0);
    }
    s = open_ok(put_text(path, "after.spec", &t), NULL);
    assert_int_equal(mva_stack_get_info(s)->cols, 2);
    assert_string_equal(mva_stack_get_info(s)->warnings, "");
    check_generated(s, 0);
    mva_stack_close(s);
}

/* Scans 1 and 3 of three points, scan 2 with a point of two spectra (its line 19). */
static const char *put_bad_middle(char *path)
{
    text t = {0};
    add(&t, "#F b\n\n");
    for (size_t sc = 1, i = 0; sc <= 3; sc++) {
        add(&t, "#S %zu ascan x 0 1 2 1\n#@CHANN 2 0 1 1\n#L x  I0\n", sc);
        for (size_t k = 0; k < 3; k++) {
            if (sc == 2 && k == 1)
                add(&t, "@A 7 7\n");
            add_mca(&t, sc == 2 ? 100 + k : i++, 0, 2, 0);
            add(&t, "%zu 100\n", k);
        }
    }
    return put_text(path, "badmiddle.spec", &t);
}

static void test_spec_malformed_scan_is_skipped_with_a_warning(void **state)
{
    (void)state;
    char path[512];
    put_bad_middle(path);
    mva_stack *s = open_ok(path, NULL);
    const mva_stack_info *in = mva_stack_get_info(s);
    assert_int_equal(in->rows, 2);
    assert_int_equal(in->cols, 3);
    assert_string_equal(in->path, "scans 1,3, detector 0 of 1");
    check_generated(s, 0);
    warns(s, "line 19 (scan 2): this counter line has 2 MCA spectra beside it, the points "
             "before it 1 (every point must have the same number): scan skipped");
    mva_stack_close(s);
}

static void test_spec_named_malformed_scan_is_an_error(void **state)
{
    (void)state;
    char path[512];
    put_bad_middle(path);
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    o.scan = "2";
    open_fails(path, &o, MVA_EFORMAT, path, ": line 19 (scan 2): this counter line has 2 MCA",
               NULL);
    o.scan = "1:3"; /* a range names the scans inside it */
    open_fails(path, &o, MVA_EFORMAT, "line 19 (scan 2)", NULL);
    o.scan = "1,3";
    mva_stack *s = open_ok(path, &o);
    assert_int_equal(mva_stack_get_info(s)->rows, 2);
    assert_string_equal(mva_stack_get_info(s)->warnings, "");
    mva_stack_close(s);
}

static void test_spec_scan_option_picks_scans(void **state)
{
    (void)state;
    char path[512];
    static const size_t len[] = {3, 3, 2, 3};
    text t = {0};
    add_scans(&t, len, 4, 5, 0);
    add(&t, "#S 5 ct 1\n#L Seconds  I0\n1 5000\n");
    add(&t, "#S 6 ascan samy 0 1 2 0.1\n#L samy  I0\n");
    for (size_t i = 11; i < 14; i++) {
        add_mca(&t, i, 0, 5, 0);
        add(&t, "%zu 1000\n", i - 11);
    }
    put_text(path, "pick.spec", &t);
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    static const struct {
        const char *scan;
        size_t rows, cols, first[3]; /* the generated pixels, runs of first..  */
        const char *path;
    } cases[] = {
        {"2", 1, 3, {3}, "scan 2, detector 0 of 1"},
        {"1,4", 2, 3, {0, 8}, "scans 1,4, detector 0 of 1"},
        {"4,1", 2, 3, {8, 0}, "scans 4,1, detector 0 of 1"},
        {"2:3", 2, 3, {3, 6}, "scans 2..3, detector 0 of 1"}, /* scan 3 stopped short */
        {"4:6", 2, 3, {8, 11}, "scans 4,6, detector 0 of 1"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        o.scan = cases[k].scan;
        mva_stack *s = open_ok(path, &o);
        const mva_stack_info *in = mva_stack_get_info(s);
        assert_int_equal(in->rows, cases[k].rows);
        assert_int_equal(in->cols, cases[k].cols);
        assert_string_equal(in->path, cases[k].path);
        double *x = read_all(s);
        for (size_t i = 0; i < in->rows * in->cols; i++) {
            size_t pix = cases[k].first[i / in->cols] + i % in->cols;
            if (cases[k].rows == 1)
                pix = cases[k].first[0] + i;
            for (size_t c = 0; c < 5; c++)
                assert_true(x[i * 5 + c] == gen_value(pix, c, 0) ||
                            (k == 3 && i == 5 && isnan(x[i * 5 + c])));
        }
        free(x);
        mva_stack_close(s);
    }
    /* scan 5 (no MCA data) inside a range is left out and said; named, it is an error */
    o.scan = "4:6";
    mva_stack *s = open_ok(path, &o);
    warns(s, "scan 5: no MCA spectra, not in the map");
    mva_stack_close(s);
    o.scan = "5";
    open_fails(path, &o, MVA_EFORMAT, "line 63 (scan 5): no MCA spectra", NULL);
    o.scan = "3:5";
    open_fails(path, &o, MVA_EFORMAT, "line 63 (scan 5): no MCA spectra", NULL);
    o.scan = "7";
    open_fails(path, &o, MVA_ENOTFOUND, "no scan 7 (its 6 scans run from 1 to 6", NULL);
    static const char *bad[] = {"x", "1,", ":2", "1:", "1.0", "-1", "1;2", ""};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0] - 1; k++) {
        o.scan = bad[k];
        open_fails(path, &o, MVA_EINVAL, "expected a scan number N", NULL);
    }
    o.scan = "4:2";
    open_fails(path, &o, MVA_EINVAL, "--scan 4:2: the first scan comes after the last", NULL);
    o.scan = "1,2,1";
    open_fails(path, &o, MVA_EINVAL, "scan 1 is named twice", NULL);
}

static void test_spec_scan_of_a_mesh_has_its_shape(void **state)
{
    (void)state;
    char path[512];
    static const size_t len[] = {4};
    text t = {0};
    add_scans(&t, len, 1, 4, 0);
    add(&t, "#S 2 mesh samy 0 2 2 samz 0 1 1 0.1\n#@CHANN 4 0 3 1\n#L samy  samz  I0\n");
    for (size_t i = 4; i < 10; i++) {
        add_mca(&t, i, 0, 4, 0);
        add(&t, "0 0 100\n");
    }
    put_text(path, "twomesh.spec", &t);
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    o.scan = "2";
    mva_stack *s = open_ok(path, &o);
    assert_int_equal(mva_stack_get_info(s)->rows, 2);
    assert_int_equal(mva_stack_get_info(s)->cols, 3);
    mva_stack_close(s);
    s = open_ok(path, NULL); /* with the ascan: one row */
    assert_int_equal(mva_stack_get_info(s)->rows, 1);
    assert_int_equal(mva_stack_get_info(s)->cols, 10);
    check_generated(s, 0);
    mva_stack_close(s);
}

static void test_spec_repeated_scan_numbers_follow_silx(void **state)
{
    (void)state;
    char path[512];
    /* SPEC restarted its numbering: two scans 1; silx keys them 1.1 and 1.2 */
    static const size_t len[] = {2, 2};
    text t = {0};
    add_scans(&t, len, 2, 3, 0);
    add(&t, "#S 1 ascan samy 0 1 1 0.1\n#@CHANN 3 0 2 1\n#L samy  I0\n");
    for (size_t i = 4; i < 6; i++) {
        add_mca(&t, i, 0, 3, 0);
        add(&t, "%zu 100\n", i - 4);
    }
    put_text(path, "restart.spec", &t);
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    mva_stack *s = open_ok(path, &o);
    assert_string_equal(mva_stack_get_info(s)->path, "scans 1.1..1.2, detector 0 of 1");
    check_generated(s, 0);
    mva_stack_close(s);
    o.scan = "1";
    open_fails(path, &o, MVA_EINVAL, "2 scans are numbered 1", "name one as 1.1 ... 1.2",
               "silx's numbering", NULL);
    o.scan = "1.2";
    s = open_ok(path, &o);
    assert_string_equal(mva_stack_get_info(s)->path, "scan 1.2, detector 0 of 1");
    double *x = read_all(s);
    assert_true(x[0] == gen_value(4, 0, 0) && x[3 + 2] == gen_value(5, 2, 0));
    free(x);
    mva_stack_close(s);
    o.scan = "1.2:2";
    open_fails(path, &o, MVA_EINVAL, "the first scan comes after the last", NULL);
    o.scan = "1.3";
    open_fails(path, &o, MVA_ENOTFOUND, "no scan 1.3: 2 scans are numbered 1", NULL);
    o.scan = "2.1";
    s = open_ok(path, &o);
    mva_stack_close(s);
}

static int collect_scan(void *ctx, const mva_spec_scan *sc)
{
    mva_spec_scan *all = ctx;
    size_t k = 0;
    while (all[k].line != 0)
        k++;
    all[k] = *sc;
    return 0;
}

static void test_spec_list_describes_every_scan(void **state)
{
    (void)state;
    char path[512];
    put_bad_middle(path);
    mva_spec_scan all[5];
    memset(all, 0, sizeof all);
    mva_error err = {0, ""};
    assert_int_equal(mva_spec_list(path, collect_scan, all, &err), MVA_OK);
    assert_string_equal(all[0].key, "1");
    assert_string_equal(all[0].command, "ascan x 0 1 2 1");
    assert_int_equal(all[0].line, 3);
    assert_int_equal(all[0].points, 3);
    assert_int_equal(all[0].mca, 3);
    assert_int_equal(all[0].detectors, 1);
    assert_int_equal(all[0].channels, 2);
    assert_string_equal(all[0].note, "");
    assert_string_equal(all[1].key, "2");
    assert_int_equal(all[1].detectors, 0);
    assert_int_equal(all[1].mca, 4);
    assert_non_null(strstr(all[1].note, "line 19 (scan 2): this counter line has 2 MCA"));
    assert_string_equal(all[2].key, "3");
    assert_int_equal(all[3].line, 0);
}

static void test_spec_chann_gives_the_channels_stored(void **state)
{
    (void)state;
    char path[512];
    /* "#@CHANN n first last step": the spectra hold channels first..last by step (silx);
     * n is the MCA's size.  APS 33-ID writes "#@CHANN 1201 1110 1200 1" before 91 values. */
    put_file(path, "range.spec",
             "#F c\n\n#S 1 ct 1\n#@CHANN 1201 2 8 2\n#@CALIB 1 0.5 0.25\n@A 1 2 3 4\n");
    mva_stack *s = open_ok(path, NULL);
    const mva_calib *cal = &mva_stack_get_info(s)->calib;
    assert_int_equal(mva_stack_get_info(s)->channels, 4);
    for (int i = 0; i < 4; i++) {
        double ch = 2 + 2 * i, want = 1 + 0.5 * ch + 0.25 * ch * ch;
        assert_true(fabs(mva_calib_energy(cal, i) - want) < 1e-12 * want);
    }
    mva_stack_close(s);
    put_file(path, "range2.spec", "#F c\n\n#S 1 ct 1\n#@CHANN 1201 1110 1200 1\n@A 1 2 3 4\n");
    open_fails(path, NULL, MVA_EFORMAT, "line 5 (scan 1): spectrum has 4 values, expected 91 "
               "(from #@CHANN)", NULL);
    put_file(path, "range3.spec", "#F c\n\n#S 1 ct 1\n#@CHANN 10 8 2 1\n@A 1 2 3 4\n");
    open_fails(path, NULL, MVA_EFORMAT, "line 4 (scan 1): malformed #@CHANN line", NULL);
}

/* ---- counters as normalisation ---- */

static void test_spec_norm_by_a_counter(void **state)
{
    (void)state;
    char path[512];
    /* two scans of 3 points, counters "x  I0  I0  Seconds", I0 = 100 * (i + 1) */
    text t = {0};
    add(&t, "#F n\n\n");
    for (size_t sc = 1, i = 0; sc <= 2; sc++) {
        add(&t, "#S %zu ascan x 0 1 2 1\n#@CHANN 3 0 2 1\n#L x  I0  I0  Seconds\n", sc);
        for (size_t k = 0; k < 3; k++, i++) {
            add_mca(&t, i, 0, 3, 0);
            add(&t, "%zu %zu %zu 0.5\n", k, 100 * (i + 1), 100 * (i + 1));
        }
    }
    put_text(path, "norm.spec", &t);
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    o.norm = "I0";
    mva_stack *s = open_ok(path, &o);
    const mva_stack_info *in = mva_stack_get_info(s);
    assert_non_null(strstr(in->norm, "counter I0 (#L column 2)"));
    assert_non_null(strstr(in->norm, "350"));
    double *x = read_all(s);
    for (size_t i = 0; i < 6; i++)
        for (size_t c = 0; c < 3; c++) {
            double want = gen_value(i, c, 0) * (350.0 / (100.0 * (double)(i + 1)));
            assert_true(fabs(x[i * 3 + c] - want) <= 1e-12 * fabs(want));
        }
    free(x);
    /* the Poisson variance factor of a pixel scaled by one weight w is w */
    double f[6];
    assert_int_equal(mva_stack_noise(s, 0, 6, f, NULL), 1);
    for (size_t i = 0; i < 6; i++)
        assert_true(fabs(f[i] - 350.0 / (100.0 * (double)(i + 1))) <= 1e-15 * f[i]);
    mva_stack_close(s);
    o.norm = "i0@1000"; /* any case when the exact name is not a column; a reference */
    o.scan = "2";
    s = open_ok(path, &o);
    x = read_all(s);
    assert_true(fabs(x[2] - gen_value(3, 2, 0) * 1000.0 / 400.0) < 1e-12 * x[2]);
    free(x);
    mva_stack_close(s);
    o.scan = NULL;
    o.norm = "Foo";
    open_fails(path, &o, MVA_ENOTFOUND, path, "line 5 (scan 1): no counter 'Foo' in #L; its "
               "counters: x, I0, I0, Seconds", NULL);
}

static void test_spec_norm_refuses_columns_that_disagree(void **state)
{
    (void)state;
    char path[512];
    put_file(path, "dupl.spec",
             "#S 1 ascan x 0 1 1 1\n#L x  I0  I0\n@A 1 2\n0 10 10\n@A 3 4\n1 20 21\n");
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    o.norm = "I0";
    open_fails(path, &o, MVA_EINVAL, "line 6 (scan 1): #L names 'I0' in columns 2 and 3 and "
               "they differ here (20, 21)", NULL);
    put_file(path, "short.spec", "#S 1 ascan x 0 1 1 1\n#L x  I0\n@A 1 2\n0 10\n@A 3 4\n1\n");
    open_fails(path, &o, MVA_EFORMAT, "line 6 (scan 1): counter 'I0' (column 2 of #L): the "
               "counter line is shorter", NULL);
    put_file(path, "nolab.spec", "#S 1 ascan x 0 1 1 1\n@A 1 2\n0 10\n@A 3 4\n1 2\n");
    open_fails(path, &o, MVA_EFORMAT, "line 1 (scan 1): no #L line (counter names)", NULL);
    put_file(path, "zero.spec", "#S 1 ascan x 0 1 1 1\n#L x  I0\n@A 1 2\n0 10\n@A 3 4\n1 0\n");
    mva_stack *s = open_ok(path, &o); /* a zero monitor masks the pixel (NaN) */
    double *x = read_all(s);
    assert_true(x[0] == 1.0 && x[1] == 2.0 && isnan(x[2]) && isnan(x[3])); /* ref: 10 */
    free(x);
    mva_stack_close(s);
}

/* ---- the shape of the map ---- */

static const char mesh_file[] =
    "#F mesh.spec\n"
    "#E 1700000000\n"
    "#D Thu Jan 01 00:00:00 2024\n"
    "#O0 samy  samz\n"
    "\n"
    "#S 7 mesh samy 0 2 2 samz 0 1 1 0.1\n"
    "#D Thu Jan 01 00:00:00 2024\n"
    "#@MCA %16C\n"
    "#@CHANN 4 0 3 1\n"
    "#@CALIB 0.5 0.01 0\n"
    "#@CTIME 0.1 0.1 0.1\n"
    "#N 3\n"
    "#L samy  samz  I0\n"
    "@A 0 1 2 3\n"
    "0 0 100\n"
    "@A 10 11 12 13\n"
    "1 0 100\n"
    "@A 20 21 22 23\n"
    "2 0 100\n"
    "@A 30 31 32 33\n"
    "0 1 100\n"
    "@A 40 41 42 43\n"
    "1 1 100\n"
    "@A 50 51 52 53\n"
    "2 1 100\n";

static void test_spec_mesh_shape_from_command(void **state)
{
    (void)state;
    char path[512];
    mva_stack *s = open_ok(put_file(path, "mesh.spec", mesh_file), NULL);
    const mva_stack_info *in = mva_stack_get_info(s);
    /* n1 = 2 intervals of samy (fast), n2 = 1 of samz: 2 rows of 3 */
    assert_int_equal(in->rows, 2);
    assert_int_equal(in->cols, 3);
    assert_int_equal(in->channels, 4);
    assert_int_equal(in->dtype, MVA_DTYPE_FLOAT64);
    assert_int_equal(in->chunk_pixels, 0);
    assert_string_equal(in->format, "spec");
    assert_string_equal(in->source, path);
    assert_string_equal(in->path, "scan 7, detector 0 of 1");
    assert_string_equal(in->layout, "rows,cols,channels");
    assert_non_null(strstr(in->storage, "text, 6 spectra"));
    double *x = read_all(s);
    for (size_t i = 0; i < 6; i++)
        for (size_t c = 0; c < 4; c++)
            assert_true(x[i * 4 + c] == (double)(10 * i + c));
    free(x);
    mva_stack_close(s);
}

static void test_spec_aborted_mesh_keeps_whole_rows(void **state)
{
    (void)state;
    char path[512];
    /* a 3 x 3 mesh stopped after two rows */
    text t = {0};
    add(&t, "#F m\n\n#S 1 dmesh samy -1 1 2 samz -1 1 2 0.5\n#@CHANN 2 0 1 1\n");
    for (size_t i = 0; i < 6; i++)
        add_mca(&t, i, 0, 2, 0);
    add(&t, "#C Thu Jan 01 00:00:00 2024.  Scan aborted after 6 points.\n");
    mva_stack *s = open_ok(put_text(path, "aborted.spec", &t), NULL);
    assert_int_equal(mva_stack_get_info(s)->rows, 2);
    assert_int_equal(mva_stack_get_info(s)->cols, 3);
    check_generated(s, 0);
    mva_stack_close(s);
}

/* A 3 x 4 mesh with samy (the fast motor, #L column 2) at x of each point; spectrum of map
 * pixel r * 4 + c is gen_value(r * 4 + c): written in the order the snake recorded them. */
static const char *snake_mesh(char *path, const char *name, int snake, double shift)
{
    text t = {0};
    add(&t, "#F m\n\n#S 4 mesh samy 0 3 3 samz 0 2 2 0.1\n#@CHANN 2 0 1 1\n");
    add(&t, "#L Epoch  samy  samz  I0\n");
    for (size_t r = 0; r < 3; r++)
        for (size_t k = 0; k < 4; k++) {
            size_t c = snake && r % 2 ? 3 - k : k;
            add_mca(&t, r * 4 + c, 0, 2, 0);
            add(&t, "%zu %g %zu 1000\n", r * 4 + k, (double)c + (r == 2 ? shift : 0.1), r);
        }
    return put_text(path, name, &t);
}

static void test_spec_snake_mesh_found_from_positions(void **state)
{
    (void)state;
    char path[512];
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    mva_stack *s = open_ok(snake_mesh(path, "snake.spec", 1, 0), NULL);
    assert_int_equal(mva_stack_get_info(s)->snake, MVA_SNAKE_ON);
    check_generated(s, 0); /* map order: pixel i is gen_value(i) */
    mva_stack_close(s);
    s = open_ok(snake_mesh(path, "raster.spec", 0, -0.2), NULL);
    assert_int_not_equal(mva_stack_get_info(s)->snake, MVA_SNAKE_ON);
    check_generated(s, 0);
    mva_stack_close(s);
    o.snake = MVA_SNAKE_OFF; /* as recorded: row 1 right to left */
    s = open_ok(snake_mesh(path, "snake.spec", 1, 0), &o);
    double *x = read_all(s);
    assert_true(x[4 * 2] == gen_value(7, 0, 0) && x[7 * 2 + 1] == gen_value(4, 1, 0));
    free(x);
    mva_stack_close(s);
    snake_mesh(path, "offgrid.spec", 1, 1.5);
    open_fails(path, NULL, MVA_EFORMAT, path, ": line 23 (scan 4): the positions of samy are not "
               "on a grid: point 8 of the map (row 2) is at 1.5, column 0 of row 0 at 0.1",
               "a grid of 3 x 4 (from the mesh command on line 3)",
               "--shape ROWSxCOLS", "--snake off", "--snake on", NULL);
    s = open_ok(path, &o);
    mva_stack_close(s);
}

static void test_spec_non_mesh_command_gives_one_row(void **state)
{
    (void)state;
    char path[512];
    /* ends in "mesh" but the interval counts are not integers: not taken as a mesh */
    text t = {0};
    add(&t, "#F m\n\n#S 1 mesh samy 0 1 2.5 samz 0 1 1 0.1\n");
    for (size_t i = 0; i < 6; i++)
        add_mca(&t, i, 0, 3, 0);
    mva_stack *s = open_ok(put_text(path, "notmesh.spec", &t), NULL);
    assert_int_equal(mva_stack_get_info(s)->rows, 1);
    assert_int_equal(mva_stack_get_info(s)->cols, 6);
    mva_stack_close(s);
}

static void test_spec_equal_scans_one_row_each(void **state)
{
    (void)state;
    char path[512];
    static const size_t len[] = {5, 5, 5};
    text t = {0};
    add_scans(&t, len, 3, 7, 0);
    mva_stack *s = open_ok(put_text(path, "rows.spec", &t), NULL);
    const mva_stack_info *in = mva_stack_get_info(s);
    assert_int_equal(in->rows, 3);
    assert_int_equal(in->cols, 5);
    assert_int_equal(in->channels, 7);
    assert_string_equal(in->path, "scans 1..3, detector 0 of 1");
    check_generated(s, 0);
    mva_stack_close(s);
}

static void test_spec_unequal_row_scans_refused(void **state)
{
    (void)state;
    char path[512];
    static const size_t len[] = {4, 3, 4};
    text t = {0};
    add_scans(&t, len, 3, 5, 0);
    put_text(path, "unequal.spec", &t);
    open_fails(path, NULL, MVA_EFORMAT, path, ": the scans move samy, one scan a row of the map, "
               "but their lengths differ (scan 1: 4, scan 2: 3, scan 3: 4 points)",
               "read them as one row with --shape 1x11, or name the scans of one map with --scan",
               NULL);
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    o.rows = 1;
    o.cols = 11;
    mva_stack *s = open_ok(path, &o);
    check_generated(s, 0);
    mva_stack_close(s);
    /* only the last row short: a scan stopped early, its missing pixels masked */
    static const size_t cut[] = {4, 4, 2};
    add_scans(&t, cut, 3, 5, 0);
    s = open_ok(put_text(path, "cut.spec", &t), NULL);
    assert_int_equal(mva_stack_get_info(s)->rows, 3);
    assert_int_equal(mva_stack_get_info(s)->cols, 4);
    warns(s, "scan 3, the last row, stopped after 2 of 4 points; the 2 pixels it did not reach "
          "are masked (NaN)");
    double *x = read_all(s);
    assert_true(x[9 * 5 + 4] == gen_value(9, 4, 0) && isnan(x[10 * 5]) && isnan(x[11 * 5 + 4]));
    free(x);
    mva_stack_close(s);
}

static void test_spec_scans_without_mca_are_skipped(void **state)
{
    (void)state;
    char path[512];
    static const size_t len[] = {3, 3};
    text t = {0};
    add(&t, "#F x\n\n#S 1 ct 1\n#N 2\n#L Seconds I0\n1 5000\n\n");
    add_scans(&t, len, 2, 4, 0);
    add(&t, "#S 9 ascan samy 0 1 2 0.1\n#L samy I0\n0 1\n1 2\n2 3\n");
    mva_stack *s = open_ok(put_text(path, "skip.spec", &t), NULL);
    assert_int_equal(mva_stack_get_info(s)->rows, 2);
    assert_int_equal(mva_stack_get_info(s)->cols, 3);
    check_generated(s, 0);
    mva_stack_close(s);
}

static void test_spec_shape_override(void **state)
{
    (void)state;
    char path[512];
    static const size_t len[] = {4, 2};
    text t = {0};
    add_scans(&t, len, 2, 3, 0);
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    o.rows = 2;
    o.cols = 3;
    mva_stack *s = open_ok(put_text(path, "override.spec", &t), &o);
    assert_int_equal(mva_stack_get_info(s)->rows, 2);
    assert_int_equal(mva_stack_get_info(s)->cols, 3);
    check_generated(s, 0);
    mva_stack_close(s);
}

static void test_spec_rejects_shape_mismatch(void **state)
{
    (void)state;
    char path[512];
    static const size_t len[] = {4, 2};
    text t = {0};
    add_scans(&t, len, 2, 3, 0);
    put_text(path, "mismatch.spec", &t);
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    o.rows = 10;
    o.cols = 10;
    open_fails(path, &o, MVA_EINVAL, "--shape 10x10 gives 100 pixels", path, "has 6 spectra",
               NULL);
    o.rows = 0;
    o.cols = 6;
    open_fails(path, &o, MVA_EINVAL, "--shape 0x6 gives 0 pixels", NULL);
}

/* ---- several detectors ---- */

/* n points of two detectors (det 0, det 1) and a counter line after each point; with
 * per-detector #@CHANN and #@CALIB lines when per_det. */
static const char *put_two_detectors(char *path, const char *name, size_t n, size_t p,
                                     int per_det)
{
    text t = {0};
    add(&t, "#F two\n\n#S 3 ascan samy 0 1 %zu 0.1\n#@MCA %%16C\n", n - 1);
    add(&t, "#@CHANN %zu 0 %zu 1\n#@CALIB 1 0.1 0\n", p, p - 1);
    if (per_det)
        add(&t, "#@CHANN %zu 0 %zu 1\n#@CALIB 2 0.2 0\n", p, p - 1);
    add(&t, "#N 2\n#L samy I0\n");
    for (size_t i = 0; i < n; i++) {
        add_mca(&t, i, 0, p, 3);
        add_mca(&t, i, 1, p, 3);
        add(&t, "%zu 1000\n", i);
    }
    return put_text(path, name, &t);
}

static void test_spec_two_detectors_by_index(void **state)
{
    (void)state;
    char path[512];
    put_two_detectors(path, "two.spec", 5, 8, 1);
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    for (int d = 0; d < 2; d++) {
        o.detector = d ? "1" : "0";
        mva_stack *s = open_ok(path, &o);
        const mva_stack_info *in = mva_stack_get_info(s);
        assert_int_equal(in->rows * in->cols, 5);
        assert_int_equal(in->channels, 8);
        char want[64];
        snprintf(want, sizeof want, "scan 3, detector %d of 2", d);
        assert_string_equal(in->path, want);
        /* one #@CALIB line per detector: each detector gets its own */
        assert_true(in->calib.known);
        assert_true(in->calib.a == (d ? 2.0 : 1.0));
        assert_true(in->calib.b == (d ? 0.2 : 0.1));
        check_generated(s, (size_t)d);
        mva_stack_close(s);
    }
}

static void test_spec_two_detectors_sum(void **state)
{
    (void)state;
    char path[512];
    put_two_detectors(path, "twosum.spec", 6, 5, 0);
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    o.detector = "sum";
    mva_stack *s = open_ok(path, &o);
    const mva_stack_info *in = mva_stack_get_info(s);
    assert_string_equal(in->path, "scan 3, sum of 2 detectors");
    double *x = read_all(s);
    for (size_t i = 0; i < 6; i++)
        for (size_t c = 0; c < 5; c++)
            assert_true(x[i * 5 + c] == gen_value(i, c, 0) + gen_value(i, c, 1));
    /* and a window starting in the middle */
    double y[2 * 5];
    mva_error err = {0, ""};
    assert_int_equal(mva_stack_read(s, 3, 2, y, &err), MVA_OK);
    assert_memory_equal(y, x + 3 * 5, sizeof y);
    free(x);
    mva_stack_close(s);
}

static void test_spec_detectors_without_counter_lines(void **state)
{
    (void)state;
    char path[512];
    /* no counter lines: one detector per #@CHANN line (silx's rule) */
    text t = {0};
    add(&t, "#F x\n\n#S 1 loopscan 3 0.1\n#@CHANN 3 0 2 1\n#@CHANN 3 0 2 1\n");
    for (size_t i = 0; i < 3; i++) {
        add_mca(&t, i, 0, 3, 0);
        add_mca(&t, i, 1, 3, 0);
    }
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    o.detector = "1";
    mva_stack *s = open_ok(put_text(path, "nocount.spec", &t), &o);
    assert_int_equal(mva_stack_get_info(s)->cols, 3);
    check_generated(s, 1);
    mva_stack_close(s);
}

static void test_spec_rejects_detector_out_of_range(void **state)
{
    (void)state;
    char path[512];
    put_two_detectors(path, "tworange.spec", 3, 4, 0);
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    o.detector = "2";
    open_fails(path, &o, MVA_EINVAL, path, "scan 3", "2 MCAs per point", "detector 2", NULL);
    o.detector = "-7";
    open_fails(path, &o, MVA_EINVAL, "--detector '-7'", "expected 'sum'", NULL);
    o.detector = "0,2";
    open_fails(path, &o, MVA_EINVAL, path, "--detector 0,2: the input has 2 detector elements "
               "(0-1)", NULL);
}

static void test_spec_sum_of_detectors_with_different_calibrations_is_said(void **state)
{
    (void)state;
    char path[512];
    put_two_detectors(path, "twocal.spec", 4, 6, 1); /* #@CALIB 1 0.1 0 and 2 0.2 0 */
    mva_stack *s = open_ok(path, NULL);               /* the default: their sum */
    const mva_stack_info *in = mva_stack_get_info(s);
    assert_string_equal(in->path, "scan 3, sum of 2 detectors");
    assert_true(in->calib.known && in->calib.a == 1.0 && in->calib.b == 0.1);
    warns(s, "the detectors summed have different calibrations (#@CALIB of detector 0 on line "
             "6, of detector 1 on line 8): the sum blurs the peaks; the calibration used is "
             "detector 0's (line 6); --detector N reads one");
    mva_stack_close(s);
    put_two_detectors(path, "twosame.spec", 4, 6, 0); /* one #@CALIB for both: nothing said */
    s = open_ok(path, NULL);
    assert_string_equal(mva_stack_get_info(s)->warnings, "");
    mva_stack_close(s);
}

/* ---- calibration and channels ---- */

static void test_spec_calibration_from_calib_line(void **state)
{
    (void)state;
    char path[512];
    mva_stack *s = open_ok(put_file(path, "calib.spec", mesh_file), NULL);
    const mva_calib *cal = &mva_stack_get_info(s)->calib;
    assert_true(cal->known);
    assert_true(cal->a == 0.5 && cal->b == 0.01 && cal->c == 0.0);
    mva_stack_close(s);

    /* channels numbered from 100: the calibration moves to array indices */
    put_file(path, "calib100.spec",
             "#F c\n\n#S 1 ct 1\n#@CHANN 3 100 102 1\n#@CALIB 1 0.5 0.25\n@A 1 2 3\n");
    s = open_ok(path, NULL);
    cal = &mva_stack_get_info(s)->calib;
    for (int i = 0; i < 3; i++) {
        double ch = 100 + i, want = 1 + 0.5 * ch + 0.25 * ch * ch;
        assert_true(fabs(mva_calib_energy(cal, i) - want) < 1e-9 * want);
    }
    mva_stack_close(s);

    /* "0 1 0" is SPEC's uncalibrated MCA */
    put_file(path, "calib010.spec", "#F c\n\n#S 1 ct 1\n#@CALIB 0 1 0\n@A 1 2 3\n");
    s = open_ok(path, NULL);
    assert_false(mva_stack_get_info(s)->calib.known);
    mva_stack_close(s);
}

static void test_spec_calibration_option_overrides(void **state)
{
    (void)state;
    char path[512];
    mva_open_opts o;
    memset(&o, 0, sizeof o);
    o.calib.known = 1;
    o.calib.a = -0.1;
    o.calib.b = 0.02;
    mva_stack *s = open_ok(put_file(path, "calibopt.spec", mesh_file), &o);
    const mva_calib *cal = &mva_stack_get_info(s)->calib;
    assert_true(cal->a == -0.1 && cal->b == 0.02 && cal->c == 0.0);
    mva_stack_close(s);
}

static void test_spec_channels_from_first_spectrum(void **state)
{
    (void)state;
    char path[512];
    put_file(path, "nochann.spec",
             "#S 1 ascan x 0 1 2 1\n@A 1 2 3 4 5\n@A 6 7 8 9 10\n@A 1 1 1 1 1\n");
    mva_stack *s = open_ok(path, NULL);
    assert_int_equal(mva_stack_get_info(s)->channels, 5);
    assert_int_equal(mva_stack_get_info(s)->cols, 3);
    assert_false(mva_stack_get_info(s)->calib.known);
    mva_stack_close(s);
}

/* ---- text details ---- */

static void test_spec_continuation_lines(void **state)
{
    (void)state;
    char path[512];
    /* PyMca's layout (values then '\'), SPEC's (no blank before '\'), blanks after '\' */
    put_file(path, "cont.spec",
             "#F c\n\n#S 1 ascan x 0 1 2 1\n#@CHANN 7 0 6 1\n"
             "@A 0 1 2\\\n 3 4 5\\\n 6\n"
             "0 1\n"
             "@A 10 11\\\n12 13 14 15 \\  \n16\n"
             "1 1\n"
             "@A1 20 21 22 23 24 25 26\n"
             "2 1\n");
    mva_stack *s = open_ok(path, NULL);
    assert_int_equal(mva_stack_get_info(s)->cols, 3);
    assert_int_equal(mva_stack_get_info(s)->channels, 7);
    check_generated(s, 0);
    mva_stack_close(s);

    /* many continuation lines, generated */
    static const size_t len[] = {4, 4};
    text t = {0};
    add_scans(&t, len, 2, 100, 16);
    s = open_ok(put_text(path, "cont16.spec", &t), NULL);
    assert_int_equal(mva_stack_get_info(s)->channels, 100);
    check_generated(s, 0);
    mva_stack_close(s);
}

static void test_spec_crlf_line_endings(void **state)
{
    (void)state;
    char path[512];
    put_file(path, "crlf.spec",
             "#F c\r\n\r\n#S 1 mesh samy 0 1 1 samz 0 1 0 0.1\r\n#@CHANN 3 0 2 1\r\n"
             "#@CALIB 0 0.01 0\r\n@A 0 1\\\r\n 2\r\n0 0 1\r\n@A 10 11 12\r\n1 0 1\r\n");
    mva_stack *s = open_ok(path, NULL);
    assert_int_equal(mva_stack_get_info(s)->rows, 1);
    assert_int_equal(mva_stack_get_info(s)->cols, 2);
    assert_true(mva_stack_get_info(s)->calib.b == 0.01);
    check_generated(s, 0);
    mva_stack_close(s);
}

static void test_spec_float_values(void **state)
{
    (void)state;
    char path[512];
    put_file(path, "float.spec",
             "#F f\n\n#S 1 ct 1\n"
             "@A 1.5 -2e3 +0.25 1.5E-2 3. .5 -0 0.10000000000000001 123456789012345678901 "
             "4.9e-324 1e300 12345678901234567890 007 2.5e+1\n");
    static const double want[] = {1.5,  -2e3, 0.25,   1.5E-2, 3.,
                                  .5,   -0.0, 0.10000000000000001,
                                  123456789012345678901.0, 4.9e-324, 1e300,
                                  12345678901234567890.0, 7, 25};
    mva_stack *s = open_ok(path, NULL);
    assert_int_equal(mva_stack_get_info(s)->channels, 14);
    assert_int_equal(mva_stack_get_info(s)->dtype, MVA_DTYPE_FLOAT64);
    double *x = read_all(s);
    for (size_t c = 0; c < 14; c++)
        if (x[c] != want[c])
            fail_msg("value %zu: %.17g, expected %.17g", c, x[c], want[c]);
    assert_true(signbit(x[6]));
    free(x);
    mva_stack_close(s);
}

static void test_spec_numbers_ignore_the_locale(void **state)
{
    (void)state;
    char path[512];
    put_file(path, "locale.spec",
             "#F f\n\n#S 1 ct 1\n#@CALIB 0.5 0.25 0\n"
             "@A 1.5 0.10000000000000001 123456789012345678901.5\n");
    if (setlocale(LC_ALL, "de_DE.utf8") == NULL && setlocale(LC_ALL, "de_DE.UTF-8") == NULL)
        skip();
    mva_stack *s = open_ok(path, NULL);
    double *x = read_all(s);
    setlocale(LC_ALL, "C");
    assert_true(x[0] == 1.5);
    assert_true(x[1] == 0.10000000000000001);
    assert_true(x[2] == 123456789012345678901.5);
    assert_true(mva_stack_get_info(s)->calib.a == 0.5);
    free(x);
    mva_stack_close(s);
}

static void test_spec_reads_any_window(void **state)
{
    (void)state;
    char path[512];
    static const size_t len[] = {9, 9, 9, 9};
    text t = {0};
    add_scans(&t, len, 4, 13, 16);
    mva_stack *s = open_ok(put_text(path, "windows.spec", &t), NULL);
    size_t n = 36, p = 13;
    double *all = read_all(s), *w = malloc(n * p * sizeof *w);
    assert_non_null(w);
    mva_error err = {0, ""};
    static const size_t win[][2] = {{0, 1}, {0, 36}, {35, 1}, {8, 2}, {9, 9}, {3, 20}, {17, 19}};
    for (size_t k = 0; k < sizeof win / sizeof win[0]; k++) {
        assert_int_equal(mva_stack_read(s, win[k][0], win[k][1], w, &err), MVA_OK);
        assert_memory_equal(w, all + win[k][0] * p, win[k][1] * p * sizeof *w);
    }
    assert_int_equal(mva_stack_read(s, 30, 7, w, &err), MVA_ERANGE);
    free(w);
    free(all);
    mva_stack_close(s);
}

/* ---- errors ---- */

static void test_spec_rejects_wrong_channel_count(void **state)
{
    (void)state;
    char path[512];
    /* the third spectrum (line 7) is one short of what #@CHANN says */
    put_file(path, "short.spec",
             "#F s\n\n#S 4 ascan x 0 1 2 1\n#@CHANN 4 0 3 1\n"
             "@A 1 2 3 4\n"
             "@A 1 2 3 4\n"
             "@A 1 2\\\n 3\n"
             "@A 1 2 3 4\n");
    mva_stack *s = open_ok(path, NULL);
    double x[4 * 4];
    mva_error err = {0, ""};
    assert_int_equal(mva_stack_read(s, 0, 2, x, &err), MVA_OK);
    read_fails(s, 1, 3, MVA_EFORMAT, "short.spec: line 7 (scan 4)",
               "spectrum has 3 values, expected 4 (from #@CHANN)");
    mva_stack_close(s);

    /* a first spectrum that disagrees is reported at open */
    put_file(path, "short1.spec", "#S 1 ct 1\n#@CHANN 4 0 3 1\n@A 1 2 3 4 5\n");
    open_fails(path, NULL, MVA_EFORMAT, "short1.spec: line 3", "has 5 values, expected 4",
               NULL);

    /* without #@CHANN the first spectrum sets the count */
    put_file(path, "short2.spec", "#S 1 ct 1\n@A 1 2 3\n@A 1 2 3\n@A 1 2 3 4\n");
    s = open_ok(path, NULL);
    read_fails(s, 0, 3, MVA_EFORMAT, "line 4", "has 4 values, expected 3 (as the first spectrum)");
    mva_stack_close(s);
}

static void test_spec_rejects_non_numeric_value(void **state)
{
    (void)state;
    char path[512];
    put_file(path, "nan.spec",
             "#F s\n\n#S 2 ascan x 0 1 1 1\n#@CHANN 4 0 3 1\n"
             "@A 1 2 3 4\n"
             "@A 1 2\\\n 3 4x\n");
    mva_stack *s = open_ok(path, NULL);
    read_fails(s, 0, 2, MVA_EFORMAT, "nan.spec: line 7, column 4 (scan 2)", "'4x' is not a number");
    mva_stack_close(s);

    static const char *bad[] = {"nan", "1e", "-", "1.2.3", "0x10", "1,5", "--1", "\\x"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char body[128], want[64];
        snprintf(body, sizeof body, "#S 1 ct 1\n@A 1 2\n@A 1 %s\n", bad[k]);
        put_file(path, "bad.spec", body);
        s = open_ok(path, NULL);
        snprintf(want, sizeof want, "line 3, column 6");
        read_fails(s, 1, 1, MVA_EFORMAT, want, "is not a number");
        mva_stack_close(s);
    }
}

static void test_spec_rejects_truncated_continuation(void **state)
{
    (void)state;
    char path[512];
    put_file(path, "trunc.spec", "#S 1 ct 1\n@A 1 2\n@A 1 2\\\n");
    open_fails(path, NULL, MVA_EFORMAT, "trunc.spec: line 3", "continued with '\\' at the end",
               NULL);
    put_file(path, "trunc2.spec", "#S 1 ct 1\n@A 1 2\n@A 1 \\");
    open_fails(path, NULL, MVA_EFORMAT, "trunc2.spec: line 3", "at the end of the file", NULL);
    /* the only scan: nothing left to read */
    put_file(path, "trunc3.spec", "#S 1 ct 1\n@A 1 2\\\n#S 2 ct 1\n");
    open_fails(path, NULL, MVA_EFORMAT, "trunc3.spec: line 3 (scan 1)",
               "continued with '\\' on line 2 runs into a '#' line", NULL);
}

static void test_spec_rejects_file_without_mca(void **state)
{
    (void)state;
    char path[512];
    put_file(path, "nomca.spec", "#F n\n\n#S 1 ascan x 0 1 2 1\n#N 2\n#L x I0\n0 1\n1 2\n2 3\n");
    open_fails(path, NULL, MVA_EFORMAT, "nomca.spec", "no MCA data", NULL);
}

static void test_spec_rejects_malformed_headers(void **state)
{
    (void)state;
    char path[512];
    put_file(path, "chann.spec", "#S 1 ct 1\n#@CHANN four 0 3 1\n@A 1 2 3 4\n");
    open_fails(path, NULL, MVA_EFORMAT, "chann.spec: line 2", "#@CHANN", NULL);
    put_file(path, "calib.spec", "#S 1 ct 1\n#@CALIB 0 x 0\n@A 1 2 3 4\n");
    open_fails(path, NULL, MVA_EFORMAT, "calib.spec: line 2", "#@CALIB", NULL);
    /* 3 MCAs for 2 counter lines: 2 beside the first, 1 beside the second */
    put_file(path, "odd.spec", "#S 5 ascan x 0 1 1 1\n@A 1 2\n@A 1 2\n0 1\n@A 1 2\n1 1\n");
    open_fails(path, NULL, MVA_EFORMAT, "odd.spec: line 6 (scan 5)",
               "this counter line has 1 MCA spectrum beside it, the points before it 2", NULL);
}

static void test_spec_rejects_missing_and_foreign_files(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/absent.spec", tmpdir);
    open_fails(path, NULL, MVA_ENOTFOUND, "absent.spec", NULL);
    put_file(path, "text.txt", "hello\n#S 1 ct\n@A 1 2\n");
    open_fails(path, NULL, MVA_EFORMAT, "not a SPEC file", NULL);
    put_file(path, "empty.spec", "");
    open_fails(path, NULL, MVA_EFORMAT, "empty file", NULL);
    open_fails(tmpdir, NULL, MVA_EFORMAT, "not a regular file", NULL);
}

static void test_spec_is_spec_checks_content(void **state)
{
    (void)state;
    char path[512];
    assert_true(mva_spec_is_spec(put_file(path, "a.dat", mesh_file)));
    assert_true(mva_spec_is_spec(put_file(path, "b.dat", "#S 1 ct 1\n@A 1\n")));
    assert_false(mva_spec_is_spec(put_file(path, "c.dat", "{\nHeaderID = EH:000001;\n}\n")));
    assert_false(mva_spec_is_spec(put_file(path, "d.dat", "# comment\n1 2 3\n")));
    assert_false(mva_spec_is_spec(put_file(path, "e.dat", "")));
    assert_false(mva_spec_is_spec(put_file(path, "f.dat", "#SIGNALTYPE x\n#SPECTRUM\n")));
    snprintf(path, sizeof path, "%s/absent.dat", tmpdir);
    assert_false(mva_spec_is_spec(path));
    /* a long file header: "#F" first is enough */
    text t = {0};
    add(&t, "#F long\n");
    for (int k = 0; k < 5000; k++)
        add(&t, "#C a comment line to push the first scan beyond 64 KiB\n");
    add(&t, "#S 1 ct 1\n@A 1 2\n");
    put_text(path, "long.dat", &t);
    assert_true(mva_spec_is_spec(path));
    mva_stack *s = open_ok(path, NULL);
    mva_stack_close(s);
}

/* xorshift64, for reproducible mutations */
static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void test_spec_mutated_files_fail_cleanly(void **state)
{
    (void)state;
    char path[512];
    static const size_t len[] = {3, 3};
    static const char alphabet[] = "@#S\\\n\r -.e+09 A\t";
    text t = {0};
    add_scans(&t, len, 2, 20, 6);
    size_t n = t.len;
    char *base = t.s, *buf = malloc(n);
    assert_non_null(buf);
    uint64_t seed = 0x9e3779b97f4a7c15u;
    size_t opened = 0;
    for (int round = 0; round < 400; round++) {
        memcpy(buf, base, n);
        size_t cut = n - rnd(&seed) % (n / 4 + 1), flips = 1 + rnd(&seed) % 4;
        for (size_t k = 0; k < flips; k++)
            buf[rnd(&seed) % cut] = alphabet[rnd(&seed) % (sizeof alphabet - 1)];
        put_bytes(path, "mutant.spec", buf, round % 3 == 0 ? n : cut);
        mva_stack *s = NULL;
        mva_error err = {0, ""};
        static const char *const dets[] = {NULL, "sum", "0", "1"};
        for (int det = 0; det < 4; det++) {
            mva_open_opts o;
            memset(&o, 0, sizeof o);
            o.detector = dets[det];
            if (mva_spec_open(&s, path, &o, &err) != MVA_OK) {
                assert_true(err.msg[0] != '\0');
                continue;
            }
            opened++;
            const mva_stack_info *in = mva_stack_get_info(s);
            size_t np = in->rows * in->cols;
            double *x = malloc(np * in->channels * sizeof *x);
            assert_non_null(x);
            for (size_t i = 0; i < np; i++)
                if (mva_stack_read(s, i, 1, x + i * in->channels, &err) != MVA_OK)
                    assert_true(err.code == MVA_EFORMAT && err.msg[0] != '\0');
            free(x);
            mva_stack_close(s);
        }
    }
    assert_true(opened > 0);
    free(buf);
    free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_mesh_shape_from_command),
        cmocka_unit_test(test_spec_aborted_mesh_keeps_whole_rows),
        cmocka_unit_test(test_spec_non_mesh_command_gives_one_row),
        cmocka_unit_test(test_spec_snake_mesh_found_from_positions),
        cmocka_unit_test(test_spec_equal_scans_one_row_each),
        cmocka_unit_test(test_spec_unequal_row_scans_refused),
        cmocka_unit_test(test_spec_scans_without_mca_are_skipped),
        cmocka_unit_test(test_spec_shape_override),
        cmocka_unit_test(test_spec_rejects_shape_mismatch),
        cmocka_unit_test(test_spec_two_detectors_by_index),
        cmocka_unit_test(test_spec_two_detectors_sum),
        cmocka_unit_test(test_spec_detectors_without_counter_lines),
        cmocka_unit_test(test_spec_rejects_detector_out_of_range),
        cmocka_unit_test(test_spec_calibration_from_calib_line),
        cmocka_unit_test(test_spec_calibration_option_overrides),
        cmocka_unit_test(test_spec_channels_from_first_spectrum),
        cmocka_unit_test(test_spec_continuation_lines),
        cmocka_unit_test(test_spec_crlf_line_endings),
        cmocka_unit_test(test_spec_float_values),
        cmocka_unit_test(test_spec_numbers_ignore_the_locale),
        cmocka_unit_test(test_spec_reads_any_window),
        cmocka_unit_test(test_spec_rejects_wrong_channel_count),
        cmocka_unit_test(test_spec_rejects_non_numeric_value),
        cmocka_unit_test(test_spec_rejects_truncated_continuation),
        cmocka_unit_test(test_spec_rejects_file_without_mca),
        cmocka_unit_test(test_spec_rejects_malformed_headers),
        cmocka_unit_test(test_spec_rejects_missing_and_foreign_files),
        cmocka_unit_test(test_spec_is_spec_checks_content),
        cmocka_unit_test(test_spec_mutated_files_fail_cleanly),
        cmocka_unit_test(test_spec_points_pair_with_counter_lines),
        cmocka_unit_test(test_spec_malformed_scan_is_skipped_with_a_warning),
        cmocka_unit_test(test_spec_named_malformed_scan_is_an_error),
        cmocka_unit_test(test_spec_scan_option_picks_scans),
        cmocka_unit_test(test_spec_scan_of_a_mesh_has_its_shape),
        cmocka_unit_test(test_spec_repeated_scan_numbers_follow_silx),
        cmocka_unit_test(test_spec_list_describes_every_scan),
        cmocka_unit_test(test_spec_chann_gives_the_channels_stored),
        cmocka_unit_test(test_spec_norm_by_a_counter),
        cmocka_unit_test(test_spec_sum_of_detectors_with_different_calibrations_is_said),
        cmocka_unit_test(test_spec_norm_refuses_columns_that_disagree),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
