/* A loss that forgets its default weight (a static struct's missing field
 * is 0): the registry must refuse it at load rather than weigh it 0. */
#include <stdlib.h>

#include "unic/plugin.h"

static void *create(const unic_params *p, char *err, size_t errlen) { return malloc(1); }
static void destroy(void *self) { free(self); }
static double forward(void *self, const unic_loss_batch *b, float scale, unic_loss_grad *g) { return 0; }
static const unic_loss_ops ops = {.forward = forward};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_LOSS,
    .name = "weightless",
    .doc = "test loss without a default weight",
    .create = create,
    .destroy = destroy,
    .loss = &ops,
};

UNIC_EXPORT int unic_plugin_init(const unic_api *api, unic_registrar *reg)
{
    return api->register_component(reg, &component);
}
