/* A loss that misbehaves on request, for the grid's failure tests: with
 * `fail = crash` its process aborts at the first step (SIGABRT, as a
 * segfault or an out-of-memory kill would end it), with `fail = nan` it
 * returns NaN; with `fail = none` it is a zero loss. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unic/plugin.h"

static const unic_api *unic;

static const unic_param_spec params[] = {
    {"fail", UNIC_CHOICE, "none", "how to fail", "none|crash|nan"},
    {NULL, 0, NULL, NULL, NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    char *mode = malloc(16);
    strncpy(mode, unic->param_str(p, "fail"), 15);
    mode[15] = '\0';
    return mode;
}

static void destroy(void *self) { free(self); }

static double forward(void *self, const unic_loss_batch *b, float scale, unic_loss_grad *g)
{
    (void)b;
    (void)scale;
    (void)g;
    const char *mode = self;
    if (strcmp(mode, "crash") == 0) abort();
    return strcmp(mode, "nan") == 0 ? NAN : 0.0;
}

static const unic_loss_ops ops = {.default_weight = 1.0f, .has_default_weight = 1, .forward = forward};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_LOSS,
    .name = "misbehave",
    .doc = "test loss that crashes or returns NaN on request",
    .params = params,
    .create = create,
    .destroy = destroy,
    .loss = &ops,
};

UNIC_EXPORT int unic_plugin_init(const unic_api *api, unic_registrar *reg)
{
    unic = api;
    return api->register_component(reg, &component);
}
