/* The second out-of-tree example, a miner: mutual nearest neighbours as
 * positives. j is a positive of anchor i when each is among the other's
 * tau1 nearest (the anchor is always its own). Neighbourhoods are not
 * symmetric: a point at the edge of a sparse cluster has neighbours in a
 * denser one that do not list it back, and those are the wrong positives
 * the mutual rule drops (a per-pair alternative to eq. 4's cleaning).
 *
 * Build it alone against the SDK, as kl_uniform.c:
 *   cc -O2 -shared -fPIC $(pkg-config --cflags unic) plugins/mutual_knn.c -o ~/unic-plugins/mutual_knn.so
 *   UNIC_PLUGIN_PATH=~/unic-plugins unic run my.ini   # with [miner.positives] plugin = mutual_knn
 */
#include <stdio.h>
#include <stdlib.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

typedef struct mutual_knn {
    int tau1;
    int32_t *idx;    /* [n, tau1]: each point's tau1 nearest, itself first */
    int64_t *start;  /* [n + 1]: anchor i's positives are mutual[start[i] .. start[i + 1]) */
    int32_t *mutual;
} mutual_knn;

static const unic_param_spec params[] = {
    {"tau1", UNIC_INT, "20", "positives: the tau1 nearest neighbours that list the anchor "
                             "among their own tau1 nearest", "1..65536"},
    {NULL},
};

static void *create(const unic_params *p, char *err, size_t errlen)
{
    long tau1 = unic->param_int(p, "tau1");
    if (tau1 < 1) {
        snprintf(err, errlen, "tau1 must be at least 1, got %ld", tau1);
        return NULL;
    }
    mutual_knn *m = calloc(1, sizeof *m);
    m->tau1 = (int)tau1;
    return m;
}

static void release(mutual_knn *m)
{
    free(m->idx);
    free(m->start);
    free(m->mutual);
}

static void destroy(void *self)
{
    release(self);
    free(self);
}

/* Whether point i is among the tau1 nearest of point j. */
static int lists(const mutual_knn *m, int64_t j, int64_t i)
{
    const int32_t *row = m->idx + j * m->tau1;
    for (int r = 0; r < m->tau1; r++)
        if (row[r] == i) return 1;
    return 0;
}

static int mine(void *self, const unic_mine_input *in, char *err, size_t errlen)
{
    mutual_knn *m = self;
    if (m->tau1 > in->n) {
        snprintf(err, errlen, "tau1 = %d exceeds the %lld samples", m->tau1, (long long)in->n);
        return -1;
    }
    release(m); /* mined again: the embeddings changed */
    size_t cells = (size_t)in->n * (size_t)m->tau1;
    m->idx = malloc(sizeof(int32_t) * cells);
    m->mutual = malloc(sizeof(int32_t) * cells);
    m->start = malloc(sizeof(int64_t) * (size_t)(in->n + 1));
    if (unic->knn(in, m->tau1, m->idx, NULL, err, errlen) != 0) return -1;
    int64_t kept = 0;
    for (int64_t i = 0; i < in->n; i++) {
        m->start[i] = kept;
        for (int r = 0; r < m->tau1; r++) {
            int32_t j = m->idx[i * m->tau1 + r];
            if (lists(m, j, i)) m->mutual[kept++] = j;
        }
    }
    m->start[in->n] = kept;
    unic->log(UNIC_LOG_INFO, "mutual_knn: %.1f of the tau1 = %d neighbours are mutual on average",
              (double)kept / (double)in->n, m->tau1);
    return 0;
}

/* Uniform over the anchor's mutual neighbours (never empty: it lists itself). */
static int64_t sample(void *self, int64_t anchor, unic_rng *rng)
{
    const mutual_knn *m = self;
    int64_t first = m->start[anchor], count = m->start[anchor + 1] - first;
    return m->mutual[first + (int64_t)unic_rng_below(rng, (uint64_t)count)];
}

static int64_t count(void *self, int64_t anchor)
{
    const mutual_knn *m = self;
    return m->start[anchor + 1] - m->start[anchor];
}

static const unic_miner_ops ops = {UNIC_ROLE_POSITIVE, mine, sample, count};

static const unic_component component = {
    UNIC_COMPONENT_ABI, /* the ABI it was compiled for; checked at load */
    .kind = UNIC_KIND_MINER,
    .name = "mutual_knn",
    .doc = "positives: the tau1 nearest neighbours that list the anchor back (mutual kNN)",
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
