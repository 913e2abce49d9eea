/* `random`: negatives drawn uniformly from the whole training set, the
 * baseline of Table 4 that mined negatives improve on (false negatives
 * included, Figure 8). */
#include <stdio.h>
#include <stdlib.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

typedef struct random_miner {
    int64_t n;
} random_miner;

static const unic_param_spec params[] = {{NULL}};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    return calloc(1, sizeof(random_miner));
}

static void destroy(void *self) { free(self); }

static int mine(void *self, const unic_mine_input *in, char *err, size_t errlen)
{
    random_miner *m = self;
    if (in->n < 2) {
        snprintf(err, errlen, "random negatives need at least 2 samples");
        return -1;
    }
    m->n = in->n;
    return 0;
}

static int64_t sample(void *self, int64_t anchor, unic_rng *rng)
{
    random_miner *m = self;
    int64_t j = (int64_t)unic_rng_below(rng, (uint64_t)(m->n - 1));
    return j >= anchor ? j + 1 : j; /* never the anchor itself */
}

static int64_t count(void *self, int64_t anchor)
{
    random_miner *m = self;
    return m->n - 1;
}

static const unic_miner_ops ops = {UNIC_ROLE_NEGATIVE, mine, sample, count};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_MINER,
    .name = "random",
    .doc = "negatives: uniform over all other samples (Table 4's 'random')",
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
