/* CUDA ops against the CPU reference: same random inputs on both devices,
 * results compared by relative error. Gradient outputs start from random
 * values, not zeros, so an op that overwrites instead of accumulating fails.
 * Every test but the availability probe skips where no GPU is visible. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>

#include "helpers.h"
#include "ops.h"

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
