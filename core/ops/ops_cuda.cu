/* CUDA versions of the ops in ops_cpu.c, with the same semantics: row-major
 * float32 tensors, gradient ops accumulate into their outputs. Matrix
 * products go through cuBLAS in true fp32 (no TF32) so results match the CPU
 * reference to ~1e-6; everything runs on the legacy default stream, so
 * cudaMemcpy back to the host is the only synchronisation the callers need. */
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include <cublas_v2.h>
#include <cuda_runtime.h>

/* This file is only built with CUDA; make ops.h declare the unic_cuda_*
 * prototypes even when compiled by hand without the build's -D flag. */
#ifndef UNIC_WITH_CUDA
#define UNIC_WITH_CUDA 1
#endif
#include "unic/conv_window.h"
#include "ops/cuda_check.h"
#include "ops/ops.h"

static const int THREADS = 256;
static const int ROWS_PER_BLOCK = THREADS / 32; /* softmax: one warp per row */

/* Element-wise kernels use grid-stride loops, so the grid can stay bounded. */
static unsigned grid_for(int64_t n)
{
    int64_t blocks = (n + THREADS - 1) / THREADS;
    const int64_t cap = 1 << 20;
    return (unsigned)(blocks < cap ? blocks : cap);
}

/* A CPU tensor handed to a CUDA op would be read through a host pointer on
 * the device; fail with the op's name instead of an illegal-address fault. */
static void require_device(const unic_tensor *t, const char *op, const char *arg)
{
    if (t && t->device != UNIC_CUDA) unic_die("%s: %s is not a CUDA tensor", op, arg);
}

static int as_int(int64_t v, const char *op)
{
    if (v < 0 || v > INT_MAX) unic_die("%s: dimension %lld does not fit cuBLAS", op, (long long)v);
    return (int)v;
}

static cublasHandle_t make_handle(void)
{
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    /* Default math keeps CUBLAS_COMPUTE_32F in full fp32, never TF32. */
    CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    return h;
}

/* Created on first use (a function-local static is initialised once, thread
 * safely) and never destroyed: tearing it down from an atexit handler can
 * run after the CUDA runtime has already unloaded. */
static cublasHandle_t blas(void)
{
    static cublasHandle_t h = make_handle();
    return h;
}

/* ---- memory ------------------------------------------------------------ */

extern "C" void *unic_cuda_malloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0) return NULL;
    CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
}

extern "C" void unic_cuda_free(void *p)
{
    if (p) CUDA_CHECK(cudaFree(p));
}

extern "C" void *unic_cuda_host_alloc(size_t bytes)
{
    void *p = NULL;
    CUDA_CHECK(cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault));
    return p;
}

extern "C" void unic_cuda_host_free(void *p)
{
    if (p) CUDA_CHECK(cudaFreeHost(p));
}

extern "C" void unic_cuda_memset0(void *p, size_t bytes)
{
    if (bytes) CUDA_CHECK(cudaMemset(p, 0, bytes));
}

extern "C" void unic_cuda_memcpy(void *dst, const void *src, size_t bytes, int kind)
{
    cudaMemcpyKind k;
    switch (kind) {
    case 0: k = cudaMemcpyHostToDevice; break;
    case 1: k = cudaMemcpyDeviceToHost; break;
    case 2: k = cudaMemcpyDeviceToDevice; break;
    default: unic_die("unic_cuda_memcpy: unknown kind %d", kind);
    }
    if (bytes) CUDA_CHECK(cudaMemcpy(dst, src, bytes, k));
}

/* No driver or no GPU is an ordinary answer here (CPU-only machines running
 * a CUDA build), not an error: report 0 and clear the runtime's last error so
 * no later check picks it up. */
extern "C" int unic_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
}

/* ---- kernels ----------------------------------------------------------- */

/* Internal linkage, so kernels in other .cu files may reuse these names. */
namespace {

__global__ void fill_rows_kernel(float *out, const float *row, int64_t n, int64_t cols)
{
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        out[i] = row[i % cols];
}

/* d_b[j] += sum over rows of d_out[r][j]: threadIdx.x walks columns so loads
 * coalesce, threadIdx.y splits the rows, shared memory joins the parts. */
#define COLSUM_Y 8
__global__ void colsum_add_kernel(float *d_b, const float *d_out, int64_t rows, int64_t cols)
{
    __shared__ float part[COLSUM_Y][33];
    int64_t j = (int64_t)blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (j < cols)
        for (int64_t r = threadIdx.y; r < rows; r += COLSUM_Y) s += d_out[r * cols + j];
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && j < cols) {
        for (int y = 1; y < COLSUM_Y; y++) s += part[y][threadIdx.x];
        d_b[j] += s;
    }
}

#define SQRT1_2F 0.70710678118654752440f
#define INV_SQRT_2PIF 0.3989422804014327f

__global__ void gelu_forward_kernel(float *y, const float *x, int64_t n)
{
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        float xi = x[i];
        y[i] = 0.5f * xi * (1.0f + erff(xi * SQRT1_2F));
    }
}

__global__ void gelu_backward_kernel(float *dx, const float *x, const float *dy, int64_t n)
{
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        float xi = x[i];
        float cdf = 0.5f * (1.0f + erff(xi * SQRT1_2F));
        float pdf = INV_SQRT_2PIF * expf(-0.5f * xi * xi);
        dx[i] += dy[i] * (cdf + xi * pdf);
    }
}

__device__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sums in double, as the CPU reference does, so long rows agree closely. */
__device__ double warp_sum(double v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* One warp per row; the row loop is warp-uniform so the shuffles see all
 * 32 lanes. Reading z[j] and writing p[j] from the same lane makes it safe
 * in place, as the CPU version is. */
__global__ void softmax_forward_kernel(float *p, const float *z, int64_t rows, int64_t k)
{
    int lane = threadIdx.x & 31;
    int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; r < rows;
         r += warps) {
        const float *zr = z + r * k;
        float *pr = p + r * k;
        float mx = -INFINITY;
        for (int64_t j = lane; j < k; j += 32) mx = fmaxf(mx, zr[j]);
        mx = warp_max(mx);
        double sum = 0.0;
        for (int64_t j = lane; j < k; j += 32) {
            float e = expf(zr[j] - mx);
            pr[j] = e;
            sum += e;
        }
        sum = warp_sum(sum);
        float inv = (float)(1.0 / sum);
        for (int64_t j = lane; j < k; j += 32) pr[j] *= inv;
    }
}

__global__ void softmax_backward_kernel(float *dz, const float *p, const float *dp, int64_t rows,
                                        int64_t k)
{
    int lane = threadIdx.x & 31;
    int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; r < rows;
         r += warps) {
        const float *pr = p + r * k, *dpr = dp + r * k;
        float *dzr = dz + r * k;
        double dot = 0.0;
        for (int64_t j = lane; j < k; j += 32) dot += (double)pr[j] * dpr[j];
        float d = (float)warp_sum(dot);
        for (int64_t j = lane; j < k; j += 32) dzr[j] += pr[j] * (dpr[j] - d);
    }
}

__global__ void adam_kernel(float *p, const float *g, float *m, float *v, int64_t n, float beta1,
                            float beta2, float eps, float weight_decay, float step,
                            float inv_sqrt_bc2)
{
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        float pi = p[i];
        float gi = g[i] + weight_decay * pi;
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
}

__global__ void scale_kernel(float *x, float s, int64_t n)
{
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) x[i] *= s;
}

} // namespace

/* ---- ops --------------------------------------------------------------- */

/* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, and a
 * row-major matrix read column-major is its transpose: so swap the operands
 * and keep each one's transpose flag and row stride. */
extern "C" void unic_cuda_gemm(int trans_a, int trans_b, float alpha, const unic_tensor *a,
                               const unic_tensor *b, float beta, unic_tensor *c)
{
    const char *op = "unic_cuda_gemm";
    require_device(a, op, "a");
    require_device(b, op, "b");
    require_device(c, op, "c");
    int64_t m = c->shape[0], n = c->shape[1];
    int64_t k = trans_a ? a->shape[0] : a->shape[1];
    int64_t am = trans_a ? a->shape[1] : a->shape[0];
    int64_t bk = trans_b ? b->shape[1] : b->shape[0], bn = trans_b ? b->shape[0] : b->shape[1];
    if (am != m || bk != k || bn != n)
        unic_die("%s: shapes do not agree: op(a) %lldx%lld, op(b) %lldx%lld, c %lldx%lld", op,
                 (long long)am, (long long)k, (long long)bk, (long long)bn, (long long)m,
                 (long long)n);
    if (m == 0 || n == 0) return;
    if (k == 0) {
        /* Nothing to multiply; BLAS leaves beta * C (exact zeros for beta 0). */
        if (beta == 0.0f)
            unic_cuda_memset0(c->data, (size_t)(m * n) * sizeof(float));
        else
            unic_cuda_scale(c, beta);
        return;
    }
    CUBLAS_CHECK(cublasGemmEx(blas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                              trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, as_int(n, op), as_int(m, op),
                              as_int(k, op), &alpha, b->data, CUDA_R_32F,
                              as_int(b->shape[1], op), a->data, CUDA_R_32F,
                              as_int(a->shape[1], op), &beta, c->data, CUDA_R_32F,
                              as_int(c->shape[1], op), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

extern "C" void unic_cuda_linear_forward(unic_tensor *out, const unic_tensor *in,
                                         const unic_tensor *w, const unic_tensor *b)
{
    require_device(out, "unic_cuda_linear_forward", "out");
    require_device(b, "unic_cuda_linear_forward", "b");
    int64_t n = out->shape[0], o = out->shape[1];
    if (b && n * o > 0) {
        fill_rows_kernel<<<grid_for(n * o), THREADS>>>(out->data, b->data, n * o, o);
        LAUNCH_CHECK();
    }
    unic_cuda_gemm(0, 1, 1.0f, in, w, b ? 1.0f : 0.0f, out);
}

extern "C" void unic_cuda_linear_backward(unic_tensor *d_in, unic_tensor *d_w, unic_tensor *d_b,
                                          const unic_tensor *d_out, const unic_tensor *in,
                                          const unic_tensor *w)
{
    if (d_in) unic_cuda_gemm(0, 0, 1.0f, d_out, w, 1.0f, d_in);
    if (d_w) unic_cuda_gemm(1, 0, 1.0f, d_out, in, 1.0f, d_w);
    if (d_b) {
        require_device(d_b, "unic_cuda_linear_backward", "d_b");
        require_device(d_out, "unic_cuda_linear_backward", "d_out");
        int64_t n = d_out->shape[0], o = d_out->shape[1];
        if (o == 0) return;
        dim3 block(32, COLSUM_Y);
        colsum_add_kernel<<<(unsigned)((o + 31) / 32), block>>>(d_b->data, d_out->data, n, o);
        LAUNCH_CHECK();
    }
}

extern "C" void unic_cuda_gelu_forward(unic_tensor *out, const unic_tensor *in)
{
    require_device(out, "unic_cuda_gelu_forward", "out");
    require_device(in, "unic_cuda_gelu_forward", "in");
    int64_t n = unic_numel(in);
    if (n == 0) return;
    gelu_forward_kernel<<<grid_for(n), THREADS>>>(out->data, in->data, n);
    LAUNCH_CHECK();
}

extern "C" void unic_cuda_gelu_backward(unic_tensor *d_in, const unic_tensor *in,
                                        const unic_tensor *d_out)
{
    require_device(d_in, "unic_cuda_gelu_backward", "d_in");
    require_device(in, "unic_cuda_gelu_backward", "in");
    require_device(d_out, "unic_cuda_gelu_backward", "d_out");
    int64_t n = unic_numel(in);
    if (n == 0) return;
    gelu_backward_kernel<<<grid_for(n), THREADS>>>(d_in->data, in->data, d_out->data, n);
    LAUNCH_CHECK();
}

static unsigned softmax_grid(int64_t rows)
{
    int64_t blocks = (rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK;
    const int64_t cap = 1 << 20;
    return (unsigned)(blocks < cap ? blocks : cap);
}

extern "C" void unic_cuda_softmax_forward(unic_tensor *probs, const unic_tensor *logits)
{
    require_device(probs, "unic_cuda_softmax_forward", "probs");
    require_device(logits, "unic_cuda_softmax_forward", "logits");
    int64_t n = logits->shape[0], k = unic_row_size(logits);
    if (n == 0 || k == 0) return;
    softmax_forward_kernel<<<softmax_grid(n), THREADS>>>(probs->data, logits->data, n, k);
    LAUNCH_CHECK();
}

extern "C" void unic_cuda_softmax_backward(unic_tensor *d_logits, const unic_tensor *probs,
                                           const unic_tensor *d_probs)
{
    require_device(d_logits, "unic_cuda_softmax_backward", "d_logits");
    require_device(probs, "unic_cuda_softmax_backward", "probs");
    require_device(d_probs, "unic_cuda_softmax_backward", "d_probs");
    int64_t n = probs->shape[0], k = unic_row_size(probs);
    if (n == 0 || k == 0) return;
    softmax_backward_kernel<<<softmax_grid(n), THREADS>>>(d_logits->data, probs->data,
                                                          d_probs->data, n, k);
    LAUNCH_CHECK();
}

/* torch.optim.Adam, as unic_cpu_adam_step: the bias corrections are computed
 * on the host with the same expressions so both devices use identical
 * constants. */
extern "C" void unic_cuda_adam_step(unic_tensor *param, const unic_tensor *grad, unic_tensor *m,
                                    unic_tensor *v, float lr, float beta1, float beta2, float eps,
                                    float weight_decay, int64_t t)
{
    const char *op = "unic_cuda_adam_step";
    require_device(param, op, "param");
    require_device(grad, op, "grad");
    require_device(m, op, "m");
    require_device(v, op, "v");
    int64_t n = unic_numel(param);
    float bc1 = 1.0f - powf(beta1, (float)t), bc2 = 1.0f - powf(beta2, (float)t);
    float step = lr / bc1, inv_sqrt_bc2 = 1.0f / sqrtf(bc2);
    if (n == 0) return;
    adam_kernel<<<grid_for(n), THREADS>>>(param->data, grad->data, m->data, v->data, n, beta1,
                                          beta2, eps, weight_decay, step, inv_sqrt_bc2);
    LAUNCH_CHECK();
}

extern "C" void unic_cuda_scale(unic_tensor *t, float s)
{
    require_device(t, "unic_cuda_scale", "t");
    int64_t n = unic_numel(t);
    if (n == 0) return;
    scale_kernel<<<grid_for(n), THREADS>>>(t->data, s, n);
    LAUNCH_CHECK();
}

/* ---- LayerNorm and attention (the ViT blocks) --------------------------- */

/* Each row's mean and 1 / sqrt(var + eps), one warp per row, two passes in
 * double as the CPU reference. */
static __global__ void row_stats_kernel(double *stats, const float *x, int64_t rows, int64_t d, float eps)
{
    int lane = threadIdx.x & 31;
    int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; r < rows;
         r += warps) {
        const float *xr = x + r * d;
        double s = 0;
        for (int64_t c = lane; c < d; c += 32) s += xr[c];
        double mean = warp_sum(s) / (double)d, v = 0;
        for (int64_t c = lane; c < d; c += 32) v += (xr[c] - mean) * (xr[c] - mean);
        v = warp_sum(v);
        if (lane == 0) {
            stats[2 * r] = mean;
            stats[2 * r + 1] = 1.0 / sqrt(v / (double)d + eps);
        }
    }
}

static __global__ void layer_norm_forward_kernel(float *y, const float *x, const double *stats,
                                          const float *w, const float *b, int64_t rows, int64_t d)
{
    int64_t n = rows * d, stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        int64_t r = i / d, c = i % d;
        y[i] = (float)((x[i] - stats[2 * r]) * stats[2 * r + 1]) * w[c] + b[c];
    }
}

/* d_in += inv (dy w - mean(dy w) - xhat mean(dy w xhat)), a warp per row. */
static __global__ void layer_norm_backward_input_kernel(float *dx, const float *dy, const float *x,
                                                 const double *stats, const float *w,
                                                 int64_t rows, int64_t d)
{
    int lane = threadIdx.x & 31;
    int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; r < rows;
         r += warps) {
        const float *xr = x + r * d, *gr = dy + r * d;
        double mean = stats[2 * r], inv = stats[2 * r + 1], m1 = 0, m2 = 0;
        for (int64_t c = lane; c < d; c += 32) {
            double g = (double)gr[c] * w[c];
            m1 += g;
            m2 += g * (xr[c] - mean) * inv;
        }
        m1 = warp_sum(m1) / (double)d;
        m2 = warp_sum(m2) / (double)d;
        for (int64_t c = lane; c < d; c += 32) {
            double xhat = (xr[c] - mean) * inv;
            dx[r * d + c] += (float)(inv * ((double)gr[c] * w[c] - m1 - xhat * m2));
        }
    }
}

/* Column sums over many rows in two deterministic passes: blockIdx.y takes
 * a slice of COLUMN_SLICE rows and a thread per column sums it (adjacent
 * threads read adjacent columns, so the loads coalesce) into part[slice];
 * then column_finish adds the slices in order. LayerNorm's d_w (sum dy xhat)
 * and d_b (sum dy), and LayerScale's column_dot (sum a b). */
#define COLUMN_SLICE 512

static __global__ void layer_norm_params_part_kernel(double *part, const float *dy, const float *x,
                                              const double *stats, int64_t rows, int64_t d)
{
    int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= d) return;
    int64_t r0 = (int64_t)blockIdx.y * COLUMN_SLICE;
    int64_t r1 = r0 + COLUMN_SLICE < rows ? r0 + COLUMN_SLICE : rows;
    double sw = 0, sb = 0;
    for (int64_t r = r0; r < r1; r++) {
        double g = dy[r * d + c];
        sw += g * (x[r * d + c] - stats[2 * r]) * stats[2 * r + 1];
        sb += g;
    }
    part[(int64_t)blockIdx.y * 2 * d + c] = sw;
    part[(int64_t)blockIdx.y * 2 * d + d + c] = sb;
}

static __global__ void column_dot_part_kernel(double *part, const float *a, const float *b,
                                              int64_t rows,
                                       int64_t d)
{
    int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= d) return;
    int64_t r0 = (int64_t)blockIdx.y * COLUMN_SLICE;
    int64_t r1 = r0 + COLUMN_SLICE < rows ? r0 + COLUMN_SLICE : rows;
    double acc = 0;
    for (int64_t r = r0; r < r1; r++) acc += (double)a[r * d + c] * b[r * d + c];
    part[(int64_t)blockIdx.y * d + c] = acc;
}

/* out[j] += the sum over slices of part[slice * width + j]: out0 takes
 * j < d, out1 the rest (LayerNorm's d_w, then d_b); either may be NULL. */
static __global__ void column_finish_kernel(float *out0, float *out1, const double *part,
                                            int64_t slices,
                                     int64_t d, int64_t width)
{
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= width) return;
    double acc = 0;
    for (int64_t sl = 0; sl < slices; sl++) acc += part[sl * width + j];
    float *out = j < d ? out0 : out1;
    if (out) out[j % d] += (float)acc;
}

static unsigned column_blocks(int64_t d) { return (unsigned)((d + THREADS - 1) / THREADS); }
static int64_t column_slices(int64_t rows) { return (rows + COLUMN_SLICE - 1) / COLUMN_SLICE; }

static double *row_stats(const unic_tensor *in, float eps)
{
    int64_t rows = in->shape[0], d = unic_row_size(in);
    double *stats = (double *)unic_cuda_malloc(sizeof(double) * 2 * (size_t)(rows ? rows : 1));
    if (rows) row_stats_kernel<<<softmax_grid(rows), THREADS>>>(stats, in->data, rows, d, eps);
    LAUNCH_CHECK();
    return stats;
}

extern "C" void unic_cuda_layer_norm_forward(unic_tensor *out, const unic_tensor *in,
                                             const unic_tensor *w, const unic_tensor *b, float eps)
{
    const char *op = "unic_cuda_layer_norm_forward";
    require_device(out, op, "out");
    require_device(in, op, "in");
    require_device(w, op, "w");
    require_device(b, op, "b");
    int64_t rows = in->shape[0], d = unic_row_size(in);
    if (rows * d == 0) return;
    double *stats = row_stats(in, eps);
    layer_norm_forward_kernel<<<grid_for(rows * d), THREADS>>>(out->data, in->data, stats,
                                                               w->data, b->data, rows, d);
    LAUNCH_CHECK();
    unic_cuda_free(stats);
}

extern "C" void unic_cuda_layer_norm_backward(unic_tensor *d_in, unic_tensor *d_w, unic_tensor *d_b,
                                              const unic_tensor *d_out, const unic_tensor *in,
                                              const unic_tensor *w, float eps)
{
    const char *op = "unic_cuda_layer_norm_backward";
    require_device(d_in, op, "d_in");
    require_device(d_w, op, "d_w");
    require_device(d_b, op, "d_b");
    require_device(d_out, op, "d_out");
    require_device(in, op, "in");
    require_device(w, op, "w");
    int64_t rows = in->shape[0], d = unic_row_size(in);
    if (rows * d == 0) return;
    double *stats = row_stats(in, eps);
    if (d_in)
        layer_norm_backward_input_kernel<<<softmax_grid(rows), THREADS>>>(
            d_in->data, d_out->data, in->data, stats, w->data, rows, d);
    LAUNCH_CHECK();
    if (d_w || d_b) {
        int64_t slices = column_slices(rows);
        double *part = (double *)unic_cuda_malloc(sizeof(double) * (size_t)(slices * 2 * d));
        dim3 grid(column_blocks(d), (unsigned)slices);
        layer_norm_params_part_kernel<<<grid, THREADS>>>(part, d_out->data, in->data, stats, rows,
                                                         d);
        LAUNCH_CHECK();
        column_finish_kernel<<<column_blocks(2 * d), THREADS>>>(
            d_w ? d_w->data : NULL, d_b ? d_b->data : NULL, part, slices, d, 2 * d);
        LAUNCH_CHECK();
        unic_cuda_free(part);
    }
    unic_cuda_free(stats);
}

/* In place over rows of k, one warp per row (softmax_forward_kernel with p = z). */
static __global__ void softmax_rows_kernel(float *s, int64_t rows, int64_t k)
{
    int lane = threadIdx.x & 31;
    int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; r < rows;
         r += warps) {
        float *sr = s + r * k, mx = -INFINITY;
        for (int64_t j = lane; j < k; j += 32) mx = fmaxf(mx, sr[j]);
        mx = warp_max(mx);
        double sum = 0.0;
        for (int64_t j = lane; j < k; j += 32) {
            float e = expf(sr[j] - mx);
            sr[j] = e;
            sum += e;
        }
        float inv = (float)(1.0 / warp_sum(sum));
        for (int64_t j = lane; j < k; j += 32) sr[j] *= inv;
    }
}

/* dS = P (dP - rowsum(P dP)) in place of dP: rows of head `head`, whose P
 * rows sit at probs[((b heads + head) T + i) T] and dP rows at ds[(b T + i) T]. */
static __global__ void attention_ds_kernel(float *ds, const float *probs, int64_t images, int64_t t,
                                    int64_t heads, int64_t head)
{
    int lane = threadIdx.x & 31;
    int64_t rows = images * t, warps = (int64_t)gridDim.x * (blockDim.x / 32);
    for (int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; r < rows;
         r += warps) {
        int64_t b = r / t, i = r % t;
        const float *p = probs + ((b * heads + head) * t + i) * t;
        float *g = ds + r * t;
        double dot = 0;
        for (int64_t j = lane; j < t; j += 32) dot += (double)p[j] * g[j];
        dot = warp_sum(dot);
        for (int64_t j = lane; j < t; j += 32) g[j] = p[j] * (float)(g[j] - dot);
    }
}

/* Row-major data read column-major is transposed, so each product below is
 * written for the transposes: with Qc = Q^T ([hd, T], leading dimension 3 d)
 * and likewise Kc, Vc, Oc, and Pc = P^T (leading dimension T). One strided
 * batched GEMM per head covers every image. */
static void batched(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha,
                    const float *a, int lda, long long sa, const float *b, int ldb, long long sb,
                    float beta, float *c, int ldc, long long sc, int batch)
{
    CUBLAS_CHECK(cublasSgemmStridedBatched(blas(), ta, tb, m, n, k, &alpha, a, lda, sa, b, ldb,
                                           sb, &beta, c, ldc, sc, batch));
}

extern "C" void unic_cuda_attention_forward(unic_tensor *out, unic_tensor *probs,
                                            const unic_tensor *qkv, int tokens, int heads)
{
    const char *op = "unic_cuda_attention_forward";
    require_device(out, op, "out");
    require_device(probs, op, "probs");
    require_device(qkv, op, "qkv");
    int64_t t = tokens, d = out->shape[1], hd = d / heads, images = out->shape[0] / t;
    if (images == 0) return;
    float scale = 1.0f / sqrtf((float)hd);
    float *p = probs ? probs->data
                     : (float *)unic_cuda_malloc(sizeof(float) * (size_t)(images * heads * t * t));
    int T = as_int(t, op), HD = as_int(hd, op), D3 = as_int(3 * d, op), D = as_int(d, op);
    int n = as_int(images, op);
    for (int64_t h = 0; h < heads; h++) { /* S^T = scale K Q^T: (Kc)^T Qc */
        const float *q = qkv->data + h * hd, *k = q + d;
        batched(CUBLAS_OP_T, CUBLAS_OP_N, T, T, HD, scale, k, D3, t * 3 * d, q, D3, t * 3 * d,
                0.0f, p + h * t * t, T, heads * t * t, n);
    }
    softmax_rows_kernel<<<softmax_grid(images * heads * t), THREADS>>>(p, images * heads * t, t);
    LAUNCH_CHECK();
    for (int64_t h = 0; h < heads; h++) { /* O^T = V^T P^T: Vc Pc */
        const float *v = qkv->data + 2 * d + h * hd;
        batched(CUBLAS_OP_N, CUBLAS_OP_N, HD, T, T, 1.0f, v, D3, t * 3 * d, p + h * t * t, T,
                heads * t * t, 0.0f, out->data + h * hd, D, t * d, n);
    }
    if (!probs) unic_cuda_free(p);
}

extern "C" void unic_cuda_attention_backward(unic_tensor *d_qkv, const unic_tensor *d_out,
                                             const unic_tensor *qkv, const unic_tensor *probs,
                                             int tokens, int heads)
{
    const char *op = "unic_cuda_attention_backward";
    require_device(d_qkv, op, "d_qkv");
    require_device(d_out, op, "d_out");
    require_device(qkv, op, "qkv");
    require_device(probs, op, "probs");
    int64_t t = tokens, d = d_out->shape[1], hd = d / heads, images = d_out->shape[0] / t;
    if (images == 0) return;
    float scale = 1.0f / sqrtf((float)hd);
    int T = as_int(t, op), HD = as_int(hd, op), D3 = as_int(3 * d, op), D = as_int(d, op);
    int n = as_int(images, op);
    float *ds = (float *)unic_cuda_malloc(sizeof(float) * (size_t)(images * t * t));
    for (int64_t h = 0; h < heads; h++) {
        const float *q = qkv->data + h * hd, *k = q + d, *v = q + 2 * d;
        const float *p = probs->data + h * t * t, *dout = d_out->data + h * hd;
        float *dq = d_qkv->data + h * hd, *dk = dq + d, *dv = dq + 2 * d;
        /* dV^T += dO^T P: dOc (Pc)^T */
        batched(CUBLAS_OP_N, CUBLAS_OP_T, HD, T, T, 1.0f, dout, D, t * d, p, T, heads * t * t,
                1.0f, dv, D3, t * 3 * d, n);
        /* dP^T = V dO^T: (Vc)^T dOc */
        batched(CUBLAS_OP_T, CUBLAS_OP_N, T, T, HD, 1.0f, v, D3, t * 3 * d, dout, D, t * d, 0.0f,
                ds, T, t * t, n);
        attention_ds_kernel<<<softmax_grid(images * t), THREADS>>>(ds, probs->data, images, t,
                                                                    heads, h);
        LAUNCH_CHECK();
        /* dQ^T += scale K^T dS^T: Kc dSc */
        batched(CUBLAS_OP_N, CUBLAS_OP_N, HD, T, T, scale, k, D3, t * 3 * d, ds, T, t * t, 1.0f,
                dq, D3, t * 3 * d, n);
        /* dK^T += scale Q^T dS: Qc (dSc)^T */
        batched(CUBLAS_OP_N, CUBLAS_OP_T, HD, T, T, scale, q, D3, t * 3 * d, ds, T, t * t, 1.0f,
                dk, D3, t * 3 * d, n);
    }
    unic_cuda_free(ds);
}

static __global__ void add_kernel(float *y, const float *x, float alpha, int64_t n)
{
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        y[i] += alpha * x[i];
}

extern "C" void unic_cuda_add(unic_tensor *y, const unic_tensor *x, float alpha)
{
    require_device(y, "unic_cuda_add", "y");
    require_device(x, "unic_cuda_add", "x");
    int64_t n = unic_numel(y);
    if (n == 0) return;
    add_kernel<<<grid_for(n), THREADS>>>(y->data, x->data, alpha, n);
    LAUNCH_CHECK();
}

static __global__ void scale_columns_kernel(float *y, const float *gamma, int64_t n, int64_t d)
{
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        y[i] *= gamma[i % d];
}


extern "C" void unic_cuda_scale_columns(unic_tensor *y, const unic_tensor *gamma)
{
    require_device(y, "unic_cuda_scale_columns", "y");
    require_device(gamma, "unic_cuda_scale_columns", "gamma");
    int64_t n = unic_numel(y), d = unic_numel(gamma);
    if (n == 0) return;
    scale_columns_kernel<<<grid_for(n), THREADS>>>(y->data, gamma->data, n, d);
    LAUNCH_CHECK();
}

extern "C" void unic_cuda_column_dot(unic_tensor *d_gamma, const unic_tensor *a,
                                     const unic_tensor *b)
{
    require_device(d_gamma, "unic_cuda_column_dot", "d_gamma");
    require_device(a, "unic_cuda_column_dot", "a");
    require_device(b, "unic_cuda_column_dot", "b");
    int64_t d = unic_numel(d_gamma), rows = unic_numel(a) / (d ? d : 1);
    if (d == 0 || rows == 0) return;
    int64_t slices = column_slices(rows);
    double *part = (double *)unic_cuda_malloc(sizeof(double) * (size_t)(slices * d));
    dim3 grid(column_blocks(d), (unsigned)slices);
    column_dot_part_kernel<<<grid, THREADS>>>(part, a->data, b->data, rows, d);
    LAUNCH_CHECK();
    column_finish_kernel<<<column_blocks(d), THREADS>>>(d_gamma->data, NULL, part, slices, d, d);
    LAUNCH_CHECK();
    unic_cuda_free(part);
}

/* ---- convolution and batch norm on channel-major activations ------------ */

#define THREADS_PER_CHANNEL 256 /* a power of two: the shared-memory tree halves it */


/* A thread per col element. */
static __global__ void im2col_kernel(float *col, const float *in, int64_t rows, int n, int H, int W,
                              int k, int s, int p, int Ho, int Wo)
{
    int64_t M = (int64_t)n * Ho * Wo, total = rows * M, stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int64_t r = i / M, m = i % M, c = r / (k * k);
        int ky = (int)(r / k % k), kx = (int)(r % k);
        int64_t b = m / ((int64_t)Ho * Wo);
        int oy = (int)(m / Wo % Ho), ox = (int)(m % Wo);
        int iy = oy * s - p + ky, ix = ox * s - p + kx;
        col[i] = iy >= 0 && iy < H && ix >= 0 && ix < W
                     ? in[((c * n + b) * H + iy) * (int64_t)W + ix]
                     : 0.0f;
    }
}

/* A thread per input pixel gathers the col entries that read it, so no two
 * threads write one place (no atomics, a fixed summation order). */
static __global__ void col2im_kernel(float *d_in, const float *col, int64_t channels, int n, int H, int W,
                              int k, int s, int p, int Ho, int Wo)
{
    int64_t M = (int64_t)n * Ho * Wo, total = channels * n * H * W;
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int ix = (int)(i % W), iy = (int)(i / W % H);
        int64_t b = i / ((int64_t)H * W) % n, c = i / ((int64_t)n * H * W);
        float acc = 0.0f;
        for (int ky = 0; ky < k; ky++) {
            int ty = iy + p - ky;
            if (ty < 0 || ty % s) continue;
            int oy = ty / s;
            if (oy >= Ho) continue;
            for (int kx = 0; kx < k; kx++) {
                int tx = ix + p - kx;
                if (tx < 0 || tx % s) continue;
                int ox = tx / s;
                if (ox >= Wo) continue;
                acc += col[((c * k + ky) * k + kx) * M + (b * Ho + oy) * Wo + ox];
            }
        }
        d_in[i] += acc;
    }
}

/* The CPU's bn_coefficients, in double on the device. */
static __device__ inline void bn_coefficients(const float *w, const float *b, const float *mean,
                                              const float *var, float eps, int64_t c, float *scale,
                                              float *shift)
{
    double sc = w[c] / sqrt((double)var[c] + eps);
    *scale = (float)sc;
    *shift = (float)(b[c] - mean[c] * sc);
}

static __global__ void batch_norm_forward_kernel(float *y, const float *x, const float *w, const float *b,
                                          const float *mean, const float *var, float eps,
                                          const float *residual, int relu, int64_t C, int64_t m)
{
    int64_t total = C * m, stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        float sc, sh;
        bn_coefficients(w, b, mean, var, eps, i / m, &sc, &sh);
        float v = x[i] * sc + sh + (residual ? residual[i] : 0.0f);
        y[i] = relu && !(v > 0.0f) ? 0.0f : v;
    }
}

/* dx += dy w / sqrt(var + eps), element-wise. */
static __global__ void batch_norm_backward_input_kernel(float *dx, const float *dy, const float *w,
                                                 const float *var, float eps, int64_t C, int64_t m)
{
    int64_t total = C * m, stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int64_t c = i / m;
        dx[i] += dy[i] * (float)(w[c] / sqrt((double)var[c] + eps));
    }
}

/* A block per channel: sums of dy and dy (x - mean) over its row, strided
 * over the threads, then a tree in shared memory (fixed order). */
static __global__ void batch_norm_backward_params_kernel(float *dw, float *db, const float *dy,
                                                  const float *x, const float *mean,
                                                  const float *var, float eps, int64_t m)
{
    __shared__ double sg[THREADS_PER_CHANNEL], sgx[THREADS_PER_CHANNEL];
    int64_t c = blockIdx.x;
    const float *g = dy + c * m, *xr = x + c * m;
    double mu = mean[c], a = 0, ax = 0;
    for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
        a += g[i];
        ax += g[i] * (xr[i] - mu);
    }
    sg[threadIdx.x] = a;
    sgx[threadIdx.x] = ax;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half) {
            sg[threadIdx.x] += sg[threadIdx.x + half];
            sgx[threadIdx.x] += sgx[threadIdx.x + half];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        if (dw) dw[c] += (float)(sgx[0] / sqrt((double)var[c] + eps));
        if (db) db[c] += (float)sg[0];
    }
}

static __global__ void relu_backward_kernel(float *d, const float *y, int64_t n)
{
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        if (!(y[i] > 0.0f)) d[i] = 0.0f;
}

static __global__ void max_pool_forward_kernel(float *out, const float *in, int64_t planes, int H,
                                               int W,
                                        int k, int s, int p, int Ho, int Wo)
{
    int64_t total = planes * Ho * Wo, stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int64_t pl = i / ((int64_t)Ho * Wo);
        int oy = (int)(i / Wo % Ho), ox = (int)(i % Wo);
        const float *src = in + pl * H * W;
        out[i] = src[unic_pool_argmax(src, H, W, oy, ox, k, s, p)];
    }
}

/* A thread per input pixel adds the gradients of the windows whose argmax
 * it is (no atomics; the same windows in the same order as the CPU). */
static __global__ void max_pool_backward_kernel(float *d_in, const float *d_out, const float *in,
                                         int64_t planes, int H, int W, int k, int s, int p, int Ho,
                                         int Wo)
{
    int64_t total = planes * H * W, stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int64_t pl = i / ((int64_t)H * W), here = i % ((int64_t)H * W);
        int iy = (int)(here / W), ix = (int)(here % W);
        const float *src = in + pl * H * W;
        /* the windows covering (iy, ix): oy s - p <= iy < oy s - p + k */
        int ylo = iy + p - k + 1, xlo = ix + p - k + 1;
        int oy0 = ylo <= 0 ? 0 : (ylo + s - 1) / s, oy1 = min((iy + p) / s, Ho - 1);
        int ox0 = xlo <= 0 ? 0 : (xlo + s - 1) / s, ox1 = min((ix + p) / s, Wo - 1);
        float acc = 0.0f;
        for (int oy = oy0; oy <= oy1; oy++)
            for (int ox = ox0; ox <= ox1; ox++)
                if (unic_pool_argmax(src, H, W, oy, ox, k, s, p) == here)
                    acc += d_out[(pl * Ho + oy) * Wo + ox];
        d_in[i] += acc;
    }
}

extern "C" void unic_cuda_im2col(unic_tensor *col, const unic_tensor *in, int images, int height,
                                 int width, int kernel, int stride, int pad)
{
    require_device(col, "unic_cuda_im2col", "col");
    require_device(in, "unic_cuda_im2col", "in");
    int Ho = unic_conv_out(height, kernel, stride, pad);
    int Wo = unic_conv_out(width, kernel, stride, pad);
    int64_t rows = in->shape[0] * (int64_t)kernel * kernel;
    int64_t total = rows * images * Ho * Wo;
    if (total == 0) return;
    im2col_kernel<<<grid_for(total), THREADS>>>(col->data, in->data, rows, images, height, width,
                                                kernel, stride, pad, Ho, Wo);
    LAUNCH_CHECK();
}

extern "C" void unic_cuda_col2im(unic_tensor *d_in, const unic_tensor *col, int images, int height,
                                 int width, int kernel, int stride, int pad)
{
    require_device(d_in, "unic_cuda_col2im", "d_in");
    require_device(col, "unic_cuda_col2im", "col");
    int Ho = unic_conv_out(height, kernel, stride, pad);
    int Wo = unic_conv_out(width, kernel, stride, pad);
    int64_t total = unic_numel(d_in);
    if (total == 0) return;
    col2im_kernel<<<grid_for(total), THREADS>>>(d_in->data, col->data, d_in->shape[0], images,
                                                height, width, kernel, stride, pad, Ho, Wo);
    LAUNCH_CHECK();
}

extern "C" void unic_cuda_batch_norm_forward(unic_tensor *y, const unic_tensor *x,
                                             const unic_tensor *w, const unic_tensor *b,
                                             const unic_tensor *mean, const unic_tensor *var,
                                             float eps, const unic_tensor *residual, int relu)
{
    const char *op = "unic_cuda_batch_norm_forward";
    require_device(y, op, "y");
    require_device(x, op, "x");
    require_device(w, op, "w");
    require_device(b, op, "b");
    require_device(mean, op, "mean");
    require_device(var, op, "var");
    require_device(residual, op, "residual");
    int64_t C = x->shape[0], m = unic_row_size(x);
    if (C * m == 0) return;
    batch_norm_forward_kernel<<<grid_for(C * m), THREADS>>>(
        y->data, x->data, w->data, b->data, mean->data, var->data, eps,
        residual ? residual->data : NULL, relu, C, m);
    LAUNCH_CHECK();
}

extern "C" void unic_cuda_batch_norm_backward(unic_tensor *dx, unic_tensor *dw, unic_tensor *db,
                                              const unic_tensor *dy, const unic_tensor *x,
                                              const unic_tensor *w, const unic_tensor *mean,
                                              const unic_tensor *var, float eps)
{
    const char *op = "unic_cuda_batch_norm_backward";
    require_device(dx, op, "dx");
    require_device(dw, op, "dw");
    require_device(db, op, "db");
    require_device(dy, op, "dy");
    require_device(x, op, "x");
    require_device(w, op, "w");
    require_device(mean, op, "mean");
    require_device(var, op, "var");
    int64_t C = x->shape[0], m = unic_row_size(x);
    if (C * m == 0) return;
    if (dw || db) {
        batch_norm_backward_params_kernel<<<(unsigned)C, THREADS_PER_CHANNEL>>>(
            dw ? dw->data : NULL, db ? db->data : NULL, dy->data, x->data, mean->data, var->data,
            eps, m);
        LAUNCH_CHECK();
    }
    if (dx) {
        batch_norm_backward_input_kernel<<<grid_for(C * m), THREADS>>>(dx->data, dy->data, w->data,
                                                                       var->data, eps, C, m);
        LAUNCH_CHECK();
    }
}

extern "C" void unic_cuda_relu_backward(unic_tensor *d, const unic_tensor *y)
{
    require_device(d, "unic_cuda_relu_backward", "d");
    require_device(y, "unic_cuda_relu_backward", "y");
    int64_t n = unic_numel(d);
    if (n == 0) return;
    relu_backward_kernel<<<grid_for(n), THREADS>>>(d->data, y->data, n);
    LAUNCH_CHECK();
}

extern "C" void unic_cuda_max_pool_forward(unic_tensor *out, const unic_tensor *in, int height,
                                           int width, int kernel, int stride, int pad)
{
    require_device(out, "unic_cuda_max_pool_forward", "out");
    require_device(in, "unic_cuda_max_pool_forward", "in");
    int Ho = unic_conv_out(height, kernel, stride, pad);
    int Wo = unic_conv_out(width, kernel, stride, pad);
    int64_t total = in->shape[0] * Ho * Wo;
    if (total == 0) return;
    max_pool_forward_kernel<<<grid_for(total), THREADS>>>(out->data, in->data, in->shape[0], height,
                                                          width, kernel, stride, pad, Ho, Wo);
    LAUNCH_CHECK();
}

extern "C" void unic_cuda_max_pool_backward(unic_tensor *d_in, const unic_tensor *d_out,
                                            const unic_tensor *in, int height, int width,
                                            int kernel, int stride, int pad)
{
    require_device(d_in, "unic_cuda_max_pool_backward", "d_in");
    require_device(d_out, "unic_cuda_max_pool_backward", "d_out");
    require_device(in, "unic_cuda_max_pool_backward", "in");
    int Ho = unic_conv_out(height, kernel, stride, pad);
    int Wo = unic_conv_out(width, kernel, stride, pad);
    int64_t total = unic_numel(d_in);
    if (total == 0) return;
    max_pool_backward_kernel<<<grid_for(total), THREADS>>>(d_in->data, d_out->data, in->data,
                                                           in->shape[0], height, width, kernel,
                                                           stride, pad, Ho, Wo);
    LAUNCH_CHECK();
}
