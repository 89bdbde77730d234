/* Pixel selections, masks from files, and the spectra of a selection against a direct
 * computation, written and read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hdf5.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mva.h"
#include "mva/select.h"
#include "util/tmpdir.h"

enum { ROWS = 5, COLS = 6, N = ROWS * COLS, P = 7 };

static void test_select_range_sigma_top_and_combine(void **state)
{
    (void)state;
    double img[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 100};
    unsigned char m[10], o[10];
    assert_int_equal(mva_select_range(img, 10, 3, 5, m), 3);
    assert_true(m[2] && m[3] && m[4] && !m[1] && !m[5]);
    img[3] = NAN;
    assert_int_equal(mva_select_range(img, 10, 3, 5, m), 2);
    img[3] = 4;
    double t;
    /* median 5.5, sd of {1..9, 100} = 30.0...: 1 sd above = 35.5...: only 100 */
    assert_int_equal(mva_select_sigma(img, 10, 1.0, 1, m, &t), 1);
    assert_true(m[9] && t > 35 && t < 36);
    assert_int_equal(mva_select_sigma(img, 10, -0.1, 0, m, &t), 2); /* <= 5.5 - 3.015 */
    assert_int_equal(mva_select_top(img, 10, 0.2, m, &t), 2);
    assert_true(m[8] && m[9] && t == 9);
    assert_int_equal(mva_select_top(img, 10, 1.0, o, NULL), 10);
    assert_int_equal(mva_select_combine(o, m, 10, MVA_SEL_AND_NOT), 8);
    assert_int_equal(mva_select_combine(o, m, 10, MVA_SEL_OR), 10);
    assert_int_equal(mva_select_combine(o, m, 10, MVA_SEL_AND), 2);
    assert_int_equal(mva_select_combine(o, m, 10, MVA_SEL_SET), 2);
}

static void test_masks_from_text_png_and_hdf5(void **state)
{
    (void)state;
    unsigned char want[N], got[N];
    for (size_t i = 0; i < N; i++)
        want[i] = (i * 7) % 3 == 0;
    char path[512];
    mva_error err;
    /* text grid */
    FILE *f = fopen(tmp_path(path, "mask.txt"), "w");
    for (size_t r = 0; r < ROWS; r++) {
        for (size_t c = 0; c < COLS; c++)
            fprintf(f, "%d ", want[r * COLS + c]);
        fputc('\n', f);
    }
    fclose(f);
    assert_int_equal(mva_select_mask_read(path, ROWS, COLS, got, &err), MVA_OK);
    assert_memory_equal(got, want, N);
    assert_int_equal(mva_select_mask_read(path, ROWS + 1, COLS, got, &err), MVA_EFORMAT);
    assert_non_null(strstr(err.msg, "30 values, expected rows x cols = 6 x 6"));
    /* PNG: white = selected */
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = COLS;
    im.height = ROWS;
    im.format = PNG_FORMAT_GRAY;
    unsigned char px[N];
    for (size_t i = 0; i < N; i++)
        px[i] = want[i] ? 255 : 0;
    assert_true(png_image_write_to_file(&im, tmp_path(path, "mask.png"), 0, px, COLS, NULL));
    memset(got, 9, N);
    assert_int_equal(mva_select_mask_read(path, ROWS, COLS, got, &err), MVA_OK);
    assert_memory_equal(got, want, N);
    assert_int_equal(mva_select_mask_read(path, COLS, ROWS, got, &err), MVA_EINVAL);
    assert_non_null(strstr(err.msg, "mask.png"));
    /* HDF5 dataset */
    hid_t h = H5Fcreate(tmp_path(path, "mask.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {ROWS, COLS};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t d = H5Dcreate2(h, "m", H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, want);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(h);
    char spec[600];
    snprintf(spec, sizeof spec, "%s::/m", path);
    assert_int_equal(mva_select_mask_read(spec, ROWS, COLS, got, &err), MVA_OK);
    assert_memory_equal(got, want, N);
    snprintf(spec, sizeof spec, "%s::/nothing", path);
    assert_int_equal(mva_select_mask_read(spec, ROWS, COLS, got, &err), MVA_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nothing"));
}

static void test_selection_spectra_match_direct_sums(void **state)
{
    (void)state;
    double x[N * P];
    unsigned char mask[N];
    for (size_t i = 0; i < N * P; i++)
        x[i] = (double)((i * 13) % 17);
    for (size_t i = 0; i < N; i++)
        mask[i] = i % 4 == 1;
    x[5 * P + 2] = NAN; /* pixel 5 is selected but invalid: left out */
    mva_stack *s;
    mva_error err;
    assert_int_equal(mva_stack_from_memory(&s, x, ROWS, COLS, P, &err), MVA_OK);
    mva_pass_opts po;
    memset(&po, 0, sizeof po);
    po.block_pixels = 4;
    mva_select_spectra_result *r = NULL;
    assert_int_equal(mva_select_spectra(s, mask, &po, &r, &err), MVA_OK);
    size_t nsel = 0, nval = 0;
    for (size_t j = 0; j < P; j++) {
        double sum = 0, mx = -1, all = 0;
        nsel = nval = 0;
        for (size_t i = 0; i < N; i++) {
            if (i == 5)
                continue;
            all += x[i * P + j];
            nval++;
            if (mask[i]) {
                sum += x[i * P + j];
                mx = fmax(mx, x[i * P + j]);
                nsel++;
            }
        }
        assert_true(r->sum[j] == sum && r->max[j] == mx);
        assert_true(fabs(r->avg[j] - sum / (double)nsel) < 1e-15 * (1 + sum));
        assert_true(fabs(r->map_avg[j] - all / (double)nval) < 1e-15 * (1 + all));
    }
    assert_int_equal(r->n_selected, nsel);
    assert_int_equal(r->n_valid, N - 1);
    /* written as a new entry, read back */
    char path[512], entry[64];
    mva_calib cal = {1, 0.5, 0.25, 0};
    mva_select_output o = {.spectra = r, .mask = mask, .rows = ROWS, .cols = COLS, .cal = &cal,
                           .description = "test selection"};
    mva_result_parts parts = {.program = "mva-select", .input_name = "(memory)",
                              .selection = &o};
    assert_int_equal(mva_result_write(tmp_path(path, "sel.h5"), &parts, entry, sizeof entry,
                                      &err),
                     MVA_OK);
    assert_string_equal(entry, "mva_select");
    o.description = "again";
    parts.input_name = NULL;
    assert_int_equal(mva_result_write(path, &parts, entry, sizeof entry, &err), MVA_OK);
    assert_string_equal(entry, "mva_select_1");
    double *img = NULL;
    size_t rr, cc;
    assert_int_equal(mva_result_image_read(path, "mva_select", "mask/data", &img, &rr, &cc, &err),
                     MVA_OK);
    assert_true(rr == ROWS && cc == COLS);
    for (size_t i = 0; i < N; i++)
        assert_true(img[i] == mask[i]);
    free(img);
    assert_int_equal(mva_result_image_read(path, NULL, "cumulative_spectrum/data", &img, &rr, &cc,
                                    &err),
                     MVA_EFORMAT); /* 1-D: not an image */
    assert_non_null(strstr(err.msg, "found 1-D"));
    assert_int_equal(
        mva_result_image_read(path, NULL, "mask/data[3]", &img, &rr, &cc, &err), MVA_OK);
    free(img); /* an index on a 2-D image is ignored */
    assert_int_equal(mva_result_image_read(path, NULL, "nope/data", &img, &rr, &cc, &err),
                     MVA_ENOTFOUND);
    /* No entry holds it (the default entry is only the first one looked at). */
    assert_non_null(strstr(err.msg, "no entry holds a nope/data (no /*/nope/data)"));
    mva_select_spectra_free(r);
    mva_stack_close(s);
}

static int setup(void **state)
{
    (void)state;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return test_tmpdir_create("select");
}

static int teardown(void **state)
{
    (void)state;
    return test_tmpdir_remove();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_range_sigma_top_and_combine),
        cmocka_unit_test(test_masks_from_text_png_and_hdf5),
        cmocka_unit_test(test_selection_spectra_match_direct_sums),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
