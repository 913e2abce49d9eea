/* Evaluation: the head's clusters for the evaluation set (the training set
 * without one), their scores (ACC/NMI/ARI, or GCD's All/Old/New on the
 * unlabeled training samples), and the k-means baseline. */
#include <omp.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "eval/kmeans.h"
#include "eval/metrics.h"
#include "train/run_internal.h"

static void take_argmax(const run *r, const float *probs, int64_t m, int32_t *pred, float *conf)
{
    for (int64_t i = 0; i < m; i++) {
        const float *row = probs + i * r->k;
        int best = 0;
        for (int c = 1; c < r->k; c++)
            if (row[c] > row[best]) best = c;
        pred[i] = best;
        if (conf) conf[i] = row[best];
    }
}

/* Every copy c with pred[c] set, on a chunk of m rows already in x_host. */
static void predict_chunk(run *r, int32_t **pred, float **conf, int64_t at, int64_t m,
                          int32_t *bp, float *bc, const int64_t *slot)
{
    for (int c = 0; c < r->ncopies; c++) {
        if (!pred[c]) continue;
        unic_tensor p = head_probs(r, c, m);
        if (!slot) {
            take_argmax(r, p.data, m, pred[c] + at, conf && conf[c] ? conf[c] + at : NULL);
            continue;
        }
        take_argmax(r, p.data, m, bp, bc);
        for (int64_t i = 0; i < m; i++) {
            pred[c][slot[i]] = bp[i];
            if (conf && conf[c]) conf[c][slot[i]] = bc[i];
        }
    }
}

/* A head on tokens: the evaluation images through the backbone (test
 * pipeline) once and every copy asked for, a step's rows at a time. An
 * image that fails to decode now keeps prediction 0 with confidence 0. */
static int predict_tokens(run *r, int32_t **pred, float **conf, char *err, size_t errlen)
{
    int64_t n = r->has_eval_set ? r->eval_n : r->n;
    const int64_t *index = r->has_eval_set ? r->eval_index : r->train_index;
    unic_loader *l = unic_loader_new(r->has_eval_set ? r->eval_set : r->train_set, r->pipeline,
                                     index, n, r->rows, omp_get_max_threads(), r->cfg.train.seed,
                                     0, err, errlen);
    if (!l) return -1;
    backbone_training(r, 0);
    const unic_backbone_ops *ops = r->backbone.slot->component->backbone;
    int c, h, w;
    unic_loader_shape(l, &c, &h, &w);
    for (int k = 0; k < r->ncopies; k++) {
        if (pred[k]) memset(pred[k], 0, (size_t)n * sizeof(int32_t));
        if (conf && conf[k]) memset(conf[k], 0, (size_t)n * sizeof(float));
    }
    int32_t *bp = unic_xmalloc((size_t)r->rows * sizeof(int32_t));
    float *bc = unic_xmalloc((size_t)r->rows * sizeof(float));
    int64_t *slot = unic_xmalloc((size_t)r->rows * sizeof(int64_t));
    unic_batch b;
    int64_t done = 0;
    while (unic_loader_next(l, &b)) {
        if (b.n == 0) continue;
        unic_tensor in = {(float *)b.x, {b.n, c, h, w}, 4, UNIC_CPU};
        unic_tensor o = unic_rows(r->x_host, 0, b.n);
        ops->forward_tokens(r->backbone.state, &in, &o);
        for (int i = 0; i < b.n; i++) {
            while (done < n && index[done] != b.idx[i]) done++;
            slot[i] = done < n ? done : n - 1;
        }
        predict_chunk(r, pred, conf, 0, b.n, bp, bc, slot);
    }
    unic_xfree(bp);
    unic_xfree(bc);
    unic_xfree(slot);
    unic_loader_free(l);
    return 0;
}

int run_predict_copies(run *r, int32_t **pred, float **conf, char *err, size_t errlen)
{
    if (r->tokens_head) return predict_tokens(r, pred, conf, err, errlen);
    const float *emb = r->has_eval_set ? r->eval_emb : r->emb;
    int64_t n = r->has_eval_set ? r->eval_n : r->n;
    for (int64_t s = 0; s < n; s += r->rows) {
        int64_t m = s + r->rows <= n ? r->rows : n - s;
        for (int64_t i = 0; i < m; i++) r->batch_idx[i] = s + i;
        gather_rows(r, emb, r->batch_idx, m);
        predict_chunk(r, pred, conf, s, m, NULL, NULL, NULL);
    }
    return 0;
}

int run_predict(run *r, int32_t *pred, float *conf, char *err, size_t errlen)
{
    int32_t *p[UNIC_MAX_HEAD_COPIES] = {0};
    float *c[UNIC_MAX_HEAD_COPIES] = {0};
    p[r->selected] = pred;
    c[r->selected] = conf;
    return run_predict_copies(r, p, c, err, errlen);
}

static int score_gcd(run *r, const int32_t *pred, double out[UNIC_RUN_METRICS], char *err, size_t errlen)
{
    int32_t *yt = unic_xmalloc((size_t)r->n_unlabeled * sizeof(int32_t));
    int32_t *yp = unic_xmalloc((size_t)r->n_unlabeled * sizeof(int32_t));
    for (int64_t i = 0; i < r->n_unlabeled; i++) {
        yt[i] = r->train.labels[r->unlabeled_idx[i]];
        yp[i] = pred[r->unlabeled_idx[i]];
    }
    unic_gcd_scores g;
    int rc = unic_gcd_scores_compute(yt, yp, r->n_unlabeled, r->is_old, UNIC_MAX_CLASSES, &g, err,
                                     errlen);
    unic_xfree(yt);
    unic_xfree(yp);
    out[0] = g.all;
    out[1] = g.old;
    out[2] = g.new_;
    return rc;
}

int run_score(run *r, const int32_t *pred, double out[UNIC_RUN_METRICS], char *err, size_t errlen)
{
    if (r->gcd) return score_gcd(r, pred, out, err, errlen);
    const int32_t *labels = r->has_eval_set ? r->eval.labels : r->train.labels;
    int64_t n = r->has_eval_set ? r->eval_n : r->n;
    unic_cluster_scores s;
    if (unic_cluster_scores_compute(labels, pred, n, &s, err, errlen) != 0) return -1;
    out[0] = s.acc;
    out[1] = s.nmi;
    out[2] = s.ari;
    out[3] = s.m2o;
    return 0;
}

int run_can_score(const run *r)
{
    return r->has_eval_set ? r->eval.labels != NULL : r->train.labels != NULL;
}

/* Many-to-one ACC is reported for clustering, where a head may have more
 * outputs than there are classes; GCD keeps the literature's three. */
int metric_count(const run *r) { return r->gcd ? 3 : 4; }

const char *metric_name(const run *r, int i)
{
    static const char *clu[] = {"acc", "nmi", "ari", "m2o"}, *gcd[] = {"all", "old", "new"};
    return r->gcd ? gcd[i] : clu[i];
}

/* SS-k-means on the training set, its labeled classes numbered
 * 0..n_old-1 as it wants them; NULL when it fails. */
static int32_t *ss_kmeans_assign(run *r, const unic_kmeans_opts *o)
{
    int dense[UNIC_MAX_CLASSES], n_old = 0;
    for (int c = 0; c < UNIC_MAX_CLASSES; c++) dense[c] = r->is_old[c] ? n_old++ : -1;
    int32_t *lab = unic_xmalloc((size_t)r->n * sizeof(int32_t));
    for (int64_t i = 0; i < r->n; i++) lab[i] = r->visible[i] >= 0 ? dense[r->visible[i]] : -1;
    int32_t *assign = unic_xmalloc((size_t)r->n * sizeof(int32_t));
    double inertia = unic_ss_kmeans(r->emb, r->n, r->dim, lab, n_old, o, assign, NULL);
    unic_xfree(lab);
    if (inertia >= 0) return assign;
    unic_xfree(assign);
    return NULL;
}

/* k-means on the evaluation set's embeddings; NULL when it fails. */
static int32_t *kmeans_assign(run *r, const unic_kmeans_opts *o)
{
    const float *emb = r->has_eval_set ? r->eval_emb : r->emb;
    int64_t n = r->has_eval_set ? r->eval_n : r->n;
    int32_t *assign = unic_xmalloc((size_t)n * sizeof(int32_t));
    if (unic_kmeans(emb, n, r->dim, o, assign, NULL) >= 0) return assign;
    unic_xfree(assign);
    return NULL;
}

int run_kmeans_scores(run *r, double out[UNIC_RUN_METRICS], const char *what, char *err, size_t errlen)
{
    const unic_eval_config *e = &r->cfg.eval;
    unic_kmeans_opts o = {r->k, e->kmeans_restarts, e->kmeans_max_iter, 1e-4, e->kmeans_seed,
                          NULL, 0, NULL};
    double t0 = unic_now();
    int32_t *assign = r->gcd ? ss_kmeans_assign(r, &o) : kmeans_assign(r, &o);
    if (!assign)
        return r->gcd ? unic_errf(err, errlen, "semi-supervised k-means failed (fewer points "
                                  "than clusters?)")
                      : unic_errf(err, errlen, "k-means needs at least %d points", r->k);
    int rc = run_score(r, assign, out, err, errlen);
    unic_xfree(assign);
    if (rc == 0)
        unic_log(UNIC_LOG_INFO, "%s%s: %s %.4f  %s %.4f  %s %.4f  (%.1f s)",
                 r->gcd ? "SS-k-means" : "k-means", what, metric_name(r, 0), out[0],
                 metric_name(r, 1), out[1], metric_name(r, 2), out[2], unic_now() - t0);
    return rc;
}

int run_baseline(run *r, double out[UNIC_RUN_METRICS], char *err, size_t errlen)
{
    return run_kmeans_scores(r, out, " baseline", err, errlen);
}
