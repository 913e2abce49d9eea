/* The `attention` head (Figure 6's self-attention head) against PyTorch:
 * tests/fixtures/make_attention_head_fixtures.py writes the same block in
 * plain torch.nn with random weights, tokens, the logits and every gradient
 * of L = sum(logits * R). */
#include <criterion/criterion.h>
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
