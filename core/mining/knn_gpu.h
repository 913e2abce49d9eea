/* The GPU mining engine: unic_knn_and_kth's contract (knn.h), computed by
 * GEMM tiles and per-row selection on a CUDA GPU (cuda/knn_cuda.cu) and
 * re-ranked exactly on the host with the CPU engine's code (knn_engine.h),
 * so its results are identical to the CPU engine's. knn.c dispatches here;
 * the tests call it directly to compare the two. */
#ifndef UNIC_KNN_GPU_H
#define UNIC_KNN_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "unic/plugin.h"

typedef struct unic_knn_gpu_opts {
    int64_t tile_rows; /* rows per distance tile; 0: what 2 GiB of GPU memory holds */
    int64_t cand_cap;  /* candidates per transfer to the host; 0: 4M (never fewer than
                          one row may need) */
} unic_knn_gpu_opts;

/* As unic_knn_and_kth, without the cache; opts may be NULL. Fails with a
 * message in a build without CUDA, or when the plan does not fit the GPU or
 * the host. */
int unic_knn_gpu(const unic_mine_input *in, int k_top, int32_t *top_idx, float *top_sq, int k_th,
                 float *th_sq, int32_t *th_idx, const unic_knn_gpu_opts *opts, char *err,
                 size_t errlen);

#endif
