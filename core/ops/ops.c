/* Tensor memory and the one place where ops dispatch on the device tag. */
#include "ops/ops.h"

#include <stdatomic.h>
#include <string.h>

#include "unic/rng.h"
#include "base/util.h"

static void *device_alloc(unic_device dev, size_t bytes)
{
#ifdef UNIC_WITH_CUDA
    if (dev == UNIC_CUDA) return unic_cuda_malloc(bytes);
#endif
    if (dev == UNIC_CUDA) unic_die("a CUDA tensor was requested but unic was built without CUDA");
    return unic_xmalloc(bytes);
}

/* Bytes held by live tensors, per device: training's memory plan measures
 * what a head's setup allocated for its largest step. */
static _Atomic int64_t live_bytes[2];

static void count_bytes(unic_device dev, const unic_tensor *t, int sign)
{
    atomic_fetch_add(&live_bytes[dev == UNIC_CUDA], sign * unic_numel(t) * (int64_t)sizeof(float));
}

int64_t unic_tensor_live_bytes(unic_device dev) { return atomic_load(&live_bytes[dev == UNIC_CUDA]); }

unic_tensor *unic_tensor_new(unic_device dev, int ndim, const int64_t *shape)
{
    if (ndim < 1 || ndim > UNIC_MAX_DIMS) unic_die("tensor with %d dimensions", ndim);
    unic_tensor *t = unic_xcalloc(1, sizeof *t);
    t->ndim = ndim;
    t->device = dev;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = device_alloc(dev, (size_t)unic_numel(t) * sizeof(float));
    count_bytes(dev, t, 1);
    unic_tensor_zero(t);
    return t;
}

unic_tensor *unic_tensor_2d(unic_device dev, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    return unic_tensor_new(dev, 2, shape);
}

void unic_tensor_free(unic_tensor *t)
{
    if (!t) return;
    count_bytes(t->device, t, -1);
#ifdef UNIC_WITH_CUDA
    if (t->device == UNIC_CUDA) {
        unic_cuda_free(t->data);
        unic_xfree(t);
        return;
    }
#endif
    unic_xfree(t->data);
    unic_xfree(t);
}

void unic_tensor_zero(unic_tensor *t)
{
    size_t bytes = (size_t)unic_numel(t) * sizeof(float);
#ifdef UNIC_WITH_CUDA
    if (t->device == UNIC_CUDA) {
        unic_cuda_memset0(t->data, bytes);
        return;
    }
#endif
    memset(t->data, 0, bytes);
}

void unic_tensor_copy(unic_tensor *dst, const unic_tensor *src)
{
    size_t bytes = (size_t)unic_numel(src) * sizeof(float);
    if (unic_numel(dst) != unic_numel(src)) unic_die("tensor_copy: element counts differ");
#ifdef UNIC_WITH_CUDA
    if (dst->device == UNIC_CUDA || src->device == UNIC_CUDA) {
        int kind = src->device == UNIC_CPU ? 0 : (dst->device == UNIC_CPU ? 1 : 2);
        unic_cuda_memcpy(dst->data, src->data, bytes, kind);
        return;
    }
#endif
    memmove(dst->data, src->data, bytes);
}

void unic_tensor_move(unic_tensor *t, unic_device dev)
{
    if (t->device == dev) return;
    size_t bytes = (size_t)unic_numel(t) * sizeof(float);
    float *data = device_alloc(dev, bytes);
    unic_tensor moved = *t;
    moved.data = data;
    moved.device = dev;
    unic_tensor_copy(&moved, t);
    unic_tensor old = *t;
    *t = moved;
    count_bytes(old.device, &old, -1);
    count_bytes(dev, t, 1);
#ifdef UNIC_WITH_CUDA
    if (old.device == UNIC_CUDA) {
        unic_cuda_free(old.data);
        return;
    }
#endif
    unic_xfree(old.data);
}

bool unic_cuda_available(void)
{
#ifdef UNIC_WITH_CUDA
    return unic_cuda_device_count() > 0;
#else
    return false;
#endif
}

#ifdef UNIC_WITH_CUDA
#define DISPATCH(t, call)                  \
    do {                                   \
        if ((t)->device == UNIC_CUDA)      \
            unic_cuda_##call;              \
        else                               \
            unic_cpu_##call;               \
    } while (0)
#else
#define DISPATCH(t, call) unic_cpu_##call
#endif

void unic_gemm(int ta, int tb, float alpha, const unic_tensor *a, const unic_tensor *b, float beta,
               unic_tensor *c)
{
    DISPATCH(c, gemm(ta, tb, alpha, a, b, beta, c));
}

void unic_linear_forward(unic_tensor *out, const unic_tensor *in, const unic_tensor *w,
                         const unic_tensor *b)
{
    DISPATCH(out, linear_forward(out, in, w, b));
}

void unic_linear_backward(unic_tensor *d_in, unic_tensor *d_w, unic_tensor *d_b,
                          const unic_tensor *d_out, const unic_tensor *in, const unic_tensor *w)
{
    DISPATCH(d_out, linear_backward(d_in, d_w, d_b, d_out, in, w));
}

void unic_gelu_forward(unic_tensor *out, const unic_tensor *in)
{
    DISPATCH(out, gelu_forward(out, in));
}

void unic_gelu_backward(unic_tensor *d_in, const unic_tensor *in, const unic_tensor *d_out)
{
    DISPATCH(d_in, gelu_backward(d_in, in, d_out));
}

void unic_layer_norm_forward(unic_tensor *out, const unic_tensor *in, const unic_tensor *w,
                             const unic_tensor *b, float eps)
{
    DISPATCH(out, layer_norm_forward(out, in, w, b, eps));
}

void unic_layer_norm_backward(unic_tensor *d_in, unic_tensor *d_w, unic_tensor *d_b,
                              const unic_tensor *d_out, const unic_tensor *in,
                              const unic_tensor *w, float eps)
{
    DISPATCH(d_out, layer_norm_backward(d_in, d_w, d_b, d_out, in, w, eps));
}

void unic_attention_forward(unic_tensor *out, unic_tensor *probs, const unic_tensor *qkv,
                            int tokens, int heads)
{
    DISPATCH(out, attention_forward(out, probs, qkv, tokens, heads));
}

void unic_attention_backward(unic_tensor *d_qkv, const unic_tensor *d_out, const unic_tensor *qkv,
                             const unic_tensor *probs, int tokens, int heads)
{
    DISPATCH(d_qkv, attention_backward(d_qkv, d_out, qkv, probs, tokens, heads));
}

void unic_softmax_forward(unic_tensor *probs, const unic_tensor *logits)
{
    DISPATCH(probs, softmax_forward(probs, logits));
}

void unic_softmax_backward(unic_tensor *d_logits, const unic_tensor *probs,
                           const unic_tensor *d_probs)
{
    DISPATCH(d_logits, softmax_backward(d_logits, probs, d_probs));
}

void unic_adam_step(unic_tensor *param, const unic_tensor *grad, unic_tensor *m, unic_tensor *v,
                    float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t)
{
    DISPATCH(param, adam_step(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, t));
}

void unic_scale(unic_tensor *t, float s) { DISPATCH(t, scale(t, s)); }

void unic_add(unic_tensor *y, const unic_tensor *x, float alpha)
{
    if (unic_numel(y) != unic_numel(x)) unic_die("add: element counts differ");
    DISPATCH(y, add(y, x, alpha));
}

/* Drawn on the host from one sequential stream whatever the device, so a
 * model starts from the same weights on the CPU and the GPU. */
void unic_fill_uniform(unic_tensor *t, float bound, uint64_t seed, uint64_t stream)
{
    int64_t n = unic_numel(t);
    float *host = t->device == UNIC_CPU ? t->data : unic_xmalloc((size_t)n * sizeof(float));
    unic_rng r = unic_rng_stream(seed, stream, 0);
    for (int64_t i = 0; i < n; i++) host[i] = (2.0f * unic_rng_uniform(&r) - 1.0f) * bound;
    if (host != t->data) {
        unic_tensor h = *t;
        h.device = UNIC_CPU;
        h.data = host;
        unic_tensor_copy(t, &h);
        unic_xfree(host);
    }
}

void unic_scale_columns(unic_tensor *y, const unic_tensor *gamma)
{
    if (unic_row_size(y) != unic_numel(gamma)) unic_die("scale_columns: gamma is not a row long");
    DISPATCH(y, scale_columns(y, gamma));
}

void unic_column_dot(unic_tensor *d_gamma, const unic_tensor *a, const unic_tensor *b)
{
    if (unic_numel(a) != unic_numel(b) || unic_row_size(a) != unic_numel(d_gamma))
        unic_die("column_dot: shapes do not agree");
    DISPATCH(d_gamma, column_dot(d_gamma, a, b));
}

void unic_im2col(unic_tensor *col, const unic_tensor *in, int images, int height, int width,
                 int kernel, int stride, int pad)
{
    DISPATCH(col, im2col(col, in, images, height, width, kernel, stride, pad));
}

void unic_col2im(unic_tensor *d_in, const unic_tensor *col, int images, int height, int width,
                 int kernel, int stride, int pad)
{
    DISPATCH(d_in, col2im(d_in, col, images, height, width, kernel, stride, pad));
}

void unic_batch_norm_forward(unic_tensor *y, const unic_tensor *x, const unic_tensor *w,
                             const unic_tensor *b, const unic_tensor *mean, const unic_tensor *var,
                             float eps, const unic_tensor *residual, int relu)
{
    DISPATCH(y, batch_norm_forward(y, x, w, b, mean, var, eps, residual, relu));
}

void unic_batch_norm_backward(unic_tensor *dx, unic_tensor *dw, unic_tensor *db,
                              const unic_tensor *dy, const unic_tensor *x, const unic_tensor *w,
                              const unic_tensor *mean, const unic_tensor *var, float eps)
{
    DISPATCH(dy, batch_norm_backward(dx, dw, db, dy, x, w, mean, var, eps));
}

void unic_relu_backward(unic_tensor *d, const unic_tensor *y) { DISPATCH(d, relu_backward(d, y)); }

/* A window of padding only would have no maximum (PyTorch refuses it too). */
static void check_pool(int kernel, int pad)
{
    if (2 * pad > kernel) unic_die("max_pool: pad %d is more than half the kernel %d", pad, kernel);
}

void unic_max_pool_forward(unic_tensor *out, const unic_tensor *in, int height, int width,
                           int kernel, int stride, int pad)
{
    check_pool(kernel, pad);
    DISPATCH(out, max_pool_forward(out, in, height, width, kernel, stride, pad));
}

void unic_max_pool_backward(unic_tensor *d_in, const unic_tensor *d_out, const unic_tensor *in,
                            int height, int width, int kernel, int stride, int pad)
{
    check_pool(kernel, pad);
    DISPATCH(d_in, max_pool_backward(d_in, d_out, in, height, width, kernel, stride, pad));
}
