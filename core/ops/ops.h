/* The op layer: one function per op with an explicit forward and backward,
 * each dispatching on its tensors' device to the CPU reference (ops_cpu.c,
 * OpenBLAS + OpenMP) or the CUDA version (cuda/ops_cuda.cu). Gradient ops
 * accumulate into their outputs, as in llm.c. */
#ifndef UNIC_OPS_H
#define UNIC_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "unic/tensor.h"

unic_tensor *unic_tensor_new(unic_device dev, int ndim, const int64_t *shape);
unic_tensor *unic_tensor_2d(unic_device dev, int64_t rows, int64_t cols);
void unic_tensor_free(unic_tensor *t);
/* Bytes held by the live tensors of a device (views excluded). */
int64_t unic_tensor_live_bytes(unic_device dev);
void unic_tensor_zero(unic_tensor *t);
void unic_tensor_copy(unic_tensor *dst, const unic_tensor *src);
/* Moves t's data to dev in place (the struct keeps its address). */
void unic_tensor_move(unic_tensor *t, unic_device dev);

bool unic_cuda_available(void); /* compiled in and a GPU present */

void unic_gemm(int trans_a, int trans_b, float alpha, const unic_tensor *a, const unic_tensor *b,
               float beta, unic_tensor *c);
void unic_linear_forward(unic_tensor *out, const unic_tensor *in, const unic_tensor *w,
                         const unic_tensor *b);
void unic_linear_backward(unic_tensor *d_in, unic_tensor *d_w, unic_tensor *d_b,
                          const unic_tensor *d_out, const unic_tensor *in, const unic_tensor *w);
void unic_gelu_forward(unic_tensor *out, const unic_tensor *in);
void unic_gelu_backward(unic_tensor *d_in, const unic_tensor *in, const unic_tensor *d_out);
void unic_softmax_forward(unic_tensor *probs, const unic_tensor *logits);
void unic_softmax_backward(unic_tensor *d_logits, const unic_tensor *probs,
                           const unic_tensor *d_probs);
/* out[r] = (in[r] - mean) / sqrt(var + eps) * w + b over each row. */
void unic_layer_norm_forward(unic_tensor *out, const unic_tensor *in, const unic_tensor *w,
                             const unic_tensor *b, float eps);
/* d_in (may be NULL), d_w and d_b (may be NULL) accumulate. */
void unic_layer_norm_backward(unic_tensor *d_in, unic_tensor *d_w, unic_tensor *d_b,
                              const unic_tensor *d_out, const unic_tensor *in,
                              const unic_tensor *w, float eps);
/* Multi-head self-attention of images of `tokens` tokens: qkv [n T, 3 d]
 * (rows Q | K | V, each head-major) -> out [n T, d], scale 1 / sqrt(d /
 * heads); probs [n heads T, T] (may be NULL) keeps the softmax for backward. */
void unic_attention_forward(unic_tensor *out, unic_tensor *probs, const unic_tensor *qkv,
                            int tokens, int heads);
/* d_qkv [n T, 3 d] accumulates, from d_out [n T, d] and the forward's qkv, probs. */
void unic_attention_backward(unic_tensor *d_qkv, const unic_tensor *d_out, const unic_tensor *qkv,
                             const unic_tensor *probs, int tokens, int heads);
void unic_adam_step(unic_tensor *param, const unic_tensor *grad, unic_tensor *m, unic_tensor *v,
                    float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t);
void unic_fill_uniform(unic_tensor *t, float bound, uint64_t seed, uint64_t stream);
void unic_scale(unic_tensor *t, float s);
/* y += alpha x, element-wise. */
void unic_add(unic_tensor *y, const unic_tensor *x, float alpha);
/* y[r, c] *= gamma[c] (LayerScale), and its gradient d_gamma[c] += sum_r a[r, c] b[r, c]. */
void unic_scale_columns(unic_tensor *y, const unic_tensor *gamma);
void unic_column_dot(unic_tensor *d_gamma, const unic_tensor *a, const unic_tensor *b);
/* Convolutions on channel-major activations [C, n H W] (a ResNet's): im2col
 * gives col [C k k, n Ho Wo] so a convolution is one GEMM; col2im is its
 * adjoint and accumulates into d_in. */
void unic_im2col(unic_tensor *col, const unic_tensor *in, int images, int height, int width,
                 int kernel, int stride, int pad);
void unic_col2im(unic_tensor *d_in, const unic_tensor *col, int images, int height, int width,
                 int kernel, int stride, int pad);
/* Batch norm on running statistics over rows = channels of [C, m]:
 * y = x w / sqrt(var + eps) + (b - mean w / sqrt(var + eps)) (+ residual),
 * then ReLU if relu; backward accumulates dx (may be NULL), dw, db. */
void unic_batch_norm_forward(unic_tensor *y, const unic_tensor *x, const unic_tensor *w,
                             const unic_tensor *b, const unic_tensor *mean, const unic_tensor *var,
                             float eps, const unic_tensor *residual, int relu);
void unic_batch_norm_backward(unic_tensor *dx, unic_tensor *dw, unic_tensor *db,
                              const unic_tensor *dy, const unic_tensor *x, const unic_tensor *w,
                              const unic_tensor *mean, const unic_tensor *var, float eps);
/* d *= (y > 0): back through a ReLU whose output was y. */
void unic_relu_backward(unic_tensor *d, const unic_tensor *y);
/* Max pooling over planes [P, H W] -> [P, Ho Wo] (padding never wins; ties
 * go to the first maximum, as PyTorch); backward accumulates into d_in. */
void unic_max_pool_forward(unic_tensor *out, const unic_tensor *in, int height, int width,
                           int kernel, int stride, int pad);
void unic_max_pool_backward(unic_tensor *d_in, const unic_tensor *d_out, const unic_tensor *in,
                            int height, int width, int kernel, int stride, int pad);

/* Per-device implementations behind the dispatch, same signatures. */
#define UNIC_DECLARE_OPS(prefix)                                                                  \
    void prefix##_gemm(int trans_a, int trans_b, float alpha, const unic_tensor *a,             \
                       const unic_tensor *b, float beta, unic_tensor *c);                        \
    void prefix##_linear_forward(unic_tensor *out, const unic_tensor *in, const unic_tensor *w,  \
                                 const unic_tensor *b);                                          \
    void prefix##_linear_backward(unic_tensor *d_in, unic_tensor *d_w, unic_tensor *d_b,         \
                                  const unic_tensor *d_out, const unic_tensor *in,               \
                                  const unic_tensor *w);                                         \
    void prefix##_gelu_forward(unic_tensor *out, const unic_tensor *in);                         \
    void prefix##_gelu_backward(unic_tensor *d_in, const unic_tensor *in,                        \
                                const unic_tensor *d_out);                                       \
    void prefix##_softmax_forward(unic_tensor *probs, const unic_tensor *logits);                \
    void prefix##_softmax_backward(unic_tensor *d_logits, const unic_tensor *probs,              \
                                   const unic_tensor *d_probs);                                  \
    void prefix##_layer_norm_forward(unic_tensor *out, const unic_tensor *in,                    \
                                     const unic_tensor *w, const unic_tensor *b, float eps);     \
    void prefix##_layer_norm_backward(unic_tensor *d_in, unic_tensor *d_w, unic_tensor *d_b,     \
                                      const unic_tensor *d_out, const unic_tensor *in,           \
                                      const unic_tensor *w, float eps);                          \
    void prefix##_attention_forward(unic_tensor *out, unic_tensor *probs,                        \
                                    const unic_tensor *qkv, int tokens, int heads);              \
    void prefix##_attention_backward(unic_tensor *d_qkv, const unic_tensor *d_out,               \
                                     const unic_tensor *qkv, const unic_tensor *probs,           \
                                     int tokens, int heads);                                     \
    void prefix##_adam_step(unic_tensor *param, const unic_tensor *grad, unic_tensor *m,         \
                            unic_tensor *v, float lr, float beta1, float beta2, float eps,       \
                            float weight_decay, int64_t t);                                      \
    void prefix##_scale(unic_tensor *t, float s);                                                \
    void prefix##_add(unic_tensor *y, const unic_tensor *x, float alpha);                        \
    void prefix##_scale_columns(unic_tensor *y, const unic_tensor *gamma);                       \
    void prefix##_column_dot(unic_tensor *d_gamma, const unic_tensor *a, const unic_tensor *b);   \
    void prefix##_im2col(unic_tensor *col, const unic_tensor *in, int images, int height,        \
                         int width, int kernel, int stride, int pad);                            \
    void prefix##_col2im(unic_tensor *d_in, const unic_tensor *col, int images, int height,      \
                         int width, int kernel, int stride, int pad);                            \
    void prefix##_batch_norm_forward(unic_tensor *y, const unic_tensor *x, const unic_tensor *w, \
                                     const unic_tensor *b, const unic_tensor *mean,              \
                                     const unic_tensor *var, float eps,                          \
                                     const unic_tensor *residual, int relu);                     \
    void prefix##_batch_norm_backward(unic_tensor *dx, unic_tensor *dw, unic_tensor *db,         \
                                      const unic_tensor *dy, const unic_tensor *x,               \
                                      const unic_tensor *w, const unic_tensor *mean,             \
                                      const unic_tensor *var, float eps);                        \
    void prefix##_relu_backward(unic_tensor *d, const unic_tensor *y);                           \
    void prefix##_max_pool_forward(unic_tensor *out, const unic_tensor *in, int height,          \
                                   int width, int kernel, int stride, int pad);                  \
    void prefix##_max_pool_backward(unic_tensor *d_in, const unic_tensor *d_out,                 \
                                    const unic_tensor *in, int height, int width, int kernel,    \
                                    int stride, int pad);

#ifdef __cplusplus
extern "C" {
#endif
UNIC_DECLARE_OPS(unic_cpu)
#ifdef UNIC_WITH_CUDA
UNIC_DECLARE_OPS(unic_cuda)
void *unic_cuda_malloc(size_t bytes);
void unic_cuda_free(void *p);
void unic_cuda_memset0(void *p, size_t bytes);
/* kind: 0 host->device, 1 device->host, 2 device->device */
void unic_cuda_memcpy(void *dst, const void *src, size_t bytes, int kind);
int unic_cuda_device_count(void);
/* Page-locked host memory (cudaHostAlloc), for the loader's batch buffers:
 * copies from it to the GPU run at full speed and can overlap. */
void *unic_cuda_host_alloc(size_t bytes);
void unic_cuda_host_free(void *p);
#endif
#ifdef __cplusplus
}
#endif

#endif
