/* Miners in a run: which miner serves each anchor (checked before any data
 * is embedded), mining on the embeddings, and each step's partner draws. */
#include <stdio.h>

#include "base/util.h"
#include "mining/knn.h"
#include "train/run_internal.h"

static int covers(unic_scope scope, int labeled)
{
    return scope == UNIC_SCOPE_ALL || (scope == UNIC_SCOPE_LABELED) == labeled;
}

static const char *role_name(const unic_slot *s)
{
    return s->component->miner->role == UNIC_ROLE_POSITIVE ? "positives" : "negatives";
}

/* The miners serving one group of anchors (labeled or not): exactly one
 * positive miner, and one negative miner when a loss uses negatives. */
static int assign_group(run *r, int labeled, char *err, size_t errlen)
{
    const unic_experiment *x = r->x;
    const char *group = labeled ? "labeled" : "unlabeled";
    for (int m = 0; m < x->nminers; m++) {
        const unic_slot *s = &x->miners[m];
        if (!covers(r->cfg.miner_scope[m], labeled)) continue;
        int *slot = s->component->miner->role == UNIC_ROLE_POSITIVE ? &r->group_pos[labeled]
                                                                    : &r->group_neg[labeled];
        if (*slot >= 0)
            return unic_errf(err, errlen, "[%s] and [%s] both give %s to %s anchors; set "
                             "scope = labeled / unlabeled to split them",
                             x->miners[*slot].section, s->section, role_name(s), group);
        *slot = m;
    }
    if (r->group_pos[labeled] < 0)
        return unic_errf(err, errlen, "no positive miner serves the %s anchors: add a "
                         "[miner.*] section with plugin = knn%s", group,
                         labeled ? " or labeled_pos (scope = labeled)" : "");
    if (r->use_negatives && r->group_neg[labeled] < 0)
        return unic_errf(err, errlen, "a loss uses negatives but no negative miner serves "
                         "the %s anchors: add a [miner.*] section with plugin = far", group);
    return 0;
}

/* Checked per group before any data is embedded. Labeled anchors exist
 * only in GCD. */
int run_assign_miners(run *r, char *err, size_t errlen)
{
    const unic_experiment *x = r->x;
    for (int i = 0; i < x->nlosses; i++)
        r->use_negatives |= x->losses[i].component->loss->uses_negatives;
    int has_labeled = r->gcd && r->cfg.data.labeled_fraction > 0;
    for (int labeled = 0; labeled < 2; labeled++) {
        r->group_pos[labeled] = r->group_neg[labeled] = -1;
        if (labeled && !has_labeled) continue;
        if (assign_group(r, labeled, err, errlen) != 0) return -1;
    }
    return 0;
}

/* After the split: which miner serves each anchor. */
void run_route_anchors(run *r)
{
    r->pos_miner = unic_xmalloc((size_t)r->n);
    r->neg_miner = unic_xmalloc((size_t)r->n);
    for (int64_t i = 0; i < r->n; i++) {
        int labeled = r->visible[i] >= 0;
        r->pos_miner[i] = (int8_t)r->group_pos[labeled];
        r->neg_miner[i] = (int8_t)(r->use_negatives ? r->group_neg[labeled] : -1);
    }
}

/* Every miner on the embeddings, searching neighbours on the run's [train]
 * device (the input carries it to the api); each anchor its miner serves
 * must get candidates. */
int run_mine(run *r, char *err, size_t errlen)
{
    unic_mine_input in = {r->n, r->dim, r->emb, r->visible, r->cache, r->cfg.train.device};
    char msg[1024];
    for (int m = 0; m < r->x->nminers; m++) {
        instance *mi = &r->miners[m];
        const unic_miner_ops *ops = mi->slot->component->miner;
        msg[0] = '\0';
        if (ops->mine(mi->state, &in, msg, sizeof msg) != 0)
            return unic_errf(err, errlen, "[%s] %s: %s", mi->slot->section,
                             mi->slot->component->name, msg);
        for (int64_t i = 0; i < r->n; i++) {
            int8_t served = ops->role == UNIC_ROLE_POSITIVE ? r->pos_miner[i] : r->neg_miner[i];
            if (served == m && ops->count(mi->state, i) <= 0)
                return unic_errf(err, errlen, "[%s] %s has no candidates for anchor %lld (%s); "
                                 "check its scope", mi->slot->section, mi->slot->component->name,
                                 (long long)i, r->visible[i] >= 0 ? "labeled" : "unlabeled");
        }
    }
    return 0;
}

/* Draws a positive and a negative for anchors[0..b) into batch_idx, laid
 * out as [anchors | positives | negatives]. Each anchor's draws come from
 * its own stream (seed, epoch, step, position), so they do not depend on
 * how the batch is read. */
void run_sample_partners(run *r, const int64_t *anchors, int b, int epoch, int64_t step_no)
{
    for (int i = 0; i < b; i++) {
        int64_t a = anchors[i];
        unic_rng g = unic_rng_stream(r->cfg.train.seed, ((uint64_t)epoch << 40) ^ (uint64_t)step_no,
                                     (uint64_t)i);
        instance *pm = &r->miners[r->pos_miner[a]];
        int64_t p = pm->slot->component->miner->sample(pm->state, a, &g);
        r->batch_idx[i] = a;
        r->batch_idx[b + i] = p >= 0 ? p : a;
        if (r->use_negatives) {
            instance *nm = &r->miners[r->neg_miner[a]];
            int64_t q = nm->slot->component->miner->sample(nm->state, a, &g);
            r->batch_idx[2 * b + i] = q >= 0 ? q : a;
        }
    }
}
