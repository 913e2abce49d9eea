/* `selflabel`: SCAN's self-labelling loss (ConfidenceBasedCE). An anchor
 * whose prediction on its weak view (p_anchor) is confident, max_c p > the
 * threshold, gets that class as its pseudo-label; the loss is the
 * cross-entropy of the positive's prediction (the same image under the
 * strong augmentation: a `self` positive miner with [data]
 * positive_transform) against it, weighted per class against imbalance
 * (weight n / count_c over the confident anchors' pseudo-labels, as
 * torch.unique counts them; 1 for the classes absent), averaged as
 * F.cross_entropy(weight = w) does:
 *
 *     L = sum_{i confident} w_{t_i} (-log p_pos[i, t_i]) / sum_{i confident} w_{t_i}
 *
 * The weak view gets no gradient (SCAN computes it under no_grad). A batch
 * without a confident anchor adds nothing (SCAN raises an error there). The
 * probability is clamped to [eps, 1] before the log, as `pos` clamps. */
#include <math.h>
#include <stdlib.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

typedef struct selflabel {
    double threshold, eps;
    int balance;
    int k;
    double *count;
} selflabel;

static const unic_param_spec params[] = {
    {"threshold", UNIC_FLOAT, "0.99", "a weak view's top probability above this makes a "
     "pseudo-label (SCAN: 0.99)", "0..1"},
    {"class_balance", UNIC_BOOL, "true", "weigh each pseudo-class by n / its count in the batch "
     "(SCAN's apply_class_balancing)", NULL},
    {"eps", UNIC_FLOAT, "1e-8", "the strong view's probability is clamped to [eps, 1] before the "
     "log", "0..1"},
    {NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    selflabel *l = calloc(1, sizeof *l);
    l->threshold = unic->param_float(p, "threshold");
    l->balance = unic->param_bool(p, "class_balance");
    l->eps = unic->param_float(p, "eps");
    return l;
}

static void destroy(void *self)
{
    selflabel *l = self;
    free(l->count);
    free(l);
}

/* The pseudo-label of row i, or -1 when the weak view is not confident. */
static int pseudo_label(const selflabel *l, const float *p, int k)
{
    int best = 0;
    for (int c = 1; c < k; c++)
        if (p[c] > p[best]) best = c;
    return p[best] > l->threshold ? best : -1;
}

static double forward(void *self, const unic_loss_batch *b, float scale, unic_loss_grad *g)
{
    selflabel *l = self;
    int k = b->k;
    if (l->k != k) {
        free(l->count);
        l->count = calloc((size_t)k, sizeof(double));
        l->k = k;
    }
    for (int c = 0; c < k; c++) l->count[c] = 0;
    int confident = 0;
    for (int i = 0; i < b->n; i++) {
        int t = pseudo_label(l, b->p_anchor + (size_t)i * k, k);
        if (t >= 0) {
            l->count[t] += 1;
            confident++;
        }
    }
    if (confident == 0) return 0;
    /* F.cross_entropy's weights: n / count_c for the classes present, 1 elsewhere */
    double wsum = 0;
    for (int c = 0; c < k; c++) {
        double w = l->balance && l->count[c] > 0 ? confident / l->count[c] : 1.0;
        wsum += w * l->count[c];
        l->count[c] = w; /* from here on the class weight */
    }
    double total = 0;
    for (int i = 0; i < b->n; i++) {
        int t = pseudo_label(l, b->p_anchor + (size_t)i * k, k);
        if (t < 0) continue;
        double p = b->p_pos[(size_t)i * k + t], w = l->count[t];
        if (p < l->eps) {
            total -= w * log(l->eps); /* clamped: no gradient, as torch.clamp */
            continue;
        }
        total -= w * log(p);
        g->d_pos[(size_t)i * k + t] += (float)(-scale * w / (wsum * p));
    }
    return total / wsum;
}

static const unic_loss_ops ops = {.default_weight = 1.0f, .has_default_weight = 1, .forward = forward};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_LOSS,
    .name = "selflabel",
    .doc = "SCAN's self-labelling: confident weak-view predictions (> 0.99) as pseudo-labels, "
           "class-balanced cross-entropy on the strong view (the positive)",
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
