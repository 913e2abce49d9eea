/* `far`: negatives drawn uniformly from beyond the tau2-th nearest neighbour
 * (eq. 3). Only each anchor's rank-tau2 point is stored, never the N - tau2
 * candidates: a uniform draw over all points is accepted when it ranks at or
 * after that point, by (distance, index). */
#include <stdio.h>
#include <stdlib.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

typedef struct far {
    long tau2;
    unic_mine_input in;
    float *th_sq;
    int32_t *th_idx;
} far;

static const unic_param_spec params[] = {
    {"tau2", UNIC_INT, "5000", "negatives: points ranked tau2 or later by distance (0-based, eq. 3)",
     "1..2147483647"},
    {NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    long tau2 = unic->param_int(p, "tau2");
    if (tau2 < 1) {
        snprintf(err, errlen, "tau2 must be at least 1, got %ld", tau2);
        return NULL;
    }
    far *m = calloc(1, sizeof *m);
    m->tau2 = tau2;
    return m;
}

static void destroy(void *self)
{
    far *m = self;
    free(m->th_sq);
    free(m->th_idx);
    free(m);
}

static int mine(void *self, const unic_mine_input *in, char *err, size_t errlen)
{
    far *m = self;
    if (m->tau2 >= in->n) {
        snprintf(err, errlen, "tau2 = %ld leaves no negatives among %lld samples (need tau2 < N)",
                 m->tau2, (long long)in->n);
        return -1;
    }
    m->in = *in;
    m->th_sq = malloc(sizeof(float) * (size_t)in->n);
    m->th_idx = malloc(sizeof(int32_t) * (size_t)in->n);
    return unic->kth_neighbor(in, (int)m->tau2, m->th_sq, m->th_idx, err, errlen);
}

static int64_t sample(void *self, int64_t anchor, unic_rng *rng)
{
    far *m = self;
    float th = m->th_sq[anchor];
    int32_t th_j = m->th_idx[anchor];
    /* acceptance is (N - tau2) / N per draw; the bound only guards against
     * degenerate data where float ties hide every candidate */
    for (int tries = 0; tries < 100000; tries++) {
        int64_t j = (int64_t)unic_rng_below(rng, (uint64_t)m->in.n);
        if (j == anchor) continue;
        float d = unic->sq_dist(&m->in, anchor, j);
        if (d > th || (d == th && j >= th_j)) return j;
    }
    return th_j;
}

static int64_t count(void *self, int64_t anchor)
{
    far *m = self;
    return m->in.n - m->tau2;
}

static const unic_miner_ops ops = {UNIC_ROLE_NEGATIVE, mine, sample, count};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_MINER,
    .name = "far",
    .doc = "negatives: uniform over the points beyond the tau2-th nearest neighbour (eq. 3)",
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
