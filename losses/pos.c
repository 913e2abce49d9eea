/* `pos`: L_pos of eq. 6, binary cross-entropy pulling an anchor's and its
 * positive's predictions together: -log <p_i, p_p>, clamped as SCAN does. */
#include <math.h>
#include <stdlib.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

typedef struct pos {
    double eps;
} pos;

static const unic_param_spec params[] = {
    {"eps", UNIC_FLOAT, "1e-8", "the dot product is clamped to [eps, 1] before the log", NULL},
    {NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    pos *l = malloc(sizeof *l);
    l->eps = unic->param_float(p, "eps");
    return l;
}

static void destroy(void *self) { free(self); }

static double forward(void *self, const unic_loss_batch *b, float scale, unic_loss_grad *g)
{
    const pos *l = self;
    double total = 0;
    for (int i = 0; i < b->n; i++) {
        const float *a = b->p_anchor + (size_t)i * b->k, *p = b->p_pos + (size_t)i * b->k;
        double dot = 0;
        for (int c = 0; c < b->k; c++) dot += (double)a[c] * p[c];
        if (dot < l->eps) {
            total -= log(l->eps); /* clamped: no gradient, as torch.clamp */
            continue;
        }
        total -= log(dot);
        float coef = (float)(-scale / (dot * b->n));
        for (int c = 0; c < b->k; c++) {
            g->d_anchor[(size_t)i * b->k + c] += coef * p[c];
            g->d_pos[(size_t)i * b->k + c] += coef * a[c];
        }
    }
    return total / b->n;
}

static const unic_loss_ops ops = {.default_weight = 1.0f, .has_default_weight = 1, .forward = forward};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_LOSS,
    .name = "pos",
    .doc = "L_pos (eq. 6): -log <p_anchor, p_positive>",
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
