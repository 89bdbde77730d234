/* Faults while reading: an input truncated after it was opened gives an error naming the
 * file and the byte offset, never a crash (the SPEC reader maps its file: touching a page
 * past a new end of file would raise SIGBUS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mva.h"

/* A SPEC file of one scan of n points with p-channel spectra, written to a temp file. */
static void write_spec(const char *path, size_t n, size_t p)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#F %s\n\n#S 1 ascan x 0 1 %zu 0.1\n#N 1\n#@CHANN %zu 0 %zu 1\n#L x\n", path,
            n - 1, p, p - 1);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%zu\n@A", i);
        for (size_t c = 0; c < p; c++)
            fprintf(f, " %zu", (i + c) % 97);
        fputc('\n', f);
    }
    assert_int_equal(fclose(f), 0);
}

static void test_spec_read_reports_file_truncated_after_open(void **state)
{
    (void)state;
    char path[] = "/tmp/mva-faults-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_spec(path, 4000, 64);
    mva_stack *s = NULL;
    mva_error err = {0};
    assert_int_equal(mva_spec_open(&s, path, NULL, &err), MVA_OK);
    const mva_stack_info *in = mva_stack_get_info(s);
    size_t n = in->rows * in->cols;
    assert_int_equal(n, 4000);
    double *buf = malloc(100 * 64 * sizeof *buf);
    assert_non_null(buf);
    assert_int_equal(mva_stack_read(s, 0, 100, buf, &err), MVA_OK);
    assert_int_equal(truncate(path, 4096), 0); /* mid-file, while the stack is open */
    int rc = MVA_OK;
    for (size_t first = 100; first < n && rc == MVA_OK; first += 100)
        rc = mva_stack_read(s, first, 100, buf, &err);
    assert_int_equal(rc, MVA_EIO);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "truncated"));
    assert_non_null(strstr(err.msg, "byte offset"));
    free(buf);
    mva_stack_close(s);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_read_reports_file_truncated_after_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
