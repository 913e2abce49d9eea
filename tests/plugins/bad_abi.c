/* A plugin compiled for another major ABI (a future one): the registry
 * must refuse it, naming the file, the component and both versions. */
#include <stdlib.h>

#include "unic/plugin.h"

static void *create(const unic_params *p, char *err, size_t errlen) { return malloc(1); }
static void destroy(void *self) { free(self); }
static double forward(void *self, const unic_loss_batch *b, float scale, unic_loss_grad *g) { return 0; }
static const unic_loss_ops ops = {.default_weight = 1.0f, .has_default_weight = 1, .forward = forward};

static const unic_component component = {
    .abi_major = UNIC_ABI_MAJOR + 1,
    .abi_minor = 0,
    .kind = UNIC_KIND_LOSS,
    .name = "from_the_future",
    .doc = "test plugin built for the next major ABI",
    .create = create,
    .destroy = destroy,
    .loss = &ops,
};

UNIC_EXPORT int unic_plugin_init(const unic_api *api, unic_registrar *reg)
{
    return api->register_component(reg, &component);
}
