/* Shared by the Criterion tests: temporary folders, small files, fixtures. */
#ifndef UNIC_TEST_HELPERS_H
#define UNIC_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

/* A fresh empty folder under $TMPDIR (or /tmp); the returned string is malloc'ed. */
char *test_tmpdir(const char *tag);
/* Joins folder and name into a malloc'ed path. */
char *test_path(const char *dir, const char *name);
void test_write_file(const char *path, const void *data, size_t size);
void test_write_text(const char *path, const char *text);
/* Reads a whole file (malloc'ed, NUL-terminated); NULL if missing. */
char *test_read_file(const char *path, size_t *size);
/* Path of tests/fixtures/<name> in the source tree (malloc'ed). */
char *test_fixture(const char *name);
/* Relative error ||a - b|| / max(||b||, tiny). */
double test_rel_err(const float *a, const float *b, int64_t n);
/* The plugins of this build (build/plugins), loaded; aborts with the
 * registry's message if they do not load. */
struct unic_registry *test_builtin_registry(void);
/* Runs a shell command, capturing stdout+stderr (malloc'ed) and the exit status. */
char *test_run(const char *cmd, int *status);

#endif
