/* Replays every file of tests/fuzz/corpus/<harness>/ through its harness,
 * built with the project's compiler: the seed corpus, and every input that
 * ever crashed a parser, stay regression tests in gcc and sanitizer builds.
 * tools/fuzz.sh runs the same harnesses under libFuzzer. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

typedef int (*harness_fn)(const uint8_t *, size_t);
#define HARNESS(name) int fuzz_one_##name(const uint8_t *, size_t);
HARNESS(npy)
HARNESS(safetensors)
HARNESS(idx)
HARNESS(labels)
HARNESS(class_list)
HARNESS(transform_spec)
HARNESS(jpeg)
HARNESS(ini)
HARNESS(predictions)
HARNESS(mining_cache)
HARNESS(grid_folder)
HARNESS(checkpoint)
HARNESS(run_report)

/* Runs every corpus file through fn; returns how many there were. */
static int replay(const char *name, harness_fn fn)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", UNIC_SOURCE_DIR, name);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "no corpus folder %s", dir);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *path = test_path(dir, e->d_name);
        size_t n;
        char *data = test_read_file(path, &n);
        cr_assert_not_null(data, "%s", path);
        fn((const uint8_t *)data, n);
        free(data);
        free(path);
        count++;
    }
    closedir(d);
    return count;
}

#define REPLAY(name)                                                                               \
    Test(fuzz_replay, name) { cr_expect_gt(replay(#name, fuzz_one_##name), 0, "empty corpus"); }
REPLAY(npy)
REPLAY(safetensors)
REPLAY(idx)
REPLAY(labels)
REPLAY(class_list)
REPLAY(transform_spec)
REPLAY(jpeg)
REPLAY(ini)
REPLAY(predictions)
REPLAY(mining_cache)
REPLAY(grid_folder)
REPLAY(checkpoint)
REPLAY(run_report)
