/* The commit helper (src/commit.c): a file appears whole under its name or not at all, an
 * added-to file starts as a copy of the old one, nothing is left behind, and a writer that
 * adds waits for the one holding the destination's lock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commit.h"
#include "util/tmpdir.h"

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void assert_contents(const char *path, const char *text)
{
    char buf[256] = {0};
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    assert_int_equal(n, strlen(text));
    assert_string_equal(buf, text);
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static void test_commit_new_appears_only_at_finish(void **state)
{
    (void)state;
    char path[512], lock[600];
    tmp_path(path, "new.txt");
    snprintf(lock, sizeof lock, "%s.lock", path);
    mva_commit c;
    mva_error e;
    assert_int_equal(mva_commit_begin(&c, path, MVA_COMMIT_NEW, &e), MVA_OK);
    assert_false(c.existed);
    put(c.tmp, "whole");
    assert_false(exists(path));
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s", c.tmp);
    assert_int_equal(mva_commit_finish(&c, &e), MVA_OK);
    assert_contents(path, "whole");
    assert_false(exists(tmp));
    assert_false(exists(lock));
    mva_commit_abort(&c); /* after finish: nothing to do */
    assert_contents(path, "whole");
}

static void test_commit_add_starts_from_a_copy_with_its_mode(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, "add.txt");
    put(path, "old");
    assert_int_equal(chmod(path, 0640), 0);
    mva_commit c;
    mva_error e;
    assert_int_equal(mva_commit_begin(&c, path, MVA_COMMIT_ADD, &e), MVA_OK);
    assert_true(c.existed);
    assert_contents(c.tmp, "old");
    FILE *f = fopen(c.tmp, "ab");
    assert_non_null(f);
    fputs("+new", f);
    fclose(f);
    assert_contents(path, "old");
    assert_int_equal(mva_commit_finish(&c, &e), MVA_OK);
    assert_contents(path, "old+new");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
}

static void test_commit_abort_leaves_the_destination_untouched(void **state)
{
    (void)state;
    char path[512], tmp[600];
    tmp_path(path, "keep.txt");
    put(path, "kept");
    mva_commit c;
    mva_error e;
    assert_int_equal(mva_commit_begin(&c, path, MVA_COMMIT_ADD, &e), MVA_OK);
    snprintf(tmp, sizeof tmp, "%s", c.tmp);
    put(c.tmp, "half");
    mva_commit_abort(&c);
    assert_contents(path, "kept");
    assert_false(exists(tmp));
    mva_commit z = {0};
    mva_commit_abort(&z); /* a zeroed commit is "nothing begun" */
}

static void test_commit_refuses_what_it_cannot_write(void **state)
{
    (void)state;
    char path[512];
    mva_commit c;
    mva_error e;
    tmp_path(path, "no/such/dir/out.h5");
    assert_int_equal(mva_commit_begin(&c, path, MVA_COMMIT_NEW, &e), MVA_EIO);
    assert_non_null(strstr(e.msg, "out.h5: cannot create a temporary file beside it"));
    tmp_path(path, "adir");
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(mva_commit_begin(&c, path, MVA_COMMIT_ADD, &e), MVA_EINVAL);
    assert_non_null(strstr(e.msg, "adir: exists and is not a regular file"));
    rmdir(path);
}

typedef struct adder {
    const char *path;
    int rc;
    char seen[64];
} adder;

/* Begins an ADD (waiting for the lock), notes what the copy held, appends and finishes. */
static void *add_one(void *arg)
{
    adder *a = arg;
    mva_commit c;
    mva_error e;
    a->rc = mva_commit_begin(&c, a->path, MVA_COMMIT_ADD, &e);
    if (a->rc != MVA_OK)
        return NULL;
    FILE *f = fopen(c.tmp, "r+b");
    size_t n = fread(a->seen, 1, sizeof a->seen - 1, f);
    a->seen[n] = '\0';
    fseek(f, 0, SEEK_END);
    fputs("+b", f);
    fclose(f);
    a->rc = mva_commit_finish(&c, &e);
    return NULL;
}

static void test_commit_add_waits_for_the_writer_holding_the_lock(void **state)
{
    (void)state;
    char path[512];
    tmp_path(path, "shared.txt");
    put(path, "x");
    mva_commit first;
    mva_error e;
    assert_int_equal(mva_commit_begin(&first, path, MVA_COMMIT_ADD, &e), MVA_OK);
    adder a = {path, -1, ""};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, add_one, &a), 0);
    const struct timespec nap = {0, 200 * 1000000L};
    nanosleep(&nap, NULL);
    assert_contents(path, "x"); /* the second writer is still waiting */
    FILE *f = fopen(first.tmp, "ab");
    fputs("+a", f);
    fclose(f);
    assert_int_equal(mva_commit_finish(&first, &e), MVA_OK);
    pthread_join(t, NULL);
    assert_int_equal(a.rc, MVA_OK);
    assert_string_equal(a.seen, "x+a"); /* it copied the file after the first rename */
    assert_contents(path, "x+a+b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_new_appears_only_at_finish),
        cmocka_unit_test(test_commit_add_starts_from_a_copy_with_its_mode),
        cmocka_unit_test(test_commit_abort_leaves_the_destination_untouched),
        cmocka_unit_test(test_commit_refuses_what_it_cannot_write),
        cmocka_unit_test(test_commit_add_waits_for_the_writer_holding_the_lock),
    };
    if (test_tmpdir_create("commit") != 0)
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    test_tmpdir_remove();
    return rc;
}
