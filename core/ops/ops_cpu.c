/* CPU reference for every op: OpenBLAS for the matrix products, OpenMP for
 * the element-wise loops. Reductions run in a fixed order so a run gives the
 * same numbers at any thread count. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unic/conv_window.h"
#include "ops/ops.h"
#include "unic/fastmath.h"

#define PAR_MIN 16384 /* below this many elements threads cost more than they save */

/* C tiles of a fixed size, each one single-threaded sgemm call on its own
 * thread. OpenBLAS's threaded driver blocks the inner dimension differently
 * with one thread than with two, so its sums (and a run's numbers) moved
 * with the thread count; a fixed tiling never splits the inner dimension
 * and gives every element the same sum at any thread count. Inside the
 * parallel loop OpenBLAS runs single-threaded, even for a lone tile. */
#define GEMM_TILE_ROWS 256
#define GEMM_TILE_COLS 1024

void unic_cpu_gemm(int trans_a, int trans_b, float alpha, const unic_tensor *a,
                   const unic_tensor *b, float beta, unic_tensor *c)
{
    int64_t m = c->shape[0], n = c->shape[1];
    int64_t k = trans_a ? a->shape[0] : a->shape[1];
    int64_t lda = a->shape[1], ldb = b->shape[1], ldc = c->shape[1];
    int64_t row_tiles = (m + GEMM_TILE_ROWS - 1) / GEMM_TILE_ROWS;
    int64_t col_tiles = (n + GEMM_TILE_COLS - 1) / GEMM_TILE_COLS;
#pragma omp parallel for schedule(dynamic)
    for (int64_t t = 0; t < row_tiles * col_tiles; t++) {
        int64_t i0 = (t / col_tiles) * GEMM_TILE_ROWS, j0 = (t % col_tiles) * GEMM_TILE_COLS;
        int64_t mt = m - i0 < GEMM_TILE_ROWS ? m - i0 : GEMM_TILE_ROWS;
        int64_t nt = n - j0 < GEMM_TILE_COLS ? n - j0 : GEMM_TILE_COLS;
        const float *at = a->data + (trans_a ? i0 : i0 * lda);
        const float *bt = b->data + (trans_b ? j0 * ldb : j0);
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, (int)mt, (int)nt, (int)k, alpha, at,
                    (int)lda, bt, (int)ldb, beta, c->data + i0 * ldc + j0, (int)ldc);
    }
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

/* Each row's mean and 1 / sqrt(var + eps), two passes in double so the
 * variance does not cancel. */
static void row_stats(double *stats, const float *x, int64_t rows, int64_t d, float eps)
{
#pragma omp parallel for if (rows * d > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        double mean = 0, var = 0;
        for (int64_t c = 0; c < d; c++) mean += xr[c];
        mean /= (double)d;
        for (int64_t c = 0; c < d; c++) var += (xr[c] - mean) * (xr[c] - mean);
        stats[2 * r] = mean;
        stats[2 * r + 1] = 1.0 / sqrt(var / (double)d + eps);
    }
}

void unic_cpu_layer_norm_forward(unic_tensor *out, const unic_tensor *in, const unic_tensor *w,
                                 const unic_tensor *b, float eps)
{
    int64_t rows = in->shape[0], d = unic_row_size(in);
    double *stats = malloc(sizeof(double) * 2 * (size_t)rows);
    row_stats(stats, in->data, rows, d, eps);
#pragma omp parallel for if (rows * d > PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = in->data + r * d;
        float *yr = out->data + r * d;
        double mean = stats[2 * r], inv = stats[2 * r + 1];
        for (int64_t c = 0; c < d; c++)
            yr[c] = (float)((xr[c] - mean) * inv) * w->data[c] + b->data[c];
    }
    free(stats);
}

/* d_w and d_b are summed over rows per column block, a fixed order at any
 * thread count. */
void unic_cpu_layer_norm_backward(unic_tensor *d_in, unic_tensor *d_w, unic_tensor *d_b,
                                  const unic_tensor *d_out, const unic_tensor *in,
                                  const unic_tensor *w, float eps)
{
    int64_t rows = in->shape[0], d = unic_row_size(in);
    const float *x = in->data, *dy = d_out->data, *g = w->data;
    double *stats = malloc(sizeof(double) * 2 * (size_t)rows);
    row_stats(stats, x, rows, d, eps);
    if (d_in) {
#pragma omp parallel for if (rows * d > PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * d, *gr = dy + r * d;
            double mean = stats[2 * r], inv = stats[2 * r + 1], m1 = 0, m2 = 0;
            for (int64_t c = 0; c < d; c++) {
                double gw = (double)gr[c] * g[c];
                m1 += gw;
                m2 += gw * (xr[c] - mean) * inv;
            }
            m1 /= (double)d;
            m2 /= (double)d;
            float *dx = d_in->data + r * d;
            for (int64_t c = 0; c < d; c++) {
                double xhat = (xr[c] - mean) * inv;
                dx[c] += (float)(inv * ((double)gr[c] * g[c] - m1 - xhat * m2));
            }
        }
    }
#pragma omp parallel for if (rows * d > PAR_MIN)
    for (int64_t c0 = 0; c0 < d; c0 += 64) {
        int64_t c1 = c0 + 64 < d ? c0 + 64 : d;
        double sw[64] = {0}, sb[64] = {0};
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * d, *gr = dy + r * d;
            double mean = stats[2 * r], inv = stats[2 * r + 1];
            for (int64_t c = c0; c < c1; c++) {
                sw[c - c0] += gr[c] * (xr[c] - mean) * inv;
                sb[c - c0] += gr[c];
            }
        }
        for (int64_t c = c0; c < c1; c++) {
            if (d_w) d_w->data[c] += (float)sw[c - c0];
            if (d_b) d_b->data[c] += (float)sb[c - c0];
        }
    }
    free(stats);
}

/* One (image, head) pair per thread with single-threaded GEMMs (OpenBLAS
 * runs single-threaded inside a parallel region), which beats splitting
 * every small T x T product over all threads. Q, K and V of the head are
 * gathered contiguous first. */
typedef struct head_view {
    float *q, *k, *v, *o, *s; /* [T, hd] x 4 and [T, T] */
} head_view;

static float *head_scratch(int64_t t, int64_t hd, head_view *h)
{
    float *mem = malloc(sizeof(float) * (size_t)(4 * t * hd + t * t));
    *h = (head_view){mem, mem + t * hd, mem + 2 * t * hd, mem + 3 * t * hd, mem + 4 * t * hd};
    return mem;
}

static void gather_head(const head_view *h, const float *qkv_img, int64_t t, int64_t d,
                        int64_t hd, int64_t head)
{
    for (int64_t i = 0; i < t; i++) {
        const float *row = qkv_img + i * 3 * d + head * hd;
        memcpy(h->q + i * hd, row, sizeof(float) * (size_t)hd);
        memcpy(h->k + i * hd, row + d, sizeof(float) * (size_t)hd);
        memcpy(h->v + i * hd, row + 2 * d, sizeof(float) * (size_t)hd);
    }
}

void unic_cpu_attention_forward(unic_tensor *out, unic_tensor *probs, const unic_tensor *qkv,
                                int tokens, int heads)
{
    int64_t t = tokens, d = out->shape[1], hd = d / heads, images = out->shape[0] / t;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel
    {
        head_view h;
        float *mem = head_scratch(t, hd, &h);
#pragma omp for schedule(dynamic)
        for (int64_t job = 0; job < images * heads; job++) {
            int64_t b = job / heads, head = job % heads;
            gather_head(&h, qkv->data + b * t * 3 * d, t, d, hd, head);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t, (int)t, (int)hd, scale,
                        h.q, (int)hd, h.k, (int)hd, 0.0f, h.s, (int)t);
            for (int64_t i = 0; i < t; i++) {
                float *sr = h.s + i * t, mx = sr[0], sum = 0;
                for (int64_t c = 1; c < t; c++) mx = sr[c] > mx ? sr[c] : mx;
                for (int64_t c = 0; c < t; c++) {
                    sr[c] = unic_expf(sr[c] - mx);
                    sum += sr[c];
                }
                float inv = 1.0f / sum;
                for (int64_t c = 0; c < t; c++) sr[c] *= inv;
            }
            if (probs) memcpy(probs->data + job * t * t, h.s, sizeof(float) * (size_t)(t * t));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)t, (int)hd, (int)t, 1.0f,
                        h.s, (int)t, h.v, (int)hd, 0.0f, h.o, (int)hd);
            float *dst = out->data + b * t * d + head * hd;
            for (int64_t i = 0; i < t; i++)
                memcpy(dst + i * d, h.o + i * hd, sizeof(float) * (size_t)hd);
        }
        free(mem);
    }
}

/* With S = scale Q K^T, P = softmax(S), O = P V: dV = P^T dO, dP = dO V^T,
 * dS = P (dP - rowsum(P dP)), dQ = scale dS K, dK = scale dS^T Q. */
void unic_cpu_attention_backward(unic_tensor *d_qkv, const unic_tensor *d_out,
                                 const unic_tensor *qkv, const unic_tensor *probs, int tokens,
                                 int heads)
{
    int64_t t = tokens, d = d_out->shape[1], hd = d / heads, images = d_out->shape[0] / t;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel
    {
        head_view h; /* o holds dO, s holds dP then dS; dq, dk, dv below */
        float *mem = head_scratch(t, hd, &h);
        float *grads = malloc(sizeof(float) * (size_t)(3 * t * hd));
        float *dq = grads, *dk = grads + t * hd, *dv = grads + 2 * t * hd;
#pragma omp for schedule(dynamic)
        for (int64_t job = 0; job < images * heads; job++) {
            int64_t b = job / heads, head = job % heads;
            gather_head(&h, qkv->data + b * t * 3 * d, t, d, hd, head);
            for (int64_t i = 0; i < t; i++)
                memcpy(h.o + i * hd, d_out->data + (b * t + i) * d + head * hd,
                       sizeof(float) * (size_t)hd);
            const float *p = probs->data + job * t * t;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)t, (int)hd, (int)t, 1.0f, p,
                        (int)t, h.o, (int)hd, 0.0f, dv, (int)hd);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t, (int)t, (int)hd, 1.0f,
                        h.o, (int)hd, h.v, (int)hd, 0.0f, h.s, (int)t);
            for (int64_t i = 0; i < t; i++) {
                float *dp = h.s + i * t;
                const float *pr = p + i * t;
                double dot = 0;
                for (int64_t j = 0; j < t; j++) dot += (double)pr[j] * dp[j];
                for (int64_t j = 0; j < t; j++) dp[j] = pr[j] * (float)(dp[j] - dot);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)t, (int)hd, (int)t, scale,
                        h.s, (int)t, h.k, (int)hd, 0.0f, dq, (int)hd);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)t, (int)hd, (int)t, scale,
                        h.s, (int)t, h.q, (int)hd, 0.0f, dk, (int)hd);
            float *dst = d_qkv->data + b * t * 3 * d + head * hd;
            for (int64_t i = 0; i < t; i++)
                for (int64_t j = 0; j < hd; j++) {
                    dst[i * 3 * d + j] += dq[i * hd + j];
                    dst[i * 3 * d + d + j] += dk[i * hd + j];
                    dst[i * 3 * d + 2 * d + j] += dv[i * hd + j];
                }
        }
        free(grads);
        free(mem);
    }
}

void unic_cpu_add(unic_tensor *y, const unic_tensor *x, float alpha)
{
    int64_t n = unic_numel(y);
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) y->data[i] += alpha * x->data[i];
}

void unic_cpu_scale_columns(unic_tensor *y, const unic_tensor *gamma)
{
    int64_t d = unic_row_size(y), rows = unic_numel(y) / (d ? d : 1);
#pragma omp parallel for if (rows * d > PAR_MIN)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < d; c++) y->data[r * d + c] *= gamma->data[c];
}

/* Per column block over the rows: a fixed order at any thread count. */
void unic_cpu_column_dot(unic_tensor *d_gamma, const unic_tensor *a, const unic_tensor *b)
{
    int64_t d = unic_numel(d_gamma), rows = unic_numel(a) / (d ? d : 1);
#pragma omp parallel for if (rows * d > PAR_MIN)
    for (int64_t c0 = 0; c0 < d; c0 += 64) {
        int64_t c1 = c0 + 64 < d ? c0 + 64 : d;
        double acc[64] = {0};
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = c0; c < c1; c++)
                acc[c - c0] += (double)a->data[r * d + c] * b->data[r * d + c];
        for (int64_t c = c0; c < c1; c++) d_gamma->data[c] += (float)acc[c - c0];
    }
}

/* ---- convolution and batch norm on channel-major activations ------------ */

/* col[(c k + ky) k + kx][(b Ho + oy) Wo + ox] = in[c][b][oy s - p + ky][ox s - p + kx],
 * 0 outside */
void unic_cpu_im2col(unic_tensor *col, const unic_tensor *in, int images, int height, int width,
                     int kernel, int stride, int pad)
{
    int k = kernel, s = stride, p = pad, H = height, W = width, n = images;
    int Ho = unic_conv_out(H, k, s, p), Wo = unic_conv_out(W, k, s, p);
    int64_t M = (int64_t)n * Ho * Wo, rows = in->shape[0] * (int64_t)k * k;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t c = r / (k * k);
        int ky = (int)(r / k % k), kx = (int)(r % k);
        float *dst = col->data + r * M;
        for (int b = 0; b < n; b++) {
            const float *plane = in->data + (c * n + b) * H * W;
            for (int oy = 0; oy < Ho; oy++, dst += Wo) {
                int iy = oy * s - p + ky;
                if (iy < 0 || iy >= H) {
                    memset(dst, 0, sizeof(float) * (size_t)Wo);
                    continue;
                }
                const float *row = plane + (int64_t)iy * W;
                for (int ox = 0; ox < Wo; ox++) {
                    int ix = ox * s - p + kx;
                    dst[ox] = ix >= 0 && ix < W ? row[ix] : 0.0f;
                }
            }
        }
    }
}

/* The adjoint of im2col, accumulated: d_in [C][n][H][W] += col scattered back. */
void unic_cpu_col2im(unic_tensor *d_in, const unic_tensor *col, int images, int height, int width,
                     int kernel, int stride, int pad)
{
    int k = kernel, s = stride, p = pad, H = height, W = width, n = images;
    int Ho = unic_conv_out(H, k, s, p), Wo = unic_conv_out(W, k, s, p);
    int64_t M = (int64_t)n * Ho * Wo, C = d_in->shape[0];
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; c++)
        for (int kk = 0; kk < k * k; kk++) {
            int ky = kk / k, kx = kk % k;
            const float *src = col->data + (c * k * k + kk) * M;
            for (int b = 0; b < n; b++) {
                float *plane = d_in->data + (c * n + b) * H * W;
                for (int oy = 0; oy < Ho; oy++, src += Wo) {
                    int iy = oy * s - p + ky;
                    if (iy < 0 || iy >= H) continue;
                    float *row = plane + (int64_t)iy * W;
                    for (int ox = 0; ox < Wo; ox++) {
                        int ix = ox * s - p + kx;
                        if (ix >= 0 && ix < W) row[ix] += src[ox];
                    }
                }
            }
        }
}

/* A channel's scale w / sqrt(var + eps) and shift b - mean scale, in double. */
static void bn_coefficients(const unic_tensor *w, const unic_tensor *b, const unic_tensor *mean,
                            const unic_tensor *var, float eps, int64_t c, float *scale,
                            float *shift)
{
    double sc = w->data[c] / sqrt((double)var->data[c] + eps);
    *scale = (float)sc;
    *shift = (float)(b->data[c] - mean->data[c] * sc);
}

void unic_cpu_batch_norm_forward(unic_tensor *y, const unic_tensor *x, const unic_tensor *w,
                                 const unic_tensor *b, const unic_tensor *mean,
                                 const unic_tensor *var, float eps, const unic_tensor *residual,
                                 int relu)
{
    int64_t C = x->shape[0], m = unic_row_size(x);
#pragma omp parallel for schedule(static) if (C * m > PAR_MIN)
    for (int64_t c = 0; c < C; c++) {
        float sc, sh;
        bn_coefficients(w, b, mean, var, eps, c, &sc, &sh);
        const float *xr = x->data + c * m, *rr = residual ? residual->data + c * m : NULL;
        float *yr = y->data + c * m;
        for (int64_t i = 0; i < m; i++) {
            float v = xr[i] * sc + sh + (rr ? rr[i] : 0.0f);
            yr[i] = relu && !(v > 0.0f) ? 0.0f : v;
        }
    }
}

void unic_cpu_batch_norm_backward(unic_tensor *dx, unic_tensor *dw, unic_tensor *db,
                                  const unic_tensor *dy, const unic_tensor *x,
                                  const unic_tensor *w, const unic_tensor *mean,
                                  const unic_tensor *var, float eps)
{
    int64_t C = x->shape[0], m = unic_row_size(x);
#pragma omp parallel for schedule(static) if (C * m > PAR_MIN)
    for (int64_t c = 0; c < C; c++) {
        const float *g = dy->data + c * m, *xr = x->data + c * m;
        double mu = mean->data[c], inv = 1.0 / sqrt((double)var->data[c] + eps), sg = 0, sgx = 0;
        for (int64_t i = 0; i < m; i++) {
            sg += g[i];
            sgx += g[i] * (xr[i] - mu);
        }
        if (dw) dw->data[c] += (float)(sgx * inv);
        if (db) db->data[c] += (float)sg;
        if (!dx) continue;
        float sc = (float)(w->data[c] * inv);
        float *d = dx->data + c * m;
        for (int64_t i = 0; i < m; i++) d[i] += g[i] * sc;
    }
}

void unic_cpu_relu_backward(unic_tensor *d, const unic_tensor *y)
{
    int64_t n = unic_numel(d);
#pragma omp parallel for if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        if (!(y->data[i] > 0.0f)) d->data[i] = 0.0f;
}

void unic_cpu_max_pool_forward(unic_tensor *out, const unic_tensor *in, int height, int width,
                               int kernel, int stride, int pad)
{
    int Ho = unic_conv_out(height, kernel, stride, pad);
    int Wo = unic_conv_out(width, kernel, stride, pad);
    int64_t planes = in->shape[0];
#pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *src = in->data + pl * height * width;
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++)
                out->data[(pl * Ho + oy) * Wo + ox] =
                    src[unic_pool_argmax(src, height, width, oy, ox, kernel, stride, pad)];
    }
}

/* d_in += d_out at each window's argmax, found again from the input. */
void unic_cpu_max_pool_backward(unic_tensor *d_in, const unic_tensor *d_out, const unic_tensor *in,
                                int height, int width, int kernel, int stride, int pad)
{
    int Ho = unic_conv_out(height, kernel, stride, pad);
    int Wo = unic_conv_out(width, kernel, stride, pad);
    int64_t planes = in->shape[0], hw = (int64_t)height * width;
#pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *src = in->data + pl * hw;
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                int64_t at = unic_pool_argmax(src, height, width, oy, ox, kernel, stride, pad);
                d_in->data[pl * hw + at] += d_out->data[(pl * Ho + oy) * Wo + ox];
            }
    }
}
