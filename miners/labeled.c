/* `labeled_pos` and `labeled_neg`: ground-truth partners for the labeled
 * part of a GCD training set (Table 4): another labeled sample of the same
 * class, or a labeled sample of a different class. Unlabeled anchors have
 * none, so these miners go in sections with scope = labeled. */
#include <stdio.h>
#include <stdlib.h>

#include "unic/plugin.h"

UNIC_PLUGIN_API;

typedef struct labeled {
    unic_miner_role role;
    int num_classes;
    const int32_t *labels;  /* borrowed from the mine input */
    int64_t *by_class;      /* labeled indices grouped by class */
    int64_t *start;         /* [num_classes + 1] offsets into by_class */
    int64_t total;
} labeled;

static const unic_param_spec params[] = {{NULL}};

static void *create_pos(const unic_params *p, char *err, size_t errlen)
{
    labeled *m = calloc(1, sizeof *m);
    m->role = UNIC_ROLE_POSITIVE;
    return m;
}

static void *create_neg(const unic_params *p, char *err, size_t errlen)
{
    labeled *m = calloc(1, sizeof *m);
    m->role = UNIC_ROLE_NEGATIVE;
    return m;
}

static void destroy(void *self)
{
    labeled *m = self;
    free(m->by_class);
    free(m->start);
    free(m);
}

static int mine(void *self, const unic_mine_input *in, char *err, size_t errlen)
{
    labeled *m = self;
    m->labels = in->labels;
    m->num_classes = 0;
    for (int64_t i = 0; i < in->n; i++)
        if (in->labels && in->labels[i] + 1 > m->num_classes) m->num_classes = in->labels[i] + 1;
    if (m->num_classes == 0) {
        snprintf(err, errlen, "no labeled samples: labeled miners need a GCD split "
                 "([data] old_classes and labeled_fraction)");
        return -1;
    }
    m->start = calloc((size_t)m->num_classes + 1, sizeof(int64_t));
    for (int64_t i = 0; i < in->n; i++)
        if (in->labels[i] >= 0) m->start[in->labels[i] + 1]++;
    for (int c = 0; c < m->num_classes; c++) m->start[c + 1] += m->start[c];
    m->total = m->start[m->num_classes];
    m->by_class = malloc(sizeof(int64_t) * (size_t)m->total);
    int64_t *fill = calloc((size_t)m->num_classes, sizeof(int64_t));
    for (int64_t i = 0; i < in->n; i++)
        if (in->labels[i] >= 0) {
            int c = in->labels[i];
            m->by_class[m->start[c] + fill[c]++] = i;
        }
    free(fill);
    return 0;
}

static int64_t sample(void *self, int64_t anchor, unic_rng *rng)
{
    labeled *m = self;
    int c = m->labels[anchor];
    if (c < 0) return -1;
    int64_t same = m->start[c + 1] - m->start[c];
    if (m->role == UNIC_ROLE_POSITIVE)
        return m->by_class[m->start[c] + (int64_t)unic_rng_below(rng, (uint64_t)same)];
    int64_t others = m->total - same;
    if (others <= 0) return -1;
    /* the r-th labeled sample outside class c, skipping c's block */
    int64_t r = (int64_t)unic_rng_below(rng, (uint64_t)others);
    return m->by_class[r < m->start[c] ? r : r + same];
}

static int64_t count(void *self, int64_t anchor)
{
    labeled *m = self;
    int c = m->labels[anchor];
    if (c < 0) return 0;
    int64_t same = m->start[c + 1] - m->start[c];
    return m->role == UNIC_ROLE_POSITIVE ? same : m->total - same;
}

static const unic_miner_ops pos_ops = {UNIC_ROLE_POSITIVE, mine, sample, count};
static const unic_miner_ops neg_ops = {UNIC_ROLE_NEGATIVE, mine, sample, count};

static const unic_component components[] = {
    {UNIC_COMPONENT_ABI, .kind = UNIC_KIND_MINER, .name = "labeled_pos",
     .doc = "positives: labeled samples of the anchor's class (GCD, scope = labeled)",
     .params = params, .create = create_pos, .destroy = destroy, .miner = &pos_ops},
    {UNIC_COMPONENT_ABI, .kind = UNIC_KIND_MINER, .name = "labeled_neg",
     .doc = "negatives: labeled samples of other classes (GCD, scope = labeled)",
     .params = params, .create = create_neg, .destroy = destroy, .miner = &neg_ops},
};

UNIC_EXPORT int unic_plugin_init(const unic_api *api, unic_registrar *reg)
{
    UNIC_PLUGIN_INIT(api);
    for (int i = 0; i < 2; i++)
        if (api->register_component(reg, &components[i]) != 0) return -1;
    return 0;
}
