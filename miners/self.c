/* `self`: every anchor's positive is the anchor itself, read again under
 * its own augmentation: SCAN's self-labelling pairs a weak and a strong
 * view of one image this way ([data] positive_transform gives the strong
 * one), as SimCLR pairs two views. No neighbours are mined. */
#include <stdlib.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

static const unic_param_spec params[] = {{NULL}};

static void *create(const unic_params *p, char *err, size_t errlen) { return calloc(1, 1); }

static void destroy(void *self) { free(self); }

static int mine(void *self, const unic_mine_input *in, char *err, size_t errlen) { return 0; }

static int64_t sample(void *self, int64_t anchor, unic_rng *rng) { return anchor; }

static int64_t count(void *self, int64_t anchor) { return 1; }

static const unic_miner_ops ops = {UNIC_ROLE_POSITIVE, mine, sample, count};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_MINER,
    .name = "self",
    .doc = "positives: the anchor itself under another augmentation (SCAN's self-labelling "
           "with [data] positive_transform)",
    .params = params,
    .create = create,
    .destroy = destroy,
    .miner = &ops,
};

UNIC_EXPORT int unic_plugin_init(const unic_api *api, unic_registrar *reg)
{
    UNIC_PLUGIN_INIT(api);
    return api->register_component(reg, &component);
}
