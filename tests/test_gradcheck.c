/* The generic finite-difference gradient check: every registered head and
 * loss, with its default parameters, must have a backward that matches its
 * forward. A new plugin is covered without writing a test. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "plugin/params.h"
#include "plugin/registry.h"
#include "unic/rng.h"

static unic_registry *reg;
static void setup(void)
{
    char err[2048];
    /* the SDK's out-of-tree example is held to the same check */
    setenv("UNIC_PLUGIN_PATH", UNIC_TEST_PLUGIN_ROOT "/example", 1);
    reg = unic_registry_new();
    cr_assert_eq(unic_registry_load_default(reg, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(unic_registry_find(reg, UNIC_KIND_LOSS, "kl_uniform", err, sizeof err), "%s", err);
}
static void teardown(void) { unic_registry_free(reg); }
TestSuite(gradcheck, .init = setup, .fini = teardown);

static void *create_default(const unic_component *c, unic_params **p)
{
    char err[1024] = "";
    *p = unic_params_new();
    unic_params_add_table(*p, c->params);
    void *s = c->create(*p, err, sizeof err);
    cr_assert_not_null(s, "%s: %s", c->name, err);
    return s;
}

static void fill_normal(float *x, int64_t n, uint64_t seed)
{
    unic_rng g = unic_rng_stream(seed, 1, 2);
    for (int64_t i = 0; i < n; i++) x[i] = 2.0f * unic_rng_uniform(&g) - 1.0f;
}

/* Objective of a head: sum(logits * R), accumulated in double. */
static double head_objective(const unic_component *c, void *s, const unic_tensor *x,
                             unic_tensor *logits, const float *r)
{
    c->head->forward(s, x, logits);
    double v = 0;
    for (int64_t i = 0; i < unic_numel(logits); i++) v += (double)logits->data[i] * r[i];
    return v;
}

/* Central differences on up to `samples` entries of value (spread evenly),
 * against the analytic gradient; returns the relative error. */
static double check_entries(float *value, const float *grad, int64_t n, int samples,
                            double (*f)(void *), void *ctx, float h)
{
    double num = 0, den = 0;
    int64_t stride = n > samples ? n / samples : 1;
    for (int64_t i = 0; i < n; i += stride) {
        float keep = value[i];
        value[i] = keep + h;
        double up = f(ctx);
        value[i] = keep - h;
        double down = f(ctx);
        value[i] = keep;
        double fd = (up - down) / (2.0 * h);
        num += (fd - grad[i]) * (fd - grad[i]);
        den += fd * fd;
    }
    return sqrt(num) / fmax(sqrt(den), 1e-12);
}

typedef struct head_ctx {
    const unic_component *c;
    void *s;
    unic_tensor *x, *logits;
    float *r;
} head_ctx;

static double head_f(void *p)
{
    head_ctx *h = p;
    return head_objective(h->c, h->s, h->x, h->logits, h->r);
}

Test(gradcheck, every_head)
{
    int checked = 0;
    for (int i = 0; i < unic_registry_count(reg); i++) {
        const unic_component *c = unic_registry_at(reg, i);
        if (c->kind != UNIC_KIND_HEAD) continue;
        unic_params *p;
        void *s = create_default(c, &p);
        /* in = 12: the attention head's default 12 heads divide it; a head
         * that takes tokens gets 3 per item */
        const int rows = 5, k = 4, tokens = c->head->takes_tokens ? 3 : 1;
        const int64_t in = 12, shape[3] = {rows, tokens, in};
        char err[512];
        cr_assert_eq(c->head->setup(s, (int)in, k, rows, UNIC_CPU, 11, err, sizeof err), 0, "%s",
                     err);
        int nd = c->head->takes_tokens ? 3 : 2;
        int64_t flat[2] = {rows, in};
        unic_tensor *x = unic_tensor_new(UNIC_CPU, nd, nd == 3 ? shape : flat);
        unic_tensor *dx = unic_tensor_new(UNIC_CPU, nd, nd == 3 ? shape : flat);
        unic_tensor *logits = unic_tensor_2d(UNIC_CPU, rows, k), *dl = unic_tensor_2d(UNIC_CPU, rows, k);
        fill_normal(x->data, unic_numel(x), 5);
        fill_normal(dl->data, rows * k, 6);
        unic_param_tensor params[32];
        int np = c->head->parameters(s, params, 32);
        for (int j = 0; j < np; j++) unic_tensor_zero(params[j].grad);
        head_objective(c, s, x, logits, dl->data);
        c->head->backward(s, dl, dx);
        head_ctx ctx = {c, s, x, logits, dl->data};
        double e = check_entries(x->data, dx->data, unic_numel(x), 30, head_f, &ctx, 1e-2f);
        cr_expect_lt(e, 1e-2, "head %s: d input relative error %g", c->name, e);
        for (int j = 0; j < np; j++) {
            e = check_entries(params[j].value->data, params[j].grad->data,
                              unic_numel(params[j].value), 40, head_f, &ctx, 1e-2f);
            cr_expect_lt(e, 1e-2, "head %s: d %s relative error %g", c->name, params[j].name, e);
        }
        unic_tensor_free(x);
        unic_tensor_free(dx);
        unic_tensor_free(logits);
        unic_tensor_free(dl);
        c->destroy(s);
        unic_params_free(p);
        checked++;
    }
    cr_expect_geq(checked, 3, "mlp, fc and attention at least");
}

typedef struct loss_ctx {
    const unic_component *c;
    void *s;
    unic_loss_batch *b;
    float *scratch;
} loss_ctx;

static double loss_f(void *p)
{
    loss_ctx *l = p;
    size_t m = (size_t)l->b->n * l->b->k;
    unic_loss_grad g = {l->scratch, l->scratch + m, l->scratch + 2 * m};
    return l->c->loss->forward(l->s, l->b, 1.0f, &g);
}

/* Rows of a softmax of random logits: probabilities away from 0 and 1 so
 * the clamps stay inactive. */
static void random_probs(float *p, int n, int k, uint64_t seed)
{
    unic_rng g = unic_rng_stream(seed, 3, 4);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int c = 0; c < k; c++) s += p[i * k + c] = expf(2.0f * unic_rng_uniform(&g));
        for (int c = 0; c < k; c++) p[i * k + c] = (float)(p[i * k + c] / s);
    }
}

Test(gradcheck, every_loss)
{
    int checked = 0;
    const int n = 6, k = 5;
    size_t m = (size_t)n * k;
    for (int i = 0; i < unic_registry_count(reg); i++) {
        const unic_component *c = unic_registry_at(reg, i);
        if (c->kind != UNIC_KIND_LOSS) continue;
        unic_params *p;
        void *s = create_default(c, &p);
        float *probs = malloc(sizeof(float) * 3 * m), *grad = calloc(3 * m, sizeof(float));
        float *grad2 = calloc(3 * m, sizeof(float)), *scratch = calloc(3 * m, sizeof(float));
        random_probs(probs, 3 * n, k, 17 + (uint64_t)i);
        int32_t labels[6] = {0, -1, 1, -1, 2, 0};
        unic_loss_batch b = {n, k, probs, probs + m, probs + 2 * m, labels};
        unic_loss_grad g = {grad, grad + m, grad + 2 * m};
        double v = c->loss->forward(s, &b, 1.0f, &g);
        cr_expect(isfinite(v), "loss %s is not finite", c->name);
        loss_ctx ctx = {c, s, &b, scratch};
        double e = check_entries(probs, grad, (int64_t)(3 * m), 90, loss_f, &ctx, 1e-3f);
        cr_expect_lt(e, 1e-2, "loss %s: gradient relative error %g", c->name, e);
        /* the scale argument multiplies the gradient, and gradients accumulate */
        unic_loss_grad g2 = {grad2, grad2 + m, grad2 + 2 * m};
        c->loss->forward(s, &b, 2.0f, &g2);
        c->loss->forward(s, &b, 1.0f, &g2);
        for (size_t j = 0; j < 3 * m; j++)
            cr_assert_float_eq(grad2[j], 3.0f * grad[j], 1e-5f + 1e-4f * fabsf(grad[j]),
                               "loss %s: scale/accumulation at %zu", c->name, j);
        free(probs);
        free(grad);
        free(grad2);
        free(scratch);
        c->destroy(s);
        unic_params_free(p);
        checked++;
    }
    cr_expect_geq(checked, 4, "pos, neg, entropy and the kl_uniform example at least");
}

Test(gradcheck, entropy_is_maximised)
{
    char err[256];
    const unic_component *c = unic_registry_find(reg, UNIC_KIND_LOSS, "entropy", err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    unic_params *p;
    void *s = create_default(c, &p);
    float uniform[4] = {0.5f, 0.5f, 0.5f, 0.5f}, collapsed[4] = {1.0f, 0.0f, 1.0f, 0.0f};
    float g[4] = {0};
    unic_loss_grad lg = {g, NULL, NULL};
    unic_loss_batch bu = {2, 2, uniform, NULL, NULL, NULL}, bc = {2, 2, collapsed, NULL, NULL, NULL};
    double vu = c->loss->forward(s, &bu, 1.0f, &lg), vc = c->loss->forward(s, &bc, 1.0f, &lg);
    cr_expect_float_eq(vu, -log(2.0), 1e-6, "the value is -H: -log 2 for a uniform mean");
    cr_expect_lt(vu, vc, "a uniform mean prediction must have the lower loss");
    c->destroy(s);
    unic_params_free(p);
}
