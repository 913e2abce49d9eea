/* The epochs: each shuffles the anchors, anneals the learning rate, takes
 * its steps on the batch source, then evaluates, logs, and checkpoints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "train/batch_source.h"
#include "train/run_internal.h"

typedef struct epoch {
    int e;           /* 0-based */
    double started, lr, total;
    loss_table sums; /* each loss's unweighted values per copy, summed over the steps */
    int64_t nsteps;
} epoch;

/* Anchor order of an epoch: a seeded permutation, or for GCD draws that are
 * half labeled and half unlabeled (GCD's weighted sampler). */
static void epoch_order(run *r, int epoch, int64_t *order)
{
    unic_rng g = unic_rng_stream(r->cfg.train.seed, 0x0e0c0000u + (uint64_t)epoch, 0);
    if (r->gcd && r->n_labeled > 0 && r->n_unlabeled > 0 && r->cfg.train.balance_labeled) {
        for (int64_t i = 0; i < r->n; i++) {
            int labeled = unic_rng_u64(&g) >> 63;
            order[i] = labeled ? r->labeled_idx[unic_rng_below(&g, (uint64_t)r->n_labeled)]
                               : r->unlabeled_idx[unic_rng_below(&g, (uint64_t)r->n_unlabeled)];
        }
        return;
    }
    for (int64_t i = 0; i < r->n; i++) order[i] = i;
    for (int64_t i = r->n - 1; i > 0; i--) {
        int64_t j = (int64_t)unic_rng_below(&g, (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* Cosine annealing from lr to lr_min over the epochs (3.4). */
static double lr_at(const run *r, int epoch)
{
    double lr = r->cfg.train.lr, lo = r->cfg.train.lr_min;
    int epochs = r->cfg.train.epochs;
    return lo + 0.5 * (lr - lo) * (1.0 + cos(M_PI * epoch / epochs));
}

/* An epoch's steps: batch_size anchors each (the last may have fewer). */
static int take_steps(run *r, epoch *ep, int64_t *order, char *err, size_t errlen)
{
    int batch = r->cfg.train.batch_size;
    epoch_order(r, ep->e, order);
    ep->nsteps = (r->n + batch - 1) / batch;
    char label[64];
    snprintf(label, sizeof label, "epoch %d/%d", ep->e + 1, r->cfg.train.epochs);
    unic_progress p;
    unic_progress_start(&p, label, r->n);
    batch_source src;
    backbone_training(r, 1); /* evaluation between epochs turns it off */
    if (batch_source_open(&src, r, ep->e, order, r->steps, err, errlen) != 0) return -1;
    for (int64_t s = 0; s < ep->nsteps; s++) {
        int64_t first = s * batch;
        int b = (int)(first + batch <= r->n ? batch : r->n - first);
        if (!batch_source_rows(&src, order + first, b, r->steps)) {
            unic_log(UNIC_LOG_WARN, "step %lld: an image failed to load; step skipped",
                     (long long)r->steps);
            r->steps++;
            continue;
        }
        double objective = train_step(r, order + first, b, r->steps, ep->lr, ep->sums);
        if (!isfinite(objective)) { /* stop before a NaN reaches a checkpoint */
            batch_source_close(&src);
            if (p.tty) unic_progress_end(&p);
            return unic_errf(err, errlen, "epoch %d, step %lld: the objective is %g; the last "
                             "checkpoint is kept. A lower [train] lr, or smaller loss weights, "
                             "usually helps", ep->e + 1, (long long)r->steps, objective);
        }
        ep->total += objective;
        r->steps++;
        unic_progress_update(&p, first + b);
    }
    batch_source_close(&src);
    if (p.tty) unic_progress_end(&p);
    return 0;
}

/* SCAN's rule: the copy of the clustering head with the lowest total
 * training loss (its own losses, weighted) over the epoch. No labels. */
static void select_copy(run *r, const epoch *ep)
{
    for (int c = 0; c < r->ncopies; c++) {
        double total = 0;
        for (int l = 0; l < r->x->nlosses; l++)
            if (r->cfg.loss_head[l] == 0) total += r->cfg.loss_weight[l] * ep->sums[l][c];
        r->copy_objective[c] = total / (double)ep->nsteps;
        if (c == 0 || r->copy_objective[c] < r->copy_objective[r->selected]) r->selected = c;
    }
}

/* The epoch's history entry, and its losses as text for the log: a loss on
 * the clustering head as the selected copy has it. */
static cJSON *epoch_record(const run *r, const epoch *ep, char *losses, size_t len)
{
    cJSON *h = cJSON_CreateObject();
    cJSON_AddNumberToObject(h, "epoch", ep->e + 1);
    cJSON_AddNumberToObject(h, "lr", ep->lr);
    cJSON_AddNumberToObject(h, "objective", ep->total / (double)ep->nsteps);
    size_t used = 0;
    for (int l = 0; l < r->x->nlosses; l++) {
        const char *name = strchr(r->x->losses[l].section, '.') + 1;
        double v = ep->sums[l][r->cfg.loss_head[l] == 0 ? r->selected : 0] / (double)ep->nsteps;
        cJSON_AddNumberToObject(h, name, v);
        used += (size_t)snprintf(losses + used, used < len ? len - used : 0, "%s%s %.4f",
                                 l ? ", " : "", name, v);
    }
    if (r->ncopies > 1) {
        char key[32];
        cJSON_AddNumberToObject(h, "selected_head", r->selected);
        for (int c = 0; c < r->ncopies; c++) {
            snprintf(key, sizeof key, "head%d_objective", c);
            cJSON_AddNumberToObject(h, key, r->copy_objective[c]);
        }
        used += (size_t)snprintf(losses + used, used < len ? len - used : 0,
                                 "; head %d of %d selected, its objective %.4f", r->selected,
                                 r->ncopies, r->copy_objective[r->selected]);
    }
    return h;
}

static int is_last(const run *r, int e) { return e + 1 == r->cfg.train.epochs; }

/* Every copy's scores (all heads are logged; the selected one is the
 * run's), and with track_kmeans k-means on the embeddings as they are now. */
static int score_copies(run *r, int32_t *pred, cJSON *h, char *err, size_t errlen)
{
    int64_t n = r->has_eval_set ? r->eval_n : r->n;
    int32_t *p[UNIC_MAX_HEAD_COPIES] = {0};
    p[0] = pred;
    for (int c = 1; c < r->ncopies; c++) p[c] = unic_xmalloc((size_t)n * sizeof(int32_t));
    int rc = run_predict_copies(r, p, NULL, err, errlen);
    for (int c = 0; rc == 0 && c < r->ncopies; c++)
        rc = run_score(r, p[c], r->copy_scores[c], err, errlen);
    for (int c = 1; c < r->ncopies; c++) unic_xfree(p[c]);
    if (rc != 0 || r->ncopies == 1) return rc;
    char key[48], line[64 * UNIC_MAX_HEAD_COPIES];
    size_t used = 0;
    for (int c = 0; c < r->ncopies; c++) {
        snprintf(key, sizeof key, "head%d_%s", c, metric_name(r, 0));
        cJSON_AddNumberToObject(h, key, r->copy_scores[c][0]);
        used += (size_t)snprintf(line + used, sizeof line - used, " %s%.4f", c == r->selected ? "*" : "",
                                 r->copy_scores[c][0]);
    }
    unic_log(UNIC_LOG_INFO, "heads' %s (* selected by the lowest training loss):%s",
             metric_name(r, 0), line);
    return 0;
}

/* Scores the head after epoch e when [eval] every asks (and always after
 * the last), into h and the log's text; the last epoch's are the run's. */
static int evaluate_epoch(run *r, int e, int32_t *pred, cJSON *h, char *scores, size_t len,
                          char *err, size_t errlen)
{
    int every = r->cfg.eval.every;
    if (!r->scored || !(is_last(r, e) || (every > 0 && (e + 1) % every == 0))) return 0;
    if (r->train_backbone &&
        (run_refresh_embeddings(r, r->train_set, r->train_index, r->n, r->emb, err, errlen) != 0 ||
         (r->has_eval_set && run_refresh_embeddings(r, r->eval_set, r->eval_index, r->eval_n,
                                                    r->eval_emb, err, errlen) != 0)))
        return -1;
    if (score_copies(r, pred, h, err, errlen) != 0) return -1;
    const double *s = r->copy_scores[r->selected];
    for (int i = 0; i < metric_count(r); i++) cJSON_AddNumberToObject(h, metric_name(r, i), s[i]);
    size_t used = 0;
    for (int i = 0; i < metric_count(r) && used < len; i++)
        used += (size_t)snprintf(scores + used, len - used, "%s%s %.4f", i ? " " : " | ",
                                 metric_name(r, i), s[i]);
    if (r->cfg.eval.track_kmeans) {
        char what[64], key[48];
        snprintf(what, sizeof what, " on the features after epoch %d", e + 1);
        if (run_kmeans_scores(r, r->kmeans_now, what, err, errlen) != 0) return -1;
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof key, "kmeans_%s", metric_name(r, i));
            cJSON_AddNumberToObject(h, key, r->kmeans_now[i]);
        }
        snprintf(scores + used, used < len ? len - used : 0, " | k-means %s %.4f",
                 metric_name(r, 0), r->kmeans_now[0]);
    }
    if (is_last(r, e)) memcpy(r->final, s, UNIC_RUN_METRICS * sizeof *s);
    return 0;
}

static int run_epoch(run *r, int e, int64_t *order, int32_t *pred, char *err, size_t errlen)
{
    epoch ep = {.e = e, .started = unic_now(), .lr = lr_at(r, e)};
    if (take_steps(r, &ep, order, err, errlen) != 0) return -1;
    select_copy(r, &ep);
    char losses[1024] = "", scores[200] = "";
    cJSON *h = epoch_record(r, &ep, losses, sizeof losses);
    if (evaluate_epoch(r, e, pred, h, scores, sizeof scores, err, errlen) != 0) {
        cJSON_Delete(h);
        return -1;
    }
    cJSON_AddNumberToObject(h, "seconds", unic_now() - ep.started);
    cJSON_AddItemToArray(r->history, h);
    if (run_write_history(r, err, errlen) != 0) return -1;
    unic_log(UNIC_LOG_INFO, "epoch %d/%d: objective %.4f (%s) lr %.3g%s | %.1f s", e + 1,
             r->cfg.train.epochs, ep.total / (double)ep.nsteps, losses, ep.lr, scores,
             unic_now() - ep.started);
    int every = r->cfg.train.checkpoint_every;
    if (is_last(r, e) || (every > 0 && (e + 1) % every == 0))
        return run_save_checkpoint(r, e + 1, err, errlen);
    return 0;
}

/* After the epochs: the embeddings a trainable backbone moved are
 * refreshed for the predictions even when no epoch was scored, and a
 * resumed run that had already finished scores what it holds. */
static int finish(run *r, int32_t *pred, char *err, size_t errlen)
{
    if (r->train_backbone && !r->scored &&
        run_refresh_embeddings(r, r->train_set, r->train_index, r->n, r->emb, err, errlen) != 0)
        return -1;
    if (r->start_epoch >= r->cfg.train.epochs && r->scored)
        if (run_predict(r, pred, NULL, err, errlen) != 0 ||
            run_score(r, pred, r->final, err, errlen) != 0)
            return -1;
    return 0;
}

int run_train(run *r, char *err, size_t errlen)
{
    /* fault injection for the resume tests: die as a killed run would */
    const char *die = getenv("UNIC_TEST_DIE_AFTER_EPOCH");
    int64_t *order = unic_xmalloc((size_t)r->n * sizeof(int64_t));
    int64_t eval_n = r->has_eval_set ? r->eval_n : r->n;
    int32_t *pred = unic_xmalloc((size_t)eval_n * sizeof(int32_t));
    double t0 = unic_now();
    int rc = 0;
    for (int e = r->start_epoch; rc == 0 && e < r->cfg.train.epochs; e++) {
        rc = run_epoch(r, e, order, pred, err, errlen);
        if (rc == 0 && die && atoi(die) == e + 1) {
            unic_log(UNIC_LOG_ERROR, "UNIC_TEST_DIE_AFTER_EPOCH=%s: stopping abruptly", die);
            _exit(3);
        }
    }
    r->seconds[2] = unic_now() - t0;
    if (rc == 0) rc = finish(r, pred, err, errlen);
    unic_xfree(order);
    unic_xfree(pred);
    return rc;
}
