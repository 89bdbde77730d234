/* Test helper: one temporary directory per test program, removed with its files. */
#ifndef MVA_TEST_TMPDIR_H
#define MVA_TEST_TMPDIR_H

/* The directory, e.g. "/tmp/mva-edf-Ab12Cd" (valid after test_tmpdir_create). */
extern char tmpdir[64];

/* Creates /tmp/mva-TAG-XXXXXX; 0 on success, -1 otherwise (cmocka group setup style). */
int test_tmpdir_create(const char *tag);

/* Removes the files in the directory and the directory; always returns 0. */
int test_tmpdir_remove(void);

/* Path of name inside the directory, into buf (512 chars). */
const char *tmp_path(char *buf, const char *name);

#endif
