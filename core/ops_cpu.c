/* CPU reference for every op: OpenBLAS for the matrix products, OpenMP for
 * the element-wise loops. Reductions run in a fixed order so a run gives the
 * same numbers at any thread count. */
#include <cblas.h>
#include <math.h>

#include "unic/fastmath.h"
#include "ops.h"

#define PAR_MIN 16384 /* below this many elements threads cost more than they save */

void unic_cpu_gemm(int trans_a, int trans_b, float alpha, const unic_tensor *a,
                   const unic_tensor *b, float beta, unic_tensor *c)
{
    int m = (int)c->shape[0], n = (int)c->shape[1];
    int k = (int)(trans_a ? a->shape[0] : a->shape[1]);
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a->data, (int)a->shape[1],
                b->data, (int)b->shape[1], beta, c->data, (int)c->shape[1]);
}

void unic_cpu_linear_forward(unic_tensor *out, const unic_tensor *in, const unic_tensor *w,
                             const unic_tensor *b)
{
    int64_t n = out->shape[0], o = out->shape[1];
    if (b) {
#pragma omp parallel for if (n * o > PAR_MIN)
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = 0; j < o; j++) out->data[r * o + j] = b->data[j];
    }
    unic_cpu_gemm(0, 1, 1.0f, in, w, b ? 1.0f : 0.0f, out);
}

void unic_cpu_linear_backward(unic_tensor *d_in, unic_tensor *d_w, unic_tensor *d_b,
                              const unic_tensor *d_out, const unic_tensor *in,
                              const unic_tensor *w)
{
    if (d_in) unic_cpu_gemm(0, 0, 1.0f, d_out, w, 1.0f, d_in);
    if (d_w) unic_cpu_gemm(1, 0, 1.0f, d_out, in, 1.0f, d_w);
    if (d_b) {
        int64_t n = d_out->shape[0], o = d_out->shape[1];
#pragma omp parallel for if (n * o > PAR_MIN)
        for (int64_t j0 = 0; j0 < o; j0 += 64) {
            int64_t j1 = j0 + 64 < o ? j0 + 64 : o;
            for (int64_t r = 0; r < n; r++)
                for (int64_t j = j0; j < j1; j++) d_b->data[j] += d_out->data[r * o + j];
        }
    }
}

void unic_cpu_gelu_forward(unic_tensor *out, const unic_tensor *in)
{
    int64_t n = unic_numel(in);
    const float *x = in->data;
    float *y = out->data;
#pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + unic_erff(x[i] * (float)M_SQRT1_2));
}

void unic_cpu_gelu_backward(unic_tensor *d_in, const unic_tensor *in, const unic_tensor *d_out)
{
    int64_t n = unic_numel(in);
    const float *x = in->data, *dy = d_out->data;
    float *dx = d_in->data;
    const float inv_sqrt_2pi = 0.3989422804014327f;
#pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float cdf = 0.5f * (1.0f + unic_erff(x[i] * (float)M_SQRT1_2));
        float pdf = inv_sqrt_2pi * unic_expf(-0.5f * x[i] * x[i]);
        dx[i] += dy[i] * (cdf + x[i] * pdf);
    }
}

void unic_cpu_softmax_forward(unic_tensor *probs, const unic_tensor *logits)
{
    int64_t n = logits->shape[0], k = unic_row_size(logits);
#pragma omp parallel for if (n * k > PAR_MIN)
    for (int64_t r = 0; r < n; r++) {
        const float *z = logits->data + r * k;
        float *p = probs->data + r * k;
        float mx = z[0];
        for (int64_t j = 1; j < k; j++) mx = z[j] > mx ? z[j] : mx;
        double sum = 0.0;
        for (int64_t j = 0; j < k; j++) {
            p[j] = expf(z[j] - mx);
            sum += p[j];
        }
        float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < k; j++) p[j] *= inv;
    }
}

void unic_cpu_softmax_backward(unic_tensor *d_logits, const unic_tensor *probs,
                               const unic_tensor *d_probs)
{
    int64_t n = probs->shape[0], k = unic_row_size(probs);
#pragma omp parallel for if (n * k > PAR_MIN)
    for (int64_t r = 0; r < n; r++) {
        const float *p = probs->data + r * k, *dp = d_probs->data + r * k;
        float *dz = d_logits->data + r * k;
        double dot = 0.0;
        for (int64_t j = 0; j < k; j++) dot += (double)p[j] * dp[j];
        for (int64_t j = 0; j < k; j++) dz[j] += p[j] * (dp[j] - (float)dot);
    }
}

/* torch.optim.Adam's update, with L2 weight decay folded into the gradient. */
void unic_cpu_adam_step(unic_tensor *param, const unic_tensor *grad, unic_tensor *m,
                        unic_tensor *v, float lr, float beta1, float beta2, float eps,
                        float weight_decay, int64_t t)
{
    int64_t n = unic_numel(param);
    float bc1 = 1.0f - powf(beta1, (float)t), bc2 = 1.0f - powf(beta2, (float)t);
    float step = lr / bc1, inv_sqrt_bc2 = 1.0f / sqrtf(bc2);
    float *p = param->data, *mm = m->data, *vv = v->data;
    const float *g = grad->data;
#pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] + weight_decay * p[i];
        mm[i] = beta1 * mm[i] + (1.0f - beta1) * gi;
        vv[i] = beta2 * vv[i] + (1.0f - beta2) * gi * gi;
        p[i] -= step * mm[i] / (sqrtf(vv[i]) * inv_sqrt_bc2 + eps);
    }
}

void unic_cpu_scale(unic_tensor *t, float s)
{
    int64_t n = unic_numel(t);
#pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) t->data[i] *= s;
}
