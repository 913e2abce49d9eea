/* An out-of-tree plugin, as a user would write one: SimGCD's form of the
 * entropy regulariser, KL(mean prediction || uniform) = log K - H(mean).
 * It has the same gradient as the built-in `entropy` loss but is never
 * negative, which some find easier to read in logs.
 *
 * Build it alone against the SDK headers (an installed unic's, or the
 * source tree's core/include) and point unic at the folder:
 *   cc -O2 -shared -fPIC $(pkg-config --cflags unic) plugins/kl_uniform.c -o ~/unic-plugins/kl_uniform.so -lm
 *   unic gradcheck ~/unic-plugins/kl_uniform.so         # its gradient matches its value
 *   UNIC_PLUGIN_PATH=~/unic-plugins unic run my.ini     # with [loss.kl_uniform]
 */
#include <math.h>
#include <stdlib.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API; /* the core's api table, kept by UNIC_PLUGIN_INIT */

typedef struct kl_uniform {
    double eps;
} kl_uniform;

/* Every INI key the loss accepts, with its default and a one-line doc:
 * `unic plugins` prints this table and the core validates against it. */
static const unic_param_spec params[] = {
    {"eps", UNIC_FLOAT, "1e-8", "mean probabilities are clamped to at least eps", NULL},
    {NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    (void)err, (void)errlen; /* nothing to refuse */
    kl_uniform *l = malloc(sizeof *l);
    l->eps = unic->param_float(p, "eps");
    return l;
}

static void destroy(void *self) { free(self); }

/* Returns the loss and adds scale * dL/dp into the gradients. */
static double forward(void *self, const unic_loss_batch *b, float scale, unic_loss_grad *g)
{
    const kl_uniform *l = self;
    double *mean = calloc((size_t)b->k, sizeof(double)), kl = log((double)b->k);
    for (int i = 0; i < b->n; i++)
        for (int c = 0; c < b->k; c++) mean[c] += b->p_anchor[(size_t)i * b->k + c] / b->n;
    for (int c = 0; c < b->k; c++) {
        double q = mean[c] > l->eps ? mean[c] : l->eps;
        kl += q * log(q);
        mean[c] = mean[c] > l->eps ? (log(mean[c]) + 1.0) / b->n : 0.0; /* dKL/dp_ic */
    }
    for (int i = 0; i < b->n; i++)
        for (int c = 0; c < b->k; c++) g->d_anchor[(size_t)i * b->k + c] += (float)(scale * mean[c]);
    free(mean);
    return kl;
}

/* The weight when [loss.kl_uniform] gives none: both fields are required
 * (a loss without them is refused at load). */
static const unic_loss_ops ops = {.default_weight = 3.0f, .has_default_weight = 1, .forward = forward};

static const unic_component component = {
    UNIC_COMPONENT_ABI, /* the ABI it was compiled for; checked at load */
    .kind = UNIC_KIND_LOSS,
    .name = "kl_uniform",
    .doc = "log K - H(batch mean of p_anchor): SimGCD's non-negative entropy regulariser",
    .params = params,
    .create = create,
    .destroy = destroy,
    .loss = &ops,
};

UNIC_EXPORT int unic_plugin_init(const unic_api *api, unic_registrar *reg)
{
    UNIC_PLUGIN_INIT(api);
    return api->register_component(reg, &component);
}
