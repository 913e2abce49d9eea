/* Exact Euclidean neighbour mining, blocked: distance tiles come from GEMM
 * (||x||^2 + ||y||^2 - 2 x.y) and each row is reduced to what the miners
 * need (its k nearest, or its k-th nearest) before the next tile, so memory
 * stays O(N*D + N*k + one tile) instead of N x N; the plan is printed first
 * and refused, with the number it needs, when it exceeds MemAvailable or
 * UNIC_MEMORY_LIMIT. Candidates near a boundary are re-ranked with exact
 * distances, so results are those of exact arithmetic, ordered by (squared
 * distance, index); every point is its own first neighbour (eq. 3). With
 * in->cache_dir set, results are cached there in safetensors, keyed by a
 * hash of the embeddings and the request.
 *
 * The same engine runs on a CUDA GPU (knn_gpu.c, knn_cuda.cu) when the
 * caller asks for UNIC_CUDA (a run with [train] device = cuda) or
 * UNIC_MINE_DEVICE=cuda is set (cpu forces the CPU); without a visible GPU
 * it says so in the log and mines on the CPU. Both engines hand their
 * candidates to the same exact re-ranking (knn_engine.h), so results and
 * cache files are identical whichever device computed them. */
#ifndef UNIC_KNN_H
#define UNIC_KNN_H

#include <stddef.h>
#include <stdint.h>

#include "unic/plugin.h"

/* Both lists in one pass over the distances (k_top < k_th; either may be
 * 0), mined on dev (UNIC_MINE_DEVICE overrides it). */
int unic_knn_and_kth_on(unic_device dev, const unic_mine_input *in, int k_top, int32_t *top_idx,
                        float *top_sq, int k_th, float *th_sq, int32_t *th_idx, char *err,
                        size_t errlen);

/* The entries below mine on in->device (UNIC_MINE_DEVICE overrides it).
 * idx, sq_dist: [n, k] (sq_dist may be NULL). */
int unic_knn(const unic_mine_input *in, int k, int32_t *idx, float *sq_dist, char *err,
             size_t errlen);
/* The point at 0-based rank k of every row, and its squared distance. */
int unic_kth_neighbor(const unic_mine_input *in, int k, float *sq_dist, int32_t *idx, char *err,
                      size_t errlen);
/* Both in one pass over the distances (k_top < k_th). */
int unic_knn_and_kth(const unic_mine_input *in, int k_top, int32_t *top_idx, float *top_sq,
                     int k_th, float *th_sq, int32_t *th_idx, char *err, size_t errlen);
/* ||x_i - x_j||^2 by direct differences in double, rounded to float: the
 * distances unic_knn and unic_kth_neighbor report are computed the same way,
 * so comparisons against a rank-k threshold agree with the ranking (up to
 * two doubles rounding to one float, where the index decides). */
float unic_sq_dist(const unic_mine_input *in, int64_t i, int64_t j);

/* Second-order neighbourhood sizes (eq. 4): for each i, the number of
 * distinct points in the union of the lists of i's neighbours, with idx
 * [n, k] as unic_knn writes it. Parallel, O(threads x n) extra memory. */
void unic_union_sizes(const int32_t *idx, int64_t n, int k, int32_t *out);

/* Rows per distance tile for n points within a byte budget. */
int64_t unic_knn_tile_rows(int64_t n, size_t budget_bytes);

#endif
