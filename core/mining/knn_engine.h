/* What the CPU (knn.c) and GPU (knn_gpu.c) mining engines share, so that
 * both return the same neighbours bit for bit: the row norms, the bound on
 * the GEMM form's rounding, and the exact re-ranking of a row's candidates.
 * An engine only has to hand over a candidate superset (every point whose
 * GEMM distance lies within twice the bound of the GEMM boundary value);
 * which superset does not matter, because the exact ranking of the points
 * that can win is the same whatever else the set holds. */
#ifndef UNIC_KNN_ENGINE_H
#define UNIC_KNN_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "unic/plugin.h"

typedef struct unic_knn_pair {
    double d;
    int32_t j;
} unic_knn_pair;

/* A request both engines can serve: 0 <= k_top <= n, 0 <= k_th < n, not
 * both 0; otherwise -1 with the message. */
int unic_knn_check_request(const unic_mine_input *in, int k_top, int k_th, char *err,
                           size_t errlen);

/* ||x_i||^2 summed in double, rounded to float: [n], malloc'ed; the largest
 * in *norm_max. */
float *unic_knn_row_norms(const unic_mine_input *in, double *norm_max);

/* A bound on |fl(d) - d| for the GEMM form of one distance of row i:
 * (D + 8) u (|x_i|^2 + max_j |x_j|^2), u the float32 unit roundoff. It holds
 * for any summation order of the dot product, with or without FMA, so it
 * covers OpenBLAS and cuBLAS alike. */
double unic_knn_rounding_bound(int dim, double norm_i, double norm_max);

/* ||x_i - x_j||^2 by direct differences in double, in a fixed order. */
double unic_knn_exact_sq(const unic_mine_input *in, int64_t i, int64_t j);

/* Row i's k nearest, anchor first: cand[0..m) holds (in .j, any order,
 * without i) every point whose GEMM distance is at most the GEMM value at
 * rank k - 1 (anchor at rank 0) plus twice the bound. cand has room for
 * n pairs. Writes idx[0..k) and, unless NULL, sq[0..k). */
void unic_knn_finish_top(const unic_mine_input *in, int64_t i, int k, unic_knn_pair *cand,
                         int64_t m, int32_t *idx, float *sq);

/* The point at exact rank k of row i (anchor at rank 0): below - 1 other
 * points have GEMM distances under lo = t - 2 bound (t: the GEMM value at
 * rank k) and band[0..m) holds (in .j, any order) the others within
 * [lo, t + 2 bound]. band has room for n pairs. */
void unic_knn_finish_rank(const unic_mine_input *in, int64_t i, int64_t k, int64_t below,
                          unic_knn_pair *band, int64_t m, float *th, int32_t *th_idx);

/* How often a row's candidates did not hold its answer and the whole row
 * was ranked exactly instead (the answer stays exact; only a candidate set
 * that breaks the contract above does this, so tests expect 0). */
int64_t unic_knn_fallbacks(void);

/* "the 50 nearest", "rank 6300" or both, for the plan's log line. */
void unic_knn_describe(int k_top, int k_th, char *buf, size_t len);

/* Host bytes the plan may use: unic_memory_limit (core/base/limits.h),
 * the one copy training's plan uses too. */
size_t unic_knn_memory_limit(const char **source);

#endif
