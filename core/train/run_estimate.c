/* classes = auto in a run: the estimate's range and memory plan are checked
 * once the data is loaded and embedded (before mining), and the estimate
 * runs after mining, on what the run already has: its embeddings, the
 * knn miner's neighbours (from the mining cache) and, for GCD, its labeled
 * split. The estimate becomes the head's number of outputs. */
#include <stdio.h>
#include <string.h>

#include "base/limits.h"
#include "base/log.h"
#include "base/util.h"
#include "eval/estimate_k.h"
#include "mining/knn.h"
#include "report/estimate_report.h"
#include "train/run_internal.h"

#define DEFAULT_KNN 10

/* The knn miner's list size, whose neighbours mining has cached; 0 if the
 * experiment has no knn miner. */
static int miner_tau1(const run *r)
{
    for (int m = 0; m < r->x->nminers; m++) {
        const unic_slot *s = &r->x->miners[m];
        if (strcmp(s->component->name, "knn") == 0) return (int)unic_param_int(s->params, "tau1");
    }
    return 0;
}

static int neighbours_k(const run *r)
{
    const unic_head_config *h = &r->cfg.head;
    if (h->knn) return h->knn;
    int tau1 = miner_tau1(r);
    return tau1 >= 2 ? tau1 : DEFAULT_KNN;
}

static void fill_opts(const run *r, unic_kest_opts *o)
{
    const unic_head_config *h = &r->cfg.head;
    memset(o, 0, sizeof *o);
    o->k_min = r->est.k_min;
    o->k_max = r->est.k_max;
    o->criterion = (unic_kest_criterion)h->criterion;
    o->restarts = h->restarts;
    o->max_iter = r->cfg.eval.kmeans_max_iter;
    o->tol = 1e-4;
    o->seed = r->cfg.eval.kmeans_seed;
    o->holdout = h->holdout;
    o->knn = neighbours_k(r);
}

int run_estimate_range(run *r, char *err, size_t errlen)
{
    return unic_head_config_range(r->x, &r->cfg.head, r->n, &r->est.k_min, &r->est.k_max, err,
                                  errlen);
}

int run_plan_estimate(run *r, char *err, size_t errlen)
{
    unic_kest_opts o;
    fill_opts(r, &o);
    if (o.criterion == UNIC_KEST_EIGENGAP && o.k_max >= r->n)
        return unic_errf(err, errlen, "[head] classes_max = %d: the eigengap criterion needs it "
                         "below the %lld items", o.k_max, (long long)r->n);
    const double mib = 1048576.0;
    const char *source;
    size_t limit = unic_memory_limit(&source);
    size_t need = unic_kest_bytes(r->n, r->dim, &o, o.criterion == UNIC_KEST_EIGENGAP ? o.knn : 0);
    if (need > limit)
        return unic_errf(err, errlen, "[head] classes_max = %d: estimating K in %d..%d (%s) "
                         "needs %.1f MiB of host memory for %lld items of %d values, but %.1f MiB "
                         "is available (%s); lower classes_max", o.k_max, o.k_min, o.k_max,
                         unic_kest_name(o.criterion), need / mib, (long long)r->n, r->dim,
                         (double)limit / mib, source);
    unic_log(UNIC_LOG_INFO, "estimate of K: %s over %d..%d, %.1f MiB host (%s %.0f MiB)",
             unic_kest_name(o.criterion), o.k_min, o.k_max, need / mib, source,
             (double)limit / mib);
    return 0;
}

/* Distinct label values of the training items (0 without labels): shown
 * beside the estimate, never used by it. */
static int label_values(const run *r)
{
    if (!r->train.labels) return 0;
    unsigned char *seen = unic_xcalloc(UNIC_MAX_CLASSES, 1);
    int count = 0;
    for (int64_t i = 0; i < r->n; i++) {
        int32_t c = r->train.labels[i];
        if (c >= 0 && c < UNIC_MAX_CLASSES && !seen[c]) seen[c] = 1, count++;
    }
    unic_xfree(seen);
    return count;
}

/* The neighbours for the eigengap: the knn miner's, loaded from the mining
 * cache (same embeddings, same list size), or mined here. */
static int32_t *neighbours(run *r, int k, char *err, size_t errlen)
{
    int32_t *idx = unic_xmalloc((size_t)r->n * k * sizeof(int32_t));
    unic_mine_input in = {r->n, r->dim, r->emb, NULL, r->cache, r->cfg.train.device};
    if (unic_knn(&in, k, idx, NULL, err, errlen) == 0) return idx;
    unic_xfree(idx);
    return NULL;
}

int run_estimate_classes(run *r, char *err, size_t errlen)
{
    unic_kest_opts o;
    fill_opts(r, &o);
    unic_kest_input in = {r->emb, r->n, r->dim, r->gcd ? r->visible : NULL,
                          r->gcd ? r->cfg.data.labeled_fraction : 0, NULL, 0, r->cache};
    if (o.criterion == UNIC_KEST_EIGENGAP) {
        in.knn = neighbours(r, o.knn, err, errlen);
        in.knn_k = o.knn;
        if (!in.knn) return -1;
    }
    unic_kest_result res;
    int rc = unic_estimate_k(&in, &o, &res, err, errlen);
    unic_xfree((void *)in.knn);
    if (rc != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", err);
        return unic_errf(err, errlen, "[head] classes = auto: %s", msg);
    }
    int labels = label_values(r);
    char truth[64] = "";
    if (labels) snprintf(truth, sizeof truth, "; the labels have %d values", labels);
    char second[64] = "";
    if (res.runner_up)
        snprintf(second, sizeof second, ", runner-up K = %d (%.4g)", res.runner_up,
                 res.score[res.runner_up - o.k_min]);
    unic_log(UNIC_LOG_INFO, "estimated K = %d (%s %.4g%s; K in %d..%d, %d k-means "
             "fits, %.2f s)%s", res.k, unic_kest_name(res.criterion), res.score[res.k - o.k_min],
             second, o.k_min, o.k_max, res.evaluations, res.seconds, truth);
    rc = unic_kest_write(&res, o.k_min, labels, r->out, err, errlen);
    r->k = res.k;
    r->est.done = 1;
    r->est.k = res.k;
    r->est.runner_up = res.runner_up;
    r->est.criterion = res.criterion;
    r->est.seconds = res.seconds;
    r->est.evaluations = res.evaluations;
    unic_kest_free(&res);
    return rc;
}
