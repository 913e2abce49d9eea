/* Shared by the Criterion tests: temporary folders, small files, fixtures. */
#ifndef UNIC_TEST_HELPERS_H
#define UNIC_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "unic/plugin.h"

/* A fresh empty folder under $TMPDIR (or /tmp); the returned string is malloc'ed. */
char *test_tmpdir(const char *tag);
/* Joins folder and name into a malloc'ed path. */
char *test_path(const char *dir, const char *name);
void test_write_file(const char *path, const void *data, size_t size);
void test_write_text(const char *path, const char *text);
/* Reads a whole file (malloc'ed, NUL-terminated); NULL if missing. */
char *test_read_file(const char *path, size_t *size);
/* Removes dir and everything below it. */
void test_remove_tree(const char *dir);
/* How many entries of dir end with suffix (e.g. ".tmp": the temporaries of
 * atomic writes are named NAME.PID.tmp). */
int test_files_ending(const char *dir, const char *suffix);
/* A malloc'ed copy of the n bytes of a JPEG with its frame header (SOF0,
 * SOF1 or SOF2) claiming w x h pixels: a small file whose header asks the
 * decoder for a large image. Fails the test when there is no such header. */
uint8_t *test_jpeg_with_frame_size(const uint8_t *jpg, size_t n, int w, int h);
/* Skips the calling test, saying why, when Debian's dataset-fashion-mnist
 * is missing. */
void test_need_fashion_mnist(void);
#define TEST_FMNIST "/usr/share/datasets/fashion-mnist/"
/* Path of tests/fixtures/<name> in the source tree (malloc'ed). */
char *test_fixture(const char *name);
/* Relative error ||a - b|| / max(||b||, tiny). */
double test_rel_err(const float *a, const float *b, int64_t n);
/* The plugins of this build (build/plugins), loaded; aborts with the
 * registry's message if one does not load. */
struct unic_registry *test_builtin_registry(void);
/* A component created from NULL-terminated key, value pairs (which must
 * be valid keys); on a create failure state is NULL and err says why. */
typedef struct test_component {
    const unic_component *c;
    unic_params *p;
    void *state;
} test_component;
test_component test_create(struct unic_registry *reg, unic_kind kind, const char *name,
                           const char *const *kv, char *err, size_t errlen);
void test_destroy(test_component *r);
/* Copies tests/fixtures/<fixture> (a safetensors file) to dir/name without
 * tensor drop_name and with tensor reshape_name viewed as rows x cols
 * (either may be NULL); returns the new path (malloc'ed). */
char *test_altered_checkpoint(const char *fixture, const char *dir, const char *name,
                              const char *drop_name, const char *reshape_name, int64_t rows,
                              int64_t cols);
/* n x d points in tight clusters far from the origin (large norms, small
 * distances: the hard case for the GEMM form of distances), with exact
 * duplicates; malloc'ed. */
float *test_clustered_points(int n, int d, uint64_t seed);
/* Everything the core logs between the two calls (malloc'ed text). */
void test_log_capture_start(void);
char *test_log_capture_end(void);
/* Runs a shell command, capturing stdout+stderr (malloc'ed) and the exit status. */
char *test_run(const char *cmd, int *status);

#endif
