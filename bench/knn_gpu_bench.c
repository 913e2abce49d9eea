/* Times the GPU mining engine at ImageNet-200 scale, for bench/knn_gpu.sh:
 * N unit vectors in D dimensions, either clustered (around N / 1280 random
 * centres, as embeddings of ImageNet-200's classes) or uniform on the
 * sphere; the TAU1 nearest and the rank-TAU2 thresholds through the same
 * entry points as the miners, on the GPU; then CHECK rows against a brute
 * force over all N in double, in the engine's exact (distance, index)
 * order, so a fast wrong answer cannot pass.
 *   knn_gpu_bench N D TAU1 TAU2 clustered|random [CHECK]   prints key=value lines */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mining/knn.h"
#include "mining/knn_engine.h"
#include "base/log.h"
#include "ops/ops.h"
#include "unic/rng.h"
#include "base/util.h"

/* A standard normal from two uniforms (Box-Muller); 1 - u keeps log away
 * from 0. */
static float gaussian(unic_rng *g)
{
    double u = 1.0 - unic_rng_uniform(g), v = unic_rng_uniform(g);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static void normalise(float *x, int d)
{
    double s = 0;
    for (int c = 0; c < d; c++) s += (double)x[c] * x[c];
    float inv = (float)(1.0 / sqrt(s > 0 ? s : 1));
    for (int c = 0; c < d; c++) x[c] *= inv;
}

/* Row i from its own stream, so the data do not depend on the threads. */
static float *make_points(int64_t n, int d, int clustered)
{
    float *x = unic_xmalloc((size_t)n * (size_t)d * sizeof(float));
    int64_t classes = n / 1280 > 1 ? n / 1280 : 1;
    float *centres = unic_xmalloc((size_t)classes * (size_t)d * sizeof(float));
    for (int64_t k = 0; k < classes; k++) {
        unic_rng g = unic_rng_stream(7, 1, (uint64_t)k);
        for (int c = 0; c < d; c++) centres[k * d + c] = gaussian(&g);
        normalise(centres + k * d, d);
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        unic_rng g = unic_rng_stream(7, 2, (uint64_t)i);
        float *xi = x + i * d;
        /* noise of norm about 1 around a unit centre: same-class cosines
         * near 0.5, other classes near 0 */
        for (int c = 0; c < d; c++)
            xi[c] = (clustered ? centres[(i % classes) * d + c] : 0.0f) +
                    gaussian(&g) / (clustered ? sqrtf((float)d) : 1.0f);
        normalise(xi, d);
    }
    unic_xfree(centres);
    return x;
}

static int cmp_pair(const void *x, const void *y)
{
    const unic_knn_pair *a = x, *b = y;
    if (a->d != b->d) return a->d < b->d ? -1 : 1;
    return (a->j > b->j) - (a->j < b->j);
}

/* Rows spread over [0, n): the nearest list and the rank-tau2 point by a
 * full sort of exact distances. Returns the number of rows that differ. */
static int64_t spot_check(const unic_mine_input *in, int k, const int32_t *idx, int tau2,
                          const float *th, const int32_t *th_idx, int64_t rows)
{
    int64_t n = in->n, bad = 0;
    unic_knn_pair *all = unic_xmalloc((size_t)omp_get_max_threads() * (size_t)n * sizeof *all);
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : bad)
    for (int64_t q = 0; q < rows; q++) {
        int64_t i = q * n / rows;
        unic_knn_pair *a = all + (size_t)omp_get_thread_num() * (size_t)n;
        int64_t m = 0;
        for (int64_t j = 0; j < n; j++)
            if (j != i) a[m++] = (unic_knn_pair){unic_knn_exact_sq(in, i, j), (int32_t)j};
        qsort(a, (size_t)m, sizeof *a, cmp_pair);
        int ok = idx[i * k] == (int32_t)i;
        for (int c = 1; ok && c < k; c++) ok = idx[i * k + c] == a[c - 1].j;
        ok = ok && th_idx[i] == a[tau2 - 1].j && th[i] == (float)a[tau2 - 1].d;
        if (!ok) {
            bad++;
            fprintf(stderr, "knn_gpu_bench: row %lld differs from the brute force\n", (long long)i);
        }
    }
    unic_xfree(all);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc < 6 || (strcmp(argv[5], "clustered") != 0 && strcmp(argv[5], "random") != 0)) {
        fprintf(stderr, "usage: knn_gpu_bench N D TAU1 TAU2 clustered|random [CHECK]\n");
        return 2;
    }
    int64_t n = atoll(argv[1]);
    int d = atoi(argv[2]), k = atoi(argv[3]), tau2 = atoi(argv[4]);
    int64_t check = argc > 6 ? atoll(argv[6]) : 64;
    if (n < 2 || d < 1 || k < 1 || k > n || tau2 < 1 || tau2 >= n || check < 0 || check > n) {
        fprintf(stderr, "knn_gpu_bench: need N >= 2, D >= 1, 1 <= TAU1 <= N, 1 <= TAU2 < N, "
                        "0 <= CHECK <= N\n");
        return 2;
    }
    if (!unic_cuda_available()) {
        fprintf(stderr, "knn_gpu_bench: no CUDA GPU is visible%s\n",
#ifdef UNIC_WITH_CUDA
                ""
#else
                " (unic was built without CUDA)"
#endif
        );
        return 3;
    }
    double t0 = unic_now();
    float *x = make_points(n, d, strcmp(argv[5], "clustered") == 0);
    printf("n=%lld\nd=%d\ndata=%s\ntau1=%d\ntau2=%d\ndata_s=%.3f\n", (long long)n, d, argv[5], k,
           tau2, unic_now() - t0);
    fflush(stdout);

    unic_mine_input in = {n, d, x, NULL, NULL, UNIC_CUDA};
    char err[2048];
    int32_t *idx = unic_xmalloc((size_t)n * (size_t)k * sizeof(int32_t));
    float *th = unic_xmalloc((size_t)n * sizeof(float));
    int32_t *th_idx = unic_xmalloc((size_t)n * sizeof(int32_t));
    t0 = unic_now();
    if (unic_knn_and_kth_on(UNIC_CUDA, &in, k, idx, NULL, 0, NULL, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "knn_gpu_bench: %s\n", err);
        return 1;
    }
    double top = unic_now() - t0;
    t0 = unic_now();
    int rc = unic_knn_and_kth_on(UNIC_CUDA, &in, 0, NULL, NULL, tau2, th, th_idx, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "knn_gpu_bench: %s\n", err);
        return 1;
    }
    double rank = unic_now() - t0;
    printf("top_s=%.3f\nrank_s=%.3f\ntotal_s=%.3f\n", top, rank, top + rank);
    fflush(stdout);

    t0 = unic_now();
    int64_t bad = spot_check(&in, k, idx, tau2, th, th_idx, check);
    printf("check_rows=%lld\ncheck_bad=%lld\ncheck_s=%.3f\n", (long long)check, (long long)bad,
           unic_now() - t0);
    unic_xfree(idx);
    unic_xfree(th);
    unic_xfree(th_idx);
    unic_xfree(x);
    return bad ? 1 : 0;
}
