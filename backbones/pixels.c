/* `pixels`: raw images (e.g. Fashion-MNIST from IDX) flattened and scaled,
 * the simplest embedding there is and the quickstart's. */
#include <stdio.h>
#include <stdlib.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

typedef struct pixels {
    float scale, mean, std;
} pixels;

static const unic_param_spec params[] = {
    {"scale", UNIC_FLOAT, "0.00392156862745098", "multiplier applied to raw values (1/255: pixels to [0, 1])", NULL},
    {"mean", UNIC_FLOAT, "0", "subtracted after scaling", NULL},
    {"std", UNIC_FLOAT, "1", "divides after subtracting the mean", NULL},
    {NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    pixels *x = calloc(1, sizeof *x);
    x->scale = (float)unic->param_float(p, "scale");
    x->mean = (float)unic->param_float(p, "mean");
    x->std = (float)unic->param_float(p, "std");
    if (x->std <= 0) {
        snprintf(err, errlen, "std must be positive, got %g", x->std);
        free(x);
        return NULL;
    }
    return x;
}

static void destroy(void *self) { free(self); }

static int open_input(void *self, const unic_input_info *in, int *embed_dim, char *err,
                      size_t errlen)
{
    if (in->ndim < 2) {
        snprintf(err, errlen, "%s: the pixels backbone expects images (N x H x W or N x C x H x W), "
                 "got vectors (use backbone plugin = features)", in->source);
        return -1;
    }
    int64_t d = 1;
    for (int i = 0; i < in->ndim; i++) d *= in->shape[i];
    *embed_dim = (int)d;
    return 0;
}

static void forward(void *self, const unic_tensor *input, unic_tensor *emb)
{
    pixels *x = self;
    int64_t n = unic_numel(input);
    float a = x->scale / x->std, b = -x->mean / x->std;
    for (int64_t i = 0; i < n; i++) emb->data[i] = input->data[i] * a + b;
}

/* A fixed transform: nothing to train. */
static void backward(void *self, const unic_tensor *d_emb) {}
static int parameters(void *self, unic_param_tensor *out, int max) { return 0; }

static const unic_backbone_ops ops = {
    .open = open_input,
    .forward = forward,
    .backward = backward,
    .parameters = parameters,
};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_BACKBONE,
    .name = "pixels",
    .doc = "raw images flattened and scaled: (x * scale - mean) / std",
    .params = params,
    .create = create,
    .destroy = destroy,
    .backbone = &ops,
};

UNIC_EXPORT int unic_plugin_init(const unic_api *api, unic_registrar *reg)
{
    UNIC_PLUGIN_INIT(api);
    return api->register_component(reg, &component);
}
