/* Registers a loss named like a built-in one: the registry must refuse it
 * and name both files. */
#include <stdlib.h>

#include "unic/plugin.h"

static void *create(const unic_params *p, char *err, size_t errlen) { return malloc(1); }
static void destroy(void *self) { free(self); }
static double forward(void *self, const unic_loss_batch *b, float scale, unic_loss_grad *g) { return 0; }
static const unic_loss_ops ops = {.default_weight = 1.0f, .has_default_weight = 1, .forward = forward};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_LOSS,
    .name = "entropy",
    .doc = "test plugin clashing with the built-in entropy loss",
    .create = create,
    .destroy = destroy,
    .loss = &ops,
};

UNIC_EXPORT int unic_plugin_init(const unic_api *api, unic_registrar *reg)
{
    return api->register_component(reg, &component);
}
