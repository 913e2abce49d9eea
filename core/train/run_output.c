/* What a run leaves in its folder: embeddings.safetensors, predictions.csv,
 * metrics.json and checkpoint.safetensors (and reading the checkpoint back
 * for --resume), and the summary table of the log. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "data/io.h"
#include "eval/estimate_k.h"
#include "train/run_internal.h"

int write_text(const char *dir, const char *name, const char *text, char *err, size_t errlen)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return unic_write_file_atomic(path, text, strlen(text), err, errlen);
}

/* The training embeddings as the features backbone and `unic neighbors`
 * read them back: tensors embeddings [N, D], labels [N], index [N]. */
int write_embeddings(run *r, const char *path, char *err, size_t errlen)
{
    int64_t *index = unic_xmalloc((size_t)r->n * sizeof(int64_t));
    for (int64_t i = 0; i < r->n; i++) index[i] = r->train_index ? r->train_index[i] : i;
    unic_array t[3] = {{"embeddings", UNIC_DT_F32, 2, {r->n, r->dim}, r->emb,
                        (size_t)r->n * (size_t)r->dim * sizeof(float)},
                       {"index", UNIC_DT_I64, 1, {r->n}, index, (size_t)r->n * sizeof(int64_t)},
                       {"labels", UNIC_DT_I32, 1, {r->n}, r->train.labels,
                        (size_t)r->n * sizeof(int32_t)}};
    const char *meta[] = {"source", r->train.path, NULL};
    int rc = unic_safetensors_write(path, t, r->train.labels ? 3 : 2, meta, err, errlen);
    unic_xfree(index);
    return rc;
}

int run_save_embeddings(run *r, char *err, size_t errlen)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/embeddings.safetensors", r->out);
    return write_embeddings(r, path, err, errlen);
}

/* index,prediction,confidence,label[,labeled] per evaluation item. */
static char *predictions_csv(const run *r, const int32_t *pred, const float *conf)
{
    int64_t n = r->has_eval_set ? r->eval_n : r->n;
    const int32_t *labels = r->has_eval_set ? r->eval.labels : r->train.labels;
    const int64_t *index = r->has_eval_set ? r->eval_index : r->train_index;
    size_t cap = (size_t)n * 48 + 64, len = 0;
    char *buf = unic_xmalloc(cap);
    len += (size_t)snprintf(buf, cap, "index,prediction,confidence,label%s\n", r->gcd ? ",labeled" : "");
    for (int64_t i = 0; i < n; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "%lld,%d,%.6f,",
                                (long long)(index ? index[i] : i), pred[i], conf[i]);
        if (labels) len += (size_t)snprintf(buf + len, cap - len, "%d", labels[i]);
        if (r->gcd) len += (size_t)snprintf(buf + len, cap - len, ",%d", r->visible[i] >= 0);
        buf[len++] = '\n';
    }
    buf[len] = '\0';
    return buf;
}

int run_write_predictions(run *r, char *err, size_t errlen)
{
    int64_t n = r->has_eval_set ? r->eval_n : r->n;
    int32_t *pred = unic_xmalloc((size_t)n * sizeof(int32_t));
    float *conf = unic_xmalloc((size_t)n * sizeof(float));
    int rc = run_predict(r, pred, conf, err, errlen);
    if (rc == 0) {
        char *csv = predictions_csv(r, pred, conf);
        rc = write_text(r->out, "predictions.csv", csv, err, errlen);
        unic_xfree(csv);
    }
    unic_xfree(pred);
    unic_xfree(conf);
    return rc;
}

static cJSON *scores_json(const run *r, const double *s)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < metric_count(r); i++) cJSON_AddNumberToObject(o, metric_name(r, i), s[i]);
    return o;
}

int run_write_metrics(run *r, char *err, size_t errlen)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "experiment", r->x->name);
    cJSON_AddStringToObject(root, "task", r->gcd ? "gcd" : "clustering");
    cJSON_AddNumberToObject(root, "samples", (double)r->n);
    cJSON_AddNumberToObject(root, "clusters", r->k);
    if (r->est.done) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "criterion", unic_kest_name((unic_kest_criterion)r->est.criterion));
        cJSON_AddNumberToObject(e, "k", r->est.k);
        cJSON_AddNumberToObject(e, "runner_up", r->est.runner_up);
        cJSON_AddNumberToObject(e, "k_min", r->est.k_min);
        cJSON_AddNumberToObject(e, "k_max", r->est.k_max);
        cJSON_AddNumberToObject(e, "fits", r->est.evaluations);
        cJSON_AddNumberToObject(e, "seconds", r->est.seconds);
        cJSON_AddItemToObject(root, "estimate", e);
    }
    if (r->scored) {
        cJSON *b = scores_json(r, r->baseline);
        cJSON_AddStringToObject(b, "method", r->gcd ? "ss-kmeans" : "kmeans");
        cJSON_AddItemToObject(root, "baseline", b);
        cJSON_AddItemToObject(root, "unic", scores_json(r, r->final));
    }
    if (r->stages) { /* a chain: every stage's scores, this (the last) one's after them */
        cJSON *st = cJSON_Duplicate(r->stages, 1);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "stage", r->stage_name ? r->stage_name : "");
        cJSON_AddStringToObject(e, "folder", r->out);
        if (r->scored) cJSON_AddItemToObject(e, "scores", scores_json(r, r->final));
        cJSON_AddItemToArray(st, e);
        cJSON_AddItemToObject(root, "stages", st);
    }
    if (r->ncopies > 1) { /* SCAN's heads: which one is the run's, and why */
        cJSON *h = cJSON_CreateObject();
        cJSON_AddNumberToObject(h, "count", r->ncopies);
        cJSON_AddNumberToObject(h, "selected", r->selected);
        cJSON_AddStringToObject(h, "rule", "the lowest total training loss over the last epoch "
                                "(SCAN's; no labels)");
        cJSON *obj = cJSON_AddArrayToObject(h, "objective_last_epoch");
        cJSON *sc = cJSON_AddArrayToObject(h, "scores");
        for (int c = 0; c < r->ncopies; c++) {
            cJSON_AddItemToArray(obj, cJSON_CreateNumber(r->copy_objective[c]));
            if (r->scored) cJSON_AddItemToArray(sc, scores_json(r, r->copy_scores[c]));
        }
        cJSON_AddItemToObject(root, "heads", h);
    }
    if (r->scored && r->cfg.eval.track_kmeans) {
        cJSON *k = scores_json(r, r->kmeans_now);
        cJSON_AddStringToObject(k, "features", "after the last epoch");
        cJSON_AddItemToObject(root, "kmeans_final", k);
    }
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "embed_s", r->seconds[0]);
    cJSON_AddNumberToObject(t, "mining_s", r->seconds[1]);
    cJSON_AddNumberToObject(t, "training_s", r->seconds[2]);
    cJSON_AddItemToObject(root, "seconds", t);
    cJSON_AddItemToObject(root, "history", cJSON_Duplicate(r->history, 1));
    char *text = cJSON_Print(root);
    int rc = write_text(r->out, "metrics.json", text, err, errlen);
    free(text);
    cJSON_Delete(root);
    return rc;
}

void run_extra_columns(const run *r, char names[][32], int *n)
{
    *n = 0;
    if (r->ncopies > 1) {
        snprintf(names[(*n)++], 32, "selected_head");
        for (int c = 0; c < r->ncopies; c++) snprintf(names[(*n)++], 32, "head%d_objective", c);
        for (int c = 0; c < r->ncopies; c++)
            snprintf(names[(*n)++], 32, "head%d_%s", c, metric_name(r, 0));
    }
    if (r->cfg.eval.track_kmeans)
        for (int i = 0; i < 3; i++) snprintf(names[(*n)++], 32, "kmeans_%s", metric_name(r, i));
}

/* history.csv, rewritten after every epoch so a grid's status and plots
 * read a run's curves while it trains: one row per epoch with the
 * learning rate, the objective, each loss term, the scores where the epoch
 * was evaluated (empty where not), with several heads the selected one and
 * each one's objective and first score, with track_kmeans the k-means
 * scores on the current features (Figure 7), and its seconds. */
int run_write_history(const run *r, char *err, size_t errlen)
{
    char extra[2 * UNIC_MAX_HEAD_COPIES + 4][32];
    int nextra;
    run_extra_columns(r, extra, &nextra);
    size_t cap = 256 + 40 * (size_t)nextra +
                 (size_t)cJSON_GetArraySize(r->history) *
                     (160 + 24 * (size_t)(r->x->nlosses + nextra));
    char *csv = unic_xmalloc(cap);
    size_t used = (size_t)snprintf(csv, cap, "epoch,lr,objective");
    for (int l = 0; l < r->x->nlosses; l++)
        used += (size_t)snprintf(csv + used, cap - used, ",%s", strchr(r->x->losses[l].section, '.') + 1);
    used += (size_t)snprintf(csv + used, cap - used, ",%s,%s,%s", metric_name(r, 0),
                             metric_name(r, 1), metric_name(r, 2));
    for (int i = 0; i < nextra; i++) used += (size_t)snprintf(csv + used, cap - used, ",%s", extra[i]);
    used += (size_t)snprintf(csv + used, cap - used, ",seconds\n");
    const cJSON *h;
    cJSON_ArrayForEach(h, r->history)
    {
        const char *fixed[] = {"epoch", "lr", "objective"};
        for (int i = 0; i < 3; i++) {
            const cJSON *v = cJSON_GetObjectItem(h, fixed[i]);
            used += (size_t)snprintf(csv + used, cap - used, i ? ",%.9g" : "%.9g",
                                     cJSON_IsNumber(v) ? v->valuedouble : NAN);
        }
        for (int l = 0; l < r->x->nlosses; l++) {
            const cJSON *v = cJSON_GetObjectItem(h, strchr(r->x->losses[l].section, '.') + 1);
            used += (size_t)snprintf(csv + used, cap - used, ",%.9g", cJSON_IsNumber(v) ? v->valuedouble : NAN);
        }
        /* empty where the epoch was not evaluated */
        for (int i = 0; i < 3 + nextra; i++) {
            const cJSON *v = cJSON_GetObjectItem(h, i < 3 ? metric_name(r, i) : extra[i - 3]);
            if (cJSON_IsNumber(v))
                used += (size_t)snprintf(csv + used, cap - used, i < 3 ? ",%.6f" : ",%.9g",
                                         v->valuedouble);
            else
                used += (size_t)snprintf(csv + used, cap - used, ",");
        }
        const cJSON *v = cJSON_GetObjectItem(h, "seconds");
        used += (size_t)snprintf(csv + used, cap - used, ",%.3f\n", cJSON_IsNumber(v) ? v->valuedouble : 0.0);
    }
    int rc = write_text(r->out, "history.csv", csv, err, errlen);
    unic_xfree(csv);
    return rc;
}

/* The settings of two resolved INIs, compared without their comment lines
 * (which name the experiment file's path and unic's version: a grid point
 * resumed on a cluster node through another path is the same run). */
static int same_settings(const char *a, const char *b)
{
    for (;;) {
        while (*a == ';') a = strchr(a, '\n') ? strchr(a, '\n') + 1 : a + strlen(a);
        while (*b == ';') b = strchr(b, '\n') ? strchr(b, '\n') + 1 : b + strlen(b);
        if (!*a || !*b) return *a == *b;
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        size_t la = ea ? (size_t)(ea - a) + 1 : strlen(a), lb = eb ? (size_t)(eb - b) + 1 : strlen(b);
        if (la != lb || memcmp(a, b, la) != 0) return 0;
        a += la;
        b += lb;
    }
}

int run_save_checkpoint(run *r, int epoch, char *err, size_t errlen)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", r->out);
    char *hist = cJSON_PrintUnformatted(r->history);
    unic_ckpt_meta meta = {epoch, r->steps, r->config, hist};
    int rc = unic_checkpoint_save(path, r->ckpt, r->nparams, &meta, err, errlen);
    free(hist);
    return rc;
}

/* Restores the trainable tensors, Adam's moments, the progress and the
 * history from the run folder's checkpoint, written with the same settings. */
int run_resume(run *r, char *err, size_t errlen)
{
    char path[2300], *saved_config = NULL, *hist = NULL;
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", r->out);
    if (unic_checkpoint_load(path, r->ckpt, r->nparams, &r->start_epoch, &r->steps, &saved_config,
                             &hist, err, errlen) != 0)
        return -1;
    int same = same_settings(saved_config, r->config);
    free(saved_config);
    if (!same) {
        free(hist);
        return unic_errf(err, errlen, "%s: the checkpoint was written with different settings than "
                         "%s now resolves to (see %s/config.resolved.ini); resume with the same "
                         "experiment and overrides", path, unic_config_path(r->x->cfg), r->out);
    }
    /* the progress must be one this run can reach: a damaged epoch would
     * otherwise run a negative or huge number of epochs */
    int64_t per_epoch = (r->n + r->cfg.train.batch_size - 1) / r->cfg.train.batch_size;
    int rc = 0;
    if (r->start_epoch > r->cfg.train.epochs)
        rc = unic_errf(err, errlen, "%s: metadata 'epoch' is %d, expected at most the run's "
                       "%d epochs", path, r->start_epoch, r->cfg.train.epochs);
    else if (r->steps > (int64_t)r->start_epoch * per_epoch)
        rc = unic_errf(err, errlen, "%s: metadata 'step' is %lld, expected at most %lld (%d "
                       "epochs of %lld steps)", path, (long long)r->steps,
                       (long long)r->start_epoch * per_epoch, r->start_epoch,
                       (long long)per_epoch);
    if (rc != 0) {
        free(hist);
        return rc;
    }
    cJSON_Delete(r->history);
    r->history = cJSON_Parse(hist);
    free(hist);
    if (!r->history) r->history = cJSON_CreateArray();
    /* the copy reported so far, and each copy's last objective */
    const cJSON *last = cJSON_GetArrayItem(r->history, cJSON_GetArraySize(r->history) - 1);
    const cJSON *sel = last ? cJSON_GetObjectItem(last, "selected_head") : NULL;
    if (cJSON_IsNumber(sel) && sel->valueint >= 0 && sel->valueint < r->ncopies)
        r->selected = sel->valueint;
    for (int c = 0; last && c < r->ncopies; c++) {
        char key[32];
        snprintf(key, sizeof key, "head%d_objective", c);
        const cJSON *v = cJSON_GetObjectItem(last, key);
        if (cJSON_IsNumber(v)) r->copy_objective[c] = v->valuedouble;
    }
    unic_log(UNIC_LOG_INFO, "resumed after epoch %d (step %lld)", r->start_epoch,
             (long long)r->steps);
    return 0;
}

/* One row of the summary table: the run's metrics in metric_count(r) columns. */
static void summary_row(const run *r, const char *name, const double *s)
{
    char line[160];
    int at = snprintf(line, sizeof line, "%-12s", name);
    for (int i = 0; i < metric_count(r); i++)
        at += snprintf(line + at, sizeof line - (size_t)at, " %8.4f", s[i]);
    unic_log(UNIC_LOG_INFO, "%s", line);
}

/* Our tensor i's name in the previous stage's checkpoint: the clustering
 * head's copies map copy to copy, or all from the copy that stage selected. */
static void source_name(const run *r, const char *name, char *out, size_t len)
{
    int copy = -1;
    const char *rest = NULL;
    if (r->ncopies > 1 && sscanf(name, "head.%d.", &copy) == 1)
        rest = strchr(name + 5, '.') + 1;
    else if (strncmp(name, "head.", 5) == 0)
        copy = 0, rest = name + 5;
    if (!rest) {
        snprintf(out, len, "%s", name);
        return;
    }
    int from = r->init_copy_from >= 0 ? r->init_copy_from : copy;
    if (r->init_prev_copies > 1)
        snprintf(out, len, "head.%d.%s", from, rest);
    else
        snprintf(out, len, "head.%s", rest);
}

int run_init_from_stage(run *r, char *err, size_t errlen)
{
    char (*src)[300] = unic_xmalloc((size_t)r->nparams * sizeof *src);
    const char **names = unic_xmalloc((size_t)r->nparams * sizeof *names);
    unic_tensor **dst = unic_xmalloc((size_t)r->nparams * sizeof *dst);
    int *required = unic_xmalloc((size_t)r->nparams * sizeof *required);
    int *loaded = unic_xmalloc((size_t)r->nparams * sizeof *loaded);
    for (int i = 0; i < r->nparams; i++) {
        source_name(r, r->ckpt[i].name, src[i], sizeof src[i]);
        names[i] = src[i];
        dst[i] = r->ckpt[i].value;
        /* the clustering head must come from there; a named head new in this
         * stage starts fresh, a backbone block the last stage kept frozen
         * from its checkpoint */
        required[i] = strncmp(r->ckpt[i].name, "head.", 5) == 0 ||
                      strcmp(r->ckpt[i].name, "head") == 0;
    }
    int rc = unic_checkpoint_load_values(r->init_from, names, dst, required, r->nparams, loaded,
                                         err, errlen);
    if (rc == 0) {
        int n = 0;
        for (int i = 0; i < r->nparams; i++) n += loaded[i];
        unic_log(UNIC_LOG_INFO, "starts from %s: %d of %d trained tensors%s", r->init_from, n,
                 r->nparams, r->init_copy_from >= 0 && r->init_prev_copies > 1
                                 ? " (the clustering head from the copy that stage selected)"
                                 : "");
        if (r->init_copy_from >= 0 && r->init_prev_copies > 1)
            unic_log(UNIC_LOG_INFO, "  clustering head: copy %d of %d", r->init_copy_from,
                     r->init_prev_copies);
    }
    unic_xfree(src);
    unic_xfree(names);
    unic_xfree(dst);
    unic_xfree(required);
    unic_xfree(loaded);
    return rc;
}

void run_print_summary(const run *r)
{
    if (r->scored) {
        const char *b = r->gcd ? "SS-k-means" : "k-means";
        if (r->gcd)
            unic_log(UNIC_LOG_INFO, "\n%-12s %8s %8s %8s", "", "All", "Old", "New");
        else
            unic_log(UNIC_LOG_INFO, "\n%-12s %8s %8s %8s %8s", "", "ACC", "NMI", "ARI", "M2O");
        if (r->cfg.eval.kmeans) summary_row(r, b, r->baseline);
        summary_row(r, "UNIC", r->final);
    }
    unic_log(UNIC_LOG_INFO, "run folder: %s (config.resolved.ini, log.txt, history.csv, metrics.json, "
             "predictions.csv, checkpoint.safetensors, embeddings.safetensors, cache/)", r->out);
}
