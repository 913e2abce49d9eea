/* CUDA ops against the CPU reference: same random inputs on both devices,
 * results compared by relative error. Gradient outputs start from random
 * values, not zeros, so an op that overwrites instead of accumulating fails.
 * The GPU mining engine (suite cuda_knn, at the end) must instead return
 * exactly what the CPU engine does. Every test but the availability probe
 * skips where no GPU is visible. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "data/io.h"
#include "plugin/registry.h"
#include "mining/knn.h"
#include "mining/knn_engine.h"
#include "mining/knn_gpu.h"
#include "ops/ops.h"
#include "unic/rng.h"

#define TOL 1e-5 /* true fp32 on both sides; TF32 would miss this by ~100x */

#ifdef UNIC_WITH_CUDA
/* Straight to the kernels, bypassing dispatch; the other tests go through
 * ops.h's unic_* entry points. */
#define CUDA_DIRECT(call) unic_cuda_##call
#else
#define CUDA_DIRECT(call) unic_##call
#endif

static void require_gpu(void)
{
#ifdef UNIC_WITH_CUDA
    if (!unic_cuda_available())
        cr_skip_test("no CUDA GPU: the CUDA runtime sees no device (no driver or no GPU here)");
#else
    cr_skip_test("no CUDA GPU: unic was built without CUDA");
#endif
}

/* Uniform in [-bound, bound) from its own seeded stream. */
static unic_tensor *rand_host(int ndim, const int64_t *shape, float bound, uint64_t seed)
{
    unic_tensor *t = unic_tensor_new(UNIC_CPU, ndim, shape);
    unic_fill_uniform(t, bound, seed, 0);
    return t;
}

static unic_tensor *rand2(int64_t rows, int64_t cols, float bound, uint64_t seed)
{
    int64_t shape[2] = {rows, cols};
    return rand_host(2, shape, bound, seed);
}

static unic_tensor *to_gpu(const unic_tensor *h)
{
    unic_tensor *d = unic_tensor_new(UNIC_CUDA, h->ndim, h->shape);
    unic_tensor_copy(d, h);
    return d;
}

static double rel_err_dev(const unic_tensor *dev, const unic_tensor *ref)
{
    unic_tensor *back = unic_tensor_new(UNIC_CPU, ref->ndim, ref->shape);
    unic_tensor_copy(back, dev);
    double err = test_rel_err(back->data, ref->data, unic_numel(ref));
    unic_tensor_free(back);
    return err;
}

static void expect_close(const unic_tensor *dev, const unic_tensor *ref, const char *what)
{
    double err = rel_err_dev(dev, ref);
    cr_expect(err < TOL, "%s: relative error %.3g (limit %.0e)", what, err, TOL);
}

/* The op under test must have changed its output noticeably, or comparing
 * the accumulated result would prove little. */
static void expect_changed(const unic_tensor *after, const unic_tensor *before, const char *what)
{
    double d = test_rel_err(after->data, before->data, unic_numel(before));
    cr_assert(d > 1e-3, "%s: the CPU op barely changed its output (%.3g)", what, d);
}

static void check_gemm(int ta, int tb, int64_t m, int64_t k, int64_t n, float alpha, float beta,
                       uint64_t seed, bool direct)
{
    unic_tensor *a = ta ? rand2(k, m, 1.0f, seed) : rand2(m, k, 1.0f, seed);
    unic_tensor *b = tb ? rand2(n, k, 1.0f, seed + 1) : rand2(k, n, 1.0f, seed + 1);
    unic_tensor *c = rand2(m, n, 1.0f, seed + 2);
    unic_tensor *da = to_gpu(a), *db = to_gpu(b), *dc = to_gpu(c);

    unic_cpu_gemm(ta, tb, alpha, a, b, beta, c);
    if (direct)
        CUDA_DIRECT(gemm(ta, tb, alpha, da, db, beta, dc));
    else
        unic_gemm(ta, tb, alpha, da, db, beta, dc);

    double err = rel_err_dev(dc, c);
    cr_expect(err < TOL, "gemm ta=%d tb=%d %lldx%lldx%lld alpha=%g beta=%g: relative error %.3g",
              ta, tb, (long long)m, (long long)k, (long long)n, alpha, beta, err);
    unic_tensor_free(a);
    unic_tensor_free(b);
    unic_tensor_free(c);
    unic_tensor_free(da);
    unic_tensor_free(db);
    unic_tensor_free(dc);
}

Test(cuda_parity, availability_probe)
{
    bool avail = unic_cuda_available();
    cr_expect_eq(unic_cuda_available(), avail, "the answer must not change between calls");
#ifdef UNIC_WITH_CUDA
    int n = unic_cuda_device_count();
    cr_expect(n >= 0, "device count %d", n);
    cr_expect_eq(avail, n > 0, "available=%d but %d devices", avail, n);
#else
    cr_expect(!avail, "a build without CUDA must report no GPU");
#endif
}

Test(cuda_parity, gemm_odd_all_transposes)
{
    require_gpu();
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            uint64_t seed = 100 + 10 * (uint64_t)(2 * ta + tb);
            check_gemm(ta, tb, 37, 53, 29, 1.0f, 0.0f, seed, false);
            /* beta != 0: the prior contents of C must be kept and scaled */
            check_gemm(ta, tb, 37, 53, 29, 0.7f, 1.3f, seed + 5, false);
        }
}

Test(cuda_parity, gemm_large_all_transposes)
{
    require_gpu();
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            uint64_t seed = 200 + 10 * (uint64_t)(2 * ta + tb);
            check_gemm(ta, tb, 256, 784, 2048, 1.0f, 0.0f, seed, true);
            check_gemm(ta, tb, 256, 784, 2048, 0.5f, 1.0f, seed + 5, true);
        }
}

Test(cuda_parity, gemm_degenerate_sizes)
{
    require_gpu();
    /* a single row or column and k = 1 exercise the leading dimensions */
    check_gemm(0, 0, 1, 53, 29, 1.0f, 0.5f, 300, false);
    check_gemm(1, 1, 37, 1, 29, 1.0f, 0.5f, 310, false);
    check_gemm(0, 1, 37, 53, 1, 1.0f, 0.5f, 320, true);
    check_gemm(1, 0, 33, 65, 31, -2.0f, 0.25f, 330, true);
}

static void check_linear_forward(bool bias, bool direct, uint64_t seed)
{
    const int64_t n = 37, in_f = 53, out_f = 29;
    unic_tensor *in = rand2(n, in_f, 1.0f, seed), *w = rand2(out_f, in_f, 0.5f, seed + 1);
    unic_tensor *b = bias ? rand2(1, out_f, 1.0f, seed + 2) : NULL;
    /* stale contents, which the forward pass must overwrite */
    unic_tensor *out = rand2(n, out_f, 3.0f, seed + 3);
    unic_tensor *d_in = to_gpu(in), *d_w = to_gpu(w), *d_b = b ? to_gpu(b) : NULL;
    unic_tensor *d_out = to_gpu(out);

    unic_cpu_linear_forward(out, in, w, b);
    if (direct)
        CUDA_DIRECT(linear_forward(d_out, d_in, d_w, d_b));
    else
        unic_linear_forward(d_out, d_in, d_w, d_b);
    expect_close(d_out, out, bias ? "linear_forward with bias" : "linear_forward without bias");

    unic_tensor_free(in);
    unic_tensor_free(w);
    unic_tensor_free(b);
    unic_tensor_free(out);
    unic_tensor_free(d_in);
    unic_tensor_free(d_w);
    unic_tensor_free(d_b);
    unic_tensor_free(d_out);
}

Test(cuda_parity, linear_forward)
{
    require_gpu();
    check_linear_forward(true, false, 400);
    check_linear_forward(false, false, 410);
    check_linear_forward(true, true, 420);
}

/* mask: bit 0 d_in, bit 1 d_w, bit 2 d_b; absent outputs are passed NULL. */
static void check_linear_backward(int64_t n, int64_t in_f, int64_t out_f, int mask, bool direct,
                                  uint64_t seed)
{
    unic_tensor *in = rand2(n, in_f, 1.0f, seed), *w = rand2(out_f, in_f, 0.5f, seed + 1);
    unic_tensor *d_out = rand2(n, out_f, 1.0f, seed + 2);
    unic_tensor *g_in = rand2(n, in_f, 1.0f, seed + 3), *g_w = rand2(out_f, in_f, 1.0f, seed + 4);
    unic_tensor *g_b = rand2(1, out_f, 1.0f, seed + 5);
    unic_tensor *g_in0 = rand2(n, in_f, 1.0f, seed + 3), *g_w0 = rand2(out_f, in_f, 1.0f, seed + 4);
    unic_tensor *g_b0 = rand2(1, out_f, 1.0f, seed + 5);
    unic_tensor *dd_in = to_gpu(in), *dd_w = to_gpu(w), *dd_out = to_gpu(d_out);
    unic_tensor *dg_in = to_gpu(g_in), *dg_w = to_gpu(g_w), *dg_b = to_gpu(g_b);

    unic_cpu_linear_backward(mask & 1 ? g_in : NULL, mask & 2 ? g_w : NULL,
                             mask & 4 ? g_b : NULL, d_out, in, w);
    if (direct)
        CUDA_DIRECT(linear_backward(mask & 1 ? dg_in : NULL, mask & 2 ? dg_w : NULL,
                                    mask & 4 ? dg_b : NULL, dd_out, dd_in, dd_w));
    else
        unic_linear_backward(mask & 1 ? dg_in : NULL, mask & 2 ? dg_w : NULL,
                             mask & 4 ? dg_b : NULL, dd_out, dd_in, dd_w);

    if (mask & 1) expect_changed(g_in, g_in0, "d_in");
    if (mask & 2) expect_changed(g_w, g_w0, "d_w");
    if (mask & 4) expect_changed(g_b, g_b0, "d_b");
    /* Outputs passed NULL must stay as prefilled, which the CPU copy still is. */
    expect_close(dg_in, g_in, mask & 1 ? "linear_backward d_in (accumulated)" : "d_in untouched");
    expect_close(dg_w, g_w, mask & 2 ? "linear_backward d_w (accumulated)" : "d_w untouched");
    expect_close(dg_b, g_b, mask & 4 ? "linear_backward d_b (accumulated)" : "d_b untouched");

    unic_tensor *all[] = {in, w, d_out, g_in, g_w, g_b, g_in0, g_w0, g_b0,
                          dd_in, dd_w, dd_out, dg_in, dg_w, dg_b};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) unic_tensor_free(all[i]);
}

Test(cuda_parity, linear_backward)
{
    require_gpu();
    check_linear_backward(37, 53, 29, 7, false, 500);
    check_linear_backward(37, 53, 29, 7, true, 510);
    /* each output optional */
    check_linear_backward(37, 53, 29, 1, false, 520);
    check_linear_backward(37, 53, 29, 2, false, 530);
    check_linear_backward(37, 53, 29, 4, false, 540);
    check_linear_backward(37, 53, 29, 6, true, 550);
    /* bigger: many rows per column for the bias column sum */
    check_linear_backward(256, 784, 300, 7, false, 560);
}

Test(cuda_parity, gelu)
{
    require_gpu();
    /* 257 and 8198 elements leave ragged last blocks. Single elements are
     * avoided: the CPU's erf approximation has ~1e-7 absolute error, which is
     * a large relative one where gelu(x) is near zero. */
    const int64_t shapes[][3] = {{37, 53, 29}, {1, 1, 257}, {2, 1, 4099}};
    for (int s = 0; s < 3; s++) {
        uint64_t seed = 600 + 10 * (uint64_t)s;
        unic_tensor *x = rand_host(3, shapes[s], 4.0f, seed);
        unic_tensor *y = rand_host(3, shapes[s], 1.0f, seed + 1);
        unic_tensor *dy = rand_host(3, shapes[s], 1.0f, seed + 2);
        unic_tensor *dx = rand_host(3, shapes[s], 1.0f, seed + 3);
        unic_tensor *dx0 = rand_host(3, shapes[s], 1.0f, seed + 3);
        unic_tensor *d_x = to_gpu(x), *d_y = to_gpu(y), *d_dy = to_gpu(dy), *d_dx = to_gpu(dx);

        unic_cpu_gelu_forward(y, x);
        unic_cpu_gelu_backward(dx, x, dy);
        if (s == 0) {
            CUDA_DIRECT(gelu_forward(d_y, d_x));
            CUDA_DIRECT(gelu_backward(d_dx, d_x, d_dy));
        } else {
            unic_gelu_forward(d_y, d_x);
            unic_gelu_backward(d_dx, d_x, d_dy);
        }
        expect_changed(dx, dx0, "gelu_backward");
        expect_close(d_y, y, "gelu_forward");
        expect_close(d_dx, dx, "gelu_backward (accumulated)");

        unic_tensor *all[] = {x, y, dy, dx, dx0, d_x, d_y, d_dy, d_dx};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) unic_tensor_free(all[i]);
    }
}

Test(cuda_parity, layer_norm)
{
    require_gpu();
    const int64_t shapes[][2] = {{37, 53}, {1000, 768}, {1, 24}};
    for (int s = 0; s < 3; s++) {
        uint64_t seed = 700 + 10 * (uint64_t)s;
        int64_t rows = shapes[s][0], d = shapes[s][1];
        unic_tensor *x = rand2(rows, d, 3.0f, seed), *w = rand2(1, d, 1.5f, seed + 1);
        unic_tensor *b = rand2(1, d, 0.5f, seed + 2), *y = rand2(rows, d, 1.0f, seed + 3);
        unic_tensor *dy = rand2(rows, d, 1.0f, seed + 4), *dx = rand2(rows, d, 1.0f, seed + 5);
        unic_tensor *dx0 = rand2(rows, d, 1.0f, seed + 5), *dw = rand2(1, d, 1.0f, seed + 6);
        unic_tensor *db = rand2(1, d, 1.0f, seed + 7);
        unic_tensor *g_x = to_gpu(x), *g_w = to_gpu(w), *g_b = to_gpu(b), *g_y = to_gpu(y);
        unic_tensor *g_dy = to_gpu(dy), *g_dx = to_gpu(dx), *g_dw = to_gpu(dw), *g_db = to_gpu(db);
        unic_cpu_layer_norm_forward(y, x, w, b, 1e-6f);
        unic_cpu_layer_norm_backward(dx, dw, db, dy, x, w, 1e-6f);
        unic_layer_norm_forward(g_y, g_x, g_w, g_b, 1e-6f);
        unic_layer_norm_backward(g_dx, g_dw, g_db, g_dy, g_x, g_w, 1e-6f);
        expect_changed(dx, dx0, "layer_norm_backward");
        expect_close(g_y, y, "layer_norm_forward");
        expect_close(g_dx, dx, "layer_norm_backward d_in (accumulated)");
        expect_close(g_dw, dw, "layer_norm_backward d_w (accumulated)");
        expect_close(g_db, db, "layer_norm_backward d_b (accumulated)");
        unic_tensor *all[] = {x, w, b, y, dy, dx, dx0, dw, db, g_x, g_w, g_b, g_y, g_dy, g_dx,
                              g_dw, g_db};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) unic_tensor_free(all[i]);
    }
}

/* ViT-shaped: images of T tokens, heads dividing d; 197 tokens is ViT-B/16's. */
Test(cuda_parity, attention)
{
    require_gpu();
    const int cases[][4] = {{5, 13, 24, 3}, {2, 197, 64, 2}, {1, 1, 8, 1}}; /* images, T, d, heads */
    for (int s = 0; s < 3; s++) {
        uint64_t seed = 800 + 10 * (uint64_t)s;
        int64_t n = cases[s][0], t = cases[s][1], d = cases[s][2];
        int heads = cases[s][3];
        unic_tensor *qkv = rand2(n * t, 3 * d, 2.0f, seed), *out = rand2(n * t, d, 1.0f, seed + 1);
        unic_tensor *probs = rand2(n * heads * t, t, 1.0f, seed + 2);
        unic_tensor *dout = rand2(n * t, d, 1.0f, seed + 3);
        unic_tensor *dqkv = rand2(n * t, 3 * d, 1.0f, seed + 4);
        unic_tensor *dqkv0 = rand2(n * t, 3 * d, 1.0f, seed + 4);
        unic_tensor *g_qkv = to_gpu(qkv), *g_out = to_gpu(out), *g_probs = to_gpu(probs);
        unic_tensor *g_dout = to_gpu(dout), *g_dqkv = to_gpu(dqkv), *g_out2 = to_gpu(out);
        unic_cpu_attention_forward(out, probs, qkv, (int)t, heads);
        unic_cpu_attention_backward(dqkv, dout, qkv, probs, (int)t, heads);
        unic_attention_forward(g_out, g_probs, g_qkv, (int)t, heads);
        unic_attention_forward(g_out2, NULL, g_qkv, (int)t, heads); /* probs not kept */
        unic_attention_backward(g_dqkv, g_dout, g_qkv, g_probs, (int)t, heads);
        if (t > 1) expect_changed(dqkv, dqkv0, "attention_backward");
        expect_close(g_out, out, "attention_forward");
        expect_close(g_out2, out, "attention_forward without probs");
        expect_close(g_probs, probs, "attention_forward probs");
        expect_close(g_dqkv, dqkv, "attention_backward (accumulated)");
        unic_tensor *all[] = {qkv, out, probs, dout, dqkv, dqkv0, g_qkv, g_out, g_probs, g_dout,
                              g_dqkv, g_out2};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) unic_tensor_free(all[i]);
    }
}

/* add, scale_columns and column_dot (residuals and LayerScale) */
Test(cuda_parity, residual_ops)
{
    require_gpu();
    const int64_t rows = 333, d = 77;
    unic_tensor *y = rand2(rows, d, 1.0f, 900), *x = rand2(rows, d, 1.0f, 901);
    unic_tensor *gamma = rand2(1, d, 2.0f, 902), *acc = rand2(1, d, 1.0f, 903);
    unic_tensor *acc0 = rand2(1, d, 1.0f, 903);
    unic_tensor *g_y = to_gpu(y), *g_x = to_gpu(x), *g_gamma = to_gpu(gamma), *g_acc = to_gpu(acc);
    unic_cpu_add(y, x, 0.5f);
    unic_add(g_y, g_x, 0.5f);
    expect_close(g_y, y, "add");
    unic_cpu_scale_columns(y, gamma);
    unic_scale_columns(g_y, g_gamma);
    expect_close(g_y, y, "scale_columns");
    unic_cpu_column_dot(acc, x, y);
    unic_column_dot(g_acc, g_x, g_y);
    expect_changed(acc, acc0, "column_dot");
    expect_close(g_acc, acc, "column_dot (accumulated)");
    unic_tensor *all[] = {y, x, gamma, acc, acc0, g_y, g_x, g_gamma, g_acc};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) unic_tensor_free(all[i]);
}

/* The ResNet ops on channel-major activations: 7x7/2 and 3x3/2 and 1x1/2
 * convolutions' im2col and col2im, batch norm with and without a residual
 * and ReLU, and the 3x3/2 max pool, on odd sizes. */
Test(cuda_parity, convolution_ops)
{
    require_gpu();
    const int geo[][5] = {{3, 2, 25, 7, 2}, {5, 3, 13, 3, 2}, {4, 2, 9, 1, 2}}; /* C n H k s */
    for (int g = 0; g < 3; g++) {
        int C = geo[g][0], n = geo[g][1], H = geo[g][2], k = geo[g][3], st = geo[g][4], p = k / 2;
        int Ho = (H + 2 * p - k) / st + 1;
        uint64_t seed = 1000 + 10 * (uint64_t)g;
        unic_tensor *in = rand2(C, (int64_t)n * H * H, 1.0f, seed);
        unic_tensor *col = rand2((int64_t)C * k * k, (int64_t)n * Ho * Ho, 1.0f, seed + 1);
        unic_tensor *din = rand2(C, (int64_t)n * H * H, 1.0f, seed + 2);
        unic_tensor *g_in = to_gpu(in), *g_col = to_gpu(col), *g_din = to_gpu(din);
        unic_cpu_im2col(col, in, n, H, H, k, st, p);
        unic_im2col(g_col, g_in, n, H, H, k, st, p);
        expect_close(g_col, col, "im2col");
        unic_cpu_col2im(din, col, n, H, H, k, st, p);
        unic_col2im(g_din, g_col, n, H, H, k, st, p);
        expect_close(g_din, din, "col2im (accumulated)");
        unic_tensor *all[] = {in, col, din, g_in, g_col, g_din};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) unic_tensor_free(all[i]);
    }
    const int64_t C = 6, m = 517;
    unic_tensor *x = rand2(C, m, 2.0f, 1100), *res = rand2(C, m, 1.0f, 1101);
    unic_tensor *w = rand2(1, C, 1.5f, 1102), *b = rand2(1, C, 0.5f, 1103);
    unic_tensor *mean = rand2(1, C, 0.3f, 1104), *var = rand2(1, C, 0.5f, 1105);
    for (int c = 0; c < C; c++) var->data[c] += 0.6f; /* positive */
    unic_tensor *y = rand2(C, m, 1.0f, 1106), *dy = rand2(C, m, 1.0f, 1107);
    unic_tensor *dx = rand2(C, m, 1.0f, 1108), *dw = rand2(1, C, 1.0f, 1109);
    unic_tensor *db = rand2(1, C, 1.0f, 1110);
    unic_tensor *g_x = to_gpu(x), *g_res = to_gpu(res), *g_w = to_gpu(w), *g_b = to_gpu(b);
    unic_tensor *g_mean = to_gpu(mean), *g_var = to_gpu(var), *g_y = to_gpu(y);
    unic_tensor *g_dy = to_gpu(dy), *g_dx = to_gpu(dx), *g_dw = to_gpu(dw), *g_db = to_gpu(db);
    for (int relu = 0; relu < 2; relu++) {
        unic_cpu_batch_norm_forward(y, x, w, b, mean, var, 1e-5f, relu ? res : NULL, relu);
        unic_batch_norm_forward(g_y, g_x, g_w, g_b, g_mean, g_var, 1e-5f, relu ? g_res : NULL,
                                relu);
        expect_close(g_y, y, relu ? "batch_norm_forward + residual + relu" : "batch_norm_forward");
    }
    unic_cpu_batch_norm_backward(dx, dw, db, dy, x, w, mean, var, 1e-5f);
    unic_batch_norm_backward(g_dx, g_dw, g_db, g_dy, g_x, g_w, g_mean, g_var, 1e-5f);
    expect_close(g_dx, dx, "batch_norm_backward dx (accumulated)");
    expect_close(g_dw, dw, "batch_norm_backward dw (accumulated)");
    expect_close(g_db, db, "batch_norm_backward db (accumulated)");
    unic_cpu_relu_backward(dy, y);
    unic_relu_backward(g_dy, g_y);
    expect_close(g_dy, dy, "relu_backward");
    /* 3x3/2 pool, padding 1, over 6 planes of 25 x 25 */
    unic_tensor *pin = rand2(C, 25 * 25, 1.0f, 1111), *pout = rand2(C, 13 * 13, 1.0f, 1112);
    unic_tensor *pd = rand2(C, 13 * 13, 1.0f, 1113), *pdin = rand2(C, 25 * 25, 1.0f, 1114);
    unic_tensor *g_pin = to_gpu(pin), *g_pout = to_gpu(pout), *g_pd = to_gpu(pd);
    unic_tensor *g_pdin = to_gpu(pdin);
    unic_cpu_max_pool_forward(pout, pin, 25, 25, 3, 2, 1);
    unic_max_pool_forward(g_pout, g_pin, 25, 25, 3, 2, 1);
    expect_close(g_pout, pout, "max_pool_forward");
    unic_cpu_max_pool_backward(pdin, pd, pin, 25, 25, 3, 2, 1);
    unic_max_pool_backward(g_pdin, g_pd, g_pin, 25, 25, 3, 2, 1);
    expect_close(g_pdin, pdin, "max_pool_backward (accumulated)");
    unic_tensor *all[] = {x, res, w, b, mean, var, y, dy, dx, dw, db, g_x, g_res, g_w, g_b, g_mean,
                          g_var, g_y, g_dy, g_dx, g_dw, g_db, pin, pout, pd, pdin, g_pin, g_pout,
                          g_pd, g_pdin};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) unic_tensor_free(all[i]);
}

Test(cuda_parity, softmax)
{
    require_gpu();
    /* rows of 1537 (3-d: the row is all but the first dimension), of 10
     * (fewer than a warp), 33 (just over one) and 2048 */
    const int64_t shapes[][3] = {{37, 53, 29}, {211, 10, 1}, {5, 33, 1}, {64, 2048, 1}};
    const int ndims[] = {3, 2, 2, 2};
    for (int s = 0; s < 4; s++) {
        uint64_t seed = 700 + 10 * (uint64_t)s;
        unic_tensor *z = rand_host(ndims[s], shapes[s], 6.0f, seed);
        unic_tensor *p = rand_host(ndims[s], shapes[s], 1.0f, seed + 1);
        unic_tensor *dp = rand_host(ndims[s], shapes[s], 1.0f, seed + 2);
        unic_tensor *dz = rand_host(ndims[s], shapes[s], 1.0f, seed + 3);
        unic_tensor *dz0 = rand_host(ndims[s], shapes[s], 1.0f, seed + 3);
        unic_tensor *d_z = to_gpu(z), *d_p = to_gpu(p), *d_dp = to_gpu(dp), *d_dz = to_gpu(dz);

        unic_cpu_softmax_forward(p, z);
        unic_cpu_softmax_backward(dz, p, dp);
        if (s % 2) {
            CUDA_DIRECT(softmax_forward(d_p, d_z));
            CUDA_DIRECT(softmax_backward(d_dz, d_p, d_dp));
        } else {
            unic_softmax_forward(d_p, d_z);
            unic_softmax_backward(d_dz, d_p, d_dp);
        }
        expect_changed(dz, dz0, "softmax_backward");
        double ef = rel_err_dev(d_p, p), eb = rel_err_dev(d_dz, dz);
        cr_expect(ef < TOL, "softmax_forward shape %d: relative error %.3g", s, ef);
        cr_expect(eb < TOL, "softmax_backward shape %d (accumulated): relative error %.3g", s, eb);

        unic_tensor *all[] = {z, p, dp, dz, dz0, d_z, d_p, d_dp, d_dz};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) unic_tensor_free(all[i]);
    }
}

Test(cuda_parity, adam)
{
    require_gpu();
    const int64_t shape[3] = {37, 53, 29};
    unic_tensor *p = rand_host(3, shape, 1.0f, 800);
    unic_tensor *m = unic_tensor_new(UNIC_CPU, 3, shape), *v = unic_tensor_new(UNIC_CPU, 3, shape);
    unic_tensor *d_p = to_gpu(p), *d_m = to_gpu(m), *d_v = to_gpu(v);
    /* several steps from zero moments, so the bias corrections vary with t */
    for (int64_t t = 1; t <= 5; t++) {
        unic_tensor *g = rand_host(3, shape, 0.1f, 810 + (uint64_t)t), *d_g = to_gpu(g);
        unic_cpu_adam_step(p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, t);
        if (t % 2)
            unic_adam_step(d_p, d_g, d_m, d_v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, t);
        else
            CUDA_DIRECT(adam_step(d_p, d_g, d_m, d_v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, t));
        double ep = rel_err_dev(d_p, p), em = rel_err_dev(d_m, m), ev = rel_err_dev(d_v, v);
        cr_expect(ep < TOL, "adam step %lld param: relative error %.3g", (long long)t, ep);
        cr_expect(em < TOL, "adam step %lld m: relative error %.3g", (long long)t, em);
        cr_expect(ev < TOL, "adam step %lld v: relative error %.3g", (long long)t, ev);
        unic_tensor_free(g);
        unic_tensor_free(d_g);
    }
    /* The update itself, not just the near-identical parameters, must agree:
     * compare the distance travelled from the start. It is ~1e-3 of the
     * parameters, so one-ulp rounding flips in p weigh 1000x more here. */
    unic_tensor *p0 = rand_host(3, shape, 1.0f, 800), *back = unic_tensor_new(UNIC_CPU, 3, shape);
    unic_tensor_copy(back, d_p);
    int64_t n = unic_numel(p);
    for (int64_t i = 0; i < n; i++) {
        back->data[i] -= p0->data[i];
        p->data[i] -= p0->data[i];
    }
    double err = test_rel_err(back->data, p->data, n);
    cr_expect(err < 1e-4, "adam: total update differs by %.3g", err);

    unic_tensor *all[] = {p, m, v, d_p, d_m, d_v, p0, back};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) unic_tensor_free(all[i]);
}

Test(cuda_parity, scale)
{
    require_gpu();
    const int64_t shape[3] = {37, 53, 29};
    unic_tensor *x = rand_host(3, shape, 2.0f, 900), *d_x = to_gpu(x);
    unic_cpu_scale(x, -1.7f);
    unic_scale(d_x, -1.7f);
    expect_close(d_x, x, "scale (dispatch)");
    unic_cpu_scale(x, 0.3f);
    CUDA_DIRECT(scale(d_x, 0.3f));
    expect_close(d_x, x, "scale (direct)");
    unic_tensor_free(x);
    unic_tensor_free(d_x);
}

/* Memory plumbing behind the ops: fill, zero, device-to-device copy, and a
 * unic_rows view of a device buffer. */
Test(cuda_parity, tensor_plumbing)
{
    require_gpu();
    const int64_t shape[2] = {37, 53};
    unic_tensor *h = unic_tensor_new(UNIC_CPU, 2, shape), *d = unic_tensor_new(UNIC_CUDA, 2, shape);
    unic_fill_uniform(h, 1.0f, 1000, 3);
    unic_fill_uniform(d, 1.0f, 1000, 3);
    cr_expect(rel_err_dev(d, h) == 0.0, "fill_uniform must draw the same numbers on both devices");

    unic_tensor *d2 = unic_tensor_new(UNIC_CUDA, 2, shape);
    unic_tensor_copy(d2, d);
    cr_expect(rel_err_dev(d2, h) == 0.0, "device-to-device copy");

    unic_tensor_zero(d2);
    unic_tensor *back = unic_tensor_new(UNIC_CPU, 2, shape);
    unic_fill_uniform(back, 1.0f, 1001, 0);
    unic_tensor_copy(back, d2);
    int64_t nz = 0;
    for (int64_t i = 0; i < unic_numel(back); i++) nz += back->data[i] != 0.0f;
    cr_expect_eq(nz, 0, "tensor_zero left %lld non-zeros", (long long)nz);

    /* linear forward on the first 20 rows of a 37-row device buffer */
    unic_tensor *w = rand2(29, 53, 0.5f, 1010), *b = rand2(1, 29, 1.0f, 1011);
    unic_tensor *out = rand2(37, 29, 1.0f, 1012);
    unic_tensor *d_w = to_gpu(w), *d_b = to_gpu(b), *d_out = to_gpu(out);
    unic_tensor hv = unic_rows(h, 0, 20), dv = unic_rows(d, 0, 20);
    unic_tensor ov = unic_rows(out, 0, 20), dov = unic_rows(d_out, 0, 20);
    unic_cpu_linear_forward(&ov, &hv, w, b);
    unic_linear_forward(&dov, &dv, d_w, d_b);
    expect_close(d_out, out, "linear_forward on a rows view (rows past the view untouched)");

    unic_tensor *all[] = {h, d, d2, back, w, b, out, d_w, d_b, d_out};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) unic_tensor_free(all[i]);
}

/* ---- the mining engine: the GPU's results are the CPU's, exactly ---------- */

/* Uniform in [-1, 1): distances concentrate, the GEMM bands stay narrow. */
static float *uniform_points(int n, int d, uint64_t seed)
{
    float *x = malloc(sizeof(float) * (size_t)n * d);
    unic_rng g = unic_rng_stream(seed, 2, 0);
    for (int64_t q = 0; q < (int64_t)n * d; q++) x[q] = 2.0f * unic_rng_uniform(&g) - 1.0f;
    return x;
}

/* Points of the lattice {0, 1, 2}^d: integer squared distances, so hundreds
 * of exact ties per row (settled by index) and many duplicate points. */
static float *lattice_points(int n, int d, uint64_t seed)
{
    float *x = malloc(sizeof(float) * (size_t)n * d);
    unic_rng g = unic_rng_stream(seed, 3, 0);
    for (int64_t q = 0; q < (int64_t)n * d; q++) x[q] = (float)unic_rng_below(&g, 3);
    return x;
}

typedef struct mined {
    int32_t *idx, *th_idx;
    float *sq, *th;
} mined;

static mined mined_new(int64_t n, int k_top)
{
    mined m = {malloc(sizeof(int32_t) * (size_t)(n * (k_top > 0 ? k_top : 1))),
               malloc(sizeof(int32_t) * (size_t)n),
               malloc(sizeof(float) * (size_t)(n * (k_top > 0 ? k_top : 1))),
               malloc(sizeof(float) * (size_t)n)};
    return m;
}

static void mined_free(mined *m)
{
    free(m->idx);
    free(m->th_idx);
    free(m->sq);
    free(m->th);
}

/* The CPU engine through the public entry point, forced onto the CPU. */
static void mine_on_cpu(const unic_mine_input *in, int k_top, int k_th, mined *m)
{
    char err[1024] = "";
    setenv("UNIC_MINE_DEVICE", "cpu", 1);
    int rc = unic_knn_and_kth(in, k_top, k_top ? m->idx : NULL, k_top ? m->sq : NULL, k_th,
                              k_th ? m->th : NULL, k_th ? m->th_idx : NULL, err, sizeof err);
    unsetenv("UNIC_MINE_DEVICE");
    cr_assert_eq(rc, 0, "CPU engine: %s", err);
}

/* Same neighbours in the same order, same k-th points, and the same float
 * distances bit for bit (both come from the same double rounded once). */
static void expect_identical(const char *what, int64_t n, int k_top, int k_th, const mined *cpu,
                             const mined *gpu)
{
    for (int64_t i = 0; i < n; i++) {
        for (int c = 0; c < k_top; c++) {
            int64_t q = i * k_top + c;
            cr_assert_eq(gpu->idx[q], cpu->idx[q], "%s: row %lld rank %d: GPU %d, CPU %d", what,
                         (long long)i, c, gpu->idx[q], cpu->idx[q]);
            cr_assert(gpu->sq[q] == cpu->sq[q], "%s: row %lld rank %d: GPU distance %.9g, CPU %.9g",
                      what, (long long)i, c, gpu->sq[q], cpu->sq[q]);
        }
        if (k_th > 0) {
            cr_assert_eq(gpu->th_idx[i], cpu->th_idx[i], "%s: row %lld: rank-%d point GPU %d, CPU %d",
                         what, (long long)i, k_th, gpu->th_idx[i], cpu->th_idx[i]);
            cr_assert(gpu->th[i] == cpu->th[i], "%s: row %lld: rank-%d distance GPU %.9g, CPU %.9g",
                      what, (long long)i, k_th, gpu->th[i], cpu->th[i]);
        }
    }
}

/* One request on both engines; tile_rows and cand_cap (0: automatic) pick
 * the GPU's tiling and how the candidates are cut into transfers. */
static void compare_engines(const char *what, const float *x, int n, int d, int k_top, int k_th,
                            int64_t tile_rows, int64_t cand_cap)
{
    unic_mine_input in = {n, d, x, NULL, NULL, UNIC_CPU};
    mined cpu = mined_new(n, k_top), gpu = mined_new(n, k_top);
    mine_on_cpu(&in, k_top, k_th, &cpu);
    unic_knn_gpu_opts opts = {tile_rows, cand_cap};
    char err[1024] = "";
    int rc = unic_knn_gpu(&in, k_top, k_top ? gpu.idx : NULL, k_top ? gpu.sq : NULL, k_th,
                          k_th ? gpu.th : NULL, k_th ? gpu.th_idx : NULL, &opts, err, sizeof err);
    cr_assert_eq(rc, 0, "%s: GPU engine: %s", what, err);
    char label[256];
    snprintf(label, sizeof label, "%s (N=%d D=%d, %d nearest, rank %d, tiles of %lld rows)", what,
             n, d, k_top, k_th, (long long)tile_rows);
    expect_identical(label, n, k_top, k_th, &cpu, &gpu);
    /* identical, and not because the re-ranking's safety net ranked whole
     * rows: the candidates alone must hold the answers */
    cr_expect_eq(unic_knn_fallbacks(), 0, "%s: %lld rows needed the full-row fallback", label,
                 (long long)unic_knn_fallbacks());
    mined_free(&cpu);
    mined_free(&gpu);
}

Test(cuda_knn, random_points)
{
    require_gpu();
    const int n = 2000, d = 64;
    float *x = uniform_points(n, d, 11);
    compare_engines("random, both lists in one pass", x, n, d, 20, 500, 0, 0);
    compare_engines("random, nearest only", x, n, d, 20, 0, 0, 0);
    compare_engines("random, rank only", x, n, d, 0, 500, 0, 0);
    free(x);
}

/* Tiles of 1, 7 and 128 rows over 1200 points: the last tile is partial
 * (1200 = 9 x 128 + 48), and the smallest candidate room (clamped up to
 * what one row may need) cuts every tile into several transfers. */
Test(cuda_knn, clustered_duplicates_any_tiling)
{
    require_gpu();
    const int n = 1200, d = 24;
    float *x = test_clustered_points(n, d, 5);
    compare_engines("clustered, default tiling", x, n, d, 15, 300, 0, 0);
    compare_engines("clustered, partial last tile", x, n, d, 15, 300, 128, 0);
    compare_engines("clustered, tiles of 7 rows, small transfers", x, n, d, 15, 300, 7, 1);
    compare_engines("clustered, one row per tile", x, n, d, 15, 300, 1, 1);
    free(x);
}

Test(cuda_knn, lattice_ties_by_index)
{
    require_gpu();
    const int n = 1500, d = 6;
    float *x = lattice_points(n, d, 7);
    compare_engines("lattice ties", x, n, d, 40, 700, 97, 0);
    compare_engines("lattice ties, small transfers", x, n, d, 40, 700, 256, 1);
    free(x);
}

/* k = 1: the nearest list is the anchor alone (no GPU work), rank 1 is the
 * nearest other point; rank N - 1 is the farthest one. D = 19 is odd for
 * the GEMM. */
Test(cuda_knn, smallest_and_largest_ranks)
{
    require_gpu();
    const int n = 777, d = 19;
    float *x = test_clustered_points(n, d, 9);
    compare_engines("k = 1", x, n, d, 1, 0, 0, 0);
    compare_engines("k = 1 and rank 1", x, n, d, 1, 1, 100, 0);
    compare_engines("rank N - 1", x, n, d, 0, n - 1, 0, 0);
    compare_engines("all N as the nearest list", x, n, d, n, 0, 300, 0);
    free(x);
}

Test(cuda_knn, large_k)
{
    require_gpu();
    const int n = 3000, d = 32;
    float *x = uniform_points(n, d, 13);
    compare_engines("k = 1000", x, n, d, 1000, 0, 0, 0);
    compare_engines("rank 1000", x, n, d, 0, 1000, 0, 0);
    compare_engines("k = 1000 and rank 2000, tiles of 1024 rows", x, n, d, 1000, 2000, 1024, 0);
    free(x);
    float *y = lattice_points(n, 5, 17);
    compare_engines("lattice, k = 1000", y, n, 5, 1000, 2999, 512, 1);
    free(y);
}

static int cache_files(const char *dir)
{
    DIR *dd = opendir(dir);
    int count = 0;
    struct dirent *e;
    while (dd && (e = readdir(dd))) count += strstr(e->d_name, ".safetensors") != NULL;
    if (dd) closedir(dd);
    return count;
}

/* A miner's two calls, as the knn and far miners make them through the api. */
typedef struct cached_request {
    const unic_mine_input *in;
    int k, rank;
    mined *out;
} cached_request;

static int mine_cached(void *ctx, char *err, size_t errlen)
{
    const cached_request *q = ctx;
    if (unic_knn(q->in, q->k, q->out->idx, q->out->sq, err, errlen) != 0) return -1;
    return unic_kth_neighbor(q->in, q->rank, q->out->th, q->out->th_idx, err, errlen);
}

/* The miners' path: unic_knn and unic_kth_neighbor dispatch to the GPU when
 * the run asked for it, and a cache file written from either device serves
 * the other. */
Test(cuda_knn, dispatch_and_shared_cache)
{
    require_gpu();
    const int n = 900, d = 16, k = 10, rank = 200;
    float *x = test_clustered_points(n, d, 21);
    char *dir = test_tmpdir("gpu_cache"), err[1024] = "";
    unic_mine_input plain = {n, d, x, NULL, NULL, UNIC_CPU};
    unic_mine_input cached = {n, d, x, NULL, dir, UNIC_CUDA};
    mined cpu = mined_new(n, k), gpu = mined_new(n, k), hit = mined_new(n, k);
    mine_on_cpu(&plain, k, 0, &cpu);
    mine_on_cpu(&plain, 0, rank, &cpu);

    /* as a run with [train] device = cuda hands its device to its miners */
    cr_assert_eq(mine_cached(&(cached_request){&cached, k, rank, &gpu}, err, sizeof err), 0, "%s",
                 err);
    cr_expect_eq(cache_files(dir), 2, "the GPU's results are cached like the CPU's");
    expect_identical("dispatched to the GPU", n, k, rank, &cpu, &gpu);

    cached.device = UNIC_CPU;
    cr_assert_eq(unic_knn(&cached, k, hit.idx, hit.sq, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_kth_neighbor(&cached, rank, hit.th, hit.th_idx, err, sizeof err), 0, "%s",
                 err);
    cr_expect_eq(cache_files(dir), 2, "the CPU must hit the GPU's cache files");
    expect_identical("the GPU's cache read on the CPU", n, k, rank, &cpu, &hit);

    setenv("UNIC_MINE_DEVICE", "cuda", 1); /* the override reaches the GPU without a run */
    cr_assert_eq(unic_knn(&plain, k, gpu.idx, gpu.sq, err, sizeof err), 0, "%s", err);
    unsetenv("UNIC_MINE_DEVICE");
    expect_identical("UNIC_MINE_DEVICE=cuda", n, k, 0, &cpu, &gpu);
    mined_free(&cpu);
    mined_free(&gpu);
    mined_free(&hit);
    free(dir);
    free(x);
}

/* ---- the vit backbone on the GPU against itself on the CPU -------------- */

static void vit_pair(const char *fixture, int layerscale, const char *finetune,
                     test_component out[2], unic_registry **reg)
{
    char err[1024] = "", *ck = test_fixture(fixture);
    *reg = test_builtin_registry();
    const char *patch = layerscale ? "4" : "8", *heads = layerscale ? "2" : "3";
    for (int dev = 0; dev < 2; dev++) {
        const char *kv[] = {"checkpoint", ck, "patch", patch, "depth", "2", "dim", "24",
                            "heads", heads, "layerscale", layerscale ? "true" : "false",
                            "finetune", finetune, "device", dev ? "cuda" : "cpu", NULL};
        out[dev] = test_create(*reg, UNIC_KIND_BACKBONE, "vit", kv, err, sizeof err);
        cr_assert_not_null(out[dev].state, "%s", err);
        unic_input_info info = {3, {3, 32, 32}, fixture};
        int dim;
        cr_assert_eq(out[dev].c->backbone->open(out[dev].state, &info, &dim, err, sizeof err), 0,
                     "%s", err);
    }
    free(ck);
}

/* Both fixtures (DINO-like; DINOv2-like with LayerScale and an interpolated
 * grid), frozen: embeddings and tokens; last block and full: their
 * gradients too (full's pos_embed through the interpolation, on the host). */
Test(cuda_vit, matches_the_cpu)
{
    require_gpu();
    const char *fixtures[] = {"vit_a.safetensors", "vit_b.safetensors"};
    char *in_path = test_fixture("vit_inputs.npy");
    unic_array in;
    char err[512];
    cr_assert_eq(unic_npy_load(in_path, &in, err, sizeof err), 0, "%s", err);
    const char *levels[] = {"frozen", "last_block", "full"};
    for (int f = 0; f < 2; f++)
        for (int trained = 0; trained < 3; trained++) {
            test_component v[2];
            unic_registry *reg;
            vit_pair(fixtures[f], f == 1, levels[trained], v, &reg);
            unic_tensor input = {in.data, {2, 3, 32, 32}, 4, UNIC_CPU};
            int t = v[0].c->backbone->token_count(v[0].state);
            float emb[2][2 * 24], *tok[2];
            unic_param_tensor p[2][64];
            int np = v[0].c->backbone->parameters(v[0].state, p[0], 64);
            cr_assert_eq(v[1].c->backbone->parameters(v[1].state, p[1], 64), np);
            for (int dev = 0; dev < 2; dev++) {
                const unic_backbone_ops *ops = v[dev].c->backbone;
                unic_tensor e = {emb[dev], {2, 24}, 2, UNIC_CPU};
                tok[dev] = calloc((size_t)2 * t * 24, sizeof(float));
                unic_tensor tk = {tok[dev], {2, t, 24}, 3, UNIC_CPU};
                ops->forward_tokens(v[dev].state, &input, &tk);
                if (trained) ops->set_training(v[dev].state, 1);
                ops->forward(v[dev].state, &input, &e);
                if (trained) {
                    float r[2 * 24];
                    for (int i = 0; i < 48; i++) r[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
                    unic_tensor d = {r, {2, 24}, 2, UNIC_CPU};
                    for (int j = 0; j < np; j++) unic_tensor_zero(p[dev][j].grad);
                    ops->backward(v[dev].state, &d);
                }
            }
            double e = test_rel_err(emb[1], emb[0], 48);
            cr_expect_lt(e, 1e-5, "%s %s: embeddings differ by %g", fixtures[f], levels[trained],
                         e);
            e = test_rel_err(tok[1], tok[0], 2LL * t * 24);
            cr_expect_lt(e, 1e-5, "%s: tokens differ by %g", fixtures[f], e);
            for (int j = 0; trained && j < np; j++) {
                int host = strcmp(p[1][j].name, "pos_embed") == 0;
                cr_expect_eq(p[1][j].grad->device, host ? UNIC_CPU : UNIC_CUDA, "where %s lives",
                             p[1][j].name);
                cr_expect_lt(rel_err_dev(p[1][j].grad, p[0][j].grad), 1e-4, "%s: d %s",
                             levels[trained], p[1][j].name);
            }
            for (int dev = 0; dev < 2; dev++) {
                free(tok[dev]);
                test_destroy(&v[dev]);
            }
            unic_registry_free(reg);
        }
    unic_array_free(&in);
    free(in_path);
}

/* ---- the resnet50 backbone on the GPU against itself on the CPU --------- */

Test(cuda_resnet, matches_the_cpu)
{
    require_gpu();
    char err[1024] = "", *ck = test_fixture("resnet.safetensors");
    char *in_path = test_fixture("resnet_inputs.npy");
    unic_array in;
    cr_assert_eq(unic_npy_load(in_path, &in, err, sizeof err), 0, "%s", err);
    unic_tensor input = {in.data, {2, 3, 64, 64}, 4, UNIC_CPU};
    const char *levels[] = {"frozen", "last_block", "full"};
    for (int l = 0; l < 3; l++) {
        unic_registry *reg = test_builtin_registry();
        test_component v[2];
        float emb[2][2 * 64];
        unic_param_tensor p[2][128];
        int np = 0;
        for (int dev = 0; dev < 2; dev++) {
            const char *kv[] = {"checkpoint", ck, "finetune", levels[l], "device",
                                dev ? "cuda" : "cpu", NULL};
            v[dev] = test_create(reg, UNIC_KIND_BACKBONE, "resnet50", kv, err, sizeof err);
            cr_assert_not_null(v[dev].state, "%s", err);
            const unic_backbone_ops *ops = v[dev].c->backbone;
            unic_input_info info = {3, {3, 64, 64}, "resnet_inputs.npy"};
            int dim;
            cr_assert_eq(ops->open(v[dev].state, &info, &dim, err, sizeof err), 0, "%s", err);
            np = ops->parameters(v[dev].state, p[dev], 128);
            if (np) ops->set_training(v[dev].state, 1);
            unic_tensor e = {emb[dev], {2, 64}, 2, UNIC_CPU};
            ops->forward(v[dev].state, &input, &e);
            if (np) {
                float r[2 * 64];
                for (int i = 0; i < 128; i++) r[i] = (float)((i * 5) % 13) / 13.0f - 0.5f;
                unic_tensor d = {r, {2, 64}, 2, UNIC_CPU};
                for (int j = 0; j < np; j++) unic_tensor_zero(p[dev][j].grad);
                ops->backward(v[dev].state, &d);
            }
        }
        double e = test_rel_err(emb[1], emb[0], 128);
        cr_expect_lt(e, 1e-5, "%s: embeddings differ by %g", levels[l], e);
        for (int j = 0; j < np; j++)
            cr_expect_lt(rel_err_dev(p[1][j].grad, p[0][j].grad), 1e-4, "%s: d %s", levels[l],
                         p[1][j].name);
        for (int dev = 0; dev < 2; dev++) test_destroy(&v[dev]);
        unic_registry_free(reg);
    }
    unic_array_free(&in);
    free(in_path);
    free(ck);
}
