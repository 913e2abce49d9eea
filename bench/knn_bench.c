/* Times unic's exact neighbour engine on an embeddings .npy, for
 * bench/knn.sh: the top-K lists, the rank-tau2 thresholds, and the distance
 * GEMMs alone (the same tiles, nothing else) as the floor.
 *   knn_bench EMB.npy K TAU2 [TAU2 ...]   prints key=value lines */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "data/io.h"
#include "mining/knn.h"
#include "base/log.h"
#include "base/util.h"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: knn_bench EMB.npy K TAU2 [TAU2 ...]\n");
        return 2;
    }
    char err[2048];
    unic_array a;
    if (unic_npy_load(argv[1], &a, err, sizeof err) != 0 || a.ndim != 2) {
        fprintf(stderr, "%s\n", a.ndim != 2 ? "need an N x D matrix" : err);
        return 1;
    }
    int64_t n = a.shape[0];
    int d = (int)a.shape[1], k = atoi(argv[2]);
    float *x = unic_xmalloc((size_t)n * d * sizeof(float));
    unic_array_to_f32(&a, x, err, sizeof err);
    unic_log_set_quiet(1);
    unic_mine_input in = {n, d, x, NULL, NULL, UNIC_CPU};

    /* the floor: the distance GEMMs in the engine's tiles */
    int64_t rows = unic_knn_tile_rows(n, (size_t)256 << 20);
    float *tile = unic_xmalloc((size_t)rows * (size_t)n * sizeof(float));
    double t0 = unic_now();
    for (int64_t r0 = 0; r0 < n; r0 += rows) {
        int64_t nr = r0 + rows <= n ? rows : n - r0;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)n, d, 1.0f,
                    x + r0 * d, d, x, d, 0.0f, tile, (int)n);
    }
    double gemm = unic_now() - t0;
    unic_xfree(tile);
    printf("n=%lld\nd=%d\ngemm_s=%.3f\ngemm_gflops=%.1f\n", (long long)n, d, gemm,
           2.0 * (double)n * (double)n * d / gemm / 1e9);

    int32_t *idx = unic_xmalloc((size_t)n * k * sizeof(int32_t));
    t0 = unic_now();
    if (unic_knn(&in, k, idx, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double top = unic_now() - t0;
    printf("top%d_s=%.3f\ntop%d_over_gemm=%.2f\n", k, top, k, top / gemm);
    float *th = unic_xmalloc((size_t)n * sizeof(float));
    int32_t *thi = unic_xmalloc((size_t)n * sizeof(int32_t));
    for (int i = 3; i < argc; i++) {
        int tau2 = atoi(argv[i]);
        t0 = unic_now();
        if (unic_kth_neighbor(&in, tau2, th, thi, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        double s = unic_now() - t0;
        printf("rank%d_s=%.3f\nrank%d_over_top=%.2f\n", tau2, s, tau2, s / top);
    }
    /* a checksum so nothing is optimised away, and to compare with faiss */
    long long sum = 0;
    for (int64_t i = 0; i < n * k; i++) sum += idx[i];
    printf("idx_checksum=%lld\n", sum);
    return 0;
}
