/* A run: load the data, embed it, build the model (its memory plan checked
 * before anything long runs), mine neighbours, score the k-means baseline,
 * train the head on anchor / positive / negative triplets
 * (eq. 7 and 9) with Adam under a cosine schedule, evaluate each epoch,
 * checkpoint, and write the run folder. This file only puts the stages in
 * order; each lives in its own file (see run_internal.h). */
#include "train/run.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fault.h"
#include "base/fpenv.h"
#include "base/limits.h"
#include "base/lock.h"
#include "base/textfile.h"
#include "base/log.h"
#include "base/util.h"
#include "report/report.h"
#include "train/run_internal.h"

/* The run folder's lock, before anything is written into it: a second run
 * into the same folder stops here, naming the first one's pid. It is also
 * the run's first write into the folder, so a folder that cannot be written
 * (read-only mount, permissions) stops the run here. */
static int lock_folder(run *r, char *err, size_t errlen)
{
    char path[2100], what[2100];
    snprintf(path, sizeof path, "%s/.lock", r->out);
    snprintf(what, sizeof what, "run folder %s", r->out);
    if (unic_fault("readonly-run-folder")) {
        errno = EROFS;
        r->folder_lock = -1;
    } else {
        r->folder_lock = unic_lock_take(path, what, 0, err, errlen);
    }
    if (r->folder_lock < 0 && (errno == EROFS || errno == EACCES || errno == EPERM))
        return unic_errf(err, errlen, "the run folder %s cannot be written (%s: %s); nothing was "
                         "loaded: choose another folder with --out or [train] out", r->out, path,
                         strerror(errno));
    return r->folder_lock >= 0 ? 0 : -1;
}

/* Settings checked, run folder made and locked, components created:
 * nothing has read the data yet. */
static int open_run(run *r, const char *out_dir, const char *cache_dir, char *err, size_t errlen)
{
    const unic_experiment *x = r->x;
    if (unic_run_config_parse(x, &r->cfg, err, errlen) != 0 ||
        unic_train_config_check_device(&r->cfg.train, err, errlen) != 0)
        return -1;
    const char *out = out_dir ? out_dir : r->cfg.train.out;
    if (*out)
        snprintf(r->out, sizeof r->out, "%s", out);
    else
        snprintf(r->out, sizeof r->out, "runs/%s", x->name);
    if (unic_mkdirs(r->out, err, errlen) != 0 || lock_folder(r, err, errlen) != 0) return -1;
    if (cache_dir)
        snprintf(r->cache, sizeof r->cache, "%s", cache_dir);
    else
        snprintf(r->cache, sizeof r->cache, "%s/cache", r->out);
    /* what a killed run left half-renamed is never read; clear it away */
    unic_remove_stale_temps(r->out);
    unic_remove_stale_temps(r->cache);
    r->gcd = *r->cfg.data.old_classes != '\0';
    if (r->cfg.train.threads > 0) omp_set_num_threads(r->cfg.train.threads);
    unic_flush_denormals(); /* on the threads this run will use */
    r->history = cJSON_CreateArray();
    return run_create_components(r, err, errlen);
}

/* log.txt (appended to on resume) receives the log from here on. */
static int open_log(run *r, int resume, FILE **log, char *err, size_t errlen)
{
    char path[2300];
    snprintf(path, sizeof path, "%s/log.txt", r->out);
    *log = fopen(path, resume ? "a" : "w");
    if (!*log) return unic_errf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    unic_log_set_file(*log);
    unic_log(UNIC_LOG_INFO, "unic %s: %s %s into %s (%d threads, %s)", UNIC_VERSION,
             resume ? "resuming" : "running", unic_config_path(r->x->cfg), r->out,
             omp_get_max_threads(), r->cfg.train.device == UNIC_CUDA ? "cuda" : "cpu");
    return write_text(r->out, "config.resolved.ini", r->config, err, errlen);
}

/* Data loaded and embedded, miners assigned to anchors (checked before the
 * embedding, which can take long), the GCD split drawn. */
static int prepare_data(run *r, char *err, size_t errlen)
{
    double t0 = unic_now();
    if (run_load_data(r, err, errlen) != 0 || run_assign_miners(r, err, errlen) != 0 ||
        run_embed(r, r->train_set, &r->train, &r->emb, &r->train_index, err, errlen) != 0)
        return -1;
    r->n = r->train.n; /* undecodable images are gone */
    if (r->has_eval_set) {
        if (run_embed(r, r->eval_set, &r->eval, &r->eval_emb, &r->eval_index, err, errlen) != 0)
            return -1;
        r->eval_n = r->eval.n;
    }
    if (run_make_split(r, err, errlen) != 0) return -1;
    if (r->cfg.head.auto_classes && run_plan_estimate(r, err, errlen) != 0) return -1;
    run_route_anchors(r);
    if (r->cfg.eval.save_embeddings && run_save_embeddings(r, err, errlen) != 0) return -1;
    r->seconds[0] = unic_now() - t0;
    return 0;
}

static int mine(run *r, char *err, size_t errlen)
{
    double t0 = unic_now();
    if (run_mine(r, err, errlen) != 0) return -1;
    r->seconds[1] = unic_now() - t0;
    unic_log(UNIC_LOG_INFO, "mining took %.2f s", r->seconds[1]);
    /* after mining: the eigengap reads the mined neighbours from the cache */
    return r->cfg.head.auto_classes ? run_estimate_classes(r, err, errlen) : 0;
}

/* The baseline scored on the embeddings, and the model's tensors restored
 * on resume, or in a chain's later stage taken from the previous one. */
static int prepare_training(run *r, int resume, char *err, size_t errlen)
{
    r->scored = run_can_score(r);
    if (r->scored && r->cfg.eval.kmeans && run_baseline(r, r->baseline, err, errlen) != 0)
        return -1;
    if (resume) return run_resume(r, err, errlen);
    return r->init_from ? run_init_from_stage(r, err, errlen) : 0;
}

/* The run's page (`unic report`), written at the end so every finished
 * run can be looked at without another command; a page that cannot be
 * written is a warning, never a failed run. */
static void write_report(run *r)
{
    char path[2400], err[4096];
    unic_report_options o = {0};
    if (unic_report_run(r->out, &o, path, sizeof path, err, sizeof err) == 0)
        unic_log(UNIC_LOG_INFO, "report: %s (remake it with `unic report %s`, e.g. with "
                 "--class-names FILE)", path, r->out);
    else
        unic_log(UNIC_LOG_WARN, "no report: %s; try `unic report %s`", err, r->out);
}

static int write_outputs(run *r, char *err, size_t errlen)
{
    if (run_write_predictions(r, err, errlen) != 0 || run_write_metrics(r, err, errlen) != 0)
        return -1;
    run_print_summary(r);
    write_report(r);
    return 0;
}

static void free_run(run *r)
{
    run_model_free(r);
    run_data_free(r);
    unic_xfree(r->pos_miner);
    unic_xfree(r->neg_miner);
    cJSON_Delete(r->history);
    free(r->config);
    unic_xfree(r);
}

int unic_estimate_classes(const unic_experiment *x, const char *out_dir, int *k, char *err,
                          size_t errlen)
{
    run *r = unic_xcalloc(1, sizeof *r);
    r->x = x;
    r->folder_lock = -1;
    r->config = unic_experiment_resolved_ini(x);
    FILE *log = NULL;
    int rc = -1;
    if (open_run(r, out_dir, NULL, err, errlen) == 0) {
        /* only the estimate: the range as for classes = auto, no embeddings file */
        r->cfg.head.auto_classes = 1;
        r->cfg.eval.save_embeddings = 0;
        if (open_log(r, 0, &log, err, errlen) == 0 && prepare_data(r, err, errlen) == 0 &&
            run_estimate_classes(r, err, errlen) == 0) {
            *k = r->k;
            unic_log(UNIC_LOG_INFO, "estimate written to %s/estimate_k.csv and estimate_k.svg",
                     r->out);
            rc = 0;
        }
    }
    int folder_lock = r->folder_lock;
    free_run(r);
    unic_log_set_file(NULL);
    if (log) {
        if (rc != 0) fprintf(log, "[error] %s\n", err);
        fclose(log);
    }
    unic_lock_release(folder_lock);
    return rc;
}

/* Where one run starts from in a chain, and what it tells the next. */
typedef struct stage_link {
    const char *init_from; /* the previous stage's checkpoint, or NULL */
    int copy_from, prev_copies;
    cJSON *stages;         /* the chain's stages so far, for metrics.json (not owned) */
    const char *name;      /* this stage's */
    int selected, copies;  /* out: the copy this run reported, of how many */
} stage_link;

static int run_one(const unic_experiment *x, const char *out_dir, const char *cache_dir,
                   int resume, stage_link *link, unic_run_summary *summary, char *err,
                   size_t errlen)
{
    /* on the heap: its checkpoint table alone is ~150 KB */
    run *r = unic_xcalloc(1, sizeof *r);
    r->x = x;
    r->folder_lock = -1;
    r->config = unic_experiment_resolved_ini(x);
    r->init_copy_from = -1;
    if (link) {
        r->init_from = link->init_from;
        r->init_copy_from = link->copy_from;
        r->init_prev_copies = link->prev_copies;
        r->stages = link->stages;
        r->stage_name = link->name;
    }
    FILE *log = NULL;
    int rc = -1;
    if (open_run(r, out_dir, cache_dir, err, errlen) == 0 &&
        open_log(r, resume, &log, err, errlen) == 0 && prepare_data(r, err, errlen) == 0 &&
        /* the model's memory plan before mining, unless K is estimated after it */
        (r->cfg.head.auto_classes || run_build_model(r, err, errlen) == 0) &&
        mine(r, err, errlen) == 0 &&
        (!r->cfg.head.auto_classes || run_build_model(r, err, errlen) == 0) &&
        prepare_training(r, resume, err, errlen) == 0 &&
        run_train(r, err, errlen) == 0 && write_outputs(r, err, errlen) == 0) {
        if (summary) {
            summary->gcd = r->gcd;
            summary->has_scores = r->scored;
            memcpy(summary->baseline, r->baseline, sizeof summary->baseline);
            memcpy(summary->final, r->final, sizeof summary->final);
        }
        if (link) {
            link->selected = r->selected;
            link->copies = r->ncopies;
        }
        rc = 0;
    }
    int folder_lock = r->folder_lock;
    free_run(r);
    unic_log_set_file(NULL);
    if (log) {
        if (rc != 0) fprintf(log, "[error] %s\n", err);
        fclose(log);
    }
    unic_lock_release(folder_lock); /* the folder's last write is done */
    return rc;
}

/* A finished earlier stage's report, read back from its metrics.json on
 * --resume: its scores and the copy it selected. */
static cJSON *read_stage_metrics(const char *dir, int *selected, int *copies)
{
    char path[2400], *text = NULL, msg[512];
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    if (unic_read_text_file(path, "metrics", UNIC_MAX_TEXT_FILE_BYTES, &text, msg, sizeof msg) != 0)
        return NULL;
    cJSON *m = cJSON_Parse(text);
    free(text);
    if (!m) return NULL;
    const cJSON *h = cJSON_GetObjectItem(m, "heads");
    const cJSON *sel = h ? cJSON_GetObjectItem(h, "selected") : NULL;
    const cJSON *cnt = h ? cJSON_GetObjectItem(h, "count") : NULL;
    *selected = cJSON_IsNumber(sel) ? sel->valueint : 0;
    *copies = cJSON_IsNumber(cnt) ? cnt->valueint : 1;
    return m;
}

/* One entry of metrics.json's "stages": the stage's name, folder, scores. */
static void add_stage(cJSON *stages, const char *name, const char *dir, const cJSON *metrics,
                      const unic_run_summary *s)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "stage", name);
    cJSON_AddStringToObject(e, "folder", dir);
    const cJSON *u = metrics ? cJSON_GetObjectItem(metrics, "unic") : NULL;
    if (u) {
        cJSON_AddItemToObject(e, "scores", cJSON_Duplicate(u, 1));
    } else if (s && s->has_scores) {
        cJSON *o = cJSON_CreateObject();
        const char *names[2][3] = {{"acc", "nmi", "ari"}, {"all", "old", "new"}};
        for (int i = 0; i < 3; i++) cJSON_AddNumberToObject(o, names[s->gcd][i], s->final[i]);
        cJSON_AddItemToObject(e, "scores", o);
    }
    cJSON_AddItemToArray(stages, e);
}

/* A chain: each stage a run, the earlier ones in OUT/stages/NAME, the last
 * into OUT itself (so a grid reads the chain's result where it reads any
 * run's), each from the previous one's checkpoint. With --resume a stage
 * whose folder holds its metrics.json is done and skipped, one with a
 * checkpoint goes on from it. */
static int run_chain(const unic_experiment *x, const char *out_dir, const char *cache_dir,
                     int resume, unic_run_summary *summary, char *err, size_t errlen)
{
    unic_run_config top;
    if (unic_run_config_parse(x, &top, err, errlen) != 0) return -1;
    char out[2048], cache[2300], prev[2400] = "", dir[2300];
    if (out_dir)
        snprintf(out, sizeof out, "%s", out_dir);
    else if (*top.train.out)
        snprintf(out, sizeof out, "%s", top.train.out);
    else
        snprintf(out, sizeof out, "runs/%s", x->name);
    snprintf(cache, sizeof cache, "%s", cache_dir ? cache_dir : "");
    if (!cache_dir) snprintf(cache, sizeof cache, "%s/cache", out); /* the stages mine once */
    cJSON *stages = cJSON_CreateArray();
    int rc = 0, selected = 0, copies = 1;
    for (int i = 0; rc == 0 && i < x->nstages; i++) {
        int last = i + 1 == x->nstages;
        if (last)
            snprintf(dir, sizeof dir, "%s", out);
        else
            snprintf(dir, sizeof dir, "%s/stages/%s", out, x->stage_names[i]);
        if (unic_mkdirs(dir, err, errlen) != 0) {
            rc = -1;
            break;
        }
        unic_log(UNIC_LOG_INFO, "== stage %d/%d: %s (%s) ==", i + 1, x->nstages,
                 x->stage_names[i], dir);
        int count = (int)unic_param_int(x->stages[i].head.params, "count");
        stage_link link = {i ? prev : NULL, count == 1 && copies > 1 ? selected : -1, copies,
                           stages, x->stage_names[i], 0, 1};
        char ckpt[2400];
        snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
        cJSON *done = resume && !last ? read_stage_metrics(dir, &link.selected, &link.copies) : NULL;
        unic_run_summary s = {0};
        if (done) {
            unic_log(UNIC_LOG_INFO, "stage %s is done (%s/metrics.json); skipped", x->stage_names[i],
                     dir);
        } else {
            rc = run_one(&x->stages[i], dir, cache, resume && access(ckpt, F_OK) == 0, &link,
                         last ? summary : &s, err, errlen);
            if (rc != 0) {
                char msg[4096];
                snprintf(msg, sizeof msg, "stage %s: %s", x->stage_names[i], err);
                snprintf(err, errlen, "%s", msg);
                break;
            }
        }
        if (!last) add_stage(stages, x->stage_names[i], dir, done, &s);
        cJSON_Delete(done);
        selected = link.selected;
        copies = link.copies;
        snprintf(prev, sizeof prev, "%s", ckpt);
    }
    cJSON_Delete(stages);
    return rc;
}

int unic_run(const unic_experiment *x, const char *out_dir, const char *cache_dir, int resume,
             unic_run_summary *summary, char *err, size_t errlen)
{
    if (x->nstages > 0) return run_chain(x, out_dir, cache_dir, resume, summary, err, errlen);
    return run_one(x, out_dir, cache_dir, resume, NULL, summary, err, errlen);
}
