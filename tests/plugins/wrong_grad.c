/* A loss with a bug in its backward: L = mean_i <p_anchor_i, p_pos_i>, but
 * only dL/dp_anchor is added (dL/dp_pos is forgotten). `unic gradcheck`
 * must report d p_pos as FAIL and exit with status 1. */
#include <stdlib.h>

#include "unic/plugin.h"

static void *create(const unic_params *p, char *err, size_t errlen) { return malloc(1); }
static void destroy(void *self) { free(self); }

static double forward(void *self, const unic_loss_batch *b, float scale, unic_loss_grad *g)
{
    double loss = 0;
    for (int i = 0; i < b->n; i++)
        for (int c = 0; c < b->k; c++) {
            size_t at = (size_t)i * b->k + c;
            loss += (double)b->p_anchor[at] * b->p_pos[at] / b->n;
            g->d_anchor[at] += scale * b->p_pos[at] / b->n;
        }
    return loss;
}

static const unic_loss_ops ops = {.default_weight = 1.0f, .has_default_weight = 1, .forward = forward};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_LOSS,
    .name = "wrong_grad",
    .doc = "test loss whose gradient misses d p_pos",
    .create = create,
    .destroy = destroy,
    .loss = &ops,
};

UNIC_EXPORT int unic_plugin_init(const unic_api *api, unic_registrar *reg)
{
    return api->register_component(reg, &component);
}
