/* `fc`: a single linear layer from the embedding to the clusters (Figure 6). */
#include <math.h>
#include <stdlib.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

typedef struct fc {
    unic_tensor *w, *b, *dw, *db;
    unic_tensor x;
} fc;

static const unic_param_spec params[] = {{NULL}};

static void *create(const unic_params *p, char *err, size_t errlen) { return calloc(1, sizeof(fc)); }

static void destroy(void *self)
{
    fc *f = self;
    unic->tensor_free(f->w);
    unic->tensor_free(f->b);
    unic->tensor_free(f->dw);
    unic->tensor_free(f->db);
    free(f);
}

static int setup(void *self, int in_dim, int k, int max_rows, unic_device dev, uint64_t seed,
                 char *err, size_t errlen)
{
    fc *f = self;
    int64_t ws[2] = {k, in_dim}, bs[1] = {k};
    f->w = unic->tensor_new(dev, 2, ws);
    f->dw = unic->tensor_new(dev, 2, ws);
    f->b = unic->tensor_new(dev, 1, bs);
    f->db = unic->tensor_new(dev, 1, bs);
    unic->fill_uniform(f->w, 1.0f / sqrtf((float)in_dim), seed, 1);
    unic->fill_uniform(f->b, 1.0f / sqrtf((float)in_dim), seed, 2);
    return 0;
}

static void forward(void *self, const unic_tensor *x, unic_tensor *logits)
{
    fc *f = self;
    f->x = *x;
    unic->linear_forward(logits, x, f->w, f->b);
}

static void backward(void *self, const unic_tensor *d_logits, unic_tensor *dx)
{
    fc *f = self;
    unic->linear_backward(dx, f->dw, f->db, d_logits, &f->x, f->w);
}

static int parameters(void *self, unic_param_tensor *out, int max)
{
    fc *f = self;
    if (max >= 2) {
        out[0] = (unic_param_tensor){"weight", f->w, f->dw};
        out[1] = (unic_param_tensor){"bias", f->b, f->db};
    }
    return 2;
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
    .name = "fc",
    .doc = "one linear layer (Figure 6's fully-connected head)",
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
