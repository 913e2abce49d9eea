/* `knn`: positives are the tau1 nearest neighbours, the anchor included
 * (eq. 3). With eta > 0 they are cleaned (eq. 4): an anchor whose
 * second-order neighbourhood, the union of its neighbours' neighbour lists,
 * holds more than eta points keeps only itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

typedef struct knn {
    int tau1;
    long eta;
    int64_t n;
    int32_t *idx;    /* [n, tau1] */
    int32_t *union_size; /* [n], filled when cleaning */
    uint8_t *kept;   /* [n] 1 if the anchor keeps its neighbours */
} knn;

static const unic_param_spec params[] = {
    {"tau1", UNIC_INT, "20", "positives: this many nearest neighbours, the anchor included",
     "1..65536"},
    {"eta", UNIC_INT, "0", "clean: drop the neighbours of anchors whose second-order union "
                           "exceeds eta points (0 = no cleaning)", "0..2147483647"},
    {NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    long tau1 = unic->param_int(p, "tau1"), eta = unic->param_int(p, "eta");
    if (tau1 < 1 || eta < 0) {
        snprintf(err, errlen, "need tau1 >= 1 and eta >= 0, got tau1 = %ld, eta = %ld", tau1, eta);
        return NULL;
    }
    knn *m = calloc(1, sizeof *m);
    m->tau1 = (int)tau1;
    m->eta = eta;
    return m;
}

static void destroy(void *self)
{
    knn *m = self;
    free(m->idx);
    free(m->union_size);
    free(m->kept);
    free(m);
}

static int mine(void *self, const unic_mine_input *in, char *err, size_t errlen)
{
    knn *m = self;
    if (m->tau1 > in->n) {
        snprintf(err, errlen, "tau1 = %d exceeds the %lld samples", m->tau1, (long long)in->n);
        return -1;
    }
    m->n = in->n;
    m->idx = malloc(sizeof(int32_t) * (size_t)in->n * (size_t)m->tau1);
    m->kept = malloc((size_t)in->n);
    if (unic->knn(in, m->tau1, m->idx, NULL, err, errlen) != 0) return -1;
    memset(m->kept, 1, (size_t)in->n);
    if (m->eta > 0) {
        m->union_size = malloc(sizeof(int32_t) * (size_t)in->n);
        unic->union_sizes(m->idx, m->n, m->tau1, m->union_size);
        int64_t dropped = 0;
        for (int64_t i = 0; i < in->n; i++)
            if (m->union_size[i] > m->eta) {
                m->kept[i] = 0;
                dropped++;
            }
        unic->log(UNIC_LOG_INFO, "knn: cleaning with eta = %ld keeps the neighbours of %lld of "
                  "%lld anchors (%.1f%%)", m->eta, (long long)(in->n - dropped), (long long)in->n,
                  100.0 * (double)(in->n - dropped) / (double)in->n);
    }
    return 0;
}

static int64_t sample(void *self, int64_t anchor, unic_rng *rng)
{
    knn *m = self;
    if (!m->kept[anchor]) return anchor;
    return m->idx[anchor * m->tau1 + (int64_t)unic_rng_below(rng, (uint64_t)m->tau1)];
}

static int64_t count(void *self, int64_t anchor)
{
    knn *m = self;
    return m->kept[anchor] ? m->tau1 : 1;
}

static const unic_miner_ops ops = {UNIC_ROLE_POSITIVE, mine, sample, count};

static const unic_component component = {
    UNIC_COMPONENT_ABI,
    .kind = UNIC_KIND_MINER,
    .name = "knn",
    .doc = "positives: the tau1 nearest neighbours (eq. 3), cleaned by union size eta (eq. 4)",
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
