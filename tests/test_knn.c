/* The mining engine: exact against a double-precision brute force on
 * clustered float data with duplicates, the memory plan's refusal, the
 * neighbour cache (hit, and invalidation when the embeddings change), and
 * the fallback to the CPU when the GPU is asked for but absent (the GPU
 * engine itself is compared with the CPU's in test_cuda_parity.c). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"
#include "helpers.h"
#include "data/io.h"
#include "mining/knn.h"
#include "mining/knn_engine.h"
#include "mining/knn_gpu.h"
#include "ops/ops.h"
#include "unic/rng.h"

typedef struct ref {
    double d;
    int32_t j;
} ref;

static int cmp_ref(const void *x, const void *y)
{
    const ref *a = x, *b = y;
    if (a->d != b->d) return a->d < b->d ? -1 : 1;
    return (a->j > b->j) - (a->j < b->j);
}

Test(knn, exact_against_brute_force_on_clustered_data)
{
    const int n = 600, d = 24, k = 15, kth = 300;
    float *x = test_clustered_points(n, d, 5);
    unic_mine_input in = {n, d, x, NULL, NULL, UNIC_CPU};
    int32_t *idx = malloc(sizeof(int32_t) * n * k), th_idx[600];
    float *sq = malloc(sizeof(float) * n * k), th[600];
    char err[512];
    cr_assert_eq(unic_knn_and_kth(&in, k, idx, sq, kth, th, th_idx, err, sizeof err), 0, "%s", err);
    ref *all = malloc(sizeof(ref) * n);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int c = 0; c < d; c++) {
                double t = (double)x[i * d + c] - x[j * d + c];
                s += t * t;
            }
            all[j] = (ref){j == i ? -1.0 : s, j};
        }
        qsort(all, n, sizeof(ref), cmp_ref);
        for (int c = 0; c < k; c++)
            cr_assert_eq(idx[i * k + c], all[c].j, "row %d rank %d: %d, brute force %d", i, c,
                         idx[i * k + c], all[c].j);
        cr_assert_eq(th_idx[i], all[kth].j, "row %d: rank-%d point %d, brute force %d", i, kth,
                     th_idx[i], all[kth].j);
        cr_assert_float_eq(th[i], (float)all[kth].d, 1e-6f * (float)all[kth].d + 1e-12f);
    }
    cr_expect_eq(unic_knn_fallbacks(), 0, "the candidates alone must hold every answer");
    free(all);
    free(idx);
    free(sq);
    free(x);
}

Test(knn, refuses_a_plan_that_does_not_fit)
{
    float *x = test_clustered_points(500, 8, 1);
    unic_mine_input in = {500, 8, x, NULL, NULL, UNIC_CPU};
    int32_t idx[500 * 5];
    char err[1024] = "";
    setenv("UNIC_MEMORY_LIMIT", "4K", 1);
    cr_expect_neq(unic_knn(&in, 5, idx, NULL, err, sizeof err), 0);
    unsetenv("UNIC_MEMORY_LIMIT");
    cr_expect(strstr(err, "needs at least") && strstr(err, "MiB") &&
              strstr(err, "UNIC_MEMORY_LIMIT"), "%s", err);
    free(x);
}

/* Cache files (not their locks or temporaries) in dir. */
static int count_files(const char *dir) { return test_files_ending(dir, ".safetensors"); }

static void cache_file(const char *dir, char *path, size_t cap)
{
    DIR *dd = opendir(dir);
    struct dirent *e;
    path[0] = '\0';
    while ((e = readdir(dd)))
        if (unic_ends_with(e->d_name, ".safetensors")) snprintf(path, cap, "%s/%s", dir, e->d_name);
    closedir(dd);
}

/* unic_knn with its log captured (malloc'ed). */
static char *knn_logged(const unic_mine_input *in, int k, int32_t *out)
{
    char err[512];
    test_log_capture_start();
    int rc = unic_knn(in, k, out, NULL, err, sizeof err);
    char *log = test_log_capture_end();
    cr_assert_eq(rc, 0, "%s", err);
    return log;
}

Test(knn, cache_hits_and_invalidates)
{
    const int n = 300, d = 6, k = 4;
    float *x = test_clustered_points(n, d, 2);
    char *dir = test_tmpdir("cache"), path[4096], err[512];
    unic_mine_input in = {n, d, x, NULL, dir, UNIC_CPU};
    int32_t a[300 * 4], b[300 * 5];
    free(knn_logged(&in, k, a));
    cr_assert_eq(count_files(dir), 1, "the first call writes the cache");
    char *log = knn_logged(&in, k, b);
    cr_expect(strstr(log, "cached in"), "the second call is served from the cache: %s", log);
    cr_expect_arr_eq(a, b, sizeof a);
    free(log);
    /* other embeddings or another k: a different key */
    x[5] += 1.0f;
    log = knn_logged(&in, k, b);
    cr_expect(!strstr(log, "cached in"), "changed embeddings must not hit the old cache: %s", log);
    cr_expect_eq(count_files(dir), 2);
    free(log);
    cr_assert_eq(unic_knn(&in, k + 1, b, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(count_files(dir), 3);
    free(x);
    (void)path;
}

/* One flipped byte in a cache file once changed a run's metrics silently
 * or crashed it: now the file's checksums catch it, the cache is discarded
 * with a warning and mined again, and the results are the exact ones. */
Test(knn, damaged_cache_is_discarded_and_mined_again)
{
    const int n = 300, d = 6, k = 4;
    float *x = test_clustered_points(n, d, 3);
    char *dir = test_tmpdir("cache"), path[4096];
    unic_mine_input in = {n, d, x, NULL, dir, UNIC_CPU};
    int32_t a[300 * 4], b[300 * 4];
    free(knn_logged(&in, k, a));
    cache_file(dir, path, sizeof path);
    size_t size;
    char *bytes = test_read_file(path, &size);
    cr_assert_not_null(bytes);
    for (size_t back = 1; back < sizeof a; back += 997) { /* inside the data section */
        size_t at = size - back;
        bytes[at] ^= 0x40;
        test_write_file(path, bytes, size);
        char *log = knn_logged(&in, k, b);
        cr_expect(strstr(log, "damaged cache file") && strstr(log, "checksum"), "%s", log);
        cr_expect_arr_eq(a, b, sizeof a, "byte %zu", at);
        free(log);
        bytes[at] ^= 0x40;
    }
    char *log = knn_logged(&in, k, b);
    cr_expect(strstr(log, "cached in"), "the mined-again file serves the next call: %s", log);
    free(log);
    free(bytes);
    free(x);
}

/* Grid points running at once share one cache: three processes mine the
 * same key at the same time; one mines while the others wait for its file,
 * no file is torn, and all get the exact results. The processes are forked
 * before this one starts OpenMP (libgomp does not survive a fork). */
Test(knn, concurrent_processes_share_one_cache_key)
{
    const int n = 2000, d = 16, k = 10;
    float *x = test_clustered_points(n, d, 4);
    char *dir = test_tmpdir("cache"), *got_path = test_path(dir, "got");
    unic_mine_input plain = {n, d, x, NULL, NULL, UNIC_CPU}, cached = plain;
    cached.cache_dir = dir;
    char err[512];
    pid_t kids[3];
    for (int c = 0; c < 3; c++) {
        kids[c] = fork();
        cr_assert_geq(kids[c], 0);
        if (kids[c] == 0) {
            int32_t *got = malloc(sizeof(int32_t) * n * k);
            if (unic_knn(&cached, k, got, NULL, err, sizeof err) != 0) _exit(1);
            char path[4200];
            snprintf(path, sizeof path, "%s.%d", got_path, c);
            test_write_file(path, got, sizeof(int32_t) * n * k);
            _exit(0);
        }
    }
    for (int c = 0; c < 3; c++) {
        int status;
        waitpid(kids[c], &status, 0);
        cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d", c);
    }
    int32_t *want = malloc(sizeof(int32_t) * n * k);
    cr_assert_eq(unic_knn(&plain, k, want, NULL, err, sizeof err), 0, "%s", err);
    for (int c = 0; c < 3; c++) {
        char path[4200];
        snprintf(path, sizeof path, "%s.%d", got_path, c);
        size_t size;
        int32_t *got = (int32_t *)test_read_file(path, &size);
        cr_assert(got && size == sizeof(int32_t) * n * k, "process %d wrote no results", c);
        cr_expect_arr_eq(got, want, size, "process %d", c);
        free(got);
    }
    cr_expect_eq(count_files(dir), 1);
    int32_t *again = malloc(sizeof(int32_t) * n * k);
    char *log = knn_logged(&cached, k, again);
    cr_expect(strstr(log, "cached in"), "%s", log);
    cr_expect_arr_eq(again, want, sizeof(int32_t) * n * k);
    free(log);
    free(again);
    free(want);
    free(got_path);
    free(x);
}

Test(knn, gpu_request_without_gpu_mines_on_the_cpu)
{
    if (unic_cuda_available())
        cr_skip_test("a GPU is visible: the cuda_knn suite compares both engines there");
    const int n = 400, d = 12, k = 6, rank = 90;
    float *x = test_clustered_points(n, d, 3);
    unic_mine_input in = {n, d, x, NULL, NULL, UNIC_CPU};
    int32_t a[400 * 6], b[400 * 6], ta[400], tb[400];
    float sa[400], sb[400];
    char err[1024] = "";
    cr_assert_eq(unic_knn_and_kth(&in, k, a, NULL, rank, sa, ta, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_knn_and_kth_on(UNIC_CUDA, &in, k, b, NULL, rank, sb, tb, err, sizeof err), 0,
                 "asking for the GPU without one must fall back, not fail: %s", err);
    cr_expect(memcmp(a, b, sizeof a) == 0 && memcmp(ta, tb, sizeof ta) == 0 &&
              memcmp(sa, sb, sizeof sa) == 0, "the fallback must be the CPU engine");
    /* the engine itself, called directly, refuses with a reason */
    err[0] = '\0';
    cr_expect_neq(unic_knn_gpu(&in, k, b, NULL, 0, NULL, NULL, NULL, err, sizeof err), 0);
    cr_expect(strstr(err, "GPU") || strstr(err, "CUDA"), "no reason given: '%s'", err);
    setenv("UNIC_MINE_DEVICE", "gpu", 1);
    cr_expect_neq(unic_knn(&in, k, b, NULL, err, sizeof err), 0);
    unsetenv("UNIC_MINE_DEVICE");
    cr_expect(strstr(err, "UNIC_MINE_DEVICE=gpu") && strstr(err, "cpu or cuda"), "%s", err);
    free(x);
}

/* The input carries the device to the engine (a run's [train] device, no
 * hidden state): asking for the GPU where none is visible says so in the
 * log and gives the CPU's exact results; asking for the CPU logs nothing. */
Test(knn, the_input_carries_the_device)
{
    if (unic_cuda_available()) cr_skip_test("a GPU is visible: tests/test_cuda_parity.c covers it");
    const int n = 200, d = 8, k = 5;
    float *x = test_clustered_points(n, d, 9);
    unic_mine_input on_cpu = {n, d, x, NULL, NULL, UNIC_CPU}, on_gpu = on_cpu;
    on_gpu.device = UNIC_CUDA;
    int32_t a[200 * 5], b[200 * 5];
    char err[512];
    test_log_capture_start();
    cr_assert_eq(unic_knn(&on_cpu, k, a, NULL, err, sizeof err), 0, "%s", err);
    char *quiet = test_log_capture_end();
    test_log_capture_start();
    cr_assert_eq(unic_knn(&on_gpu, k, b, NULL, err, sizeof err), 0, "%s", err);
    char *warned = test_log_capture_end();
    cr_expect(!strstr(quiet, "instead of the GPU"), "%s", quiet);
    cr_expect(strstr(warned, "mining on the CPU instead of the GPU"), "%s", warned);
    cr_expect_arr_eq(a, b, sizeof a);
    free(quiet);
    free(warned);
    free(x);
}
