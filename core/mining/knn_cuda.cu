/* The GPU side of exact neighbour mining (interface and contract in
 * knn_cuda.h). Per tile of rows: cuBLAS writes the Gram tile in true fp32;
 * select_kernel then reduces each row, one thread block per row, to what
 * the host needs to re-rank exactly: the GEMM distance at a rank, found by
 * an MSD radix selection on order-preserving keys of the float bits (three
 * passes over the row, 11 + 11 + 10 bits, shared-memory histograms), and the
 * number of candidates within the rounding bound of it; collect_kernel
 * writes those candidates' indices. The distances are never stored: every
 * pass recomputes them from the Gram tile with the same rounded intrinsics,
 * so all passes agree on every float, and on the counts they imply. */
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "mining/knn_cuda.h"

#include "ops/cuda_check.h"

extern "C" int unic_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The histogram scan gives each thread bins / threads consecutive bins, so
 * the selection needs exactly this many threads per block. */
#define SELECT_THREADS 512
#define COLLECT_THREADS 256
#define RADIX_BINS 2048
#define FULL_MASK 0xffffffffu

/* The float32 unit roundoff, as in unic_knn_rounding_bound. */
#define UNIT_ROUNDOFF 5.9604644775390625e-08

struct unic_knn_cuda {
    int64_t n, tile_rows, cap;
    int dim, rank_top, rank_th;
    double norm_max;
    int64_t r0, nr; /* the tile of the last select */
    cudaStream_t stream;
    cublasHandle_t blas;
    /* device */
    float *x, *norms, *gram;
    double *hi_top, *lo_th, *hi_th; /* per tile row, from select to collect */
    int32_t *counts;                /* [3, tile_rows]: n_top, n_band, below */
    int64_t *offsets;               /* [tile_rows + 1] */
    int32_t *cand;                  /* [cap] */
    int *fault;
    /* page-locked host */
    int32_t *h_counts, *h_cand;
    int *h_fault;
};

namespace {

/* The GEMM form of one distance in knn.c's order, (|x_i|^2 + |x_j|^2) -
 * 2 x_i.x_j clamped at 0, with round-to-nearest intrinsics so no pass
 * contracts it into an FMA differently from another. The anchor is -1: it
 * ranks first (eq. 3), below every distance. */
__device__ __forceinline__ float tile_dist(const float *g, const float *norms, float ni,
                                           int64_t i, int64_t j)
{
    if (j == i) return -1.0f;
    float d = __fsub_rn(__fadd_rn(ni, norms[j]), __fmul_rn(2.0f, g[j]));
    return d > 0.0f ? d : 0.0f; /* NaN becomes 0 too, as on the CPU */
}

/* Unsigned keys in the order of the floats: negatives flip all bits,
 * non-negatives set the sign bit. */
__device__ __forceinline__ uint32_t order_key(float f)
{
    uint32_t b = __float_as_uint(f);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

__device__ __forceinline__ float key_value(uint32_t k)
{
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

/* Exclusive prefix sum of one value per thread over the block. warp_sums
 * ([32], shared) must not be touched by anyone else until the caller's next
 * __syncthreads. */
__device__ uint32_t block_exclusive_scan(uint32_t v, uint32_t *warp_sums)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    uint32_t x = v;
    for (int o = 1; o < 32; o <<= 1) {
        uint32_t y = __shfl_up_sync(FULL_MASK, x, o);
        if (lane >= o) x += y;
    }
    if (lane == 31) warp_sums[warp] = x;
    __syncthreads();
    if (warp == 0) {
        uint32_t w = lane < warps ? warp_sums[lane] : 0;
        for (int o = 1; o < 32; o <<= 1) {
            uint32_t y = __shfl_up_sync(FULL_MASK, w, o);
            if (lane >= o) w += y;
        }
        if (lane < warps) warp_sums[lane] = w; /* inclusive over warps */
    }
    __syncthreads();
    return (warp ? warp_sums[warp - 1] : 0) + x - v;
}

/* The row's value at 0-based rank `rank`, anchor included. Each pass counts
 * the next digit of the keys that share the digits chosen so far, then the
 * thread whose bins hold the rank picks the digit; the rank becomes the rank
 * within that digit. Every key is one of the row's, so the result is exactly
 * one of the row's floats, as the CPU's quickselect returns. Warps walk the
 * row in warp-uniform steps so the whole warp meets at __match_any_sync,
 * which folds equal digits (most keys share the top ones) into one atomic. */
__device__ float radix_select(const float *g, const float *norms, float ni, int64_t n, int64_t i,
                              uint32_t rank, uint32_t *hist, uint32_t *warp_sums, uint32_t *pick)
{
    const int lane = threadIdx.x & 31;
    uint32_t prefix = 0, mask = 0, rem = rank;
    for (int pass = 0; pass < 3; pass++) {
        const int shift = pass == 0 ? 21 : pass == 1 ? 10 : 0;
        const int bins = pass == 2 ? 1024 : RADIX_BINS;
        for (int b = threadIdx.x; b < bins; b += blockDim.x) hist[b] = 0;
        __syncthreads();
        for (int64_t base = threadIdx.x & ~31; base < n; base += blockDim.x) {
            int64_t j = base + lane;
            int bin = -1;
            if (j < n) {
                uint32_t key = order_key(tile_dist(g, norms, ni, i, j));
                if ((key & mask) == prefix) bin = (int)((key >> shift) & (uint32_t)(bins - 1));
            }
            unsigned peers = __match_any_sync(FULL_MASK, bin);
            if (bin >= 0 && lane == __ffs(peers) - 1) atomicAdd(&hist[bin], (uint32_t)__popc(peers));
        }
        __syncthreads();
        /* the counts of matching keys sum to more than rem (true for the
         * whole row at the start, and kept by each pick), so exactly one
         * thread's bins [b0, b0 + per) hold it */
        const int per = bins / SELECT_THREADS, b0 = threadIdx.x * per;
        uint32_t s = 0;
        for (int q = 0; q < per; q++) s += hist[b0 + q];
        uint32_t before = block_exclusive_scan(s, warp_sums);
        if (rem >= before && rem < before + s) {
            int q = 0;
            while (before + hist[b0 + q] <= rem) before += hist[b0 + q++];
            pick[0] = (uint32_t)(b0 + q);
            pick[1] = rem - before;
        }
        __syncthreads();
        prefix |= pick[0] << shift;
        mask |= (uint32_t)(bins - 1) << shift;
        rem = pick[1];
        __syncthreads(); /* hist, pick and warp_sums are written again next pass */
    }
    return key_value(prefix);
}

__device__ __forceinline__ uint32_t warp_sum_u32(uint32_t v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

/* One block per row r of the tile (point i = r0 + r): the requested rank
 * values, the thresholds the CPU engine would use (knn.c's exact_top and
 * exact_rank, compared in double as there), and the candidate counts. */
__global__ void __launch_bounds__(SELECT_THREADS)
    select_kernel(const float *gram, const float *norms, int64_t n, int64_t r0, int dim,
                  double norm_max, int rank_top, int rank_th, int64_t tile_rows, double *hi_top,
                  double *lo_th, double *hi_th, int32_t *counts)
{
    __shared__ uint32_t hist[RADIX_BINS];
    __shared__ uint32_t warp_sums[32];
    __shared__ uint32_t pick[2];
    __shared__ uint32_t total[3];
    const int64_t r = blockIdx.x, i = r0 + r;
    const float *g = gram + r * n;
    const float ni = norms[i];
    const double delta = (dim + 8) * UNIT_ROUNDOFF * ((double)ni + norm_max);
    /* with nothing requested the comparisons below are false for every
     * distance (which is >= 0 and finite or +inf) */
    double top = -INFINITY, lo = INFINITY, hi = -INFINITY;
    if (rank_top > 0)
        top = (double)radix_select(g, norms, ni, n, i, (uint32_t)rank_top, hist, warp_sums, pick) +
              2 * delta;
    if (rank_th > 0) {
        double t = radix_select(g, norms, ni, n, i, (uint32_t)rank_th, hist, warp_sums, pick);
        lo = t - 2 * delta;
        hi = t + 2 * delta;
    }
    if (threadIdx.x < 3) total[threadIdx.x] = 0;
    __syncthreads();
    uint32_t c_top = 0, c_band = 0, c_below = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        if (j == i) continue;
        double d = tile_dist(g, norms, ni, i, j);
        c_top += d <= top;
        c_band += d >= lo && d <= hi;
        c_below += d < lo;
    }
    c_top = warp_sum_u32(c_top);
    c_band = warp_sum_u32(c_band);
    c_below = warp_sum_u32(c_below);
    if ((threadIdx.x & 31) == 0) {
        atomicAdd(&total[0], c_top);
        atomicAdd(&total[1], c_band);
        atomicAdd(&total[2], c_below);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        hi_top[r] = top;
        lo_th[r] = lo;
        hi_th[r] = hi;
        counts[r] = (int32_t)total[0];
        counts[tile_rows + r] = (int32_t)total[1];
        counts[2 * tile_rows + r] = (int32_t)(rank_th > 0 ? total[2] + 1 : 0); /* + the anchor */
    }
}

/* One block per tile row a + blockIdx.x: the candidates select_kernel
 * counted, by the same predicates on the same floats. Each warp reserves
 * room for its hits with one shared atomic; the order of the indices is
 * whatever the warps' race makes it (the host sorts by a total order). A
 * count that does not match raises *fault instead of writing out of place. */
__global__ void __launch_bounds__(COLLECT_THREADS)
    collect_kernel(const float *gram, const float *norms, int64_t n, int64_t r0, int64_t a,
                   int64_t tile_rows, const int64_t *offsets, const double *hi_top,
                   const double *lo_th, const double *hi_th, const int32_t *counts, int32_t *cand,
                   int *fault)
{
    __shared__ uint32_t cursor[2];
    const int64_t r = a + blockIdx.x, i = r0 + r;
    const float *g = gram + r * n;
    const float ni = norms[i];
    const double top = hi_top[r], lo = lo_th[r], hi = hi_th[r];
    const uint32_t want_top = (uint32_t)counts[r], want_band = (uint32_t)counts[tile_rows + r];
    int32_t *out_top = cand + offsets[blockIdx.x], *out_band = out_top + want_top;
    const int lane = threadIdx.x & 31;
    const unsigned lower = (1u << lane) - 1u; /* lanes before this one */
    if (threadIdx.x < 2) cursor[threadIdx.x] = 0;
    __syncthreads();
    for (int64_t base = threadIdx.x & ~31; base < n; base += blockDim.x) {
        int64_t j = base + lane;
        bool in_top = false, in_band = false;
        if (j < n && j != i) {
            double d = tile_dist(g, norms, ni, i, j);
            in_top = d <= top;
            in_band = d >= lo && d <= hi;
        }
        unsigned b_top = __ballot_sync(FULL_MASK, in_top), b_band = __ballot_sync(FULL_MASK, in_band);
        uint32_t s_top = 0, s_band = 0;
        if (lane == 0) {
            if (b_top) s_top = atomicAdd(&cursor[0], (uint32_t)__popc(b_top));
            if (b_band) s_band = atomicAdd(&cursor[1], (uint32_t)__popc(b_band));
        }
        s_top = __shfl_sync(FULL_MASK, s_top, 0);
        s_band = __shfl_sync(FULL_MASK, s_band, 0);
        if (in_top) {
            uint32_t p = s_top + (uint32_t)__popc(b_top & lower);
            if (p < want_top) out_top[p] = (int32_t)j;
        }
        if (in_band) {
            uint32_t p = s_band + (uint32_t)__popc(b_band & lower);
            if (p < want_band) out_band[p] = (int32_t)j;
        }
    }
    __syncthreads();
    if (threadIdx.x == 0 && (cursor[0] != want_top || cursor[1] != want_band)) atomicExch(fault, 1);
}

template <typename T> bool alloc(T **p, size_t count, size_t *failed)
{
    if (cudaMalloc((void **)p, count * sizeof(T) ? count * sizeof(T) : 1) == cudaSuccess) return true;
    (void)cudaGetLastError(); /* an ordinary answer, reported to the caller */
    *p = NULL;
    *failed = count * sizeof(T);
    return false;
}

} // namespace

extern "C" int unic_knn_cuda_device(char *name, size_t namelen, size_t *free_bytes,
                                    size_t *total_bytes, char *err, size_t errlen)
{
    int dev;
    cudaDeviceProp prop;
    cudaError_t e = cudaGetDevice(&dev);
    if (e == cudaSuccess) e = cudaGetDeviceProperties(&prop, dev);
    if (e == cudaSuccess) e = cudaMemGetInfo(free_bytes, total_bytes);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return unic_errf(err, errlen, "GPU mining: cannot query the CUDA device: %s",
                         cudaGetErrorString(e));
    }
    snprintf(name, namelen, "%s", prop.name);
    return 0;
}

extern "C" size_t unic_knn_cuda_fixed_bytes(int64_t n, int dim, int64_t cand_cap)
{
    return (size_t)n * (size_t)dim * sizeof(float) + (size_t)n * sizeof(float) +
           (size_t)cand_cap * sizeof(int32_t) + sizeof(int64_t) + sizeof(int);
}

extern "C" size_t unic_knn_cuda_row_bytes(int64_t n)
{
    return (size_t)n * sizeof(float) + 3 * sizeof(double) + 3 * sizeof(int32_t) + sizeof(int64_t);
}

extern "C" void unic_knn_cuda_destroy(unic_knn_cuda *g)
{
    if (!g) return;
    if (g->stream) CUDA_CHECK(cudaStreamSynchronize(g->stream));
    if (g->blas) CUBLAS_CHECK(cublasDestroy(g->blas));
    if (g->stream) CUDA_CHECK(cudaStreamDestroy(g->stream));
    void *dev[] = {g->x, g->norms, g->gram, g->hi_top, g->lo_th, g->hi_th,
                   g->counts, g->offsets, g->cand, g->fault};
    for (size_t q = 0; q < sizeof dev / sizeof *dev; q++)
        if (dev[q]) CUDA_CHECK(cudaFree(dev[q]));
    void *host[] = {g->h_counts, g->h_cand, g->h_fault};
    for (size_t q = 0; q < sizeof host / sizeof *host; q++)
        if (host[q]) CUDA_CHECK(cudaFreeHost(host[q]));
    delete g;
}

extern "C" unic_knn_cuda *unic_knn_cuda_create(const float *x, const float *norms, int64_t n,
                                               int dim, double norm_max, int64_t tile_rows,
                                               int64_t cand_cap, int rank_top, int rank_th,
                                               char *err, size_t errlen)
{
    if (n < 1 || n > INT_MAX || dim < 1 || tile_rows < 1 || tile_rows > INT_MAX || cand_cap < 1) {
        unic_errf(err, errlen, "GPU mining: unsupported sizes N=%lld D=%d tile rows %lld "
                  "(cuBLAS and the int32 indices need N and the tile below 2^31)", (long long)n,
                  dim, (long long)tile_rows);
        return NULL;
    }
    unic_knn_cuda *g = new unic_knn_cuda();
    g->n = n;
    g->dim = dim;
    g->tile_rows = tile_rows;
    g->cap = cand_cap;
    g->rank_top = rank_top;
    g->rank_th = rank_th;
    g->norm_max = norm_max;
    size_t failed = 0, rows = (size_t)tile_rows;
    bool ok = alloc(&g->x, (size_t)n * (size_t)dim, &failed) && alloc(&g->norms, (size_t)n, &failed) &&
              alloc(&g->gram, rows * (size_t)n, &failed) && alloc(&g->hi_top, rows, &failed) &&
              alloc(&g->lo_th, rows, &failed) && alloc(&g->hi_th, rows, &failed) &&
              alloc(&g->counts, 3 * rows, &failed) && alloc(&g->offsets, rows + 1, &failed) &&
              alloc(&g->cand, (size_t)cand_cap, &failed) && alloc(&g->fault, 1, &failed);
    if (!ok) {
        unic_errf(err, errlen, "GPU mining: cudaMalloc of %.1f MiB failed (N=%lld, D=%d, tiles "
                  "of %lld rows): the GPU is shorter of memory than it reported, or shared",
                  (double)failed / 1048576.0, (long long)n, dim, (long long)tile_rows);
        unic_knn_cuda_destroy(g);
        return NULL;
    }
    CUDA_CHECK(cudaHostAlloc((void **)&g->h_counts, 3 * rows * sizeof(int32_t), cudaHostAllocDefault));
    CUDA_CHECK(cudaHostAlloc((void **)&g->h_cand, (size_t)cand_cap * sizeof(int32_t),
                             cudaHostAllocDefault));
    CUDA_CHECK(cudaHostAlloc((void **)&g->h_fault, sizeof(int), cudaHostAllocDefault));
    CUDA_CHECK(cudaStreamCreate(&g->stream));
    CUBLAS_CHECK(cublasCreate(&g->blas));
    /* Default math keeps CUBLAS_COMPUTE_32F in full fp32, never TF32: the
     * rounding bound the exact re-ranking relies on is an fp32 bound. */
    CUBLAS_CHECK(cublasSetMathMode(g->blas, CUBLAS_DEFAULT_MATH));
    CUBLAS_CHECK(cublasSetStream(g->blas, g->stream));
    CUDA_CHECK(cudaMemcpy(g->x, x, (size_t)n * (size_t)dim * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(g->norms, norms, (size_t)n * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemset(g->fault, 0, sizeof(int)));
    return g;
}

extern "C" void unic_knn_cuda_select(unic_knn_cuda *g, int64_t r0, int64_t nr)
{
    if (nr < 1 || nr > g->tile_rows || r0 < 0 || r0 + nr > g->n)
        unic_die("unic_knn_cuda_select: rows [%lld, %lld) do not fit N=%lld in tiles of %lld",
                 (long long)r0, (long long)(r0 + nr), (long long)g->n, (long long)g->tile_rows);
    g->r0 = r0;
    g->nr = nr;
    /* Row-major tile G[r][j] = x_{r0+r} . x_j is, read column-major, the
     * n x nr matrix X^T X_tile, with X (row-major n x dim) seen column-major
     * as dim x n: so op(A) = A^T on X and op(B) = B on the tile's rows. */
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasGemmEx(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)g->n, (int)nr, g->dim, &one,
                              g->x, CUDA_R_32F, g->dim, g->x + r0 * g->dim, CUDA_R_32F, g->dim,
                              &zero, g->gram, CUDA_R_32F, (int)g->n, CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT));
    select_kernel<<<(unsigned)nr, SELECT_THREADS, 0, g->stream>>>(
        g->gram, g->norms, g->n, r0, g->dim, g->norm_max, g->rank_top, g->rank_th, g->tile_rows,
        g->hi_top, g->lo_th, g->hi_th, g->counts);
    LAUNCH_CHECK();
    CUDA_CHECK(cudaMemcpyAsync(g->h_counts, g->counts, 3 * (size_t)g->tile_rows * sizeof(int32_t),
                               cudaMemcpyDeviceToHost, g->stream));
}

extern "C" void unic_knn_cuda_counts(unic_knn_cuda *g, const int32_t **n_top,
                                     const int32_t **n_band, const int32_t **below)
{
    CUDA_CHECK(cudaStreamSynchronize(g->stream));
    *n_top = g->h_counts;
    *n_band = g->h_counts + g->tile_rows;
    *below = g->h_counts + 2 * g->tile_rows;
}

extern "C" const int32_t *unic_knn_cuda_collect(unic_knn_cuda *g, int64_t a, int64_t b,
                                                const int64_t *offsets)
{
    if (a < 0 || b <= a || b > g->nr || offsets[b - a] > g->cap)
        unic_die("unic_knn_cuda_collect: rows [%lld, %lld) of a tile of %lld, %lld candidates "
                 "for room for %lld", (long long)a, (long long)b, (long long)g->nr,
                 (long long)offsets[b - a], (long long)g->cap);
    CUDA_CHECK(cudaMemcpyAsync(g->offsets, offsets, (size_t)(b - a + 1) * sizeof(int64_t),
                               cudaMemcpyHostToDevice, g->stream));
    collect_kernel<<<(unsigned)(b - a), COLLECT_THREADS, 0, g->stream>>>(
        g->gram, g->norms, g->n, g->r0, a, g->tile_rows, g->offsets, g->hi_top, g->lo_th,
        g->hi_th, g->counts, g->cand, g->fault);
    LAUNCH_CHECK();
    if (offsets[b - a] > 0)
        CUDA_CHECK(cudaMemcpyAsync(g->h_cand, g->cand, (size_t)offsets[b - a] * sizeof(int32_t),
                                   cudaMemcpyDeviceToHost, g->stream));
    CUDA_CHECK(cudaMemcpyAsync(g->h_fault, g->fault, sizeof(int), cudaMemcpyDeviceToHost, g->stream));
    CUDA_CHECK(cudaStreamSynchronize(g->stream));
    if (*g->h_fault)
        unic_die("GPU mining: the candidates of rows %lld..%lld did not match their counts (a bug "
                 "in knn_cuda.cu; mine on the CPU with UNIC_MINE_DEVICE=cpu)",
                 (long long)(g->r0 + a), (long long)(g->r0 + b - 1));
    return g->h_cand;
}
