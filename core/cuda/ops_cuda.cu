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
#include "ops.h"

/* util.h uses C11 _Noreturn, which C++ does not parse; declare what we use. */
extern "C" [[noreturn]] void unic_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CUDA_CHECK(call)                                                                   \
    do {                                                                                   \
        cudaError_t err_ = (call);                                                         \
        if (err_ != cudaSuccess)                                                           \
            unic_die("%s:%d: %s failed: %s", __FILE__, __LINE__, #call,                   \
                     cudaGetErrorString(err_));                                            \
    } while (0)

#define CUBLAS_CHECK(call)                                                                 \
    do {                                                                                   \
        cublasStatus_t st_ = (call);                                                       \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                  \
            unic_die("%s:%d: %s failed: %s", __FILE__, __LINE__, #call,                   \
                     cublasGetStatusString(st_));                                          \
    } while (0)

/* Launches are asynchronous: this catches bad configurations at once, and a
 * fault inside a kernel surfaces at the next checked call. */
#define LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())

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
