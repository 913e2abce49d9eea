/* `neg`: L_neg of eq. 6, binary cross-entropy pushing an anchor's and its
 * negative's predictions apart: -log(1 - <p_i, p_n>), clamped. */
#include <math.h>
#include <stdlib.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

typedef struct neg {
    double eps;
} neg;

static const unic_param_spec params[] = {
    {"eps", UNIC_FLOAT, "1e-8", "1 - dot product is clamped to [eps, 1] before the log", NULL},
    {NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    neg *l = malloc(sizeof *l);
    l->eps = unic->param_float(p, "eps");
    return l;
}

static void destroy(void *self) { free(self); }

static double forward(void *self, const unic_loss_batch *b, float scale, unic_loss_grad *g)
{
    const neg *l = self;
    double total = 0;
    for (int i = 0; i < b->n; i++) {
        const float *a = b->p_anchor + (size_t)i * b->k, *q = b->p_neg + (size_t)i * b->k;
        double dot = 0;
        for (int c = 0; c < b->k; c++) dot += (double)a[c] * q[c];
        double rest = 1.0 - dot;
        if (rest < l->eps) {
            total -= log(l->eps);
            continue;
        }
        total -= log(rest);
        float coef = (float)(scale / (rest * b->n));
        for (int c = 0; c < b->k; c++) {
            g->d_anchor[(size_t)i * b->k + c] += coef * q[c];
            g->d_neg[(size_t)i * b->k + c] += coef * a[c];
        }
    }
    return total / b->n;
}

static const unic_loss_ops ops = {
    .default_weight = 1.0f, .has_default_weight = 1, .uses_negatives = 1, .forward = forward};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_LOSS,
    .name = "neg",
    .doc = "L_neg (eq. 6): -log(1 - <p_anchor, p_negative>)",
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
