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

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".safetensors") != NULL;
    if (d) closedir(d);
    return n;
}

Test(knn, cache_hits_and_invalidates)
{
    const int n = 300, d = 6, k = 4;
    float *x = test_clustered_points(n, d, 2);
    char *dir = test_tmpdir("cache"), err[512];
    unic_mine_input in = {n, d, x, NULL, dir, UNIC_CPU};
    int32_t a[300 * 4], b[300 * 5];
    cr_assert_eq(unic_knn(&in, k, a, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(count_files(dir), 1, "the first call writes the cache");
    /* doctor the cached file: a hit must return what it holds */
    DIR *dd = opendir(dir);
    struct dirent *e;
    char path[4096] = "";
    while ((e = readdir(dd)))
        if (strstr(e->d_name, ".safetensors")) snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    closedir(dd);
    int32_t doctored[300 * 4];
    for (int i = 0; i < n * k; i++) doctored[i] = 7;
    unic_array t = {"idx", UNIC_DT_I32, 2, {n, k}, doctored, sizeof doctored};
    const char *meta[] = {"version", "unic-neighbors-2", NULL};
    cr_assert_eq(unic_safetensors_write(path, &t, 1, meta, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_knn(&in, k, b, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(b[0], 7, "the second call should have been served from the cache");
    /* other embeddings or another k: a different key */
    x[5] += 1.0f;
    cr_assert_eq(unic_knn(&in, k, b, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(b[0], 0, "changed embeddings must not hit the old cache");
    cr_expect_eq(count_files(dir), 2);
    cr_assert_eq(unic_knn(&in, k + 1, b, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(count_files(dir), 3);
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
