/* The host half of the GPU mining engine: the memory plan, the tile loop,
 * and the exact re-ranking of the candidates the GPU hands back. While the
 * host re-ranks one tile, the GPU computes the next. */
#include "mining/knn_gpu.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "mining/knn_engine.h"
#include "base/log.h"
#include "base/util.h"
#ifdef UNIC_WITH_CUDA
#include "mining/knn_cuda.h"
#endif

#define GPU_TILE_BUDGET ((size_t)2 << 30)
#define DEFAULT_CAND_CAP ((int64_t)1 << 22)

#ifndef UNIC_WITH_CUDA

int unic_knn_gpu(const unic_mine_input *in, int k_top, int32_t *top_idx, float *top_sq, int k_th,
                 float *th_sq, int32_t *th_idx, const unic_knn_gpu_opts *opts, char *err,
                 size_t errlen)
{
    if (unic_knn_check_request(in, k_top, k_th, err, errlen) != 0) return -1;
    return unic_errf(err, errlen, "GPU mining: unic was built without CUDA (nvcc not found)");
}

#else

/* Row i's lists from its candidates: the nearest-list candidates come first
 * in src, then the band. c has room for n pairs. */
static void rerank_row(const unic_mine_input *in, int64_t i, const int32_t *src, int32_t n_top,
                       int32_t n_band, int32_t below, int k_top, int32_t *top_idx, float *top_sq,
                       int k_th, float *th_sq, int32_t *th_idx, unic_knn_pair *c)
{
    if (k_th > 0) {
        for (int32_t p = 0; p < n_band; p++) c[p].j = src[n_top + p];
        float th;
        int32_t idx;
        unic_knn_finish_rank(in, i, k_th, below, c, n_band, &th, &idx);
        th_sq[i] = th;
        if (th_idx) th_idx[i] = idx;
    }
    if (k_top > 0) {
        for (int32_t p = 0; p < n_top; p++) c[p].j = src[p];
        unic_knn_finish_top(in, i, k_top, c, n_top, top_idx + i * k_top,
                            top_sq ? top_sq + i * k_top : NULL);
    }
}

int unic_knn_gpu(const unic_mine_input *in, int k_top, int32_t *top_idx, float *top_sq, int k_th,
                 float *th_sq, int32_t *th_idx, const unic_knn_gpu_opts *opts, char *err,
                 size_t errlen)
{
    if (unic_knn_check_request(in, k_top, k_th, err, errlen) != 0) return -1;
    int64_t n = in->n;
    char what[96];
    unic_knn_describe(k_top, k_th, what, sizeof what);
    /* the 0-based ranks whose GEMM values bound the candidates; the nearest
     * list of 1 is the anchor alone */
    int rank_top = k_top > 1 ? k_top - 1 : 0, rank_th = k_th;
    int lists = (rank_top > 0) + (rank_th > 0);
    if (lists == 0) {
        unic_log(UNIC_LOG_INFO, "mining %s of N=%lld: every point is its own nearest", what,
                 (long long)n);
        for (int64_t i = 0; i < n; i++) {
            top_idx[i] = (int32_t)i;
            if (top_sq) top_sq[i] = 0.0f;
        }
        return 0;
    }

    /* GPU memory: embeddings, norms and candidates, plus the tile */
    char name[256];
    size_t gpu_free, gpu_total;
    if (unic_knn_cuda_device(name, sizeof name, &gpu_free, &gpu_total, err, errlen) != 0) return -1;
    int64_t cap = opts && opts->cand_cap > 0 ? opts->cand_cap : DEFAULT_CAND_CAP;
    if (cap < lists * n) cap = lists * n; /* one row's candidates always fit */
    double mib = 1048576.0;
    size_t gpu_fixed = unic_knn_cuda_fixed_bytes(n, in->dim, cap);
    size_t gpu_row = unic_knn_cuda_row_bytes(n);
    size_t gpu_room = gpu_free / 10 * 9; /* cuBLAS's workspace and the context need some */
    if (gpu_fixed + gpu_row > gpu_room)
        return unic_errf(err, errlen, "GPU mining of N=%lld (D=%d) needs at least %.1f MiB of GPU "
                         "memory (embeddings and candidates %.1f, one tile row %.1f) but %s has "
                         "%.1f MiB free; mine on the CPU with UNIC_MINE_DEVICE=cpu", (long long)n,
                         in->dim, (double)(gpu_fixed + gpu_row) / mib, (double)gpu_fixed / mib,
                         (double)gpu_row / mib, name, (double)gpu_free / mib);
    int64_t rows = opts && opts->tile_rows > 0 ? opts->tile_rows
                                                : (int64_t)(GPU_TILE_BUDGET / gpu_row);
    int64_t fit = (int64_t)((gpu_room - gpu_fixed) / gpu_row);
    if (rows > fit) rows = fit;
    if (rows > n) rows = n;
    if (rows < 1) rows = 1;

    /* host memory: the embeddings and results, the re-ranking scratch */
    int threads = omp_get_max_threads();
    size_t host_fixed = (size_t)n * (size_t)in->dim * sizeof(float) + (size_t)n * sizeof(float) +
                        (size_t)n * (size_t)k_top * 8 + (size_t)n * 8 +
                        (size_t)cap * sizeof(int32_t) + (size_t)rows * (3 * 2 * sizeof(int32_t) +
                                                                       sizeof(int64_t));
    size_t scratch = (size_t)threads * (size_t)n * sizeof(unic_knn_pair);
    const char *source;
    size_t limit = unic_knn_memory_limit(&source);
    if (host_fixed + scratch > limit)
        return unic_errf(err, errlen, "GPU mining of N=%lld (D=%d) needs at least %.1f MiB of host "
                         "memory (embeddings, results and candidates %.1f, per-thread scratch "
                         "%.1f) but %.1f MiB is available (%s)", (long long)n, in->dim,
                         (double)(host_fixed + scratch) / mib, (double)host_fixed / mib,
                         (double)scratch / mib, (double)limit / mib, source);
    unic_log(UNIC_LOG_INFO, "mining %s of N=%lld (D=%d) on the GPU (%s): %.1f MiB of GPU memory "
             "(tiles of %lld rows, %.1f MiB; candidates %.1f MiB; %.0f MiB free), %.1f MiB on the "
             "host (%s %.0f MiB)", what, (long long)n, in->dim, name,
             (double)(gpu_fixed + (size_t)rows * gpu_row) / mib, (long long)rows,
             (double)((size_t)rows * gpu_row) / mib, (double)cap * sizeof(int32_t) / mib,
             (double)gpu_free / mib, (double)(host_fixed + scratch) / mib, source,
             (double)limit / mib);

    double norm_max;
    float *norms = unic_knn_row_norms(in, &norm_max);
    unic_knn_cuda *g = unic_knn_cuda_create(in->embeddings, norms, n, in->dim, norm_max, rows, cap,
                                            rank_top, rank_th, err, errlen);
    if (!g) {
        unic_xfree(norms);
        return -1;
    }
    /* the counts are copied out: the next tile's select overwrites them
     * while this tile is re-ranked */
    int32_t *n_top = unic_xmalloc((size_t)rows * 3 * sizeof(int32_t));
    int32_t *n_band = n_top + rows, *below = n_top + 2 * rows;
    int64_t *offsets = unic_xmalloc((size_t)(rows + 1) * sizeof(int64_t));
    unic_knn_pair *pairs = unic_xmalloc(scratch);
    unic_progress prog;
    unic_progress_start(&prog, "mining", n);
    unic_knn_cuda_select(g, 0, rows);
    for (int64_t r0 = 0; r0 < n; r0 += rows) {
        int64_t nr = r0 + rows <= n ? rows : n - r0;
        const int32_t *c_top, *c_band, *c_below;
        unic_knn_cuda_counts(g, &c_top, &c_band, &c_below);
        memcpy(n_top, c_top, (size_t)nr * sizeof(int32_t));
        memcpy(n_band, c_band, (size_t)nr * sizeof(int32_t));
        memcpy(below, c_below, (size_t)nr * sizeof(int32_t));
        /* rows [a, b) whose candidates fit one transfer; a row alone always
         * fits (cap >= lists * n) */
        for (int64_t a = 0, b; a < nr; a = b) {
            offsets[0] = 0;
            for (b = a; b < nr && offsets[b - a] + n_top[b] + n_band[b] <= cap; b++)
                offsets[b - a + 1] = offsets[b - a] + n_top[b] + n_band[b];
            if (b == a)
                unic_die("GPU mining: row %lld has %d + %d candidates, more than room for %lld",
                         (long long)(r0 + a), n_top[a], n_band[a], (long long)cap);
            const int32_t *cand = unic_knn_cuda_collect(g, a, b, offsets);
            if (b == nr && r0 + nr < n) /* the GPU goes on while the host re-ranks */
                unic_knn_cuda_select(g, r0 + nr, r0 + nr + rows <= n ? rows : n - r0 - nr);
#pragma omp parallel for schedule(dynamic, 16)
            for (int64_t q = a; q < b; q++)
                rerank_row(in, r0 + q, cand + offsets[q - a], n_top[q], n_band[q], below[q], k_top,
                           top_idx, top_sq, k_th, th_sq, th_idx,
                           pairs + (size_t)omp_get_thread_num() * (size_t)n);
        }
        unic_progress_update(&prog, r0 + nr);
    }
    unic_progress_end(&prog);
    unic_knn_cuda_destroy(g);
    unic_xfree(pairs);
    unic_xfree(offsets);
    unic_xfree(n_top);
    unic_xfree(norms);
    return 0;
}

#endif
