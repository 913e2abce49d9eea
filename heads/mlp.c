/* `mlp`: the paper's clustering head (A.10), Linear -> GELU -> Linear with a
 * 2048-wide hidden layer, initialised as torch.nn.Linear is. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

typedef struct mlp {
    int hidden;
    unic_tensor *w1, *b1, *w2, *b2;     /* fc1.weight [H, D], fc2.weight [K, H] */
    unic_tensor *dw1, *db1, *dw2, *db2;
    unic_tensor *pre, *act, *d_act, *d_pre; /* [max_rows, H] activations and their gradients */
    unic_tensor x;                        /* the input of the last forward (a view) */
} mlp;

static const unic_param_spec params[] = {
    {"hidden", UNIC_INT, "2048", "width of the hidden layer", "1..65536"},
    {NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    long hidden = unic->param_int(p, "hidden");
    if (hidden < 1) {
        snprintf(err, errlen, "hidden must be at least 1, got %ld", hidden);
        return NULL;
    }
    mlp *m = calloc(1, sizeof *m);
    m->hidden = (int)hidden;
    return m;
}

static void destroy(void *self)
{
    mlp *m = self;
    unic_tensor *all[] = {m->w1, m->b1, m->w2, m->b2, m->dw1, m->db1, m->dw2, m->db2,
                          m->pre, m->act, m->d_act, m->d_pre};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) unic->tensor_free(all[i]);
    free(m);
}

static unic_tensor *new2(unic_device dev, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    return unic->tensor_new(dev, 2, shape);
}

static unic_tensor *new1(unic_device dev, int64_t n) { return unic->tensor_new(dev, 1, &n); }

static int setup(void *self, int in_dim, int k, int max_rows, unic_device dev, uint64_t seed,
                 char *err, size_t errlen)
{
    mlp *m = self;
    int h = m->hidden;
    m->w1 = new2(dev, h, in_dim);
    m->b1 = new1(dev, h);
    m->w2 = new2(dev, k, h);
    m->b2 = new1(dev, k);
    m->dw1 = new2(dev, h, in_dim);
    m->db1 = new1(dev, h);
    m->dw2 = new2(dev, k, h);
    m->db2 = new1(dev, k);
    m->pre = new2(dev, max_rows, h);
    m->act = new2(dev, max_rows, h);
    m->d_act = new2(dev, max_rows, h);
    m->d_pre = new2(dev, max_rows, h);
    /* torch.nn.Linear: weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    unic->fill_uniform(m->w1, 1.0f / sqrtf((float)in_dim), seed, 1);
    unic->fill_uniform(m->b1, 1.0f / sqrtf((float)in_dim), seed, 2);
    unic->fill_uniform(m->w2, 1.0f / sqrtf((float)h), seed, 3);
    unic->fill_uniform(m->b2, 1.0f / sqrtf((float)h), seed, 4);
    return 0;
}

static void forward(void *self, const unic_tensor *x, unic_tensor *logits)
{
    mlp *m = self;
    int64_t n = x->shape[0];
    unic_tensor pre = unic_rows(m->pre, 0, n), act = unic_rows(m->act, 0, n);
    m->x = *x;
    unic->linear_forward(&pre, x, m->w1, m->b1);
    unic->gelu_forward(&act, &pre);
    unic->linear_forward(logits, &act, m->w2, m->b2);
}

static void backward(void *self, const unic_tensor *d_logits, unic_tensor *dx)
{
    mlp *m = self;
    int64_t n = d_logits->shape[0];
    unic_tensor act = unic_rows(m->act, 0, n), pre = unic_rows(m->pre, 0, n);
    unic_tensor d_act = unic_rows(m->d_act, 0, n), d_pre = unic_rows(m->d_pre, 0, n);
    unic->tensor_zero(&d_act);
    unic->tensor_zero(&d_pre);
    unic->linear_backward(&d_act, m->dw2, m->db2, d_logits, &act, m->w2);
    unic->gelu_backward(&d_pre, &pre, &d_act);
    unic->linear_backward(dx, m->dw1, m->db1, &d_pre, &m->x, m->w1);
}

static int parameters(void *self, unic_param_tensor *out, int max)
{
    mlp *m = self;
    unic_param_tensor all[] = {{"fc1.weight", m->w1, m->dw1}, {"fc1.bias", m->b1, m->db1},
                               {"fc2.weight", m->w2, m->dw2}, {"fc2.bias", m->b2, m->db2}};
    int n = 4 < max ? 4 : max;
    for (int i = 0; i < n; i++) out[i] = all[i];
    return 4;
}

static const unic_head_ops ops = {
    .setup = setup,
    .forward = forward,
    .backward = backward,
    .parameters = parameters,
};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_HEAD,
    .name = "mlp",
    .doc = "two linear layers with GELU between (the paper's head, A.10)",
    .params = params,
    .create = create,
    .destroy = destroy,
    .head = &ops,
};

UNIC_EXPORT int unic_plugin_init(const unic_api *api, unic_registrar *reg)
{
    UNIC_PLUGIN_INIT(api);
    return api->register_component(reg, &component);
}
