/* `entropy`: eq. 8, the entropy of the mean anchor prediction, estimated on
 * the batch as SCAN does. It enters the objective with a minus sign
 * (w * -H), so minimising the objective maximises the entropy and keeps the
 * clusters from collapsing into one. */
#include <math.h>
#include <stdlib.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

typedef struct entropy {
    double eps;
    double *mean;
    int k;
} entropy;

static const unic_param_spec params[] = {
    {"eps", UNIC_FLOAT, "1e-8", "mean probabilities are clamped to at least eps, as SCAN does", NULL},
    {NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    entropy *l = calloc(1, sizeof *l);
    l->eps = unic->param_float(p, "eps");
    return l;
}

static void destroy(void *self)
{
    entropy *l = self;
    free(l->mean);
    free(l);
}

static double forward(void *self, const unic_loss_batch *b, float scale, unic_loss_grad *g)
{
    entropy *l = self;
    if (l->k != b->k) {
        free(l->mean);
        l->mean = malloc(sizeof(double) * (size_t)b->k);
        l->k = b->k;
    }
    for (int c = 0; c < b->k; c++) l->mean[c] = 0;
    for (int i = 0; i < b->n; i++)
        for (int c = 0; c < b->k; c++) l->mean[c] += b->p_anchor[(size_t)i * b->k + c];
    double h = 0;
    for (int c = 0; c < b->k; c++) {
        double q = l->mean[c] / b->n;
        double qc = q > l->eps ? q : l->eps;
        h -= qc * log(qc);
        /* d(-H)/dq = log q + 1 where unclamped; spread over the n anchors */
        l->mean[c] = q > l->eps ? (log(q) + 1.0) / b->n : 0.0;
    }
    for (int i = 0; i < b->n; i++)
        for (int c = 0; c < b->k; c++)
            g->d_anchor[(size_t)i * b->k + c] += (float)(scale * l->mean[c]);
    return -h;
}

static const unic_loss_ops ops = {.default_weight = 3.0f, .has_default_weight = 1, .forward = forward};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_LOSS,
    .name = "entropy",
    .doc = "-H(batch mean of p_anchor) (eq. 8, maximised); weight 3 as in Table 3",
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
