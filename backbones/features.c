/* `features`: embeddings a user brings from any model, an N x D matrix in a
 * .npy or safetensors file. Nothing to train: the core embeds once. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

typedef struct features {
    int l2_normalize;
    int dim;
} features;

static const unic_param_spec params[] = {
    {"l2_normalize", UNIC_BOOL, "false", "scale each embedding to unit length (cosine geometry)", NULL},
    {NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    features *f = calloc(1, sizeof *f);
    f->l2_normalize = unic->param_bool(p, "l2_normalize");
    return f;
}

static void destroy(void *self) { free(self); }

static int open_input(void *self, const unic_input_info *in, int *embed_dim, char *err,
                      size_t errlen)
{
    features *f = self;
    if (in->ndim != 1) {
        snprintf(err, errlen, "%s: the features backbone expects an N x D matrix, but each item "
                 "has %d dimensions (images? use backbone plugin = pixels)", in->source, in->ndim);
        return -1;
    }
    f->dim = (int)in->shape[0];
    *embed_dim = f->dim;
    return 0;
}

static void forward(void *self, const unic_tensor *input, unic_tensor *emb)
{
    features *f = self;
    unic->tensor_copy(emb, input);
    if (!f->l2_normalize) return;
    for (int64_t r = 0; r < emb->shape[0]; r++) {
        float *x = emb->data + r * f->dim;
        double s = 0;
        for (int c = 0; c < f->dim; c++) s += (double)x[c] * x[c];
        float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
        for (int c = 0; c < f->dim; c++) x[c] *= inv;
    }
}

/* Nothing upstream of the embeddings is trainable. */
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
    .name = "features",
    .doc = "precomputed embeddings: an N x D matrix from .npy or safetensors",
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
