/* A plugin as ABI 5 built it, before the version split into major.minor:
 * its component began with int abi_version, unic_kind kind, const char
 * *name. The registry must still read its name and version and refuse it. */
#include <stdlib.h>

#include "unic/plugin.h"

typedef struct abi5_component {
    int abi_version;
    unic_kind kind;
    const char *name;
    const char *doc;
} abi5_component;

static const abi5_component component = {
    .abi_version = 5,
    .kind = UNIC_KIND_MINER,
    .name = "from_abi5",
    .doc = "test plugin laid out as ABI 5",
};

UNIC_EXPORT int unic_plugin_init(const unic_api *api, unic_registrar *reg)
{
    return api->register_component(reg, (const unic_component *)&component);
}
