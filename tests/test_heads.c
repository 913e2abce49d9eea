/* Heads against PyTorch. The `attention` head (Figure 6's self-attention
 * head): tests/fixtures/make_attention_head_fixtures.py writes the same
 * block in plain torch.nn with random weights, tokens, the logits and every
 * gradient of L = sum(logits * R). The `dino` projection head:
 * tests/fixtures/make_dino_supcon_fixtures.py, with DINO's DINOHead. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "data/io.h"
#include "ops/ops.h"
#include "plugin/registry.h"

static unic_registry *reg;
static void setup(void) { reg = test_builtin_registry(); }
static void teardown(void) { unic_registry_free(reg); }
TestSuite(heads, .init = setup, .fini = teardown);

/* Tensor `name` of the fixture as floats (malloc'ed); its element count in *n. */
static float *fixture_tensor(const unic_safetensors *st, const char *name, int64_t *n)
{
    char err[512];
    const unic_array *a = unic_safetensors_find(st, name);
    cr_assert_not_null(a, "the fixture has no '%s'", name);
    *n = unic_array_numel(a);
    float *v = malloc(sizeof(float) * (size_t)*n);
    cr_assert_eq(unic_array_to_f32(a, v, err, sizeof err), 0, "%s", err);
    return v;
}

Test(heads, attention_head_matches_pytorch)
{
    char err[1024] = "", name[128];
    const char *kv[] = {"heads", "3", "hidden", "16", NULL};
    test_component h = test_create(reg, UNIC_KIND_HEAD, "attention", kv, err, sizeof err);
    cr_assert_not_null(h.state, "%s", err);
    cr_expect(h.c->head->takes_tokens, "the attention head takes tokens");
    cr_assert_eq(h.c->head->setup(h.state, 24, 7, 3, UNIC_CPU, 1, err, sizeof err), 0, "%s", err);

    /* a fresh head: LayerNorms at 1, linear layers within torch's bounds */
    unic_param_tensor p[32];
    int np = h.c->head->parameters(h.state, p, 32);
    cr_assert_eq(np, 16);
    cr_expect_str_eq(p[0].name, "norm1.weight");
    cr_expect(p[0].value->data[0] == 1.0f && p[0].value->data[23] == 1.0f);

    char *path = test_fixture("attention_head.safetensors");
    unic_safetensors *st;
    cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), 0, "%s", err);
    int64_t m;
    for (int i = 0; i < np; i++) {
        snprintf(name, sizeof name, "param.%s", p[i].name);
        float *w = fixture_tensor(st, name, &m);
        cr_assert_eq(m, unic_numel(p[i].value), "%s", p[i].name);
        memcpy(p[i].value->data, w, sizeof(float) * (size_t)m);
        free(w);
        unic_tensor_zero(p[i].grad);
    }
    float *xv = fixture_tensor(st, "x", &m), *rv = fixture_tensor(st, "r", &m);
    unic_tensor x = {xv, {3, 5, 24}, 3, UNIC_CPU}, r = {rv, {3, 7}, 2, UNIC_CPU};
    unic_tensor *logits = unic_tensor_2d(UNIC_CPU, 3, 7);
    int64_t shape[3] = {3, 5, 24};
    unic_tensor *dx = unic_tensor_new(UNIC_CPU, 3, shape);
    h.c->head->forward(h.state, &x, logits);
    float *want = fixture_tensor(st, "logits", &m);
    double e = test_rel_err(logits->data, want, 21);
    cr_expect_lt(e, 1e-5, "logits: relative error %g", e);
    free(want);
    h.c->head->backward(h.state, &r, dx);
    want = fixture_tensor(st, "grad.x", &m);
    e = test_rel_err(dx->data, want, m);
    cr_expect_lt(e, 1e-4, "d tokens: relative error %g", e);
    free(want);
    for (int i = 0; i < np; i++) {
        snprintf(name, sizeof name, "grad.%s", p[i].name);
        want = fixture_tensor(st, name, &m);
        e = test_rel_err(p[i].grad->data, want, m);
        cr_expect_lt(e, 1e-4, "d %s: relative error %g", p[i].name, e);
        free(want);
    }
    unic_safetensors_close(st);
    free(path);
    free(xv);
    free(rv);
    unic_tensor_free(logits);
    unic_tensor_free(dx);
    test_destroy(&h);
}

/* The `dino` projection head against DINO's DINOHead
 * (tests/fixtures/make_dino_supcon_fixtures.py): case a is the L2-normalised
 * bottleneck GCD's SupCon reads (out_dim 0), case b DINO's weight-normalised
 * last layer with weight_g trained (norm_last_layer false); outputs and
 * every gradient of L = sum(out * R). */
static void dino_case(const char *prefix, const char *const *kv, int width, int nparams,
                      const char *last_param)
{
    char err[1024] = "", name[160];
    test_component h = test_create(reg, UNIC_KIND_HEAD, "dino", kv, err, sizeof err);
    cr_assert_not_null(h.state, "%s", err);
    cr_assert_eq(h.c->head->setup(h.state, 12, 3, 5, UNIC_CPU, 1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unic_head_output_width(h.c, h.state, 3), width);
    unic_param_tensor p[32];
    int np = h.c->head->parameters(h.state, p, 32);
    cr_assert_eq(np, nparams, "%s: %d parameter tensors", prefix, np);
    cr_expect_str_eq(p[np - 1].name, last_param);
    /* a fresh head: DINO's init, weights of std 0.02 and zero biases */
    double ss = 0;
    for (int64_t i = 0; i < unic_numel(p[0].value); i++) ss += p[0].value->data[i] * p[0].value->data[i];
    double sd = sqrt(ss / (double)unic_numel(p[0].value));
    cr_expect(sd > 0.015 && sd < 0.025, "mlp.0.weight std %g, DINO draws 0.02", sd);
    cr_expect(p[1].value->data[0] == 0.0f, "biases start at 0");

    char *path = test_fixture("dino_head.safetensors");
    unic_safetensors *st;
    cr_assert_eq(unic_safetensors_open(path, &st, err, sizeof err), 0, "%s", err);
    int64_t m;
    for (int i = 0; i < np; i++) {
        snprintf(name, sizeof name, "%s.param.%s", prefix, p[i].name);
        float *w = fixture_tensor(st, name, &m);
        cr_assert_eq(m, unic_numel(p[i].value), "%s", p[i].name);
        memcpy(p[i].value->data, w, sizeof(float) * (size_t)m);
        free(w);
        unic_tensor_zero(p[i].grad);
    }
    snprintf(name, sizeof name, "%s.x", prefix);
    float *xv = fixture_tensor(st, name, &m);
    snprintf(name, sizeof name, "%s.r", prefix);
    float *rv = fixture_tensor(st, name, &m);
    unic_tensor x = {xv, {5, 12}, 2, UNIC_CPU}, r = {rv, {5, width}, 2, UNIC_CPU};
    unic_tensor *out = unic_tensor_2d(UNIC_CPU, 5, width), *dx = unic_tensor_2d(UNIC_CPU, 5, 12);
    h.c->head->forward(h.state, &x, out);
    snprintf(name, sizeof name, "%s.out", prefix);
    float *want = fixture_tensor(st, name, &m);
    double e = test_rel_err(out->data, want, m);
    cr_expect_lt(e, 1e-5, "%s: outputs: relative error %g", prefix, e);
    free(want);
    h.c->head->backward(h.state, &r, dx);
    snprintf(name, sizeof name, "%s.grad.x", prefix);
    want = fixture_tensor(st, name, &m);
    e = test_rel_err(dx->data, want, m);
    cr_expect_lt(e, 1e-5, "%s: d x: relative error %g", prefix, e);
    free(want);
    for (int i = 0; i < np; i++) {
        snprintf(name, sizeof name, "%s.grad.%s", prefix, p[i].name);
        want = fixture_tensor(st, name, &m);
        e = test_rel_err(p[i].grad->data, want, m);
        cr_expect_lt(e, 1e-5, "%s: d %s: relative error %g", prefix, p[i].name, e);
        free(want);
    }
    unic_safetensors_close(st);
    free(path);
    free(xv);
    free(rv);
    unic_tensor_free(out);
    unic_tensor_free(dx);
    test_destroy(&h);
}

Test(heads, dino_projection_head_matches_pytorch)
{
    const char *kv[] = {"hidden", "16", "bottleneck", "8", NULL};
    dino_case("a", kv, 8, 6, "mlp.4.bias");
}

Test(heads, dino_weight_normalised_last_layer_matches_pytorch)
{
    const char *kv[] = {"hidden", "16", "bottleneck", "8", "out_dim", "6", "norm_last_layer",
                        "false", NULL};
    dino_case("b", kv, 6, 8, "last_layer.weight_v");
}

Test(heads, dino_keeps_weight_g_fixed_by_default)
{
    char err[1024] = "";
    const char *kv[] = {"hidden", "16", "bottleneck", "8", "out_dim", "6", NULL};
    test_component h = test_create(reg, UNIC_KIND_HEAD, "dino", kv, err, sizeof err);
    cr_assert_not_null(h.state, "%s", err);
    cr_assert_eq(h.c->head->setup(h.state, 12, 3, 5, UNIC_CPU, 1, err, sizeof err), 0, "%s", err);
    unic_param_tensor p[32];
    int np = h.c->head->parameters(h.state, p, 32);
    cr_expect_eq(np, 7, "weight_g is not trained (norm_last_layer), so not listed");
    for (int i = 0; i < np; i++) cr_expect_str_neq(p[i].name, "last_layer.weight_g");
    /* rows of the effective weight have norm g = 1: every output lies in [-1, 1] */
    unic_tensor *x = unic_tensor_2d(UNIC_CPU, 5, 12), *out = unic_tensor_2d(UNIC_CPU, 5, 6);
    for (int i = 0; i < 60; i++) x->data[i] = (float)((i * 7919) % 13) - 6.0f;
    h.c->head->forward(h.state, x, out);
    for (int i = 0; i < 30; i++) cr_expect(fabsf(out->data[i]) <= 1.0f + 1e-5f, "%g", out->data[i]);
    unic_tensor_free(x);
    unic_tensor_free(out);
    test_destroy(&h);
}
